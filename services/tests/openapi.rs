//! The OpenAPI document (`GET /api/v1/openapi.json`) against the contract
//! (API.md) and against the app itself: every operation of API.md is
//! documented, every documented operation is routed, the 🔒 ones need the
//! bearer token, real answers have the documented shape and status, and the
//! documented limits are the enforced ones.

mod support;

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use regex::Regex;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, TestApp};
use terminagent_domain::{LocalTime, OfficeTimeZone};
use terminagent_eventstore::Backend;

/// API.md's operations: (method, path template, 🔒).
const CONTRACT: &[(&str, &str, bool)] = &[
    ("GET", "/healthz", false),
    ("GET", "/readyz", false),
    ("GET", "/metrics", false),
    ("GET", "/api/v1/openapi.json", false),
    ("PUT", "/api/v1/offices/{office}", true),
    ("GET", "/api/v1/offices", false),
    ("PUT", "/api/v1/services/{service}", true),
    ("GET", "/api/v1/services", false),
    ("POST", "/api/v1/offices/{office}/capacity", true),
    ("GET", "/api/v1/availability", false),
    ("POST", "/api/v1/bookings", false),
    ("POST", "/api/v1/wishes", false),
    ("POST", "/api/v1/overview-requests", false),
    ("GET", "/links/{token}", false),
    ("POST", "/links/{token}", false),
    ("GET", "/api/v1/links/{token}", false),
    ("POST", "/api/v1/links/{token}", false),
    ("GET", "/api/v1/events", true),
    ("PUT", "/api/v1/staff/{email}", true),
    ("DELETE", "/api/v1/staff/{email}", true),
    ("POST", "/api/v1/staff/{email}/tokens", true),
    ("POST", "/api/v1/offices/{office}/devices", true),
    ("GET", "/api/v1/offices/{office}/days/{date}", true),
    ("POST", "/api/v1/offices/{office}/closures", true),
    ("POST", "/api/v1/offices/{office}/tickets", true),
    ("POST", "/api/v1/offices/{office}/check-ins", true),
    ("POST", "/api/v1/offices/{office}/counters/{counter}/next", true),
    ("POST", "/api/v1/visits/{booking}/{action}", true),
    ("GET", "/api/v1/offices/{office}/display", true),
    ("GET", "/api/v1/offices/{office}/display/stream", true),
    ("GET", "/api/v1/statistics", true),
    ("POST", "/api/v1/erasures", true),
    ("GET", "/api/v1/challenge", false),
    ("GET", "/api/v1/audit/head", true),
];

/// Operations beyond API.md, held to the same checks: (method, path template, 🔒).
const EXTENSIONS: &[(&str, &str, bool)] = &[
    ("GET", "/api/v1/projections", true),
    ("GET", "/api/v1/audit/trace/{id}", true),
    ("GET", "/api/v1/audit/as-of", true),
    ("GET", "/api/v1/staff", true),
    ("GET", "/api/v1/offices/{office}/devices", true),
    ("DELETE", "/api/v1/offices/{office}/devices/{device}", true),
    ("POST", "/api/v1/offices/{office}/counters/{counter}/open", true),
    ("POST", "/api/v1/offices/{office}/counters/{counter}/pause", true),
    ("POST", "/api/v1/offices/{office}/counters/{counter}/close", true),
];

/// Every operation the app offers: API.md's and ours.
fn operations() -> impl Iterator<Item = &'static (&'static str, &'static str, bool)> {
    CONTRACT.iter().chain(EXTENSIONS)
}

const BEARER_DESCRIPTION: &str = "The operator's `--admin-token`, or a staff member's or device's token \
     (`POST /api/v1/staff/{email}/tokens`, `POST /api/v1/offices/{office}/devices`).";

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

// ---------------------------------------------------------------- helpers

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "public, no token needed: {headers:?} {text}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// Every documented (METHOD, path template).
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(*method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn operation<'a>(doc: &'a Value, method: &str, template: &str) -> &'a Value {
    let operation = &doc["paths"][template][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {template} is documented");
    operation
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} resolves")),
        None => schema,
    }
}

