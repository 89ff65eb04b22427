//! The consent ledger: append-only events; the current state is the latest event.

use chrono::Utc;

use super::webhook_events::{self, Event};
use super::{Db, Tx, with_db, with_tx};
use crate::domain::{ConsentKind, Phone};

/// A consent change to record.
#[derive(Debug, Clone)]
pub struct NewConsentEvent<'a> {
    pub phone: &'a Phone,
    pub kind: ConsentKind,
    /// keyword, import, provider_21610, reviewer, ...
    pub source: &'a str,
    pub evidence_message_id: Option<i64>,
    pub evidence_text: Option<&'a str>,
    /// What the consent covers; `all` until per-program scopes exist (issue 3).
    pub scope: &'a str,
}

/// Appends an event to the ledger.
pub async fn insert_consent_event(tx: &mut Tx, e: &NewConsentEvent<'_>) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into consent_events (phone, kind, source, evidence_message_id, evidence_text, scope, created_at)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(e.phone.as_str())
        .bind(e.kind.as_str())
        .bind(e.source)
        .bind(e.evidence_message_id)
        .bind(e.evidence_text)
        .bind(e.scope)
        .bind(Utc::now())
        .fetch_one(conn)
        .await
    })?;
    let event = Event::Consent {
        consent_event_id: id,
        phone: e.phone,
        kind: e.kind,
        source: e.source,
        message_id: e.evidence_message_id,
    };
    webhook_events::emit(tx, event).await?;
    Ok(id)
}

/// The latest event's kind for this phone inside a transaction (`None`: no event yet).
pub async fn latest_consent_in_tx(tx: &mut Tx, phone: &Phone) -> anyhow::Result<Option<ConsentKind>> {
    let kind = with_tx!(tx, |conn| sqlx::query_scalar::<_, ConsentKind>(
        "select kind from consent_events where phone = $1 order by id desc limit 1"
    )
    .bind(phone.as_str())
    .fetch_optional(conn)
    .await)?;
    Ok(kind)
}

/// The latest event's kind for this phone (`None`: no event yet).
pub async fn latest_consent(db: &Db, phone: &Phone) -> anyhow::Result<Option<ConsentKind>> {
    let kind = with_db!(db, |p| sqlx::query_scalar::<_, ConsentKind>(
        "select kind from consent_events where phone = $1 order by id desc limit 1"
    )
    .bind(phone.as_str())
    .fetch_optional(p)
    .await)?;
    Ok(kind)
}

/// The consent that holds for this phone: the latest event, except that a released hold
/// gives back the state before it (`None`: no event, or none before a released hold).
pub async fn settled_consent(db: &Db, phone: &Phone) -> anyhow::Result<Option<ConsentKind>> {
    let kinds = with_db!(db, |p| sqlx::query_scalar::<_, ConsentKind>(
        "select kind from consent_events where phone = $1 order by id desc"
    )
    .bind(phone.as_str())
    .fetch_all(p)
    .await)?;
    let mut released = 0;
    for kind in kinds {
        match kind {
            ConsentKind::HoldReleased => released += 1,
            ConsentKind::Hold if released > 0 => released -= 1,
            other => return Ok(Some(other)),
        }
    }
    Ok(None)
}

/// Counts events of one kind for a phone (tests, audits).
pub async fn count_events(db: &Db, phone: &Phone, kind: ConsentKind) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from consent_events where phone = $1 and kind = $2"
    )
    .bind(phone.as_str())
    .bind(kind.as_str())
    .fetch_one(p)
    .await)?;
    Ok(n)
}

/// Records an opt-out from `source` unless the number is already opted out (a provider
/// reporting the same unsubscribe many times adds one ledger event).
pub async fn record_opt_out(db: &Db, phone: &Phone, source: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    if latest_consent_in_tx(&mut tx, phone).await? == Some(ConsentKind::OptOut) {
        return Ok(false);
    }
    let event = NewConsentEvent {
        phone,
        kind: ConsentKind::OptOut,
        source,
        evidence_message_id: None,
        evidence_text: None,
        scope: "all",
    };
    insert_consent_event(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(true)
}

/// One ledger event, as exported for auditors.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ConsentEventRow {
    pub id: i64,
    pub phone: Phone,
    pub kind: ConsentKind,
    pub source: String,
    pub evidence_message_id: Option<i64>,
    pub evidence_text: Option<String>,
    pub scope: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The whole ledger in order, optionally for one phone.
pub async fn ledger(db: &Db, phone: Option<&Phone>) -> anyhow::Result<Vec<ConsentEventRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, ConsentEventRow>(
        "select id, phone, kind, source, evidence_message_id, evidence_text, scope, created_at
         from consent_events where ($1 is null or phone = $1) order by id"
    )
    .bind(phone.map(Phone::as_str))
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// What a reviewer decided about a number on hold (or any number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewerDecision {
    /// It was an opt-out: the number is opted out from now on.
    OptOut,
    /// It was not an opt-out: the hold is lifted and the state before it applies again.
    NotOptOut,
}

