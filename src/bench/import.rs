//! `backtalk bench import`: how fast a large catalog file imports, and the peak memory it
//! takes (the import streams the file; memory should not grow with it).

/// `backtalk bench import --products N`.
pub async fn run(n: usize) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use super::retrieval::{peak_rss_mib, write_synthetic_catalog};
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
