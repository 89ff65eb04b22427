//! `backtalk index-catalog FILE...`: validates catalog files and writes them to the SQL
//! catalog and the search index.
//!
//! - Formats: JSON Lines and CSV, each optionally gzip-compressed (`.gz`); one record per
//!   line/row. A record with `sku` is a product, one with `id` and `body` a policy (README
//!   "Catalog format"). A CSV with Shopify's product export header is read as that export
//!   (`super::shopify`: a product per Handle with its variants); a CSV with neither header
//!   is refused before anything is written, naming the columns it lacks.
//! - `--map TARGET=SOURCE` renames a file's field to ours (`--map sku=asin`), so a file
//!   from elsewhere is indexed without conversion; fields we do not know are reported once
//!   and ignored.
//! - A bad line is reported with its file and line number and skipped; `--strict` checks
//!   every file first and writes nothing if any line is bad.
//! - Upsert by sku (or policy id) by default; `--full` replaces the catalog: products not in
//!   the files are deleted from SQL and the index.
//! - Streaming: records go to SQL in transactions of [`BATCH`] and to one index writer, so
//!   memory stays bounded however large the files. The index changes become visible in one
//!   commit at the end (a running server's reader reloads on commit: it never sees a
//!   half-written catalog). SQL is written first; if the index commit fails, re-running the
//!   same import brings both in step (every write is an upsert).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde_json::{Map, Value};

use super::index::{ProductDoc, SearchIndex};
use super::records::{POLICY_FIELDS, PRODUCT_FIELDS, PolicyRecord, ProductRecord};
use super::shopify::{Grouper, Outcome, ShopifyColumns, ShopifyCounts, Skip};
use crate::domain::Money;
pub use crate::rows::BadLine;
use crate::rows::{self, RawRow, progress_bar};
use crate::store::Db;
use crate::store::catalog;

/// Products per SQL transaction.
pub const BATCH: usize = 1000;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Fail before writing anything if any line is bad.
    pub strict: bool,
    /// Replace the catalog instead of upserting into it.
    pub full: bool,
    /// `(ours, theirs)`: the file's field `theirs` is our field `ours`.
    pub mapping: Vec<(String, String)>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// Parses `TARGET=SOURCE`.
pub fn parse_mapping(spec: &str) -> anyhow::Result<(String, String)> {
    let (ours, theirs) = spec
        .split_once('=')
        .filter(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("--map {spec:?}: expected OURS=THEIRS, e.g. sku=asin"))?;
    let ours = ours.trim().to_string();
    if !PRODUCT_FIELDS.contains(&ours.as_str()) && !POLICY_FIELDS.contains(&ours.as_str()) {
        anyhow::bail!("--map {spec:?}: {ours:?} is not a catalog field (fields: {})", PRODUCT_FIELDS.join(", "));
    }
    Ok((ours, theirs.trim().to_string()))
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub products: usize,
    pub policies: usize,
    pub bad_lines: Vec<BadLine>,
    /// Fields in the files that are not ours (after mapping), ignored.
    pub ignored_fields: BTreeSet<String>,
    /// Products deleted by `--full`.
    pub deleted: u64,
    /// What Shopify product exports among the files brought in (and left out).
    pub shopify: ShopifyCounts,
}

/// One valid record.
enum Record {
    Product(Box<ProductRecord>),
    /// A product of a Shopify export.
    ShopifyProduct(Box<ProductRecord>),
    Policy(PolicyRecord),
    /// A Shopify product left out on purpose (a draft, say).
    Skipped(Skip),
}

/// How a file is read.
#[derive(Clone)]
enum FileKind {
    JsonLines,
    /// Backtalk's own CSV columns.
    Csv,
    ShopifyProducts(Box<ShopifyColumns>),
}

