//! The turn audit: one row per pipeline run, written and read as one typed record
//! ([`TurnAudit`]; [`StoredTurn`] once it has an id). Its JSON columns are text in both
//! databases, parsed when read ([`JsonText`]).

use std::collections::BTreeMap;
use std::ops::Deref;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Db, Tx, json_text, with_db, with_tx};
use crate::domain::{OutboxKind, Phone, TurnDecision};

/// A JSON column kept as text (the same on SQLite and PostgreSQL): parsed when read, into
/// `T::default()` (`null` for a `serde_json::Value`) if the text is not a `T`; written
/// back as compact JSON. Serialises as the value itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct JsonText<T>(pub T);

impl<T: DeserializeOwned + Default> From<String> for JsonText<T> {
    fn from(text: String) -> Self {
        JsonText(serde_json::from_str(&text).unwrap_or_default())
    }
}

impl<T> Deref for JsonText<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> JsonText<T> {
    /// The value as indented JSON, for people to read.
    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&self.0).unwrap_or_default()
    }
}

/// Everything recorded about one turn: what the pipeline writes, and what the API, the
/// console, the eval and the benchmarks read back. A JSON value left `null` is stored as
/// its empty value (`[]` for `retrieved`, `{}` for the others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct TurnAudit {
    pub inbound_message_id: i64,
    pub conversation_id: i64,
    pub decision: TurnDecision,
    pub intent: String,
    /// Retrieved products and policies with their scores, and what the prompt budget cut.
    #[sqlx(try_from = "String")]
    pub retrieved: JsonText<serde_json::Value>,
    pub prompt_version: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub draft: Option<String>,
    pub reply: Option<String>,
    /// The guard's verdict, findings and every claim it checked.
    #[sqlx(try_from = "String")]
    pub guard: JsonText<serde_json::Value>,
    pub confidence: f64,
    pub sentiment: f64,
    /// Milliseconds per stage.
    #[sqlx(try_from = "String")]
    pub stage_ms: JsonText<BTreeMap<String, f64>>,
    pub error: Option<String>,
    /// What went into the scores (confidence factors, intent, sentiment trend).
    #[sqlx(try_from = "String")]
    pub scores: JsonText<serde_json::Value>,
    /// The open escalation a text that arrived while a person owned the thread attaches to.
    pub escalation_id: Option<i64>,
    /// What the text asked, read with the thread, and the dialogue state after the turn
    /// (`{"asked": …, "state": …}`; `{}` for turns that drafted nothing).
    #[sqlx(try_from = "String")]
    pub dialogue: JsonText<serde_json::Value>,
}

/// A recorded turn: its audit, its id and time, and the customer's text it answered.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredTurn {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// The customer's text the turn answered.
    pub inbound_body: String,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub audit: TurnAudit,
}

/// `select` of every [`StoredTurn`] column (turns `t` joined with their inbound message `m`),
/// followed by `$filter`.
macro_rules! select_turn {
    ($filter:literal) => {
        concat!(
            "select t.id, t.created_at, m.body as inbound_body, t.inbound_message_id, t.conversation_id, t.decision,
                    t.intent, t.retrieved, t.prompt_version, t.model, t.prompt_tokens, t.completion_tokens, t.draft,
                    t.reply, t.guard, t.confidence, t.sentiment, t.stage_ms, t.error, t.scores, t.escalation_id, t.dialogue
             from turns t join messages m on m.id = t.inbound_message_id ",
            $filter
        )
    };
}

/// Inserts the turn; `None` when this inbound message already has one (another attempt
/// finished first), in which case the caller rolls back.
pub async fn insert_turn(tx: &mut Tx, t: &TurnAudit) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into turns (inbound_message_id, conversation_id, decision, intent, retrieved, prompt_version, model,
                            prompt_tokens, completion_tokens, draft, reply, guard, confidence, sentiment, stage_ms, error, created_at,
                            scores, escalation_id, dialogue)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         on conflict (inbound_message_id) do nothing
         returning id"
    )
    .bind(t.inbound_message_id)
    .bind(t.conversation_id)
    .bind(t.decision.as_str())
    .bind(&t.intent)
    .bind(json_column(&t.retrieved, "[]"))
    .bind(&t.prompt_version)
    .bind(&t.model)
    .bind(t.prompt_tokens)
    .bind(t.completion_tokens)
    .bind(&t.draft)
    .bind(&t.reply)
    .bind(json_column(&t.guard, "{}"))
    .bind(t.confidence)
    .bind(t.sentiment)
    .bind(json_text(&t.stage_ms))
    .bind(&t.error)
    .bind(Utc::now())
    .bind(json_column(&t.scores, "{}"))
    .bind(t.escalation_id)
    .bind(json_column(&t.dialogue, "{}"))
    .fetch_optional(conn)
    .await
    })?;
    Ok(id)
}

