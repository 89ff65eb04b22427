//! Wiring: database, index, generator, provider, router and workers; graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::SearchIndex;
use crate::catalog::semantic::Semantic;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::escalation::hours::BusinessHours;
use crate::http::{AppState, Metrics, router};
use crate::jobs::{self, Waker};
use crate::llm::Generator;
use crate::llm::client::OpenAiGenerator;
use crate::llm::offline::OfflineResponder;
use crate::pipeline::Deps;
use crate::pipeline::ingest::IngestBatcher;
use crate::pipeline::worker::Worker;
use crate::sms::SmsProvider;
use crate::sms::print::PrintProvider;
use crate::sms::sender::Sender;
use crate::sms::twilio::TwilioSender;
use crate::store::Db;
use crate::webhooks_out::Deliverer;
use crate::{demo, sms};

/// The auth token that signs webhooks in `--demo` mode when none is configured. Not a
/// secret: it only lets a local curl reach a demo server.
pub const DEMO_AUTH_TOKEN: &str = "demo-auth-token";

/// Everything a running Backtalk needs, built once.
pub struct App {
    pub state: AppState,
    pub worker: Arc<Worker>,
}

/// How to build the app.
#[derive(Default)]
pub struct BuildOptions {
    /// Load the bundled demo store on first start; print texts when Twilio is not configured.
    pub demo: bool,
    /// Use this provider instead of the configured one (`backtalk chat` prints to the terminal).
    pub provider: Option<Arc<dyn SmsProvider>>,
    /// Use this clock instead of the system's (tests of quiet hours).
    pub clock: Option<Arc<dyn Clock>>,
}

