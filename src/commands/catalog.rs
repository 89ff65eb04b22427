//! `backtalk index-catalog FILE...`: products and policies into the database, the search
//! index and, with an embedding endpoint, the vector store; `backtalk import-crm`: the
//! store's customers and orders into the CRM.

use anyhow::Context;

use crate::config::Config;

/// `backtalk index-catalog FILE...`: validate and import; bad lines are listed with their
/// file and line number.
pub async fn index_catalog(
    config: Config,
    files: Vec<std::path::PathBuf>,
    strict: bool,
    full: bool,
    mapping: Vec<String>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use crate::catalog::import::{ImportOptions, import_files, parse_mapping};
    let mapping = mapping.iter().map(|m| parse_mapping(m)).collect::<anyhow::Result<Vec<_>>>()?;
    for f in &files {
        anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let index = std::sync::Arc::new(crate::catalog::SearchIndex::open_or_create(&config.data_dir.join("index"))?);
    if index.num_docs() == 0 {
        // A new index (or one recreated for a newer schema) starts from what SQL holds, so
        // an upsert import leaves the products it does not name searchable.
        crate::demo::rebuild_index(&db, &index).await?;
    }
    let options = ImportOptions { strict, full, mapping, progress: std::io::stderr().is_terminal() };
    let started = std::time::Instant::now();
    let import_began = chrono::Utc::now();
    let report = import_files(&db, &index, &files, &options).await?;
    // With an embedding endpoint, the changed products get vectors too (all of them after
    // --full); a running server reloads the vector file at its next search.
    if let Some(semantic) =
        crate::catalog::semantic::Semantic::open(&config.embeddings, &config.qdrant, &config.data_dir)?
    {
        // After --full, or when the store is empty (a new embedding model, a deleted file),
        // every product is embedded; otherwise those this import changed.
        let everything = full || semantic.len().await? == 0;
        let rows = if everything {
            crate::store::catalog::all_products(&db).await?
        } else {
            crate::store::catalog::products_updated_since(&db, import_began).await?
        };
        let docs: Vec<crate::catalog::ProductDoc> = rows.iter().map(crate::catalog::ProductDoc::from_row).collect();
        semantic
            .embed_products(&docs, everything)
            .await
            .context("products were indexed, but embedding them failed (re-run the import)")?;
        println!("embedded {} products ({} with vectors)", docs.len(), semantic.len().await?);
    }
    for bad in &report.bad_lines {
        eprintln!("skipped {bad}");
    }
    if !report.ignored_fields.is_empty() {
        let list: Vec<&str> = report.ignored_fields.iter().map(String::as_str).collect();
        eprintln!("ignored fields (not in the catalog format; map them with --map OURS=THEIRS): {}", list.join(", "));
    }
    for file in &report.shopify.files_without_stock {
        eprintln!(
            "{file}: no \"Variant Inventory Qty\" column (a store with several locations): stock was not imported"
        );
    }
    let shopify = &report.shopify;
    if shopify.products > 0 || !shopify.skipped.is_empty() {
        let skipped: Vec<String> = shopify.skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
        println!(
            "shopify export: {} products with {} variants{}",
            shopify.products,
            shopify.variants,
            if skipped.is_empty() { String::new() } else { format!("; skipped {}", skipped.join(", ")) }
        );
    }
    println!(
        "indexed {} products and {} policies in {:.1} s; {} bad lines skipped{}",
        report.products,
        report.policies,
        started.elapsed().as_secs_f64(),
        report.bad_lines.len(),
        if full { format!("; {} products not in the files deleted", report.deleted) } else { String::new() }
    );
    Ok(())
}

/// `backtalk import-crm --customers FILE --orders FILE`: validate and import; bad rows are
/// listed with their file and line number, then a summary.
pub async fn import_crm(
    config: Config,
    customers: Option<&std::path::Path>,
    orders: Option<&std::path::Path>,
    strict: bool,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use crate::crm::import::{CrmImportOptions, import_files};
    for f in customers.iter().chain(orders.iter()) {
        anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("failed to create data dir {}", config.data_dir.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let options = CrmImportOptions {
        strict,
        progress: std::io::stderr().is_terminal(),
        default_region: config.crm.default_region(),
    };
    let started = std::time::Instant::now();
    let report = import_files(&db, customers, orders, &options).await?;
    for bad in &report.bad_lines {
        eprintln!("skipped {bad}");
    }
    for f in &report.formats {
        println!("{}: {}", f.file, f.format.describe());
    }
    let no_phone = report.customers_without_phone + report.orders_without_phone;
    if no_phone > 0 || report.lines_without_sku > 0 {
        println!(
            "skipped without a phone number: {} customers, {} orders; line items without a SKU left out: {}",
            report.customers_without_phone, report.orders_without_phone, report.lines_without_sku
        );
    }
    println!(
        "imported {} customers ({} consent changes recorded{}) and {} orders ({} lines) in {:.1} s; {} bad lines skipped",
        report.customers,
        report.consent_events,
        if report.kept_opted_out > 0 {
            format!(", {} opted-out numbers left opted out", report.kept_opted_out)
        } else {
            String::new()
        },
        report.orders,
        report.order_lines,
        started.elapsed().as_secs_f64(),
        report.bad_lines.len()
    );
    Ok(())
}
