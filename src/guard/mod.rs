//! The guard: every draft is checked before it can be sent.
//!
//! GSM-7 normalisation, links only to the brand's hosts, a cap on segments (trimmed at a
//! sentence boundary), and verification of every claim against this turn's facts: each
//! money amount must be a retrieved product's price, a price or total of the customer's own
//! orders, or an amount stated in a retrieved policy; discounts, delivery times,
//! guarantees, health or legal claims, skus, order numbers, stock, colours and sizes are
//! checked in
//! [`claims`]; superlatives ("cheapest"), comparisons, scarcity ("only 2 left") and
//! popularity ("best seller") in [`superlatives`]; stock of the size, colour and sku the
//! customer asked about in [`asked`]. An unsupported claim blocks the reply (FTC Act §5: a price or a promise is a
//! material claim; the brand is held to what its bot says).

pub mod asked;
pub mod claims;
pub mod mentions;
pub mod money;
pub mod superlatives;

use serde::Serialize;

use crate::domain::facts::Facts;
use crate::domain::segments::{count_segments, fold_accents_for_gsm7, normalize_gsm7, trim_to_segments};
use crate::domain::{FindingKind, Money};

/// The guard's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sent as drafted.
    Pass,
    /// Sent after a safe change (normalised characters, trimmed length).
    Repaired,
    /// Not sent: a claim could not be verified.
    Blocked,
}

/// One thing the guard noticed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Blocking: an unsupported price, an empty or template text, and the claims of
    /// [`claims`]; repairs: normalised characters, dropped links, trimmed length.
    pub kind: FindingKind,
    pub detail: String,
}

/// The checked reply.
#[derive(Debug, Clone, Serialize)]
pub struct Guarded {
    pub verdict: Verdict,
    /// The text to send (after repairs).
    pub text: String,
    pub findings: Vec<Finding>,
    /// Every checkable claim of the draft, verified or not ([`claims::extract`]); the ones
    /// that failed are also in `findings`.
    pub claims: Vec<claims::Claim>,
    pub segments: usize,
}

/// True for a finding that blocks a reply (an unverifiable claim, an empty or template
/// text), false for a repair.
pub fn is_blocking(kind: FindingKind) -> bool {
    !kind.is_repair()
}

/// Every amount, in cents, that this turn's facts support.
fn supported_amounts(facts: &Facts) -> Vec<i64> {
    let mut amounts: Vec<i64> = facts.products.iter().map(|p| p.price.cents).collect();
    amounts.extend(facts.products.iter().filter_map(|p| p.sale_price.map(|s| s.cents)));
    for o in &facts.orders {
        amounts.push(o.total.cents);
        amounts.extend(o.items.iter().map(|i| i.price.cents));
    }
    for p in &facts.policies {
        amounts.extend(money::amounts_in(&p.body));
    }
    amounts
}

