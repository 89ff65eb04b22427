//! Customers, their orders and order lines, and the orders' shipments.
//!
//! Over 600 lines with its tests: customers, orders and shipments are one aggregate whose
//! upserts share one rule (found by the shop's id first, and a record older than the stored
//! one changes nothing), which reads best in one place.

use chrono::{DateTime, Utc};

use super::{Db, Tx, with_db, with_tx};
use crate::domain::{Phone, Sku};

/// A customer row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub phone: Phone,
    pub name: Option<String>,
    pub email: Option<String>,
    pub timezone: Option<String>,
}

/// An order row with its lines (filled by [`orders_for_customer`]).
#[derive(Debug, Clone)]
pub struct OrderWithItems {
    pub external_id: String,
    pub ordered_at: DateTime<Utc>,
    pub status: String,
    pub total_cents: i64,
    /// `fulfilled`, `partial`, `unfulfilled`, or none.
    pub fulfillment_status: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The shop's order status page.
    pub order_status_url: Option<String>,
    pub items: Vec<OrderItemRow>,
    /// The latest shipment, if the order has shipped.
    pub shipment: Option<FulfillmentRow>,
}

/// A shipment of an order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FulfillmentRow {
    pub status: Option<String>,
    pub shipment_status: Option<String>,
    pub tracking_company: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One order line.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderItemRow {
    pub order_id: i64,
    pub sku: Sku,
    pub title: String,
    pub price_cents: i64,
    pub quantity: i64,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    external_id: String,
    ordered_at: DateTime<Utc>,
    status: String,
    total_cents: i64,
    fulfillment_status: Option<String>,
    cancelled_at: Option<DateTime<Utc>>,
    order_status_url: Option<String>,
}

/// New customer data from an import or the shop.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer<'a> {
    pub phone: Option<&'a Phone>,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub timezone: Option<&'a str>,
    /// The shop's id for the customer (Shopify's numeric id, the events API's `customer_id`).
    pub external_id: Option<&'a str>,
    /// When the shop last changed the record: an older record never overwrites a newer one.
    pub source_updated_at: Option<DateTime<Utc>>,
}

/// What [`upsert_customer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(i64),
    Updated(i64),
    /// The stored row is newer than the record; nothing was written.
    Stale(i64),
    /// The record has no phone and matches no customer: nothing to text, nothing written.
    NoPhone,
}

impl Upserted {
    /// The customer's id, if there is a row.
    pub fn id(self) -> Option<i64> {
        match self {
            Upserted::Created(id) | Upserted::Updated(id) | Upserted::Stale(id) => Some(id),
            Upserted::NoPhone => None,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: i64,
    phone: String,
    source_updated_at: Option<DateTime<Utc>>,
}

/// Creates or updates a customer, found by the shop's id first, then by phone. Fields the
/// record leaves empty keep their stored value; a record older than the stored one
/// (`source_updated_at`) changes nothing. A changed phone moves to the row only when no
/// other customer has it.
pub async fn upsert_customer(tx: &mut Tx, c: &NewCustomer<'_>) -> anyhow::Result<Upserted> {
    let mut existing = None;
    if let Some(external_id) = c.external_id {
        existing = with_tx!(tx, |conn| sqlx::query_as::<_, Existing>(
            "select id, phone, source_updated_at from customers where external_id = $1"
        )
        .bind(external_id)
        .fetch_optional(conn)
        .await)?;
    }
    if existing.is_none()
        && let Some(phone) = c.phone
    {
        existing = with_tx!(tx, |conn| sqlx::query_as::<_, Existing>(
            "select id, phone, source_updated_at from customers where phone = $1"
        )
        .bind(phone.as_str())
        .fetch_optional(conn)
        .await)?;
    }
    let Some(row) = existing else {
        let Some(phone) = c.phone else { return Ok(Upserted::NoPhone) };
        let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
            "insert into customers (phone, name, email, timezone, external_id, source_updated_at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7) returning id"
        )
        .bind(phone.as_str())
        .bind(c.name)
        .bind(c.email)
        .bind(c.timezone)
        .bind(c.external_id)
        .bind(c.source_updated_at)
        .bind(Utc::now())
        .fetch_one(conn)
        .await)?;
        return Ok(Upserted::Created(id));
    };
    if let (Some(stored), Some(given)) = (row.source_updated_at, c.source_updated_at)
        && given < stored
    {
        return Ok(Upserted::Stale(row.id));
    }
    let mut phone = row.phone;
    if let Some(new) = c.phone
        && new.as_str() != phone
    {
        let taken = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>("select id from customers where phone = $1")
            .bind(new.as_str())
            .fetch_optional(conn)
            .await)?;
        if taken.is_none() {
            phone = new.as_str().to_string();
        }
    }
    let updated = with_tx!(tx, |conn| sqlx::query(
        "update customers set phone = $2,
             name = coalesce($3, name), email = coalesce($4, email), timezone = coalesce($5, timezone),
             external_id = coalesce(external_id, $6),
             source_updated_at = coalesce($7, source_updated_at)
         where id = $1 and ($7 is null or source_updated_at is null or source_updated_at <= $7)"
    )
    .bind(row.id)
    .bind(&phone)
    .bind(c.name)
    .bind(c.email)
    .bind(c.timezone)
    .bind(c.external_id)
    .bind(c.source_updated_at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    // The newer-than check again in the write: of two concurrent writers, the older loses
    // even when both read the row before either wrote it.
    Ok(if updated == 0 { Upserted::Stale(row.id) } else { Upserted::Updated(row.id) })
}

/// The customer with this shop id, if any.
pub async fn customer_id_by_external_id(tx: &mut Tx, external_id: &str) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>("select id from customers where external_id = $1")
        .bind(external_id)
        .fetch_optional(conn)
        .await)?;
    Ok(id)
}

