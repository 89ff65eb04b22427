//! The stages of a turn, in pipeline order.
//!
//! Over 600 lines with its tests (a quarter of the file): seven stages, each a short function
//! over the one `Facts` they share, read best in the order a turn runs them.

use std::borrow::Cow;

use serde_json::json;

use super::{Deps, Outbound, StageClock, TurnPlan};
use crate::compliance::{self, Intent};
use crate::config::{BrandConfig, LlmFailure};
use crate::crm;
use crate::domain::dialogue::DialogueState;
use crate::domain::draft::Draft;
use crate::domain::facts::{Facts, HistoryLine, PastTurnFact, ProductFact};
use crate::domain::intent;
use crate::domain::language::{self, Language};
use crate::domain::segments::GSM7_SINGLE;
use crate::domain::spanish;
use crate::domain::{ConsentKind, EscalationReason, OutboxKind, TurnDecision};
use crate::escalation::{self, Reason, Thresholds};
use crate::guard::{self, Guarded, Verdict};
use crate::score;
use crate::store::conversations::{self, Conversation, ConversationState, MessageRow};
use crate::store::turns::{self, JsonText, TurnAudit};

use super::ingest::TurnJob;

/// A plan that only records what happened (and maybe sends compliance texts).
pub(super) fn plan(message: &MessageRow, decision: TurnDecision, intent: &str, outbound: Vec<Outbound>) -> TurnPlan {
    TurnPlan {
        outbound,
        escalation: vec![],
        escalation_details: json!({}),
        new_state: None,
        audit: audit_base(message, decision, intent),
        flow_choice: None,
    }
}

fn audit_base(message: &MessageRow, decision: TurnDecision, intent: &str) -> TurnAudit {
    TurnAudit {
        inbound_message_id: message.id,
        conversation_id: message.conversation_id,
        decision,
        intent: intent.into(),
        prompt_version: String::new(),
        model: String::new(),
        ..TurnAudit::default()
    }
}

/// Stage 1, compliance gate: keywords (whose consent events the webhook already recorded in
/// its transaction), opted-out senders, and conversations a person owns, judged by the
/// consent in force when the message arrived and by the assessment ingest made of the text
/// (carried in the job, so the consent change it recorded and this turn never disagree).
/// Returns a plan when the turn ends here.
pub fn compliance_gate(
    brand: &BrandConfig,
    job: &TurnJob,
    message: &MessageRow,
    conversation: &Conversation,
) -> Option<TurnPlan> {
    let opted_out = job.consent_before == Some(ConsentKind::OptOut);
    let assessment = match &job.assessment {
        Some(carried) => Cow::Borrowed(carried),
        // A job queued by a version whose ingest did not carry the assessment (turns still
        // queued across an upgrade, or one retried after a crash mid-turn): assess now, with
        // the consent state ingest saw. Only here does a text's classification run twice, and
        // a classifier changed since may disagree with the consent change ingest recorded.
        None => Cow::Owned(compliance::assess(&message.body, opted_out)),
    };
    let rule = assessment.rule.as_str();
    let confirm = |kind: OutboxKind, text: &str| vec![Outbound::text(kind, text)];
    let outcome = match (job.consent_change, assessment.intent) {
        // FCC 64.1200(a)(12): one confirmation, sent only when this message opted the number out.
        (Some(ConsentKind::OptOut), _) => {
            let confirmation = confirm(OutboxKind::OptOutConfirmation, &brand.opt_out_confirmation);
            plan(message, TurnDecision::OptOut, rule, confirmation)
        }
        // CTIA: every START/UNSTOP is answered with the opt-in confirmation and its disclosures.
        (Some(ConsentKind::OptIn), _) | (None, Intent::OptIn) => {
            plan(message, TurnDecision::OptIn, rule, confirm(OutboxKind::OptInConfirmation, &brand.opt_in_confirmation))
        }
        // Already opted out: no second confirmation.
        (None, Intent::OptOut) => plan(message, TurnDecision::OptOut, rule, vec![]),
        (_, Intent::Help) => plan(message, TurnDecision::Help, rule, confirm(OutboxKind::Help, &brand.help_text)),
        // Maybe an opt-out: send nothing (not even a holding message) and let a person decide.
        (_, Intent::PossibleOptOut) => {
            let mut p = plan(message, TurnDecision::Escalate, rule, vec![]);
            p.escalation =
                vec![Reason { code: EscalationReason::PossibleOptOut, detail: format!("may be an opt-out ({rule})") }];
            p.new_state = Some(ConversationState::Escalated);
            p
        }
        _ if opted_out => {
            // Someone who opted out wrote again without opting in: no automated text may go
            // to them, but a person should see the message.
            let mut p = plan(message, TurnDecision::Escalate, EscalationReason::OptedOutInbound.as_str(), vec![]);
            p.escalation = vec![Reason {
                code: EscalationReason::OptedOutInbound,
                detail: "an opted-out customer wrote; nothing was sent".into(),
            }];
            p
        }
        _ if conversation.state == ConversationState::Escalated => {
            plan(message, TurnDecision::HumanOwned, "none", vec![])
        }
        _ => return None,
    };
    Some(outcome)
}