/// Which kind of file `path` is, from its name and a CSV's header; an error for a CSV that
/// is neither Backtalk's catalog columns (after `mapping`) nor a Shopify product export.
fn file_kind(path: &Path, mapping: &[(String, String)]) -> anyhow::Result<FileKind> {
    if !rows::is_csv(path) {
        return Ok(FileKind::JsonLines);
    }
    let mut reader = csv::Reader::from_reader(rows::open(path, Arc::default())?);
    let headers = reader.headers().with_context(|| format!("{}:1: cannot read the CSV header", path.display()))?;
    match ShopifyColumns::detect(headers) {
        Some(Ok(columns)) => return Ok(FileKind::ShopifyProducts(Box::new(columns))),
        Some(Err(missing)) => anyhow::bail!(
            "{}:1: this looks like a Shopify product export but lacks the column(s) {}",
            path.display(),
            missing.join(", ")
        ),
        None => {}
    }
    let ours: Vec<&str> = headers
        .iter()
        .map(|h| mapping.iter().find(|(_, theirs)| theirs == h).map_or(h, |(ours, _)| ours.as_str()))
        .collect();
    let required: &[&str] = if ours.contains(&"sku") || !(ours.contains(&"id") || ours.contains(&"body")) {
        &["sku", "title", "price"]
    } else {
        &["id", "title", "body"]
    };
    let missing: Vec<&str> = required.iter().copied().filter(|c| !ours.contains(c)).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{}:1: not a catalog CSV: missing the column(s) {} (products need sku, title, price; policies id, title, \
         body; a Shopify product export is recognised by its Handle, Title, Variant Price columns). Name a \
         column of yours with --map OURS=THEIRS, e.g. --map sku=\"Item ID\"",
        path.display(),
        missing.join(", ")
    );
    Ok(FileKind::Csv)
}

/// CSV columns holding lists (`|`-separated) and numbers.
const CSV_LISTS: &[&str] = &["bullets", "colors", "sizes", "tags", "complements"];
const CSV_PRICES: &[&str] = &["price", "sale_price"];

/// A CSV row as the JSON object a JSONL line would be. Lists are `|`-separated; variants are
/// `size:color:stock|…`; empty cells are absent.
fn csv_row(
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
    mapping: &[(String, String)],
) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (header, cell) in headers.iter().zip(row.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let field = mapping.iter().find(|(_, theirs)| theirs == header).map_or(header, |(ours, _)| ours.as_str());
        let value = if CSV_LISTS.contains(&field) {
            Value::from(cell.split('|').map(|s| s.trim().to_string()).collect::<Vec<_>>())
        } else if CSV_PRICES.contains(&field) {
            let price = Money::parse_usd(cell).ok_or_else(|| format!("column {header:?}: {cell:?} is not a price"))?;
            Value::from(price.cents as f64 / 100.0)
        } else if field == "stock" {
            let n: i64 = cell.parse().map_err(|_| format!("column {header:?}: {cell:?} is not a whole number"))?;
            Value::from(n)
        } else if field == "variants" {
            let mut variants = Vec::new();
            for v in cell.split('|') {
                let parts: Vec<&str> = v.split(':').map(str::trim).collect();
                let [size, color, stock] = parts[..] else {
                    return Err(format!("variant {v:?} is not size:color:stock"));
                };
                let stock: i64 = stock.parse().map_err(|_| format!("variant {v:?}: stock is not a whole number"))?;
                let opt = |s: &str| if s.is_empty() { Value::Null } else { Value::from(s) };
                variants.push(serde_json::json!({"size": opt(size), "color": opt(color), "stock": stock}));
            }
            Value::from(variants)
        } else {
            Value::from(cell)
        };
        map.insert(field.to_string(), value);
    }
    Ok(map)
}