/// What recording a reviewer's decision changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionOutcome {
    /// The ledger event written, if the decision changed anything.
    pub event_id: Option<i64>,
    /// The consent state after the decision (`opt_out`, `hold_released`, `opt_in`, or none).
    pub state: Option<ConsentKind>,
    /// Open `possible_opt_out` escalations of this number that the decision resolved.
    pub resolved_escalations: i64,
}

/// Records a reviewer's decision about a possible opt-out as one ledger event (source
/// `reviewer`, the reviewer's name and note as evidence) and resolves the number's open
/// `possible_opt_out` escalations, in one transaction. Opting out an opted-out number, or
/// releasing a number that is not on hold, writes no event.
pub async fn record_reviewer_decision(
    db: &Db,
    phone: &Phone,
    decision: ReviewerDecision,
    evidence: &str,
) -> anyhow::Result<DecisionOutcome> {
    let mut tx = db.begin().await?;
    let current = latest_consent_in_tx(&mut tx, phone).await?;
    let kind = match (decision, current) {
        (ReviewerDecision::OptOut, Some(ConsentKind::OptOut)) => None,
        (ReviewerDecision::OptOut, _) => Some(ConsentKind::OptOut),
        (ReviewerDecision::NotOptOut, Some(ConsentKind::Hold)) => Some(ConsentKind::HoldReleased),
        (ReviewerDecision::NotOptOut, _) => None,
    };
    let event_id = match kind {
        Some(kind) => {
            let event = NewConsentEvent {
                phone,
                kind,
                source: "reviewer",
                evidence_message_id: None,
                evidence_text: Some(evidence),
                scope: "all",
            };
            Some(insert_consent_event(&mut tx, &event).await?)
        }
        None => None,
    };
    let now = chrono::Utc::now();
    let resolved = with_tx!(&mut tx, |conn| sqlx::query(
        "update escalations set status = 'resolved', resolution = 'resolved', resolved_by = 'consent decision',
                resolved_at = $2
         where status = 'open' and reason = 'possible_opt_out'
           and conversation_id in (select id from conversations where phone = $1)"
    )
    .bind(phone.as_str())
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if resolved > 0 {
        // The decision was what the person was needed for: with nothing else open, the
        // conversation goes back to the bot (else it would stay silent with nobody on it).
        with_tx!(&mut tx, |conn| sqlx::query(
            "update conversations set state = 'bot', updated_at = $2
             where phone = $1 and state = 'escalated'
               and not exists (select 1 from escalations e where e.conversation_id = conversations.id
                               and e.status = 'open')"
        )
        .bind(phone.as_str())
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    }
    let state = latest_consent_in_tx(&mut tx, phone).await?;
    tx.commit().await?;
    if resolved > 0 {
        super::escalations::announce_change();
    }
    Ok(DecisionOutcome { event_id, state, resolved_escalations: resolved as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind reads back as the one written; a text that is no consent kind (the table's
    /// check forbids one, so it is selected as a literal here) is a decode error naming it.
    #[tokio::test]
    async fn a_kind_reads_back_and_an_unknown_word_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let phone = Phone::parse("+14155550123").unwrap();
        let mut tx = db.begin().await.unwrap();
        let event = NewConsentEvent {
            phone: &phone,
            kind: ConsentKind::HoldReleased,
            source: "reviewer",
            evidence_message_id: None,
            evidence_text: None,
            scope: "all",
        };
        insert_consent_event(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(latest_consent(&db, &phone).await.unwrap(), Some(ConsentKind::HoldReleased));
        assert_eq!(ledger(&db, Some(&phone)).await.unwrap()[0].kind, ConsentKind::HoldReleased);

        let read = with_db!(&db, |p| sqlx::query_scalar::<_, ConsentKind>("select 'opted-out'").fetch_one(p).await);
        let error = read.expect_err("an unknown word does not read as a consent kind");
        assert!(error.to_string().contains("unknown consent kind \"opted-out\""), "{error}");
    }
}
