//! Customers, their orders and order lines.

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
    pub items: Vec<OrderItemRow>,
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
}

/// New customer data from an import.
#[derive(Debug, Clone)]
pub struct NewCustomer<'a> {
    pub phone: &'a Phone,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub timezone: Option<&'a str>,
}

/// Creates or updates a customer by phone; returns its id.
pub async fn upsert_customer(tx: &mut Tx, c: &NewCustomer<'_>) -> anyhow::Result<i64> {
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into customers (phone, name, email, timezone, created_at) values ($1, $2, $3, $4, $5)
         on conflict (phone) do update set
             name = coalesce(excluded.name, customers.name),
             email = coalesce(excluded.email, customers.email),
             timezone = coalesce(excluded.timezone, customers.timezone)
         returning id",
        )
        .bind(c.phone.as_str())
        .bind(c.name)
        .bind(c.email)
        .bind(c.timezone)
        .bind(Utc::now())
        .fetch_one(conn)
        .await
    })?;
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
    pub external_id: &'a str,
    pub ordered_at: DateTime<Utc>,
    pub status: &'a str,
    pub items: Vec<NewOrderItem<'a>>,
}

/// An order line to import.
#[derive(Debug, Clone)]
pub struct NewOrderItem<'a> {
    pub sku: &'a Sku,
    pub title: &'a str,
    pub price_cents: i64,
    pub quantity: i64,
}

/// Inserts or replaces an order (by external id) and its lines.
pub async fn upsert_order(tx: &mut Tx, o: &NewOrder<'_>) -> anyhow::Result<()> {
    let total: i64 = o.items.iter().map(|i| i.price_cents * i.quantity).sum();
    let order_id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
            "insert into orders (customer_id, external_id, ordered_at, status, total_cents, currency)
         values ($1, $2, $3, $4, $5, 'USD')
         on conflict (external_id) do update set
             customer_id = excluded.customer_id, ordered_at = excluded.ordered_at,
             status = excluded.status, total_cents = excluded.total_cents
         returning id",
        )
        .bind(o.customer_id)
        .bind(o.external_id)
        .bind(o.ordered_at)
        .bind(o.status)
        .bind(total)
        .fetch_one(conn)
        .await
    })?;
    with_tx!(tx, |conn| sqlx::query("delete from order_items where order_id = $1")
        .bind(order_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    for item in &o.items {
        with_tx!(tx, |conn| {
            sqlx::query(
                "insert into order_items (order_id, sku, title, price_cents, quantity) values ($1, $2, $3, $4, $5)",
            )
            .bind(order_id)
            .bind(item.sku.as_str())
            .bind(item.title)
            .bind(item.price_cents)
            .bind(item.quantity)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// The customer's most recent orders with their lines, newest first.
pub async fn orders_for_customer(db: &Db, customer_id: i64, limit: i64) -> anyhow::Result<Vec<OrderWithItems>> {
    let orders = with_db!(db, |p| sqlx::query_as::<_, OrderRow>(
        "select id, external_id, ordered_at, status, total_cents from orders
         where customer_id = $1 order by ordered_at desc, id desc limit $2"
    )
    .bind(customer_id)
    .bind(limit)
    .fetch_all(p)
    .await)?;
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
            "select id, external_id, ordered_at, status, total_cents from orders where customer_id = ",
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
        out.push(OrderWithItems {
            external_id: o.external_id,
            ordered_at: o.ordered_at,
            status: o.status,
            total_cents: o.total_cents,
            items,
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