/// Checks and repairs a draft against the turn's facts; links are kept only to `link_hosts`.
pub fn check(draft: &str, facts: &Facts, max_segments: usize, link_hosts: &[String]) -> Guarded {
    let mut findings = Vec::new();
    let mut text = normalize_gsm7(draft.trim());
    if let Some(folded) = fold_accents_for_gsm7(&text) {
        text = folded;
    }
    if text != draft.trim() {
        findings
            .push(Finding { kind: FindingKind::NormalizedGsm7, detail: "replaced characters outside GSM-7".into() });
    }
    if text.is_empty() {
        findings.push(Finding { kind: FindingKind::Empty, detail: "the draft is empty".into() });
        return Guarded { verdict: Verdict::Blocked, text, findings, claims: vec![], segments: 0 };
    }
    // A placeholder copied from the prompt ("<the SMS text>") or markup: small models echo
    // the answer format instead of filling it in, and an SMS never needs angle brackets.
    if let Some(at) = text.find(['<', '>']) {
        let around: String = text[at..].chars().take(40).collect();
        findings.push(Finding {
            kind: FindingKind::TemplateEcho,
            detail: format!("the draft contains a placeholder or markup: {around:?}"),
        });
    }
    let claims = claims::extract(&text);
    let supported = supported_amounts(facts);
    for cents in money::amounts_in(&text) {
        if !supported.contains(&cents) {
            findings.push(Finding {
                kind: FindingKind::UnsupportedPrice,
                detail: format!("{} is not a price or amount in this turn's facts", Money::usd_cents(cents)),
            });
        }
    }
    let (unlinked, dropped) = claims::drop_unlisted_links(&text, link_hosts);
    if !dropped.is_empty() {
        text = unlinked;
        findings.push(Finding {
            kind: FindingKind::DroppedLink,
            detail: format!("removed links to {}", dropped.join(", ")),
        });
    }
    findings.extend(claims::unsupported(&text, facts));
    let asked = mentions::asked(&facts.message);
    findings.extend(superlatives::unsupported(&text, facts, &asked));
    findings.extend(asked::unsupported(&text, facts, &asked));
    if findings.iter().any(|f| is_blocking(f.kind)) {
        let segments = count_segments(&text).segments;
        return Guarded { verdict: Verdict::Blocked, text, findings, claims, segments };
    }
    if count_segments(&text).segments > max_segments {
        text = trim_to_segments(&text, max_segments);
        findings.push(Finding { kind: FindingKind::Trimmed, detail: format!("trimmed to {max_segments} segments") });
    }
    let verdict = if findings.is_empty() { Verdict::Pass } else { Verdict::Repaired };
    let segments = count_segments(&text).segments;
    Guarded { verdict, text, findings, claims, segments }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::{PolicyFact, ProductFact};

    fn facts() -> Facts {
        Facts {
            products: vec![ProductFact { colors: vec![], ..ProductFact::red_blouse() }],
            policies: vec![PolicyFact {
                id: "shipping".into(),
                title: "Shipping".into(),
                body: "Free over $50.".into(),
                translation: None,
                score: 1.0,
            }],
            ..Facts::default()
        }
    }

    #[test]
    fn a_price_from_the_facts_passes() {
        let g = check("The red blouse is $32.99, free shipping over $50.", &facts(), 3, &[]);
        assert_eq!(g.verdict, Verdict::Pass, "{:?}", g.findings);
    }

    #[test]
    fn an_invented_price_blocks_the_reply() {
        let g = check("The red blouse is on sale for $19.99!", &facts(), 3, &[]);
        assert_eq!(g.verdict, Verdict::Blocked);
        assert_eq!(g.findings[0].kind, FindingKind::UnsupportedPrice);
    }

    #[test]
    fn a_copied_placeholder_is_never_sent() {
        for echo in ["<the SMS text>", "Sure! <text message to customer> 100% off</text message>", "<text here"] {
            let g = check(echo, &facts(), 3, &[]);
            assert_eq!(g.verdict, Verdict::Blocked, "{echo}");
            assert_eq!(g.findings[0].kind, FindingKind::TemplateEcho);
        }
    }

    #[test]
    fn curly_quotes_are_normalised_and_long_drafts_trimmed() {
        let long = format!("It\u{2019}s here. {}", "Great choice. ".repeat(40));
        let g = check(&long, &facts(), 1, &[]);
        assert_eq!(g.verdict, Verdict::Repaired);
        assert_eq!(g.segments, 1);
        assert!(g.text.starts_with("It's here."));
    }

    /// Fuzzed (issue 21; docs/fuzzing.md): any draft is checked without a panic, a reply that
    /// is not blocked fits the segments allowed, and no price a blocked-free reply states is
    /// outside the facts. `cargo bolero test guard::tests::any_draft_is_checked`
    /// runs it coverage-guided.
    #[test]
    fn any_draft_is_checked() {
        const DRAFTS: [&str; 3] = [
            "The red blouse is $32.99, 20% off with code SAVE20, free shipping over $50, here in 3-5 days. 2 left!",
            "Yes! Red and blue, sizes 8-11. Returns within 30 days: https://shop.example/returns",
            "Your order #1042 shipped Tuesday via UPS, tracking 1Z999AA10123456784. The best blouse ever.",
        ];
        let facts = facts();
        bolero::check!().with_type::<(u8, u8, String)>().for_each(|(pick, max, extra)| {
            let seed = DRAFTS[*pick as usize % DRAFTS.len()];
            let at = seed.char_indices().map(|(i, _)| i).nth(*max as usize % seed.chars().count()).unwrap_or(0);
            let draft = format!("{}{extra}{}", &seed[..at], &seed[at..]);
            let max_segments = (*max as usize % 4).max(1);
            let g = check(&draft, &facts, max_segments, &["shop.example".to_string()]);
            let _ = claims::extract(&draft);
            if g.verdict != Verdict::Blocked {
                assert!(g.segments <= max_segments, "{draft:?} gave {} segments", g.segments);
                for amount in money::amounts_in(&g.text) {
                    assert!(supported_amounts(&facts).contains(&amount), "{draft:?} passed ${amount}");
                }
            }
        });
    }
}
