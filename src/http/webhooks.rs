//! Provider and shop webhooks: Twilio's inbound texts and delivery status callbacks, and
//! Shopify's topics.
//!
//! Both are form POSTs signed with `X-Twilio-Signature` over the public URL Twilio called
//! and every posted parameter (sms-providers-and-compliance.md §A2). The handlers verify,
//! turn the form into domain types, and hand over to the pipeline; they hold no logic.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower_http::limit::RequestBodyLimitLayer;

use super::AppState;
use super::error::Error;
use crate::commerce::shopify::{self, Received};
use crate::domain::delivery::Provider;
use crate::domain::{MAX_BODY_CHARS, Phone};
use crate::pipeline::ingest::{Inbound, Ingested};
use crate::sms::signature;
use crate::store::commerce::NewShopifyWebhook;
use crate::store::delivery::{self, DeliveryReport};

/// The provider webhooks' routes, their bodies capped at `max_webhook_body_bytes`, and
/// Shopify's, capped at `shopify_max_body_bytes`. A declared `Content-Length` over the cap is
/// answered 413 without handling the request: after reading a body of up to a few times the
/// cap, so the sender reads the answer, and at once for a larger one (issue 21,
/// [`body_limit`](super::body_limit)). tower-http's limit stops a body without a declared
/// length at the cap.
pub fn router(max_body_bytes: usize, shopify_max_body_bytes: usize) -> Router<AppState> {
    let capped = |routes: Router<AppState>, cap: usize| {
        routes.layer(DefaultBodyLimit::disable()).layer(RequestBodyLimitLayer::new(cap)).layer(
            axum::middleware::from_fn(move |request, next| super::body_limit::refuse_oversized(cap, request, next)),
        )
    };
    let twilio = Router::new()
        .route("/webhooks/twilio", post(twilio_inbound))
        .route("/webhooks/twilio/status", post(twilio_status))
        .route("/webhooks/telnyx", post(super::telnyx::telnyx));
    let shopify = Router::new().route("/webhooks/shopify", post(shopify));
    capped(twilio, max_body_bytes).merge(capped(shopify, shopify_max_body_bytes))
}

/// The empty TwiML answer: no reply in the webhook response; replies go out through the REST
/// API (Twilio: JSON or HTML here would raise error 12300 "Invalid Content-Type").
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Parses the form (repeated names and blank values kept, as the signature needs them) and
/// checks the signature against `public_url` plus the query string Twilio called.
fn verified_form(
    state: &AppState,
    public_url: String,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Error> {
    if state.config.twilio.auth_token.is_empty() {
        // Telnyx alone is configured: nothing can sign a Twilio webhook.
        state.metrics.inbound_bad_signature.fetch_add(1, Ordering::Relaxed);
        return Err(Error::Forbidden("twilio is not configured (twilio.auth_token is empty)".into()));
    }
    let Some(sig) = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
        state.metrics.inbound_bad_signature.fetch_add(1, Ordering::Relaxed);
        return Err(Error::Forbidden("missing X-Twilio-Signature".into()));
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
        Error::bad_request(format!("body is not form-encoded: {e}"))
    })?;
    let url = match uri.query() {
        Some(q) => format!("{public_url}?{q}"),
        None => public_url,
    };
    if !signature::validate(state.config.twilio.auth_token.expose(), &url, &form, sig) {
        state.metrics.inbound_bad_signature.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("webhook signature mismatch; check public_url and the auth token");
        return Err(Error::Forbidden("invalid X-Twilio-Signature".into()));
    }
    Ok(form)
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn required<'a>(form: &'a [(String, String)], name: &str) -> Result<&'a str, Error> {
    match field(form, name) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::bad_field(name, "is a required form field and is missing")),
    }
}

/// `POST /webhooks/twilio`: store the text and its turn job in one transaction, then answer
/// with empty TwiML. A repeated `MessageSid` (a Twilio retry) answers 200 and writes nothing.
pub async fn twilio_inbound(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let form = verified_form(&state, state.config.inbound_webhook_url(), &uri, &headers, &body)?;
    let inbound = twilio_inbound_text(&form).inspect_err(|_| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
    })?;
    store_inbound(&state, inbound, "twilio").await?;
    Ok(([("content-type", "text/xml")], EMPTY_TWIML).into_response())
}

/// The text in a verified Twilio inbound form: `MessageSid`, `From` and `To` required, `From`
/// a phone number, `To` one of ours in shape, `Body` within [`MAX_BODY_CHARS`], pictures from
/// `NumMedia`/`MediaUrlN`. Pure, so it is fuzzed (tests/fuzz.rs).
pub fn twilio_inbound_text(form: &[(String, String)]) -> Result<Inbound, Error> {
    let sid = required(form, "MessageSid")?;
    let from = Phone::parse(required(form, "From")?).map_err(|e| Error::invalid_field("From", e))?;
    let to = crate::domain::our_number(required(form, "To")?).map_err(|e| Error::invalid_field("To", e))?;
    let text = field(form, "Body").unwrap_or_default();
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(Error::bad_field("Body", format!("is longer than {MAX_BODY_CHARS} characters")));
    }
    let media = crate::domain::media::from_twilio_form(|name| field(form, name).map(String::from));
    Ok(Inbound { provider_sid: sid.to_string(), from, to, body: text.to_string(), media })
}

