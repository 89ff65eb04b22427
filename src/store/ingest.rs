//! SQL that stores a batch of inbound texts (the webhook's group commit, `pipeline::ingest`)
//! in one statement per table for the whole batch, where it used to take six statements per
//! text: on SQLite every statement is a round trip to the connection's own thread, and those
//! hops, not SQLite's work, were most of an acknowledged text's cost (docs/benchmarks.md).
//!
//! SQLite reads a batch's rows from one JSON array (`json_each`), PostgreSQL from arrays
//! (`unnest`). Either way a statement's text is the same for every batch size, so both
//! databases keep it prepared.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::conversations::NewInbound;
use super::{Tx, json_text};
use crate::domain::{ConsentKind, Phone};

/// Creates the customers these phones do not have yet; returns every phone's customer id.
/// `phones` must be distinct (PostgreSQL refuses to upsert one row twice in a statement).
pub async fn ensure_customers(
    tx: &mut Tx,
    phones: &[&Phone],
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<String, i64>> {
    let rows: Vec<(i64, String)> = match tx {
        Tx::Sqlite(t) => {
            let list = json_text(&phones.iter().map(|p| p.as_str()).collect::<Vec<_>>());
            // `where true` keeps SQLite from reading `on conflict` as part of the select's join.
            sqlx::query_as(
                "insert into customers (phone, created_at) select value, $2 from json_each($1) where true
                 on conflict (phone) do update set phone = excluded.phone
                 returning id, phone",
            )
            .bind(list)
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as(
                "insert into customers (phone, created_at) select p, $2 from unnest($1::text[]) as p
                 on conflict (phone) do update set phone = excluded.phone
                 returning id, phone",
            )
            .bind(phones.iter().map(|p| p.as_str()).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
    };
    Ok(rows.into_iter().map(|(id, phone)| (phone, id)).collect())
}

/// Opens a conversation for each (phone, customer id) that has none and touches the others'
/// `updated_at`; returns every phone's conversation id. Phones must be distinct.
pub async fn ensure_conversations(
    tx: &mut Tx,
    rows: &[(&Phone, i64)],
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<String, i64>> {
    let found: Vec<(i64, String)> = match tx {
        Tx::Sqlite(t) => {
            let list = json_text(&rows.iter().map(|(p, c)| json!([p.as_str(), c])).collect::<Vec<_>>());
            sqlx::query_as(
                "insert into conversations (phone, customer_id, state, created_at, updated_at)
                 select value ->> 0, value ->> 1, 'bot', $2, $2 from json_each($1) where true
                 on conflict (phone) do update set updated_at = excluded.updated_at
                 returning id, phone",
            )
            .bind(list)
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as(
                "insert into conversations (phone, customer_id, state, created_at, updated_at)
                 select p, c, 'bot', $3, $3 from unnest($1::text[], $2::bigint[]) as t(p, c)
                 on conflict (phone) do update set updated_at = excluded.updated_at
                 returning id, phone",
            )
            .bind(rows.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, c)| *c).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
    };
    Ok(found.into_iter().map(|(id, phone)| (phone, id)).collect())
}

/// Inserts the texts in order; a provider message id stored before (a retry), or twice in the
/// batch, is skipped. Returns the new rows' ids by provider message id.
pub async fn insert_inbound_messages(
    tx: &mut Tx,
    rows: &[NewInbound<'_>],
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<String, i64>> {
    let inserted: Vec<(i64, String)> = match tx {
        Tx::Sqlite(t) => {
            let list = json_text(
                &rows
                    .iter()
                    .map(|r| json!([r.conversation_id, r.provider_sid, r.from_phone.as_str(), r.to_phone, r.body]))
                    .collect::<Vec<_>>(),
            );
            sqlx::query_as(
                "insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
                 select value ->> 0, 'in', value ->> 1, value ->> 2, value ->> 3, value ->> 4, $2
                 from json_each($1) where true
                 on conflict (provider_sid) do nothing
                 returning id, provider_sid",
            )
            .bind(list)
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as(
                "insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
                 select c, 'in', s, f, t, b, $6 from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
                     with ordinality as r(c, s, f, t, b, n)
                 order by n
                 on conflict (provider_sid) do nothing
                 returning id, provider_sid",
            )
            .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.provider_sid).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.from_phone.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.to_phone).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.body).collect::<Vec<_>>())
            .bind(now)
            .fetch_all(&mut **t)
            .await?
        }
    };
    Ok(inserted.into_iter().map(|(id, sid)| (sid, id)).collect())
}

/// The latest consent event's kind of each of these phones that has one.
pub async fn latest_consents(tx: &mut Tx, phones: &[&Phone]) -> anyhow::Result<HashMap<String, ConsentKind>> {
    let rows: Vec<(String, ConsentKind)> = match tx {
        Tx::Sqlite(t) => {
            let list = json_text(&phones.iter().map(|p| p.as_str()).collect::<Vec<_>>());
            sqlx::query_as(
                "select phone, kind from consent_events where id in (
                     select max(id) from consent_events where phone in (select value from json_each($1)) group by phone)",
            )
            .bind(list)
            .fetch_all(&mut **t)
            .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as(
                "select phone, kind from consent_events where id in (
                     select max(id) from consent_events where phone = any($1) group by phone)",
            )
            .bind(phones.iter().map(|p| p.as_str()).collect::<Vec<_>>())
            .fetch_all(&mut **t)
            .await?
        }
    };
    Ok(rows.into_iter().collect())
}

/// Queues jobs of one kind, due at `run_at_ms`: (unique key, JSON payload) each. A key that
/// exists already is skipped, as in `jobs::enqueue_job`.
pub async fn enqueue_jobs(
    tx: &mut Tx,
    kind: &str,
    jobs: &[(String, String)],
    max_attempts: i32,
    run_at_ms: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match tx {
        Tx::Sqlite(t) => {
            let list = json_text(&jobs.iter().map(|(key, payload)| json!([key, payload])).collect::<Vec<_>>());
            sqlx::query(
                "insert into jobs (kind, payload, unique_key, status, attempts, max_attempts, run_at_ms, lease_until_ms, created_at, updated_at)
                 select $1, value ->> 1, value ->> 0, 'queued', 0, $3, $4, 0, $5, $5 from json_each($2) where true
                 on conflict (unique_key) do nothing",
            )
            .bind(kind)
            .bind(list)
            .bind(i64::from(max_attempts))
            .bind(run_at_ms)
            .bind(now)
            .execute(&mut **t)
            .await?;
        }
        Tx::Postgres(t) => {
            sqlx::query(
                "insert into jobs (kind, payload, unique_key, status, attempts, max_attempts, run_at_ms, lease_until_ms, created_at, updated_at)
                 select $1, p, k, 'queued', 0, $4, $5, 0, $6, $6
                 from unnest($2::text[], $3::text[]) with ordinality as r(k, p, n) order by n
                 on conflict (unique_key) do nothing",
            )
            .bind(kind)
            .bind(jobs.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>())
            .bind(jobs.iter().map(|(_, payload)| payload.as_str()).collect::<Vec<_>>())
            .bind(i64::from(max_attempts))
            .bind(run_at_ms)
            .bind(now)
            .execute(&mut **t)
            .await?;
        }
    }
    Ok(())
}
