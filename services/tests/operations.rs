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

#[tokio::test(flavor = "multi_thread")]
async fn public_writes_beyond_the_rate_limit_get_429_with_retry_after() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.rate_limit_per_minute = Some(3)).await;
    let booking = serde_json::json!({"office": "nowhere", "services": ["x"], "start": "2030-01-01T08:00:00+01:00",
                                     "citizen": {"name": "Bot", "email": "bot@example.org"}});
    let post_booking = || {
        app.client
            .post(format!("{}/api/v1/bookings", app.base))
            .json(&booking)
            .send()
    };
    for attempt in 1..=3 {
        let response = post_booking().await.unwrap();
        assert_eq!(response.status(), 404, "attempt {attempt} is answered normally");
    }
    let limited = post_booking().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["content-type"], "application/problem+json");
    // Links are public writes too; reads are never limited.
    let link = app
        .client
        .post(format!("{}/api/v1/links/abc", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), 429);
    for _ in 0..10 {
        assert_eq!(
            app.client
                .get(format!("{}/api/v1/offices", app.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_methods_share_one_metrics_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for n in 0..40 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
        let response = app
            .client
            .request(method, format!("{}/api/v1/offices", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "a method the route does not have");
    }
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"terminagent_http_requests_total{method="other",route="/api/v1/offices",status="405"} 40"#),
        "{text}"
    );
    assert!(!text.contains("INVENTED"), "no label value a client made up");
}

/// `--metrics-token`: `/metrics` answers only to that bearer token (not to
/// the admin token, not to none); without the flag it stays open.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_ask_for_their_own_token_when_one_is_set() {
    const METRICS: &str = "metrics-scraper-token-0123456789abcdef";
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.metrics_token = Some(terminagent::config::AdminToken::parse(METRICS).unwrap())
    })
    .await;
    let scrape = |token: Option<&'static str>| {
        let mut request = app.client.get(format!("{}/metrics", app.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = scrape(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    assert_eq!(scrape(Some(support::TOKEN)).await.unwrap().status(), 401);
    assert_eq!(
        scrape(Some("metrics-scraper-token-0123456789abcdeX"))
            .await
            .unwrap()
            .status(),
        401
    );
    let allowed = scrape(Some(METRICS)).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("terminagent_log_head_position"));

    let open = TestApp::spawn(Backend::Sqlite).await;
    let response = open.client.get(format!("{}/metrics", open.base)).send().await.unwrap();
    assert_eq!(response.status(), 200, "no token configured: open");
}

/// HSTS on every answer (pages, API, errors) when the site is https, never
/// over plain http, where a browser would ignore it anyway.
#[tokio::test(flavor = "multi_thread")]
async fn an_https_site_tells_browsers_to_stay_on_https() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| {
        config.public_url = Some(terminagent::config::PublicUrl::parse("https://termine.stadt.example").unwrap())
    })
    .await;
    for path in ["/", "/api/v1/offices", "/no/such/page", "/healthz"] {
        let response = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let plain = TestApp::spawn(Backend::Sqlite).await;
    let response = plain.client.get(format!("{}/", plain.base)).send().await.unwrap();
    assert!(response.headers().get("strict-transport-security").is_none());
}

/// A link's JSON answer (looked at or pressed) is never stored by a browser
/// or proxy: it is one moment's state, under a secret address.
#[tokio::test(flavor = "multi_thread")]
async fn link_answers_are_not_cached() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    support::stadtmitte_a_week_ahead(&app).await;
    let body = serde_json::json!({"office": "stadtmitte", "services": ["reisepass"],
        "start": support::berlin_at(7, "08:00").to_rfc3339(),
        "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}});
    let (status, answer) = app
        .send(reqwest::Method::POST, "/api/v1/bookings", None, Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    let token = app
        .link_token(answer["booking_id"].as_str().unwrap(), "confirm_booking")
        .await;
    let url = format!("{}/api/v1/links/{token}", app.base);
    for response in [
        app.client.get(&url).send().await.unwrap(),
        app.client.post(&url).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}
