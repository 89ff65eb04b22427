//! Delivers outbox rows through a provider, re-checking consent right before each send.
//!
//! Exactly-once is impossible against an API without idempotency keys, so the sender is
//! at-most-once with nothing lost: the row is committed as `sending` before the call; if a
//! worker dies mid-call, the next attempt finds `sending`, marks the row `unknown` and opens
//! an escalation instead of risking a second text.

use std::sync::Arc;

use anyhow::anyhow;
use tracing::{debug, info, warn};

use super::{OutgoingSms, SendError, SmsProvider};
use crate::clock::Clock;
use crate::compliance::quiet_hours::{self, ProactiveDecision};
use crate::domain::media::Media;
use crate::domain::{ConsentKind, EscalationReason, OutboxKind, OutboxStatus, SendClass};
use crate::jobs::JobError;
use crate::store::jobs::{JobRow, bury_job, complete_job, defer_job};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{Db, Tx, consent, conversations, crm, escalations, json_text};

/// Sends outbox rows.
pub struct Sender {
    pub db: Db,
    /// The providers (`sms::router`), or a printer in demo and chat.
    pub provider: Arc<dyn SmsProvider>,
    /// What time it is for quiet hours.
    pub clock: Arc<dyn Clock>,
    /// No second promotional text to one number within this time (`flows.smart_sending`).
    pub smart_sending: chrono::Duration,
    /// Links on the allowed hosts become tracked short links (`None`: sent as written).
    pub links: Option<super::links::LinkTracking>,
}

/// What to do with a proactive text right now.
enum Proactive {
    SendNow,
    /// Handled: suppressed, deferred or escalated.
    Done,
}

/// A slot on the number's pace up to this far ahead is waited for in the worker; a later one
/// defers the job (freeing the worker for other numbers' texts).
const INLINE_WAIT_MS: i64 = 2_000;

