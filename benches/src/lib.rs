//! Benchmarks live in `benches/benches/`; run them with `cargo bench -p terminagent-benches`.

use std::io::IsTerminal;

/// Bold red on a terminal, plain otherwise: how a bench marks a missed target.
pub fn highlight(text: &str) -> String {
    if std::io::stdout().is_terminal() {
        format!("\x1b[1;31m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
