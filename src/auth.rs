//! Bearer JWT (HS256, secret shared with the app) -> `Viewer { user_id, role }`.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An app user, acting on their own data.
    User,
    /// The app's back end: sends messages, pushes battle and streak facts.
    Service,
    /// Operators: read every log and the costs, run scans.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Service => "service",
            Self::Admin => "admin",
        }
    }
}

/// Longest user id (`sub`) accepted, the width of the `user_id` columns.
pub const MAX_USER_ID_LEN: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before: the token is refused until then (with 30 seconds of leeway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: String,
    pub role: Role,
    /// When the token expires (`exp`, seconds since the epoch).
    pub expires_at: i64,
}

/// Seconds a token is still accepted after its `exp` (and before its `nbf`): clocks disagree a little.
pub const LEEWAY_SECONDS: u64 = 30;

impl Viewer {
    /// Whether the token is past its expiry and the leeway, by the system clock (as it was checked).
    pub fn expired(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        now > self.expires_at + LEEWAY_SECONDS as i64
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Sign in first: this needs an 'Authorization: Bearer <token>' header.")]
    Missing,
    #[error(
        "The Authorization header is malformed; send 'Authorization: Bearer <token>' with a JWT."
    )]
    MalformedHeader,
    #[error("The token has expired; get a new one and try again.")]
    Expired,
    #[error(
        "The token is not valid yet (its 'nbf' is in the future); check the clock of its issuer."
    )]
    NotYetValid,
    #[error("The token is not valid ({0}); get a new one and try again.")]
    Invalid(String),
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Unauthenticated(error.to_string())
    }
}

/// Signs and checks tokens with the shared secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        // 30 seconds either way for clocks that disagree a little; a token whose `nbf` ("not before")
        // is still ahead is refused like an expired one.
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    /// A signed token for `user_id` with `role`, valid until `expires_at`.
    pub fn issue(
        &self,
        user_id: &str,
        role: Role,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            exp: expires_at.timestamp(),
            iat: Some(issued_at.timestamp()),
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Viewer, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => {
                    AuthError::Invalid("only HS256 tokens are accepted".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Invalid(format!("the '{claim}' claim is missing"))
                }
                ErrorKind::Json(_) => AuthError::Invalid(
                    "the claims must be sub, role (user, service or admin) and exp".into(),
                ),
                _ => AuthError::Invalid("not a JWT".into()),
            })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() || claims.sub.len() > MAX_USER_ID_LEN {
            return Err(AuthError::Invalid(format!(
                "the 'sub' claim must be a user id of 1 to {MAX_USER_ID_LEN} characters"
            )));
        }
        Ok(Viewer {
            user_id: claims.sub,
            role: claims.role,
            expires_at: claims.exp,
        })
    }

    /// The viewer of a request from its `Authorization` header value, if any.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Viewer, AuthError> {
        let raw = header.ok_or(AuthError::Missing)?;
        let value = std::str::from_utf8(raw).map_err(|_| AuthError::MalformedHeader)?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or(AuthError::MalformedHeader)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
            return Err(AuthError::MalformedHeader);
        }
        self.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_token_round_trips() {
        let k = keys("s3cret");
        let now = Utc::now();
        let token = k
            .issue("u1", Role::Service, now, now + Duration::hours(1))
            .expect("sign");
        let header = format!("Bearer {token}");
        assert_eq!(
            k.authenticate(Some(header.as_bytes())),
            Ok(Viewer {
                user_id: "u1".into(),
                role: Role::Service,
                expires_at: (now + Duration::hours(1)).timestamp(),
            })
        );
    }

    /// A token signed with `k`'s secret, with `nbf` set `ahead` seconds from now.
    fn not_before(k: &JwtKeys, ahead: i64) -> String {
        let now = Utc::now();
        let claims = Claims {
            sub: "u1".into(),
            role: Role::User,
            exp: (now + Duration::hours(1)).timestamp(),
            iat: Some(now.timestamp()),
            nbf: Some(now.timestamp() + ahead),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).expect("sign")
    }

    #[test]
    fn a_future_nbf_is_refused_beyond_the_leeway() {
        let k = keys("s3cret");
        assert_eq!(k.verify(&not_before(&k, 3600)), Err(AuthError::NotYetValid));
        assert_eq!(k.verify(&not_before(&k, 120)), Err(AuthError::NotYetValid));
        // Within the 30 s leeway, and in the past, it is fine.
        assert!(k.verify(&not_before(&k, 10)).is_ok());
        assert!(k.verify(&not_before(&k, -60)).is_ok());
    }

    #[test]
    fn each_failure_has_its_reason() {
        let k = keys("s3cret");
        let now = Utc::now();
        let good = k
            .issue("u1", Role::User, now, now + Duration::hours(1))
            .expect("sign");
        let expired = k
            .issue("u1", Role::User, now, now - Duration::hours(1))
            .expect("sign");
        let foreign = keys("other")
            .issue("u1", Role::User, now, now + Duration::hours(1))
            .expect("sign");
        assert_eq!(k.authenticate(None), Err(AuthError::Missing));
        for header in [
            "Bearer",
            "Basic abc",
            &format!("Token {good}"),
            "Bearer a b",
        ] {
            assert_eq!(
                k.authenticate(Some(header.as_bytes())),
                Err(AuthError::MalformedHeader),
                "{header}"
            );
        }
        assert_eq!(
            k.authenticate(Some(format!("Bearer {expired}").as_bytes())),
            Err(AuthError::Expired)
        );
        assert!(matches!(
            k.authenticate(Some(format!("Bearer {foreign}").as_bytes())),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            k.authenticate(Some(b"Bearer not.a.jwt")),
            Err(AuthError::Invalid(_))
        ));
    }
}
