//! `backtalk bench import`: how fast a large catalog file imports, and the peak memory it
//! takes (the import streams the file; memory should not grow with it); `bench import-crm`:
//! the same for an orders file through `import-crm`, beside `sqlite3 .import`.

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

/// Writes `lines` order lines as Backtalk's orders CSV (one row per line item, 1 to 4 lines
/// an order, customers reused every tenth order): deterministic.
fn write_synthetic_orders(path: &std::path::Path, lines: usize) -> anyhow::Result<usize> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "order_id,phone,ordered_at,status,sku,title,price,quantity")?;
    let (mut written, mut order) = (0, 0usize);
    while written < lines {
        let per_order = 1 + order % 4;
        let phone = format!("+1212{:07}", order / 10);
        let day = 1 + order % 28;
        for k in 0..per_order.min(lines - written) {
            let sku = (order * 7 + k * 13) % 5000;
            writeln!(
                out,
                "B{order:08},{phone},2026-11-{day:02}T12:00:00Z,shipped,SKU{sku:05},Product {sku} - black,{}.99,1",
                10 + sku % 90
            )?;
        }
        written += per_order.min(lines - written);
        order += 1;
    }
    out.flush()?;
    Ok(order)
}

/// `backtalk bench import-crm --lines N`: `import-crm` of an orders CSV of N line items into a
/// fresh SQLite database (time, lines per second, peak memory), beside `sqlite3 .import` of
/// the same file into one plain table, the floor: what SQLite itself takes to load those rows.
pub async fn run_crm(lines: usize) -> anyhow::Result<()> {
    use super::retrieval::peak_rss_mib;
    use crate::crm::import::{CrmImportOptions, import_files};
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("orders.csv");
    let orders = write_synthetic_orders(&file, lines)?;
    let size_mib = std::fs::metadata(&file)?.len() as f64 / 1_048_576.0;

    // The floor, first (it does not touch this process's memory).
    let floor_db = dir.path().join("floor.db");
    let started = std::time::Instant::now();
    let status = std::process::Command::new("sqlite3")
        .arg(&floor_db)
        .arg(format!(".import --csv {} order_lines", file.display()))
        .status();
    let floor = match status {
        Ok(s) if s.success() => Some(started.elapsed().as_secs_f64()),
        _ => {
            eprintln!("sqlite3 is not installed or failed: no floor measured");
            None
        }
    };

    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
    let before = peak_rss_mib().unwrap_or(f64::NAN);
    let started = std::time::Instant::now();
    let report = import_files(&db, None, Some(&file), &CrmImportOptions::default()).await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    anyhow::ensure!(report.order_lines == lines && report.bad_lines.is_empty(), "the import lost rows: {report:?}");
    println!(
        "import-crm: {lines} order lines ({orders} orders, {size_mib:.1} MiB of CSV) in {seconds:.1} s = {:.0} lines/s; peak RSS {peak:.0} MiB (before the import {before:.0} MiB)",
        lines as f64 / seconds
    );
    if let Some(floor) = floor {
        println!("sqlite3 .import of the same file into one table: {floor:.1} s ({:.1}x faster)", seconds / floor);
    }
    println!(
        "{}",
        serde_json::json!({"lines": lines, "orders": orders, "seconds": seconds, "lines_per_s": lines as f64 / seconds,
            "file_mib": size_mib, "peak_rss_mib": peak, "rss_before_mib": before, "sqlite3_import_seconds": floor})
    );
    Ok(())
}
