//! A real SMTP receiver on loopback for the mail tests: it speaks enough of
//! RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
//! NOOP, QUIT) and keeps what it received. It can be taken down and brought
//! back on the same port, and told to refuse with a temporary error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (RFC 5322), dot-unstuffed.
    pub raw: Vec<u8>,
}

pub struct SmtpReceiver {
    address: SocketAddr,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    refuse: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl SmtpReceiver {
    pub async fn start() -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = SmtpReceiver {
            address: listener.local_addr().unwrap(),
            received: Arc::default(),
            refuse: Arc::default(),
            server: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Stops accepting; connections are refused until [`SmtpReceiver::up`].
    pub fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    pub async fn up(&mut self) {
        self.down();
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }

    /// Answer `451` (try again later) to every mail while set.
    pub fn refuse_temporarily(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` mails arrived (at most 30 s).
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedMail> {
        self.wait_for_within(count, Duration::from_secs(30)).await
    }

    pub async fn wait_for_within(&self, count: usize, limit: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} mails, got {}", self.received().len());
    }

    fn serve(&mut self, listener: TcpListener) {
        let received = self.received.clone();
        let refuse = self.refuse.clone();
        self.server = Some(tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                sessions.spawn(session(socket, received.clone(), refuse.clone()));
            }
        }));
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn session(socket: TcpStream, received: Arc<Mutex<Vec<ReceivedMail>>>, refuse: Arc<AtomicBool>) {
    let (reader, mut writer) = socket.into_split();
    let mut lines = BufReader::new(reader);
    let reply = async |writer: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        writer.write_all(text.as_bytes()).await.is_ok()
    };
    if !reply(&mut writer, "220 receiver.test ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer = if command.starts_with("EHLO") {
            "250-receiver.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned()
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            "250 OK\r\n".to_owned()
        } else if command.starts_with("RSET") {
            (from, to) = (String::new(), Vec::new());
            "250 OK\r\n".to_owned()
        } else if command.starts_with("MAIL FROM:") {
            from = line.trim_end()[10..].to_owned();
            "250 OK\r\n".to_owned()
        } else if command.starts_with("RCPT TO:") {
            to.push(line.trim_end()[8..].to_owned());
            "250 OK\r\n".to_owned()
        } else if command == "DATA" {
            if !reply(&mut writer, "354 end with <CRLF>.<CRLF>\r\n").await {
                return;
            }
            let mut raw = Vec::new();
            loop {
                let mut data = Vec::new();
                if lines.read_until(b'\n', &mut data).await.unwrap_or(0) == 0 {
                    return;
                }
                if data == b".\r\n" {
                    break;
                }
                raw.extend_from_slice(if data.starts_with(b"..") { &data[1..] } else { &data });
            }
            if refuse.load(Ordering::SeqCst) {
                "451 try again later\r\n".to_owned()
            } else {
                received.lock().unwrap().push(ReceivedMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    raw,
                });
                "250 queued\r\n".to_owned()
            }
        } else if command == "QUIT" {
            let _ = reply(&mut writer, "221 bye\r\n").await;
            return;
        } else {
            "502 not implemented\r\n".to_owned()
        };
        if !reply(&mut writer, &answer).await {
            return;
        }
    }
}
