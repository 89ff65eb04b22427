//! Telling reviewers about escalations (docs/reviewers.md): a high-priority escalation at
//! once, normal ones in a digest every `notify.digest_every`, an assignment to its assignee.
//!
//! Channels, each optional:
//! - **email** over SMTP with `lettre` (STARTTLS required by default, or implicit TLS), to
//!   enabled reviewers with an address (for an assignment: the assignee, or the team);
//! - **chat**: a Slack-compatible incoming webhook, one `{"text": …}` JSON post per
//!   notification (Slack, "Sending messages using incoming webhooks":
//!   <https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks>; Mattermost and
//!   Rocket.Chat accept the same body).
//!
//! The outbound webhooks (`conversation.escalated` with its priority, `escalation.assigned`)
//! are written by the store in the same transaction and need nothing here.
//!
//! A notification carries no customer text and only the phone's last four digits: mailboxes
//! and chat workspaces are not where customer texts belong; the link opens the console.
//! Each channel that succeeded is recorded, so a retry after the other failed does not tell
//! it twice.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{NotifyConfig, Secret, SmtpConfig};
use crate::jobs::{JobError, Waker};
use crate::store::Db;
use crate::store::jobs::JobRow;
use crate::store::notifications::{self, Assignee, Escalated, Kind, Notification};
use crate::store::reviewers;

/// The email channel: a pooled SMTP transport and the sender.
struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Sends notifications through the configured channels.
pub struct Notifier {
    db: Db,
    email: Option<Email>,
    slack: Option<Secret>,
    http: reqwest::Client,
    /// The public base URL; links open `{console}/console/escalations/{id}`.
    console: String,
}

