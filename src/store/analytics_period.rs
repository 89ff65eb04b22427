//! The rows a period's analytics are counted from (docs/analytics.md). Each read is one
//! range scan on an indexed time column; the counting is done in `analytics::counts`.

use chrono::{DateTime, Utc};

use super::{Db, with_db};

/// Which texts a summary is about: every text, one flow's (a campaign's flow is
/// `campaign:{name}`), or one A/B arm's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub flow: Option<String>,
    pub ab: Option<(String, String)>,
}

impl Scope {
    pub fn is_all(&self) -> bool {
        self.flow.is_none() && self.ab.is_none()
    }

    fn binds(&self) -> (String, String, String) {
        let (test, arm) = self.ab.clone().unwrap_or_default();
        (self.flow.clone().unwrap_or_default(), test, arm)
    }
}

/// A text handed to the provider in the period.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentText {
    pub id: i64,
    pub conversation_id: i64,
    pub to_phone: String,
    pub kind: String,
    pub status: String,
    pub error: Option<String>,
    pub sent_at: DateTime<Utc>,
    /// 1 when it carried a tracked link.
    pub linked: i64,
    /// 1 when a person (not a preview fetcher) opened one of its links.
    pub clicked: i64,
    /// Its flow run, when the run was about a checkout (an abandoned-cart text).
    pub checkout_run: Option<i64>,
}

/// Texts sent in `[from, to)` within `scope`.
pub async fn texts(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>, scope: &Scope) -> anyhow::Result<Vec<SentText>> {
    let (flow, test, arm) = scope.binds();
    let rows = with_db!(db, |p| sqlx::query_as::<_, SentText>(
        "select o.id, o.conversation_id, o.to_phone, o.kind, o.status, o.error, o.sent_at,
                cast(case when exists (select 1 from links l where l.outbox_id = o.id) then 1 else 0 end as bigint)
                    as linked,
                cast(case when exists (select 1 from links l join link_clicks c on c.link_id = l.id
                                       where l.outbox_id = o.id and c.preview = 0) then 1 else 0 end as bigint)
                    as clicked,
                case when r.context like '%\"checkout_id\"%' then o.flow_run_id else null end as checkout_run
         from outbox o left join flow_runs r on r.id = o.flow_run_id
         where o.sent_at >= $1 and o.sent_at < $2 and o.status in ('sent', 'delivered', 'failed')
           and ($3 = '' or r.flow = $3) and ($4 = '' or (o.ab_test = $4 and o.ab_arm = $5))"
    )
    .bind(from)
    .bind(to)
    .bind(flow)
    .bind(test)
    .bind(arm)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Inbound texts in `[from, to)`: `(conversation, at)`.
pub async fn inbound(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<(i64, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, (i64, DateTime<Utc>)>(
        "select conversation_id, created_at from messages where created_at >= $1 and created_at < $2 and direction = 'in'"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}

/// Opt-outs recorded in `[from, to)`: `(phone, at)`.
pub async fn opt_outs(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, (String, DateTime<Utc>)>(
        "select phone, created_at from consent_events where created_at >= $1 and created_at < $2 and kind = 'opt_out'"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}

/// A pipeline run on an inbound text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TurnRow {
    pub conversation_id: i64,
    pub decision: String,
    pub intent: String,
    pub created_at: DateTime<Utc>,
}

/// Turns run in `[from, to)`.
pub async fn turns(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<TurnRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, TurnRow>(
        "select conversation_id, decision, intent, created_at from turns where created_at >= $1 and created_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Escalations made in `[from, to)`: `(conversation, reason, at)`.
pub async fn escalations(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<(i64, String, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (i64, String, DateTime<Utc>)>(
        "select conversation_id, reason, created_at from escalations where created_at >= $1 and created_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// A person's first reply after an escalation, for replies sent in `[from, to)`:
/// `(escalated at, replied at)` (Chatwoot's first response, counted when it happens).
pub async fn first_responses(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (DateTime<Utc>, DateTime<Utc>)>(
        "select e.created_at, o.sent_at from outbox o
         join escalations e on e.id = (select max(e2.id) from escalations e2
                                       where e2.conversation_id = o.conversation_id and e2.created_at <= o.sent_at)
         where o.kind = 'reviewer_reply' and o.sent_at >= $1 and o.sent_at < $2
           and not exists (select 1 from outbox p where p.conversation_id = o.conversation_id
                           and p.kind = 'reviewer_reply' and p.sent_at >= e.created_at and p.sent_at < o.sent_at)"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Escalations a person resolved in `[from, to)`: `(escalated at, resolved at)`.
pub async fn resolutions(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (DateTime<Utc>, DateTime<Utc>)>(
        "select created_at, resolved_at from escalations
         where resolution = 'resolved' and resolved_at >= $1 and resolved_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Orders placed in `[from, to)` and their attribution: `(total, not cancelled, attributed
/// revenue or null, recovered, attribution's flow, test, arm)`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub total_cents: i64,
    pub cancelled: i64,
    pub attributed: i64,
    pub revenue_cents: i64,
    pub recovered: i64,
    pub flow: Option<String>,
    pub ab_test: Option<String>,
    pub ab_arm: Option<String>,
}

/// See [`OrderRow`].
pub async fn orders(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<Vec<OrderRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, OrderRow>(
        "select o.total_cents,
                cast(case when o.status = 'cancelled' or o.cancelled_at is not null then 1 else 0 end as bigint)
                    as cancelled,
                cast(case when a.order_id is null then 0 else 1 end as bigint) as attributed,
                cast(coalesce(a.revenue_cents, 0) as bigint) as revenue_cents,
                cast(coalesce(a.recovered_checkout, 0) as bigint) as recovered,
                a.flow, a.ab_test, a.ab_arm
         from orders o left join attributions a on a.order_id = o.id
         where o.ordered_at >= $1 and o.ordered_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// The flows (campaigns' included) and A/B arms with texts sent in `[from, to)`.
pub async fn scopes(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<(Vec<String>, Vec<(String, String)>)> {
    let flows = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select distinct r.flow from outbox o join flow_runs r on r.id = o.flow_run_id
         where o.sent_at >= $1 and o.sent_at < $2 order by r.flow"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    let arms = with_db!(db, |p| sqlx::query_as::<_, (String, String)>(
        "select distinct ab_test, ab_arm from outbox
         where sent_at >= $1 and sent_at < $2 and ab_test is not null and ab_arm is not null order by ab_test, ab_arm"
    )
    .bind(from)
    .bind(to)
    .fetch_all(p)
    .await)?;
    Ok((flows, arms))
}

/// The messages stored in `[from, to)`: the benchmark's baseline (one indexed range count).
pub async fn count_messages(db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from messages where created_at >= $1 and created_at < $2"
    )
    .bind(from)
    .bind(to)
    .fetch_one(p)
    .await)?;
    Ok(n)
}
