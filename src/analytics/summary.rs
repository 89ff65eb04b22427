//! A period's summary: whole UTC days from their roll-ups, partial days counted from the
//! rows (docs/analytics.md, "How the summary stays fast").

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde_json::{Value, json};

use super::counts::{self, Counts};
use crate::escalation::hours::BusinessHours;
use crate::store::Db;
use crate::store::analytics as store;
use crate::store::analytics_period::Scope;

/// A day is settled once every window that can change its counts is over: the 24 h of
/// replies, opt-outs and resolution after its last text, and a day more. Its roll-up is then
/// kept until a change (a late order, a click, a delivery report) marks it out of date.
pub const SETTLED_AFTER: Duration = Duration::hours(48);

/// How long the roll-up of a day not yet settled (today, the two days before) is used before
/// it is counted again: a dashboard refreshed within it reads only roll-ups. What changed
/// meanwhile shows after at most this long (an attributed order, a click or a delivery report
/// at once: they mark their day's roll-up out of date).
pub const RECENT_FOR: Duration = Duration::minutes(5);

/// How many days back from today the background refresher keeps rolled up (the dashboard's
/// longest preset period).
pub const KEPT_DAYS: i64 = 90;

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// Whether `day`'s stored roll-up can stand for its rows at `now`: nothing changed since it was
/// counted, and it was counted after the day settled or less than [`RECENT_FOR`] ago.
fn usable(r: &store::Rollup, day: NaiveDate, now: DateTime<Utc>) -> bool {
    let settles = start_of(day + Duration::days(1)) + SETTLED_AFTER;
    r.changes == 0 && (r.computed_at >= settles || r.computed_at > now - RECENT_FOR)
}

