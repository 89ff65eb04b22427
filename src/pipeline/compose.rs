//! Compose steps' texts (docs/flows.md, "Compose steps"): a flow's text written for one
//! customer by the turn's own stages. The goal stands where a customer's message would: the
//! context stage's facts (their orders, the trigger's items as the dialogue's focus), retrieval
//! over the goal's words, the configured generator with the compose prompt (or the offline
//! responder), then the reply guard and the confidence score. Whatever the guard would not
//! let a reply say, a composed text does not say either: it is refused, with the reason.

use async_trait::async_trait;

use super::{Deps, retrieve, stages};
use crate::domain::facts::{Facts, HistoryLine};
use crate::domain::language::Language;
use crate::domain::segments::GSM7_SINGLE;
use crate::flows::compose::{ComposeRequest, Composed, Composer};
use crate::guard::Verdict;
use crate::store::conversations;

/// The pipeline as a flow's writer.
pub struct PipelineComposer {
    pub deps: Deps,
}

#[async_trait]
impl Composer for PipelineComposer {
    async fn compose(&self, request: &ComposeRequest<'_>) -> anyhow::Result<Composed> {
        let deps = &self.deps;
        let facts = facts(deps, request).await?;
        let facts = retrieve::retrieve(deps, facts).await?;
        let generated = stages::generate(deps, &facts).await;
        if generated.draft.text.trim().is_empty() {
            let why = generated.error.clone().unwrap_or_else(|| "it wrote nothing".into());
            return Ok(Composed::Refused(format!("compose: the model failed: {why}")));
        }
        let guarded = stages::guard(deps, &generated, &facts);
        if guarded.verdict == Verdict::Blocked {
            let findings: Vec<&str> = guarded
                .findings
                .iter()
                .filter(|f| crate::guard::is_blocking(f.kind))
                .map(|f| f.detail.as_str())
                .collect();
            return Ok(Composed::Refused(format!("compose: the guard blocked the text: {}", findings.join("; "))));
        }
        if let Some(why) = &generated.draft.needs_human {
            return Ok(Composed::Refused(format!("compose: the writer asked for a person: {why}")));
        }
        let confidence = crate::score::confidence(&generated.draft, &guarded, &facts, 0).value;
        let threshold = deps.config.pipeline.confidence_threshold;
        if confidence < threshold {
            return Ok(Composed::Refused(format!("compose: confidence {confidence:.2} is below {threshold:.2}")));
        }
        tracing::info!(flow = request.flow, model = %generated.draft.model, confidence, "compose step written");
        Ok(Composed::Text(guarded.text))
    }
}

impl PipelineComposer {
    /// The writer `flows simulate` uses: the offline responder over `db`'s catalog, indexed in
    /// `index_dir` (with `demo`, the demo store's products and policies are loaded first). A
    /// replay calls no model: it is free and gives the same texts every time.
    pub async fn offline(
        db: &crate::store::Db,
        index_dir: &std::path::Path,
        config: &crate::config::Config,
        demo: bool,
    ) -> anyhow::Result<PipelineComposer> {
        let index = std::sync::Arc::new(crate::catalog::SearchIndex::open_or_create(index_dir)?);
        if demo {
            crate::demo::load_catalog(db).await?;
        }
        crate::demo::rebuild_index(db, &index).await?;
        let offline = std::sync::Arc::new(crate::llm::offline::OfflineResponder);
        let hours = crate::escalation::hours::BusinessHours::from_config(&config.business_hours)
            .map_err(|(key, why)| anyhow::anyhow!("invalid config key `{key}`: {why}"))?;
        let deps = Deps {
            db: db.clone(),
            index,
            generator: offline.clone(),
            offline,
            config: std::sync::Arc::new(config.clone()),
            semantic: None,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
            hours: std::sync::Arc::new(hours),
        };
        Ok(PipelineComposer { deps })
    }
}

/// What the writer knows: the customer's orders (the trigger's order among them), the
/// trigger's items as the dialogue's focus, the thread so far (whether the AI disclosure is
/// due), and the goal where a message would be.
async fn facts(deps: &Deps, request: &ComposeRequest<'_>) -> anyhow::Result<Facts> {
    let dialogue = request.context.dialogue();
    let wanted: Vec<String> = dialogue.order.iter().cloned().collect();
    let mut customer = crate::crm::customer_facts(&deps.db, request.phone, &wanted).await?;
    stages::drop_foreign_tracking(deps, &mut customer.orders);
    let history = match conversations::conversation_by_phone(&deps.db, request.phone).await? {
        Some(c) => conversations::recent_messages(&deps.db, c.id, i64::MAX, deps.config.pipeline.history_messages)
            .await?
            .into_iter()
            .map(|m| HistoryLine { from_customer: m.direction == "in", body: m.body })
            .collect(),
        None => vec![],
    };
    let disclosure = deps.config.brand.ai_disclosure_in(Language::En);
    let disclosure_chars =
        if Facts::first_reply_after(&history) && !disclosure.is_empty() { disclosure.chars().count() + 1 } else { 0 };
    Ok(Facts {
        phone: request.phone.clone(),
        message: request.goal.to_string(),
        original: None,
        language: Language::En,
        customer_name: customer.name,
        orders: customer.orders,
        history,
        products: vec![],
        policies: vec![],
        recent_turns: vec![],
        reply_chars: GSM7_SINGLE.saturating_sub(disclosure_chars).max(80),
        dialogue,
        asked: Default::default(),
        complements: vec![],
        goal: Some(request.goal.to_string()),
        images: vec![],
        picture: None,
    })
}
