//! Notifications to reviewers: the rows that say what to tell them, written in the
//! transaction of the change they are about, and which channels each one reached.
//!
//! - A high-priority escalation is `pending` with a job at once.
//! - A normal one `waits` until [`claim_digest`] gathers the waiting rows into one digest.
//! - An assignment is `pending` with a job at once.
//!
//! `escalation::notify` sends them (docs/reviewers.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, Tx, jobs, json_text, with_db, with_tx};

/// Job kind: send one notification (payload: `{"notification_id": …}`).
pub const KIND_NOTIFY: &str = "notify";

/// A notification job's attempts: an SMTP relay or Slack down for a while is retried with the
/// queue's backoff, then the row is `failed` with the reason.
const NOTIFY_MAX_ATTEMPTS: i32 = 8;

/// The job's payload.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct NotifyJob {
    pub notification_id: i64,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One new escalation (high priority, told at once).
    Escalation,
    /// The normal-priority escalations opened since the last digest.
    Digest,
    /// An escalation assigned to a reviewer or a team.
    Assigned,
}

impl Kind {
    fn parse(s: &str) -> anyhow::Result<Kind> {
        Ok(match s {
            "escalation" => Kind::Escalation,
            "digest" => Kind::Digest,
            "assigned" => Kind::Assigned,
            other => anyhow::bail!("unknown notification kind {other:?}"),
        })
    }
}

/// Who an escalation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Reviewer(String),
    Team(String),
}

impl Assignee {
    /// `reviewer:NAME` or `team:NAME`, as stored.
    pub fn key(&self) -> String {
        match self {
            Assignee::Reviewer(name) => format!("reviewer:{name}"),
            Assignee::Team(team) => format!("team:{team}"),
        }
    }

    /// From a form or a JSON body naming exactly one of a reviewer or a team.
    pub fn from_fields(reviewer: Option<&str>, team: Option<&str>) -> Result<Assignee, &'static str> {
        let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        match (given(reviewer), given(team)) {
            (Some(name), None) => Ok(Assignee::Reviewer(name)),
            (None, Some(team)) => Ok(Assignee::Team(team)),
            _ => Err("name exactly one of a reviewer or a team"),
        }
    }

    /// From `reviewer:NAME` or `team:NAME`.
    pub fn parse(key: &str) -> Option<Assignee> {
        match key.split_once(':')? {
            ("reviewer", name) => Some(Assignee::Reviewer(name.to_string())),
            ("team", team) => Some(Assignee::Team(team.to_string())),
            _ => None,
        }
    }
}

async fn insert(
    tx: &mut Tx,
    kind: &str,
    escalation_id: Option<i64>,
    assignee: Option<&str>,
    status: &str,
) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into notifications (kind, escalation_id, assignee, status, created_at) values ($1, $2, $3, $4, $5)
         returning id"
    )
    .bind(kind)
    .bind(escalation_id)
    .bind(assignee)
    .bind(status)
    .bind(Utc::now())
    .fetch_one(conn)
    .await)?;
    Ok(id)
}

async fn enqueue(tx: &mut Tx, id: i64) -> anyhow::Result<()> {
    let payload = json_text(&NotifyJob { notification_id: id });
    jobs::enqueue_job(tx, KIND_NOTIFY, &payload, Some(&format!("notify:{id}")), NOTIFY_MAX_ATTEMPTS).await?;
    Ok(())
}

/// A new escalation, inside its transaction: told at once when `high`, else it waits for
/// the digest.
pub async fn escalation_opened(tx: &mut Tx, escalation_id: i64, high: bool) -> anyhow::Result<()> {
    if high {
        let id = insert(tx, "escalation", Some(escalation_id), None, "pending").await?;
        enqueue(tx, id).await
    } else {
        insert(tx, "escalation", Some(escalation_id), None, "waiting").await.map(|_| ())
    }
}

/// An assignment, inside its transaction: the assignee is told at once.
pub async fn escalation_assigned(tx: &mut Tx, escalation_id: i64, assignee: &Assignee) -> anyhow::Result<()> {
    let id = insert(tx, "assigned", Some(escalation_id), Some(&assignee.key()), "pending").await?;
    enqueue(tx, id).await
}