/// Counts `day` from the rows and stores its roll-up (unless a change arrived meanwhile: its
/// roll-up then had more than `seen` changes and stays out of date).
async fn roll_up(
    db: &Db,
    hours: &BusinessHours,
    day: NaiveDate,
    seen: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<Counts> {
    let c = counts::count(db, hours, start_of(day), start_of(day + Duration::days(1)), &Scope::default(), now).await?;
    store::put_rollup(db, day, &serde_json::to_string(&c)?, now, seen).await?;
    Ok(c)
}

/// The background refresher `serve` runs every minute, so that dashboards read roll-ups only:
/// counts again every day a change made out of date, the days not yet settled whose roll-up is
/// older than half of [`RECENT_FOR`], and any of the last [`KEPT_DAYS`] days with no roll-up.
/// Returns the days counted.
pub async fn refresh(db: &Db, hours: &BusinessHours, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let today = now.date_naive();
    let first = today - Duration::days(KEPT_DAYS - 1);
    let stored: HashMap<NaiveDate, store::Rollup> = store::rollups_to_refresh(db, first, today)
        .await?
        .into_iter()
        .filter_map(|r| Some((NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").ok()?, r)))
        .collect();
    // A roll-up that a request would find expired within half of RECENT_FOR is counted now.
    let soon = now + RECENT_FOR / 2;
    let mut due: Vec<(NaiveDate, i64)> =
        stored.iter().filter(|(_, r)| r.changes > 0).map(|(day, r)| (*day, r.changes)).collect();
    let mut day = first;
    while day <= today {
        match stored.get(&day) {
            None => due.push((day, 0)),
            Some(r) if r.changes == 0 && !usable(r, day, soon) => due.push((day, 0)),
            Some(_) => {}
        }
        day += Duration::days(1);
    }
    // The latest first: they are the ones a dashboard shows.
    due.sort_unstable_by_key(|d| std::cmp::Reverse(d.0));
    for (day, seen) in &due {
        roll_up(db, hours, *day, *seen, now).await?;
    }
    Ok(due.len())
}

/// The counts of `[from, to)` within `scope` as of `now`. Every scope but all is counted from
/// the rows (a flow's texts are few). All adds up the roll-ups of the whole UTC days of the
/// period (a period reaching `now` takes today so far as a whole day: there is no more of it),
/// made and kept when missing or out of date, and counts the partial days at its ends from the
/// rows.
pub async fn counts_for(
    db: &Db,
    hours: &BusinessHours,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &Scope,
    now: DateTime<Utc>,
) -> anyhow::Result<Counts> {
    if !scope.is_all() || to <= from {
        return counts::count(db, hours, from, to, scope, now).await;
    }
    let first_day =
        if start_of(from.date_naive()) == from { from.date_naive() } else { from.date_naive() + Duration::days(1) };
    let end_day = if to >= now { now.date_naive() + Duration::days(1) } else { to.date_naive() };
    if first_day >= end_day {
        return counts::count(db, hours, from, to, scope, now).await;
    }
    let mut total = counts::count(db, hours, from, start_of(first_day), scope, now).await?;
    let stored: HashMap<String, store::Rollup> = store::rollups(db, first_day, end_day - Duration::days(1))
        .await?
        .into_iter()
        .map(|r| (r.day.clone(), r))
        .collect();
    let mut day = first_day;
    while day < end_day {
        let kept = stored.get(&day.format("%Y-%m-%d").to_string());
        let counted = match kept.filter(|r| usable(r, day, now)).and_then(|r| serde_json::from_str(&r.counts).ok()) {
            Some(c) => c,
            None => roll_up(db, hours, day, kept.map_or(0, |r| r.changes), now).await?,
        };
        total.add(&counted);
        day += Duration::days(1);
    }
    if start_of(end_day) < to {
        total.add(&counts::count(db, hours, start_of(end_day), to, scope, now).await?);
    }
    Ok(total)
}

fn ratio(n: i64, d: i64) -> Value {
    if d == 0 { Value::Null } else { json!(((n as f64 / d as f64) * 10_000.0).round() / 10_000.0) }
}

/// The nearest-rank median: the smallest value at least half the values do not exceed.
pub fn median(values: &[i64]) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = sorted.len().div_ceil(2);
    (rank > 0).then(|| sorted[rank - 1])
}

/// Chatwoot's first-response buckets: 0-1h, 1-4h, 4-8h, 8-24h, 24h+.
pub fn histogram(seconds: &[i64]) -> Value {
    let mut buckets = [0i64; 5];
    for s in seconds {
        let i = match *s {
            s if s < 3_600 => 0,
            s if s < 4 * 3_600 => 1,
            s if s < 8 * 3_600 => 2,
            s if s < 24 * 3_600 => 3,
            _ => 4,
        };
        buckets[i] += 1;
    }
    json!({"0-1h": buckets[0], "1-4h": buckets[1], "4-8h": buckets[2], "8-24h": buckets[3], "24h+": buckets[4]})
}

/// The summary's JSON: the pinned keys (docs/analytics.md) and the rest of the definitions. Rates are 0-1 with four decimals, null when nothing was there to count.
pub fn to_json(from: DateTime<Utc>, to: DateTime<Utc>, c: &Counts, scope: &Scope) -> Value {
    let all = scope.is_all();
    let only_all = |v: Value| if all { v } else { Value::Null };
    let other_orders = c.orders - c.conversions;
    json!({
        "period": {"from": from.to_rfc3339(), "to": to.to_rfc3339()},
        "messages_inbound": c.messages_inbound,
        "messages_outbound": c.messages_outbound,
        "delivered_rate": ratio(c.delivered, c.messages_outbound),
        "reply_rate": ratio(c.replied, c.proactive),
        "containment_rate": only_all(ratio(c.contained, c.conversations)),
        "escalation_rate": only_all(ratio(c.escalated, c.conversations)),
        "resolution_rate": only_all(ratio(c.resolved, c.resolvable)),
        "first_response_seconds_p50": only_all(json!(median(&c.first_responses))),
        "opt_out_rate": ratio(c.opted_out, c.proactive),
        "click_rate": ratio(c.clicked, c.linked),
        "conversions": c.conversions,
        "attributed_revenue_cents": c.revenue_cents,
        "recovered_checkouts": c.recovered_checkouts,
        "delivery_failure_rate": ratio(c.failed, c.messages_outbound),
        "delivery_failures": c.failures,
        "conversations": only_all(json!(c.conversations)),
        "escalations_by_reason": only_all(json!(c.escalations)),
        "resolutions": only_all(json!({"confirmed": c.resolved_confirmed, "assumed": c.resolved - c.resolved_confirmed})),
        "first_response_histogram": only_all(histogram(&c.first_responses)),
        "resolution_seconds_p50": only_all(json!(median(&c.resolution_times))),
        "texts_started": c.proactive,
        "revenue_per_recipient_cents": if c.proactive == 0 { Value::Null } else { json!(c.revenue_cents / c.proactive) },
        "recovery_rate": ratio(c.recovered_checkouts, c.checkouts_texted),
        "average_order_value_cents": only_all(json!({
            "assisted": if c.conversions == 0 { Value::Null } else { json!(c.revenue_cents / c.conversions) },
            "other": if other_orders <= 0 { Value::Null } else { json!((c.order_revenue_cents - c.revenue_cents) / other_orders) },
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_nearest_rank() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[9, 1, 5]), Some(5));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
    }

    #[test]
    fn first_responses_fall_in_chatwoots_buckets() {
        let h = histogram(&[0, 3_599, 3_600, 5 * 3_600, 9 * 3_600, 30 * 3_600]);
        assert_eq!(h, json!({"0-1h": 2, "1-4h": 1, "4-8h": 1, "8-24h": 1, "24h+": 1}));
    }
}