impl App {
    /// Connects the database, opens the index, picks the generator and provider.
    pub async fn build(mut config: Config, options: BuildOptions) -> anyhow::Result<App> {
        if config.twilio.auth_token.is_empty() {
            if options.demo || options.provider.is_some() {
                config.twilio.auth_token = Secret::new(DEMO_AUTH_TOKEN);
            } else if config.telnyx.public_key.is_empty() {
                anyhow::bail!(
                    "twilio.auth_token (BACKTALK_TWILIO_AUTH_TOKEN) or telnyx.public_key (BACKTALK_TELNYX_PUBLIC_KEY) is required to verify webhooks; use --demo to try Backtalk without a provider"
                );
            }
            // Telnyx alone: Twilio's webhooks are refused (no token to verify them with).
        }
        if !config.pipeline.enforce_guard {
            warn!("pipeline.enforce_guard is false: replies the guard cannot verify WILL be sent (eval use only)");
        }
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
        let db = Db::connect(&config.effective_database_url()).await?;
        let index = Arc::new(SearchIndex::open_or_create(&config.data_dir.join("index"))?);
        if options.demo {
            demo::load_if_empty(&db, &index).await?;
        } else if index.num_docs() == 0 {
            demo::rebuild_index(&db, &index).await?;
        }
        // The opt-out model trains once per process (about 0.3 s in a release build); do it
        // now, off the async threads, rather than inside the first webhook.
        tokio::task::spawn_blocking(|| {
            crate::compliance::model::embedded();
        })
        .await?;
        let semantic = Semantic::open(&config.embeddings, &config.qdrant, &config.data_dir)?.map(Arc::new);
        if let Some(semantic) = &semantic {
            // First start with an embedding endpoint (or an empty Qdrant collection): embed
            // the catalog once. A failure leaves BM25 alone, which works.
            let embedded = async {
                if semantic.len().await? == 0 {
                    demo::embed_catalog(&db, semantic).await?;
                }
                anyhow::Ok(())
            };
            if let Err(e) = embedded.await {
                tracing::warn!(error = format!("{e:#}"), "product vectors unavailable; searching with BM25 alone");
            }
        }
        let offline = Arc::new(OfflineResponder);
        let generator: Arc<dyn Generator> = if config.llm_configured() {
            let max_chars = config.pipeline.max_segments * 153;
            Arc::new(OpenAiGenerator::new(&config.llm, &config.brand, max_chars.min(320))?)
        } else {
            offline.clone()
        };
        let provider: Arc<dyn SmsProvider> = match options.provider {
            Some(p) => p,
            None => match providers(&config)? {
                Some(router) => Arc::new(router),
                None if options.demo => Arc::new(PrintProvider::new("[demo outbox]", true)),
                None => anyhow::bail!(
                    "no provider to send texts: set twilio.account_sid or telnyx.api_key; use --demo to print them instead"
                ),
            },
        };
        let config = Arc::new(config);
        let waker = Waker::default();
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let hours = BusinessHours::from_config(&config.business_hours)
            .map_err(|(key, why)| anyhow::anyhow!("invalid config key `{key}`: {why}"))?;
        let sender = Arc::new(Sender {
            db: db.clone(),
            provider,
            clock: clock.clone(),
            smart_sending: config.smart_sending(),
            links: Some(crate::sms::links::LinkTracking {
                base: config.public_url.trim_end_matches('/').to_string(),
                hosts: config.brand.link_hosts(),
            }),
        });
        let deps = Deps {
            db: db.clone(),
            index: index.clone(),
            generator,
            offline,
            config: config.clone(),
            semantic,
            clock: clock.clone(),
            hours: Arc::new(hours),
        };
        let webhooks = Arc::new(Deliverer::start(&db, &config.webhooks).await?);
        let flows = Arc::new(crate::flows::engine::Engine {
            db: db.clone(),
            flows: Arc::new(crate::flows::set::FlowSet::new(&config.flows_dir())),
            clock: clock.clone(),
            max_attempts: config.worker.max_attempts,
            waker: waker.clone(),
            composer: Some(Arc::new(crate::pipeline::compose::PipelineComposer { deps: deps.clone() })),
            segments_dir: config.segments_dir(),
        });
        let notifier = Arc::new(crate::escalation::notify::Notifier::new(
            db.clone(),
            &config.notify,
            &config.smtp,
            &config.public_url,
        )?);
        let worker = Arc::new(Worker { deps, sender, waker: waker.clone(), webhooks, flows, notifier });
        let ingest =
            IngestBatcher::spawn(db.clone(), config.worker.max_attempts).context("the ingest thread did not start")?;
        let login_csrf_key = crate::store::secrets::get_or_create(&db, "login_csrf").await?;
        let state = AppState {
            db,
            config,
            index,
            waker,
            metrics: Arc::new(Metrics::default()),
            ingest,
            login_limiter: Arc::default(),
            login_csrf_key: Arc::new(login_csrf_key),
            clock,
        };
        Ok(App { state, worker })
    }

