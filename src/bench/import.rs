//! `backtalk bench import`: how fast a large catalog file imports, and the peak memory it
//! takes (the import streams the file; memory should not grow with it), and a Shopify
//! product export beside the same products in Backtalk's own CSV; `bench import-crm`:
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

const SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL"];
const COLOURS: &[&str] = &["black", "white", "navy", "red", "green", "grey"];

/// The `k`-th variant of product `i`: (size, colour, stock, price in cents).
fn synthetic_variant(i: usize, k: usize) -> (&'static str, &'static str, i64, i64) {
    (
        SIZES[k / 2 % SIZES.len()],
        COLOURS[(i + k % 2) % COLOURS.len()],
        ((i * 7 + k * 3) % 12) as i64,
        1500 + (i % 90) as i64 * 100,
    )
}

/// Writes `n` products of `variants` variants each twice: as a Shopify product export
/// (a row per variant, the product's fields on its first, Body as HTML) and as Backtalk's
/// own CSV (a row per product, variants as `size:color:stock`). Deterministic.
fn write_synthetic_pair(
    shopify: &std::path::Path,
    own: &std::path::Path,
    n: usize,
    variants: usize,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut s = std::io::BufWriter::new(std::fs::File::create(shopify)?);
    let mut o = std::io::BufWriter::new(std::fs::File::create(own)?);
    writeln!(
        s,
        "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,SEO Title,SEO Description,Variant Image,Variant Weight Unit,Variant Tax Code,Cost per item,Status"
    )?;
    writeln!(o, "sku,title,description,brand,category,price,variants,tags,image_url")?;
    for i in 0..n {
        let (title, brand) = (format!("Cotton tee {i}"), format!("Brand {}", i % 50));
        let text = format!("A soft tee number {i}. Machine wash.");
        let image = format!("https://cdn.example/p{i}.jpg");
        let mut own_variants = Vec::new();
        for k in 0..variants {
            let (size, colour, stock, cents) = synthetic_variant(i, k);
            let price = format!("${}.{:02}", cents / 100, cents % 100);
            let sku = format!("P{i:07}-{k}");
            if k == 0 {
                writeln!(
                    s,
                    "p{i:07},{title},\"<p>A soft tee number {i}.<br>Machine wash.</p>\",{brand},Apparel > Shirts,Shirts,\"tee, cotton\",TRUE,Size,{size},Color,{colour},,,{sku},200,shopify,{stock},deny,manual,{price},,TRUE,TRUE,,{image},1,,FALSE,,,,g,,,active"
                )?;
            } else {
                writeln!(
                    s,
                    "p{i:07},,,,,,,,,{size},,{colour},,,{sku},200,shopify,{stock},deny,manual,{price},,TRUE,TRUE,,,,,,,,,g,,,"
                )?;
            }
            own_variants.push(format!("{size}:{colour}:{stock}"));
        }
        let (_, _, _, cents) = synthetic_variant(i, 0);
        writeln!(
            o,
            "p{i:07},{title},{text},{brand},Apparel > Shirts,{}.{:02},{},tee|cotton|Shirts,{image}",
            cents / 100,
            cents % 100,
            own_variants.join("|")
        )?;
    }
    s.flush()?;
    o.flush()?;
    Ok(())
}

/// `backtalk bench import --products N --shopify-variants V`: the same N products as a
/// Shopify export (N × V rows) and as Backtalk's CSV (N rows), each imported three times into
/// a fresh SQLite database and index; the medians side by side.
pub async fn run_shopify(n: usize, variants: usize) -> anyhow::Result<()> {
    use crate::catalog::import::{ImportOptions, import_files};
    anyhow::ensure!(variants >= 1, "--shopify-variants must be at least 1");
    let dir = tempfile::tempdir()?;
    let (shopify, own) = (dir.path().join("products_export.csv"), dir.path().join("products.csv"));
    write_synthetic_pair(&shopify, &own, n, variants)?;
    let mut medians = serde_json::Map::new();
    for (name, file) in [("shopify", &shopify), ("own_csv", &own)] {
        let mut runs = Vec::new();
        for run in 0..3 {
            let data = dir.path().join(format!("{name}-{run}"));
            std::fs::create_dir_all(&data)?;
            let db = crate::store::Db::connect(&format!("sqlite://{}", data.join("bench.db").display())).await?;
            let index = crate::catalog::SearchIndex::open_or_create(&data.join("index"))?;
            let started = std::time::Instant::now();
            let report = import_files(&db, &index, std::slice::from_ref(file), &ImportOptions::default()).await?;
            runs.push(started.elapsed().as_secs_f64());
            anyhow::ensure!(
                report.products == n && report.bad_lines.is_empty(),
                "{name}: {} of {n} products imported; first bad line: {:?}",
                report.products,
                report.bad_lines.first().map(ToString::to_string)
            );
        }
        runs.sort_by(f64::total_cmp);
        let median = runs[1];
        let mib = std::fs::metadata(file)?.len() as f64 / 1_048_576.0;
        println!(
            "{name}: {n} products ({mib:.1} MiB) in {median:.2} s (median of 3) = {:.0} products/s",
            n as f64 / median
        );
        medians.insert(format!("{name}_seconds"), median.into());
    }
    medians.insert("products".into(), n.into());
    medians.insert("variants".into(), variants.into());
    println!("{}", serde_json::Value::Object(medians));
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