impl Notifier {
    /// The notifier of this configuration; an SMTP setting that cannot work (an unreadable
    /// `ca_file`) is an error at start, not at the first escalation.
    pub fn new(db: Db, notify: &NotifyConfig, smtp: &SmtpConfig, public_url: &str) -> anyhow::Result<Notifier> {
        let timeout = Duration::from_secs(notify.timeout_secs.max(1));
        let email = if smtp.host.is_empty() { None } else { Some(email_channel(smtp, timeout)?) };
        let slack = (!notify.slack_webhook_url.is_empty()).then(|| notify.slack_webhook_url.clone());
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Notifier { db, email, slack, http, console: public_url.trim_end_matches('/').to_string() })
    }

    /// Sends notification `id` on every channel it has not reached yet, then ends it
    /// with its job. A closed escalation is no longer worth a high-priority alert.
    pub async fn deliver(&self, job: &JobRow, id: i64) -> Result<(), JobError> {
        let Some(n) = notifications::notification(&self.db, id).await? else {
            return Err(JobError::Fatal(anyhow::anyhow!("no notification {id}")));
        };
        if n.status != "pending" {
            notifications::finish(&self.db, job, id, &n.status, None).await?;
            return Ok(());
        }
        let open: Vec<&Escalated> = n.escalations.iter().filter(|e| e.status == "open").collect();
        if open.is_empty() || (self.email.is_none() && self.slack.is_none()) {
            notifications::finish(&self.db, job, id, "skipped", None).await?;
            return Ok(());
        }
        let (subject, text) = message(&n, &open, &self.console);
        let done = notifications::channels_sent(&self.db, id).await?;
        if let Some(email) = &self.email
            && !done.iter().any(|c| c == "email")
        {
            let to = self.recipients(&n).await?;
            if !to.is_empty() {
                send_email(email, &to, &subject, &text).await?;
            }
            notifications::record_channel_sent(&self.db, id, "email").await?;
        }
        if let Some(url) = &self.slack
            && !done.iter().any(|c| c == "slack")
        {
            self.post_slack(url, &text).await?;
            notifications::record_channel_sent(&self.db, id, "slack").await?;
        }
        notifications::finish(&self.db, job, id, "sent", None).await?;
        info!(notification = id, kind = ?n.kind, escalations = open.len(), "reviewers notified");
        Ok(())
    }

    /// A notification given up on is `failed` with the reason (the admin page counts them).
    pub async fn bury(&self, job: &JobRow, id: Option<i64>, reason: &str) -> anyhow::Result<()> {
        warn!(job = job.id, "reviewer notification given up: {reason}");
        match id {
            Some(id) => notifications::finish(&self.db, job, id, "failed", Some(reason)).await,
            None => {
                let mut tx = self.db.begin().await?;
                crate::store::jobs::bury_job(&mut tx, job.id, job.attempts, reason).await?;
                tx.commit().await
            }
        }
    }

    /// Who gets the email: every enabled reviewer with an address, or for an assignment the
    /// assignee (or the team's members).
    async fn recipients(&self, n: &Notification) -> anyhow::Result<Vec<Mailbox>> {
        let addresses = match &n.assignee {
            Some(Assignee::Reviewer(name)) => reviewers::emails(&self.db, None, Some(name)).await?,
            Some(Assignee::Team(team)) => reviewers::emails(&self.db, Some(team), None).await?,
            None => reviewers::emails(&self.db, None, None).await?,
        };
        // An address stored by an older version that does not parse is skipped, not fatal.
        Ok(addresses.iter().filter_map(|a| a.parse().ok()).collect())
    }

    async fn post_slack(&self, url: &Secret, text: &str) -> Result<(), JobError> {
        let sent = self.http.post(url.expose()).json(&serde_json::json!({ "text": text })).send().await;
        let response = match sent {
            Ok(r) => r,
            // The URL is the credential: the error must not print it.
            Err(e) => return Err(JobError::Retry(anyhow::anyhow!("chat webhook unreachable: {}", e.without_url()))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = anyhow::anyhow!("chat webhook answered {status}");
        // 429 and 5xx pass; anything else (404 no_service, 400 invalid_payload, 403) will not.
        if status.as_u16() == 429 || status.is_server_error() {
            Err(JobError::Retry(error))
        } else {
            Err(JobError::Fatal(error))
        }
    }
}

fn email_channel(smtp: &SmtpConfig, timeout: Duration) -> anyhow::Result<Email> {
    let from: Mailbox =
        smtp.from.parse().map_err(|e| anyhow::anyhow!("invalid config key `smtp.from` ({:?}): {e}", smtp.from))?;
    let tls = if smtp.tls == "none" {
        Tls::None
    } else {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if !smtp.ca_file.is_empty() {
            let pem = std::fs::read(&smtp.ca_file)
                .map_err(|e| anyhow::anyhow!("cannot read `smtp.ca_file` {}: {e}", smtp.ca_file))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem)?);
        }
        let params = params.build_rustls()?;
        if smtp.tls == "tls" { Tls::Wrapper(params) } else { Tls::Required(params) }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(smtp.username.clone(), smtp.password.expose().to_string()));
    }
    Ok(Email { transport: builder.build(), from })
}

async fn send_email(email: &Email, to: &[Mailbox], subject: &str, text: &str) -> Result<(), JobError> {
    let mut builder = Message::builder().from(email.from.clone()).subject(subject);
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    let message = builder.body(text.to_string()).map_err(|e| JobError::Fatal(e.into()))?;
    match email.transport.send(message).await {
        Ok(_) => Ok(()),
        // A 5xx reply (a refused sender, a relay that will not relay) fails every time.
        Err(e) if e.is_permanent() => Err(JobError::Fatal(anyhow::anyhow!("the SMTP relay refused the email: {e}"))),
        Err(e) => Err(JobError::Retry(anyhow::anyhow!("email not sent: {e}"))),
    }
}

/// `…0123`: enough to tell two threads apart in a list, not enough to text the customer.
fn last_digits(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("…{}", &digits[digits.len().saturating_sub(4)..])
}

fn line(e: &Escalated, console: &str) -> String {
    let due = e.sla_due.map(|d| format!(", answer by {} UTC", d.format("%Y-%m-%d %H:%M"))).unwrap_or_default();
    format!(
        "#{} {} priority, {} (customer {}){due}: {console}/console/escalations/{}",
        e.id,
        e.priority,
        e.reason.replace('_', " "),
        last_digits(&e.phone),
        e.id
    )
}

