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
