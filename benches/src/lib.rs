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

/// The `q` quantile (0–1) of `sorted` values, nearest rank; 0 for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The release binary the HTTP benches run: `target/release/terminagent`, or
/// `$TERMINAGENT_BIN`.
pub fn server_binary() -> anyhow::Result<String> {
    let binary = std::env::var("TERMINAGENT_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/terminagent").to_owned());
    if !std::path::Path::new(&binary).exists() {
        anyhow::bail!("{binary} is missing: run `cargo build --release -p terminagent` first");
    }
    Ok(binary)
}

/// Starts `terminagent serve --bind 127.0.0.1:0 ARGS…` (the release binary,
/// see [`server_binary`]) and waits for its "listening" line; the child
/// (killed when dropped) and its base URL, `http://127.0.0.1:PORT`. Its
/// log goes on being read so the server never blocks on it; the first 20
/// warnings and errors are passed on to stderr, the rest is dropped — or, for a look
/// inside, all of it written to the file `$TERMINAGENT_BENCH_SERVER_LOG`
/// (with the server's `RUST_LOG` taken from `$TERMINAGENT_BENCH_RUST_LOG`).
pub async fn start_server(args: &[String]) -> anyhow::Result<(tokio::process::Child, String)> {
    use anyhow::Context;
    use tokio::io::AsyncBufReadExt;
    let binary = server_binary()?;
    let mut child = tokio::process::Command::new(&binary)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("TERMINAGENT_BENCH_RUST_LOG").unwrap_or_else(|_| "warn,terminagent=info".to_owned()),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let mut log_file = match std::env::var_os("TERMINAGENT_BENCH_SERVER_LOG") {
        Some(path) => Some(std::fs::File::create(&path).with_context(|| format!("creating {path:?}"))?),
        None => None,
    };
    let mut lines = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(address) = line.split_whitespace().find_map(|field| field.strip_prefix("address=")) {
            let base = format!("http://{address}");
            tokio::spawn(async move {
                let mut passed_on = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(file) = log_file.as_mut() {
                        use std::io::Write;
                        writeln!(file, "{line}").ok();
                    } else if line.contains("WARN") || line.contains("ERROR") {
                        passed_on += 1;
                        match passed_on {
                            ..=20 => eprintln!("server: {line}"),
                            21 => eprintln!("server: (further warnings and errors not shown)"),
                            _ => {}
                        }
                    }
                }
            });
            return Ok((child, base));
        }
    }
    anyhow::bail!("the server exited before listening")
}

/// utime + stime of a process so far, in seconds, from `/proc/PID/stat`
/// (clock ticks of 1/100 s).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    use anyhow::Context;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a /proc stat line")?
        .1
        .split_whitespace()
        .collect();
    let ticks =
        |index: usize| -> anyhow::Result<f64> { Ok(fields.get(index).context("a stat field")?.parse::<f64>()?) };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
