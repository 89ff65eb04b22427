//! Campaigns and their recipients (docs/campaigns.md): the plan written when a campaign is
//! created, what the dispatcher hands to the sender, pause/resume/cancel, and progress.

use chrono::{DateTime, Utc};

use super::{Db, Tx, with_db, with_db_write, with_tx};

/// A campaign's states.
pub mod status {
    pub const PLANNING: &str = "planning";
    pub const SCHEDULED: &str = "scheduled";
    pub const SENDING: &str = "sending";
    pub const PAUSED: &str = "paused";
    pub const CANCELLED: &str = "cancelled";
    pub const DONE: &str = "done";
}

/// A recipient as planned: a send time, or the reason it is skipped.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub customer_id: i64,
    pub phone: String,
    pub send_at_ms: Option<i64>,
    pub reason: Option<String>,
    pub arm: Option<String>,
    pub segments: i64,
}

/// A plan's figures, kept with the campaign.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    pub members: i64,
    pub planned: i64,
    pub total_segments: i64,
    pub estimated_cost: f64,
}

/// A campaign as stored.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub segment: String,
    /// The spec as given (JSON).
    pub definition: String,
    pub status: String,
    pub rate: f64,
    pub members: i64,
    pub planned: i64,
    pub total_segments: i64,
    pub estimated_cost: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CAMPAIGN_COLUMNS: &str = "id, name, segment, definition, status, rate, members, planned, total_segments, estimated_cost, created_at, updated_at";