/// The text of a JSON value column: `empty` for a value nobody set (`null`).
fn json_column(value: &serde_json::Value, empty: &str) -> String {
    if value.is_null() { empty.to_string() } else { json_text(value) }
}

/// The turn that answered an inbound message, if it ran.
pub async fn turn_for_message(db: &Db, message_id: i64) -> anyhow::Result<Option<StoredTurn>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, StoredTurn>(select_turn!("where t.inbound_message_id = $1"))
            .bind(message_id)
            .fetch_optional(p)
            .await
    })?;
    Ok(row)
}

/// A turn by id, with everything the audit page shows ("why did it say that?").
pub async fn turn_audit(db: &Db, id: i64) -> anyhow::Result<Option<StoredTurn>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, StoredTurn>(select_turn!("where t.id = $1")).bind(id).fetch_optional(p).await
    })?;
    Ok(row)
}

/// The milliseconds per stage of every recorded turn (the turn benchmark).
pub async fn all_stage_ms(db: &Db) -> anyhow::Result<Vec<BTreeMap<String, f64>>> {
    let rows = with_db!(db, |p| sqlx::query_scalar::<_, String>("select stage_ms from turns").fetch_all(p).await)?;
    rows.iter().map(|text| serde_json::from_str(text).context("stage_ms is not json")).collect()
}

/// The dialogue state the conversation's latest turn before `before_message_id` left (the
/// default, empty state when no turn left one).
pub async fn latest_dialogue(
    db: &Db,
    conversation_id: i64,
    before_message_id: i64,
) -> anyhow::Result<crate::domain::dialogue::DialogueState> {
    let text = with_db!(db, |p| {
        sqlx::query_scalar::<_, String>(
            "select dialogue from turns
             where conversation_id = $1 and inbound_message_id < $2 and dialogue <> '{}'
             order by inbound_message_id desc limit 1",
        )
        .bind(conversation_id)
        .bind(before_message_id)
        .fetch_optional(p)
        .await
    })?;
    let Some(text) = text else { return Ok(Default::default()) };
    let value: serde_json::Value = serde_json::from_str(&text).context("turns.dialogue is not json")?;
    // A state this version cannot read (written by a later one) starts the thread afresh.
    Ok(serde_json::from_value(value["state"].clone()).unwrap_or_default())
}

/// An earlier turn of a thread, as the scores need it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PastTurn {
    /// `reply` or `escalate`.
    pub decision: TurnDecision,
    pub confidence: f64,
}

/// The thread's latest turns in which the bot drafted a reply (`reply` or `escalate`
/// decisions; not compliance texts or turns a person owned), before `before_message_id`,
/// newest first. A thread starts fresh when a person closes its escalation (hands it back or
/// resolves it): turns recorded before that close are not counted.
pub async fn recent_bot_turns(
    db: &Db,
    conversation_id: i64,
    before_message_id: i64,
    limit: i64,
) -> anyhow::Result<Vec<PastTurn>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, PastTurn>(
            "select decision, confidence from turns
             where conversation_id = $1 and inbound_message_id < $2 and decision in ('reply', 'escalate')
               and model <> ''
               and not exists (select 1 from escalations e
                               where e.conversation_id = turns.conversation_id and e.status = 'resolved'
                                 and e.resolved_at >= turns.created_at)
             order by inbound_message_id desc limit $3",
        )
        .bind(conversation_id)
        .bind(before_message_id)
        .bind(limit)
        .fetch_all(p)
        .await
    })?;
    Ok(rows)
}

/// Counts turns (tests, metrics).
pub async fn count_turns(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from turns").fetch_one(p).await)?;
    Ok(n)
}

/// A turn as the thread view links it: the inbound message it answered.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TurnLink {
    pub id: i64,
    pub inbound_message_id: i64,
    pub decision: TurnDecision,
    pub confidence: f64,
}

