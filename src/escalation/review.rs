//! What a reviewer can do to an escalation, for the console and the JSON API alike: claim
//! it (or take it over), reply, mark the customer opted out, resolve it or hand it back.
//!
//! Every action but a claim first claims the escalation for the reviewer: free or already
//! theirs goes through, another reviewer's is refused until taken over explicitly, so two
//! people never answer one customer. Every action is recorded in `reviewer_actions`.

use crate::domain::OutboxKind;
use crate::sms::outbound::{OutboundText, queue_text};
use crate::store::Db;
use crate::store::escalations::{self, Claimed, Resolution};
pub use crate::store::notifications::Assignee;
use crate::store::reviewers;

/// Who is acting.
#[derive(Debug, Clone)]
pub struct Reviewer {
    pub id: i64,
    pub name: String,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another reviewer holds the escalation (their name).
    HeldBy(String),
    /// It is closed.
    Closed,
    NotFound,
    /// No enabled reviewer, or no team, of that name.
    NoSuchAssignee(String),
}

impl Refused {
    /// What to tell the reviewer.
    pub fn message(&self, id: i64) -> String {
        match self {
            Refused::HeldBy(name) => format!("{name} has claimed this escalation; take it over to act on it."),
            Refused::Closed => "This escalation is closed.".to_string(),
            Refused::NotFound => format!("There is no escalation {id}."),
            Refused::NoSuchAssignee(name) => format!("There is no enabled reviewer or team called {name:?}."),
        }
    }
}

/// A claim's refusal as the reviewer is told it (`Held` is not one).
fn refused(claimed: Claimed) -> Refused {
    match claimed {
        Claimed::HeldBy(name) => Refused::HeldBy(name),
        Claimed::NotFound => Refused::NotFound,
        Claimed::Held | Claimed::Closed => Refused::Closed,
    }
}

async fn record(db: &Db, who: &Reviewer, action: &str, id: i64, detail: &str) -> anyhow::Result<()> {
    reviewers::record_action(db, Some(who.id), action, Some(&format!("escalation:{id}")), detail).await
}

/// Claims escalation `id`, or with `take_over` takes it from whoever holds it.
pub async fn claim(db: &Db, who: &Reviewer, id: i64, take_over: bool) -> anyhow::Result<Result<(), Refused>> {
    match escalations::claim(db, id, who.id, take_over).await? {
        Claimed::Held => {
            record(db, who, if take_over { "took_over" } else { "claimed" }, id, "").await?;
            Ok(Ok(()))
        }
        other => Ok(Err(refused(other))),
    }
}

/// Assigns escalation `id` to a reviewer (who then holds it) or a team (whose members may
/// claim it), and tells the assignee (`escalation::notify`). Any reviewer may assign: it is
/// how one hands a thread to a colleague.
pub async fn assign(db: &Db, who: &Reviewer, id: i64, assignee: &Assignee) -> anyhow::Result<Result<(), Refused>> {
    let reviewer_id = match assignee {
        Assignee::Reviewer(name) => match reviewers::reviewer_by_name(db, name).await? {
            Some(r) => Some(r.id),
            None => return Ok(Err(Refused::NoSuchAssignee(name.clone()))),
        },
        Assignee::Team(team) => {
            if !reviewers::teams(db).await?.contains(team) {
                return Ok(Err(Refused::NoSuchAssignee(team.clone())));
            }
            None
        }
    };
    match escalations::assign(db, id, assignee, reviewer_id, &who.name).await? {
        escalations::Assigned::Done => {
            record(db, who, "assigned", id, &assignee.key()).await?;
            Ok(Ok(()))
        }
        escalations::Assigned::Closed => Ok(Err(Refused::Closed)),
        escalations::Assigned::NotFound => Ok(Err(Refused::NotFound)),
    }
}

/// Claims before acting (free or ours goes through).
async fn hold(db: &Db, who: &Reviewer, id: i64) -> anyhow::Result<Result<(), Refused>> {
    match escalations::claim(db, id, who.id, false).await? {
        Claimed::Held => Ok(Ok(())),
        other => Ok(Err(refused(other))),
    }
}