/// A reply always has at least this much room, whatever the disclosure's length.
const MIN_REPLY_CHARS: usize = 80;

/// Stage 2, context: the recent thread, the customer's CRM profile and the dialogue state
/// (`seed`: the state a flow's text set up, for the first reply to it).
pub async fn context(
    deps: &Deps,
    message: &MessageRow,
    conversation: &Conversation,
    seed: Option<DialogueState>,
) -> anyhow::Result<Facts> {
    // The dialogue state first: the order the thread is about is loaded with the customer's
    // latest orders, as is any order the text quotes by number.
    let mut dialogue = turns::latest_dialogue(&deps.db, conversation.id, message.id).await?;
    if let Some(seed) = seed {
        dialogue = DialogueState { language: dialogue.language, ..seed };
    }
    let mut wanted_orders = intent::order_numbers(&message.body);
    wanted_orders.extend(dialogue.order.clone());
    // Three independent reads, run together (SQLite's read pool has several connections).
    let limit = deps.config.pipeline.history_messages;
    let (history, customer, recent_turns) = tokio::try_join!(
        conversations::recent_messages(&deps.db, conversation.id, message.id, limit),
        crm::customer_facts(&deps.db, &conversation.phone, &wanted_orders),
        turns::recent_bot_turns(&deps.db, conversation.id, message.id, score::RECENT_TURNS as i64),
    )?;
    let history: Vec<HistoryLine> =
        history.into_iter().map(|m| HistoryLine { from_customer: m.direction == "in", body: m.body }).collect();
    let mut customer = customer;
    drop_foreign_tracking(deps, &mut customer.orders);
    let recent_turns = recent_turns
        .into_iter()
        .map(|t| PastTurnFact { escalated: t.decision == TurnDecision::Escalate, confidence: t.confidence })
        .collect();
    // A Spanish text is read in the pipeline's English words; the reply is in Spanish.
    let language = language::detect_in_thread(&message.body, dialogue.language);
    // One SMS segment (160 GSM-7 characters), less the disclosure the first reply carries.
    let disclosure = deps.config.brand.ai_disclosure_in(language);
    let disclosure_chars =
        if Facts::first_reply_after(&history) && !disclosure.is_empty() { disclosure.chars().count() + 1 } else { 0 };
    let reply_chars = GSM7_SINGLE.saturating_sub(disclosure_chars).max(MIN_REPLY_CHARS);
    let (text, original) = match language {
        Language::Es => (spanish::to_english(&message.body), Some(message.body.clone())),
        Language::En => (message.body.clone(), None),
    };
    Ok(Facts {
        phone: conversation.phone.clone(),
        message: text,
        original,
        language,
        customer_name: customer.name,
        orders: customer.orders,
        history,
        products: vec![],
        policies: vec![],
        recent_turns,
        reply_chars,
        dialogue,
        asked: Default::default(),
        complements: vec![],
        goal: None,
        images: vec![],
        picture: None,
    })
}

