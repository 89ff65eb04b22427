//! Products and store policies: the facts the search index points at.

use chrono::Utc;

use super::{Db, Tx, with_db, with_tx};
use crate::domain::Sku;

/// A product as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub sku: Sku,
    pub title: String,
    pub brand: String,
    pub category: String,
    pub price_cents: i64,
    pub currency: String,
    /// JSON array.
    pub colors: String,
    /// JSON array.
    pub sizes: String,
    pub stock: i64,
    pub description: String,
    /// JSON array of bullet points.
    pub bullets: String,
    pub sale_price_cents: Option<i64>,
    /// JSON array of `{size, color, stock}`.
    pub variants: String,
    /// JSON array.
    pub tags: String,
    pub url: String,
    pub image_url: String,
    /// JSON array of skus that go with this product.
    pub complements: String,
}

/// `select <every column of a ProductRow> from products <rest>`, as a static string.
macro_rules! select_products {
    ($rest:literal) => {
        concat!(
            "select sku, title, brand, category, price_cents, currency, colors, sizes, stock, description, ",
            "bullets, sale_price_cents, variants, tags, url, image_url, complements from products ",
            $rest
        )
    };
}

/// A policy document as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: String,
    pub title: String,
    pub body: String,
    /// JSON array.
    pub tags: String,
    /// JSON object of the policy in other languages: `{"es": {"title": …, "body": …}}`, `{}`
    /// when there are none.
    pub translations: String,
}

/// Inserts or replaces a product by sku. A product (or a variant of it) that comes back in
/// stock records a `Back In Stock` event for each subscription that asked for it, once
/// ([`super::commerce::back_in_stock`]).
pub async fn upsert_product(tx: &mut Tx, p: &ProductRow) -> anyhow::Result<()> {
    let before =
        with_tx!(tx, |conn| sqlx::query_as::<_, (i64, String)>("select stock, variants from products where sku = $1")
            .bind(p.sku.as_str())
            .fetch_optional(conn)
            .await)?;
    with_tx!(tx, |conn| {
        sqlx::query(
        "insert into products (sku, title, brand, category, price_cents, currency, colors, sizes, stock, description,
             bullets, sale_price_cents, variants, tags, url, image_url, complements, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         on conflict (sku) do update set title = excluded.title, brand = excluded.brand, category = excluded.category,
             price_cents = excluded.price_cents, currency = excluded.currency, colors = excluded.colors,
             sizes = excluded.sizes, stock = excluded.stock, description = excluded.description,
             bullets = excluded.bullets, sale_price_cents = excluded.sale_price_cents, variants = excluded.variants,
             tags = excluded.tags, url = excluded.url, image_url = excluded.image_url,
             complements = excluded.complements, updated_at = excluded.updated_at"
    )
    .bind(p.sku.as_str())
    .bind(&p.title)
    .bind(&p.brand)
    .bind(&p.category)
    .bind(p.price_cents)
    .bind(&p.currency)
    .bind(&p.colors)
    .bind(&p.sizes)
    .bind(p.stock)
    .bind(&p.description)
    .bind(&p.bullets)
    .bind(p.sale_price_cents)
    .bind(&p.variants)
    .bind(&p.tags)
    .bind(&p.url)
    .bind(&p.image_url)
    .bind(&p.complements)
    .bind(Utc::now())
    .execute(conn)
    .await.map(|r| r.rows_affected())
    })?;
    if let Some((stock, variants)) = before {
        let restock = crate::domain::restock::restocked(stock, &variants, p.stock, &p.variants);
        if restock.any() {
            super::commerce::back_in_stock(tx, p, &restock).await?;
        }
    }
    Ok(())
}

/// Records the shop's id of a product (after [`upsert_product`]); a product that had it
/// before gives it up (a handle renamed in the shop is a new sku).
pub async fn set_product_source(tx: &mut Tx, sku: &str, source_id: &str) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("update products set source_id = null where source_id = $1 and sku <> $2")
        .bind(source_id)
        .bind(sku)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    with_tx!(tx, |conn| sqlx::query("update products set source_id = $2 where sku = $1")
        .bind(sku)
        .bind(source_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a change of the shop's product `source_id` as of `at` (a delete or not), unless a
/// newer one was applied: true when the caller applies it, false when it is stale (the
/// change changes nothing). Equal times apply: a retry of the same change is harmless.
pub async fn claim_product_version(
    tx: &mut Tx,
    source_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    deleted: bool,
) -> anyhow::Result<bool> {
    let claimed = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>(
        "insert into product_versions (source_id, source_updated_at, deleted) values ($1, $2, $3)
         on conflict (source_id) do update set
             source_updated_at = excluded.source_updated_at, deleted = excluded.deleted
         where product_versions.source_updated_at <= excluded.source_updated_at
         returning source_id"
    )
    .bind(source_id)
    .bind(at)
    .bind(i32::from(deleted))
    .fetch_optional(conn)
    .await)?;
    Ok(claimed.is_some())
}

/// Deletes the product with the shop's id; returns its sku, `None` when no product has it.
pub async fn delete_product_by_source(tx: &mut Tx, source_id: &str) -> anyhow::Result<Option<String>> {
    let sku = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>(
        "delete from products where source_id = $1 returning sku"
    )
    .bind(source_id)
    .fetch_optional(conn)
    .await)?;
    Ok(sku)
}