/// Turns one object into a record, or says what is wrong with it. Unknown fields are
/// removed and collected in `ignored`.
fn to_record(
    mut map: Map<String, Value>,
    mapping: &[(String, String)],
    ignored: &mut BTreeSet<String>,
) -> Result<Record, String> {
    for (ours, theirs) in mapping {
        if ours != theirs
            && let Some(v) = map.remove(theirs)
        {
            map.insert(ours.clone(), v);
        }
    }
    let is_product = map.contains_key("sku");
    let is_policy = !is_product && map.contains_key("id") && map.contains_key("body");
    if !is_product && !is_policy {
        return Err("neither a product (no sku) nor a policy (no id and body)".into());
    }
    let known = if is_product { PRODUCT_FIELDS } else { POLICY_FIELDS };
    let unknown: Vec<String> = map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
    for k in unknown {
        map.remove(&k);
        ignored.insert(k);
    }
    if is_product {
        let p: ProductRecord = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(Record::Product(Box::new(p)))
    } else {
        let p: PolicyRecord = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(Record::Policy(p))
    }
}

/// Reads every record of `path` (of `kind`), calling `each` with the line number and the
/// record or what is wrong with it.
fn read_file(
    path: &Path,
    kind: &FileKind,
    mapping: &[(String, String)],
    ignored: &mut BTreeSet<String>,
    count: Arc<AtomicU64>,
    mut each: impl FnMut(usize, Result<Record, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if let FileKind::ShopifyProducts(columns) = kind {
        let mut grouper = Grouper::new((**columns).clone());
        // A product's line matters only when it is bad (then the outcome names it).
        let mut emit = |outcome: Outcome| match outcome {
            Outcome::Product(p) => each(0, Ok(Record::ShopifyProduct(p))),
            Outcome::Skipped(skip) => each(0, Ok(Record::Skipped(skip))),
            Outcome::Bad(line, message) => each(line, Err(message)),
        };
        rows::read_rows(path, count, |line, row| match row {
            Ok(RawRow::Csv { row, .. }) => grouper.row(line, row, &mut emit),
            Ok(RawRow::Json(_)) => anyhow::bail!("{}: a Shopify export read as JSON", path.display()),
            Err(message) => emit(Outcome::Bad(line, message)),
        })?;
        return grouper.finish(&mut emit);
    }
    rows::read_rows(path, count, |line, row| {
        let record = match row {
            Ok(RawRow::Json(map)) => to_record(map, mapping, ignored),
            Ok(RawRow::Csv { headers, row }) => {
                csv_row(headers, row, mapping).and_then(|m| to_record(m, mapping, ignored))
            }
            Err(e) => Err(e),
        };
        each(line, record)
    })
}

/// Reads `path` as `import` would, writing nothing: the number of records read (products,
/// policies, skipped export rows) and each bad line with what is wrong with it. An error is a
/// file that cannot be read at all (no such file, a CSV that is no catalog). The fuzz targets
/// (tests/fuzz.rs) drive the readers through it.
pub fn check_file(path: &Path, mapping: &[(String, String)]) -> anyhow::Result<(usize, Vec<(usize, String)>)> {
    let kind = file_kind(path, mapping)?;
    let (mut good, mut bad) = (0, Vec::new());
    read_file(path, &kind, mapping, &mut BTreeSet::new(), Arc::default(), |line, record| {
        match record {
            Ok(_) => good += 1,
            Err(message) => bad.push((line, message)),
        }
        Ok(())
    })?;
    Ok((good, bad))
}

/// What the reader thread sends the writer.
enum Item {
    Record(Record),
    Bad(BadLine),
}

/// Imports `files` into the SQL catalog and the search index.
pub async fn import_files(
    db: &Db,
    index: &SearchIndex,
    files: &[PathBuf],
    opts: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    // Every file's header is checked before anything is written.
    let kinds = files.iter().map(|path| file_kind(path, &opts.mapping)).collect::<anyhow::Result<Vec<_>>>()?;
    for (path, kind) in files.iter().zip(&kinds) {
        if let FileKind::ShopifyProducts(columns) = kind
            && !columns.has_stock()
        {
            report.shopify.files_without_stock.push(path.display().to_string());
        }
    }
    if opts.strict {
        // A first pass that writes nothing.
        let mut bad = Vec::new();
        for (path, kind) in files.iter().zip(&kinds) {
            let name = path.display().to_string();
            read_file(path, kind, &opts.mapping, &mut report.ignored_fields, Arc::default(), |line, r| {
                if let Err(message) = r {
                    bad.push(BadLine { file: name.clone(), line, message });
                }
                Ok(())
            })?;
        }
        if !bad.is_empty() {
            return Err(rows::strict_failure(&bad));
        }
    }
    let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = progress_bar(total, opts.progress);
    let read_bytes = Arc::new(AtomicU64::new(0));

    // A blocking thread parses; this task writes. The bounded channel keeps memory flat.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Item>(2 * BATCH);
    let reader = {
        let (files, mapping, read_bytes) = (files.to_vec(), opts.mapping.clone(), read_bytes.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<BTreeSet<String>> {
            let mut ignored = BTreeSet::new();
            for (path, kind) in files.iter().zip(&kinds) {
                let name = path.display().to_string();
                read_file(path, kind, &mapping, &mut ignored, read_bytes.clone(), |line, r| {
                    let item = match r {
                        Ok(record) => Item::Record(record),
                        Err(message) => Item::Bad(BadLine { file: name.clone(), line, message }),
                    };
                    sender.blocking_send(item).map_err(|_| anyhow::anyhow!("import writer stopped"))
                })?;
            }
            Ok(ignored)
        })
    };

    let started = chrono::Utc::now();
    // Rows written by this import must have later timestamps than anything before it.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let batch = index.begin(opts.full)?;
    let mut products: Vec<ProductRecord> = Vec::with_capacity(BATCH);
    let mut policy_ids = HashSet::new();
    let written: anyhow::Result<()> = async {
        while let Some(item) = receiver.recv().await {
            match item {
                Item::Record(Record::Product(p)) => products.push(*p),
                Item::Record(Record::ShopifyProduct(p)) => {
                    report.shopify.products += 1;
                    report.shopify.variants += p.variants.len();
                    products.push(*p);
                }
                Item::Record(Record::Policy(p)) => {
                    let mut tx = db.begin().await?;
                    let row = p.to_row();
                    catalog::upsert_policy(&mut tx, &row).await?;
                    tx.commit().await?;
                    batch.upsert_policy(&row)?;
                    policy_ids.insert(p.id);
                }
                Item::Record(Record::Skipped(skip)) => {
                    *report.shopify.skipped.entry(skip.as_str().to_string()).or_default() += 1;
                }
                Item::Bad(bad) => report.bad_lines.push(bad),
            }
            if products.len() >= BATCH {
                report.products += write_products(db, &batch, &mut products).await?;
                bar.set_position(read_bytes.load(Ordering::Relaxed));
            }
        }
        report.products += write_products(db, &batch, &mut products).await?;
        Ok(())
    }
    .await;
    // Dropping the receiver (on error) stops the reader at its next line.
    drop(receiver);
    let ignored = reader.await.context("catalog reader panicked")?;
    written?;
    report.ignored_fields.extend(ignored?);
    bar.set_position(total);
    report.policies = policy_ids.len();
    if opts.full {
        report.deleted = catalog::delete_products_older_than(db, started).await?;
        // The index was emptied: policies not in these files come back from SQL.
        for p in catalog::all_policies(db).await? {
            if !policy_ids.contains(&p.id) {
                batch.upsert_policy(&p)?;
            }
        }
    }
    bar.set_message("committing the index");
    // A blocking call on purpose: the commit is the import's last step.
    batch
        .commit()
        .context("failed to commit the search index (SQL is written; re-run the import to bring them in step)")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Writes `products` (then clears it) to SQL in one transaction and to the index batch;
/// returns how many.
async fn write_products(
    db: &Db,
    batch: &super::index::IndexBatch<'_>,
    products: &mut Vec<ProductRecord>,
) -> anyhow::Result<usize> {
    if products.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = products.iter().map(ProductRecord::to_row).collect();
    let mut tx = db.begin().await?;
    for row in &rows {
        catalog::upsert_product(&mut tx, row).await?;
    }
    tx.commit().await?;
    for row in &rows {
        batch.upsert_product(&ProductDoc::from_row(row))?;
    }
    let n = products.len();
    products.clear();
    Ok(n)
}
