//! Outgoing mail: an SMTP relay (lettre), or — the zero-setup default — an outbox folder of
//! `.eml` files, each also written to the log, so a laptop user can follow the links.

use std::path::PathBuf;

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

use crate::{Result, ServiceError};

#[derive(Clone)]
pub struct Mailer {
    /// The sender, checked when set (`Name <address>`).
    from: String,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Outbox(dir) => write!(f, "Mailer(outbox {})", dir.display()),
            Transport::Smtp(_) => write!(f, "Mailer(smtp)"),
        }
    }
}

const DEFAULT_FROM: &str = "Stratus <stratus@localhost>";

impl Mailer {
    /// Mail written to `dir` and the log.
    pub fn outbox(dir: PathBuf) -> Self {
        Self { from: DEFAULT_FROM.into(), transport: Transport::Outbox(dir) }
    }

    /// Mail relayed by the SMTP server at `url`: `smtp://host:port` (plain, for a local
    /// relay), `smtp://host?tls=required` (STARTTLS) or `smtps://user:pass@host` (TLS).
    pub fn smtp(url: &str, from: &str) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ServiceError::invalid("invalid_smtp_url", format!("bad SMTP URL: {e}")))?
            .build();
        Self { from: DEFAULT_FROM.into(), transport: Transport::Smtp(transport) }.with_from(from)
    }

    /// Sets the sender (`Name <address>`).
    pub fn with_from(mut self, from: &str) -> Result<Self> {
        from.parse::<Mailbox>()
            .map_err(|e| ServiceError::invalid("invalid_mail_from", format!("bad sender address: {e}")))?;
        self.from = from.to_string();
        Ok(self)
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<()> {
        let to: Mailbox = to.parse().map_err(ServiceError::internal)?;
        let message = Message::builder()
            .from(self.from.parse().map_err(ServiceError::internal)?)
            .to(to.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.clone())
            .map_err(ServiceError::internal)?;
        match &self.transport {
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(ServiceError::internal)?;
                AsyncFileTransport::<Tokio1Executor>::new(dir)
                    .send(message)
                    .await
                    .map_err(ServiceError::internal)?;
                // Not the body: its links are live credentials (reset, verification), and logs
                // travel further than the outbox folder.
                tracing::info!(to = %to, subject, outbox = %dir.display(), "mail written to the outbox");
            }
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(ServiceError::internal)?;
                tracing::info!(to = %to, subject, "mail sent");
            }
        }
        Ok(())
    }
}
