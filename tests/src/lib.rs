//! Helpers for end-to-end tests: run the real `terminagent` binary as a
//! child process, find its bound address in its log, stop it with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `terminagent` binary of this build (next to the test executable's `deps/`).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile directory");
    let binary = dir.join("terminagent");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p terminagent`",
        binary.display()
    );
    binary
}

/// A scratch directory removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("terminagent-e2e-{}-{}", std::process::id(), next_id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A running `terminagent` process.
pub struct Running {
    child: Child,
    pub base_url: String,
    pub log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Running {
    /// Starts `terminagent ARGS` in `dir` and waits for its "listening" line.
    pub async fn start<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Running {
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("terminagent starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let address = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("log readable") {
                if line.contains("listening") {
                    return listening_address(&line).expect("listening line names the address");
                }
            }
            panic!("terminagent exited before listening")
        })
        .await
        .expect("terminagent listens within 30 s");
        // Keep draining the log so the child never blocks on a full pipe.
        let (sender, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = sender.send(line);
            }
        });
        Running {
            child,
            base_url: format!("http://{address}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A JSON request with the bearer `token`: (status, body; null if not JSON).
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Kills the process with SIGKILL (a crash: nothing is drained) and waits for it to be gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL sent");
        self.child.wait().await.expect("killed");
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s of SIGTERM")
            .expect("exit status")
    }
}

/// The bound address in a "listening" log line, text (`address=…`) or JSON (`"address":"…"`).
fn listening_address(line: &str) -> Option<String> {
    if line.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        return json["address"].as_str().map(str::to_owned);
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .map(str::to_owned)
}

/// Polls `/readyz` until it answers 200 (as an orchestrator would); returns its last body.
pub async fn wait_until_ready(app: &Running) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = reqwest::get(app.url("/readyz")).await.expect("readyz answers");
        let ready = response.status() == 200;
        let body: serde_json::Value = response.json().await.expect("readyz body");
        if ready || tokio::time::Instant::now() > deadline {
            assert!(ready, "not ready within 20 s: {body}");
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sent-mail ledger (mail key, outcome, by key) of the database at
/// `database_url` once mail has settled: the mail relay's checkpoint has
/// reached the log's head (every notice is on the bus), no claim is open
/// (`sending`) and at least `expected` mails are recorded. This is the
/// condition "every mail handled" to wait for instead of a sleep; callers
/// assert on what it returns, then look again after a short settle, so a
/// late duplicate is seen too. Polls every 20 ms; panics after `limit`.
pub async fn mails_settled(database_url: &str, expected: usize, limit: Duration) -> Vec<(String, String)> {
    let store = terminagent_eventstore::EventStore::connect(database_url, Default::default())
        .await
        .expect("the test's store");
    let progress = store.progress();
    let deadline = tokio::time::Instant::now() + limit;
    let ledger = loop {
        // Numbers whatever was appended but not yet sequenced, so the head
        // covers every event committed so far.
        let head = store.catch_up().await.expect("the log's head");
        let relayed = progress
            .checkpoint(terminagent::mail::RELAY_CHECKPOINT)
            .await
            .expect("the relay's checkpoint");
        let ledger = progress.mail_ledger().await.expect("the sent-mail ledger");
        let open = ledger.iter().any(|(_, outcome)| outcome == "sending");
        if relayed >= head && ledger.len() >= expected && !open {
            break ledger;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mail not settled within {limit:?}: relay at {relayed} of {head}, {} of {expected} mails recorded: {ledger:?}",
            ledger.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    store.close().await;
    ledger
}

/// Runs `terminagent ARGS` to completion; returns its status and stderr.
pub async fn run_to_end(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let output = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A TCP port on loopback with nobody listening.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A NATS server with JetStream of the test's own, on a port of its own, so a
/// test may stop and restart it without disturbing others. Its store lives in
/// a directory the caller keeps, so streams survive a restart.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store_dir: PathBuf,
}

impl NatsServer {
    pub async fn start(store_dir: &Path) -> NatsServer {
        let mut server = NatsServer {
            child: None,
            port: closed_port(),
            store_dir: store_dir.to_owned(),
        };
        server.up().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn up(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts (is it installed?)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server listens within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server abruptly.
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL sent");
            child.wait().await.expect("nats-server gone");
        }
    }
}

/// A mail as [`HoldingSmtpReceiver`] received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `RCPT TO` addresses, without the angle brackets.
    pub to: Vec<String>,
    /// The message as sent (RFC 5322), dot-unstuffed.
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// A loopback SMTP receiver (enough of RFC 5321 for lettre) that can stall
/// like a slow mail server: after [`HoldingSmtpReceiver::hold_after`] it
/// accepts a given number of further mails and then holds every later one
/// at the end of its DATA — no answer, the mail not kept — until the sender
/// gives up or dies. Unlike `services/tests/support/smtp.rs`, which refuses
/// or drops connections, this keeps a sender mid-send for as long as a test
/// needs, e.g. to kill it there.
pub struct HoldingSmtpReceiver {
    port: u16,
    state: std::sync::Arc<std::sync::Mutex<SmtpState>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct SmtpState {
    received: Vec<ReceivedMail>,
    /// How many more mails are accepted before holding begins; `None`: all.
    passing: Option<usize>,
    /// Mails held at the end of their DATA so far.
    held: usize,
}

impl HoldingSmtpReceiver {
    /// Listens on a free loopback port and accepts every mail.
    pub async fn start() -> HoldingSmtpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state = std::sync::Arc::<std::sync::Mutex<SmtpState>>::default();
        let shared = state.clone();
        let server = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                sessions.spawn(smtp_session(socket, shared.clone()));
            }
        });
        HoldingSmtpReceiver { port, state, server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Accepts `count` more mails, then holds every one after them.
    pub fn hold_after(&self, count: usize) {
        self.state.lock().unwrap().passing = Some(count);
    }

    /// Accepts every mail from now on (mails already held stay unanswered).
    pub fn pass_all(&self) {
        self.state.lock().unwrap().passing = None;
    }

    /// How many mails have been held so far.
    pub fn held(&self) -> usize {
        self.state.lock().unwrap().held
    }

    /// Every mail accepted so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `done` holds for the mails received (polling every 20 ms);
    /// panics with `what` after `limit`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[ReceivedMail]) -> bool,
    ) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} within {limit:?}; {} mails received",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HoldingSmtpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn smtp_session(socket: tokio::net::TcpStream, state: std::sync::Arc<std::sync::Mutex<SmtpState>>) {
    use tokio::io::AsyncWriteExt;
    let (reader, mut writer) = socket.into_split();
    let mut reader = BufReader::new(reader);
    if writer.write_all(b"220 receiver.test ESMTP\r\n").await.is_err() {
        return;
    }
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer: &[u8] = if command.starts_with("EHLO") {
            b"250-receiver.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if command.starts_with("HELO") || command.starts_with("NOOP") || command.starts_with("MAIL FROM:") {
            b"250 OK\r\n"
        } else if command.starts_with("RSET") {
            to.clear();
            b"250 OK\r\n"
        } else if command.starts_with("RCPT TO:") {
            let address = line.trim_end()[8..].trim();
            to.push(address.trim_start_matches('<').trim_end_matches('>').to_owned());
            b"250 OK\r\n"
        } else if command == "DATA" {
            if writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.is_err() {
                return;
            }
            let mut raw = Vec::new();
            loop {
                let mut data = Vec::new();
                if reader.read_until(b'\n', &mut data).await.unwrap_or(0) == 0 {
                    return;
                }
                if data == b".\r\n" {
                    break;
                }
                raw.extend_from_slice(if data.starts_with(b"..") { &data[1..] } else { &data });
            }
            let hold = {
                let mut state = state.lock().unwrap();
                match state.passing {
                    Some(0) => {
                        state.held += 1;
                        true
                    }
                    passing => {
                        state.passing = passing.map(|count| count - 1);
                        let to = std::mem::take(&mut to);
                        state.received.push(ReceivedMail { to, raw });
                        false
                    }
                }
            };
            if hold {
                // Stalled: never answer; the sender gives up or dies.
                let mut rest = Vec::new();
                while reader.read_until(b'\n', &mut rest).await.unwrap_or(0) > 0 {
                    rest.clear();
                }
                return;
            }
            b"250 queued\r\n"
        } else if command == "QUIT" {
            // A client may hang up without waiting for the goodbye; any other failure is the receiver's.
            if let Err(error) = writer.write_all(b"221 bye\r\n").await {
                assert!(
                    matches!(
                        error.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ),
                    "answering QUIT failed: {error}"
                );
            }
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if writer.write_all(answer).await.is_err() {
            return;
        }
    }
}
