//! The turn, top to bottom: compliance gate → context → retrieve → generate → guard →
//! score → route. [`run_turn`] reads like the diagram in ARCHITECTURE.md; each stage is a
//! small function below it. The turn only reads; [`record`] commits its plan atomically.

pub mod compose;
pub mod flow_reply;
pub mod ingest;
pub mod pictures;
pub mod proactive;
pub mod record;
pub mod retrieve;
pub mod stages;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::catalog::SearchIndex;
use crate::config::Config;
use crate::escalation::Reason;
use crate::llm::Generator;
use crate::llm::offline::OfflineResponder;
use crate::store::Db;
use crate::store::conversations::{Conversation, ConversationState, MessageRow};
use crate::store::turns::TurnAudit;

use self::ingest::TurnJob;

/// What a turn needs: the database, the index, a generator and the settings.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub index: Arc<SearchIndex>,
    pub generator: Arc<dyn Generator>,
    pub offline: Arc<OfflineResponder>,
    pub config: Arc<Config>,
    /// Product vectors, when an embedding endpoint is configured (hybrid retrieval).
    pub semantic: Option<Arc<crate::catalog::semantic::Semantic>>,
    /// What time it is (SLA due times and the after-hours holding message).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// `business_hours`, parsed.
    pub hours: Arc<crate::escalation::hours::BusinessHours>,
}

/// One text the turn wants to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outbound {
    /// `reply`, `holding`, `help`, `optout_confirmation`, `optin_confirmation`.
    pub kind: crate::domain::OutboxKind,
    pub text: String,
    /// A product's picture to send with it as MMS (the customer asked to see it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
}

impl Outbound {
    /// A text without a picture.
    pub fn text(kind: crate::domain::OutboxKind, text: impl Into<String>) -> Outbound {
        Outbound { kind, text: text.into(), media_url: None }
    }
}

/// What a turn decided, to be committed by [`record::commit_turn`].
#[derive(Debug, Clone)]
pub struct TurnPlan {
    pub outbound: Vec<Outbound>,
    /// Reasons to open an escalation (empty: none).
    pub escalation: Vec<Reason>,
    /// Extra context for the reviewer (draft, findings), JSON.
    pub escalation_details: serde_json::Value,
    /// The conversation's owner after this turn, when it changes.
    pub new_state: Option<ConversationState>,
    pub audit: TurnAudit,
    /// A choice from a flow's reply menu, to record with the turn.
    pub flow_choice: Option<flow_reply::FlowChoice>,
}

/// Wall-clock milliseconds per stage, for the audit row.
#[derive(Default)]
pub struct StageClock {
    last: Option<Instant>,
    pub ms: BTreeMap<String, f64>,
}

impl StageClock {
    fn start() -> StageClock {
        StageClock { last: Some(Instant::now()), ms: BTreeMap::new() }
    }
    /// Records the time since the previous mark under `stage`.
    fn mark(&mut self, stage: &'static str) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.ms.insert(stage.to_string(), (now - last).as_secs_f64() * 1000.0);
        }
        self.last = Some(now);
    }
}

/// Runs the pipeline for one inbound message and returns the plan; writes nothing.
pub async fn run_turn(
    deps: &Deps,
    job: &TurnJob,
    message: &MessageRow,
    conversation: &Conversation,
) -> anyhow::Result<TurnPlan> {
    let mut clock = StageClock::start();
    if let Some(plan) = stages::compliance_gate(&deps.config.brand, job, message, conversation) {
        return Ok(plan);
    }
    let flow = flow_reply::load(deps, message, conversation).await?;
    if let Some(plan) = flow.as_ref().and_then(|f| flow_reply::menu(f, message, &deps.config.brand)) {
        return Ok(plan);
    }
    let images = match pictures::pictures(deps, job, message).await? {
        pictures::Pictures::None => vec![],
        pictures::Pictures::ForModel(images) => images,
        pictures::Pictures::CannotSee(plan) => return Ok(*plan),
    };
    clock.mark("compliance");
    let seed = flow.as_ref().and_then(flow_reply::seed);
    let mut facts = stages::context(deps, message, conversation, seed).await?;
    facts.images = images;
    clock.mark("context");
    let mut facts = retrieve::retrieve(deps, facts).await?;
    facts.picture = pictures::product_picture(deps, &facts).await?;
    clock.mark("retrieve");
    let generated = stages::generate(deps, &facts).await;
    clock.mark("generate");
    let guarded = stages::guard(deps, &generated, &facts);
    clock.mark("guard");
    let scores = stages::score(&generated, &guarded, &facts);
    clock.mark("score");
    let mut plan = stages::route(deps, message, &facts, generated, guarded, scores, clock);
    // The picture goes with a reply that talks about its product (not with a holding message).
    if let Some(picture) = &facts.picture
        && let Some(reply) = plan.outbound.iter_mut().find(|o| o.kind == crate::domain::OutboxKind::Reply)
        && plan.audit.reply.is_some()
    {
        reply.media_url = Some(picture.url.clone());
    }
    Ok(plan)
}
