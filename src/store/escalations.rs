//! Escalations: conversations handed to a person.

use chrono::Utc;

use super::notifications::{self, Assignee};
use super::webhook_events::{self, Event};
use super::{Db, Tx, with_db, with_db_write, with_tx};
use crate::domain::{EscalationReason, EscalationStatus, Phone};

/// An open or resolved escalation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EscalationRow {
    pub id: i64,
    pub conversation_id: i64,
    pub turn_id: Option<i64>,
    pub reason: EscalationReason,
    pub details: String,
    pub status: EscalationStatus,
}

/// Opens an escalation. `details` is JSON (the failed claims, the draft, the error); its
/// `priority` (default normal) and `sla_due` (default now: nobody said it can wait) are
/// copied into columns so the queue sorts and pages in SQL.
pub async fn insert_escalation(
    tx: &mut Tx,
    conversation_id: i64,
    turn_id: Option<i64>,
    reason: EscalationReason,
    details: &str,
) -> anyhow::Result<i64> {
    let now = Utc::now();
    let parsed: serde_json::Value = serde_json::from_str(details).unwrap_or_default();
    let priority = if parsed["priority"] == "high" { "high" } else { "normal" };
    let sla_due = parsed["sla_due"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into escalations (conversation_id, turn_id, reason, details, status, created_at, priority, sla_due)
         values ($1, $2, $3, $4, 'open', $5, $6, $7) returning id",
        )
        .bind(conversation_id)
        .bind(turn_id)
        .bind(reason.as_str())
        .bind(details)
        .bind(now)
        .bind(priority)
        .bind(sla_due)
        .fetch_one(conn)
        .await
    })?;
    webhook_events::emit(tx, Event::Escalated { escalation_id: id, conversation_id, reason, priority }).await?;
    notifications::escalation_opened(tx, id, priority == "high").await?;
    Ok(id)
}

/// Escalations of a conversation, oldest first.
pub async fn escalations_for_conversation(db: &Db, conversation_id: i64) -> anyhow::Result<Vec<EscalationRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, EscalationRow>(
        "select id, conversation_id, turn_id, reason, details, status from escalations
         where conversation_id = $1 order by id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Counts open escalations (metrics, tests).
pub async fn count_open_escalations(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from escalations where status = 'open'")
        .fetch_one(p)
        .await)?;
    Ok(n)
}

/// The conversation's newest open escalation, inside a transaction.
pub async fn open_escalation_in_tx(tx: &mut Tx, conversation_id: i64) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "select id from escalations where conversation_id = $1 and status = 'open' order by id desc limit 1"
    )
    .bind(conversation_id)
    .fetch_optional(conn)
    .await)?;
    Ok(id)
}

/// An escalation as a reviewer lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct EscalationSummary {
    pub id: i64,
    pub conversation_id: i64,
    pub turn_id: Option<i64>,
    pub reason: EscalationReason,
    /// JSON text: reasons, priority, SLA due time, the draft and its guard findings, scores.
    pub details: String,
    pub status: EscalationStatus,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    /// Texts that arrived after it opened and attached to it.
    pub attached_messages: i64,
    /// The reviewer who claimed it.
    pub assigned_name: Option<String>,
}

/// Escalations with this status, oldest first, at most `limit`.
pub async fn list_escalations(db: &Db, status: EscalationStatus, limit: i64) -> anyhow::Result<Vec<EscalationSummary>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, EscalationSummary>(
        "select e.id, e.conversation_id, e.turn_id, e.reason, e.details, e.status, e.resolution, e.resolved_by,
                e.created_at, (select count(*) from turns t where t.escalation_id = e.id) as attached_messages,
                (select r.name from reviewers r where r.id = e.assigned_to) as assigned_name
         from escalations e where e.status = $1 order by e.id limit $2"
    )
    .bind(status.as_str())
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// How a reviewer closes an escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The person answered the customer.
    Resolved,
    /// The person hands the conversation back to the bot.
    HandedBack,
}

/// What closing an escalation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Closed, with every other open escalation of its conversation, whose id this is.
    Conversation(i64),
    /// It was already closed.
    AlreadyClosed,
    NotFound,
}