/// The delivery report in a verified Twilio status callback (`MessageSid` and `MessageStatus`
/// required). Its `To` is not read: consent changes only for a text of ours, whose recipient
/// the outbox knows (store::delivery). Pure, so it is fuzzed (tests/fuzz.rs).
pub fn twilio_status_report(form: &[(String, String)], outbox_id: Option<i64>) -> Result<DeliveryReport<'_>, Error> {
    Ok(DeliveryReport {
        provider: Provider::Twilio,
        event_id: None,
        outbox_id,
        provider_sid: required(form, "MessageSid")?,
        status: required(form, "MessageStatus")?,
        error_code: field(form, "ErrorCode").filter(|c| !c.is_empty()),
    })
}

/// Hands a provider's inbound text to the ingest batcher (stored with its turn job before the
/// webhook answers), counting it; a repeated provider message id writes nothing.
pub(super) async fn store_inbound(state: &AppState, inbound: Inbound, provider: &'static str) -> Result<(), Error> {
    let from = inbound.from.clone();
    match state.ingest.submit(inbound).await? {
        Ingested::New(id) => {
            state.metrics.inbound_accepted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(message = id, from = %from, provider, "inbound text stored");
            state.waker.wake();
        }
        Ingested::Duplicate => {
            state.metrics.inbound_duplicate.fetch_add(1, Ordering::Relaxed);
            tracing::info!(from = %from, provider, "duplicate webhook ignored");
        }
    }
    Ok(())
}

/// `POST /webhooks/twilio/status`: record a delivery report (see
/// [`delivery::record_delivery_report`]). Our outbox id rides in the callback URL's query.
pub async fn twilio_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let form = verified_form(&state, state.config.status_webhook_url(), &uri, &headers, &body)?;
    let report = twilio_status_report(&form, outbox_id(&uri)).inspect_err(|_| {
        state.metrics.inbound_bad_request.fetch_add(1, Ordering::Relaxed);
    })?;
    state.metrics.status_callbacks.fetch_add(1, Ordering::Relaxed);
    delivery::record_delivery_report(&state.db, &report).await?;
    Ok(StatusCode::OK.into_response())
}

/// Our outbox id, which rides in the query of the delivery-report URL we give each provider
/// (`?outbox=<id>`).
pub(super) fn outbox_id(uri: &Uri) -> Option<i64> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query()?).ok()?;
    pairs.into_iter().find(|(k, _)| k == "outbox").and_then(|(_, v)| v.parse().ok())
}

/// A header's value, trimmed; `None` when missing or blank.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `POST /webhooks/shopify`: verify `X-Shopify-Hmac-Sha256` over the raw body (401 and
/// nothing written when it fails), store the webhook with its job, answer 200. A repeated
/// `X-Shopify-Webhook-Id` answers 200 and writes nothing; the topic is applied by the
/// worker (`commerce::shopify`).
pub async fn shopify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, Error> {
    let secrets = state.config.shopify.webhook_secrets();
    let signature = header(&headers, "x-shopify-hmac-sha256");
    let verified = matches!(signature, Some(sig) if shopify::verify(&secrets, &body, sig));
    if !verified {
        state.metrics.inbound_bad_signature.fetch_add(1, Ordering::Relaxed);
        if secrets.is_empty() {
            tracing::warn!("shopify webhook refused: shopify.webhook_secret is not set");
        }
        return Err(Error::Unauthorized("invalid or missing X-Shopify-Hmac-Sha256".into()));
    }
    let topic = header(&headers, "x-shopify-topic").ok_or_else(|| Error::bad_field("X-Shopify-Topic", "is missing"))?;
    let webhook_id = header(&headers, "x-shopify-webhook-id")
        .ok_or_else(|| Error::bad_field("X-Shopify-Webhook-Id", "is missing"))?;
    let body = std::str::from_utf8(&body).map_err(|_| Error::bad_request("the body is not UTF-8"))?;
    serde_json::from_str::<serde_json::Value>(body)
        .map_err(|e| Error::bad_request(format!("the body is not JSON: {e}")))?;
    let triggered_at = match header(&headers, "x-shopify-triggered-at") {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| Error::invalid_field("X-Shopify-Triggered-At", e.to_string()))?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let hook = NewShopifyWebhook {
        webhook_id,
        event_id: header(&headers, "x-shopify-event-id"),
        topic,
        shop_domain: header(&headers, "x-shopify-shop-domain"),
        triggered_at,
        body,
    };
    match shopify::receive(&state.db, &hook, state.config.worker.max_attempts).await? {
        Received::New(id) => {
            tracing::info!(webhook = id, topic, "shopify webhook stored");
            if !shopify::TOPICS.contains(&topic) {
                tracing::info!(topic, "shopify topic not handled; acknowledged");
            }
            state.waker.wake();
        }
        Received::Duplicate => tracing::info!(topic, "duplicate shopify webhook ignored"),
    }
    Ok(StatusCode::OK.into_response())
}