    /// Serves HTTP on `listener` and runs the workers until `cancel` fires, then drains:
    /// the server stops accepting, in-flight requests finish, each worker finishes its job.
    pub async fn run(self, listener: TcpListener, cancel: CancellationToken) -> anyhow::Result<()> {
        let config = &self.state.config;
        // The workers run `worker.nice` below the webhooks' CPU priority (0: at the same).
        let worker_runtime =
            jobs::WorkerRuntime::new(config.worker.nice).context("failed to start the workers' runtime")?;
        let workers = jobs::spawn_workers(
            &worker_runtime.handle(),
            self.state.db.clone(),
            self.worker.clone(),
            config.worker.clone(),
            self.state.waker.clone(),
            cancel.clone(),
        );
        // Campaigns' planned texts go to the sender at each campaign's rate (docs/campaigns.md).
        let dispatcher = crate::flows::dispatch::Dispatcher::new(
            self.state.db.clone(),
            self.state.clock.clone(),
            config.worker.max_attempts,
            self.state.waker.clone(),
            self.worker.flows.composer.clone(),
            config.campaigns.rate,
        );
        let dispatching = tokio::spawn(dispatcher.run(cancel.clone()));
        // Orders are attributed, and deliverability checked, in the background (docs/analytics.md).
        let hours = BusinessHours::from_config(&config.business_hours).unwrap_or_else(|_| BusinessHours::always_open());
        let analysing = tokio::spawn(crate::analytics::run(
            self.state.db.clone(),
            config.attribution_windows(),
            hours,
            self.state.clock.clone(),
            cancel.clone(),
        ));
        // This process's heartbeat, and the release of dead processes' jobs (docs/operations.md).
        let beating = tokio::spawn(jobs::run_heartbeat(
            self.state.db.clone(),
            config.worker.clone(),
            self.state.waker.clone(),
            cancel.clone(),
        ));
        // Normal-priority escalations reach reviewers as a digest (docs/reviewers.md).
        let digest_every = crate::domain::duration::parse(&config.notify.digest_every)
            .map_err(anyhow::Error::msg)
            .context("notify.digest_every")?;
        let digesting = tokio::spawn(crate::escalation::notify::run_digests(
            self.state.db.clone(),
            digest_every,
            self.state.waker.clone(),
            cancel.clone(),
        ));
        // SQLite's WAL is checkpointed here rather than by the commit that fills it.
        let checkpointing = tokio::spawn(crate::store::run_checkpoints(self.state.db.clone(), cancel.clone()));
        let db = self.state.db.clone();
        let shutdown = cancel.clone();
        // The peer address reaches handlers (the console's per-address login limit); a client
        // slower than header_read_timeout_secs with its request head is disconnected.
        let header_timeout = std::time::Duration::from_secs(config.header_read_timeout_secs.max(1));
        crate::http::serve::serve(listener, router(self.state), header_timeout, shutdown)
            .await
            .context("http server failed")?;
        for w in workers {
            let _ = w.await;
        }
        let _ = dispatching.await;
        let _ = analysing.await;
        let _ = digesting.await;
        let _ = beating.await;
        let _ = checkpointing.await;
        db.close().await;
        // Last: connections the workers opened belong to this runtime's I/O driver.
        drop(worker_runtime);
        info!("shut down cleanly");
        Ok(())
    }
}

/// Binds the configured address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("failed to listen on {addr}"))
}

/// Fires `cancel` on ctrl-c or SIGTERM.
pub fn cancel_on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("install SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        warn!("shutdown requested; finishing in-flight work");
        cancel.cancel();
    });
}

/// A ready-to-paste curl command that posts a correctly signed inbound text.
pub fn signed_curl_example(config: &Config, from: &str, body: &str) -> String {
    let url = config.inbound_webhook_url();
    let sid = format!("SM{:032x}", rand::random::<u128>());
    let params: Vec<(String, String)> = vec![
        ("Body".into(), body.into()),
        ("From".into(), from.into()),
        ("MessageSid".into(), sid),
        ("To".into(), "+15005550006".into()),
    ];
    let signature = sms::signature::compute_signature(config.twilio.auth_token.expose(), &url, &params);
    let data: Vec<String> = params.iter().map(|(k, v)| format!("--data-urlencode '{k}={v}'")).collect();
    format!("curl -sS -X POST '{url}' -H 'X-Twilio-Signature: {signature}' {}", data.join(" "))
}

/// The configured providers behind one router, the default first (`default_provider`);
/// `None` when neither Twilio nor Telnyx is configured to send.
fn providers(config: &Config) -> anyhow::Result<Option<crate::sms::router::Router>> {
    let mut all: Vec<(&'static str, Arc<dyn SmsProvider>)> = Vec::new();
    if !config.twilio.account_sid.is_empty() {
        all.push(("twilio", Arc::new(TwilioSender::new(&config.twilio, Some(config.status_webhook_url()))?)));
    }
    if !config.telnyx.api_key.is_empty() {
        let telnyx = crate::sms::telnyx::TelnyxSender::new(&config.telnyx, Some(config.telnyx_webhook_url()))?;
        all.push(("telnyx", Arc::new(telnyx)));
    }
    match config.default_provider.trim() {
        "" => {}
        name @ ("twilio" | "telnyx") => {
            let Some(i) = all.iter().position(|(n, _)| *n == name) else {
                anyhow::bail!("default_provider is {name}, which is not configured to send");
            };
            let chosen = all.remove(i);
            all.insert(0, chosen);
        }
        other => anyhow::bail!("invalid config key `default_provider`: {other:?} is not twilio or telnyx"),
    }
    Ok(crate::sms::router::Router::new(all))
}
