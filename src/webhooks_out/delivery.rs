//! Delivering one event to one endpoint, one attempt per job run, following the Standard
//! Webhooks delivery rules (spec/standard-webhooks.md, "Delivery behavior"): any 2xx is
//! success; anything else, a 3xx included (redirects are not followed), is a failure tried
//! again on `webhooks.retry_schedule`; 410 Gone disables the endpoint; 429, 502, 503 and 504
//! may say when to come back (`retry-after`), and the next attempt waits at least that long.
//! Every attempt carries the same `webhook-id` and the same payload bytes, signed afresh
//! with the attempt's timestamp. After the last attempt the delivery is a dead letter that
//! keeps the reason.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::Rng;
use tracing::{debug, info, warn};

use super::signing::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, webhook_secret_key};
use crate::config::WebhooksConfig;
use crate::domain::DeliveryStatus;
use crate::jobs::JobError;
use crate::store::jobs::{JobRow, bury_job, complete_job, retry_job};
use crate::store::webhook_events::{self as events, AttemptRecord, ConfiguredEndpoint, DeliveryJob};
use crate::store::{Db, now_ms};

/// The longest `retry-after` honoured; a longer one waits this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What an endpoint's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx.
    Delivered,
    /// 410 Gone: the endpoint asks to get nothing more; it is disabled.
    Gone,
    /// Anything else; `retry_after` when a throttling answer said when to come back.
    Failed { error: String, retry_after: Option<Duration> },
}

/// Classifies an HTTP answer (`retry_after`: the header's value, seconds or an HTTP date).
pub fn classify(status: u16, retry_after: Option<&str>, now: DateTime<Utc>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        410 => Outcome::Gone,
        429 | 502 | 503 | 504 => Outcome::Failed {
            error: format!("endpoint answered {status}"),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        300..=399 => Outcome::Failed {
            error: format!("endpoint answered {status} (redirects are not followed)"),
            retry_after: None,
        },
        _ => Outcome::Failed { error: format!("endpoint answered {status}"), retry_after: None },
    }
}

/// `retry-after` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), capped at a day.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// `delay` plus up to 10% (the spec asks for jitter so retries of many deliveries spread out).
fn jittered(delay: Duration) -> Duration {
    let extra = rand::rng().random_range(0..=delay.as_millis() as u64 / 10);
    delay + Duration::from_millis(extra)
}

/// Sends deliveries: the endpoints' keys (by endpoint id), the schedule, an HTTP client that
/// does not follow redirects.
pub struct Deliverer {
    db: Db,
    client: reqwest::Client,
    keys: HashMap<i64, Vec<u8>>,
    schedule: Vec<Duration>,
}

/// The payload of a delivery job.
#[derive(Debug, serde::Deserialize)]
struct DeliveryPayload {
    delivery_id: i64,
}

/// The delivery a job is for, if its payload says.
pub fn delivery_of(job: &JobRow) -> Option<i64> {
    serde_json::from_str::<DeliveryPayload>(&job.payload).ok().map(|p| p.delivery_id)
}

