//! SQL of running flows: one row per customer's pass through a flow (`flow_runs`), and the
//! link from a conversation to the flow whose text it answers.
//!
//! A run's `step` and `status` are its fence: every change is a conditional update on the
//! step it expects, so a step job that runs twice (a worker killed after its effects
//! committed is impossible, but a retried job is not) changes nothing the second time.

use chrono::{DateTime, Utc};

use super::{Db, Tx, with_db, with_tx};

/// Where a run is.
pub mod status {
    /// A step is due (a job waits in the queue).
    pub const WAITING: &str = "waiting";
    /// Every step ran.
    pub const DONE: &str = "done";
    /// An exit event, an opt-out or the send window ended it.
    pub const EXITED: &str = "exited";
    /// It never entered (an entry limit; no phone).
    pub const SKIPPED: &str = "skipped";
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub flow: &'a str,
    pub trigger_event: i64,
    pub customer_id: Option<i64>,
    pub phone: &'a str,
    /// JSON: what the steps and replies know.
    pub context: &'a str,
    /// `waiting`, or `skipped` with a reason.
    pub status: &'static str,
    pub reason: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Records a run; `None` when this flow already has a run for this event (the trigger job
/// ran twice).
pub async fn insert_run(tx: &mut Tx, run: &NewRun<'_>) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into flow_runs (flow, trigger_event, customer_id, phone, context, step, status, reason, due_at, started_at, updated_at)
         values ($1, $2, $3, $4, $5, 0, $6, $7, null, $8, $8)
         on conflict (flow, trigger_event) do nothing
         returning id"
    )
    .bind(run.flow)
    .bind(run.trigger_event)
    .bind(run.customer_id)
    .bind(run.phone)
    .bind(run.context)
    .bind(run.status)
    .bind(run.reason)
    .bind(run.at)
    .fetch_optional(conn)
    .await
    })?;
    Ok(id)
}

/// A run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub flow: String,
    pub trigger_event: i64,
    pub customer_id: Option<i64>,
    pub phone: String,
    pub context: String,
    pub step: i32,
    pub status: String,
    pub reason: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub menu: Option<String>,
    pub started_at: DateTime<Utc>,
}

macro_rules! select_run {
    ($filter:literal) => {
        concat!(
            "select id, flow, trigger_event, customer_id, phone, context, step, status, reason, due_at, menu, started_at
             from flow_runs ",
            $filter
        )
    };
}

/// One run.
pub async fn run(db: &Db, id: i64) -> anyhow::Result<Option<RunRow>> {
    let row =
        with_db!(db, |p| sqlx::query_as::<_, RunRow>(select_run!("where id = $1")).bind(id).fetch_optional(p).await)?;
    Ok(row)
}

/// When this customer (by id, else by phone) last entered `flow`, skipped entries aside.
pub async fn last_entry(
    tx: &mut Tx,
    flow: &str,
    customer_id: Option<i64>,
    phone: &str,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    // By the number (every run has one; the index is on it), or the customer's other number.
    let at = with_tx!(tx, |conn| sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "select max(started_at) from flow_runs
         where flow = $1 and status <> 'skipped' and phone = $3
            or ($2 is not null and customer_id = $2 and flow = $1 and status <> 'skipped')"
    )
    .bind(flow)
    .bind(customer_id)
    .bind(phone)
    .fetch_one(conn)
    .await)?;
    Ok(at)
}

/// Where a run goes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Next {
    /// The index of the next step to run.
    pub step: i32,
    /// One of [`status`].
    pub status: &'static str,
    /// When that step is due, while waiting.
    pub due_at: Option<DateTime<Utc>>,
    /// Why it exited.
    pub reason: Option<String>,
}