/// The id of the customer with this phone, if any (in a transaction).
pub async fn customer_id_by_phone_in(tx: &mut Tx, phone: &Phone) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>("select id from customers where phone = $1")
        .bind(phone.as_str())
        .fetch_optional(conn)
        .await)?;
    Ok(id)
}

/// The customer with this email (the newest, if several), if any.
pub async fn customer_id_by_email(tx: &mut Tx, email: &str) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "select id from customers where lower(email) = lower($1) order by id desc limit 1"
    )
    .bind(email)
    .fetch_optional(conn)
    .await)?;
    Ok(id)
}

/// Returns the id of the customer with this phone, creating a lead (no name) if unknown.
pub async fn ensure_customer(tx: &mut Tx, phone: &Phone) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into customers (phone, created_at) values ($1, $2)
         on conflict (phone) do update set phone = excluded.phone
         returning id"
    )
    .bind(phone.as_str())
    .bind(Utc::now())
    .fetch_one(conn)
    .await)?;
    Ok(id)
}

/// The customer with this phone, if any.
pub async fn customer_by_phone(db: &Db, phone: &Phone) -> anyhow::Result<Option<CustomerRow>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, CustomerRow>(
        "select id, phone, name, email, timezone from customers where phone = $1"
    )
    .bind(phone.as_str())
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// An order to import.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub customer_id: i64,
    /// The order number a customer quotes ("1001" for Shopify's "#1001").
    pub external_id: &'a str,
    /// The shop's own id (Shopify's numeric `id`), when it has one apart from the number.
    pub source_id: Option<&'a str>,
    pub ordered_at: DateTime<Utc>,
    pub status: &'a str,
    /// `fulfilled`, `partial`, `unfulfilled`, or none.
    pub fulfillment_status: Option<&'a str>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The shop's order status page.
    pub order_status_url: Option<&'a str>,
    /// The checkout the order completed (Shopify's `checkout_token`).
    pub checkout_token: Option<&'a str>,
    /// The shop's total; the sum of the lines when absent.
    pub total_cents: Option<i64>,
    /// ISO 4217; USD when absent.
    pub currency: Option<&'a str>,
    /// When the shop last changed the order: an older record never overwrites a newer one.
    pub source_updated_at: Option<DateTime<Utc>>,
    /// The discount codes it used (attribution: docs/analytics.md).
    pub discount_codes: &'a [String],
    pub items: Vec<NewOrderItem<'a>>,
}

impl<'a> NewOrder<'a> {
    /// An order with only the fields every source has.
    pub fn new(
        customer_id: i64,
        external_id: &'a str,
        ordered_at: DateTime<Utc>,
        status: &'a str,
        items: Vec<NewOrderItem<'a>>,
    ) -> Self {
        NewOrder {
            customer_id,
            external_id,
            source_id: None,
            ordered_at,
            status,
            fulfillment_status: None,
            cancelled_at: None,
            order_status_url: None,
            checkout_token: None,
            total_cents: None,
            currency: None,
            source_updated_at: None,
            discount_codes: &[],
            items,
        }
    }
}