/// Adds a campaign in `planning`; `None` when the name is taken.
pub async fn insert_campaign(
    db: &Db,
    name: &str,
    segment: &str,
    definition: &str,
    rate: f64,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<i64>> {
    let id = with_db_write!(db, |p| {
        sqlx::query_scalar::<_, i64>(
        "insert into campaigns (name, segment, definition, status, rate, members, planned, total_segments, estimated_cost, created_at, updated_at)
         values ($1, $2, $3, 'planning', $4, 0, 0, 0, 0, $5, $5)
         on conflict (name) do nothing
         returning id"
    )
    .bind(name)
    .bind(segment)
    .bind(definition)
    .bind(rate)
    .bind(now)
    .fetch_optional(p)
    .await
    })?;
    Ok(id)
}

/// Rows per insert statement: 8 values each, well under SQLite's 32,766 and PostgreSQL's
/// 65,535 bound parameters.
const ROWS_PER_INSERT: usize = 1_000;

/// Writes planned recipients, in one transaction: on PostgreSQL as one `unnest` of arrays
/// (one statement, eight parameters), on SQLite as multi-row inserts.
pub async fn insert_recipients(db: &Db, campaign_id: i64, rows: &[NewRecipient]) -> anyhow::Result<()> {
    // Planned with a send time, skipped without.
    let status = |r: &NewRecipient| if r.send_at_ms.is_some() { "planned" } else { "skipped" };
    if let Db::Postgres(pool) = db {
        sqlx::query(
            "insert into campaign_recipients (campaign_id, customer_id, phone, status, reason, send_at_ms, arm, segments)
             select $1, * from unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bigint[])",
        )
        .bind(campaign_id)
        .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<i64>>())
        .bind(rows.iter().map(|r| r.phone.as_str()).collect::<Vec<&str>>())
        .bind(rows.iter().map(status).collect::<Vec<&str>>())
        .bind(rows.iter().map(|r| r.reason.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(rows.iter().map(|r| r.send_at_ms).collect::<Vec<Option<i64>>>())
        .bind(rows.iter().map(|r| r.arm.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(rows.iter().map(|r| r.segments).collect::<Vec<i64>>())
        .execute(pool)
        .await?;
        return Ok(());
    }
    let mut tx = db.begin().await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=8).map(|k| db.param(i * 8 + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "insert into campaign_recipients (campaign_id, customer_id, phone, status, reason, send_at_ms, arm, segments) values {}",
            values.join(", ")
        );
        with_tx!(&mut tx, |conn| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for r in chunk {
                q = q
                    .bind(campaign_id)
                    .bind(r.customer_id)
                    .bind(&r.phone)
                    .bind(status(r))
                    .bind(&r.reason)
                    .bind(r.send_at_ms)
                    .bind(&r.arm)
                    .bind(r.segments);
            }
            q.execute(conn).await.map(|_| ())
        })?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records the plan's figures and schedules the campaign. When it was cancelled while being
/// planned, the recipients written meanwhile are cancelled too and this returns false.
pub async fn finish_planning(db: &Db, id: i64, f: &Figures, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let scheduled = with_db_write!(db, |p| {
        sqlx::query(
        "update campaigns set status = 'scheduled', members = $2, planned = $3, total_segments = $4, estimated_cost = $5, updated_at = $6
         where id = $1 and status = 'planning'"
    )
    .bind(id)
    .bind(f.members)
    .bind(f.planned)
    .bind(f.total_segments)
    .bind(f.estimated_cost)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })? > 0;
    if !scheduled {
        with_db_write!(db, |p| sqlx::query(
            "update campaign_recipients set status = 'cancelled' where campaign_id = $1 and status = 'planned'"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
    }
    Ok(scheduled)
}

/// Removes a campaign and its recipients (a plan that failed midway).
pub async fn delete_campaign(db: &Db, id: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |conn| sqlx::query("delete from campaign_recipients where campaign_id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    with_tx!(&mut tx, |conn| sqlx::query("delete from campaigns where id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    Ok(())
}

/// One campaign.
pub async fn campaign(db: &Db, id: i64) -> anyhow::Result<Option<CampaignRow>> {
    let sql = format!("select {CAMPAIGN_COLUMNS} from campaigns where id = $1");
    let row = with_db!(db, |p| sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(p)
        .await)?;
    Ok(row)
}

/// Every campaign, newest first.
pub async fn campaigns(db: &Db) -> anyhow::Result<Vec<CampaignRow>> {
    let sql = format!("select {CAMPAIGN_COLUMNS} from campaigns order by id desc");
    let rows = with_db!(db, |p| sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(p).await)?;
    Ok(rows)
}

/// The campaigns the dispatcher serves: scheduled or sending.
pub async fn active(db: &Db) -> anyhow::Result<Vec<CampaignRow>> {
    let sql = format!("select {CAMPAIGN_COLUMNS} from campaigns where status in ('scheduled', 'sending') order by id");
    let rows = with_db!(db, |p| sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(p).await)?;
    Ok(rows)
}

/// When the earliest planned text of an active campaign is due (ms since the epoch): the next
/// time `flows simulate` hands campaign texts over.
pub async fn next_planned_ms(db: &Db) -> anyhow::Result<Option<i64>> {
    let at = with_db!(db, |p| sqlx::query_scalar::<_, Option<i64>>(
        "select min(r.send_at_ms) from campaign_recipients r join campaigns c on c.id = r.campaign_id
         where r.status = 'planned' and c.status in ('scheduled', 'sending')"
    )
    .fetch_one(p)
    .await)?;
    Ok(at)
}

/// The skipped recipients of a campaign with their reasons: `(phone, reason)`.
pub async fn skipped_recipients(db: &Db, campaign_id: i64) -> anyhow::Result<Vec<(String, String)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, String)>(
        "select phone, coalesce(reason, '') from campaign_recipients
         where campaign_id = $1 and status = 'skipped' order by id"
    )
    .bind(campaign_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Moves a campaign from one of `from` to `to`; false when it was in none of them.
pub async fn set_status(db: &Db, id: i64, from: &[&str], to: &str, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let list: Vec<String> = from.iter().map(|s| format!("'{s}'")).collect();
    let sql =
        format!("update campaigns set status = $2, updated_at = $3 where id = $1 and status in ({})", list.join(", "));
    let done = with_db_write!(db, |p| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .bind(to)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Cancels a campaign: its recipients not yet handed over become `cancelled`. False when it
/// was already cancelled or done. A campaign left in `planning` by a crash is cancelled too.
pub async fn cancel(db: &Db, id: i64, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let moved = with_tx!(&mut tx, |conn| sqlx::query(
        "update campaigns set status = 'cancelled', updated_at = $2
         where id = $1 and status in ('planning', 'scheduled', 'sending', 'paused')"
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?
        > 0;
    if moved {
        with_tx!(&mut tx, |conn| sqlx::query(
            "update campaign_recipients set status = 'cancelled' where campaign_id = $1 and status = 'planned'"
        )
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// A planned recipient.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecipientRow {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub phone: String,
    pub send_at_ms: Option<i64>,
    pub arm: Option<String>,
}

/// Up to `limit` planned recipients due by `now_ms`, earliest first.
pub async fn due_recipients(db: &Db, campaign_id: i64, now_ms: i64, limit: i64) -> anyhow::Result<Vec<RecipientRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, RecipientRow>(
        "select id, customer_id, phone, send_at_ms, arm from campaign_recipients
         where campaign_id = $1 and status = 'planned' and send_at_ms <= $2
         order by send_at_ms, id limit $3"
    )
    .bind(campaign_id)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// True while some recipient is still planned (not handed over, skipped or cancelled).
pub async fn any_planned(db: &Db, campaign_id: i64) -> anyhow::Result<bool> {
    let found = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select id from campaign_recipients where campaign_id = $1 and status = 'planned' limit 1"
    )
    .bind(campaign_id)
    .fetch_optional(p)
    .await)?;
    Ok(found.is_some())
}

/// Marks a recipient handed over; false when it was no longer planned (cancelled meanwhile,
/// or handed over by another dispatcher) or its campaign was paused meanwhile.
pub async fn mark_queued(tx: &mut Tx, recipient_id: i64) -> anyhow::Result<bool> {
    let done = with_tx!(tx, |conn| sqlx::query(
        "update campaign_recipients set status = 'queued'
         where id = $1 and status = 'planned'
           and exists (select 1 from campaigns c where c.id = campaign_id and c.status in ('scheduled', 'sending'))"
    )
    .bind(recipient_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

/// Records the arm a recipient outside a test pool was given when its text was handed over.
pub async fn set_arm(tx: &mut Tx, recipient_id: i64, arm: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update campaign_recipients set arm = $2 where id = $1")
        .bind(recipient_id)
        .bind(arm)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Links a handed-over recipient to its outbox row.
pub async fn set_outbox(tx: &mut Tx, recipient_id: i64, outbox_id: Option<i64>) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update campaign_recipients set outbox_id = $2 where id = $1")
        .bind(recipient_id)
        .bind(outbox_id)
        .execute(conn)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// A campaign's progress: recipients by status, skip reasons, its texts by outbox status
/// (with the sender's reasons), and how many recipients replied after their text.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Progress {
    pub recipients: std::collections::BTreeMap<String, i64>,
    pub skipped: std::collections::BTreeMap<String, i64>,
    pub texts: std::collections::BTreeMap<String, i64>,
    pub suppressed: std::collections::BTreeMap<String, i64>,
    pub replied: i64,
}

/// See [`Progress`].
pub async fn progress(db: &Db, campaign_id: i64) -> anyhow::Result<Progress> {
    let by_status = with_db!(db, |p| sqlx::query_as::<_, (String, Option<String>, i64)>(
        "select status, reason, count(*) from campaign_recipients where campaign_id = $1 group by status, reason"
    )
    .bind(campaign_id)
    .fetch_all(p)
    .await)?;
    let texts = with_db!(db, |p| sqlx::query_as::<_, (String, Option<String>, i64)>(
        "select o.status, o.error, count(*) from campaign_recipients r join outbox o on o.id = r.outbox_id
         where r.campaign_id = $1 group by o.status, o.error"
    )
    .bind(campaign_id)
    .fetch_all(p)
    .await)?;
    let replied = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from campaign_recipients r join outbox o on o.id = r.outbox_id
         where r.campaign_id = $1 and o.provider_sid is not null
           and exists (select 1 from messages text join messages m on m.conversation_id = text.conversation_id
                       where text.provider_sid = o.provider_sid and m.direction = 'in' and m.id > text.id)"
    )
    .bind(campaign_id)
    .fetch_one(p)
    .await)?;
    let mut out = Progress { replied, ..Progress::default() };
    for (status, reason, n) in by_status {
        *out.recipients.entry(status.clone()).or_default() += n;
        if let (true, Some(reason)) = (status == "skipped", reason) {
            *out.skipped.entry(reason).or_default() += n;
        }
    }
    for (status, error, n) in texts {
        *out.texts.entry(status.clone()).or_default() += n;
        if let (true, Some(error)) = (status == "suppressed", error) {
            *out.suppressed.entry(error).or_default() += n;
        }
    }
    Ok(out)
}

/// Moves a planned recipient's send time later (its window is closed now): it stays planned,
/// so the campaign's rate still applies when the window opens.
pub async fn postpone(db: &Db, recipient_id: i64, send_at_ms: i64) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "update campaign_recipients set send_at_ms = $2 where id = $1 and status = 'planned'"
    )
    .bind(recipient_id)
    .bind(send_at_ms)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Skips a planned recipient whose text cannot be handed over, with the reason.
pub async fn skip(db: &Db, recipient_id: i64, reason: &str) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "update campaign_recipients set status = 'skipped', reason = $2 where id = $1 and status = 'planned'"
    )
    .bind(recipient_id)
    .bind(reason)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}
