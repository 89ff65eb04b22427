//! `backtalk bench webhooks-out`: what outbound webhooks cost the path of an inbound text,
//! and how fast deliveries drain to a local receiver.
//!
//! Two fresh SQLite databases, one with an endpoint subscribed to every event and one with
//! none; texts are stored (`pipeline::ingest::ingest`, the webhook's transaction) alternately
//! in each, so both see the same machine at the same moment. The difference of the medians
//! is what `emit` adds (the `message.received` event, its delivery and its job). Then the
//! queued deliveries are sent by the real `Deliverer` on four workers to an axum receiver on
//! loopback that answers 204; deliveries per second is the figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::percentile;
use crate::config::{Secret, WebhookEndpointConfig, WebhooksConfig, WorkerConfig};
use crate::domain::{DeliveryStatus, Phone};
use crate::jobs::{JobError, JobHandler, Waker, spawn_workers};
use crate::pipeline::ingest::{Inbound, ingest};
use crate::store::Db;
use crate::store::jobs::{JobRow, complete_job};
use crate::store::webhook_events::{KIND_WEBHOOK_DELIVERY, count_deliveries};
use crate::webhooks_out::{Deliverer, delivery_of, generate_secret};

/// Runs delivery jobs; completes the texts' turn jobs unrun (only deliveries are measured).
struct DeliveriesOnly(Deliverer, Db);

#[async_trait]
impl JobHandler for DeliveriesOnly {
    async fn handle(&self, job: &JobRow) -> Result<(), JobError> {
        if job.kind == KIND_WEBHOOK_DELIVERY
            && let Some(id) = delivery_of(job)
        {
            return self.0.deliver(job, id).await;
        }
        let mut tx = self.1.begin().await?;
        complete_job(&mut tx, job.id, job.attempts).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn bury(&self, job: &JobRow, reason: &str) -> anyhow::Result<()> {
        self.0.bury(job, reason).await
    }
}

/// `backtalk bench webhooks-out --texts N`.
pub async fn run(texts: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let url_of = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let (plain, hooked) = (Db::connect(&url_of("plain.db")).await?, Db::connect(&url_of("hooked.db")).await?);
    let endpoint = WebhookEndpointConfig {
        url,
        secret: Secret::new(generate_secret()),
        events: vec!["*".into()],
        description: "bench receiver".into(),
    };
    let config = WebhooksConfig { endpoints: vec![endpoint], ..WebhooksConfig::default() };
    let deliverer = Deliverer::start(&hooked, &config).await?;
    Deliverer::start(&plain, &WebhooksConfig::default()).await?;

    let (mut without, mut with) = (Vec::with_capacity(texts), Vec::with_capacity(texts));
    for n in 0..texts {
        for (db, times) in [(&plain, &mut without), (&hooked, &mut with)] {
            let inbound = Inbound {
                provider_sid: format!("SMbench{n:012}"),
                from: Phone::parse(&format!("+1415{:07}", 5_000_000 + n))
                    .map_err(|e| anyhow::anyhow!("bench number: {e}"))?,
                to: "+15005550006".into(),
                body: "do you have the blouse in black?".into(),
                media: vec![],
            };
            let started = Instant::now();
            ingest(db, &inbound, 5).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    without.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (p50_without, p50_with) = (percentile(&without, 50.0), percentile(&with, 50.0));

    let cancel = CancellationToken::new();
    let worker = WorkerConfig { poll_ms: 5, ..WorkerConfig::default() };
    let started = Instant::now();
    let handler = Arc::new(DeliveriesOnly(deliverer, hooked.clone()));
    let here = tokio::runtime::Handle::current();
    let workers = spawn_workers(&here, hooked.clone(), handler, worker.clone(), Waker::default(), cancel.clone());
    let deadline = started + Duration::from_secs(600);
    while count_deliveries(&hooked, DeliveryStatus::Delivered).await? < texts as i64 {
        anyhow::ensure!(Instant::now() < deadline, "deliveries did not finish within 600 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    cancel.cancel();
    for w in workers {
        let _ = w.await;
    }
    let per_second = texts as f64 / elapsed;
    println!(
        "{texts} texts stored per database (SQLite), alternating; then delivered by {} workers",
        worker.concurrency
    );
    println!("| | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| store a text, no endpoint | {p50_without:.3} | {:.3} |", percentile(&without, 99.0));
    println!("| store a text, one endpoint (`*`) | {p50_with:.3} | {:.3} |", percentile(&with, 99.0));
    println!(
        "emit adds {:.3} ms at the median; {per_second:.0} deliveries/s to a loopback receiver ({} received)",
        p50_with - p50_without,
        received.load(Ordering::Relaxed)
    );
    println!(
        "{}",
        serde_json::json!({"texts": texts, "store_p50_ms_without": p50_without, "store_p50_ms_with": p50_with,
                           "emit_p50_ms": p50_with - p50_without, "deliveries_per_s": per_second})
    );
    Ok(())
}
