//! Delivery receipts through `POST /webhooks/sns`: verified events per second, on the real server.
//!
//!   cargo bench --bench webhooks          (BENCH_POSTGRES_URL adds PostgreSQL)
//!
//! 20,000 sent messages, then one signed final receipt each (TEXT_DELIVERED with AWS's price), posted by
//! 16 clients over loopback HTTP; the signing certificate is fetched once and cached. Beside it, in the
//! same run: the same 16 clients on `GET /healthz` (the HTTP floor of this machine) and the signature
//! verification alone, in process.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use axum::{Router, routing::get};
use base64::Engine as _;
use chrono::Utc;
use rsa::{
    RsaPrivateKey,
    pkcs1v15::SigningKey,
    pkcs8::DecodePrivateKey,
    signature::{SignatureEncoding, Signer as _},
};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;
use sms_notify::{
    App, Config, SystemClock,
    inbound::sns::{SnsConfig, Verifier},
};
use tokio_util::sync::CancellationToken;

const MESSAGES: usize = 20_000;
const CLIENTS: usize = 16;
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:sms-events";

struct Signer {
    key: RsaPrivateKey,
    cert_url: String,
}

impl Signer {
    async fn start() -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?;
        let pem = rcgen::CertificateParams::new(vec!["sns.test".to_owned()])?
            .self_signed(&key)?
            .pem();
        let app = Router::new().route("/cert.pem", get(move || async move { pem }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            key: RsaPrivateKey::from_pkcs8_der(&key.serialize_der())?,
            cert_url: format!("http://{addr}/cert.pem"),
        })
    }

    fn envelope(&self, message: &serde_json::Value) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let timestamp = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let message = message.to_string();
        let canonical = format!(
            "Message\n{message}\nMessageId\n{id}\nTimestamp\n{timestamp}\nTopicArn\n{TOPIC}\nType\nNotification\n"
        );
        let signature = SigningKey::<rsa::sha2::Sha256>::new(self.key.clone())
            .sign(canonical.as_bytes())
            .to_vec();
        json!({
            "Type": "Notification", "MessageId": id, "TopicArn": TOPIC, "Message": message,
            "Timestamp": timestamp, "SignatureVersion": "2", "SigningCertURL": self.cert_url,
            "Signature": base64::engine::general_purpose::STANDARD.encode(signature),
        })
        .to_string()
    }
}

fn sns_config() -> SnsConfig {
    SnsConfig {
        events_topic_arn: Some(TOPIC.into()),
        inbound_topic_arn: None,
        cert_hosts: vec!["127.0.0.1".into()],
        cert_allow_http: true,
    }
}

/// Posts `bodies` (or GETs `/healthz` as many times when `bodies` is empty) with `CLIENTS` clients;
/// returns requests per second.
async fn hammer(
    http: &reqwest::Client,
    base: &str,
    bodies: Arc<Vec<String>>,
    count: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, base, bodies, next) =
                (http.clone(), base.to_owned(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    let response = match bodies.get(i) {
                        Some(body) => {
                            http.post(format!("{base}/webhooks/sns"))
                                .body(body.clone())
                                .send()
                                .await?
                        }
                        None => http.get(format!("{base}/healthz")).send().await?,
                    };
                    anyhow::ensure!(response.status() == 200, "status {}", response.status());
                    response.bytes().await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (engines, admin) = support::engines();
    println!(
        "sms-notify webhook benchmark: {MESSAGES} signed final receipts, {CLIENTS} clients, 2 cores"
    );
    let signer = Signer::start().await?;
    // The verification alone, in process, with the certificate cached.
    let verifier = Verifier::new(sns_config());
    let sample: Vec<String> = (0..2_000)
        .map(|i| signer.envelope(&json!({ "eventType": "TEXT_DELIVERED", "isFinal": true, "messageId": format!("v-{i}"), "eventTimestamp": 0 })))
        .collect();
    verifier
        .verify(sample[0].as_bytes(), Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    for body in &sample {
        verifier
            .verify(body.as_bytes(), Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let verify_rate = sample.len() as f64 / started.elapsed().as_secs_f64();
    println!();
    println!("| engine | run | per second | vs HTTP floor |");
    println!("| --- | --- | ---: | ---: |");
    println!("| - | signature verification alone, one core, in process | {verify_rate:.0} | |");
    for engine in engines {
        let (url, _dir) = support::fresh_database(engine, admin.as_deref(), "webhooks").await?;
        let mut config = Config::for_database(url);
        config.sms.workers = 0;
        config.reminders.enabled = false;
        config.sns = sns_config();
        let app = App::build(config, Arc::new(SystemClock)).await?;
        // Sent messages waiting for their receipts.
        let now = Utc::now();
        let rows: Vec<entity::sms_log::ActiveModel> = (0..MESSAGES)
            .map(|i| entity::sms_log::ActiveModel {
                user_id: Set(None),
                to_phone: Set(format!("+1212555{:04}", i % 10_000)),
                country: Set(Some("US".into())),
                message_type: Set(entity::sms_log::MessageType::Other),
                promotional: Set(false),
                priority: Set(0),
                body: Set("Benchmark".into()),
                status: Set(entity::sms_log::SmsStatus::Sent),
                attempts: Set(1),
                segments: Set(1),
                encoding: Set("GSM-7".into()),
                cost_micros: Set(Some(7_500)),
                estimated_cost_micros: Set(Some(7_500)),
                created_at: Set(now),
                sent_at: Set(Some(now)),
                provider_message_id: Set(Some(format!("bench-{i}"))),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(500) {
            entity::sms_log::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&app.handles.db)
                .await?;
        }
        let bodies: Vec<String> = (0..MESSAGES)
            .map(|i| {
                signer.envelope(&json!({
                    "eventType": "TEXT_DELIVERED", "isFinal": true, "messageId": format!("bench-{i}"),
                    "messageStatus": "DELIVERED", "totalMessagePrice": 0.00581, "eventTimestamp": now.timestamp_millis(),
                }))
            })
            .collect();
        let db = app.handles.db.clone();
        let server = app
            .start("127.0.0.1:0".parse()?, CancellationToken::new())
            .await?;
        let base = format!("http://{}", server.addr);
        let http = reqwest::Client::new();
        let floor = hammer(&http, &base, Arc::new(Vec::new()), MESSAGES).await?;
        let rate = hammer(&http, &base, Arc::new(bodies), MESSAGES).await?;
        let delivered = entity::sms_log::Entity::find()
            .all(&db)
            .await?
            .iter()
            .filter(|r| {
                r.status == entity::sms_log::SmsStatus::Delivered && r.cost_micros == Some(5_810)
            })
            .count();
        anyhow::ensure!(delivered == MESSAGES, "{delivered} of {MESSAGES} settled");
        println!("| {engine} | `GET /healthz` (the HTTP floor) | {floor:.0} | 1.00 |");
        println!(
            "| {engine} | verified receipts applied (status, price, spend, rollup, event history) | **{rate:.0}** | {:.2} |",
            rate / floor
        );
        server.stop().await?;
    }
    Ok(())
}
