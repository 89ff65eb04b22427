//! SQL that stores a batch of inbound texts (the webhook's group commit, `pipeline::ingest`):
//! one statement per table for the whole batch, where it used to take six statements per text.
//!
//! A batch is opened ([`open_batch`]: the customers, conversations and messages written, the
//! senders' consent and the webhook subscribers read) and closed ([`close_batch`]: the turn
//! jobs written, committed); between the two the caller decides each text's consent change and
//! job, and only a consent change, a picture or a subscribed outbound webhook adds statements
//! for its own text.
//!
//! On SQLite every statement is a round trip to the connection's own thread, and under load
//! those trips, not SQLite's work, were most of an acknowledged text's cost
//! (docs/benchmarks.md): so each half is one multi-statement query, with the `begin immediate`
//! in the first and the `commit` in the last ([`super::SqliteTx::inline`]), and a batch makes
//! two trips. SQLite reads a batch's rows from JSON arrays (`json_each`), PostgreSQL from
//! arrays (`unnest`), one statement at a time. Either way a query's text is the same for every
//! batch size, so both databases keep it prepared.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{Row, postgres::Postgres};

use super::{Db, Tx, json_text, webhook_events};
use crate::domain::{ConsentKind, Phone, WebhookEvent};

/// One inbound text of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchText<'a> {
    /// The provider's message id: a text stored before under it (a retry) is skipped.
    pub provider_sid: &'a str,
    pub from: &'a Phone,
    pub to: &'a str,
    pub body: &'a str,
}

/// What opening a batch wrote and read, by phone or provider message id.
#[derive(Debug, Default)]
pub struct Opened {
    /// Each sender's conversation (opened now if it had none); on SQLite only when there are
    /// subscribers, whose events name it.
    pub conversations: HashMap<String, i64>,
    /// The id of each new message; a retry, or a message id repeated in the batch after its
    /// first text, has none.
    pub messages: HashMap<String, i64>,
    /// The latest consent event's kind of each sender that has one.
    pub consents: HashMap<String, ConsentKind>,
    /// The outbound webhook endpoints subscribed to the event type asked for.
    pub subscribers: Vec<i64>,
}

/// The first half of a batch on SQLite, in one round trip. `$1` the distinct senders, `$2` the
/// time, `$3` the texts (`[provider id, from, to, body]` each), `$4` the event type whose
/// subscribers are read. The rows that come back are tagged by their first column. The
/// conversations' ids are read only when there are subscribers ([`CONVERSATIONS_SQLITE`]):
/// nothing else in a batch needs them, and a row per text is work for both threads.
const OPEN_SQLITE: &str = "
begin immediate;
insert into customers (phone, created_at) select p.value, $2 from json_each($1) as p where true
    on conflict (phone) do nothing;
insert into conversations (phone, customer_id, state, created_at, updated_at)
    select p.value, (select c.id from customers c where c.phone = p.value), 'bot', $2, $2
    from json_each($1) as p where true
    on conflict (phone) do update set updated_at = excluded.updated_at;
insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
    select (select v.id from conversations v where v.phone = t.value ->> 1), 'in',
        t.value ->> 0, t.value ->> 1, t.value ->> 2, t.value ->> 3, $2
    from json_each($3) as t where true
    on conflict (provider_sid) do nothing
    returning 'message', id, provider_sid;
select 'consent', phone, kind from consent_events where id in (
    select max(id) from consent_events where phone in (select value from json_each($1)) group by phone);
-- The same endpoints as webhook_events::subscribers, in this round trip.
select distinct 'subscriber', e.id from webhook_endpoints e join webhook_subscriptions s on s.endpoint_id = e.id
    where e.configured = 1 and e.disabled_at is null and s.event_type in ($4, '*');
";

/// The senders' conversations on SQLite, `$1` the senders.
const CONVERSATIONS_SQLITE: &str =
    "select id, phone from conversations where phone in (select value from json_each($1))";

/// The last half on SQLite: `$1` the job kind, `$2` the jobs (`[unique key, payload]` each),
/// `$3` max attempts, `$4` when they are due (ms), `$5` the time. A key that exists already is
/// skipped, as in `jobs::enqueue_job`.
const CLOSE_SQLITE: &str = "
insert into jobs (kind, payload, unique_key, status, attempts, max_attempts, run_at_ms, lease_until_ms, created_at, updated_at)
    select $1, j.value ->> 1, j.value ->> 0, 'queued', 0, $3, $4, 0, $5, $5 from json_each($2) as j where true
    on conflict (unique_key) do nothing;
commit;
";