/// Moves a run from step `from` (while waiting) to `next`. False when the run is not at
/// `from` any more: another attempt moved it.
pub async fn advance(tx: &mut Tx, id: i64, from: i32, next: &Next, at: DateTime<Utc>) -> anyhow::Result<bool> {
    let n = with_tx!(tx, |conn| sqlx::query(
        "update flow_runs set step = $1, status = $2, due_at = $3, reason = coalesce($4, reason), updated_at = $5
         where id = $6 and step = $7 and status = 'waiting'"
    )
    .bind(next.step)
    .bind(next.status)
    .bind(next.due_at)
    .bind(next.reason.as_deref())
    .bind(at)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Sets the menu a reply to the run's latest text may choose from (`None`: no menu).
pub async fn set_menu(tx: &mut Tx, id: i64, menu: Option<&str>) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update flow_runs set menu = $1 where id = $2")
        .bind(menu)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Closes the run's menu once a reply chose from it; false when it was already closed
/// (another attempt of the same turn did).
pub async fn close_menu(tx: &mut Tx, id: i64) -> anyhow::Result<bool> {
    let n = with_tx!(tx, |conn| sqlx::query("update flow_runs set menu = null where id = $1 and menu is not null")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// The waiting runs of `flow` for this customer (by id, else phone), with their contexts:
/// what an exit event is matched against.
pub async fn waiting_runs(
    tx: &mut Tx,
    flow: &str,
    customer_id: Option<i64>,
    phone: &str,
) -> anyhow::Result<Vec<RunRow>> {
    let rows = with_tx!(tx, |conn| sqlx::query_as::<_, RunRow>(select_run!(
        "where phone = $3 and flow = $1 and status = 'waiting'
            or ($2 is not null and customer_id = $2 and flow = $1 and status = 'waiting')
         order by id"
    ))
    .bind(flow)
    .bind(customer_id)
    .bind(phone)
    .fetch_all(conn)
    .await)?;
    Ok(rows)
}

/// Ends a waiting run (an exit event, an opt-out) whatever its step; false if it was not
/// waiting.
pub async fn exit_run(tx: &mut Tx, id: i64, reason: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
    let n = with_tx!(tx, |conn| sqlx::query(
        "update flow_runs set status = 'exited', reason = $1, due_at = null, updated_at = $2
         where id = $3 and status = 'waiting'"
    )
    .bind(reason)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// How many runs wait at each step of each flow: `(flow, step, count)`.
pub async fn waiting_counts(db: &Db) -> anyhow::Result<Vec<(String, i32, i64)>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, (String, i32, i64)>(
        "select flow, step, count(*) from flow_runs where status = 'waiting' group by flow, step order by flow, step"
    )
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}

/// Marks the conversation as answering run `run`'s text, sent at `at`.
pub async fn set_conversation_flow(
    tx: &mut Tx,
    conversation_id: i64,
    run: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update conversations set flow_run_id = $1, flow_sent_at = $2 where id = $3")
        .bind(run)
        .bind(at)
        .bind(conversation_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The flow a conversation last heard from: its run and when the text went.
pub async fn conversation_flow(db: &Db, conversation_id: i64) -> anyhow::Result<Option<(RunRow, DateTime<Utc>)>> {
    let link = with_db!(db, |p| sqlx::query_as::<_, (Option<i64>, Option<DateTime<Utc>>)>(
        "select flow_run_id, flow_sent_at from conversations where id = $1"
    )
    .bind(conversation_id)
    .fetch_optional(p)
    .await)?;
    let Some((Some(run_id), Some(sent_at))) = link else { return Ok(None) };
    Ok(run(db, run_id).await?.map(|r| (r, sent_at)))
}

/// The stored events named one of `names` for this customer (by id, else phone) at or after
/// `since`: what a step checks its flow's exits against.
pub async fn events_since(
    tx: &mut Tx,
    names: &[String],
    customer_id: Option<i64>,
    phone: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, String)>> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    // Two indexed lookups (the customer's events, the number's), merged by id; the names are
    // matched here (a list parameter is not written the same way on both databases).
    let rows = with_tx!(tx, |conn| sqlx::query_as::<_, (i64, String, String)>(
        "select id, name, properties from events where phone = $1 and occurred_at >= $2
         union
         select id, name, properties from events where $3 is not null and customer_id = $3 and occurred_at >= $2"
    )
    .bind(phone)
    .bind(since)
    .bind(customer_id)
    .fetch_all(conn)
    .await)?;
    Ok(rows.into_iter().filter(|(_, name, _)| names.contains(name)).map(|(_, n, p)| (n, p)).collect())
}

/// True when the customer wrote to the conversation after `since` and before message
/// `before_message_id`: the message is not the first reply to the flow's text.
pub async fn replied_since(
    db: &Db,
    conversation_id: i64,
    since: DateTime<Utc>,
    before_message_id: i64,
) -> anyhow::Result<bool> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from messages
         where conversation_id = $1 and direction = 'in' and id < $2 and created_at > $3"
    )
    .bind(conversation_id)
    .bind(before_message_id)
    .bind(since)
    .fetch_one(p)
    .await)?;
    Ok(n > 0)
}

/// The latest runs, newest first, optionally of one flow and one status (the API).
pub async fn latest_runs(db: &Db, flow: Option<&str>, status: Option<&str>, limit: i64) -> anyhow::Result<Vec<RunRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, RunRow>(select_run!(
        "where ($1 is null or flow = $1) and ($2 is null or status = $2) order by id desc limit $3"
    ))
    .bind(flow)
    .bind(status)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// A flow's text as the sender left it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunText {
    pub flow_run_id: i64,
    pub outbox_id: i64,
    /// `pending` (queued or deferred), `sent`, `delivered`, `suppressed` (skipped), ...
    pub status: String,
    /// Why it was skipped or failed.
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The texts of runs `first..=last` (ids), oldest first.
pub async fn run_texts(db: &Db, first: i64, last: i64) -> anyhow::Result<Vec<RunText>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, RunText>(
        "select flow_run_id, id as outbox_id, status, error, sent_at from outbox
         where flow_run_id between $1 and $2 order by id"
    )
    .bind(first)
    .bind(last)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// A flow's text as the sender left it, with what the rules are checked against.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentText {
    pub id: i64,
    pub to_phone: String,
    /// `promotional` or `transactional`.
    pub class: Option<String>,
    pub status: String,
    pub sent_at: Option<DateTime<Utc>>,
    /// The flow's name.
    pub subject: Option<String>,
}

/// Every flow's text, oldest first (`bench flows` checks the sending rules on them).
pub async fn all_flow_texts(db: &Db) -> anyhow::Result<Vec<SentText>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, SentText>(
        "select id, to_phone, class, status, sent_at, subject from outbox where flow_run_id is not null order by id"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// True when the number texted us after run `run_id`'s latest sent text (by message order,
/// whatever the clocks say), or, when the run has sent nothing yet, at or after `since` (a
/// flow's `wait_for` a reply).
pub async fn replied_to_run(tx: &mut Tx, phone: &str, run_id: i64, since: DateTime<Utc>) -> anyhow::Result<bool> {
    Ok(latest_reply_to_run(tx, phone, run_id, since).await?.is_some())
}

/// The latest text the number sent us after run `run_id`'s latest sent text (or, when the run
/// has sent nothing yet, at or after `since`): what a branch on the reply reads.
pub async fn latest_reply_to_run(
    tx: &mut Tx,
    phone: &str,
    run_id: i64,
    since: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let body = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>(
        "select m.body from messages m join conversations c on c.id = m.conversation_id
         where c.phone = $1 and m.direction = 'in'
           and case when exists (select 1 from outbox o where o.flow_run_id = $2 and o.provider_sid is not null)
                    then m.id > (select max(t.id) from messages t join outbox o on o.provider_sid = t.provider_sid
                                 where o.flow_run_id = $2)
                    else m.created_at >= $3 end
         order by m.id desc limit 1"
    )
    .bind(phone)
    .bind(run_id)
    .bind(since)
    .fetch_optional(conn)
    .await)?;
    Ok(body)
}
