//! Operations surface: Prometheus metrics.

mod support;

use support::TestApp;
use terminagent_eventstore::Backend;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_by_route_template_and_show_the_log_position() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.get("/api/v1/offices").await;
    app.get("/api/v1/offices").await;
    let body = serde_json::json!({"name": "Walsum", "timezone": "Europe/Berlin"});
    app.staff(reqwest::Method::PUT, "/api/v1/offices/walsum", body).await;
    app.get("/no/such/path/4711").await;

    let response = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    for expected in [
        r#"terminagent_http_requests_total{method="GET",route="/api/v1/offices",status="200"} 2"#,
        r#"terminagent_http_requests_total{method="PUT",route="/api/v1/offices/{office}",status="201"} 1"#,
        r#"terminagent_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        "terminagent_log_head_position 1",
        "terminagent_catalogue_view_position 1",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
    assert!(!text.contains("4711"), "raw paths never become label values");
}