/// Begins the batch's transaction (urgent: a provider waits on it), creates the customers and
/// conversations the senders lack, inserts the texts in order and reads what the caller needs
/// to finish each one.
pub async fn open_batch(
    db: &Db,
    texts: &[BatchText<'_>],
    event_type: WebhookEvent,
    now: DateTime<Utc>,
) -> anyhow::Result<(Tx, Opened)> {
    // Each number once (PostgreSQL refuses to upsert a row twice in one statement), sorted so
    // two replicas upserting the same numbers lock their rows in one order and cannot deadlock.
    let mut phones: Vec<&str> = texts.iter().map(|t| t.from.as_str()).collect();
    phones.sort_unstable();
    phones.dedup();
    let mut tx = db.begin_urgent_inline().await?;
    let mut opened = match &mut tx {
        Tx::Sqlite(t) => {
            // Tuples serialise as JSON arrays, without building a `serde_json::Value` per text.
            let rows = sqlx::query(OPEN_SQLITE)
                .bind(json_text(&phones))
                .bind(now)
                .bind(json_text(
                    &texts.iter().map(|t| (t.provider_sid, t.from.as_str(), t.to, t.body)).collect::<Vec<_>>(),
                ))
                .bind(event_type.as_str())
                .fetch_all(&mut **t)
                .await?;
            let mut opened = Opened::default();
            for row in rows {
                match row.try_get::<&str, _>(0)? {
                    "message" => {
                        opened.messages.insert(row.try_get(2)?, row.try_get(1)?);
                    }
                    "consent" => {
                        opened.consents.insert(row.try_get(1)?, row.try_get(2)?);
                    }
                    "subscriber" => opened.subscribers.push(row.try_get(1)?),
                    tag => anyhow::bail!("unexpected row {tag:?} from opening a batch"),
                }
            }
            if !opened.subscribers.is_empty() {
                let rows: Vec<(i64, String)> =
                    sqlx::query_as(CONVERSATIONS_SQLITE).bind(json_text(&phones)).fetch_all(&mut **t).await?;
                opened.conversations = rows.into_iter().map(|(id, phone)| (phone, id)).collect();
            }
            opened
        }
        Tx::Postgres(t) => open_postgres(t, &phones, texts, now).await?,
    };
    if matches!(tx, Tx::Postgres(_)) {
        opened.subscribers = webhook_events::subscribers(&mut tx, event_type).await?;
    }
    Ok((tx, opened))
}

/// Queues the batch's jobs of one kind, due at `run_at_ms` ((unique key, JSON payload) each;
/// a key that exists already is skipped), and commits.
pub async fn close_batch(
    tx: Tx,
    kind: &str,
    jobs: &[(String, String)],
    max_attempts: i32,
    run_at_ms: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match tx {
        Tx::Sqlite(mut t) => {
            sqlx::query(CLOSE_SQLITE)
                .bind(kind)
                .bind(json_text(&jobs))
                .bind(i64::from(max_attempts))
                .bind(run_at_ms)
                .bind(now)
                .execute(&mut *t)
                .await?;
            t.committed_inline();
            Ok(())
        }
        Tx::Postgres(mut t) => {
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
            .execute(&mut *t)
            .await?;
            Ok(t.commit().await?)
        }
    }
}

/// The first half on PostgreSQL: a statement per table, whose round trips cost little there.
async fn open_postgres(
    t: &mut sqlx::Transaction<'static, Postgres>,
    phones: &[&str],
    texts: &[BatchText<'_>],
    now: DateTime<Utc>,
) -> anyhow::Result<Opened> {
    let conn: &mut PgConnection = t;
    let customers: Vec<(i64, String)> = sqlx::query_as(
        "insert into customers (phone, created_at) select p, $2 from unnest($1::text[]) as p
         on conflict (phone) do update set phone = excluded.phone
         returning id, phone",
    )
    .bind(phones)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let customers: HashMap<String, i64> = customers.into_iter().map(|(id, phone)| (phone, id)).collect();
    let customers: Vec<i64> = phones.iter().map(|p| customers[*p]).collect();
    let conversations: Vec<(i64, String)> = sqlx::query_as(
        "insert into conversations (phone, customer_id, state, created_at, updated_at)
         select p, c, 'bot', $3, $3 from unnest($1::text[], $2::bigint[]) as t(p, c)
         on conflict (phone) do update set updated_at = excluded.updated_at
         returning id, phone",
    )
    .bind(phones)
    .bind(&customers)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let conversations: HashMap<String, i64> = conversations.into_iter().map(|(id, phone)| (phone, id)).collect();
    let messages: Vec<(i64, String)> = sqlx::query_as(
        "insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
         select c, 'in', s, f, t, b, $6 from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
             with ordinality as r(c, s, f, t, b, n)
         order by n
         on conflict (provider_sid) do nothing
         returning id, provider_sid",
    )
    .bind(texts.iter().map(|t| conversations[t.from.as_str()]).collect::<Vec<_>>())
    .bind(texts.iter().map(|t| t.provider_sid).collect::<Vec<_>>())
    .bind(texts.iter().map(|t| t.from.as_str()).collect::<Vec<_>>())
    .bind(texts.iter().map(|t| t.to).collect::<Vec<_>>())
    .bind(texts.iter().map(|t| t.body).collect::<Vec<_>>())
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let consents: Vec<(String, ConsentKind)> = sqlx::query_as(
        "select phone, kind from consent_events where id in (
             select max(id) from consent_events where phone = any($1) group by phone)",
    )
    .bind(phones)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Opened {
        conversations,
        messages: messages.into_iter().map(|(id, sid)| (sid, id)).collect(),
        consents: consents.into_iter().collect(),
        subscribers: Vec::new(),
    })
}
