//! `backtalk eval`: replays recorded transcripts through the real pipeline and measures it.
//!
//! Every run gets a fresh temporary SQLite database and tantivy index, loaded from a named
//! store (the embedded demo store, or `--store DIR`). Each conversation texts from a
//! number of its own (so conversations that share a customer cannot see each other),
//! carrying the transcript's customer: the store's CRM record for its phone, or the name
//! and orders the transcript gives. Each text goes through the same path as a webhook's
//! (ingest with the consent keywords in its transaction, the turn job, the outbox sender
//! with a provider that keeps the texts), and the turn's audit row and outbox rows are read
//! back. Conversations run concurrently; their turns in order.
//!
//! The model is the offline responder (`--llm offline`), the configured endpoint (`live`,
//! optionally recording every response into a cassette), or a cassette (`replay`: the
//! recorded responses, byte for byte, served to the real client over HTTP).

pub mod cassette;
pub mod export;
pub mod gate;
pub mod html;
pub mod report;
pub mod transcript;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use futures_util::StreamExt;

use crate::app::{App, BuildOptions};
use crate::config::{Config, Secret};
use crate::domain::{Phone, Sku};
use crate::pipeline::ingest::{Inbound, Ingested, ingest};
use crate::sms::{Accepted, OutgoingSms, SendError, SmsProvider};
use crate::store::Db;
use report::TurnResult;
use transcript::Transcript;

/// Where the model's answers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmMode {
    /// The offline responder (retrieval and templates).
    Offline,
    /// The configured OpenAI-compatible endpoint.
    Live,
    /// Responses recorded in a cassette, replayed byte for byte.
    Replay,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub transcripts: Vec<PathBuf>,
    pub llm: LlmMode,
    /// Live: record into this cassette; replay: read it.
    pub cassette: Option<PathBuf>,
    /// A store directory (`catalog.jsonl`, `policies.jsonl`, `customers.jsonl`,
    /// `orders.jsonl`); default the embedded demo store.
    pub store: Option<PathBuf>,
    /// Conversations at once.
    pub concurrency: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// Keep the configured embedding endpoint (hybrid retrieval); off by default, so an
    /// eval depends on no outside service.
    pub embeddings: bool,
}

/// A provider that accepts every text and keeps nothing: the outbox rows are the record.
struct KeepProvider(std::sync::atomic::AtomicU64);

#[async_trait]
impl SmsProvider for KeepProvider {
    async fn send(&self, _sms: &OutgoingSms) -> Result<Accepted, SendError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Accepted { provider_sid: format!("EVAL{n:012}") })
    }
    fn sender_label(&self) -> String {
        "eval".into()
    }
}

/// The number conversation `n` texts from: 555-01xx numbers (reserved for fiction) over
/// area codes 201… (skipping N11 codes).
fn eval_phone(n: usize) -> String {
    let mut area = 201 + n / 100;
    while area % 100 == 11 {
        area += 1;
    }
    format!("+1{area}55501{:02}", n % 100)
}