impl Deliverer {
    /// Mirrors the configured endpoints into the database (a 410-disabled endpoint stays
    /// disabled) and keeps their keys. The configuration was validated at load.
    pub async fn start(db: &Db, config: &WebhooksConfig) -> anyhow::Result<Deliverer> {
        let configured: Vec<ConfiguredEndpoint> = config
            .endpoints
            .iter()
            .map(|e| ConfiguredEndpoint { url: &e.url, description: &e.description, events: &e.events })
            .collect();
        let ids = events::sync_endpoints(db, &configured).await?;
        let mut keys = HashMap::new();
        for (id, endpoint) in ids.into_iter().zip(&config.endpoints) {
            let key = webhook_secret_key(endpoint.secret.expose())
                .map_err(|why| anyhow::anyhow!("webhook endpoint {id}: secret {why}"))?;
            keys.insert(id, key);
        }
        let schedule = config.schedule().map_err(|why| anyhow::anyhow!("webhooks.retry_schedule {why}"))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.timeout_secs))
            .user_agent(concat!("backtalk-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to build the webhook http client")?;
        if !keys.is_empty() {
            info!(endpoints = keys.len(), attempts = schedule.len(), "outbound webhooks configured");
        }
        Ok(Deliverer { db: db.clone(), client, keys, schedule })
    }

    /// Runs one attempt of delivery `delivery_id` and settles or reschedules it. The job
    /// is completed, re-queued or buried here, so this returns an error only when the
    /// database failed (the queue then retries the attempt).
    pub async fn deliver(&self, job: &JobRow, delivery_id: i64) -> Result<(), JobError> {
        let Some(d) = events::delivery_job(&self.db, delivery_id).await? else {
            return Err(JobError::Fatal(anyhow::anyhow!("no webhook delivery {delivery_id}")));
        };
        if d.status != DeliveryStatus::Pending {
            return self.finish(job, &d, None, false).await;
        }
        let key = match (&d.disabled_reason, d.configured, self.keys.get(&d.endpoint_id)) {
            (Some(why), _, _) => return self.finish(job, &d, Some(skip(DeliveryStatus::Skipped, why)), false).await,
            (None, true, Some(key)) => key,
            _ => {
                let why = "endpoint no longer configured";
                return self.finish(job, &d, Some(skip(DeliveryStatus::Skipped, why)), false).await;
            }
        };
        let attempt = job.attempts;
        let (outcome, status_code, elapsed) = self.attempt(&d, key).await;
        let error = match &outcome {
            Outcome::Delivered => None,
            Outcome::Gone => Some("endpoint answered 410 gone".to_string()),
            Outcome::Failed { error, .. } => Some(error.clone()),
        };
        let record = AttemptRecord {
            delivery_id,
            attempt,
            status_code,
            error: error.as_deref(),
            duration_ms: elapsed.as_millis() as i64,
        };
        events::record_attempt(&self.db, &record).await?;
        match outcome {
            Outcome::Delivered => {
                debug!(delivery = d.id, endpoint = d.endpoint_id, attempt, "webhook delivered");
                self.finish(job, &d, Some((DeliveryStatus::Delivered, None)), false).await
            }
            Outcome::Gone => {
                // Spec: 410 means the endpoint no longer exists; stop sending to it.
                warn!(endpoint = d.endpoint_id, delivery = d.id, "webhook endpoint answered 410; disabling it");
                let why = "endpoint answered 410 gone; endpoint disabled";
                self.finish(job, &d, Some((DeliveryStatus::Dead, Some(why.to_string()))), true).await
            }
            Outcome::Failed { error, retry_after } => {
                let Some(wait) = self.schedule.get(attempt as usize) else {
                    warn!(delivery = d.id, endpoint = d.endpoint_id, attempt, error = %error, "webhook delivery dead-lettered");
                    let why = format!("gave up after {attempt} attempts; last: {error}");
                    return self.finish(job, &d, Some((DeliveryStatus::Dead, Some(why))), false).await;
                };
                let wait = jittered(*wait).max(retry_after.unwrap_or_default());
                warn!(delivery = d.id, endpoint = d.endpoint_id, attempt, retry_in_ms = wait.as_millis() as u64,
                      error = %error, "webhook attempt failed, will retry");
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
                events::schedule_retry(&self.db, d.id, attempt, next, &error).await?;
                retry_job(&self.db, job.id, attempt, now_ms() + wait.as_millis() as i64, &error).await?;
                Ok(())
            }
        }
    }

    /// POSTs the payload, signed now. Returns what it means, the status (if any answer came)
    /// and how long it took.
    async fn attempt(&self, d: &DeliveryJob, key: &[u8]) -> (Outcome, Option<u16>, Duration) {
        let timestamp = Utc::now().timestamp();
        let signature = sign(key, &d.webhook_id, timestamp, d.payload.as_bytes());
        let started = Instant::now();
        let sent = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, &d.webhook_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(d.payload.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                // The URL may hold a token (chat-tool webhooks do): keep it out of the error.
                let error = if e.is_timeout() {
                    "no answer before webhooks.timeout_secs".to_string()
                } else {
                    format!("request failed: {:#}", anyhow::Error::from(e.without_url()))
                };
                return (Outcome::Failed { error, retry_after: None }, None, started.elapsed());
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        let outcome = classify(status, retry_after, Utc::now());
        (outcome, Some(status), started.elapsed())
    }

    /// Settles the delivery (when `settle` says how) and completes the job, or buries it
    /// for a dead letter, in one transaction; `disable` also disables the endpoint.
    async fn finish(
        &self,
        job: &JobRow,
        d: &DeliveryJob,
        settle: Option<(DeliveryStatus, Option<String>)>,
        disable: bool,
    ) -> Result<(), JobError> {
        let mut tx = self.db.begin().await?;
        let mut dead = None;
        if let Some((status, reason)) = &settle {
            events::settle_delivery(&mut tx, d.id, *status, job.attempts, reason.as_deref()).await?;
            if *status == DeliveryStatus::Dead {
                dead = reason.clone();
            }
        }
        if disable {
            events::disable_endpoint(&mut tx, d.endpoint_id, "answered 410 gone").await?;
        }
        match dead {
            Some(reason) => bury_job(&mut tx, job.id, job.attempts, &reason).await?,
            None => complete_job(&mut tx, job.id, job.attempts).await?,
        };
        tx.commit().await?;
        Ok(())
    }

    /// Dead-letters a delivery whose job the queue gave up on (its attempts never finished).
    pub async fn bury(&self, job: &JobRow, reason: &str) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if !bury_job(&mut tx, job.id, job.attempts, reason).await? {
            return Ok(());
        }
        if let Some(id) = delivery_of(job) {
            events::settle_delivery(&mut tx, id, DeliveryStatus::Dead, job.attempts, Some(reason)).await?;
        }
        tx.commit().await
    }
}

