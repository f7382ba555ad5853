//! Column charts as SVG, written by hand on the server (no chart library,
//! no fonts, no script): inline in the statistics page, next to a table
//! with the same numbers. The SVG is `role="img"`, named by its `<title>`
//! and described by its `<desc>`; every bar carries its numbers as
//! `data-x`, `data-series` and `data-value` (and a `<title>` for a mouse
//! pointer). Colours are presentation attributes (`fill=`), never `style=`:
//! the pages' CSP allows no inline styles.

use std::fmt::Write as _;

/// One series of a chart: stacked in this order from the bottom.
pub(super) struct Series {
    /// Machine name, in `data-series`.
    pub key: &'static str,
    pub label: &'static str,
    pub colour: &'static str,
}

/// One column: its label under the axis and a value per series.
pub(super) struct Column {
    /// Machine name, in `data-x` (a date, an office's slug).
    pub key: String,
    /// Under the axis (short).
    pub label: String,
    /// In the bars' tooltips (long).
    pub long_label: String,
    /// One per series; `None`: nothing to show (no bar).
    pub values: Vec<Option<f64>>,
}

pub(super) struct Chart<'a> {
    /// Unique on the page; the title's and description's ids derive from it.
    pub id: &'a str,
    pub title: String,
    pub description: String,
    pub series: &'a [Series],
    pub columns: &'a [Column],
    /// After a value in tooltips and on the axis, e.g. `" %"`.
    pub unit: &'a str,
    /// The axis' top; without it, the largest stack rounded up.
    pub max: Option<f64>,
    /// Series side by side in each column (e.g. median and 90th
    /// percentile) instead of stacked.
    pub grouped: bool,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 56.0;

