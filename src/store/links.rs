//! Tracked links and their clicks (docs/analytics.md, "Tracked links").

use chrono::{DateTime, Utc};

use super::{Db, with_db, with_db_write};

/// The codes already given to the links of outbox row `outbox_id`: `(url, code)`.
pub async fn codes_for(db: &Db, outbox_id: i64) -> anyhow::Result<Vec<(String, String)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (String, String)>(
        "select url, code from links where outbox_id = $1 order by id"
    )
    .bind(outbox_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Gives `url` in outbox row `outbox_id` the code `code`; the code it has when it had one
/// already (a retried send keeps its links).
pub async fn insert_link(db: &Db, code: &str, url: &str, outbox_id: i64, at: DateTime<Utc>) -> anyhow::Result<String> {
    with_db_write!(db, |p| sqlx::query(
        "insert into links (code, url, outbox_id, created_at) values ($1, $2, $3, $4)
         on conflict (outbox_id, url) do nothing"
    )
    .bind(code)
    .bind(url)
    .bind(outbox_id)
    .bind(at)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    let code =
        with_db!(db, |p| sqlx::query_scalar::<_, String>("select code from links where outbox_id = $1 and url = $2")
            .bind(outbox_id)
            .bind(url)
            .fetch_one(p)
            .await)?;
    Ok(code)
}

/// The link with this code: `(id, url)`.
pub async fn link_by_code(db: &Db, code: &str) -> anyhow::Result<Option<(i64, String)>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (i64, String)>("select id, url from links where code = $1")
        .bind(code)
        .fetch_optional(p)
        .await)?;
    Ok(row)
}

/// Records a request for a link: a person's click, or a preview fetcher's (`preview`).
pub async fn record_click(db: &Db, link_id: i64, at: DateTime<Utc>, preview: bool) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query("insert into link_clicks (link_id, clicked_at, preview) values ($1, $2, $3)")
        .bind(link_id)
        .bind(at)
        .bind(i32::from(preview))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    let outbox = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select outbox_id from links where id = $1")
        .bind(link_id)
        .fetch_one(p)
        .await)?;
    super::analytics::forget_send_day(db, Some(outbox), None).await
}

/// Clicks on the links of outbox row `outbox_id`: `(people, previews)`.
pub async fn clicks_for(db: &Db, outbox_id: i64) -> anyhow::Result<(i64, i64)> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (i64, i64)>(
        "select coalesce(sum(case when c.preview = 0 then 1 else 0 end), 0),
                coalesce(sum(case when c.preview = 1 then 1 else 0 end), 0)
         from link_clicks c join links l on l.id = c.link_id where l.outbox_id = $1"
    )
    .bind(outbox_id)
    .fetch_one(p)
    .await)?;
    Ok(row)
}
