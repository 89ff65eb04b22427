//! What the texts earned (docs/analytics.md): the definitions of every figure, written once
//! ([`DEFINITIONS`]), attribution of orders to texts ([`attribute_pending`]), a period's
//! counts ([`counts`]) and the summary made from them ([`summary`]), and deliverability
//! alerts ([`alerts`]).

pub mod alerts;
pub mod counts;
pub mod history;
pub mod summary;

use crate::domain::attribution::{self, Evidence, Order};
use crate::store::Db;
use crate::store::analytics as store;

pub use crate::domain::attribution::Windows;

/// One figure: its key in `GET /api/v1/analytics/summary`, what it counts, and whose
/// definition it follows (../shared/reference/flows-webhooks-analytics.md §6).
pub struct Definition {
    pub key: &'static str,
    pub definition: &'static str,
    pub source: &'static str,
}

/// Every figure of the summary. The README's table is this table (a test checks).
pub const DEFINITIONS: &[Definition] = &[
    Definition {
        key: "messages_inbound",
        definition: "texts received from customers in the period (for a flow, campaign or arm: the replies within 24 h to its texts)",
        source: "Chatwoot's incoming_messages_count",
    },
    Definition {
        key: "messages_outbound",
        definition: "texts handed to the provider in the period",
        source: "Chatwoot's outgoing_messages_count",
    },
    Definition {
        key: "delivered_rate",
        definition: "texts the carrier reported delivered ÷ texts sent",
        source: "Klaviyo's delivery rate (help.klaviyo.com 360035345572)",
    },
    Definition {
        key: "delivery_failure_rate",
        definition: "texts the carrier reported failed ÷ texts sent; `delivery_failures` by Klaviyo's reasons",
        source: "Klaviyo's failed delivery rate and reasons (help.klaviyo.com 360035345572)",
    },
    Definition {
        key: "reply_rate",
        definition: "texts the brand started (not failed) answered by the number within 24 h ÷ those texts",
        source: "no anchor defines it; the reference's suggestion (replies within X h ÷ delivered)",
    },
    Definition {
        key: "containment_rate",
        definition: "conversations the bot answered without an escalation ÷ conversations with a customer text (a conversation counts once per UTC day)",
        source: "no vendor standard; scala.ai and 99helpers glossaries (ended without escalation ÷ handled by the bot)",
    },
    Definition {
        key: "escalation_rate",
        definition: "conversations escalated to a person ÷ conversations with a customer text; `escalations_by_reason` counts each escalation",
        source: "Chatwoot's bot_handoffs_count over conversations_count",
    },
    Definition {
        key: "resolution_rate",
        definition: "answered conversations where, after the bot's last answer, the customer said thanks (confirmed) or did not come back within 24 h (assumed), with no escalation ÷ answered conversations whose 24 h are over or that came back",
        source: "Intercom Fin's confirmed/assumed resolution (intercom.com/help/en/articles/8205718)",
    },
    Definition {
        key: "first_response_seconds_p50",
        definition: "median (nearest rank) of the seconds from an escalation to a person's first reply, counted from the next opening when escalated while closed; counted on the day of the reply; `first_response_histogram` in Chatwoot's buckets",
        source: "Chatwoot's First Response Time and its 0-1h, 1-4h, 4-8h, 8-24h, 24h+ buckets",
    },
    Definition {
        key: "resolution_seconds_p50",
        definition: "median of the seconds from an escalation to a person resolving it, counted on the day it was resolved",
        source: "Chatwoot's Resolution Time",
    },
    Definition {
        key: "opt_out_rate",
        definition: "texts the brand started (not failed) followed by an opt-out of the number within 24 h ÷ those texts",
        source: "Klaviyo's unsubscribe rate (unsubscribed after receiving ÷ received)",
    },
    Definition {
        key: "click_rate",
        definition: "texts with a tracked link a person opened (link-preview fetchers excluded) ÷ texts sent with a tracked link",
        source: "Klaviyo's SMS click rate (people who clicked ÷ people who received)",
    },
    Definition {
        key: "conversions",
        definition: "orders placed in the period (not cancelled) attributed to a text (docs/analytics.md, Attribution)",
        source: "Klaviyo's placed-order conversions; windows from Klaviyo, Attentive and Emotive",
    },
    Definition {
        key: "attributed_revenue_cents",
        definition: "the total of the attributed orders, in cents of the store's currency",
        source: "Klaviyo's attributed revenue",
    },
    Definition {
        key: "revenue_per_recipient_cents",
        definition: "attributed revenue ÷ texts the brand started (not failed)",
        source: "Klaviyo's revenue per recipient",
    },
    Definition {
        key: "recovered_checkouts",
        definition: "attributed orders that completed a checkout a flow texted about; `recovery_rate` = recovered ÷ checkouts texted",
        source: "Klaviyo's and Attentive's abandoned-cart recovery",
    },
    Definition {
        key: "average_order_value_cents",
        definition: "`assisted`: attributed revenue ÷ attributed orders; `other`: the rest of the period's orders",
        source: "Klaviyo's average order value",
    },
];

