//! Amazon SNS messages, verified before anything is read: the envelope, its signature (SignatureVersion
//! 1 with SHA1, 2 with SHA256, RSA PKCS #1 v1.5) over the canonical string of its type, the signing
//! certificate fetched only over HTTPS from an SNS host and cached, the topic, and the timestamp.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lc_rs::signature::{
    self, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256,
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// An SNS HTTP(S) delivery, as SNS posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
}

/// Why a delivery was refused. `NotSns` is the client's malformed request (400); the others are
/// refusals of something that claims to be SNS (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnsError {
    #[error("not an SNS message: {}", super::loggable(.0))]
    NotSns(String),
    #[error("topic {} is not one this service subscribes to", super::loggable(.0))]
    UnknownTopic(String),
    #[error("the message is older than an hour ({})", super::loggable(.0))]
    Stale(String),
    #[error("the signing certificate URL {} is not an SNS certificate URL", super::loggable(.0))]
    CertificateUrl(String),
    #[error("the signing certificate could not be fetched: {}", super::loggable(.0))]
    Certificate(String),
    #[error("the signature does not match")]
    BadSignature,
}

impl SnsError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotSns(_) => 400,
            _ => 403,
        }
    }
}

/// What the verifier trusts.
#[derive(Debug, Clone)]
pub struct SnsConfig {
    /// Topic of delivery events (the configuration set's event destination).
    pub events_topic_arn: Option<String>,
    /// Topic of inbound texts (two-way SMS on the origination number).
    pub inbound_topic_arn: Option<String>,
    /// Hosts a signing certificate (and a subscription confirmation) may come from.
    pub cert_hosts: Vec<String>,
    /// Plain http certificate URLs (tests with a loopback certificate server only).
    pub cert_allow_http: bool,
}

impl SnsConfig {
    /// Whether only AWS's own SNS hosts are trusted (always so in production).
    pub fn aws_hosts_only(&self) -> bool {
        self.cert_hosts
            .iter()
            .all(|h| h.starts_with("sns.") && h.ends_with(".amazonaws.com"))
    }

    /// Whether `topic` is one of ours.
    pub fn knows(&self, topic: &str) -> bool {
        [&self.events_topic_arn, &self.inbound_topic_arn]
            .into_iter()
            .flatten()
            .any(|t| t == topic)
    }
}

/// Most a signing certificate may weigh.
const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// Most certificates kept at once. SNS signs with one certificate per region at a time and rotates it
/// rarely; more distinct URLs than this are someone trying them.
const MAX_CACHED_CERTIFICATES: usize = 16;
/// Most certificate fetches a minute, however many deliveries arrive: a flood of forged envelopes
/// naming new URLs costs a few fetches, not one each. A genuine delivery refused for it is sent again
/// by SNS.
const FETCHES_PER_MINUTE: u32 = 6;

/// One certificate URL's public key: fetched once, by the first delivery that names it, while the
/// others that name it meanwhile wait for that one fetch.
type KeyCell = Arc<tokio::sync::OnceCell<Arc<Vec<u8>>>>;

/// The certificates known or being fetched, in the order they were first named (the oldest goes
/// first when the cache is full).
#[derive(Debug, Default)]
struct Certificates {
    cells: HashMap<String, KeyCell>,
    order: std::collections::VecDeque<String>,
}

impl Certificates {
    fn cell(&mut self, url: &str) -> KeyCell {
        if let Some(cell) = self.cells.get(url) {
            return cell.clone();
        }
        while self.cells.len() >= MAX_CACHED_CERTIFICATES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.cells.remove(&oldest);
        }
        let cell = KeyCell::default();
        self.cells.insert(url.to_owned(), cell.clone());
        self.order.push_back(url.to_owned());
        cell
    }
}

/// Verifies SNS deliveries, with a cache of signing certificates' public keys by URL.
#[derive(Debug, Clone)]
pub struct Verifier {
    config: Arc<SnsConfig>,
    /// Made on the first certificate fetch or confirmation: a service that never hears from SNS
    /// never sets up TLS for it.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    keys: Arc<Mutex<Certificates>>,
    fetches: Arc<governor::DefaultDirectRateLimiter>,
}

