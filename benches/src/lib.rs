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

/// Prints one line per measurement and keeps the verdicts for the summary.
#[derive(Default)]
pub struct Report {
    verdicts: Vec<(String, String, String, bool)>,
}

impl Report {
    pub fn info(&self, what: &str, figure: &str) {
        println!("{what:<46} {figure}");
    }

    pub fn check(&mut self, what: &str, achieved: String, target: String, pass: bool, note: &str) {
        let mark = if pass {
            String::new()
        } else {
            format!("  {}", highlight("<-- MISS"))
        };
        println!("{what:<46} {achieved:>16}  (target {target}) {note}{mark}");
        self.verdicts.push((what.to_owned(), achieved, target, pass));
    }

    /// Prints every verdict; a missed target makes the bench exit 1, so a
    /// script can tell without reading the text.
    pub fn summary(&self) -> std::process::ExitCode {
        let width = self.verdicts.iter().map(|v| v.0.chars().count()).max().unwrap_or(0);
        println!("\nsummary");
        for (what, achieved, target, pass) in &self.verdicts {
            let status = if *pass { "PASS".to_owned() } else { highlight("MISS") };
            println!("  {status}  {what:<width$}  {achieved:>16}   (target {target})");
        }
        let missed = self.verdicts.iter().filter(|v| !v.3).count();
        if missed == 0 {
            println!("all {} targets met", self.verdicts.len());
            std::process::ExitCode::SUCCESS
        } else {
            let text = format!("*** {missed} of {} targets MISSED ***", self.verdicts.len());
            println!("{}", highlight(&text));
            std::process::ExitCode::FAILURE
        }
    }
}
