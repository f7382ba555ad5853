//! Prometheus metrics at `/metrics` (OpenMetrics text): requests by route
//! template and status, their durations, and how far the log and the views
//! have got (the difference is projection lag); and business gauges
//! read from the views at each scrape: wishes waiting, today's bookings and
//! visitors waiting on the floor per office. Their only label is an office
//! id from the catalogue (never request input), so the series stay few.

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OfficeLabels {
    office: String,
}

/// The business figures one scrape shows, per office of the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessFigures {
    /// Wishes waiting now, each counted once.
    pub waiting_wishes: u64,
    pub offices: Vec<OfficeFigures>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficeFigures {
    /// The office's slug, from the catalogue.
    pub office: String,
    /// Wishes waiting now that name this office.
    pub waiting_wishes: u64,
    /// Bookings of the office's today, placed and not cancelled or lapsed.
    pub bookings_today: u64,
    /// Visitors checked in and waiting to be called now.
    pub visitors_waiting: u64,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    log_head: Gauge,
    catalogue_position: Gauge,
    waiting_wishes: Gauge,
    office_waiting_wishes: Family<OfficeLabels, Gauge>,
    bookings_today: Family<OfficeLabels, Gauge>,
    visitors_waiting: Family<OfficeLabels, Gauge>,
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
        let waiting_wishes = Gauge::default();
        registry.register(
            "waitlist_waiting_wishes",
            "Wishes waiting in the waitlist now",
            waiting_wishes.clone(),
        );
        let office_waiting_wishes = Family::<OfficeLabels, Gauge>::default();
        registry.register(
            "office_waiting_wishes",
            "Wishes waiting now that name the office",
            office_waiting_wishes.clone(),
        );
        let bookings_today = Family::<OfficeLabels, Gauge>::default();
        registry.register(
            "office_bookings_today",
            "Bookings of the office's today, placed and not cancelled or lapsed",
            bookings_today.clone(),
        );
        let visitors_waiting = Family::<OfficeLabels, Gauge>::default();
        registry.register(
            "office_visitors_waiting",
            "Visitors checked in and waiting to be called now",
            visitors_waiting.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            log_head,
            catalogue_position,
            waiting_wishes,
            office_waiting_wishes,
            bookings_today,
            visitors_waiting,
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

    pub fn set_business(&self, figures: &BusinessFigures) {
        self.waiting_wishes.set(figures.waiting_wishes as i64);
        for office in &figures.offices {
            let labels = OfficeLabels {
                office: office.office.clone(),
            };
            self.office_waiting_wishes
                .get_or_create(&labels)
                .set(office.waiting_wishes as i64);
            self.bookings_today
                .get_or_create(&labels)
                .set(office.bookings_today as i64);
            self.visitors_waiting
                .get_or_create(&labels)
                .set(office.visitors_waiting as i64);
        }
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

    #[test]
    fn business_gauges_are_labelled_by_office_only() {
        let metrics = super::Metrics::new();
        metrics.set_business(&super::BusinessFigures {
            waiting_wishes: 3,
            offices: vec![super::OfficeFigures {
                office: "mitte".into(),
                waiting_wishes: 2,
                bookings_today: 7,
                visitors_waiting: 1,
            }],
        });
        let text = metrics.render();
        for expected in [
            "terminagent_waitlist_waiting_wishes 3",
            r#"terminagent_office_waiting_wishes{office="mitte"} 2"#,
            r#"terminagent_office_bookings_today{office="mitte"} 7"#,
            r#"terminagent_office_visitors_waiting{office="mitte"} 1"#,
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }
}