/// Attributes every order whose attribution is stale (new, updated, cancelled, late), a batch
/// at a time; returns how many. Idempotent: an order's attribution is replaced, never added.
pub async fn attribute_pending(db: &Db, windows: &Windows) -> anyhow::Result<u64> {
    let mut done = 0;
    loop {
        let batch = store::stale_orders(db, 500).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let customers: Vec<i64> = batch.iter().map(|o| o.customer_id).collect();
        let evidence = store::evidence(db, &customers).await?;
        let none = Evidence::default();
        let mut written = Vec::with_capacity(batch.len());
        for o in &batch {
            let (conversation, evidence) = match evidence.get(&o.customer_id) {
                Some((conversation, e)) => (Some(*conversation), e),
                None => (None, &none),
            };
            let order = Order {
                ordered_at: o.ordered_at,
                discount_codes: o
                    .discount_codes
                    .as_deref()
                    .and_then(|codes| serde_json::from_str(codes).ok())
                    .unwrap_or_default(),
                cancelled: o.status == "cancelled" || o.cancelled_at.is_some(),
            };
            let chosen = attribution::attribute(&order, evidence, windows);
            let recovered = match (&chosen, &o.checkout_token) {
                (Some(a), Some(token)) => store::text_checkout(db, a.text).await?.as_deref() == Some(token.as_str()),
                _ => false,
            };
            written.push(store::Attribution { order: o, conversation, chosen, recovered });
        }
        // An order changed since it was read stays stale: the next batch reads it again.
        done += store::write_attributions(db, &written).await? as u64;
    }
}

/// The background pass `serve` runs until `cancel`: every minute it attributes new and changed
/// orders and brings the daily roll-ups up to date ([`summary::refresh`]), so a dashboard reads
/// roll-ups only; every 15 minutes it checks the deliverability alerts of the last 7 days (a
/// new alert sends its webhook event).
pub async fn run(
    db: Db,
    windows: Windows,
    hours: crate::escalation::hours::BusinessHours,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut ticks = 0u64;
    loop {
        if let Err(e) = attribute_pending(&db, &windows).await {
            tracing::warn!(error = %e, "attribution pass failed; retried in a minute");
        }
        let started = std::time::Instant::now();
        match summary::refresh(&db, &hours, clock.now()).await {
            Ok(0) => {}
            Ok(days) => {
                tracing::debug!(days, ms = started.elapsed().as_millis() as u64, "analytics roll-ups refreshed")
            }
            Err(e) => tracing::warn!(error = %e, "analytics roll-up refresh failed; retried in a minute"),
        }
        if ticks.is_multiple_of(15) {
            let now = clock.now();
            let scope = crate::store::analytics_period::Scope::default();
            let checked = match summary::counts_for(&db, &hours, now - alerts::SPAN, now, &scope, now).await {
                Ok(c) => alerts::check(&db, &c, now).await.map(|a| a.len()),
                Err(e) => Err(e),
            };
            match checked {
                Ok(n) if n > 0 => tracing::warn!(alerts = n, "deliverability alerts raised (see the console)"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deliverability check failed"),
            }
        }
        ticks += 1;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
        }
    }
}

/// [`DEFINITIONS`] as the Markdown table the README and docs/analytics.md carry.
pub fn definitions_table() -> String {
    let mut table = String::from("| Key | What it counts | Whose definition |\n|---|---|---|\n");
    for d in DEFINITIONS {
        table.push_str(&format!("| `{}` | {} | {} |\n", d.key, d.definition, d.source));
    }
    table
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_and_the_docs_carry_the_definitions_as_written_here() {
        let table = super::definitions_table();
        for (name, text) in [
            ("README.md", include_str!("../../README.md")),
            ("docs/analytics.md", include_str!("../../docs/analytics.md")),
        ] {
            assert!(text.contains(&table), "{name} lacks the definitions table; it should read:\n{table}");
        }
    }
}
