//! The transcript format (JSON Lines, one conversation per line), as pinned in
//! ARCHITECTURE.md: `{"id", "customer"?, "turns": [{"in", "expect"?, "out"?}]}`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::domain::TurnDecision;

/// One conversation to replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    pub id: String,
    /// Who is texting; absent: a new lead the CRM does not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    pub turns: Vec<Turn>,
    /// Free-form tags (e.g. the eval set a conversation comes from).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The customer of a transcript. With only `phone`, the store's CRM record for that phone
/// (name, orders, consent) is used; with `name` or `orders`, these are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<Order>,
}

/// An order line of a transcript's customer (one item per entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub sku: String,
    pub title: String,
    pub price: f64,
    /// `YYYY-MM-DD` or RFC 3339.
    pub ordered_at: String,
    /// Default `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Default: one order per entry, numbered from the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// One inbound text and what should happen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    #[serde(rename = "in")]
    pub inbound: String,
    #[serde(default)]
    pub expect: Expect,
    /// What was actually sent, in a recorded transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// Before this text arrives, a reviewer hands the conversation back to the bot (closes
    /// its open escalations as `handed_back`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hand_back_before: bool,
}

/// What the turn should do; every key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `reply`, `escalate`, `opt_out`, `opt_in`, `help` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Any of these (skus, words; case-insensitive) appears in what is sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions_any: Vec<String>,
    /// None of these appears in what is sent (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_contains: Vec<String>,
    /// The reply takes at most this many SMS segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_segments: Option<usize>,
    /// Nothing sent states a checkable fact (price, stock, sku, order, delivery time...):
    /// for questions the store cannot answer, which must be declined or escalated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_facts: Option<bool>,
    /// What a reviewer finally sent, for conversations exported from production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer_reply: Option<String>,
}

/// The actions an expectation may name: a turn's decision, or `none` (see [`action_of`]).
pub const ACTIONS: &[&str] = &["reply", "escalate", "opt_out", "opt_in", "help", "none"];

/// The action a transcript names for a turn's decision: the decision's own word, except
/// `none` when a person owned the conversation and the bot stayed silent.
pub fn action_of(decision: TurnDecision) -> &'static str {
    match decision {
        TurnDecision::HumanOwned => "none",
        d => d.as_str(),
    }
}

/// Reads transcripts from JSON Lines files; an error names the file and line.
pub fn read(paths: &[impl AsRef<Path>]) -> anyhow::Result<Vec<Transcript>> {
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = || format!("{}:{}", path.display(), n + 1);
            let t: Transcript = serde_json::from_str(line).with_context(|| format!("{}: not a transcript", at()))?;
            anyhow::ensure!(!t.turns.is_empty(), "{}: conversation {:?} has no turns", at(), t.id);
            for (k, turn) in t.turns.iter().enumerate() {
                if let Some(a) = &turn.expect.action {
                    anyhow::ensure!(
                        ACTIONS.contains(&a.as_str()),
                        "{}: turn {} expects action {a:?}; one of {}",
                        at(),
                        k + 1,
                        ACTIONS.join(", ")
                    );
                }
                anyhow::ensure!(!turn.inbound.trim().is_empty(), "{}: turn {} has an empty text", at(), k + 1);
            }
            anyhow::ensure!(ids.insert(t.id.clone()), "{}: conversation id {:?} appears twice", at(), t.id);
            out.push(t);
        }
    }
    anyhow::ensure!(!out.is_empty(), "no transcripts in the given files");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_example_parses_and_mistakes_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.jsonl");
        std::fs::write(
            &good,
            r#"{"id": "red-blouse-1", "customer": {"phone": "+14155550123", "name": "Ana", "orders": [{"sku": "ZO0549605496", "title": "Basic T-shirt - dark blue/white", "price": 11.99, "ordered_at": "2026-10-01"}]}, "turns": [{"in": "do you have the blouse in red?", "expect": {"action": "reply", "mentions_any": ["ZO0345703457"], "not_contains": ["guarantee"], "max_segments": 2}}, {"in": "stop texting me", "expect": {"action": "opt_out"}}]}"#,
        )
        .unwrap();
        let t = read(&[&good]).unwrap();
        assert_eq!(t[0].turns.len(), 2);
        assert_eq!(t[0].customer.as_ref().unwrap().orders[0].sku, "ZO0549605496");
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "\n{\"id\": \"x\", \"turns\": [{\"in\": \"hi\", \"expect\": {\"action\": \"wave\"}}]}\n")
            .unwrap();
        let e = format!("{:#}", read(&[&bad]).unwrap_err());
        assert!(e.contains("bad.jsonl:2") && e.contains("wave"), "{e}");
    }
}