/// Deletes the product with this sku; true when there was one.
pub async fn delete_product(tx: &mut Tx, sku: &str) -> anyhow::Result<bool> {
    let n = with_tx!(tx, |conn| sqlx::query("delete from products where sku = $1")
        .bind(sku)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Inserts or replaces a policy by id.
pub async fn upsert_policy(tx: &mut Tx, p: &PolicyRow) -> anyhow::Result<()> {
    with_tx!(tx, |conn| {
        sqlx::query(
            "insert into policies (id, title, body, tags, translations) values ($1, $2, $3, $4, $5)
         on conflict (id) do update set title = excluded.title, body = excluded.body, tags = excluded.tags,
             translations = excluded.translations",
        )
        .bind(&p.id)
        .bind(&p.title)
        .bind(&p.body)
        .bind(&p.tags)
        .bind(&p.translations)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The products with these skus, in any order (unknown skus are absent).
pub async fn products_by_sku(db: &Db, skus: &[String]) -> anyhow::Result<Vec<ProductRow>> {
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let rows = with_db!(db, |p| {
        let mut query = sqlx::QueryBuilder::new(select_products!("where sku in ("));
        let mut list = query.separated(", ");
        for sku in skus {
            list.push_bind(sku);
        }
        list.push_unseparated(")");
        query.build_query_as::<ProductRow>().fetch_all(p).await
    })?;
    Ok(rows)
}

/// The policies with these ids, in any order (unknown ids are absent).
pub async fn policies_by_id(db: &Db, ids: &[String]) -> anyhow::Result<Vec<PolicyRow>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows = with_db!(db, |p| {
        let mut query =
            sqlx::QueryBuilder::new("select id, title, body, tags, translations from policies where id in (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id);
        }
        list.push_unseparated(")");
        query.build_query_as::<PolicyRow>().fetch_all(p).await
    })?;
    Ok(rows)
}

/// Every product (index rebuilds).
pub async fn all_products(db: &Db) -> anyhow::Result<Vec<ProductRow>> {
    let rows =
        with_db!(db, |p| { sqlx::query_as::<_, ProductRow>(select_products!("order by sku")).fetch_all(p).await })?;
    Ok(rows)
}

/// Every policy document.
pub async fn all_policies(db: &Db) -> anyhow::Result<Vec<PolicyRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, PolicyRow>(
        "select id, title, body, tags, translations from policies order by id"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Number of products (is a catalog loaded?).
pub async fn count_products(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from products").fetch_one(p).await)?;
    Ok(n)
}

/// Deletes products not written since `before` (a `--full` import replaces the catalog);
/// returns how many.
pub async fn delete_products_older_than(db: &Db, before: chrono::DateTime<Utc>) -> anyhow::Result<u64> {
    let n = super::with_db_write!(db, |p| sqlx::query("delete from products where updated_at < $1")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// Recomputes which products were bought in the same order (every pair, both ways, with the
/// number of orders), from the order history.
pub async fn refresh_bought_together(tx: &mut Tx) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("delete from bought_together").execute(&mut *conn).await.map(|_| ()))?;
    with_tx!(tx, |conn| sqlx::query(
        "insert into bought_together (sku, other_sku, orders)
         select a.sku, b.sku, count(distinct a.order_id) from order_items a
         join order_items b on a.order_id = b.order_id and a.sku <> b.sku
         group by a.sku, b.sku"
    )
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Counts one order more (`delta` 1) or less (-1) for every pair of the distinct `skus` of
/// one order: what [`refresh_bought_together`] would compute, kept current one order at a
/// time (a webhook's order), without reading the whole history.
pub async fn adjust_bought_together(tx: &mut Tx, skus: &[String], delta: i64) -> anyhow::Result<()> {
    let mut distinct: Vec<&String> = skus.iter().collect();
    distinct.sort();
    distinct.dedup();
    for a in &distinct {
        for b in distinct.iter().filter(|b| *b != a) {
            with_tx!(tx, |conn| sqlx::query(
                "insert into bought_together (sku, other_sku, orders) values ($1, $2, $3)
                 on conflict (sku, other_sku) do update set orders = bought_together.orders + excluded.orders"
            )
            .bind(a.as_str())
            .bind(b.as_str())
            .bind(delta)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        }
    }
    if delta < 0 {
        with_tx!(tx, |conn| sqlx::query("delete from bought_together where orders <= 0")
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Products that go with `skus`, best first, without `skus` themselves: the catalog's own
/// complements (weight 2 each: the merchant chose them) plus products bought in the same
/// orders (weight 1 per order).
pub async fn complements_of(db: &Db, skus: &[String]) -> anyhow::Result<Vec<(String, f64)>> {
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let mut weights: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for p in products_by_sku(db, skus).await? {
        for c in serde_json::from_str::<Vec<String>>(&p.complements).unwrap_or_default() {
            *weights.entry(c).or_default() += 2.0;
        }
    }
    let pairs = with_db!(db, |p| {
        let mut query = sqlx::QueryBuilder::new("select other_sku, orders from bought_together where sku in (");
        let mut list = query.separated(", ");
        for sku in skus {
            list.push_bind(sku);
        }
        list.push_unseparated(")");
        query.build_query_as::<(String, i64)>().fetch_all(p).await
    })?;
    for (other, orders) in pairs {
        *weights.entry(other).or_default() += orders as f64;
    }
    let mut ranked: Vec<(String, f64)> = weights.into_iter().filter(|(sku, _)| !skus.contains(sku)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(ranked)
}

/// Products written at or after `since` (what an import just changed).
pub async fn products_updated_since(db: &Db, since: chrono::DateTime<Utc>) -> anyhow::Result<Vec<ProductRow>> {
    let rows = with_db!(db, |p| {
        sqlx::query_as::<_, ProductRow>(select_products!("where updated_at >= $1 order by sku"))
            .bind(since)
            .fetch_all(p)
            .await
    })?;
    Ok(rows)
}
