//! A database that cannot be reached: requests fail fast with `UNAVAILABLE` and a time to try again,
//! nothing is half written, and the service carries on once the database is back. The outage is a
//! real one: the service reaches PostgreSQL through a loopback proxy the test cuts and restores.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};

use crate::helpers::{Engine, TestApp, data, error_code, opted_in_user, postgres_ready};

/// A TCP proxy to an upstream set later; `cut` drops every connection and refuses new ones.
struct Proxy {
    addr: SocketAddr,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let upstream: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (up, _) = watch::channel(true);
        let (to, state) = (upstream.clone(), up.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut alive = state.subscribe();
                if !*alive.borrow() {
                    continue; // dropped at once: the connection is refused
                }
                let Some(target) = *to.lock().expect("lock") else {
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = alive.wait_for(|up| !up) => {}
                    }
                });
            }
        });
        Self { addr, upstream, up }
    }

    /// Points `url` at the proxy, and the proxy at `url`'s server.
    fn route(&self, url: &SecretString) -> SecretString {
        let mut parsed = reqwest::Url::parse(url.expose_secret()).expect("a URL");
        let host = parsed.host_str().expect("host").to_owned();
        let port = parsed.port().unwrap_or(5432);
        let target = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .expect("resolves")
            .next()
            .expect("an address");
        *self.upstream.lock().expect("lock") = Some(target);
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(self.addr.port())).expect("port");
        SecretString::from(parsed.to_string())
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_requests_fast_with_unavailable() {
    if !postgres_ready() {
        return;
    }
    let proxy = Proxy::start().await;
    let app = TestApp::spawn_custom(
        Engine::Postgres,
        |c| {
            c.database_url = proxy.route(&c.database_url);
            c.sms.workers = 0;
        },
        |_| None,
    )
    .await;
    opted_in_user(&app, "u1", "+1 212 555 0101").await;
    let send = "mutation($i: SendSmsInput!) { sendSms(input: $i) { id status } }";
    let input = |body: &str| json!({ "i": { "userId": "u1", "body": body } });
    data(&app.as_service(send, input("before")).await);

    proxy.set(false);
    for (query, variables) in [
        (send, input("during")),
        ("{ smsLogs(first: 5) { nodes { id } } }", json!({})),
    ] {
        let started = Instant::now();
        let answer = app.as_service(query, variables).await;
        let took = started.elapsed();
        assert_eq!(error_code(&answer), "UNAVAILABLE", "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["retryAfterSeconds"], 2,
            "{answer}"
        );
        assert!(took < Duration::from_secs(5), "answered in {took:?}");
    }
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);

    proxy.set(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = app.as_service(send, input("after")).await;
        if answer.get("errors").is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "never came back: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = data(
        &app.as_graphql_admin("{ smsLogs(first: 10) { nodes { body } } }", json!({}))
            .await,
    )["smsLogs"]["nodes"]
        .clone();
    let bodies: Vec<&str> = logs
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["body"].as_str())
        .filter(|b| !b.contains("code"))
        .collect();
    assert!(
        !bodies.iter().any(|b| b.starts_with("during")),
        "{bodies:?}"
    );
    assert!(bodies.iter().any(|b| b.starts_with("after")), "{bodies:?}");
}
