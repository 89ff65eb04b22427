//! `backtalk bench …`: the benchmarks' entry points; the benchmarks live in `src/bench/`.

use std::path::Path;

use crate::bench::load::Load;
use crate::cli::{BenchCommand, LoadArgs};
use crate::config::Config;

/// Runs one `backtalk bench` command; only `bench retrieval` reads the config (for an
/// embedding endpoint), from `config_path` as every command does.
pub async fn run(command: BenchCommand, config_path: Option<&Path>) -> anyhow::Result<()> {
    match command {
        BenchCommand::Import { products, shopify_variants: None } => crate::bench::import::run(products).await,
        BenchCommand::Import { products, shopify_variants: Some(variants) } => {
            crate::bench::import::run_shopify(products, variants).await
        }
        BenchCommand::ImportCrm { lines } => crate::bench::import::run_crm(lines).await,
        BenchCommand::Flows { events, seed } => crate::bench::flows::run(events, seed).await,
        BenchCommand::Campaign { recipients, seed, postgres, runs, drain_seconds, rates } => {
            crate::bench::campaign::run(crate::bench::campaign::Options {
                recipients,
                seed,
                postgres,
                runs,
                drain_seconds,
                rates,
            })
            .await
        }
        BenchCommand::Analytics { conversations, exchanges, late_orders, runs, seed, postgres } => {
            crate::bench::analytics::run(crate::bench::analytics::Options {
                conversations,
                exchanges,
                late_orders,
                runs,
                seed,
                postgres,
            })
            .await
        }
        BenchCommand::Retrieval { esci, rounds } => {
            let config = Config::load(config_path)?;
            let embeddings =
                (!config.embeddings.base_url.is_empty()).then(|| crate::bench::retrieval::EmbeddingEndpoint {
                    base_url: config.embeddings.base_url.clone(),
                    model: config.embeddings.model.clone(),
                    document_model: config.embeddings.document_model().to_string(),
                });
            crate::bench::retrieval::run(&esci, rounds, embeddings).await
        }
        BenchCommand::Turn { turns, rate } => crate::bench::turn::turn(turns, rate).await,
        BenchCommand::WebhooksOut { texts } => crate::bench::webhooks_out::run(texts).await,
        BenchCommand::Console { runs, escalations, requests } => {
            crate::bench::console::run(runs, escalations, requests).await
        }
        BenchCommand::Sentiment { data } => crate::bench::sentiment::run(&data),
        BenchCommand::BareServer { listen } => crate::bench::load::bare_server(&listen).await,
        BenchCommand::Webhook { rate, load } => crate::bench::webhook::webhook(phases(rate, load)).await,
        BenchCommand::ShopifyWebhook { rate, load } => crate::bench::shopify_webhook::run(phases(rate, load)).await,
    }
}

fn phases(rate: u32, args: LoadArgs) -> Load {
    Load {
        rate,
        duration: args.duration,
        saturation_duration: args.saturation_duration,
        connections: args.connections,
        workers: args.workers,
        worker_nice: args.worker_nice,
    }
}