/// Text for SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number for attributes: up to two decimals, no trailing zeros.
fn coordinate(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A value as data: Rust's shortest form (`3`, `42.9`).
pub(super) fn data_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// A value as Germans read it: decimal comma.
pub(super) fn german_number(value: f64) -> String {
    data_value(value).replace('.', ",")
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
        .max(1.0)
}

/// The chart as an `<svg>` element.
pub(super) fn render(chart: &Chart) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let largest = chart
        .columns
        .iter()
        .map(|column| match chart.grouped {
            true => column.values.iter().flatten().fold(0.0, |a: f64, b| a.max(*b)),
            false => column.values.iter().flatten().sum::<f64>(),
        })
        .fold(0.0, f64::max);
    let (top, step) = match chart.max {
        Some(max) => (max, nice_step(max / 4.0)),
        None => {
            let step = nice_step(largest / 4.0);
            (((largest / step).ceil() * step).max(step), step)
        }
    };
    let y = |value: f64| TOP + plot_height - value / top * plot_height;
    let title_id = format!("{}-titel", chart.id);
    let desc_id = format!("{}-beschreibung", chart.id);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="chart" role="img" aria-labelledby="{title_id}" aria-describedby="{desc_id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#,
        id = escape(chart.id),
        w = WIDTH,
        h = HEIGHT,
    );
    let _ = write!(
        svg,
        r#"<title id="{title_id}">{}</title><desc id="{desc_id}">{}</desc>"#,
        escape(&chart.title),
        escape(&chart.description)
    );
    // Legend, above the plot.
    if chart.series.len() > 1 {
        let mut x = LEFT;
        svg.push_str(r#"<g class="legend">"#);
        for series in chart.series {
            let _ = write!(
                svg,
                r#"<rect x="{}" y="12" width="12" height="12" fill="{}"/><text x="{}" y="22">{}</text>"#,
                coordinate(x),
                series.colour,
                coordinate(x + 16.0),
                escape(series.label)
            );
            x += 24.0 + 7.0 * series.label.chars().count() as f64;
        }
        svg.push_str("</g>");
    }
    // Axis with grid lines.
    svg.push_str(r#"<g class="axis">"#);
    let mut tick = 0.0;
    while tick <= top + step / 1000.0 {
        let at = coordinate(y(tick));
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{at}" x2="{right}" y2="{at}" stroke="#bbbbbb" stroke-width="1"/><text x="{label}" y="{text_y}" text-anchor="end">{value}{unit}</text>"##,
            left = coordinate(LEFT),
            right = coordinate(LEFT + plot_width),
            label = coordinate(LEFT - 6.0),
            text_y = coordinate(y(tick) + 4.0),
            value = german_number(tick),
            unit = escape(chart.unit.trim()),
        );
        tick += step;
    }
    svg.push_str("</g>");
    // Columns.
    let count = chart.columns.len().max(1) as f64;
    let slot = plot_width / count;
    let bar = (slot * 0.7).max(1.0);
    // Label at most about every 40 px.
    let every = ((40.0 / slot).ceil() as usize).max(1);
    svg.push_str(r#"<g class="bars">"#);
    let width = match chart.grouped {
        true => (bar / chart.series.len().max(1) as f64).max(1.0),
        false => bar,
    };
    for (index, column) in chart.columns.iter().enumerate() {
        let left = LEFT + slot * index as f64 + (slot - bar) / 2.0;
        let mut base = 0.0;
        for (number, (series, value)) in chart.series.iter().zip(&column.values).enumerate() {
            let Some(value) = *value else { continue };
            // Grouped: each series its own bar from the axis; stacked: on the one below.
            let x = match chart.grouped {
                true => left + width * number as f64,
                false => left,
            };
            let (from, to) = (y(base), y(base + value));
            if !chart.grouped {
                base += value;
            }
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-x="{}" data-series="{}" data-value="{}"><title>{}: {} {}{}</title></rect>"#,
                coordinate(x),
                coordinate(to),
                coordinate(width),
                coordinate((from - to).max(0.0)),
                series.colour,
                escape(&column.key),
                series.key,
                data_value(value),
                escape(&column.long_label),
                escape(series.label),
                german_number(value),
                escape(chart.unit)
            );
        }
        if index % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                coordinate(LEFT + slot * (index as f64 + 0.5)),
                coordinate(TOP + plot_height + 16.0),
                escape(&column.label)
            );
        }
    }
    svg.push_str("</g>");
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#1a1a1a" stroke-width="1"/></svg>"##,
        left = coordinate(LEFT),
        right = coordinate(LEFT + plot_width),
        base = coordinate(TOP + plot_height),
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(nice_step(25.0), 50.0);
        assert_eq!(data_value(3.0), "3");
        assert_eq!(german_number(42.5), "42,5");
    }

    #[test]
    fn bars_carry_their_numbers_and_text_is_escaped() {
        let series = [
            Series {
                key: "a",
                label: "A & B",
                colour: "#000000",
            },
            Series {
                key: "b",
                label: "C",
                colour: "#ffffff",
            },
        ];
        let columns = [Column {
            key: "2026-12-01".into(),
            label: "01.12.".into(),
            long_label: "<Dienstag>".into(),
            values: vec![Some(2.0), None],
        }];
        let svg = render(&Chart {
            id: "probe",
            title: "Titel".into(),
            description: "Beschreibung".into(),
            series: &series,
            columns: &columns,
            unit: "",
            max: None,
            grouped: false,
        });
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains(r#"data-x="2026-12-01" data-series="a" data-value="2""#),
            "{svg}"
        );
        assert!(!svg.contains(r#"data-series="b""#), "{svg}");
        assert!(svg.contains("&lt;Dienstag&gt;: A &amp; B 2"), "{svg}");
        assert!(!svg.contains("style="));
    }

    #[test]
    fn grouped_bars_stand_side_by_side_from_the_axis() {
        let series = [
            Series {
                key: "p50",
                label: "Median",
                colour: "#000000",
            },
            Series {
                key: "p90",
                label: "90. Perzentil",
                colour: "#ffffff",
            },
        ];
        let columns = [Column {
            key: "9".into(),
            label: "9 Uhr".into(),
            long_label: "9 bis 10 Uhr".into(),
            values: vec![Some(4.0), Some(10.0)],
        }];
        let svg = render(&Chart {
            id: "probe",
            title: "Titel".into(),
            description: "Beschreibung".into(),
            series: &series,
            columns: &columns,
            unit: " min",
            max: None,
            grouped: true,
        });
        let rects: Vec<&str> = svg.split("<rect ").filter(|rect| rect.contains("data-value")).collect();
        assert_eq!(rects.len(), 2, "{svg}");
        let attribute = |rect: &str, name: &str| -> f64 {
            let rect = format!(" {rect}");
            let start = rect.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            rect[start..].split('"').next().unwrap().parse().unwrap()
        };
        // Both end at the axis; the second right of the first; the axis tops at 10 (not 14).
        let bottom = |rect: &str| attribute(rect, "y") + attribute(rect, "height");
        assert!((bottom(rects[0]) - bottom(rects[1])).abs() < 0.01, "{svg}");
        assert!(attribute(rects[1], "x") > attribute(rects[0], "x"), "{svg}");
        assert!(
            (attribute(rects[1], "y") - TOP).abs() < 0.01,
            "the larger value reaches the top: {svg}"
        );
    }
}