/// Forgets tracking pages off the allowed link hosts: they are not facts a text may give.
pub fn drop_foreign_tracking(deps: &Deps, orders: &mut [crate::domain::facts::OrderFact]) {
    let hosts = deps.config.brand.link_hosts();
    for tracking in orders.iter_mut().filter_map(|o| o.tracking.as_mut()) {
        if tracking.url.as_deref().is_some_and(|url| !guard::claims::link_allowed(url, &hosts)) {
            tracking.url = None;
        }
    }
}

/// The outcome of generation: a draft, or why there is none.
pub struct Generated {
    pub draft: Draft,
    /// Set when the configured generator failed (and no fallback answered).
    pub error: Option<String>,
}

/// Stage 4, generate: the configured generator; on failure, the offline responder or an
/// escalation, as `llm.on_failure` says. Never loses the message.
pub async fn generate(deps: &Deps, facts: &Facts) -> Generated {
    match deps.generator.draft(facts).await {
        Ok(draft) => Generated { draft, error: None },
        Err(e) if deps.config.llm.on_failure == LlmFailure::Offline => {
            tracing::warn!(error = %e, "llm failed, answering offline");
            Generated { draft: deps.offline.answer(facts), error: Some(e.to_string()) }
        }
        Err(e) => {
            tracing::warn!(error = %e, "llm failed, escalating");
            Generated { draft: Draft { model: deps.generator.model(), ..Draft::default() }, error: Some(e.to_string()) }
        }
    }
}

/// Stage 5, guard: verify claims and shape the text for SMS.
/// The bot's first reply in a conversation starts with the AI disclosure (when configured),
/// so it is checked and sized together with the reply.
pub fn guard(deps: &Deps, generated: &Generated, facts: &Facts) -> Guarded {
    let disclosure = deps.config.brand.ai_disclosure_in(facts.language);
    let text = if facts.first_reply() && !disclosure.is_empty() && !generated.draft.text.is_empty() {
        format!("{disclosure} {}", generated.draft.text)
    } else {
        generated.draft.text.clone()
    };
    let mut guarded = guard::check(&text, facts, deps.config.pipeline.max_segments, &deps.config.brand.link_hosts());
    if !deps.config.pipeline.enforce_guard && guarded.verdict == guard::Verdict::Blocked {
        // Eval only (`pipeline.enforce_guard = false`): the findings stay on record, the
        // draft goes out as if it had passed.
        guarded.verdict = guard::Verdict::Pass;
        guarded.text = text;
    }
    guarded
}

/// Stage 6 output.
pub struct Scores {
    pub confidence: score::Confidence,
    /// The message's sentiment.
    pub sentiment: f64,
    /// The thread's: the customer's recent messages and this one, the latest weighing most.
    pub trend: f64,
}

/// Stage 6, score: the reply's confidence and the customer's sentiment.
pub fn score(generated: &Generated, guarded: &Guarded, facts: &Facts) -> Scores {
    let sentiment = score::sentiment(&facts.message);
    let mut thread: Vec<f64> =
        facts.history.iter().filter(|h| h.from_customer).map(|h| score::sentiment(&h.body)).collect();
    thread.push(sentiment);
    let recent_failures = facts.recent_turns.iter().filter(|t| t.escalated).count();
    Scores {
        confidence: score::confidence(&generated.draft, guarded, facts, recent_failures),
        sentiment,
        trend: score::sentiment::trend(&thread),
    }
}

