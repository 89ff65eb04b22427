//! What analytics reads and writes (docs/analytics.md): one customer's evidence and an
//! order's attribution, the rows a period's counts are made from, and the daily roll-ups.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Db, with_db, with_db_write, with_tx};
use crate::domain::attribution::{Attributed, Click, Evidence, Text};

/// An order waiting for its attribution.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaleOrder {
    pub id: i64,
    pub customer_id: i64,
    pub ordered_at: DateTime<Utc>,
    pub status: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub discount_codes: Option<String>,
    pub total_cents: i64,
    pub checkout_token: Option<String>,
    /// How many changes have made it stale since it was last attributed, as read: the write
    /// is kept only while no change came after the read ([`write_attributions`]).
    pub attribution_stale: i32,
}

/// Up to `limit` orders whose attribution is to be (re)computed, oldest first.
pub async fn stale_orders(db: &Db, limit: i64) -> anyhow::Result<Vec<StaleOrder>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, StaleOrder>(
        "select id, customer_id, ordered_at, status, cancelled_at, discount_codes, total_cents, checkout_token,
             attribution_stale
         from orders where attribution_stale > 0 order by id limit $1"
    )
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// For each of `customers`: its conversation (none when the number never had one) and the
/// evidence of it: every text sent there, every click on their links, every text they sent.
/// Four queries for the whole batch.
pub async fn evidence(db: &Db, customers: &[i64]) -> anyhow::Result<std::collections::HashMap<i64, (i64, Evidence)>> {
    use std::collections::HashMap;
    if customers.is_empty() {
        return Ok(HashMap::new());
    }
    macro_rules! in_list {
        ($sql:expr, $ids:expr, $row:ty) => {
            with_db!(db, |p| {
                let mut query = sqlx::QueryBuilder::new($sql);
                let mut list = query.separated(", ");
                for id in $ids {
                    list.push_bind(*id);
                }
                list.push_unseparated(")");
                query.build_query_as::<$row>().fetch_all(p).await
            })?
        };
    }
    let pairs = in_list!(
        "select c.id, v.id from customers c join conversations v on v.phone = c.phone where c.id in (",
        customers,
        (i64, i64)
    );
    let conversations: Vec<i64> = pairs.iter().map(|(_, v)| *v).collect();
    if conversations.is_empty() {
        return Ok(HashMap::new());
    }
    let mut by_conversation: HashMap<i64, Evidence> = HashMap::new();
    let texts = in_list!(
        "select conversation_id, id, sent_at, status, body from outbox
         where sent_at is not null and status in ('sent', 'delivered', 'failed') and conversation_id in (",
        &conversations,
        (i64, i64, DateTime<Utc>, String, String)
    );
    for (conversation, id, sent_at, status, body) in texts {
        let text = Text { id, sent_at, failed: status == "failed", body };
        by_conversation.entry(conversation).or_default().texts.push(text);
    }
    let clicks = in_list!(
        "select o.conversation_id, l.outbox_id, c.clicked_at, cast(c.preview as bigint) from link_clicks c
         join links l on l.id = c.link_id join outbox o on o.id = l.outbox_id where o.conversation_id in (",
        &conversations,
        (i64, i64, DateTime<Utc>, i64)
    );
    for (conversation, text, at, preview) in clicks {
        by_conversation.entry(conversation).or_default().clicks.push(Click { text, at, preview: preview != 0 });
    }
    let replies = in_list!(
        "select conversation_id, created_at from messages where direction = 'in' and conversation_id in (",
        &conversations,
        (i64, DateTime<Utc>)
    );
    for (conversation, at) in replies {
        by_conversation.entry(conversation).or_default().replies.push(at);
    }
    Ok(pairs
        .into_iter()
        .map(|(customer, conversation)| {
            (customer, (conversation, by_conversation.remove(&conversation).unwrap_or_default()))
        })
        .collect())
}

/// The checkout a text's flow run was about (`checkout_id` of its trigger), if any.
pub async fn text_checkout(db: &Db, outbox_id: i64) -> anyhow::Result<Option<String>> {
    let context = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select r.context from outbox o join flow_runs r on r.id = o.flow_run_id where o.id = $1"
    )
    .bind(outbox_id)
    .fetch_optional(p)
    .await)?;
    Ok(context.and_then(|c| {
        let v: serde_json::Value = serde_json::from_str(&c).ok()?;
        v["event"]["properties"]["checkout_id"].as_str().map(str::to_string)
    }))
}