impl Verifier {
    pub fn new(config: SnsConfig) -> Self {
        Self {
            config: Arc::new(config),
            http: Arc::default(),
            keys: Arc::default(),
            fetches: Arc::new(governor::RateLimiter::direct(governor::Quota::per_minute(
                std::num::NonZeroU32::new(FETCHES_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN),
            ))),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
    }

    pub fn config(&self) -> &SnsConfig {
        &self.config
    }

    /// Parses and verifies a delivery: envelope, topic, age, certificate URL, then the signature.
    pub async fn verify(&self, body: &[u8], now: DateTime<Utc>) -> Result<Envelope, SnsError> {
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|e| SnsError::NotSns(e.to_string()))?;
        if !matches!(
            envelope.kind.as_str(),
            "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
        ) {
            return Err(SnsError::NotSns(format!("unknown Type {}", envelope.kind)));
        }
        if !self.config.knows(&envelope.topic_arn) {
            return Err(SnsError::UnknownTopic(envelope.topic_arn.clone()));
        }
        let sent = DateTime::parse_from_rfc3339(&envelope.timestamp)
            .map_err(|_| SnsError::NotSns(format!("Timestamp {}", envelope.timestamp)))?;
        if now.signed_duration_since(sent) > chrono::Duration::hours(1)
            || sent.signed_duration_since(now) > chrono::Duration::minutes(5)
        {
            return Err(SnsError::Stale(envelope.timestamp.clone()));
        }
        let algorithm: &'static signature::RsaParameters = match envelope.signature_version.as_str()
        {
            "1" => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &RSA_PKCS1_2048_8192_SHA256,
            other => return Err(SnsError::NotSns(format!("SignatureVersion {other}"))),
        };
        let canonical = canonical_string(&envelope)?;
        let signature_bytes = base64::engine::general_purpose::STANDARD
            .decode(envelope.signature.trim())
            .map_err(|_| SnsError::BadSignature)?;
        let key = self.public_key(&envelope.signing_cert_url).await?;
        signature::UnparsedPublicKey::new(algorithm, key.as_slice())
            .verify(canonical.as_bytes(), &signature_bytes)
            .map_err(|_| SnsError::BadSignature)?;
        Ok(envelope)
    }