/// Runs the transcripts; the report (the gate is the caller's).
pub async fn run(mut config: Config, options: &Options) -> anyhow::Result<report::Report> {
    let started = Instant::now();
    let transcripts = transcript::read(&options.transcripts)?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    config.data_dir = dir.path().to_path_buf();
    config.database_url = format!("sqlite://{}", dir.path().join("eval.db").display());
    config.twilio = Default::default();
    config.twilio.auth_token = Secret::new("eval");
    // Replayed transcripts are not events of the brand's: its systems must not hear of them.
    config.webhooks.endpoints.clear();
    config.worker.poll_ms = 5;
    if !options.embeddings {
        config.embeddings = Default::default();
    }
    config.qdrant = Default::default();
    // The eval measures answers, not the calendar: always open, so the holding message and
    // the SLA do not depend on the hour the eval runs.
    config.business_hours.enabled = false;
    let proxy = match options.llm {
        LlmMode::Offline => {
            config.llm.base_url = String::new();
            None
        }
        LlmMode::Live => {
            anyhow::ensure!(config.llm_configured(), "--llm live needs llm.base_url and llm.model configured");
            match &options.cassette {
                Some(path) => {
                    let upstream = config.llm.base_url.clone();
                    let proxy = cassette::Proxy::record(path, &upstream).await?;
                    config.llm.base_url = proxy.base_url();
                    Some(proxy)
                }
                None => None,
            }
        }
        LlmMode::Replay => {
            let path = options.cassette.as_ref().context("--llm replay needs --cassette FILE")?;
            let proxy = cassette::Proxy::replay(path).await?;
            config.llm.base_url = proxy.base_url();
            // The requests must be the recorded ones, model name included.
            if let Some(model) = proxy.model() {
                config.llm.model = model;
            }
            Some(proxy)
        }
    };
    if let Some(store) = &options.store {
        load_store(&config, store).await?;
    }
    let provider = Arc::new(KeepProvider(Default::default()));
    let app = App::build(
        config.clone(),
        BuildOptions { demo: options.store.is_none(), provider: Some(provider), clock: None },
    )
    .await
    .context("cannot build the pipeline for the eval")?;
    let db = app.state.db.clone();
    for (n, t) in transcripts.iter().enumerate() {
        setup_customer(&db, t, n).await.with_context(|| format!("conversation {:?}: customer", t.id))?;
    }

    // With a cassette, one conversation at a time: the client remembers a refused output mode
    // across requests, so which request comes first must be the same when recording and
    // replaying.
    let concurrency = if proxy.is_some() { 1 } else { options.concurrency.max(1) };
    let bar = progress_bar(options.progress, transcripts.iter().map(|t| t.turns.len()).sum());
    let worker = app.worker.clone();
    let results: Vec<anyhow::Result<Vec<TurnResult>>> = futures_util::stream::iter(transcripts.iter().enumerate())
        .map(|(n, t)| {
            let (db, worker, config, bar) = (db.clone(), worker.clone(), config.clone(), bar.clone());
            async move {
                let results = run_conversation(&db, worker.as_ref(), &config, t, n).await;
                bar.inc(t.turns.len() as u64);
                results
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    bar.finish_and_clear();
    let mut turns = Vec::new();
    for r in results {
        turns.extend(r?);
    }
    if let Some(proxy) = &proxy {
        proxy.finish(&transcripts)?;
    }
    db.close().await;
    let wall_s = started.elapsed().as_secs_f64();
    Ok(report::Report::build(&transcripts, turns, &config, options.llm, wall_s))
}

/// Loads a store directory into the eval's fresh database.
async fn load_store(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("--store: cannot read {}", path.display()))
    };
    let products = crate::catalog::records::parse_jsonl(&read("catalog.jsonl")?, "store catalog")?;
    let policies = crate::catalog::records::parse_jsonl(&read("policies.jsonl")?, "store policies")?;
    let customers = crate::catalog::records::parse_jsonl(&read("customers.jsonl")?, "store customers")?;
    let orders = crate::catalog::records::parse_jsonl(&read("orders.jsonl")?, "store orders")?;
    std::fs::create_dir_all(&config.data_dir)?;
    let db = Db::connect(&config.effective_database_url()).await?;
    crate::demo::import_catalog(&db, &products, &policies).await?;
    crate::crm::import(&db, &customers, &orders).await?;
    db.close().await;
    Ok(())
}

/// Gives `phone` the transcript's customer: the store's record of its phone (name, orders,
/// consent), or the name and orders it gives (a known customer: opted in).
async fn setup_customer(db: &Db, t: &Transcript, conversation: usize) -> anyhow::Result<()> {
    let phone = eval_phone(conversation);
    let phone = phone.as_str();
    let Some(c) = &t.customer else { return Ok(()) };
    let phone = Phone::parse(phone).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut customer = crate::crm::CustomerRecord {
        phone: phone.clone(),
        name: c.name.clone(),
        email: None,
        timezone: None,
        consent: Some("opted_in".into()),
        external_id: None,
    };
    let mut orders = Vec::new();
    if let Some(original) = c.phone.as_deref().filter(|_| c.name.is_none() && c.orders.is_empty()) {
        let original = Phone::parse(original).map_err(|e| anyhow::anyhow!("customer phone: {e}"))?;
        let Some(known) = crate::store::crm::customer_by_phone(db, &original).await? else {
            // A phone the store does not know: a new lead.
            return Ok(());
        };
        customer.name = known.name;
        customer.email = known.email;
        customer.consent = match crate::store::consent::latest_consent(db, &original).await? {
            Some(crate::domain::ConsentKind::OptIn) => Some("opted_in".into()),
            Some(crate::domain::ConsentKind::OptOut) => Some("opted_out".into()),
            _ => None,
        };
        for o in crate::store::crm::orders_for_customer(db, known.id, 100).await? {
            orders.push(crate::crm::OrderRecord {
                // Order ids are unique in the database; each conversation gets its own copy.
                order_id: format!("{}-{}", o.external_id, conversation + 1),
                phone: phone.clone(),
                ordered_at: o.ordered_at,
                status: o.status,
                items: o
                    .items
                    .into_iter()
                    .map(|i| crate::crm::OrderItemRecord {
                        sku: i.sku,
                        title: i.title,
                        price: i.price_cents as f64 / 100.0,
                        quantity: i.quantity,
                    })
                    .collect(),
                fulfillment_status: None,
                tracking_company: None,
                tracking_number: None,
                tracking_url: None,
                shop: Default::default(),
            });
        }
    } else {
        for (k, o) in c.orders.iter().enumerate() {
            let ordered_at = chrono::DateTime::parse_from_rfc3339(&o.ordered_at)
                .map(|t| t.with_timezone(&chrono::Utc))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&o.ordered_at, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc())
                })
                .map_err(|_| anyhow::anyhow!("order {}: ordered_at {:?} is not a date", k + 1, o.ordered_at))?;
            orders.push(crate::crm::OrderRecord {
                order_id: o.order_id.clone().unwrap_or_else(|| format!("E{:04}{:02}", conversation + 1, k + 1)),
                phone: phone.clone(),
                ordered_at,
                status: o.status.clone().unwrap_or_else(|| "delivered".into()),
                items: vec![crate::crm::OrderItemRecord {
                    sku: Sku::parse(&o.sku).map_err(|e| anyhow::anyhow!("order {}: {e}", k + 1))?,
                    title: o.title.clone(),
                    price: o.price,
                    quantity: 1,
                }],
                fulfillment_status: None,
                tracking_company: None,
                tracking_number: None,
                tracking_url: None,
                shop: Default::default(),
            });
        }
    }
    crate::crm::import(db, &[customer], &orders).await?;
    Ok(())
}