/// The subject and text of a notification about the `open` escalations it names.
pub fn message(n: &Notification, open: &[&Escalated], console: &str) -> (String, String) {
    let lines: Vec<String> = open.iter().map(|e| line(e, console)).collect();
    let first = open.first().map_or(0, |e| e.id);
    match (&n.kind, &n.assignee) {
        (Kind::Assigned, Some(assignee)) => {
            let to = match assignee {
                Assignee::Reviewer(name) => name.clone(),
                Assignee::Team(team) => format!("team {team}"),
            };
            (
                format!("[Backtalk] Escalation #{first} assigned to {to}"),
                format!("Escalation assigned to {to}.\n{}\n", lines.join("\n")),
            )
        }
        (Kind::Digest, _) => (
            format!("[Backtalk] {} escalation{} waiting", open.len(), if open.len() == 1 { "" } else { "s" }),
            format!("Escalations waiting for a person:\n{}\n", lines.join("\n")),
        ),
        _ => (
            format!("[Backtalk] High priority: escalation #{first}"),
            format!("A high-priority escalation needs a person now.\n{}\n", lines.join("\n")),
        ),
    }
}

/// Every `every`, gathers the waiting normal-priority escalations into one digest and wakes
/// a worker to send it; until `cancel`. Each replica runs this; the claim keeps a row in
/// one digest only.
pub async fn run_digests(db: Db, every: Duration, waker: Waker, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match notifications::claim_digest(&db).await {
            Ok(Some(id)) => {
                info!(notification = id, "escalation digest queued");
                waker.wake();
            }
            Ok(None) => {}
            Err(e) => warn!(error = %format!("{e:#}"), "escalation digest not queued"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escalated(id: i64, priority: &str) -> Escalated {
        Escalated {
            id,
            reason: "upset_customer".into(),
            priority: priority.into(),
            sla_due: Some(chrono::DateTime::parse_from_rfc3339("2026-12-07T10:30:00Z").unwrap().into()),
            status: "open".into(),
            phone: "+14155550123".into(),
        }
    }

    #[test]
    fn a_notification_names_the_escalation_and_links_it_without_the_customers_number() {
        let e = escalated(12, "high");
        let n = Notification {
            id: 1,
            kind: Kind::Escalation,
            status: "pending".into(),
            assignee: None,
            escalations: vec![],
        };
        let (subject, text) = message(&n, &[&e], "https://shop.example");
        assert_eq!(subject, "[Backtalk] High priority: escalation #12");
        assert!(
            text.contains("#12 high priority, upset customer (customer …0123), answer by 2026-12-07 10:30 UTC"),
            "{text}"
        );
        assert!(text.contains("https://shop.example/console/escalations/12"), "{text}");
        assert!(!text.contains("4155550123"), "the whole number must not leave the console: {text}");
    }

    #[test]
    fn a_digest_lists_every_escalation_and_an_assignment_names_the_assignee() {
        let (a, b) = (escalated(3, "normal"), escalated(4, "normal"));
        let digest =
            Notification { id: 2, kind: Kind::Digest, status: "pending".into(), assignee: None, escalations: vec![] };
        let (subject, text) = message(&digest, &[&a, &b], "http://x");
        assert_eq!(subject, "[Backtalk] 2 escalations waiting");
        assert_eq!(text.lines().filter(|l| l.starts_with('#')).count(), 2, "{text}");
        let assigned = Notification {
            id: 3,
            kind: Kind::Assigned,
            status: "pending".into(),
            assignee: Some(Assignee::Team("returns".into())),
            escalations: vec![],
        };
        assert_eq!(message(&assigned, &[&a], "http://x").0, "[Backtalk] Escalation #3 assigned to team returns");
    }

    #[test]
    fn last_digits_keep_four() {
        assert_eq!(last_digits("+14155550123"), "…0123");
        assert_eq!(last_digits("12"), "…12");
    }
}