/// Closes escalation `id` and every other open escalation of its conversation (a person has
/// dealt with the thread), in `tx`. The caller gives the conversation back to the bot.
pub async fn close_escalation(tx: &mut Tx, id: i64, resolution: Resolution, reviewer: &str) -> anyhow::Result<Closed> {
    let row = with_tx!(tx, |conn| sqlx::query_as::<_, (i64, EscalationStatus)>(
        "select conversation_id, status from escalations where id = $1"
    )
    .bind(id)
    .fetch_optional(conn)
    .await)?;
    let Some((conversation_id, status)) = row else { return Ok(Closed::NotFound) };
    if status != EscalationStatus::Open {
        return Ok(Closed::AlreadyClosed);
    }
    let resolution = match resolution {
        Resolution::Resolved => "resolved",
        Resolution::HandedBack => "handed_back",
    };
    with_tx!(tx, |conn| sqlx::query(
        "update escalations set status = 'resolved', resolution = $1, resolved_by = $2, resolved_at = $3
         where conversation_id = $4 and status = 'open'"
    )
    .bind(resolution)
    .bind(reviewer)
    .bind(Utc::now())
    .bind(conversation_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    webhook_events::emit(tx, Event::EscalationResolved { escalation_id: id, resolution, resolved_by: reviewer })
        .await?;
    Ok(Closed::Conversation(conversation_id))
}

/// Closes escalation `id` (and the other open ones of its conversation) and gives the
/// conversation back to the bot, in one transaction: from the next text on, the bot answers.
pub async fn close_and_release(db: &Db, id: i64, resolution: Resolution, reviewer: &str) -> anyhow::Result<Closed> {
    let mut tx = db.begin().await?;
    let closed = close_escalation(&mut tx, id, resolution, reviewer).await?;
    if let Closed::Conversation(conversation_id) = closed {
        super::conversations::set_conversation_state(
            &mut tx,
            conversation_id,
            super::conversations::ConversationState::Bot,
        )
        .await?;
    }
    tx.commit().await?;
    announce_change();
    Ok(closed)
}

/// One escalation with its conversation's number and who has claimed it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EscalationDetail {
    pub id: i64,
    pub conversation_id: i64,
    pub turn_id: Option<i64>,
    pub phone: Phone,
    pub reason: EscalationReason,
    pub details: String,
    pub status: EscalationStatus,
    pub created_at: chrono::DateTime<Utc>,
    pub assigned_to: Option<i64>,
    pub assigned_name: Option<String>,
    /// The team it is assigned to, when assigned to a team.
    pub assigned_team: Option<String>,
}

pub async fn escalation(db: &Db, id: i64) -> anyhow::Result<Option<EscalationDetail>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, EscalationDetail>(
        "select e.id, e.conversation_id, e.turn_id, c.phone, e.reason, e.details, e.status, e.created_at, e.assigned_to,
                r.name as assigned_name, e.assigned_team
         from escalations e join conversations c on c.id = e.conversation_id
         left join reviewers r on r.id = e.assigned_to where e.id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await
    })?;
    Ok(row)
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The reviewer holds it now.
    Held,
    /// Another reviewer holds it (their name); take it over explicitly to act.
    HeldBy(String),
    /// It is closed.
    Closed,
    /// There is no such escalation.
    NotFound,
}

/// Claims escalation `id` for `reviewer_id`: when it is free or already theirs, or, with
/// `take_over`, from whoever holds it.
pub async fn claim(db: &Db, id: i64, reviewer_id: i64, take_over: bool) -> anyhow::Result<Claimed> {
    let Some(e) = escalation(db, id).await? else { return Ok(Claimed::NotFound) };
    if e.status != EscalationStatus::Open {
        return Ok(Claimed::Closed);
    }
    if let (Some(holder), Some(name)) = (e.assigned_to, e.assigned_name)
        && holder != reviewer_id
        && !take_over
    {
        return Ok(Claimed::HeldBy(name));
    }
    // Only where nobody else got there in between (unless taking over).
    let updated = with_db_write!(db, |p| sqlx::query(
        "update escalations set assigned_to = $1, assigned_at = $2
         where id = $3 and status = 'open' and ($4 or assigned_to is null or assigned_to = $1 or assigned_to = $5)"
    )
    .bind(reviewer_id)
    .bind(Utc::now())
    .bind(id)
    .bind(take_over)
    .bind(e.assigned_to.unwrap_or(reviewer_id))
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    if updated == 1 {
        announce_change();
        return Ok(Claimed::Held);
    }
    // Someone claimed or closed it since it was read.
    Ok(match escalation(db, id).await? {
        Some(e) if e.status == EscalationStatus::Open => Claimed::HeldBy(e.assigned_name.unwrap_or_default()),
        Some(_) => Claimed::Closed,
        None => Claimed::NotFound,
    })
}

/// What an assignment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// Assigned; the assignee will be told.
    Done,
    Closed,
    NotFound,
}

