//! A period's counts, made from the rows of `store::analytics_period`: every figure of the
//! summary is a ratio or a median of these (docs/analytics.md, "Definitions").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::escalation::hours::BusinessHours;
use crate::store::Db;
use crate::store::analytics_period::{self as rows, Scope};

/// How long after a text a reply or an opt-out is the text's, and how long after the bot's
/// last answer the customer may come back before a conversation counts as resolved (Intercom
/// Fin's 24 h).
pub const FOLLOW_UP: Duration = Duration::hours(24);

/// The counts of a period; two adjacent periods' counts add up to the joined period's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub messages_inbound: i64,
    /// Texts handed to the provider.
    pub messages_outbound: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Failed texts by Klaviyo's reason ([`failure_reason`]).
    pub failures: BTreeMap<String, i64>,
    /// Texts the brand started (flows, campaigns, the messages API) that did not fail.
    pub proactive: i64,
    /// ... followed by a text from the number within [`FOLLOW_UP`].
    pub replied: i64,
    /// ... followed by an opt-out of the number within [`FOLLOW_UP`].
    pub opted_out: i64,
    /// Texts that carried a tracked link, and those a person opened.
    pub linked: i64,
    pub clicked: i64,
    /// Checkouts a flow texted about (abandoned carts).
    pub checkouts_texted: i64,
    /// Conversations with a text from the customer (once per UTC day).
    pub conversations: i64,
    /// ... the bot answered, and those of them with no escalation.
    pub answered: i64,
    pub contained: i64,
    /// ... with an escalation to a person.
    pub escalated: i64,
    /// Escalations by reason.
    pub escalations: BTreeMap<String, i64>,
    /// Answered conversations whose 24 h are over or that came back, and those resolved.
    pub resolvable: i64,
    pub resolved: i64,
    /// Resolved because the customer said thanks (the rest: they did not come back).
    pub resolved_confirmed: i64,
    /// Seconds from an escalation to a person's first reply (counted the day of the reply).
    pub first_responses: Vec<i64>,
    /// Seconds from an escalation to its resolution (counted the day it was resolved).
    pub resolution_times: Vec<i64>,
    /// Orders placed (not cancelled), and their value.
    pub orders: i64,
    pub order_revenue_cents: i64,
    /// Orders attributed to a text, their value, and those that completed a texted checkout.
    pub conversions: i64,
    pub revenue_cents: i64,
    pub recovered_checkouts: i64,
}

impl Counts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Counts) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += other.$f; )* };
        }
        sum!(
            messages_inbound,
            messages_outbound,
            delivered,
            failed,
            proactive,
            replied,
            opted_out,
            linked,
            clicked,
            checkouts_texted,
            conversations,
            answered,
            contained,
            escalated,
            resolvable,
            resolved,
            resolved_confirmed,
            orders,
            order_revenue_cents,
            conversions,
            revenue_cents,
            recovered_checkouts
        );
        for (map, theirs) in [(&mut self.failures, &other.failures), (&mut self.escalations, &other.escalations)] {
            for (k, v) in theirs {
                *map.entry(k.clone()).or_default() += v;
            }
        }
        self.first_responses.extend(&other.first_responses);
        self.resolution_times.extend(&other.resolution_times);
    }
}

/// Klaviyo's reason for a failed text, from the provider's error code. Klaviyo's reasons are
/// Device Disconnected, Device Unreachable, Carrier Violation, Message Blocked, Device
/// Incapable and Unknown (help.klaviyo.com/hc/en-us/articles/360035345572); the mapping from
/// Twilio's codes is ours: 30005 unknown handset (twilio.com/docs/api/errors/30005), 30003
/// unreachable handset, 30007 filtered as spam (formerly "carrier violation"), 21610 and
/// 30004 blocked (the recipient unsubscribed or blocked the sender), 30006 landline; and
/// Telnyx's (developers.telnyx.com messaging error codes): 40006 recipient unavailable,
/// 40002 and 40003 spam, 40300 blocked by STOP, 40001 not routable (a landline).
pub fn failure_reason(error: Option<&str>) -> &'static str {
    match error.map(str::trim) {
        Some("30005") => "disconnected",
        Some("30003" | "40006") => "unreachable",
        Some("30007" | "40002" | "40003") => "carrier_violation",
        Some("21610" | "30004" | "40300") => "blocked",
        Some("30006" | "40001") => "incapable",
        _ => "unknown",
    }
}