/// Stage 7, route: send the reply, or hand over to a person with a holding message.
pub fn route(
    deps: &Deps,
    message: &MessageRow,
    facts: &Facts,
    generated: Generated,
    guarded: Guarded,
    scores: Scores,
    mut clock: StageClock,
) -> TurnPlan {
    let thresholds = Thresholds {
        confidence: deps.config.pipeline.confidence_threshold,
        caution: deps.config.pipeline.caution_threshold,
        sentiment: deps.config.pipeline.sentiment_threshold,
        order_value_cents: deps.config.pipeline.order_value_escalation_cents,
    };
    let mut reasons = Vec::new();
    if let Some(error) = &generated.error
        && generated.draft.text.is_empty()
    {
        reasons.push(Reason { code: EscalationReason::LlmUnavailable, detail: error.clone() });
    } else {
        reasons = escalation::reasons(
            &facts.message,
            &facts.orders,
            &generated.draft,
            &guarded,
            scores.confidence.value,
            scores.sentiment,
            scores.trend,
            facts.recent_turns.first().map(|t| t.confidence),
            thresholds,
        );
    }
    clock.mark("route");
    let draft = &generated.draft;
    let retrieved = json!({
        "products": facts.products.iter().map(|p| json!({"sku": p.sku, "score": p.score})).collect::<Vec<_>>(),
        "policies": facts.policies.iter().map(|p| json!({"id": p.id, "score": p.score})).collect::<Vec<_>>(),
        "prompt": {"tokens_counted": generated.draft.prompt_tokens_counted, "cuts": generated.draft.prompt_cuts},
    });
    let guard_json = json!({"verdict": guarded.verdict, "findings": guarded.findings, "claims": guarded.claims, "segments": guarded.segments});
    let escalate = !reasons.is_empty();
    let mut audit =
        audit_base(message, if escalate { TurnDecision::Escalate } else { TurnDecision::Reply }, &draft.intent);
    audit.retrieved = JsonText(retrieved);
    audit.prompt_version = draft.prompt_version.clone();
    audit.model = draft.model.clone();
    audit.prompt_tokens = draft.prompt_tokens;
    audit.completion_tokens = draft.completion_tokens;
    audit.draft = Some(draft.text.clone()).filter(|t| !t.is_empty());
    audit.guard = JsonText(guard_json.clone());
    audit.confidence = scores.confidence.value;
    audit.sentiment = scores.sentiment;
    let scores_json = json!({
        "confidence": scores.confidence,
        "intent": scores.confidence.message_intent,
        "sentiment": scores.sentiment,
        "sentiment_trend": scores.trend,
    });
    audit.scores = JsonText(scores_json.clone());
    audit.stage_ms = JsonText(clock.ms);
    audit.error = generated.error.clone();
    // The products a sent reply offered are what the next text's "it" points at; an
    // escalated draft offered nothing.
    let offered: Vec<&ProductFact> = if escalate {
        vec![]
    } else {
        draft.skus.iter().filter_map(|s| facts.products.iter().find(|p| p.sku.as_str() == s)).collect()
    };
    // Only a product question sets the thread's product words ("what's the weather?" in the
    // middle of a thread about a parka does not).
    let asked = if draft.intent == "product" {
        facts.asked.clone()
    } else {
        crate::domain::dialogue::Asked { own_words: String::new(), ..facts.asked.clone() }
    };
    let mut next = facts.dialogue.after(&asked, &offered);
    next.language = Some(facts.language);
    // A question back ("what kind of thing?") stays open until the customer answers it.
    next.open_question = (!escalate && intent::needs_what_kind(facts)).then(|| "what_kind".to_string());
    audit.dialogue = JsonText(json!({"asked": facts.asked, "state": next}));
    if escalate {
        let priority = escalation::priority(&reasons);
        let pipeline = &deps.config.pipeline;
        let minutes = match priority {
            escalation::Priority::High => pipeline.sla_high_minutes,
            escalation::Priority::Normal => pipeline.sla_normal_minutes,
        };
        // The SLA counts business hours only; outside them the customer is told when.
        let now = deps.clock.now();
        let sla_due = deps.hours.add_business_minutes(now, minutes);
        let holding = if deps.hours.is_open(now) {
            deps.config.brand.holding_message_in(facts.language).to_string()
        } else {
            let next_open = deps.hours.describe(deps.hours.next_open(now), now);
            deps.config.brand.holding_message_after_hours.replace("{next_open}", &next_open)
        };
        TurnPlan {
            outbound: vec![Outbound::text(OutboxKind::Holding, holding)],
            escalation_details: json!({
                "draft": draft.text,
                "guard": guard_json,
                // What the reviewer needs without digging: the thread, who the customer
                // is, their orders, and the products and policies the draft was grounded in.
                "snapshot": {
                    "message": facts.message,
                    "thread": facts.history,
                    "customer_name": facts.customer_name,
                    "orders": facts.orders,
                    "products": facts.products,
                    "policies": facts.policies,
                },
                "reasons": reasons,
                "priority": priority,
                "sla_due": sla_due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "confidence": scores.confidence.value,
                "scores": scores_json,
                "sentiment": scores.sentiment,
                "sentiment_trend": scores.trend,
            }),
            escalation: reasons,
            new_state: Some(ConversationState::Escalated),
            audit,
            flow_choice: None,
        }
    } else {
        debug_assert!(guarded.verdict != Verdict::Blocked);
        audit.reply = Some(guarded.text.clone());
        TurnPlan {
            outbound: vec![Outbound::text(OutboxKind::Reply, guarded.text)],
            escalation: vec![],
            escalation_details: json!({}),
            new_state: None,
            audit,
            flow_choice: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::Assessment;
    use crate::domain::Phone;

    fn message(body: &str) -> MessageRow {
        MessageRow {
            id: 7,
            conversation_id: 1,
            direction: "in".into(),
            provider_sid: Some("SM1".into()),
            from_phone: "+14155550123".into(),
            to_phone: "+15005550006".into(),
            body: body.into(),
            created_at: chrono::Utc::now(),
        }
    }

    fn conversation(state: ConversationState) -> Conversation {
        Conversation { id: 1, phone: Phone::parse("+14155550123").unwrap(), customer_id: Some(1), state }
    }

    type GateOutcome = Option<(TurnDecision, Vec<OutboxKind>, Vec<EscalationReason>)>;

    /// (text, consent before it, the change ingest recorded, the thread's owner, the outcome).
    type GateCase = (&'static str, Option<ConsentKind>, Option<ConsentKind>, ConversationState, GateOutcome);

    /// (decision, outbound kinds, escalation codes) of the gate, or None when the turn goes on.
    fn outcome(job: &TurnJob, body: &str, state: ConversationState) -> GateOutcome {
        compliance_gate(&BrandConfig::default(), job, &message(body), &conversation(state)).map(|p| {
            (
                p.audit.decision,
                p.outbound.iter().map(|o| o.kind).collect(),
                p.escalation.iter().map(|r| r.code).collect(),
            )
        })
    }

    /// The gate for a job as ingest queues it (`carried`: with its assessment) or as an older
    /// version queued it (without).
    fn gate(
        body: &str,
        before: Option<ConsentKind>,
        change: Option<ConsentKind>,
        state: ConversationState,
        carried: bool,
    ) -> GateOutcome {
        let opted_out = before == Some(ConsentKind::OptOut);
        let job = TurnJob {
            message_id: 7,
            consent_before: before,
            consent_change: change,
            assessment: carried.then(|| compliance::assess(body, opted_out)),
            picture: false,
        };
        outcome(&job, body, state)
    }

    use ConversationState::{Bot, Escalated};

    #[test]
    fn the_gate_decides_every_consent_and_ownership_case() {
        use {EscalationReason as R, OutboxKind as K, TurnDecision as D};
        // The consent before the message, and the change ingest recorded.
        let (opted_in, opted_out, hold) =
            (Some(ConsentKind::OptIn), Some(ConsentKind::OptOut), Some(ConsentKind::Hold));
        let cases: &[GateCase] = &[
            // The message that opted out gets the one confirmation, whoever owns the thread.
            ("STOP", opted_in, opted_out, Escalated, Some((D::OptOut, vec![K::OptOutConfirmation], vec![]))),
            // A STOP from someone already opted out: nothing more.
            ("stop", opted_out, None, Bot, Some((D::OptOut, vec![], vec![]))),
            ("START", opted_out, opted_in, Bot, Some((D::OptIn, vec![K::OptInConfirmation], vec![]))),
            ("unstop", opted_in, None, Bot, Some((D::OptIn, vec![K::OptInConfirmation], vec![]))),
            ("HELP", None, None, Escalated, Some((D::Help, vec![K::Help], vec![]))),
            // A question from an opted-out number: no text, a person is told.
            ("blouse?", opted_out, None, Bot, Some((D::Escalate, vec![], vec![R::OptedOutInbound]))),
            // "yes" is an ordinary answer unless the sender was opted out when it arrived.
            ("yes", opted_in, None, Bot, None),
            ("yes", opted_in, None, Escalated, Some((D::HumanOwned, vec![], vec![]))),
            ("do you have it in red?", None, None, Bot, None),
            // Plain words: the webhook recorded the opt-out; the confirmation follows.
            (
                "please stop texting me",
                opted_in,
                opted_out,
                Bot,
                Some((D::OptOut, vec![K::OptOutConfirmation], vec![])),
            ),
            ("how do I stop these?", opted_in, hold, Bot, Some((D::Escalate, vec![], vec![R::PossibleOptOut]))),
        ];
        for (body, before, change, state, expected) in cases {
            let expected = expected.clone();
            for carried in [true, false] {
                let got = gate(body, *before, *change, *state, carried);
                assert_eq!(got, expected, "{body:?} before={before:?} change={change:?} {state:?} carried={carried}");
            }
        }
    }

    #[test]
    fn the_gate_acts_on_the_carried_assessment_not_on_a_new_one() {
        // What ingest concluded, unlike what the classifier says of these words today.
        let help = Assessment { intent: Intent::Help, rule: "keyword:HELP".into(), source: "keyword" };
        let none = Assessment { intent: Intent::None, rule: "none".into(), source: "keyword" };
        assert_eq!(compliance::assess("do you have it in red?", false).intent, Intent::None);
        assert_eq!(compliance::assess("STOP", false).intent, Intent::OptOut);
        let job = |assessment: &Assessment| TurnJob {
            message_id: 7,
            consent_before: Some(ConsentKind::OptIn),
            consent_change: None,
            assessment: Some(assessment.clone()),
            picture: false,
        };
        assert_eq!(
            outcome(&job(&help), "do you have it in red?", Bot),
            Some((TurnDecision::Help, vec![OutboxKind::Help], vec![]))
        );
        assert_eq!(outcome(&job(&none), "STOP", Bot), None, "the turn goes on as ingest judged it");
        let plan = compliance_gate(
            &BrandConfig::default(),
            &job(&help),
            &message("do you have it in red?"),
            &conversation(Bot),
        )
        .unwrap();
        assert_eq!(plan.audit.intent, "keyword:HELP", "the audit names the carried rule");
    }

    #[test]
    fn a_job_queued_without_an_assessment_is_assessed_at_turn_time() {
        // The payload an older version queued: no `assessment` key.
        let old: TurnJob =
            serde_json::from_str(r#"{"message_id":7,"consent_before":"opt_in","consent_change":null}"#).unwrap();
        assert_eq!(old.assessment, None);
        assert_eq!(outcome(&old, "HELP", Bot), Some((TurnDecision::Help, vec![OutboxKind::Help], vec![])));
        assert_eq!(outcome(&old, "do you have it in red?", Bot), None);
    }
}
