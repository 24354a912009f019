use serde_json::json;

use crate::helpers::{Engine, TestApp, data, error_code};

#[test]
fn schema_graphql_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed");
    let generated = sms_notify::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// Every type, field, argument, input field and enum value says what it is: a client reads the
/// schema, not the code.
#[test]
fn every_schema_element_is_described() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let sdl = sms_notify::graphql::sdl();
    let doc = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
    let mut missing = Vec::new();
    let described = |d: &Option<async_graphql::Positioned<String>>| {
        d.as_ref().is_some_and(|d| !d.node.trim().is_empty())
    };
    for definition in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        if !described(&ty.description) {
            missing.push(name.to_owned());
        }
        let mut inputs = Vec::new();
        match &ty.kind {
            TypeKind::Object(o) => {
                for field in &o.fields {
                    let field = &field.node;
                    let path = format!("{name}.{}", field.name.node);
                    if !described(&field.description) {
                        missing.push(path.clone());
                    }
                    inputs.extend(field.arguments.iter().map(|a| (path.clone(), &a.node)));
                }
            }
            TypeKind::Interface(i) => {
                for field in &i.fields {
                    if !described(&field.node.description) {
                        missing.push(format!("{name}.{}", field.node.name.node));
                    }
                }
            }
            TypeKind::InputObject(i) => {
                inputs.extend(i.fields.iter().map(|f| (name.to_owned(), &f.node)));
            }
            TypeKind::Enum(e) => {
                for value in &e.values {
                    if !described(&value.node.description) {
                        missing.push(format!("{name}.{}", value.node.value.node));
                    }
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
        for (owner, input) in inputs {
            if !described(&input.description) {
                missing.push(format!("{owner}({})", input.name.node));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} schema elements have no description:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// The API speaks its own language: no Rust type names (`NaiveDate`, `DateTime<Utc>`, `Option<...>`) in
/// the contract, dates are the scalar `Date`.
#[test]
fn the_schema_names_no_rust_types() {
    let sdl = sms_notify::graphql::sdl();
    for rust in [
        "Naive",
        "Utc>",
        "DateTime<",
        "Fixed",
        "Option<",
        "Vec<",
        "i32",
        "i64",
        "String>",
    ] {
        assert!(!sdl.contains(rust), "schema.graphql mentions '{rust}'");
    }
    assert!(
        sdl.contains("scalar Date\n") || sdl.contains("scalar Date @"),
        "a Date scalar"
    );
    assert!(sdl.contains("lastActivityDate: Date!"));
}

/// The query GraphiQL sends to load the schema (GraphiQL 3, with descriptions and deprecations).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn graphiql_loads_the_schema_without_a_token() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let response = app.post_graphql(None, INTROSPECTION, json!({})).await;
    let types = data(&response)["__schema"]["types"]
        .as_array()
        .expect("types");
    assert!(types.iter().any(|t| t["name"] == "Recipient"));

    let page = app
        .http
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("unpkg.com"),
        "no CDN: the playground works offline"
    );
    for asset in [
        "/graphiql/graphiql.min.js",
        "/graphiql/graphiql.min.css",
        "/graphiql/react.production.min.js",
        "/graphiql/react-dom.production.min.js",
    ] {
        assert!(html.contains(asset), "{asset} is referenced");
        let response = app.http.get(app.url(asset)).send().await.expect("asset");
        assert_eq!(response.status(), 200, "{asset}");
        assert!(
            response.bytes().await.expect("body").len() > 10_000,
            "{asset}"
        );
    }
    let missing = app
        .http
        .get(app.url("/graphiql/../Cargo.toml"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn queries_too_deep_or_too_large_are_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let deep = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType {",
        "} } } } } } } } } } } } } } } }"
    );
    let response = app.post_graphql(None, &deep, json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too deep") || m.contains("depth"))
    );

    let wide = format!(
        "{{ {} }}",
        (0..1_100)
            .map(|i| format!("a{i}: recipient(userId: \"x\") {{ userId }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let response = app.post_graphql(None, &wide, json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");

    let oversized = "x".repeat(sms_notify::http::MAX_BODY_BYTES + 1);
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": oversized }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn malformed_graphql_gets_a_code() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let response = app.post_graphql(None, "{ me { ", json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app.post_graphql(None, "{ nosuchfield }", json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
}