/// The turns of a conversation by the inbound message each answered (a thread's links to
/// the turn audit).
pub async fn turns_by_message(
    db: &Db,
    conversation_id: i64,
) -> anyhow::Result<std::collections::HashMap<i64, TurnLink>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, TurnLink>(
        "select id, inbound_message_id, decision, confidence from turns where conversation_id = $1"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(|t| (t.inbound_message_id, t)).collect())
}

/// An inbound text of a conversation with the turn that answered it (export).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportTurn {
    pub message_id: i64,
    pub body: String,
    /// `None`: no turn answered it (yet).
    pub decision: Option<TurnDecision>,
    pub created_at: DateTime<Utc>,
}

/// The conversation's inbound texts, oldest first, each with its turn's decision.
pub async fn export_turns(db: &Db, conversation_id: i64) -> anyhow::Result<Vec<ExportTurn>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, ExportTurn>(
        "select m.id as message_id, m.body, t.decision, m.created_at from messages m
         left join turns t on t.inbound_message_id = m.id
         where m.conversation_id = $1 and m.direction = 'in' order by m.id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// When a reviewer handed the conversation back to the bot (closed an escalation as
/// `handed_back`), oldest first.
pub async fn handed_back_at(db: &Db, conversation_id: i64) -> anyhow::Result<Vec<DateTime<Utc>>> {
    let rows = with_db!(db, |p| sqlx::query_scalar::<_, DateTime<Utc>>(
        "select resolved_at from escalations
         where conversation_id = $1 and resolution = 'handed_back' and resolved_at is not null
         order by resolved_at"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Conversations active since `since` (optionally only those ever escalated), oldest first.
pub async fn export_conversations(
    db: &Db,
    since: DateTime<Utc>,
    escalated_only: bool,
) -> anyhow::Result<Vec<(i64, Phone)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (i64, Phone)>(
        "select c.id, c.phone from conversations c where c.updated_at >= $1
           and (not $2 or exists (select 1 from escalations e where e.conversation_id = c.id))
         order by c.id"
    )
    .bind(since)
    .bind(escalated_only)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Texts sent in a conversation, oldest first: (kind, body, the inbound text answered,
/// when it was queued).
pub async fn export_sent(
    db: &Db,
    conversation_id: i64,
) -> anyhow::Result<Vec<(OutboxKind, String, Option<i64>, DateTime<Utc>)>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, (OutboxKind, String, Option<i64>, DateTime<Utc>)>(
        "select kind, body, in_reply_to, created_at from outbox where conversation_id = $1
           and status in ('sent', 'delivered', 'pending', 'sending') order by id"
    )
    .bind(conversation_id)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_column_parses_its_text_and_falls_back_to_the_default() {
        let guard = JsonText::<serde_json::Value>::from(r#"{"verdict":"pass"}"#.to_string());
        assert_eq!(guard["verdict"], "pass");
        assert_eq!(JsonText::<serde_json::Value>::from("not json".to_string()).0, serde_json::Value::Null);
        let stage_ms = JsonText::<BTreeMap<String, f64>>::from(r#"{"generate":1.5,"guard":0.25}"#.to_string());
        assert_eq!(stage_ms.values().sum::<f64>(), 1.75);
        assert!(JsonText::<BTreeMap<String, f64>>::from("[]".to_string()).is_empty());
    }

    #[test]
    fn a_json_value_nobody_set_is_stored_as_its_empty_value() {
        assert_eq!(json_column(&serde_json::Value::Null, "[]"), "[]");
        assert_eq!(json_column(&serde_json::json!({"b": 1, "a": [2]}), "{}"), r#"{"a":[2],"b":1}"#);
        assert_eq!(json_text(&TurnAudit::default().stage_ms), "{}");
    }

    #[test]
    fn a_stored_turn_serialises_flat_with_its_json_columns_as_values() {
        let turn = StoredTurn {
            id: 7,
            created_at: DateTime::<Utc>::default(),
            inbound_body: "hi".into(),
            audit: TurnAudit {
                decision: TurnDecision::Reply,
                guard: JsonText(serde_json::json!({"verdict": "pass"})),
                ..TurnAudit::default()
            },
        };
        let v = serde_json::to_value(&turn).unwrap();
        assert_eq!((v["id"].as_i64(), v["decision"].as_str()), (Some(7), Some("reply")));
        assert_eq!(v["guard"]["verdict"], "pass");
        assert!(v["stage_ms"].is_object() && v.get("audit").is_none(), "{v}");
    }
}
