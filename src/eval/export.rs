//! `backtalk export-transcripts`: conversations from the database in the transcript format,
//! so what reviewers corrected becomes a regression case.
//!
//! Each inbound text becomes a turn expecting the action the pipeline took, except where a
//! person stepped in: a turn that escalated and was then answered by a reviewer expects
//! `escalate`, with the reviewer's final reply kept as `expect.reviewer_reply`. What was
//! sent is kept as `out`; a text that followed a reviewer's hand-back carries
//! `hand_back_before`, so the replay hands the thread back at the same point. Phone numbers are replaced by fictional 555-01xx numbers and the
//! customer's name by "the customer", also inside the texts; runs of 7 or more digits in
//! texts become `<number>`.

use std::io::Write;

use chrono::{DateTime, Utc};

use super::transcript::{Customer, Expect, Transcript, Turn};
use crate::domain::{OutboxKind, TurnDecision};
use crate::store::{Db, crm, turns};

/// Options of an export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub since: DateTime<Utc>,
    pub escalated_only: bool,
}

/// `text` with the customer's name and long digit runs replaced.
fn scrub(text: &str, name: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(name) = name {
        for part in std::iter::once(name).chain(name.split_whitespace()).filter(|p| p.chars().count() >= 3) {
            out = out.replace(part, "the customer");
        }
    }
    let digits = regex::Regex::new(r"\+?\(?\d[\d\s().-]{5,}\d").expect("a valid pattern");
    digits
        .replace_all(&out, |c: &regex::Captures| {
            if c[0].chars().filter(char::is_ascii_digit).count() >= 7 {
                "<number>".to_string()
            } else {
                c[0].to_string()
            }
        })
        .into_owned()
}

/// The conversations as transcripts.
pub async fn export(db: &Db, options: &ExportOptions) -> anyhow::Result<Vec<Transcript>> {
    let mut out = Vec::new();
    for (n, (conversation_id, phone)) in
        turns::export_conversations(db, options.since, options.escalated_only).await?.into_iter().enumerate()
    {
        let customer = crm::customer_by_phone(db, &phone).await?;
        let name = customer.as_ref().and_then(|c| c.name.clone());
        let inbound = turns::export_turns(db, conversation_id).await?;
        let sent = turns::export_sent(db, conversation_id).await?;
        let handed_back = turns::handed_back_at(db, conversation_id).await?;
        let mut transcript_turns = Vec::new();
        for (k, t) in inbound.iter().enumerate() {
            let next_at = inbound.get(k + 1).map(|n| n.created_at);
            // A reviewer handed the thread back between the previous text and this one: the
            // replay does the same before sending it (the eval's `hand_back_before`).
            let previous_at = k.checked_sub(1).map(|p| inbound[p].created_at);
            let hand_back_before =
                handed_back.iter().any(|at| previous_at.is_some_and(|p| *at > p) && *at <= t.created_at);
            let out_texts: Vec<String> = sent
                .iter()
                .filter(|(kind, _, reply_to, at)| {
                    *reply_to == Some(t.message_id)
                        || (*kind == OutboxKind::ReviewerReply
                            && *at >= t.created_at
                            && next_at.is_none_or(|next| *at < next))
                })
                .map(|(_, body, _, _)| scrub(body, name.as_deref()))
                .collect();
            let reviewer_reply = sent
                .iter()
                .filter(|(kind, _, _, at)| {
                    *kind == OutboxKind::ReviewerReply && *at >= t.created_at && next_at.is_none_or(|next| *at < next)
                })
                .map(|(_, body, _, _)| scrub(body, name.as_deref()))
                .next_back();
            let Some(decision) = t.decision else { continue };
            let action = super::transcript::action_of(decision);
            let action = if reviewer_reply.is_some() && decision == TurnDecision::HumanOwned {
                TurnDecision::Escalate.as_str()
            } else {
                action
            };
            transcript_turns.push(Turn {
                inbound: scrub(&t.body, name.as_deref()),
                expect: Expect { action: Some(action.to_string()), reviewer_reply, ..Expect::default() },
                out: (!out_texts.is_empty()).then(|| out_texts.join(" / ")),
                hand_back_before,
            });
        }
        if transcript_turns.is_empty() {
            continue;
        }
        // The orders stay (what was bought, when, its status): the replies depend on them.
        let mut orders = Vec::new();
        if let Some(c) = &customer {
            for o in crm::orders_for_customer(db, c.id, 100).await? {
                for i in o.items {
                    orders.push(super::transcript::Order {
                        sku: i.sku.into(),
                        title: i.title,
                        price: i.price_cents as f64 / 100.0,
                        ordered_at: o.ordered_at.to_rfc3339(),
                        status: Some(o.status.clone()),
                        order_id: Some(o.external_id.clone()),
                    });
                }
            }
        }
        let phone = format!("+1{}55501{:02}", 201 + n / 100, n % 100);
        let customer = if orders.is_empty() {
            Customer { phone: Some(phone), ..Customer::default() }
        } else {
            Customer { phone: Some(phone), name: Some("Customer".into()), orders }
        };
        out.push(Transcript {
            id: format!("exported-{conversation_id}"),
            customer: Some(customer),
            turns: transcript_turns,
            tags: vec!["exported".into()],
        });
    }
    Ok(out)
}

/// Writes transcripts as JSON Lines.
pub fn write(transcripts: &[Transcript], mut to: impl Write) -> anyhow::Result<()> {
    for t in transcripts {
        serde_json::to_writer(&mut to, t)?;
        to.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_numbers_are_scrubbed() {
        let s =
            super::scrub("Hi, Elyssa Reese here, call me at (415) 555-0123 about order 550471", Some("Elyssa Reese"));
        assert_eq!(s, "Hi, the customer here, call me at <number> about order 550471");
    }
}