/// The counts of `[from, to)` within `scope`, as of `now` (a conversation answered less than
/// 24 h ago is not yet resolved or not). A scope other than all leaves the conversation
/// counts at 0: conversations are not any one flow's.
pub async fn count(
    db: &Db,
    hours: &BusinessHours,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
    now: DateTime<Utc>,
) -> anyhow::Result<Counts> {
    let mut c = Counts::default();
    if to <= from {
        // Nothing in the period (the follow-up window after it would still be read).
        return Ok(c);
    }
    let until = to + FOLLOW_UP;
    let texts = rows::texts(db, from, to, scope).await?;
    let mut inbound: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (conversation, at) in rows::inbound(db, from, until).await? {
        inbound.entry(conversation).or_default().push(at);
        if at < to && scope.is_all() {
            c.messages_inbound += 1;
        }
    }
    let mut opt_outs: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (phone, at) in rows::opt_outs(db, from, until).await? {
        opt_outs.entry(phone).or_default().push(at);
    }
    let after = |times: Option<&Vec<DateTime<Utc>>>, at: DateTime<Utc>| {
        times.is_some_and(|ts| ts.iter().any(|t| *t >= at && *t <= at + FOLLOW_UP))
    };
    let mut checkouts = BTreeSet::new();
    let mut replies_to_scope = BTreeSet::new();
    for t in &texts {
        c.messages_outbound += 1;
        match t.status.as_str() {
            "delivered" => c.delivered += 1,
            "failed" => {
                c.failed += 1;
                *c.failures.entry(failure_reason(t.error.as_deref()).into()).or_default() += 1;
            }
            _ => {}
        }
        c.linked += t.linked;
        c.clicked += t.clicked;
        if t.kind != "proactive" || t.status == "failed" {
            continue;
        }
        c.proactive += 1;
        if let Some(ts) = inbound.get(&t.conversation_id) {
            let answers: Vec<_> = ts.iter().filter(|r| **r > t.sent_at && **r <= t.sent_at + FOLLOW_UP).collect();
            c.replied += i64::from(!answers.is_empty());
            replies_to_scope.extend(answers.into_iter().map(|r| (t.conversation_id, *r)));
        }
        c.opted_out += i64::from(after(opt_outs.get(&t.to_phone), t.sent_at));
        if let Some(run) = t.checkout_run {
            checkouts.insert(run);
        }
    }
    c.checkouts_texted = checkouts.len() as i64;
    if scope.is_all() {
        conversations(db, &mut c, from, to, until, now).await?;
        people(db, hours, &mut c, from, to).await?;
    } else {
        c.messages_inbound = replies_to_scope.len() as i64;
    }
    for o in rows::orders(db, from, to).await? {
        let mine = match (&scope.flow, &scope.ab) {
            (Some(flow), _) => o.flow.as_deref() == Some(flow.as_str()),
            (None, Some((test, arm))) => {
                o.ab_test.as_deref() == Some(test.as_str()) && o.ab_arm.as_deref() == Some(arm.as_str())
            }
            (None, None) => true,
        };
        if o.cancelled == 1 || !mine {
            continue;
        }
        if scope.is_all() {
            c.orders += 1;
            c.order_revenue_cents += o.total_cents;
        }
        if o.attributed == 1 {
            c.conversions += 1;
            c.revenue_cents += o.revenue_cents;
            c.recovered_checkouts += o.recovered;
        }
    }
    Ok(c)
}

/// Containment, escalation and resolution of the conversations with a text in `[from, to)`.
async fn conversations(
    db: &Db,
    c: &mut Counts,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let turns = rows::turns(db, from, until).await?;
    let escalations = rows::escalations(db, from, until).await?;
    let mut escalated_at: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (conversation, reason, at) in &escalations {
        escalated_at.entry(*conversation).or_default().push(*at);
        if *at < to {
            *c.escalations.entry(reason.clone()).or_default() += 1;
        }
    }
    let mut by_conversation: BTreeMap<i64, Vec<&rows::TurnRow>> = BTreeMap::new();
    for t in &turns {
        by_conversation.entry(t.conversation_id).or_default().push(t);
    }
    for (conversation, mut ts) in by_conversation {
        ts.sort_by_key(|t| t.created_at);
        let inside: Vec<_> = ts.iter().filter(|t| t.created_at < to).collect();
        if inside.is_empty() {
            continue;
        }
        c.conversations += 1;
        let escalations = escalated_at.get(&conversation);
        let escalated = escalations.is_some_and(|es| es.iter().any(|e| *e >= from && *e < to));
        c.escalated += i64::from(escalated);
        let Some(last) = inside.iter().rev().find(|t| t.decision == "reply") else { continue };
        c.answered += 1;
        c.contained += i64::from(!escalated);
        // Intercom Fin: resolved when, after the last answer, the customer confirms or does
        // not come back within 24 h; a follow-up, a complaint or a person is not resolved.
        let answered_at = last.created_at;
        let window_end = answered_at + FOLLOW_UP;
        let came_back: Vec<_> =
            ts.iter().filter(|t| t.created_at > answered_at && t.created_at <= window_end).collect();
        let handed_over = escalations.is_some_and(|es| es.iter().any(|e| *e >= answered_at && *e <= window_end));
        let asked_more = came_back.iter().any(|t| t.intent != "thanks");
        let thanked = came_back.iter().any(|t| t.intent == "thanks");
        if handed_over || asked_more {
            c.resolvable += 1;
        } else if thanked {
            c.resolvable += 1;
            c.resolved += 1;
            c.resolved_confirmed += 1;
        } else if window_end <= now {
            c.resolvable += 1;
            c.resolved += 1;
        }
    }
    Ok(())
}

/// A person's first response and resolution times in `[from, to)`; an escalation made while
/// closed is counted from the next opening (the clock its SLA runs on).
async fn people(
    db: &Db,
    hours: &BusinessHours,
    c: &mut Counts,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    let start = |at: DateTime<Utc>| if hours.is_open(at) { at } else { hours.next_open(at) };
    for (escalated, replied) in rows::first_responses(db, from, to).await? {
        c.first_responses.push((replied - start(escalated)).num_seconds().max(0));
    }
    for (escalated, resolved) in rows::resolutions(db, from, to).await? {
        c.resolution_times.push((resolved - escalated).num_seconds().max(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let mut a = Counts { messages_inbound: 2, first_responses: vec![5], ..Counts::default() };
        a.failures.insert("unknown".into(), 1);
        let mut b = Counts { messages_inbound: 3, first_responses: vec![7], ..Counts::default() };
        b.failures.insert("unknown".into(), 2);
        a.add(&b);
        assert_eq!((a.messages_inbound, a.first_responses, a.failures["unknown"]), (5, vec![5, 7], 3));
    }

    #[test]
    fn twilio_codes_become_klaviyos_reasons() {
        assert_eq!(failure_reason(Some("30007")), "carrier_violation");
        assert_eq!(failure_reason(Some("30003")), "unreachable");
        assert_eq!(failure_reason(None), "unknown");
    }
}