/// Assigns open escalation `id` to a reviewer (who then holds it, as after a claim) or to a
/// team (nobody holds it until a member claims it), in one transaction with the
/// `escalation.assigned` webhook event and the notification of the assignee.
/// `reviewer_id` is the assignee's id when `assignee` is a reviewer.
pub async fn assign(
    db: &Db,
    id: i64,
    assignee: &Assignee,
    reviewer_id: Option<i64>,
    assigned_by: &str,
) -> anyhow::Result<Assigned> {
    let team = match assignee {
        Assignee::Team(team) => Some(team.as_str()),
        Assignee::Reviewer(_) => None,
    };
    let mut tx = db.begin().await?;
    let updated = with_tx!(&mut tx, |conn| {
        sqlx::query(
        "update escalations set assigned_to = $1, assigned_team = $2, assigned_at = $3 where id = $4 and status = 'open'"
    )
    .bind(reviewer_id)
    .bind(team)
    .bind(Utc::now())
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    if updated == 0 {
        tx.rollback().await?;
        return Ok(match escalation(db, id).await? {
            Some(_) => Assigned::Closed,
            None => Assigned::NotFound,
        });
    }
    let key = assignee.key();
    webhook_events::emit(&mut tx, Event::EscalationAssigned { escalation_id: id, assignee: &key, assigned_by }).await?;
    notifications::escalation_assigned(&mut tx, id, assignee).await?;
    tx.commit().await?;
    announce_change();
    Ok(Assigned::Done)
}

/// A row of the console's queue.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct QueueRow {
    pub id: i64,
    pub conversation_id: i64,
    pub phone: Phone,
    pub customer_name: Option<String>,
    /// JSON text; the queue reads the reason codes from it.
    pub details: String,
    pub priority: String,
    pub sla_due: Option<chrono::DateTime<Utc>>,
    pub created_at: chrono::DateTime<Utc>,
    pub attached_messages: i64,
    pub assigned_name: Option<String>,
    /// The customer's newest text.
    pub last_message: Option<String>,
}

/// One page of the queue and how many escalations match in all.
#[derive(Debug, Clone)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub total: i64,
}

/// The queue: escalations with `status` (and, when `reason` is not empty, with that reason
/// code among their reasons). Open ones are ordered high priority first, then by SLA due
/// time; resolved ones newest first. `reason` must be a plain word (letters and `_`): a
/// reviewer's filter, matched as text, so a word that is no reason code finds nothing.
pub async fn queue(
    db: &Db,
    status: EscalationStatus,
    reason: &str,
    limit: i64,
    offset: i64,
) -> anyhow::Result<QueuePage> {
    anyhow::ensure!(reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "reason codes are lowercase words");
    // `details` is compact JSON written by serde_json, so a reason appears as "code":"x".
    let pattern = format!("%\"code\":\"{reason}\"%");
    let order = if status == EscalationStatus::Open {
        // 'high' sorts before 'normal': the order of index escalations_queue.
        "e.priority, e.sla_due, e.id"
    } else {
        "e.id desc"
    };
    // Built from the constant fragments above; the filter is bound, never spliced.
    let sql = format!(
        "select e.id, e.conversation_id, c.phone, cu.name as customer_name, e.details, e.priority, e.sla_due,
                e.created_at, (select count(*) from turns t where t.escalation_id = e.id) as attached_messages,
                r.name as assigned_name,
                (select m.body from messages m where m.conversation_id = e.conversation_id and m.direction = 'in'
                 order by m.id desc limit 1) as last_message
         from escalations e join conversations c on c.id = e.conversation_id
         left join customers cu on cu.id = c.customer_id
         left join reviewers r on r.id = e.assigned_to
         where e.status = $1 and ($2 = '' or e.reason = $2 or e.details like $3)
         order by {order} limit $4 offset $5"
    );
    let rows = with_db!(db, |p| sqlx::query_as::<_, QueueRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(status.as_str())
        .bind(reason)
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?;
    let total = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from escalations e where e.status = $1 and ($2 = '' or e.reason = $2 or e.details like $3)"
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(&pattern)
    .fetch_one(p)
    .await)?;
    Ok(QueuePage { rows, total })
}

/// The primary reason codes among escalations with `status` (the queue's filter choices).
pub async fn reason_codes(db: &Db, status: EscalationStatus) -> anyhow::Result<Vec<EscalationReason>> {
    let codes = with_db!(db, |p| sqlx::query_scalar::<_, EscalationReason>(
        "select distinct reason from escalations where status = $1 order by reason"
    )
    .bind(status.as_str())
    .fetch_all(p)
    .await)?;
    Ok(codes)
}

/// Bumped after every committed change to escalations in this process (opened, claimed,
/// closed, a text attached). The console's live queue waits on it; changes made by another
/// process reach it through the queue's periodic re-check instead.
static CHANGES: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// Tells live consoles that escalations changed; call it after the change is committed.
pub fn announce_change() {
    CHANGES.send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver that wakes on [`announce_change`].
pub fn subscribe_changes() -> tokio::sync::watch::Receiver<u64> {
    CHANGES.subscribe()
}
