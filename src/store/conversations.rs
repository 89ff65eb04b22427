//! Conversations (one thread per phone) and their messages.

use chrono::{DateTime, Utc};

use super::{Db, Tx, with_db, with_tx};
use crate::domain::Phone;

/// Who owns a conversation right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationState {
    /// The bot answers.
    Bot,
    /// A person took over; the bot stays silent until handed back.
    Escalated,
}

impl ConversationState {
    fn from_db(s: &str) -> ConversationState {
        if s == "escalated" { ConversationState::Escalated } else { ConversationState::Bot }
    }
    fn as_db(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Escalated => "escalated",
        }
    }
}

/// A conversation row.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: i64,
    pub phone: Phone,
    pub customer_id: Option<i64>,
    pub state: ConversationState,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    phone: Phone,
    customer_id: Option<i64>,
    state: String,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        Conversation {
            id: r.id,
            phone: r.phone,
            customer_id: r.customer_id,
            state: ConversationState::from_db(&r.state),
        }
    }
}

/// A stored text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub conversation_id: i64,
    pub direction: String,
    pub provider_sid: Option<String>,
    /// Text, not a `Phone`: one side of every message is our sender, which may be a
    /// messaging service SID or a channel address (the conversation holds the customer's).
    pub from_phone: String,
    /// See `from_phone`.
    pub to_phone: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Returns the conversation for this phone, creating it (owned by the bot) if new.
pub async fn ensure_conversation(tx: &mut Tx, phone: &Phone, customer_id: i64) -> anyhow::Result<i64> {
    let now = Utc::now();
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into conversations (phone, customer_id, state, created_at, updated_at)
         values ($1, $2, 'bot', $3, $3)
         on conflict (phone) do update set updated_at = excluded.updated_at
         returning id"
    )
    .bind(phone.as_str())
    .bind(customer_id)
    .bind(now)
    .fetch_one(conn)
    .await)?;
    Ok(id)
}

/// The conversation with this id.
pub async fn conversation(db: &Db, id: i64) -> anyhow::Result<Conversation> {
    let row = with_db!(db, |p| sqlx::query_as::<_, ConversationRow>(
        "select id, phone, customer_id, state from conversations where id = $1"
    )
    .bind(id)
    .fetch_one(p)
    .await)?;
    Ok(row.into())
}

/// Who owns the conversation now, read inside a transaction. On PostgreSQL the row is
/// locked until commit, so two turns of one thread commit one after the other; SQLite's
/// transactions already hold the single write lock.
pub async fn state_in_tx(tx: &mut Tx, id: i64) -> anyhow::Result<ConversationState> {
    let state = match tx {
        Tx::Sqlite(t) => {
            sqlx::query_scalar::<_, String>("select state from conversations where id = $1")
                .bind(id)
                .fetch_one(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_scalar::<_, String>("select state from conversations where id = $1 for update")
                .bind(id)
                .fetch_one(&mut **t)
                .await?
        }
    };
    Ok(ConversationState::from_db(&state))
}

/// Sets who owns the conversation.
pub async fn set_conversation_state(tx: &mut Tx, id: i64, state: ConversationState) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update conversations set state = $1, updated_at = $2 where id = $3")
        .bind(state.as_db())
        .bind(Utc::now())
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// An inbound text as received from the provider.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub conversation_id: i64,
    pub provider_sid: &'a str,
    /// The customer.
    pub from_phone: &'a Phone,
    /// Our number or channel address (not always a phone number).
    pub to_phone: &'a str,
    pub body: &'a str,
}

/// Stores an inbound text; `None` when a message with this provider id already exists
/// (a provider retry), in which case nothing is written.
pub async fn insert_inbound_message(tx: &mut Tx, m: &NewInbound<'_>) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
         values ($1, 'in', $2, $3, $4, $5, $6)
         on conflict (provider_sid) do nothing
         returning id",
        )
        .bind(m.conversation_id)
        .bind(m.provider_sid)
        .bind(m.from_phone.as_str())
        .bind(m.to_phone)
        .bind(m.body)
        .bind(Utc::now())
        .fetch_optional(conn)
        .await
    })?;
    Ok(id)
}

/// Records a sent text in the thread.
pub async fn insert_outbound_message(
    tx: &mut Tx,
    conversation_id: i64,
    provider_sid: Option<&str>,
    from_phone: &str,
    to_phone: &Phone,
    body: &str,
) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into messages (conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at)
         values ($1, 'out', $2, $3, $4, $5, $6)
         returning id",
        )
        .bind(conversation_id)
        .bind(provider_sid)
        .bind(from_phone)
        .bind(to_phone.as_str())
        .bind(body)
        .bind(Utc::now())
        .fetch_one(conn)
        .await
    })?;
    Ok(id)
}

/// One message by id.
pub async fn message(db: &Db, id: i64) -> anyhow::Result<MessageRow> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, MessageRow>(
            "select id, conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at
         from messages where id = $1",
        )
        .bind(id)
        .fetch_one(p)
        .await
    })?;
    Ok(row)
}

