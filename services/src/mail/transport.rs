//! Where finished mails go (`--mail`): `.eml` files or an SMTP server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailTransport;

#[derive(Clone)]
pub enum MailSender {
    /// Each mail in `DIR/<Message-ID>.eml`, written atomically (see [`write_mail_file`]).
    Files(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("writing the mail file: {0}")]
    File(#[from] std::io::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// A permanent refusal (5xx) will not go away by retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Smtp(error) if error.is_permanent())
    }
}

impl MailSender {
    pub fn new(transport: &MailTransport) -> Result<Self, SendError> {
        Ok(match transport {
            MailTransport::Files(dir) => MailSender::Files(dir.clone()),
            MailTransport::Smtp {
                host,
                port,
                implicit_tls,
            } => {
                let builder = if *implicit_tls {
                    AsyncSmtpTransport::<Tokio1Executor>::relay(host)?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                };
                MailSender::Smtp(builder.port(*port).timeout(Some(Duration::from_secs(10))).build())
            }
        })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            MailSender::Files(dir) => write_mail_file(dir, &message).await?,
            MailSender::Smtp(smtp) => smtp.send(message).await.map(drop)?,
        }
        Ok(())
    }
}

/// Writes `message` to `dir` under a name derived from its Message-ID, via a
/// temporary file renamed into place: a reader never sees half a mail, and a
/// mail written again (a mailer killed after writing it, before recording
/// it as sent) replaces the first copy instead of making a second — the
/// file transport sends each mail once even through `kill -9`.
pub async fn write_mail_file(dir: &Path, message: &Message) -> std::io::Result<()> {
    let id = message
        .headers()
        .get_raw("Message-ID")
        .map(mail_file_stem)
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    let file = dir.join(format!("{id}.eml"));
    // Partial files wait in a directory of their own: whoever lists `dir`
    // for mails sees whole ones only.
    let partials = dir.join(".partial");
    tokio::fs::create_dir_all(&partials).await?;
    let partial = partials.join(format!("{id}.{}", ulid::Ulid::new()));
    tokio::fs::write(&partial, message.formatted()).await?;
    match tokio::fs::rename(&partial, &file).await {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(error)
        }
    }
}

/// A Message-ID as a file name: the characters a name cannot hold (or
/// should not, `/` above all) become `_`.
fn mail_file_stem(message_id: &str) -> String {
    message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-+_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(id: &str, body: &str) -> Message {
        Message::builder()
            .from("Bürgerbüro <termine@example.org>".parse().unwrap())
            .to("erika@example.org".parse().unwrap())
            .subject("Termin")
            .message_id(Some(id.to_owned()))
            .body(body.to_owned())
            .unwrap()
    }

    /// A fresh directory under the system's temporary one.
    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("terminagent-mail-files-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn eml_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".partial")
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_mail_written_twice_is_one_file_holding_the_second_copy() {
        let dir = scratch();
        let id = "<01JABCDEF.booking.requested@termine.example.org>";
        write_mail_file(&dir, &mail(id, "first")).await.unwrap();
        write_mail_file(&dir, &mail(id, "second")).await.unwrap();
        assert_eq!(eml_files(&dir), ["01JABCDEF.booking.requested@termine.example.org.eml"]);
        let text = std::fs::read_to_string(dir.join(&eml_files(&dir)[0])).unwrap();
        assert!(text.contains("second") && !text.contains("first"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn mails_with_different_ids_are_different_files() {
        let dir = scratch();
        write_mail_file(&dir, &mail("<a@x>", "1")).await.unwrap();
        write_mail_file(&dir, &mail("<b@x>", "2")).await.unwrap();
        assert_eq!(eml_files(&dir), ["a@x.eml", "b@x.eml"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_message_id_cannot_name_a_file_elsewhere() {
        assert_eq!(mail_file_stem("<../../etc/passwd@x>"), ".._.._etc_passwd@x");
        assert!(!mail_file_stem("<a/b\\c@x>").contains(['/', '\\']));
    }
}
