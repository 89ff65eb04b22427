//! The bundled demo store (Northwind Outfitters): catalog, policies, customers and orders
//! derived from the Kibana/OpenSearch sample e-commerce orders (Apache-2.0; see demo/README.md).
//! Embedded in the binary, so `serve --demo` works from any directory.

use std::sync::Arc;

use anyhow::Context;
use tracing::info;

use crate::catalog::records::parse_jsonl;
use crate::catalog::{PolicyRecord, ProductRecord, SearchIndex};
use crate::crm::{self, CustomerRecord, OrderRecord};
use crate::store::{Db, catalog};

const CATALOG: &str = include_str!("../demo/store/catalog.jsonl");
const POLICIES: &str = include_str!("../demo/store/policies.jsonl");
const CUSTOMERS: &str = include_str!("../demo/store/customers.jsonl");
const ORDERS: &str = include_str!("../demo/store/orders.jsonl");

/// The demo customer used in README examples and as `chat`'s default sender.
pub const DEMO_PHONE: &str = "+14155550123";

/// Loads the demo store when the database has no products yet (first start); always makes
/// sure the search index matches the SQL catalog. Returns true when it loaded data.
pub async fn load_if_empty(db: &Db, index: &Arc<SearchIndex>) -> anyhow::Result<bool> {
    let loaded = if catalog::count_products(db).await? == 0 {
        let products: Vec<ProductRecord> = parse_jsonl(CATALOG, "demo catalog")?;
        let policies: Vec<PolicyRecord> = parse_jsonl(POLICIES, "demo policies")?;
        let customers: Vec<CustomerRecord> = parse_jsonl(CUSTOMERS, "demo customers")?;
        let orders: Vec<OrderRecord> = parse_jsonl(ORDERS, "demo orders")?;
        import_catalog(db, &products, &policies).await?;
        let (c, o) = crm::import(db, &customers, &orders).await?;
        info!(products = products.len(), policies = policies.len(), customers = c, orders = o, "demo store loaded");
        true
    } else {
        false
    };
    if loaded || index.num_docs() == 0 {
        rebuild_index(db, index).await?;
    }
    Ok(loaded)
}

/// Loads only the demo store's customers and orders (`flows simulate --demo`).
pub async fn load_crm(db: &Db) -> anyhow::Result<()> {
    let customers: Vec<CustomerRecord> = parse_jsonl(CUSTOMERS, "demo customers")?;
    let orders: Vec<OrderRecord> = parse_jsonl(ORDERS, "demo orders")?;
    crm::import(db, &customers, &orders).await?;
    Ok(())
}

/// Loads only the demo store's products and policies (`flows simulate --demo`'s compose steps).
pub async fn load_catalog(db: &Db) -> anyhow::Result<()> {
    let products: Vec<ProductRecord> = parse_jsonl(CATALOG, "demo catalog")?;
    let policies: Vec<PolicyRecord> = parse_jsonl(POLICIES, "demo policies")?;
    import_catalog(db, &products, &policies).await
}

/// Writes products and policies to the SQL catalog in one transaction.
pub async fn import_catalog(db: &Db, products: &[ProductRecord], policies: &[PolicyRecord]) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for (n, p) in products.iter().enumerate() {
        p.validate().map_err(|e| anyhow::anyhow!("product {} ({}): {e}", n + 1, p.sku))?;
        catalog::upsert_product(&mut tx, &p.to_row()).await?;
    }
    for p in policies {
        catalog::upsert_policy(&mut tx, &p.to_row()).await?;
    }
    tx.commit().await
}

/// Rebuilds the search index from the SQL catalog (off the async threads).
pub async fn rebuild_index(db: &Db, index: &Arc<SearchIndex>) -> anyhow::Result<()> {
    let products = catalog::all_products(db).await?;
    let policies = catalog::all_policies(db).await?;
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.rebuild(&products, &policies))
        .await
        .context("index build task panicked")?
        .context("failed to build the search index")
}

/// Embeds every product of the SQL catalog into `semantic` (replacing what it held).
pub async fn embed_catalog(db: &Db, semantic: &crate::catalog::semantic::Semantic) -> anyhow::Result<()> {
    let docs: Vec<crate::catalog::ProductDoc> =
        catalog::all_products(db).await?.iter().map(crate::catalog::ProductDoc::from_row).collect();
    semantic.embed_products(&docs, true).await?;
    info!(products = docs.len(), "catalog embedded");
    Ok(())
}