/// Sends `body` to the escalation's customer through the outbox (consent is checked again
/// when it is sent); the conversation stays with the person until it is closed. The
/// outbox id.
pub async fn reply(
    db: &Db,
    who: &Reviewer,
    id: i64,
    body: &str,
    max_attempts: i32,
) -> anyhow::Result<Result<i64, Refused>> {
    if let Err(r) = hold(db, who, id).await? {
        return Ok(Err(r));
    }
    let e = escalations::escalation(db, id).await?.ok_or_else(|| anyhow::anyhow!("escalation {id} vanished"))?;
    let text = OutboundText {
        conversation_id: e.conversation_id,
        to_phone: &e.phone,
        body,
        kind: OutboxKind::ReviewerReply,
        subject: None,
        in_reply_to: None,
        flow_run_id: None,
        class: None,
        send_by: None,
        media_url: None,
    };
    let mut tx = db.begin().await?;
    let outbox_id =
        queue_text(&mut tx, &text, max_attempts).await?.ok_or_else(|| anyhow::anyhow!("the reply was not queued"))?;
    tx.commit().await?;
    record(db, who, "reply", id, &format!("outbox:{outbox_id}")).await?;
    Ok(Ok(outbox_id))
}

/// The customer asked to stop (FCC 47 CFR 64.1200(a)(10): revocation by any reasonable
/// means, which a person may recognise where the keyword matcher did not): the consent
/// ledger records an opt-out with the reviewer as its source, and the escalation is
/// resolved.
pub async fn mark_opted_out(db: &Db, who: &Reviewer, id: i64) -> anyhow::Result<Result<(), Refused>> {
    if let Err(r) = hold(db, who, id).await? {
        return Ok(Err(r));
    }
    let e = escalations::escalation(db, id).await?.ok_or_else(|| anyhow::anyhow!("escalation {id} vanished"))?;
    let evidence = format!("reviewer {}: marked opted out (escalation {id})", who.name);
    crate::store::consent::record_reviewer_decision(
        db,
        &e.phone,
        crate::store::consent::ReviewerDecision::OptOut,
        &evidence,
    )
    .await?;
    escalations::close_and_release(db, id, Resolution::Resolved, &who.name).await?;
    record(db, who, "mark_opted_out", id, "").await?;
    Ok(Ok(()))
}

/// The message that put the number on hold was not an opt-out: the hold is lifted (a
/// `hold_released` ledger event with the reviewer as its source, restoring the state before
/// it) and the conversation goes back to the bot.
pub async fn not_an_opt_out(db: &Db, who: &Reviewer, id: i64) -> anyhow::Result<Result<(), Refused>> {
    if let Err(r) = hold(db, who, id).await? {
        return Ok(Err(r));
    }
    let e = escalations::escalation(db, id).await?.ok_or_else(|| anyhow::anyhow!("escalation {id} vanished"))?;
    let evidence = format!("reviewer {}: not an opt-out (escalation {id})", who.name);
    crate::store::consent::record_reviewer_decision(
        db,
        &e.phone,
        crate::store::consent::ReviewerDecision::NotOptOut,
        &evidence,
    )
    .await?;
    // A possible-opt-out escalation was resolved by the decision; any other is handed back.
    escalations::close_and_release(db, id, Resolution::HandedBack, &who.name).await?;
    record(db, who, "not_an_opt_out", id, "").await?;
    Ok(Ok(()))
}

/// Resolves the escalation or hands the conversation back to the bot; either way the bot
/// answers the conversation's next text.
pub async fn close(db: &Db, who: &Reviewer, id: i64, resolution: Resolution) -> anyhow::Result<Result<(), Refused>> {
    if let Err(r) = hold(db, who, id).await? {
        return Ok(Err(r));
    }
    let action = match resolution {
        Resolution::Resolved => "close:resolved",
        Resolution::HandedBack => "close:handed_back",
    };
    match escalations::close_and_release(db, id, resolution, &who.name).await? {
        escalations::Closed::Conversation(_) => {
            record(db, who, action, id, "").await?;
            Ok(Ok(()))
        }
        escalations::Closed::AlreadyClosed => Ok(Err(Refused::Closed)),
        escalations::Closed::NotFound => Ok(Err(Refused::NotFound)),
    }
}

/// Hands every open escalation of `phone`'s conversation back to the bot, as `who` (a
/// reviewer's name, or `terminal` for `backtalk chat`, `eval` for a transcript's
/// `hand_back_before`); how many it closed. The thread then starts fresh.
pub async fn hand_back_conversation(db: &Db, phone: &crate::domain::Phone, who: &str) -> anyhow::Result<usize> {
    let Some(conversation) = crate::store::conversations::conversation_by_phone(db, phone).await? else {
        return Ok(0);
    };
    let mut handed = 0;
    for e in escalations::escalations_for_conversation(db, conversation.id).await? {
        if e.status == crate::domain::EscalationStatus::Open
            && matches!(
                escalations::close_and_release(db, e.id, Resolution::HandedBack, who).await?,
                escalations::Closed::Conversation(_)
            )
        {
            handed += 1;
        }
    }
    Ok(handed)
}