/// The template with each path parameter replaced by its documented example,
/// which must match the parameter's pattern.
fn example_path(doc: &Value, method: &str, template: &str) -> String {
    let mut path = template.to_owned();
    let parameters = operation(doc, method, template)["parameters"].as_array().cloned();
    for parameter in parameters.unwrap_or_default() {
        if parameter["in"] != "path" {
            continue;
        }
        let name = parameter["name"].as_str().unwrap();
        let example = parameter["example"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {template}: path parameter {name} has an example"));
        let errors = conformance(doc, &parameter["schema"], &json!(example));
        assert!(errors.is_empty(), "{method} {template} {name}: {errors:?}");
        path = path.replace(&format!("{{{name}}}"), example);
    }
    assert!(
        !path.contains('{'),
        "{method} {template}: every path parameter is documented"
    );
    path
}

fn request(app: &TestApp, method: &str, path: &str) -> RequestBuilder {
    app.client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", app.base),
    )
}

struct Answer {
    status: StatusCode,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

/// The app's answer when no route matches: the router's fallbacks.
fn unrouted(answer: &Answer, path: &str) -> bool {
    answer.status == StatusCode::METHOD_NOT_ALLOWED
        || (answer.status == StatusCode::NOT_FOUND && answer.body["detail"] == format!("no resource at {path}"))
}

fn base_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Sends `request` for the documented operation and checks the answer
/// against the document: its status is documented, its content type is one
/// of the documented ones, the documented headers are there, a JSON body
/// conforms to the schema, and a problem's `type` is named in the
/// response's description.
async fn exchange(doc: &Value, method: &str, template: &str, request: RequestBuilder) -> (StatusCode, Value) {
    let answer = send(request).await;
    let what = format!("{method} {template} → {} {}", answer.status, answer.body);
    let response = &operation(doc, method, template)["responses"][answer.status.as_str()];
    assert!(response.is_object(), "status documented: {what}");
    let media_type = base_type(&answer.content_type);
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("content documented: {what}"));
    let (_, documented) = content
        .iter()
        .find(|(documented, _)| base_type(documented) == media_type)
        .unwrap_or_else(|| panic!("content type {media_type} documented among {content:?}: {what}"));
    for header in response["headers"]
        .as_object()
        .into_iter()
        .flat_map(|headers| headers.keys())
    {
        assert!(answer.headers.contains_key(header.as_str()), "header {header}: {what}");
    }
    if media_type.ends_with("json") {
        let errors = conformance(doc, &documented["schema"], &answer.body);
        assert!(errors.is_empty(), "{errors:#?}\n{what}");
    }
    if media_type == "application/problem+json" {
        let kind = answer.body["type"].as_str().unwrap();
        let description = response["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("`{kind}`")),
            "problem type named in {description:?}: {what}"
        );
    }
    (answer.status, answer.body)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `value` departs from `schema` (the subset of JSON Schema the
/// document uses). Objects with documented properties may carry no others.
fn conformance(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(doc, schema, value, "$", &mut errors);
    errors
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let mut fail = |message: String| errors.push(format!("{at}: {message}"));
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
            other => vec![other.as_str().unwrap()],
        };
        let actual = json_type(value);
        if !(allowed.contains(&actual) || actual == "integer" && allowed.contains(&"number")) {
            fail(format!("{value} is {actual}, documented {allowed:?}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        fail(format!("{value} is not one of {values:?}"));
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    match value {
        Value::String(text) => {
            let length = text.chars().count() as f64;
            if number("minLength").is_some_and(|min| length < min)
                || number("maxLength").is_some_and(|max| length > max)
            {
                fail(format!("{text:?}: length {length} outside the documented bounds"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && !Regex::new(pattern).unwrap().is_match(text)
            {
                fail(format!("{text:?} does not match {pattern}"));
            }
            let format_ok = match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => DateTime::parse_from_rfc3339(text).is_ok(),
                Some("date") => NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
                Some("email") => text.contains('@'),
                _ => true,
            };
            if !format_ok {
                fail(format!("{text:?} is not a {}", schema["format"]));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            if number("minimum").is_some_and(|min| n < min) || number("maximum").is_some_and(|max| n > max) {
                fail(format!("{n} outside the documented bounds"));
            }
        }
        Value::Array(items) => {
            let count = items.len() as f64;
            if number("minItems").is_some_and(|min| count < min) || number("maxItems").is_some_and(|max| count > max) {
                fail(format!("{count} items, outside the documented bounds"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(doc, item_schema, item, &format!("{at}[{index}]"), errors);
                }
            }
        }
        Value::Object(object) => {
            let required = schema.get("required").and_then(Value::as_array);
            for key in required.into_iter().flatten().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    fail(format!("required {key:?} missing"));
                }
            }
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, item) in object {
                    match properties.get(key) {
                        Some(property) => check(doc, property, item, &format!("{at}.{key}"), errors),
                        None => errors.push(format!("{at}: undocumented property {key:?}")),
                    }
                }
            }
        }
        _ => {}
    }
}

/// The documented properties of a component schema.
fn property_names(doc: &Value, component: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][component]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{component} has properties"))
        .keys()
        .cloned()
        .collect()
}

/// The required properties of a component schema.
fn required_names(doc: &Value, component: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][component]["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{component} has required properties"))
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect()
}

fn limit(doc: &Value, component: &str, property: &str, key: &str) -> u64 {
    doc["components"]["schemas"][component]["properties"][property][key]
        .as_u64()
        .unwrap_or_else(|| panic!("{component}.{property} documents {key}"))
}

fn at(ahead: u64, hhmm: &str) -> String {
    let zone = OfficeTimeZone::parse("Europe/Berlin").unwrap();
    let instant: DateTime<Utc> = zone
        .instant(
            Utc::now().date_naive() + Days::new(ahead),
            LocalTime::parse(hhmm).unwrap(),
        )
        .unwrap();
    instant.to_rfc3339()
}

fn day(ahead: u64) -> String {
    (Utc::now().date_naive() + Days::new(ahead)).to_string()
}

/// Office `stadtmitte`, service `reisepass` (12 min), 08:00–12:00 a week ahead on one lane.
async fn catalogue(app: &TestApp) {
    let office = json!({"name": "Stadtmitte", "address": "Sonnenwall 73-75", "timezone": "Europe/Berlin"});
    let (status, _) = app.staff(Method::PUT, "/api/v1/offices/stadtmitte", office).await;
    assert_eq!(status, StatusCode::CREATED);
    let service = json!({"name": "Reisepass", "duration_minutes": 12});
    let (status, _) = app.staff(Method::PUT, "/api/v1/services/reisepass", service).await;
    assert_eq!(status, StatusCode::CREATED);
    let capacity = json!({"date": day(7), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    let (status, _) = app
        .staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", capacity)
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

fn booking(start: &str, name: &str, email: &str) -> Value {
    json!({"office": "stadtmitte", "services": ["reisepass"], "start": start,
           "citizen": {"name": name, "email": email}})
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_openapi_3_and_names_the_product() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "OpenAPI 3.x, not {version}");
    assert_eq!(doc["info"]["title"], "Terminagent");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let ids: Vec<&str> = documented(&doc)
        .iter()
        .map(|(method, path)| operation(&doc, method, path)["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "operation ids are unique: {ids:?}"
    );
    // Every $ref points at something.
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                    found.push(reference);
                }
                object.values().for_each(|item| refs(item, found));
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        assert!(
            doc.pointer(reference.trim_start_matches('#')).is_some(),
            "{reference} resolves"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_lists_exactly_the_operations_of_the_contract() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let contract: BTreeSet<(String, String)> = operations()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented(&doc), contract);
    for (method, path, _) in operations() {
        let responses = operation(&doc, method, path)["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents its success"
        );
        // JSON API errors are problem documents (API.md "Conventions").
        if path.starts_with("/api/") {
            for (status, response) in responses.iter().filter(|(status, _)| !status.starts_with('2')) {
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_is_routed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    // The oracle itself: an unknown path and a wrong method are recognised.
    assert!(unrouted(
        &send(request(&app, "GET", "/api/v1/nothing")).await,
        "/api/v1/nothing"
    ));
    assert!(unrouted(
        &send(request(&app, "DELETE", "/api/v1/offices")).await,
        "/api/v1/offices"
    ));

    let operations = documented(&doc);
    assert!(operations.len() >= CONTRACT.len());
    for (method, template) in operations {
        let path = example_path(&doc, &method, &template);
        let answer = send(request(&app, &method, &path).bearer_auth(TOKEN)).await;
        assert!(
            !unrouted(&answer, &path),
            "{method} {path} is routed: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            !answer.status.is_server_error(),
            "{method} {path}: {} {}",
            answer.status,
            answer.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_operations_require_the_bearer_scheme() {
    // One wrong token per secured operation, from one address: no throttling here.
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.failed_auth_limit = 10_000).await;
    let doc = document(&app).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": BEARER_DESCRIPTION})
    );
    assert!(doc.get("security").is_none(), "no document-wide requirement");
    for (method, template, staff) in operations() {
        let security = &operation(&doc, method, template)["security"];
        if *staff {
            assert_eq!(security, &json!([{"bearer": []}]), "{method} {template} is 🔒");
        } else {
            assert!(security.is_null(), "{method} {template} is public");
        }
    }
    // And the app agrees: what the document secures answers 401 without a
    // token or with a wrong one; what it leaves public never does.
    for (method, template) in documented(&doc) {
        let path = example_path(&doc, &method, &template);
        let secured = operation(&doc, &method, &template)["security"].is_array();
        for token in [None, Some("not-the-token")] {
            let mut unauthenticated = request(&app, &method, &path);
            if let Some(token) = token {
                unauthenticated = unauthenticated.bearer_auth(token);
            }
            let answer = send(unauthenticated).await;
            if secured {
                assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path} {token:?}");
                assert_eq!(answer.body["type"], "/problems/unauthorized");
                assert_eq!(answer.headers["www-authenticate"], "Bearer");
            } else {
                assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path} {token:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_have_their_documented_shape() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let staff = |method: &str, path: &str| request(&app, method, path).bearer_auth(TOKEN);
    let public = |method: &str, path: &str| request(&app, method, path);

    // Catalogue.
    let office = json!({"name": "Stadtmitte", "address": "Sonnenwall 73-75", "timezone": "Europe/Berlin"});
    let put_office = ("PUT", "/api/v1/offices/{office}");
    let (status, _) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        staff("PUT", "/api/v1/offices/stadtmitte").json(&office),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        staff("PUT", "/api/v1/offices/stadtmitte").json(&office),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        staff("PUT", "/api/v1/offices/Not_A_Slug").json(&office),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let keys: BTreeSet<String> = problem.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        required_names(&doc, "Problem"),
        "a 422 carries the documented keys (the optional ones belong to other problems)"
    );
    let (status, _) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        public("PUT", "/api/v1/offices/stadtmitte").json(&office),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        staff("PUT", "/api/v1/offices/stadtmitte")
            .header("content-type", "application/json")
            .body("{\"name\":"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = exchange(
        &doc,
        put_office.0,
        put_office.1,
        staff("PUT", "/api/v1/offices/stadtmitte").body(office.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let service = json!({"name": "Reisepass", "duration_minutes": 12});
    let (status, _) = exchange(
        &doc,
        "PUT",
        "/api/v1/services/{service}",
        staff("PUT", "/api/v1/services/reisepass").json(&service),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, offices) = exchange(&doc, "GET", "/api/v1/offices", public("GET", "/api/v1/offices")).await;
    assert_eq!(status, StatusCode::OK);
    let offices = offices.as_array().unwrap();
    assert_eq!(offices.len(), 1);
    let keys: BTreeSet<String> = offices[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        property_names(&doc, "Office"),
        "offices carry the documented keys"
    );
    let (status, services) = exchange(&doc, "GET", "/api/v1/services", public("GET", "/api/v1/services")).await;
    assert_eq!(
        (status, services[0]["id"].clone()),
        (StatusCode::OK, json!("reisepass"))
    );

    let capacity = json!({"date": day(7), "from": "08:00", "to": "12:00", "unit_minutes": 12, "lanes": 1});
    let publish = ("POST", "/api/v1/offices/{office}/capacity");
    let (status, answer) = exchange(
        &doc,
        publish.0,
        publish.1,
        staff("POST", "/api/v1/offices/stadtmitte/capacity").json(&capacity),
    )
    .await;
    assert_eq!((status, answer), (StatusCode::CREATED, json!({"units": 20})));
    let (status, problem) = exchange(
        &doc,
        publish.0,
        publish.1,
        staff("POST", "/api/v1/offices/stadtmitte/capacity").json(&capacity),
    )
    .await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/capacity-overlap"))
    );
    let (status, _) = exchange(
        &doc,
        publish.0,
        publish.1,
        staff("POST", "/api/v1/offices/nowhere/capacity").json(&capacity),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Availability.
    let availability = ("GET", "/api/v1/availability");
    let query = format!(
        "/api/v1/availability?office=stadtmitte&services=reisepass&from={}&to={}",
        day(7),
        day(8)
    );
    let (status, free) = exchange(&doc, availability.0, availability.1, public("GET", &query)).await;
    assert_eq!((status, free["slots"].as_array().unwrap().len()), (StatusCode::OK, 20));
    let (status, _) = exchange(
        &doc,
        availability.0,
        availability.1,
        public("GET", &query.replace("stadtmitte", "nowhere")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = exchange(
        &doc,
        availability.0,
        availability.1,
        public(
            "GET",
            &query.replace(&format!("to={}", day(8)), &format!("to={}", day(6))),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bookings.
    let book = ("POST", "/api/v1/bookings");
    let (status, requested) = exchange(
        &doc,
        book.0,
        book.1,
        public("POST", "/api/v1/bookings").json(&booking(&at(7, "08:00"), "Erika Mustermann", "erika@example.org")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let booking_id = requested["booking_id"].as_str().unwrap().to_owned();
    let (status, problem) = exchange(
        &doc,
        book.0,
        book.1,
        public("POST", "/api/v1/bookings").json(&booking(&at(7, "08:00"), "Max Mustermann", "max@example.org")),
    )
    .await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/slot-taken"))
    );
    let (status, _) = exchange(
        &doc,
        book.0,
        book.1,
        public("POST", "/api/v1/bookings").json(&booking(&at(7, "08:12"), "Max", "not an address")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut unknown_service = booking(&at(7, "08:12"), "Max", "max@example.org");
    unknown_service["services"] = json!(["nothing"]);
    let (status, _) = exchange(
        &doc,
        book.0,
        book.1,
        public("POST", "/api/v1/bookings").json(&unknown_service),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut too_large = booking(&at(7, "08:12"), "Max", "max@example.org");
    too_large["padding"] = json!("x".repeat(65 * 1024));
    let (status, _) = exchange(
        &doc,
        book.0,
        book.1,
        public("POST", "/api/v1/bookings").json(&too_large),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Wishes (for an hour without capacity, so the units above stay as they are).
    let wish = json!({"offices": ["stadtmitte"], "services": ["reisepass"], "windows": {"sun": [3]},
                      "citizen": {"name": "Erika Mustermann", "email": "erika@example.org"}, "until": day(20)});
    let register = |body: &Value| public("POST", "/api/v1/wishes").json(body);
    let (status, registered) = exchange(&doc, "POST", "/api/v1/wishes", register(&wish)).await;
    assert_eq!(
        (status, &registered["status"]),
        (StatusCode::CREATED, &json!("pending_confirmation"))
    );
    let (status, problem) = exchange(&doc, "POST", "/api/v1/wishes", register(&wish)).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/duplicate-wish"))
    );
    let mut no_hours = wish.clone();
    no_hours["windows"] = json!({"sun": []});
    let (status, _) = exchange(&doc, "POST", "/api/v1/wishes", register(&no_hours)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut unknown_office = wish.clone();
    unknown_office["offices"] = json!(["walsum"]);
    let (status, _) = exchange(&doc, "POST", "/api/v1/wishes", register(&unknown_office)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Mail links: JSON twins and pages.
    let confirm = app.link_token(&booking_id, "confirm_booking").await;
    let link = format!("/api/v1/links/{confirm}");
    let (status, state) = exchange(&doc, "GET", "/api/v1/links/{token}", public("GET", &link)).await;
    assert_eq!(
        (status, state),
        (StatusCode::OK, json!({"action": "confirm_booking", "state": "open"}))
    );
    let (status, _) = exchange(
        &doc,
        "GET",
        "/links/{token}",
        public("GET", &format!("/links/{confirm}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, pressed) = exchange(&doc, "POST", "/api/v1/links/{token}", public("POST", &link)).await;
    assert_eq!((status, pressed["outcome"].clone()), (StatusCode::OK, json!("done")));
    assert_eq!(pressed["booking"]["status"], "confirmed");
    let (status, again) = exchange(
        &doc,
        "POST",
        "/links/{token}",
        public("POST", &format!("/links/{confirm}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, again) = exchange(&doc, "POST", "/api/v1/links/{token}", public("POST", &link)).await;
    assert_eq!(
        (status, again["outcome"].clone()),
        (StatusCode::OK, json!("already_done"))
    );
    let unknown = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U";
    for (method, template) in [("GET", "/api/v1/links/{token}"), ("POST", "/api/v1/links/{token}")] {
        let path = template.replace("{token}", unknown);
        let (status, _) = exchange(&doc, method, template, public(method, &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = exchange(
        &doc,
        "GET",
        "/links/{token}",
        public("GET", &format!("/links/{unknown}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The office floor: the booking above is a week ahead, so nothing is due today.
    let code = pressed["booking"]["check_in_code"].as_str().unwrap().to_owned();
    let check_in = ("POST", "/api/v1/offices/{office}/check-ins");
    let check_in_with = |body: Value| staff("POST", "/api/v1/offices/stadtmitte/check-ins").json(&body);
    let (status, problem) = exchange(&doc, check_in.0, check_in.1, check_in_with(json!({"code": code}))).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/not-checkable"))
    );
    let (status, _) = exchange(&doc, check_in.0, check_in.1, check_in_with(json!({"code": "00000000"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = exchange(&doc, check_in.0, check_in.1, check_in_with(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let visit = ("POST", "/api/v1/visits/{booking}/{action}");
    let (status, problem) = exchange(
        &doc,
        visit.0,
        visit.1,
        staff("POST", &format!("/api/v1/visits/{booking_id}/start")),
    )
    .await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/invalid-transition"))
    );
    let (status, _) = exchange(
        &doc,
        visit.0,
        visit.1,
        staff("POST", &format!("/api/v1/visits/{booking_id}/jump")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let counter = |change: &str| format!("/api/v1/offices/{{office}}/counters/{{counter}}/{change}");
    let at_counter = |change: &str| format!("/api/v1/offices/stadtmitte/counters/6/{change}");
    let pause = json!({"reason": "Mittagspause"});
    let (status, problem) = exchange(
        &doc,
        "POST",
        &counter("pause"),
        staff("POST", &at_counter("pause")).json(&pause),
    )
    .await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/counter-not-open"))
    );
    let (status, opened) = exchange(&doc, "POST", &counter("open"), staff("POST", &at_counter("open"))).await;
    assert_eq!(
        (status, opened),
        (StatusCode::OK, json!({"counter": "6", "status": "open"}))
    );
    let (status, paused) = exchange(
        &doc,
        "POST",
        &counter("pause"),
        staff("POST", &at_counter("pause")).json(&pause),
    )
    .await;
    assert_eq!(
        (status, paused),
        (
            StatusCode::OK,
            json!({"counter": "6", "status": "paused", "reason": "Mittagspause"})
        )
    );
    let (status, problem) = exchange(&doc, "POST", &counter("next"), staff("POST", &at_counter("next"))).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/counter-paused"))
    );
    let (status, _) = exchange(
        &doc,
        "POST",
        &counter("pause"),
        staff("POST", &at_counter("pause")).json(&json!({"reason": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, closed) = exchange(&doc, "POST", &counter("close"), staff("POST", &at_counter("close"))).await;
    assert_eq!(
        (status, closed),
        (StatusCode::OK, json!({"counter": "6", "status": "closed"}))
    );
    let (status, problem) = exchange(&doc, "POST", &counter("next"), staff("POST", &at_counter("next"))).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::CONFLICT, json!("/problems/counter-closed"))
    );
    let nobody = send(staff("POST", "/api/v1/offices/stadtmitte/counters/7/next")).await;
    let documented_204 = &operation(&doc, "POST", &counter("next"))["responses"]["204"];
    assert_eq!(nobody.status, StatusCode::NO_CONTENT);
    assert!(documented_204.is_object() && documented_204.get("content").is_none());
    let (status, display) = exchange(
        &doc,
        "GET",
        "/api/v1/offices/{office}/display",
        staff("GET", "/api/v1/offices/stadtmitte/display"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&display["calls"], &display["waiting"]),
        (&json!([]), &json!(0)),
        "{display}"
    );
    assert!(display["as_of"].is_string(), "{display}");

    // Statistics: the booking above (a week ahead) is online and confirmed; as JSON and as CSV.
    let statistics = ("GET", "/api/v1/statistics");
    let query = format!("/api/v1/statistics?office=stadtmitte&from={}&to={}", day(7), day(8));
    let (status, figures) = exchange(&doc, statistics.0, statistics.1, staff("GET", &query)).await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    assert_eq!(
        (
            &figures["bookings"]["online"],
            &figures["bookings"]["confirmed"],
            &figures["published_units"]
        ),
        (&json!(1), &json!(1), &json!(20)),
        "{figures}"
    );
    assert_eq!(figures["days"].as_array().unwrap().len(), 2, "{figures}");
    let (status, csv) = exchange(
        &doc,
        statistics.0,
        statistics.1,
        staff("GET", &format!("{query}&format=csv")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        csv.as_str().unwrap().lines().count(),
        4,
        "header, two days, total: {csv}"
    );
    for bad in [
        format!("/api/v1/statistics?from={}&to={}", day(8), day(7)),
        format!("/api/v1/statistics?from={}", day(7)),
        format!("{query}&format=xml"),
    ] {
        let (status, _) = exchange(&doc, statistics.0, statistics.1, staff("GET", &bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let (status, _) = exchange(
        &doc,
        statistics.0,
        statistics.1,
        staff("GET", &query.replace("stadtmitte", "nowhere")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = exchange(&doc, statistics.0, statistics.1, public("GET", &query)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Audit and operations.
    let events = ("GET", "/api/v1/events");
    let (status, page) = exchange(&doc, events.0, events.1, staff("GET", "/api/v1/events?after=1&limit=3")).await;
    assert_eq!((status, page["events"].as_array().unwrap().len()), (StatusCode::OK, 3));
    assert_eq!(page["next"], 4);
    let (status, _) = exchange(&doc, events.0, events.1, staff("GET", "/api/v1/events?limit=many")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = exchange(&doc, events.0, events.1, public("GET", "/api/v1/events")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ready) = exchange(&doc, "GET", "/readyz", public("GET", "/readyz")).await;
    assert_eq!((status, ready["ready"].clone()), (StatusCode::OK, json!(true)));
    let (status, alive) = exchange(&doc, "GET", "/healthz", public("GET", "/healthz")).await;
    assert_eq!((status, alive), (StatusCode::OK, json!("ok")));
    let (status, _) = exchange(&doc, "GET", "/metrics", public("GET", "/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = exchange(
        &doc,
        "GET",
        "/api/v1/openapi.json",
        public("GET", "/api/v1/openapi.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_writes_answer_as_documented() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |config| config.rate_limit_per_minute = Some(1)).await;
    let doc = document(&app).await;
    let write = || request(&app, "POST", "/api/v1/bookings").json(&booking(&at(7, "08:00"), "Max", "max@example.org"));
    let (status, _) = exchange(&doc, "POST", "/api/v1/bookings", write()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no office yet");
    let (status, problem) = exchange(&doc, "POST", "/api/v1/bookings", write()).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("/problems/rate-limited"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn documented_limits_are_the_enforced_limits() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    catalogue(&app).await;

    // Names of offices: maxLength.
    let max = limit(&doc, "OfficeRequest", "name", "maxLength") as usize;
    let office = |name: String| json!({"name": name, "timezone": "Europe/Berlin"});
    let put = |body| app.staff(Method::PUT, "/api/v1/offices/long", body);
    assert!(put(office("n".repeat(max))).await.0.is_success());
    assert_eq!(
        put(office("n".repeat(max + 1))).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Durations of services: minimum and maximum.
    let (min, max) = (
        limit(&doc, "ServiceRequest", "duration_minutes", "minimum"),
        limit(&doc, "ServiceRequest", "duration_minutes", "maximum"),
    );
    let service = |minutes: u64| json!({"name": "Gewerbe", "duration_minutes": minutes});
    let put = |body| app.staff(Method::PUT, "/api/v1/services/gewerbe", body);
    assert!(put(service(min)).await.0.is_success());
    assert!(put(service(max)).await.0.is_success());
    assert_eq!(put(service(min - 1)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(put(service(max + 1)).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Capacity: unit length and lanes.
    let publish = |ahead: u64, unit: u64, lanes: u64| {
        let body = json!({"date": day(ahead), "from": "08:00", "to": "12:00", "unit_minutes": unit, "lanes": lanes});
        app.staff(Method::POST, "/api/v1/offices/stadtmitte/capacity", body)
    };
    let max_unit = limit(&doc, "CapacityRequest", "unit_minutes", "maximum");
    let max_lanes = limit(&doc, "CapacityRequest", "lanes", "maximum");
    assert_eq!(publish(9, max_unit, 1).await.0, StatusCode::CREATED);
    assert_eq!(publish(10, 12, max_lanes).await.0, StatusCode::CREATED);
    assert_eq!(publish(11, max_unit + 1, 1).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(publish(11, 12, max_lanes + 1).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(publish(11, 12, 0).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Bookings: services per booking, name and e-mail lengths.
    let book = |body: Value| app.send(Method::POST, "/api/v1/bookings", None, Some(body));
    let max_services = limit(&doc, "BookingRequest", "services", "maxItems") as usize;
    let mut services = Vec::new();
    for index in 0..max_services {
        let slug = format!("kurz-{index}");
        let body = json!({"name": format!("Kurz {index}"), "duration_minutes": 1});
        let (status, _) = app.staff(Method::PUT, &format!("/api/v1/services/{slug}"), body).await;
        assert_eq!(status, StatusCode::CREATED);
        services.push(slug);
    }
    let mut many = booking(&at(7, "09:00"), "Max", "max@example.org");
    many["services"] = json!(services);
    assert_eq!(book(many.clone()).await.0, StatusCode::CREATED, "{many}");
    many["services"] = json!(vec!["reisepass"; max_services + 1]);
    many["start"] = json!(at(7, "09:12"));
    assert_eq!(book(many).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    let max_name = limit(&doc, "Citizen", "name", "maxLength") as usize;
    let max_email = limit(&doc, "Citizen", "email", "maxLength") as usize;
    // The longest address: 64-character local part, labels of at most 63.
    let email = |length: usize| {
        let domain_length = length - 65;
        let tail = domain_length - 2 * 64 - 3;
        format!(
            "{}@{}.{}.{}.de",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(tail)
        )
    };
    assert_eq!(email(max_email).len(), max_email);
    let (status, answer) = book(booking(&at(7, "10:00"), &"N".repeat(max_name), &email(max_email))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, _) = book(booking(&at(7, "10:12"), &"N".repeat(max_name + 1), "n@example.org")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = book(booking(&at(7, "10:12"), "N", &email(max_email + 1))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Audit page size: the query parameter's bounds.
    let parameters = operation(&doc, "GET", "/api/v1/events")["parameters"]
        .as_array()
        .unwrap();
    let schema = &parameters.iter().find(|p| p["name"] == "limit").unwrap()["schema"];
    let (min, max) = (schema["minimum"].as_u64().unwrap(), schema["maximum"].as_u64().unwrap());
    for (limit, expected) in [
        (min, StatusCode::OK),
        (max, StatusCode::OK),
        (min - 1, StatusCode::UNPROCESSABLE_ENTITY),
        (max + 1, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, _) = app.get(&format!("/api/v1/events?limit={limit}")).await;
        assert_eq!(status, expected, "limit={limit}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn documented_examples_conform_to_their_schemas() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            let errors = conformance(&doc, schema, example);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            checked += 1;
        }
        for (property, property_schema) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(example) = property_schema.get("example") {
                let errors = conformance(&doc, property_schema, example);
                assert!(errors.is_empty(), "{name}.{property}: {errors:?}");
                checked += 1;
            }
        }
    }
    for (method, template) in documented(&doc) {
        let parameters = operation(&doc, &method, &template)["parameters"].as_array().cloned();
        for parameter in parameters.unwrap_or_default() {
            if let Some(example) = parameter.get("example") {
                let errors = conformance(&doc, &parameter["schema"], example);
                assert!(
                    errors.is_empty(),
                    "{method} {template} {}: {errors:?}",
                    parameter["name"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} examples");
}

/// The schema check the tests above rely on finds what it should.
#[test]
fn the_schema_check_finds_departures() {
    let doc = json!({"components": {"schemas": {
        "Thing": {"type": "object", "required": ["id", "count"], "properties": {
            "id": {"type": "string", "pattern": "^[a-z]{1,3}$"},
            "count": {"type": "integer", "minimum": 1, "maximum": 3},
            "state": {"type": "string", "enum": ["open", "used"]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 2}, "maxItems": 2},
            "at": {"type": ["string", "null"], "format": "date-time"}
        }}
    }}});
    let schema = json!({"$ref": "#/components/schemas/Thing"});
    let good = json!({"id": "ab", "count": 2, "state": "open", "tags": ["x"], "at": null});
    assert_eq!(conformance(&doc, &schema, &good), Vec::<String>::new());
    let at = json!({"id": "ab", "count": 2, "at": "2026-12-01T08:12:00+01:00"});
    assert_eq!(conformance(&doc, &schema, &at), Vec::<String>::new());
    for bad in [
        json!({"count": 2}),
        json!({"id": "abcd", "count": 2}),
        json!({"id": "ab", "count": 4}),
        json!({"id": "ab", "count": "2"}),
        json!({"id": "ab", "count": 2, "state": "gone"}),
        json!({"id": "ab", "count": 2, "tags": ["x", "y", "z"]}),
        json!({"id": "ab", "count": 2, "tags": ["xyz"]}),
        json!({"id": "ab", "count": 2, "at": "yesterday"}),
        json!({"id": "ab", "count": 2, "extra": true}),
        json!([]),
    ] {
        assert_eq!(conformance(&doc, &schema, &bad).len(), 1, "{bad}");
    }
}
