//! Delivery reports from the providers (docs/delivery.md): each is kept as it came, moves its
//! text's delivery state forward ([`crate::domain::delivery`]), and may opt the number out or
//! suppress it until a new opt-in.

use chrono::Utc;

use super::webhook_events::{self, Event, OutboxRef};
use super::{Db, Tx, consent, with_db, with_tx};
use crate::domain::delivery::{self, Applied, DeliveryState, Provider};
use crate::domain::{ConsentKind, OutboxStatus, Phone};

/// A delivery report, as the provider posted it.
#[derive(Debug, Clone)]
pub struct DeliveryReport<'a> {
    pub provider: Provider,
    /// Our outbox id, carried in the callback URL; identifies rows whose provider id we never
    /// learnt (a worker died during the call).
    pub outbox_id: Option<i64>,
    pub provider_sid: &'a str,
    /// The provider's event id, when it gives one (Telnyx): a repeated event changes nothing.
    pub event_id: Option<&'a str>,
    /// In the provider's words (Twilio's `MessageStatus`, Telnyx's `to[0].status`).
    pub status: &'a str,
    pub error_code: Option<&'a str>,
}

/// Applies a delivery report in one transaction: the raw event is kept; a row in `unknown`
/// state learns its provider id (so it was sent after all); the text's delivery state moves
/// forward (never back: reports arrive out of order), and with it the outbox status
/// (`delivered` or `failed`); a permanent failure of the number suppresses it; an opt-out at
/// the provider becomes an opt-out in the consent ledger. Returns what the report did to its
/// text, `None` when it said nothing about delivery, named no text of ours, or repeated an
/// event already recorded.
pub async fn record_delivery_report(db: &Db, d: &DeliveryReport<'_>) -> anyhow::Result<Option<Applied>> {
    let mut tx = db.begin().await?;
    let now = Utc::now();
    let kept = with_tx!(&mut tx, |conn| {
        sqlx::query(
            "insert into delivery_events (provider_sid, status, error_code, created_at, event_id)
             values ($1, $2, $3, $4, $5) on conflict (event_id) do nothing",
        )
        .bind(d.provider_sid)
        .bind(d.status)
        .bind(d.error_code)
        .bind(now)
        .bind(d.event_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    if kept == 0 {
        // The provider sent this event before: it was applied then.
        tx.rollback().await?;
        return Ok(None);
    }
    if let Some(id) = d.outbox_id {
        with_tx!(&mut tx, |conn| sqlx::query(
            "update outbox set provider_sid = $1, status = 'sent', sent_at = $2
             where id = $3 and status = 'unknown' and provider_sid is null"
        )
        .bind(d.provider_sid)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    }
    let Some(meaning) = delivery::meaning(d.provider, d.status, d.error_code) else {
        tx.commit().await?;
        return Ok(None);
    };
    let row = with_tx!(&mut tx, |conn| sqlx::query_as::<_, (i64, Option<String>, Phone)>(
        "select id, delivery_state, to_phone from outbox where provider_sid = $1 order by id limit 1"
    )
    .bind(d.provider_sid)
    .fetch_optional(conn)
    .await)?;
    let mut applied = None;
    if let Some((id, state, to_phone)) = &row {
        // No report yet: the provider has it queued (Twilio sends no callback for that).
        let current = state.as_deref().and_then(DeliveryState::parse).unwrap_or(DeliveryState::Queued);
        let a = delivery::apply(Some(current), meaning);
        if a.changed {
            let status = match a.state {
                DeliveryState::Delivered => Some(OutboxStatus::Delivered),
                s if s.is_failure() => Some(OutboxStatus::Failed),
                _ => None,
            };
            with_tx!(&mut tx, |conn| sqlx::query(
                "update outbox set delivery_state = $1, status = coalesce($2, status),
                     error = coalesce($3, error) where id = $4"
            )
            .bind(a.state.as_str())
            .bind(status.map(OutboxStatus::as_str))
            .bind(d.error_code.filter(|_| a.state.is_failure()))
            .bind(id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
            if status == Some(OutboxStatus::Failed) {
                webhook_events::emit(&mut tx, Event::MessageFailed(OutboxRef::Id(*id))).await?;
            }
        }
        if a.suppress {
            with_tx!(&mut tx, |conn| sqlx::query(
                "insert into suppressions (phone, code, outbox_id, created_at) values ($1, $2, $3, $4)"
            )
            .bind(to_phone.as_str())
            .bind(d.error_code.unwrap_or_default().trim())
            .bind(id)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        }
        applied = Some(a);
    }
    // Consent changes only for a text of ours (issue 21): the row the report names by the
    // provider's id, or, for a report that beat our record of the send, by the outbox id in
    // our own callback URL. The `To` of a report about a message we never sent counts for
    // nothing: anyone holding a valid signature could otherwise opt out any number.
    let ours = match (&row, d.outbox_id) {
        (Some((_, _, phone)), _) => Some(phone.clone()),
        (None, Some(id)) => with_tx!(&mut tx, |conn| sqlx::query_scalar::<_, Phone>(
            "select to_phone from outbox where id = $1 and (provider_sid is null or provider_sid = $2)"
        )
        .bind(id)
        .bind(d.provider_sid)
        .fetch_optional(conn)
        .await)?,
        (None, None) => None,
    };
    let phone = ours.as_ref();
    if meaning.opt_out
        && let Some(phone) = phone
        && consent::latest_consent_in_tx(&mut tx, phone).await? != Some(ConsentKind::OptOut)
    {
        let source = format!("provider_{}", d.error_code.unwrap_or_default().trim());
        let event = consent::NewConsentEvent {
            phone,
            kind: ConsentKind::OptOut,
            source: &source,
            evidence_message_id: None,
            evidence_text: None,
            scope: "all",
        };
        consent::insert_consent_event(&mut tx, &event).await?;
    }
    tx.commit().await?;
    if let (Some(a), Some((id, _, _))) = (&applied, &row)
        && a.changed
    {
        super::analytics::forget_send_day(db, Some(*id), None).await?;
    }
    Ok(applied)
}

/// The error code that suppressed `phone`, when a permanent failure did and no opt-in came
/// after it.
pub async fn suppression(db: &Db, phone: &Phone) -> anyhow::Result<Option<String>> {
    let code = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select s.code from suppressions s where s.phone = $1
           and not exists (select 1 from consent_events c where c.phone = s.phone and c.kind = 'opt_in'
                           and c.created_at > s.created_at)
         order by s.id desc limit 1"
    )
    .bind(phone.as_str())
    .fetch_optional(p)
    .await)?;
    Ok(code)
}

/// Records that the provider refused the send request itself (Twilio 21610 on create, Telnyx
/// 40300, a bad number): the text's outcome is `failed_permanent`, as a `send_error` report
/// means (docs/delivery.md). A state already reported stays.
pub async fn refused_in_tx(tx: &mut Tx, outbox_id: i64) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update outbox set delivery_state = $1 where id = $2 and delivery_state is null")
        .bind(DeliveryState::FailedPermanent.as_str())
        .bind(outbox_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