/// A settlement that skips the delivery, keeping why.
fn skip(status: DeliveryStatus, why: &str) -> (DeliveryStatus, Option<String>) {
    (status, Some(why.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_2xx_delivers_410_disables_and_everything_else_fails() {
        let now = Utc::now();
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(classify(status, None, now), Outcome::Delivered, "{status}");
        }
        assert_eq!(classify(410, None, now), Outcome::Gone);
        for status in [301, 302, 307, 400, 401, 404, 500, 501] {
            assert!(matches!(classify(status, Some("5"), now), Outcome::Failed { retry_after: None, .. }), "{status}");
        }
        assert!(matches!(classify(302, None, now), Outcome::Failed { error, .. } if error.contains("redirects")));
    }

    #[test]
    fn throttling_answers_say_when_to_come_back() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T08:00:00Z").unwrap().with_timezone(&Utc);
        for status in [429, 502, 503, 504] {
            let Outcome::Failed { retry_after, .. } = classify(status, Some("120"), now) else { panic!() };
            assert_eq!(retry_after, Some(Duration::from_secs(120)), "{status}");
        }
        let Outcome::Failed { retry_after, .. } = classify(503, Some("Sun, 06 Dec 2026 08:05:00 GMT"), now) else {
            panic!()
        };
        assert_eq!(retry_after, Some(Duration::from_secs(300)));
        let Outcome::Failed { retry_after, .. } = classify(429, Some("999999"), now) else { panic!() };
        assert_eq!(retry_after, Some(MAX_RETRY_AFTER));
        let Outcome::Failed { retry_after, .. } = classify(429, Some("soon"), now) else { panic!() };
        assert_eq!(retry_after, None);
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(300));
            assert!(d >= Duration::from_secs(300) && d <= Duration::from_secs(330), "{d:?}");
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