impl Sender {
    /// Runs a send job for outbox row `outbox_id`.
    ///
    /// The outbox row's status is the fence between attempts: each status change is a
    /// conditional update committed on its own, whatever happened to the job's lease, so a
    /// slow attempt that outlived its lease still records what it did.
    pub async fn deliver(&self, job: &JobRow, outbox_id: i64) -> Result<(), JobError> {
        let row = outbox::outbox_row(&self.db, outbox_id).await?;
        match row.status {
            OutboxStatus::Pending => {}
            OutboxStatus::Sending => {
                // An earlier attempt died between committing `sending` and recording the result.
                self.settle(
                    &row,
                    OutboxStatus::Unknown,
                    "worker stopped during the provider call",
                    Some(EscalationReason::DeliveryUnknown),
                )
                .await?;
                return self.complete(job).await;
            }
            _ => return self.complete(job).await,
        }
        if row.kind == OutboxKind::Proactive
            && let Proactive::Done = self.gate_proactive(job, &row).await?
        {
            return Ok(());
        }
        // Short links are made before the send starts: a failure here retries the job with the
        // text still pending, never half-sent.
        let body = match &self.links {
            Some(links) => links.shorten(&self.db, row.id, &row.body).await?,
            None => row.body.clone(),
        };
        let mut sms = OutgoingSms {
            to: row.to_phone.as_str().to_owned(),
            body: body.clone(),
            from: match self.provider.routes_by_number() {
                true => conversations::our_number(&self.db, row.conversation_id).await?,
                false => None,
            },
            outbox_id: Some(row.id),
            media_urls: vec![],
        };
        let (picture, picture_note) = self.picture(&row, &sms).await;
        if let Some(p) = &picture {
            sms.media_urls.push(p.url.clone());
        }
        // The sending number's pace (docs/providers.md, Throughput): a slot now or soon is
        // waited for here; a later one defers the job to it, the text still pending.
        let units = if picture.is_some() { 1 } else { crate::domain::segments::count_segments(&body).segments as i64 };
        if let Some(pace) = self.provider.pace(&sms) {
            let now = crate::store::now_ms();
            let slot = match row.send_slot_ms {
                Some(slot) => slot,
                None => {
                    let number = self.provider.label_for(&sms);
                    outbox::take_send_slot(&self.db, row.id, &number, pace.cost_ms(units), pace.credit_ms(), now)
                        .await?
                }
            };
            let wait = slot - now;
            if wait > INLINE_WAIT_MS {
                debug!(outbox = row.id, wait_ms = wait, "send deferred to the number's pace");
                defer_job(&self.db, job.id, job.attempts, slot).await?;
                return Ok(());
            }
            if wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            }
        }
        if !outbox::start_sending(&self.db, row.id).await? {
            if outbox::transition(
                &self.db,
                row.id,
                OutboxStatus::Pending,
                OutboxStatus::Suppressed,
                Some("recipient opted out"),
            )
            .await?
            {
                info!(outbox = row.id, kind = %row.kind, "send suppressed: recipient opted out");
            }
            return self.complete(job).await;
        }
        match self.provider.send(&sms).await {
            Ok(accepted) => {
                let mut tx = self.db.begin().await?;
                let sent_at = self.clock.now();
                outbox::mark_sent(&mut tx, row.id, &accepted.provider_sid, sent_at).await?;
                // An MMS is billed as one message whatever its length; an SMS by segments.
                let units =
                    if picture.is_some() { 1 } else { crate::domain::segments::count_segments(&body).segments as i64 };
                let billing = outbox::Billing {
                    media_url: picture.as_ref().map(|p| p.url.as_str()),
                    note: picture_note.as_deref(),
                    units,
                };
                outbox::record_billing(&mut tx, row.id, &billing).await?;
                if let Some(run) = row.flow_run_id {
                    // A reply to this text answers the flow: its context becomes the reply's facts.
                    crate::store::flows::set_conversation_flow(&mut tx, row.conversation_id, run, sent_at).await?;
                }
                let message_id = conversations::insert_outbound_message(
                    &mut tx,
                    row.conversation_id,
                    Some(&accepted.provider_sid),
                    &self.provider.label_for(&sms),
                    &row.to_phone,
                    &body,
                )
                .await?;
                if let Some(p) = picture {
                    conversations::insert_media(&mut tx, message_id, &[p]).await?;
                }
                // The job is completed with the row's change, one write instead of two. If
                // another attempt took the job over meanwhile, this changes nothing of the job
                // and the row's change still stands: that attempt finds the row sent.
                complete_job(&mut tx, job.id, job.attempts).await?;
                tx.commit().await?;
                return Ok(());
            }
            Err(SendError::Retryable(e)) => {
                outbox::transition(&self.db, row.id, OutboxStatus::Sending, OutboxStatus::Pending, Some(&e)).await?;
                return Err(JobError::Retry(anyhow!("sms send failed: {e}")));
            }
            Err(SendError::Unsubscribed(code)) => {
                // Twilio 21610, Telnyx 40300: the carrier-level STOP is consent withdrawn;
                // record it in our ledger.
                consent::record_opt_out(&self.db, &row.to_phone, &format!("provider_{code}")).await?;
                warn!(outbox = row.id, code, "recipient unsubscribed at the provider; recorded opt-out");
                self.settle(&row, OutboxStatus::Failed, &format!("{code} unsubscribed recipient"), None).await?;
            }
            Err(SendError::Rejected(e)) => {
                self.settle(&row, OutboxStatus::Failed, &e, Some(EscalationReason::SendFailed)).await?
            }
            Err(SendError::Unknown(e)) => {
                self.settle(&row, OutboxStatus::Unknown, &e, Some(EscalationReason::DeliveryUnknown)).await?
            }
        }
        self.complete(job).await
    }

    /// Quiet hours, caps and consent for a proactive text (`compliance::quiet_hours`):
    /// suppressed for an opted-out or held number, deferred (the job runs again later, the
    /// attempt not counted) outside the recipient's window or over a cap, escalated when no
    /// time within two weeks is allowed.
    async fn gate_proactive(&self, job: &JobRow, row: &OutboxRow) -> Result<Proactive, JobError> {
        let now = self.clock.now();
        let profile_tz = crm::customer_by_phone(&self.db, &row.to_phone).await?.and_then(|c| c.timezone);
        let policy = quiet_hours::policy_for(row.to_phone.as_str(), profile_tz.as_deref());
        let consent_now = consent::latest_consent(&self.db, &row.to_phone).await?;
        if let Some(reason) = self.class_skip(row, consent_now, now).await? {
            return self.skip(job, row, reason).await;
        }
        let history = outbox::proactive_history(&self.db, &row.to_phone, row.id, now).await?;
        let subject = row.subject.as_deref().unwrap_or_default();
        match quiet_hours::decide(&policy, consent_now, now, subject, &history) {
            // A flow's `send_within` (Postscript: one cart message, within 48 h of the abandon):
            // a text quiet hours or caps would push past it is not sent at all.
            ProactiveDecision::SendAt(at) if row.send_by.is_some_and(|by| at > by) => {
                self.skip(job, row, "send window ended: the next allowed time is past the flow's send_within").await
            }
            ProactiveDecision::SendAt(at) if at <= now => Ok(Proactive::SendNow),
            ProactiveDecision::SendAt(at) => {
                info!(outbox = row.id, to = %row.to_phone, send_at = %at, "proactive text deferred");
                defer_job(&self.db, job.id, job.attempts, self.clock.queue_ms(at)).await?;
                Ok(Proactive::Done)
            }
            ProactiveDecision::Suppress => self.skip(job, row, "recipient opted out or on hold").await,
            ProactiveDecision::NeedsPerson => {
                let mut tx = self.db.begin().await?;
                if outbox::transition_in_tx(
                    &mut tx,
                    row.id,
                    OutboxStatus::Pending,
                    OutboxStatus::Failed,
                    Some("no allowed send time"),
                )
                .await?
                {
                    escalate_send_problem(
                        &mut tx,
                        row,
                        EscalationReason::NoSendWindow,
                        "no allowed send time within two weeks",
                    )
                    .await?;
                }
                tx.commit().await?;
                escalations::announce_change();
                self.complete(job).await?;
                Ok(Proactive::Done)
            }
        }
    }

    /// Suppresses the text with its reason (kept on the outbox row) and completes the job.
    async fn skip(&self, job: &JobRow, row: &OutboxRow, reason: &str) -> Result<Proactive, JobError> {
        outbox::transition(&self.db, row.id, OutboxStatus::Pending, OutboxStatus::Suppressed, Some(reason)).await?;
        info!(outbox = row.id, reason, "send skipped");
        self.complete(job).await?;
        Ok(Proactive::Done)
    }

    /// Why a flow's or campaign's text must not go at all, by its class:
    /// - promotional: only with marketing consent, an opt-in in the ledger (TCPA's prior
    ///   express written consent for marketing texts, 47 CFR 64.1200(a)(2); CTIA Messaging
    ///   Principles §5.1: the consumer opts in to the campaign), and at most one in the smart
    ///   sending window (Klaviyo's SMS default: 24 h; shared/reference/flows-webhooks-analytics.md);
    /// - transactional: never to an opted-out or held number (47 CFR 64.1200(a)(10)); no
    ///   smart sending (a shipping update is not marketing).
    ///
    /// Any proactive text: never to a number that failed permanently (a landline, an unknown
    /// handset) until it opts in again (docs/delivery.md). All then wait out quiet hours and
    /// caps in `quiet_hours::decide`.
    async fn class_skip(
        &self,
        row: &OutboxRow,
        consent_now: Option<ConsentKind>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<&'static str>> {
        let consent_now = match consent_now {
            Some(ConsentKind::HoldReleased) => consent::settled_consent(&self.db, &row.to_phone).await?,
            other => other,
        };
        // A number that failed permanently (a landline, an unknown handset) gets no
        // proactive text until it opts in again (docs/delivery.md).
        if consent_now != Some(ConsentKind::OptOut)
            && crate::store::delivery::suppression(&self.db, &row.to_phone).await?.is_some()
        {
            return Ok(Some("suppressed: the number failed permanently; a new opt-in clears it"));
        }
        let skip = match (row.class, consent_now) {
            (None, _) => None,
            (Some(_), Some(ConsentKind::OptOut)) => Some("opted out"),
            (Some(_), Some(ConsentKind::Hold)) => Some("on hold: a reviewer is deciding a possible opt-out"),
            (Some(SendClass::Promotional), Some(ConsentKind::OptIn)) => {
                let since = outbox::latest_promotional(&self.db, &row.to_phone, row.id, now).await?;
                since
                    .filter(|at| now - *at < self.smart_sending)
                    .map(|_| "smart sending: a promotional text went out within the window")
            }
            (Some(SendClass::Promotional), _) => Some("no marketing consent: the number has not opted in"),
            (Some(SendClass::Transactional), _) => None,
        };
        Ok(skip)
    }

    /// Dead-letters a send job: the row is marked failed and a person is told.
    pub async fn bury(&self, job: &JobRow, outbox_id: Option<i64>, reason: &str) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !bury_job(&mut tx, job.id, job.attempts, reason).await? {
            // Another attempt owns the job now; it decides.
            return Ok(());
        }
        if let Some(id) = outbox_id {
            let row = outbox::outbox_row(&self.db, id).await?;
            if outbox::transition_in_tx(&mut tx, row.id, OutboxStatus::Pending, OutboxStatus::Failed, Some(reason))
                .await?
            {
                escalate_send_problem(&mut tx, &row, EscalationReason::SendFailed, reason).await?;
            }
        }
        tx.commit().await?;
        escalations::announce_change();
        Ok(())
    }

    /// Moves the row from `sending` to `to` and, if it moved, opens an escalation.
    async fn settle(
        &self,
        row: &OutboxRow,
        to: OutboxStatus,
        error: &str,
        escalation_reason: Option<EscalationReason>,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        let moved = outbox::transition_in_tx(&mut tx, row.id, OutboxStatus::Sending, to, Some(error)).await?;
        if moved && to == OutboxStatus::Failed {
            crate::store::delivery::refused_in_tx(&mut tx, row.id).await?;
        }
        if moved && let Some(reason) = escalation_reason {
            warn!(outbox = row.id, reason = %reason, "outbound text needs a person");
            escalate_send_problem(&mut tx, row, reason, error).await?;
        }
        tx.commit().await?;
        if moved && escalation_reason.is_some() {
            escalations::announce_change();
        }
        Ok(())
    }

    /// Completes the job. If another attempt took it over meanwhile, that attempt will find
    /// the row already settled and complete it instead.
    /// The picture that goes with outbox row `row` as MMS, or why it does not: the number is
    /// outside the US and Canada, the provider sending it takes no MMS, or the picture is not
    /// a type or size it takes (a `HEAD`). The text goes out either way.
    async fn picture(&self, row: &OutboxRow, sms: &OutgoingSms) -> (Option<Media>, Option<String>) {
        let Some(url) = row.media_url.as_deref() else { return (None, None) };
        if !row.to_phone.takes_mms() {
            return (None, Some("MMS reaches US and Canadian numbers only".into()));
        }
        let Some(limit) = self.provider.mms_max_bytes(sms) else {
            return (None, Some("the sending number sends no MMS".into()));
        };
        match crate::sms::media::check_for_mms(url, limit).await {
            Ok((content_type, size)) => {
                let media = Media { url: url.to_string(), content_type, size_bytes: i64::try_from(size).ok() };
                (Some(media), None)
            }
            Err(e) => {
                warn!(outbox = row.id, "picture left out of the text: {e}");
                (None, Some(e.to_string()))
            }
        }
    }

    async fn complete(&self, job: &JobRow) -> Result<(), JobError> {
        let mut tx = self.db.begin().await?;
        complete_job(&mut tx, job.id, job.attempts).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn escalate_send_problem(
    tx: &mut Tx,
    row: &OutboxRow,
    reason: EscalationReason,
    error: &str,
) -> anyhow::Result<()> {
    let details =
        json_text(&serde_json::json!({ "outbox_id": row.id, "kind": row.kind, "body": row.body, "error": error }));
    escalations::insert_escalation(tx, row.conversation_id, None, reason, &details).await?;
    Ok(())
}