/// Gathers every waiting normal-priority escalation into one digest with its job, in one
/// transaction; the digest's id, or `None` when nothing waited. Escalations closed while they
/// waited are `skipped`. Replicas may call this at once: the claim is one `update … where
/// status = 'waiting'`, so a row lands in one digest only.
pub async fn claim_digest(db: &Db) -> anyhow::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    let now = Utc::now();
    with_tx!(&mut tx, |conn| sqlx::query(
        "update notifications set status = 'skipped', sent_at = $1
         where status = 'waiting' and kind = 'escalation'
           and escalation_id in (select id from escalations where status <> 'open')"
    )
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    let digest = insert(&mut tx, "digest", None, None, "pending").await?;
    let claimed = with_tx!(&mut tx, |conn| {
        sqlx::query(
        "update notifications set status = 'batched', digest_id = $1 where status = 'waiting' and kind = 'escalation'"
    )
    .bind(digest)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    if claimed == 0 {
        // Keep the skips; the empty digest goes.
        with_tx!(&mut tx, |conn| sqlx::query("delete from notifications where id = $1")
            .bind(digest)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        return Ok(None);
    }
    enqueue(&mut tx, digest).await?;
    tx.commit().await?;
    Ok(Some(digest))
}

/// One escalation as a notification shows it: no message text, and only the phone's last
/// digits (a mailbox or a chat workspace is not where customer texts belong).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Escalated {
    pub id: i64,
    pub reason: String,
    pub priority: String,
    pub sla_due: Option<DateTime<Utc>>,
    pub status: String,
    pub phone: String,
}

/// A notification with everything its message needs.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub kind: Kind,
    pub status: String,
    pub assignee: Option<Assignee>,
    /// The one escalation, or a digest's escalations in order.
    pub escalations: Vec<Escalated>,
}

/// The notification `id`, or `None` when there is none.
pub async fn notification(db: &Db, id: i64) -> anyhow::Result<Option<Notification>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (String, String, Option<String>, Option<i64>)>(
        "select kind, status, assignee, escalation_id from notifications where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    let Some((kind, status, assignee, escalation_id)) = row else { return Ok(None) };
    let kind = Kind::parse(&kind)?;
    let escalations = if kind == Kind::Digest {
        with_db!(db, |p| sqlx::query_as::<_, Escalated>(
            "select e.id, e.reason, e.priority, e.sla_due, e.status, c.phone
             from escalations e join conversations c on c.id = e.conversation_id
             where e.id in (select escalation_id from notifications where digest_id = $1) order by e.id"
        )
        .bind(id)
        .fetch_all(p)
        .await)?
    } else {
        with_db!(db, |p| sqlx::query_as::<_, Escalated>(
            "select e.id, e.reason, e.priority, e.sla_due, e.status, c.phone
             from escalations e join conversations c on c.id = e.conversation_id where e.id = $1"
        )
        .bind(escalation_id)
        .fetch_all(p)
        .await)?
    };
    Ok(Some(Notification { id, kind, status, assignee: assignee.as_deref().and_then(Assignee::parse), escalations }))
}

/// The channels notification `id` has reached.
pub async fn channels_sent(db: &Db, id: i64) -> anyhow::Result<Vec<String>> {
    let rows = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select channel from notification_sends where notification_id = $1 order by channel"
    )
    .bind(id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Records that `channel` was told, in its own transaction: a later failure on another
/// channel does not tell this one again.
pub async fn record_channel_sent(db: &Db, id: i64, channel: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |conn| sqlx::query(
        "insert into notification_sends (notification_id, channel, sent_at) values ($1, $2, $3)
         on conflict (notification_id, channel) do nothing"
    )
    .bind(id)
    .bind(channel)
    .bind(Utc::now())
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(())
}

/// Ends notification `id` as `sent`, `skipped` or `failed` (with why), together with its job.
pub async fn finish(db: &Db, job: &jobs::JobRow, id: i64, status: &str, error: Option<&str>) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |conn| sqlx::query(
        "update notifications set status = $1, last_error = $2, sent_at = $3 where id = $4"
    )
    .bind(status)
    .bind(error)
    .bind(Utc::now())
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if status == "failed" {
        jobs::bury_job(&mut tx, job.id, job.attempts, error.unwrap_or("failed")).await?;
    } else {
        jobs::complete_job(&mut tx, job.id, job.attempts).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Notification counts by kind and status (the admin page, tests).
pub async fn counts(db: &Db) -> anyhow::Result<Vec<(String, String, i64)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, String, i64)>(
        "select kind, status, count(*) from notifications group by kind, status order by kind, status"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