/// One order's attribution, as [`write_attributions`] stores it.
pub struct Attribution<'a> {
    pub order: &'a StaleOrder,
    /// The customer's conversation (none: the number never had one).
    pub conversation: Option<i64>,
    /// The text (none: nobody's order).
    pub chosen: Option<Attributed>,
    /// The order completed the checkout the text's flow was about.
    pub recovered: bool,
}

/// Replaces each order's attribution (none: no row) and marks it computed; the roll-ups of
/// the orders' days are dropped. One transaction for the batch: running it twice is running
/// it once, and two passes on one order at once (the background pass and a summary) agree.
///
/// An order changed after it was read (a cancellation, an update: its `attribution_stale`
/// counted up) is left alone and stale, so the next pass attributes what it is now; clearing
/// it regardless lost the change (a cancelled order kept its revenue). The guarded clear
/// comes first: on PostgreSQL it waits for a concurrent writer of the order and then sees its
/// change. Returns how many orders were written.
pub async fn write_attributions(db: &Db, batch: &[Attribution<'_>]) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let mut days = std::collections::BTreeSet::new();
    let mut written = 0;
    for a in batch {
        let o = a.order;
        let cleared = with_tx!(&mut tx, |conn| sqlx::query(
            "update orders set attribution_stale = 0 where id = $1 and attribution_stale = $2"
        )
        .bind(o.id)
        .bind(o.attribution_stale)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
        if cleared == 0 {
            continue;
        }
        written += 1;
        with_tx!(&mut tx, |conn| sqlx::query("delete from attributions where order_id = $1")
            .bind(o.id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        if let (Some(chosen), Some(conversation)) = (&a.chosen, a.conversation) {
            with_tx!(&mut tx, |conn| {
                sqlx::query(
                "insert into attributions (order_id, outbox_id, conversation_id, touch, touched_at, flow, ab_test, ab_arm,
                     revenue_cents, ordered_at, recovered_checkout)
                 select $1, o.id, $2, $3, $4, r.flow, o.ab_test, o.ab_arm, $5, $6, $7
                 from outbox o left join flow_runs r on r.id = o.flow_run_id where o.id = $8
                 on conflict (order_id) do update set outbox_id = excluded.outbox_id,
                     conversation_id = excluded.conversation_id, touch = excluded.touch,
                     touched_at = excluded.touched_at, flow = excluded.flow, ab_test = excluded.ab_test,
                     ab_arm = excluded.ab_arm, revenue_cents = excluded.revenue_cents,
                     ordered_at = excluded.ordered_at, recovered_checkout = excluded.recovered_checkout"
            )
            .bind(o.id)
            .bind(conversation)
            .bind(chosen.touch.as_str())
            .bind(chosen.at)
            .bind(o.total_cents)
            .bind(o.ordered_at)
            .bind(i32::from(a.recovered))
            .bind(chosen.text)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
        days.insert(day_of(o.ordered_at));
    }
    for day in days {
        with_tx!(&mut tx, |conn| mark_changed(&day).execute(conn).await.map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(written)
}

/// An order's attribution: `(outbox id, touch)`.
pub async fn attribution_of(db: &Db, order_id: i64) -> anyhow::Result<Option<(i64, String)>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (i64, String)>(
        "select outbox_id, touch from attributions where order_id = $1"
    )
    .bind(order_id)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// The UTC day of `at`, as roll-ups are keyed.
pub fn day_of(at: DateTime<Utc>) -> String {
    at.date_naive().format("%Y-%m-%d").to_string()
}

/// Drops the roll-up of the day the text with outbox id `outbox_id` or provider id
/// `provider_sid` was sent (a late click or delivery report changed its counts).
pub async fn forget_send_day(db: &Db, outbox_id: Option<i64>, provider_sid: Option<&str>) -> anyhow::Result<()> {
    let sent = with_db!(db, |p| sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "select sent_at from outbox where id = $1 or provider_sid = $2 limit 1"
    )
    .bind(outbox_id)
    .bind(provider_sid)
    .fetch_optional(p)
    .await)?;
    if let Some(Some(at)) = sent {
        let day = day_of(at);
        with_db_write!(db, |p| mark_changed(&day).execute(p).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Marks `day`'s roll-up changed: counts up its `changes` (a row with empty counts, made at
/// the epoch, when the day has none yet), so it is counted again before it is used (migration
/// 0021). For either database: the caller executes it.
fn mark_changed<DB: sqlx::Database>(day: &str) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments>
where
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "insert into analytics_days (day, counts, computed_at, changes) values ($1, '', $2, 1)
         on conflict (day) do update set changes = analytics_days.changes + 1",
    )
    .bind(day)
    .bind(DateTime::<Utc>::UNIX_EPOCH)
}

/// A day's stored roll-up.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rollup {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// JSON of `analytics::Counts`; empty when the day was changed before it was ever rolled up.
    pub counts: String,
    pub computed_at: DateTime<Utc>,
    /// Changes since it was counted: it is out of date unless 0.
    pub changes: i64,
}

/// The stored roll-ups of the days `first` to `last`.
pub async fn rollups(db: &Db, first: NaiveDate, last: NaiveDate) -> anyhow::Result<Vec<Rollup>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, Rollup>(
        "select day, counts, computed_at, changes from analytics_days where day >= $1 and day <= $2"
    )
    .bind(first.format("%Y-%m-%d").to_string())
    .bind(last.format("%Y-%m-%d").to_string())
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// The stored roll-ups of the days `first` to `last`, and those of any other day changed since
/// it was counted (what the background refresher looks at).
pub async fn rollups_to_refresh(db: &Db, first: NaiveDate, last: NaiveDate) -> anyhow::Result<Vec<Rollup>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, Rollup>(
        "select day, counts, computed_at, changes from analytics_days
         where (day >= $1 and day <= $2) or changes > 0"
    )
    .bind(first.format("%Y-%m-%d").to_string())
    .bind(last.format("%Y-%m-%d").to_string())
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Stores a day's counts, made at `at` from the rows as they were when its roll-up had seen
/// `seen` changes (0 when there was none). Returns false, and stores nothing, when a change
/// arrived meanwhile: the day stays out of date and is counted again.
pub async fn put_rollup(db: &Db, day: NaiveDate, counts: &str, at: DateTime<Utc>, seen: i64) -> anyhow::Result<bool> {
    let stored = with_db_write!(db, |p| sqlx::query(
        "insert into analytics_days (day, counts, computed_at, changes) values ($1, $2, $3, 0)
         on conflict (day) do update set counts = excluded.counts, computed_at = excluded.computed_at, changes = 0
         where analytics_days.changes = $4"
    )
    .bind(day.format("%Y-%m-%d").to_string())
    .bind(counts)
    .bind(at)
    .bind(seen)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(stored == 1)
}

/// The deliverability alerts raised now: `(metric, rate, threshold, raised at)`.
pub async fn raised_alerts(db: &Db) -> anyhow::Result<Vec<(String, f64, f64, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, f64, f64, DateTime<Utc>)>(
        "select metric, value, threshold, raised_at from analytics_alerts order by metric"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Raises `metric`'s alert unless it is raised (its rate is updated then); a new alert emits
/// the `deliverability.alert` webhook event in the same transaction. True when new.
pub async fn raise_alert(db: &Db, metric: &str, rate: f64, threshold: f64, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let inserted = with_tx!(&mut tx, |conn| sqlx::query(
        "insert into analytics_alerts (metric, value, threshold, raised_at) values ($1, $2, $3, $4)
         on conflict (metric) do nothing"
    )
    .bind(metric)
    .bind(rate)
    .bind(threshold)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if inserted == 0 {
        with_tx!(&mut tx, |conn| sqlx::query("update analytics_alerts set value = $2 where metric = $1")
            .bind(metric)
            .bind(rate)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
    } else {
        let event = super::webhook_events::Event::DeliverabilityAlert { metric, rate, threshold, until: now };
        super::webhook_events::emit(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(inserted == 1)
}

/// Clears `metric`'s alert (its rate is back within the threshold).
pub async fn clear_alert(db: &Db, metric: &str) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query("delete from analytics_alerts where metric = $1")
        .bind(metric)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whole-history totals for `/metrics`: `(name, label value, count)` rows per family.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Messages by direction (`in`, `out`).
    pub messages: Vec<(String, i64)>,
    /// Outbox rows by status.
    pub outbox: Vec<(String, i64)>,
    /// Link requests: `(true for a preview, count)`.
    pub clicks: Vec<(i64, i64)>,
    /// Escalations by reason.
    pub escalations: Vec<(String, i64)>,
    pub opt_outs: i64,
    pub attributed_orders: i64,
    pub attributed_revenue_cents: i64,
    /// Deliverability alerts raised now, by metric.
    pub alerts: Vec<String>,
}

/// See [`Totals`]: a handful of grouped counts, each on an indexed column.
pub async fn totals(db: &Db) -> anyhow::Result<Totals> {
    let messages = with_db!(db, |p| sqlx::query_as::<_, (String, i64)>(
        "select direction, count(*) from messages group by direction order by direction"
    )
    .fetch_all(p)
    .await)?;
    let outbox = with_db!(db, |p| sqlx::query_as::<_, (String, i64)>(
        "select status, count(*) from outbox group by status order by status"
    )
    .fetch_all(p)
    .await)?;
    let clicks = with_db!(db, |p| sqlx::query_as::<_, (i64, i64)>(
        "select cast(preview as bigint), count(*) from link_clicks group by preview order by preview"
    )
    .fetch_all(p)
    .await)?;
    let escalations = with_db!(db, |p| sqlx::query_as::<_, (String, i64)>(
        "select reason, count(*) from escalations group by reason order by reason"
    )
    .fetch_all(p)
    .await)?;
    let opt_outs =
        with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from consent_events where kind = 'opt_out'")
            .fetch_one(p)
            .await)?;
    let (attributed_orders, attributed_revenue_cents) = with_db!(db, |p| sqlx::query_as::<_, (i64, i64)>(
        "select count(*), cast(coalesce(sum(revenue_cents), 0) as bigint) from attributions"
    )
    .fetch_one(p)
    .await)?;
    let alerts =
        with_db!(db, |p| sqlx::query_scalar::<_, String>("select metric from analytics_alerts order by metric")
            .fetch_all(p)
            .await)?;
    Ok(Totals { messages, outbox, clicks, escalations, opt_outs, attributed_orders, attributed_revenue_cents, alerts })
}

/// True when the database holds the demo's made-up history (`serve --demo`).
pub async fn has_demo_history(db: &Db) -> anyhow::Result<bool> {
    let n =
        with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from events where source = 'demo_history'")
            .fetch_one(p)
            .await)?;
    Ok(n > 0)
}

/// An attributed order, as `GET /api/v1/analytics/attributions` lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AttributionRow {
    pub order: String,
    pub ordered_at: DateTime<Utc>,
    pub revenue_cents: i64,
    pub outbox_id: i64,
    pub conversation_id: i64,
    pub touch: String,
    pub touched_at: DateTime<Utc>,
    pub flow: Option<String>,
    pub ab_test: Option<String>,
    pub ab_arm: Option<String>,
    pub recovered_checkout: i64,
}

/// The orders placed in `[from, to)` that are attributed, newest first, at most `limit`.
pub async fn attributions(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> anyhow::Result<Vec<AttributionRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, AttributionRow>(
        "select o.external_id as \"order\", a.ordered_at, a.revenue_cents, a.outbox_id, a.conversation_id, a.touch,
                a.touched_at, a.flow, a.ab_test, a.ab_arm, cast(a.recovered_checkout as bigint) as recovered_checkout
         from attributions a join orders o on o.id = a.order_id
         where a.ordered_at >= $1 and a.ordered_at < $2 order by a.ordered_at desc, a.order_id desc limit $3"
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
