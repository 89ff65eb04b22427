//! SQL of A/B tests: which arm each text went in, each arm's outcomes, a test's winner.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{Db, Tx, with_db, with_tx};

/// How long after a text its recipient's reply, opt-out or order counts for its arm.
pub const ATTRIBUTION_DAYS: i64 = 7;

/// Marks outbox row `outbox_id` as sent in `arm` of `test`.
pub async fn tag_outbox(tx: &mut Tx, outbox_id: i64, test: &str, arm: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update outbox set ab_test = $1, ab_arm = $2 where id = $3")
        .bind(test)
        .bind(arm)
        .bind(outbox_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Texts sent in each arm of `test`.
pub async fn recipients(db: &Db, test: &str) -> anyhow::Result<HashMap<String, u64>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, i64)>(
        "select ab_arm, count(*) from outbox where ab_test = $1 and status in ('sent', 'delivered') group by ab_arm"
    )
    .bind(test)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(|(arm, n)| (arm, n as u64)).collect())
}

/// What one arm's recipients did within [`ATTRIBUTION_DAYS`] of their text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmOutcome {
    pub recipients: u64,
    pub replied: u64,
    pub opted_out: u64,
    pub ordered: u64,
    /// Recipients who opened a tracked link of the text (a person, not a preview fetcher).
    pub clicked: u64,
}

/// Each arm's [`ArmOutcome`], by arm name.
pub async fn outcomes(db: &Db, test: &str) -> anyhow::Result<HashMap<String, ArmOutcome>> {
    let sent = with_db!(db, |p| sqlx::query_as::<_, (String, i64, String, DateTime<Utc>, i64)>(
        "select ab_arm, conversation_id, to_phone, sent_at, id from outbox
         where ab_test = $1 and status in ('sent', 'delivered') and sent_at is not null"
    )
    .bind(test)
    .fetch_all(p)
    .await)?;
    let clicks = with_db!(db, |p| sqlx::query_as::<_, (i64, DateTime<Utc>)>(
        "select l.outbox_id, c.clicked_at from link_clicks c join links l on l.id = c.link_id
         join outbox o on o.id = l.outbox_id where o.ab_test = $1 and c.preview = 0"
    )
    .bind(test)
    .fetch_all(p)
    .await)?;
    let mut clicks_of: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (outbox, at) in clicks {
        clicks_of.entry(outbox).or_default().push(at);
    }
    let replies = with_db!(db, |p| sqlx::query_as::<_, (i64, DateTime<Utc>)>(
        "select conversation_id, created_at from messages
         where direction = 'in' and conversation_id in (select conversation_id from outbox where ab_test = $1)"
    )
    .bind(test)
    .fetch_all(p)
    .await)?;
    let opt_outs = with_db!(db, |p| sqlx::query_as::<_, (String, DateTime<Utc>)>(
        "select phone, created_at from consent_events
         where kind = 'opt_out' and phone in (select to_phone from outbox where ab_test = $1)"
    )
    .bind(test)
    .fetch_all(p)
    .await)?;
    let orders = with_db!(db, |p| {
        sqlx::query_as::<_, (Option<String>, DateTime<Utc>)>(
        "select coalesce(c.phone, e.phone), e.occurred_at from events e left join customers c on c.id = e.customer_id
         where e.name = 'Order Completed'
           and (e.phone in (select to_phone from outbox where ab_test = $1)
                or c.phone in (select to_phone from outbox where ab_test = $1))"
    )
    .bind(test)
    .fetch_all(p)
    .await
    })?;
    let window = Duration::days(ATTRIBUTION_DAYS);
    let mut replies_of: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (conversation, at) in replies {
        replies_of.entry(conversation).or_default().push(at);
    }
    let mut opt_outs_of: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (phone, at) in opt_outs {
        opt_outs_of.entry(phone).or_default().push(at);
    }
    let mut orders_of: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for (phone, at) in orders {
        if let Some(phone) = phone {
            orders_of.entry(phone).or_default().push(at);
        }
    }
    let within = |times: Option<&Vec<DateTime<Utc>>>, at: DateTime<Utc>| {
        u64::from(times.is_some_and(|ts| ts.iter().any(|t| *t > at && *t <= at + window)))
    };
    let mut out: HashMap<String, ArmOutcome> = HashMap::new();
    for (arm, conversation, phone, at, outbox) in sent {
        let o = out.entry(arm).or_default();
        o.clicked +=
            u64::from(clicks_of.get(&outbox).is_some_and(|ts| ts.iter().any(|t| *t >= at && *t <= at + window)));
        o.recipients += 1;
        o.replied += within(replies_of.get(&conversation), at);
        o.opted_out += within(opt_outs_of.get(&phone), at);
        o.ordered += within(orders_of.get(&phone), at);
    }
    Ok(out)
}

/// A test's winner: `(arm, reason, decided_at)`.
pub async fn winner(db: &Db, test: &str) -> anyhow::Result<Option<(String, String, DateTime<Utc>)>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (String, String, DateTime<Utc>)>(
        "select arm, reason, decided_at from ab_winners where test = $1"
    )
    .bind(test)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// Records a test's winner; the first one recorded stays (another process may have called
/// it a moment earlier). Returns the winner in force.
pub async fn set_winner(tx: &mut Tx, test: &str, arm: &str, reason: &str, at: DateTime<Utc>) -> anyhow::Result<String> {
    let arm = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>(
        "insert into ab_winners (test, arm, reason, decided_at) values ($1, $2, $3, $4)
         on conflict (test) do update set test = excluded.test
         returning arm"
    )
    .bind(test)
    .bind(arm)
    .bind(reason)
    .bind(at)
    .fetch_one(conn)
    .await)?;
    Ok(arm)
}