/// An order line to import.
#[derive(Debug, Clone)]
pub struct NewOrderItem<'a> {
    pub sku: &'a Sku,
    pub title: &'a str,
    pub price_cents: i64,
    pub quantity: i64,
}

/// Inserts or replaces an order (found by the shop's id, else by number) and its lines. A
/// record older than the stored one (`source_updated_at`) changes nothing.
pub async fn upsert_order(tx: &mut Tx, o: &NewOrder<'_>) -> anyhow::Result<Upserted> {
    let total = o.total_cents.unwrap_or_else(|| o.items.iter().map(|i| i.price_cents * i.quantity).sum());
    let codes = (!o.discount_codes.is_empty()).then(|| super::json_text(&o.discount_codes));
    let existing = with_tx!(tx, |conn| sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(
        "select id, source_updated_at from orders where source_id = $1 or external_id = $2 order by id limit 1"
    )
    .bind(o.source_id)
    .bind(o.external_id)
    .fetch_optional(conn)
    .await)?;
    if let Some((id, Some(stored))) = existing
        && o.source_updated_at.is_some_and(|given| given < stored)
    {
        return Ok(Upserted::Stale(id));
    }
    let (order_id, upserted) = match existing {
        Some((id, _)) => {
            // The record is the order's whole state (a cancellation undone is undone); the
            // newer-than check is repeated in the statement, so of two concurrent writers
            // the older one loses.
            let written = with_tx!(tx, |conn| sqlx::query(
                "update orders set customer_id = $2, external_id = $3, source_id = coalesce($4, source_id),
                     ordered_at = $5, status = $6, fulfillment_status = $7,
                     cancelled_at = $8, order_status_url = coalesce($9, order_status_url),
                     checkout_token = coalesce($10, checkout_token), total_cents = $11, currency = $12,
                     source_updated_at = coalesce($13, source_updated_at), discount_codes = $14,
                     attribution_stale = attribution_stale + 1
                 where id = $1 and ($13 is null or source_updated_at is null or source_updated_at <= $13)"
            )
            .bind(id)
            .bind(o.customer_id)
            .bind(o.external_id)
            .bind(o.source_id)
            .bind(o.ordered_at)
            .bind(o.status)
            .bind(o.fulfillment_status)
            .bind(o.cancelled_at)
            .bind(o.order_status_url)
            .bind(o.checkout_token)
            .bind(total)
            .bind(o.currency.unwrap_or("USD"))
            .bind(o.source_updated_at)
            .bind(codes.as_deref())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
            if written == 0 {
                return Ok(Upserted::Stale(id));
            }
            (id, Upserted::Updated(id))
        }
        None => {
            let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
                "insert into orders (customer_id, external_id, source_id, ordered_at, status, fulfillment_status,
                     cancelled_at, order_status_url, checkout_token, total_cents, currency, source_updated_at,
                     discount_codes)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id"
            )
            .bind(o.customer_id)
            .bind(o.external_id)
            .bind(o.source_id)
            .bind(o.ordered_at)
            .bind(o.status)
            .bind(o.fulfillment_status)
            .bind(o.cancelled_at)
            .bind(o.order_status_url)
            .bind(o.checkout_token)
            .bind(total)
            .bind(o.currency.unwrap_or("USD"))
            .bind(o.source_updated_at)
            .bind(codes.as_deref())
            .fetch_one(conn)
            .await)?;
            (id, Upserted::Created(id))
        }
    };
    with_tx!(tx, |conn| sqlx::query("delete from order_items where order_id = $1")
        .bind(order_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    // One multi-row insert per order (in chunks well under SQLite's 32,766 bound values):
    // an import writes millions of lines, and a statement per line was a third of its time.
    for chunk in o.items.chunks(1000) {
        with_tx!(tx, |conn| {
            let mut insert =
                sqlx::QueryBuilder::new("insert into order_items (order_id, sku, title, price_cents, quantity) ");
            insert.push_values(chunk, |mut row, item| {
                row.push_bind(order_id)
                    .push_bind(item.sku.as_str())
                    .push_bind(item.title)
                    .push_bind(item.price_cents)
                    .push_bind(item.quantity);
            });
            insert.build().execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(upserted)
}

/// The id of the order with this shop id or number, if any.
pub async fn order_id_by_source(tx: &mut Tx, source_id: &str) -> anyhow::Result<Option<i64>> {
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "select id from orders where source_id = $1 or external_id = $1 order by id limit 1"
    )
    .bind(source_id)
    .fetch_optional(conn)
    .await)?;
    Ok(id)
}

/// The skus of an order's lines (found by the shop's id or number), none for a new order.
pub async fn order_skus(tx: &mut Tx, source_id: Option<&str>, number: &str) -> anyhow::Result<Vec<String>> {
    let skus = with_tx!(tx, |conn| sqlx::query_scalar::<_, String>(
        "select i.sku from order_items i join orders o on o.id = i.order_id
         where o.id = (select id from orders where source_id = $1 or external_id = $2 order by id limit 1)"
    )
    .bind(source_id)
    .bind(number)
    .fetch_all(conn)
    .await)?;
    Ok(skus)
}

/// Marks an order cancelled (Shopify `orders/cancelled`, an "Order Cancelled" event).
pub async fn cancel_order(tx: &mut Tx, order_id: i64, at: DateTime<Utc>) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query(
        "update orders set status = 'cancelled', cancelled_at = coalesce(cancelled_at, $2),
             attribution_stale = attribution_stale + 1
         where id = $1"
    )
    .bind(order_id)
    .bind(at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A shipment of an order to record.
#[derive(Debug, Clone, Default)]
pub struct NewFulfillment<'a> {
    pub order_id: i64,
    /// The shop's id of the shipment.
    pub source_id: &'a str,
    pub status: Option<&'a str>,
    pub shipment_status: Option<&'a str>,
    pub tracking_company: Option<&'a str>,
    pub tracking_number: Option<&'a str>,
    pub tracking_url: Option<&'a str>,
    pub estimated_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
}

/// Inserts or updates a shipment by its shop id; an older record changes nothing. Empty
/// fields keep what is stored (a later scan without the tracking number keeps it).
pub async fn upsert_fulfillment(tx: &mut Tx, f: &NewFulfillment<'_>) -> anyhow::Result<Upserted> {
    let existing = with_tx!(tx, |conn| sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(
        "select id, source_updated_at from fulfillments where source_id = $1"
    )
    .bind(f.source_id)
    .fetch_optional(conn)
    .await)?;
    if let Some((id, Some(stored))) = existing
        && f.source_updated_at.is_some_and(|given| given < stored)
    {
        return Ok(Upserted::Stale(id));
    }
    if let Some((id, _)) = existing {
        let written = with_tx!(tx, |conn| {
            sqlx::query(
            "update fulfillments set status = coalesce($2, status), shipment_status = coalesce($3, shipment_status),
                 tracking_company = coalesce($4, tracking_company), tracking_number = coalesce($5, tracking_number),
                 tracking_url = coalesce($6, tracking_url), estimated_delivery_at = coalesce($7, estimated_delivery_at),
                 delivered_at = coalesce($8, delivered_at), source_updated_at = coalesce($9, source_updated_at)
             where id = $1 and ($9 is null or source_updated_at is null or source_updated_at <= $9)"
        )
        .bind(id)
        .bind(f.status)
        .bind(f.shipment_status)
        .bind(f.tracking_company)
        .bind(f.tracking_number)
        .bind(f.tracking_url)
        .bind(f.estimated_delivery_at)
        .bind(f.delivered_at)
        .bind(f.source_updated_at)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        })?;
        return Ok(if written == 0 { Upserted::Stale(id) } else { Upserted::Updated(id) });
    }
    let id = with_tx!(tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into fulfillments (order_id, source_id, status, shipment_status, tracking_company, tracking_number,
             tracking_url, estimated_delivery_at, delivered_at, created_at, source_updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning id"
    )
    .bind(f.order_id)
    .bind(f.source_id)
    .bind(f.status)
    .bind(f.shipment_status)
    .bind(f.tracking_company)
    .bind(f.tracking_number)
    .bind(f.tracking_url)
    .bind(f.estimated_delivery_at)
    .bind(f.delivered_at)
    .bind(Utc::now())
    .bind(f.source_updated_at)
    .fetch_one(conn)
    .await)?;
    Ok(Upserted::Created(id))
}

/// The customer's most recent orders with their lines, newest first.
pub async fn orders_for_customer(db: &Db, customer_id: i64, limit: i64) -> anyhow::Result<Vec<OrderWithItems>> {
    let orders = with_db!(db, |p| {
        sqlx::query_as::<_, OrderRow>(
        "select id, external_id, ordered_at, status, total_cents, fulfillment_status, cancelled_at, order_status_url from orders
         where customer_id = $1 order by ordered_at desc, id desc limit $2"
    )
    .bind(customer_id)
    .bind(limit)
    .fetch_all(p)
    .await
    })?;
    with_items(db, orders).await
}

/// The customer's orders with these order numbers (external ids); another customer's order
/// is never returned.
pub async fn orders_by_number(db: &Db, customer_id: i64, numbers: &[String]) -> anyhow::Result<Vec<OrderWithItems>> {
    if numbers.is_empty() {
        return Ok(vec![]);
    }
    let orders = with_db!(db, |p| {
        let mut query = sqlx::QueryBuilder::new(
            "select id, external_id, ordered_at, status, total_cents, fulfillment_status, cancelled_at, order_status_url from orders where customer_id = ",
        );
        // The number itself, or it with a suffix ("722295-2"; see OrderFact::has_number).
        query.push_bind(customer_id).push(" and (");
        let mut any = query.separated(" or ");
        for n in numbers {
            any.push("external_id = ").push_bind_unseparated(n.clone());
            any.push("external_id like ").push_bind_unseparated(format!("{n}-%"));
        }
        any.push_unseparated(") order by ordered_at desc, id desc");
        query.build_query_as::<OrderRow>().fetch_all(p).await
    })?;
    with_items(db, orders).await
}

/// Each order with its lines.
async fn with_items(db: &Db, orders: Vec<OrderRow>) -> anyhow::Result<Vec<OrderWithItems>> {
    let mut out = Vec::with_capacity(orders.len());
    for o in orders {
        let items = with_db!(db, |p| {
            sqlx::query_as::<_, OrderItemRow>(
                "select order_id, sku, title, price_cents, quantity from order_items where order_id = $1 order by id",
            )
            .bind(o.id)
            .fetch_all(p)
            .await
        })?;
        let shipment = with_db!(db, |p| {
            sqlx::query_as::<_, FulfillmentRow>(
                "select status, shipment_status, tracking_company, tracking_number, tracking_url,
                     estimated_delivery_at, delivered_at
                 from fulfillments where order_id = $1 and coalesce(status, '') <> 'cancelled'
                 order by id desc limit 1",
            )
            .bind(o.id)
            .fetch_optional(p)
            .await
        })?;
        out.push(OrderWithItems {
            external_id: o.external_id,
            ordered_at: o.ordered_at,
            status: o.status,
            total_cents: o.total_cents,
            fulfillment_status: o.fulfillment_status,
            cancelled_at: o.cancelled_at,
            order_status_url: o.order_status_url,
            items,
            shipment,
        });
    }
    Ok(out)
}

/// The customer with this id, if any.
pub async fn customer_by_id(db: &Db, id: i64) -> anyhow::Result<Option<CustomerRow>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, CustomerRow>(
        "select id, phone, name, email, timezone from customers where id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number stored without parsing (by hand, or by an older version) is a decode error
    /// that names the column, not a panic, when a row is read.
    #[tokio::test]
    async fn a_stored_number_that_is_not_e164_is_an_error_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let id = with_tx!(&mut tx, |conn| sqlx::query_scalar::<_, i64>(
            "insert into customers (phone, created_at) values ('call me maybe', $1) returning id"
        )
        .bind(Utc::now())
        .fetch_one(conn)
        .await)
        .unwrap();
        let conversation = with_tx!(&mut tx, |conn| sqlx::query_scalar::<_, i64>(
            "insert into conversations (phone, customer_id, state, created_at, updated_at)
             values ('call me maybe', $1, 'bot', $2, $2) returning id"
        )
        .bind(id)
        .bind(Utc::now())
        .fetch_one(conn)
        .await)
        .unwrap();
        tx.commit().await.unwrap();

        let error = customer_by_id(&db, id).await.expect_err("an invalid number does not read as a phone");
        let message = format!("{error:#}");
        assert!(message.contains("phone") && message.contains("invalid phone number"), "{message}");
        let error = super::super::conversations::find_conversation(&db, conversation).await.unwrap_err();
        assert!(format!("{error:#}").contains("invalid phone number"), "{error:#}");
    }
}
