//! Prometheus metrics at `/metrics` (OpenMetrics text): requests by route
//! template and status, their durations, and how far the log and the views
//! have got (the difference is projection lag).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/offices/{office}`), never the raw path:
    /// clients must not be able to create label values.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    log_head: Gauge,
    catalogue_position: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("terminagent");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        // 0.5 ms … ~4 s
        let durations: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 14)));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            durations.clone(),
        );
        let log_head = Gauge::default();
        registry.register(
            "log_head_position",
            "Position of the last readable event of the log",
            log_head.clone(),
        );
        let catalogue_position = Gauge::default();
        registry.register(
            "catalogue_view_position",
            "Log position the catalogue view reflects",
            catalogue_position.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            log_head,
            catalogue_position,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let route_labels = RouteLabels {
            method: method.to_owned(),
            route: route.to_owned(),
        };
        self.durations.get_or_create(&route_labels).observe(seconds);
        let labels = RequestLabels {
            method: route_labels.method,
            route: route_labels.route,
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub fn set_positions(&self, log_head: u64, catalogue: u64) {
        self.log_head.set(log_head as i64);
        self.catalogue_position.set(catalogue as i64);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_are_counted_by_route_template() {
        let metrics = super::Metrics::new();
        metrics.observe_request("GET", "/api/v1/offices/{office}", 200, 0.002);
        metrics.observe_request("GET", "/api/v1/offices/{office}", 200, 0.004);
        metrics.set_positions(12, 10);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"terminagent_http_requests_total{method="GET",route="/api/v1/offices/{office}",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains("terminagent_log_head_position 12"), "{text}");
        assert!(text.contains("terminagent_catalogue_view_position 10"), "{text}");
        assert!(
            text.contains("terminagent_http_request_duration_seconds_count"),
            "{text}"
        );
    }
}