    /// Whether `url` is one SNS could send us to: https (or http when allowed) on a trusted host.
    pub fn trusted_url(&self, url: &str) -> bool {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return false;
        };
        let scheme_ok = parsed.scheme() == "https"
            || (self.config.cert_allow_http && parsed.scheme() == "http");
        let host_ok = parsed.host_str().is_some_and(|host| {
            self.config
                .cert_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host))
        });
        scheme_ok && host_ok && parsed.username().is_empty() && parsed.password().is_none()
    }

    /// Whether `url` is a signing certificate's URL: a trusted URL, and, on AWS's own hosts (always in
    /// production), exactly the shape AWS uses: `https://sns.<region>.amazonaws.com/
    /// SimpleNotificationService-<hex>.pem` on port 443, with no query. The test settings, which trust
    /// a loopback host, keep only the `.pem` ending.
    pub fn certificate_url(&self, url: &str) -> bool {
        if !self.trusted_url(url) {
            return false;
        }
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return false;
        };
        if self.config.cert_allow_http || !self.config.aws_hosts_only() {
            return parsed.path().ends_with(".pem");
        }
        let file = parsed.path().strip_prefix("/SimpleNotificationService-");
        let shaped = file
            .and_then(|f| f.strip_suffix(".pem"))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()));
        shaped
            && parsed.scheme() == "https"
            && parsed.port_or_known_default() == Some(443)
            && parsed.query().is_none()
            && parsed.fragment().is_none()
    }

    /// Confirms a subscription by fetching its `SubscribeURL` (same host rule as certificates).
    pub async fn confirm_subscription(&self, envelope: &Envelope) -> Result<(), SnsError> {
        let url = envelope.subscribe_url.as_deref().ok_or_else(|| {
            SnsError::NotSns("SubscriptionConfirmation without SubscribeURL".into())
        })?;
        if !self.trusted_url(url) {
            return Err(SnsError::CertificateUrl(url.to_owned()));
        }
        let response = self
            .http()
            .get(url)
            .send()
            .await
            .map_err(|e| SnsError::Certificate(format!("confirming the subscription: {e}")))?;
        if !response.status().is_success() {
            return Err(SnsError::Certificate(format!(
                "confirming the subscription: HTTP {}",
                response.status()
            )));
        }
        Ok(())
    }

    /// The public key of the certificate at `url`: fetched once (deliveries naming it meanwhile wait
    /// for that fetch), kept among the last `MAX_CACHED_CERTIFICATES`, and fetched at most
    /// `FETCHES_PER_MINUTE` times a minute in all.
    async fn public_key(&self, url: &str) -> Result<Arc<Vec<u8>>, SnsError> {
        if !self.certificate_url(url) {
            return Err(SnsError::CertificateUrl(url.to_owned()));
        }
        let cell = match self.keys.lock() {
            Ok(mut keys) => keys.cell(url),
            Err(_) => KeyCell::default(),
        };
        let key = cell
            .get_or_try_init(|| async {
                if self.fetches.check().is_err() {
                    return Err(SnsError::Certificate(
                        "too many certificate fetches this minute; SNS will deliver again".into(),
                    ));
                }
                self.fetch_key(url).await
            })
            .await?;
        Ok(key.clone())
    }

    /// Downloads the certificate at `url` (5 s, 16 KiB at most, no redirects) and reads its key.
    async fn fetch_key(&self, url: &str) -> Result<Arc<Vec<u8>>, SnsError> {
        let fetch = |e: reqwest::Error| SnsError::Certificate(e.to_string());
        let response = self.http().get(url).send().await.map_err(fetch)?;
        if !response.status().is_success() {
            return Err(SnsError::Certificate(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_CERTIFICATE_BYTES)
        {
            return Err(SnsError::Certificate("certificate too large".into()));
        }
        let pem = response.bytes().await.map_err(fetch)?;
        if pem.len() > MAX_CERTIFICATE_BYTES {
            return Err(SnsError::Certificate("certificate too large".into()));
        }
        Ok(Arc::new(public_key_of(&pem)?))
    }
}

/// The RSA public key (PKCS #1 DER) of a PEM certificate.
fn public_key_of(pem: &[u8]) -> Result<Vec<u8>, SnsError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|e| SnsError::Certificate(format!("not a PEM certificate: {e}")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| SnsError::Certificate(format!("not an X.509 certificate: {e}")))?;
    let validity = cert.validity();
    if !validity.is_valid() {
        return Err(SnsError::Certificate(
            "the certificate is expired or not yet valid".into(),
        ));
    }
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

/// The string SNS signs: named fields of the message's type, each as `Name\nvalue\n`, in byte order
/// of their names.
pub fn canonical_string(e: &Envelope) -> Result<String, SnsError> {
    let mut fields: Vec<(&str, &str)> = vec![
        ("Message", &e.message),
        ("MessageId", &e.message_id),
        ("Timestamp", &e.timestamp),
        ("TopicArn", &e.topic_arn),
        ("Type", &e.kind),
    ];
    match e.kind.as_str() {
        "Notification" => {
            if let Some(subject) = &e.subject {
                fields.push(("Subject", subject));
            }
        }
        _ => {
            let missing = |f: &str| SnsError::NotSns(format!("{} without {f}", e.kind));
            fields.push((
                "SubscribeURL",
                e.subscribe_url
                    .as_deref()
                    .ok_or_else(|| missing("SubscribeURL"))?,
            ));
            fields.push(("Token", e.token.as_deref().ok_or_else(|| missing("Token"))?));
        }
    }
    fields.sort_by_key(|(name, _)| *name);
    Ok(fields
        .into_iter()
        .map(|(name, value)| format!("{name}\n{value}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str) -> Envelope {
        Envelope {
            kind: kind.into(),
            message_id: "m1".into(),
            topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
            subject: None,
            message: "hello".into(),
            timestamp: "2026-03-02T15:00:00.000Z".into(),
            signature_version: "2".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subscribe_url: Some(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription".into(),
            ),
            token: Some("tok".into()),
        }
    }

    #[test]
    fn canonical_strings_follow_the_type() {
        assert_eq!(
            canonical_string(&envelope("Notification")).expect("string"),
            "Message\nhello\nMessageId\nm1\nTimestamp\n2026-03-02T15:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:1:t\nType\nNotification\n"
        );
        let mut with_subject = envelope("Notification");
        with_subject.subject = Some("s".into());
        assert!(
            canonical_string(&with_subject)
                .expect("string")
                .contains("MessageId\nm1\nSubject\ns\nTimestamp")
        );
        assert_eq!(
            canonical_string(&envelope("SubscriptionConfirmation")).expect("string"),
            "Message\nhello\nMessageId\nm1\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\nTimestamp\n2026-03-02T15:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:1:t\nType\nSubscriptionConfirmation\n"
        );
    }

    #[test]
    fn certificate_urls_must_be_https_on_an_sns_host() {
        let verifier = Verifier::new(SnsConfig {
            events_topic_arn: None,
            inbound_topic_arn: None,
            cert_hosts: vec!["sns.us-east-1.amazonaws.com".into()],
            cert_allow_http: false,
        });
        assert!(
            verifier
                .trusted_url("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem")
        );
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "not a url",
        ] {
            assert!(!verifier.trusted_url(bad), "{bad}");
        }
    }

    #[test]
    fn on_aws_hosts_only_the_shape_aws_uses_is_fetched() {
        let verifier = Verifier::new(SnsConfig {
            events_topic_arn: None,
            inbound_topic_arn: None,
            cert_hosts: vec!["sns.us-east-1.amazonaws.com".into()],
            cert_allow_http: false,
        });
        let good = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem";
        assert!(verifier.certificate_url(good));
        for bad in [
            "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-01d088a6.pem",
            "https://sns.us-east-1.amazonaws.com/anything/else.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-zz.pem",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d0.pem?x=1",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d0.txt",
        ] {
            assert!(!verifier.certificate_url(bad), "{bad}");
        }
        // Test settings that trust a loopback host keep only the `.pem` ending.
        let local = Verifier::new(SnsConfig {
            events_topic_arn: None,
            inbound_topic_arn: None,
            cert_hosts: vec!["127.0.0.1".into()],
            cert_allow_http: true,
        });
        assert!(local.certificate_url("http://127.0.0.1:9999/SimpleNotificationService-test.pem"));
        assert!(!local.certificate_url("http://127.0.0.1:9999/secret.txt"));
    }

    #[test]
    fn the_certificate_cache_is_bounded_oldest_first() {
        let mut certificates = Certificates::default();
        for n in 0..40 {
            certificates.cell(&format!("https://sns/{n}.pem"));
        }
        assert_eq!(certificates.cells.len(), MAX_CACHED_CERTIFICATES);
        assert!(certificates.cells.contains_key("https://sns/39.pem"));
        assert!(!certificates.cells.contains_key("https://sns/0.pem"));
    }
}
