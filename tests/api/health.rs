use crate::{
    helpers::{Engine, TestApp},
    storage_tests,
};

storage_tests!(health_and_readiness, shutdown_is_graceful,);

async fn health_and_readiness(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    // With the database gone, the service is alive but not ready.
    app.db.clone().close().await.expect("close the pool");
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "unavailable");
}

async fn shutdown_is_graceful(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let url = app.url("/healthz");
    let http = app.http.clone();
    app.stop().await;
    assert!(http.get(url).send().await.is_err(), "no longer listening");
}