/// The last `limit` messages of a conversation before message `before_id`, oldest first.
pub async fn recent_messages(
    db: &Db,
    conversation_id: i64,
    before_id: i64,
    limit: i64,
) -> anyhow::Result<Vec<MessageRow>> {
    let mut rows = with_db!(db, |p| {
        sqlx::query_as::<_, MessageRow>(
            "select id, conversation_id, direction, provider_sid, from_phone, to_phone, body, created_at
         from messages where conversation_id = $1 and id < $2 order by id desc limit $3",
        )
        .bind(conversation_id)
        .bind(before_id)
        .bind(limit)
        .fetch_all(p)
        .await
    })?;
    rows.reverse();
    Ok(rows)
}

/// Counts messages, optionally only one direction (for tests and metrics).
pub async fn count_messages(db: &Db, direction: &str) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from messages where direction = $1")
        .bind(direction)
        .fetch_one(p)
        .await)?;
    Ok(n)
}

/// A conversation as the console lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ConversationListRow {
    pub id: i64,
    pub phone: Phone,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    /// `bot` or `escalated`.
    pub state: String,
    pub updated_at: DateTime<Utc>,
    pub last_message: Option<String>,
}

/// `s` with LIKE's wildcards escaped (`\` is the escape character).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Conversations whose phone, customer name or any text contains `query` (case-insensitive;
/// the digits of a phone query match however it is punctuated), most recently active first;
/// all of them when `query` is empty. One page, and how many match in all.
pub async fn search_conversations(
    db: &Db,
    query: &str,
    limit: i64,
    offset: i64,
) -> anyhow::Result<(Vec<ConversationListRow>, i64)> {
    let query = query.trim();
    // No text holds a NUL, and SQLite reads a string only up to one, so "\0" would match
    // every conversation (issue 21); PostgreSQL refuses it in text. It matches nothing.
    if query.contains('\0') {
        return Ok((vec![], 0));
    }
    let words = format!("%{}%", like_escape(&query.to_lowercase()));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    // A query without digits must not match every phone through an empty pattern.
    let phone = if digits.is_empty() { String::new() } else { format!("%{digits}%") };
    let filter = "($1 = '' or c.phone like $2 or lower(coalesce(cu.name, '')) like $3 escape '\\'
                  or exists (select 1 from messages m where m.conversation_id = c.id
                             and lower(m.body) like $3 escape '\\'))";
    // Built from the constant fragments above; the user's words are bound, never spliced.
    let sql = format!(
        "select c.id, c.phone, c.customer_id, cu.name as customer_name, c.state, c.updated_at,
                (select m.body from messages m where m.conversation_id = c.id order by m.id desc limit 1)
                  as last_message
         from conversations c left join customers cu on cu.id = c.customer_id
         where {filter} order by c.updated_at desc, c.id desc limit $4 offset $5"
    );
    let rows = with_db!(db, |p| sqlx::query_as::<_, ConversationListRow>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(query)
        .bind(&phone)
        .bind(&words)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?;
    let count =
        format!("select count(*) from conversations c left join customers cu on cu.id = c.customer_id where {filter}");
    let total = with_db!(db, |p| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count.clone()))
        .bind(query)
        .bind(&phone)
        .bind(&words)
        .fetch_one(p)
        .await)?;
    Ok((rows, total))
}

/// The conversation of this phone, if it ever texted.
pub async fn conversation_by_phone(db: &Db, phone: &Phone) -> anyhow::Result<Option<Conversation>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, ConversationRow>(
        "select id, phone, customer_id, state from conversations where phone = $1"
    )
    .bind(phone.as_str())
    .fetch_optional(p)
    .await)?;
    Ok(row.map(Into::into))
}

/// The conversation with this id, if there is one.
pub async fn find_conversation(db: &Db, id: i64) -> anyhow::Result<Option<Conversation>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, ConversationRow>(
        "select id, phone, customer_id, state from conversations where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(Into::into))
}

/// Our number the customer of `conversation_id` last wrote to (a reply goes out from it);
/// `None` when they never wrote.
pub async fn our_number(db: &Db, conversation_id: i64) -> anyhow::Result<Option<String>> {
    let number = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select to_phone from messages where conversation_id = $1 and direction = 'in' order by id desc limit 1"
    )
    .bind(conversation_id)
    .fetch_optional(p)
    .await)?;
    Ok(number)
}

/// Keeps the files of an inbound MMS with its message.
pub async fn insert_media(tx: &mut Tx, message_id: i64, media: &[crate::domain::media::Media]) -> anyhow::Result<()> {
    for m in media {
        with_tx!(tx, |conn| sqlx::query(
            "insert into message_media (message_id, url, content_type, size_bytes) values ($1, $2, $3, $4)"
        )
        .bind(message_id)
        .bind(&m.url)
        .bind(&m.content_type)
        .bind(m.size_bytes)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// The files of the messages `ids`, by message id, in the order they came.
pub async fn media_of(
    db: &Db,
    ids: &[i64],
) -> anyhow::Result<std::collections::HashMap<i64, Vec<crate::domain::media::Media>>> {
    let mut by_message: std::collections::HashMap<i64, Vec<crate::domain::media::Media>> = Default::default();
    for chunk in ids.chunks(500) {
        let rows = with_db!(db, |p| {
            let mut query = sqlx::QueryBuilder::new(
                "select message_id, url, content_type, size_bytes from message_media where message_id in (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(") order by id");
            query.build_query_as::<(i64, String, String, Option<i64>)>().fetch_all(p).await
        })?;
        for (id, url, content_type, size_bytes) in rows {
            by_message.entry(id).or_default().push(crate::domain::media::Media { url, content_type, size_bytes });
        }
    }
    Ok(by_message)
}
