//! `backtalk bench …`: the benchmarks' entry points. `bench import` is here; the others
//! live in `bench.rs` and `bench_*.rs`.

use std::path::Path;

use crate::cli::BenchCommand;
use crate::config::Config;

/// Runs one `backtalk bench` command; only `bench retrieval` reads the config (for an
/// embedding endpoint), from `config_path` as every command does.
pub async fn run(command: BenchCommand, config_path: Option<&Path>) -> anyhow::Result<()> {
    match command {
        BenchCommand::Import { products } => bench_import(products).await,
        BenchCommand::Retrieval { esci, rounds } => {
            let config = Config::load(config_path)?;
            let embeddings =
                (!config.embeddings.base_url.is_empty()).then(|| crate::bench_retrieval::EmbeddingEndpoint {
                    base_url: config.embeddings.base_url.clone(),
                    model: config.embeddings.model.clone(),
                    document_model: config.embeddings.document_model().to_string(),
                });
            crate::bench_retrieval::run(&esci, rounds, embeddings).await
        }
        BenchCommand::Turn { turns, rate } => crate::bench::turn(turns, rate).await,
        BenchCommand::Console { runs, escalations, requests } => {
            crate::bench_console::run(runs, escalations, requests).await
        }
        BenchCommand::Sentiment { data } => crate::bench_sentiment::run(&data),
        BenchCommand::BareServer { listen } => crate::bench::bare_server(&listen).await,
        BenchCommand::Webhook { rate, duration, saturation_duration, connections } => {
            crate::bench::webhook(rate, duration, saturation_duration, connections).await
        }
    }
}

/// `backtalk bench import --products N`.
pub async fn bench_import(n: usize) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use crate::bench_retrieval::{peak_rss_mib, write_synthetic_catalog};
    use crate::catalog::import::{ImportOptions, import_files};
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("synthetic.jsonl");
    write_synthetic_catalog(&file, n)?;
    let size_mib = std::fs::metadata(&file)?.len() as f64 / 1_048_576.0;
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    let index = crate::catalog::SearchIndex::open_or_create(&dir.path().join("index"))?;
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let started = std::time::Instant::now();
    let options = ImportOptions { progress: std::io::stderr().is_terminal(), ..Default::default() };
    let report = import_files(&db, &index, &[file], &options).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    println!(
        "imported {} products ({size_mib:.1} MiB of JSON lines) in {seconds:.1} s = {:.0} products/s; peak RSS {peak:.0} MiB (before the import {before:.0} MiB)",
        report.products,
        report.products as f64 / seconds
    );
    println!(
        "{}",
        serde_json::json!({"products": report.products, "seconds": seconds, "file_mib": size_mib, "peak_rss_mib": peak, "rss_before_mib": before})
    );
    Ok(())
}