fn progress_bar(show: bool, total: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} eval [{bar:30}] {pos}/{len} turns, {elapsed} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A turn may take this long before the eval gives up on it (an LLM retrying, a stuck job).
const TURN_TIMEOUT: Duration = Duration::from_secs(180);

/// Texts the conversation's turns in order; what each did.
async fn run_conversation(
    db: &Db,
    worker: &crate::pipeline::worker::Worker,
    config: &Config,
    t: &Transcript,
    n: usize,
) -> anyhow::Result<Vec<TurnResult>> {
    let phone = Phone::parse(&eval_phone(n)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(t.turns.len());
    for (k, turn) in t.turns.iter().enumerate() {
        if turn.hand_back_before {
            crate::escalation::review::hand_back_conversation(db, &phone, "eval").await?;
        }
        let inbound = Inbound {
            provider_sid: format!("EVAL{n:08}T{k:04}"),
            from: phone.clone(),
            to: "eval".into(),
            body: turn.inbound.clone(),
            media: vec![],
        };
        let Ingested::New(message_id) = ingest(db, &inbound, config.worker.max_attempts).await? else {
            anyhow::bail!("conversation {:?} turn {}: the text was stored before", t.id, k + 1);
        };
        let deadline = Instant::now() + TURN_TIMEOUT;
        loop {
            crate::jobs::drain(db, worker, &config.worker).await?;
            if let Some(row) = report::read_turn(db, message_id).await? {
                let mut result = row;
                result.id = t.id.clone();
                result.turn = k + 1;
                result.input = turn.inbound.clone();
                result.expect = turn.expect.clone();
                out.push(result);
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "conversation {:?} turn {}: no result within {} s",
                t.id,
                k + 1,
                TURN_TIMEOUT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    Ok(out)
}
