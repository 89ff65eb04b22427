//! `POST /webhooks/telnyx`: Telnyx's inbound texts (`message.received`) and delivery reports
//! (`message.sent`, `message.finalized`), one JSON event per request (sms::telnyx;
//! docs/providers.md, Telnyx). The handler verifies, turns the event into domain types and
//! hands over; it holds no logic.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::Error;
use super::webhooks::{header, outbox_id};
use crate::domain::delivery::Provider;
use crate::domain::media::Media;
use crate::domain::{MAX_BODY_CHARS, Phone};
use crate::pipeline::ingest::Inbound;
use crate::sms::telnyx::{self, Payload, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook};
use crate::store::delivery::{self, DeliveryReport};

/// Verifies the Ed25519 signature (401 and nothing written when it fails: a forged or stale
/// event), reads the event (400 when it is not one), and applies it. Telnyx wants a 2xx
/// within 2 s and retries otherwise; a repeated event answers 200 and changes nothing.
pub async fn telnyx(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let verified = telnyx::verify(
        &state.config.telnyx.public_key,
        header(&headers, TIMESTAMP_HEADER),
        header(&headers, SIGNATURE_HEADER),
        &body,
        state.clock.now(),
    );
    if let Err(why) = verified {
        state.metrics.inbound_bad_signature.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(reason = %why, "telnyx webhook refused");
        return Err(Error::Unauthorized(format!("invalid telnyx signature: {why}")));
    }
    let hook: Webhook = serde_json::from_slice(&body).map_err(|e| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
        Error::bad_request(format!("the body is not a telnyx event: {e}"))
    })?;
    match hook.data.event_type.as_str() {
        "message.received" => inbound(&state, hook.data.payload).await?,
        "message.sent" | "message.finalized" => report(&state, &uri, &hook.data.id, &hook.data.payload).await?,
        other => tracing::info!(event = other, "telnyx event not handled; acknowledged"),
    }
    Ok(StatusCode::OK.into_response())
}

/// A customer's text: stored with its turn job, once per Telnyx message id.
async fn inbound(state: &AppState, payload: Payload) -> Result<(), Error> {
    let inbound = inbound_text(payload).inspect_err(|_| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
    })?;
    super::webhooks::store_inbound(state, inbound, "telnyx").await
}

/// The text in a `message.received` payload: the sender a phone number, the first recipient
/// one of ours in shape, the text within [`MAX_BODY_CHARS`]. Pure, so it is fuzzed
/// (tests/fuzz.rs).
pub fn inbound_text(payload: Payload) -> Result<Inbound, Error> {
    let from = payload.from.as_ref().map(|f| f.phone_number.as_str()).unwrap_or_default();
    let from = Phone::parse(from).map_err(|e| Error::invalid_field("data.payload.from.phone_number", e))?;
    let to = payload
        .to
        .first()
        .map(|t| t.phone_number.clone())
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::bad_field("data.payload.to", "names no recipient"))?;
    let to = crate::domain::our_number(&to).map_err(|e| Error::invalid_field("data.payload.to[0].phone_number", e))?;
    let text = payload.text.unwrap_or_default();
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(Error::bad_field("data.payload.text", format!("is longer than {MAX_BODY_CHARS} characters")));
    }
    let media = payload
        .media
        .into_iter()
        .filter(|m| !m.url.trim().is_empty())
        .map(|m| Media { url: m.url, content_type: m.content_type.unwrap_or_default(), size_bytes: m.size })
        .collect();
    Ok(Inbound { provider_sid: payload.id, from, to, body: text, media })
}

/// A delivery report: the recipient's status and the first error's code. Our outbox id rides
/// in the `webhook_url` we gave with the text.
async fn report(state: &AppState, uri: &Uri, event_id: &str, payload: &Payload) -> Result<(), Error> {
    let report = delivery_report(payload, event_id, outbox_id(uri)).inspect_err(|_| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
    })?;
    state.metrics.status_callbacks.fetch_add(1, Ordering::Relaxed);
    delivery::record_delivery_report(&state.db, &report).await?;
    Ok(())
}

/// The report in a `message.sent` or `message.finalized` payload (the first recipient's
/// status is required). Pure, so it is fuzzed (tests/fuzz.rs).
pub fn delivery_report<'a>(
    payload: &'a Payload,
    event_id: &'a str,
    outbox_id: Option<i64>,
) -> Result<DeliveryReport<'a>, Error> {
    let status = payload
        .to
        .first()
        .and_then(|t| t.status.as_deref())
        .ok_or_else(|| Error::bad_field("data.payload.to[0].status", "is missing"))?;
    Ok(DeliveryReport {
        provider: Provider::Telnyx,
        outbox_id,
        provider_sid: &payload.id,
        event_id: Some(event_id),
        status,
        error_code: payload.errors.first().map(|e| e.code.as_str()),
    })
}
