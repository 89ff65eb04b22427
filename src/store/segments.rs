//! The customers of a segment (docs/campaigns.md), read a page at a time in customer order, with
//! what planning a campaign needs about each (consent, the latest promotional text, whether any
//! proactive text went to the number); and the segments defined through the API.
//!
//! The query is built from the conditions given: each is one `exists` or scalar subquery per
//! customer, served by an index (orders_customer, consent_events_phone, outbox_promotional, …).

use chrono::{DateTime, Utc};

use super::{Db, with_db, with_db_write};
use crate::domain::ConsentKind;

/// Which consent a member must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentFilter {
    /// The latest ledger entry is an opt-in (a released hold: the entry before it, decided by
    /// the caller).
    OptedIn,
    /// No opt-out or hold is the latest entry; no entry counts.
    NotOptedOut,
    Any,
}

/// A segment's conditions at one time: absolute times, area codes for states.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub consent: ConsentFilter,
    /// An order (not cancelled) with a product of this category (`None`: any), since this time.
    pub bought: Option<(Option<String>, Option<DateTime<Utc>>)>,
    pub spent_at_least_cents: Option<i64>,
    pub spent_below_cents: Option<i64>,
    pub last_order_before: Option<DateTime<Utc>>,
    pub replied_since: Option<DateTime<Utc>>,
    /// The number's area code is one of these (empty: any).
    pub area_codes: Vec<String>,
    pub in_flow: Option<String>,
    pub not_in_flow: Option<String>,
    /// An event of this name since this time.
    pub event: Option<(String, Option<DateTime<Utc>>)>,
}

/// A member of a segment, with what planning a text to it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub customer_id: i64,
    pub phone: String,
    pub name: Option<String>,
    pub timezone: Option<String>,
    /// The latest consent ledger entry.
    pub consent: Option<ConsentKind>,
    /// When the latest promotional text went to the number.
    pub last_promotional: Option<DateTime<Utc>>,
    /// How many proactive texts with a subject went or are going to the number (when above
    /// zero, the caps need their history).
    pub proactive: i64,
}

enum Bind {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

const NOT_CANCELLED: &str = "o.cancelled_at is null and o.status <> 'cancelled'";

/// The query for a filter: its SQL (members after `$1`, at most `$2`) and its binds after those.
fn query(f: &Filter) -> (String, Vec<Bind>) {
    let mut binds: Vec<Bind> = Vec::new();
    let mut p = |b: Bind| {
        binds.push(b);
        format!("${}", binds.len() + 2)
    };
    let mut conditions = vec!["c.id > $1".to_string(), "c.redacted_at is null".to_string()];
    // On the outer query, where the latest consent is a column.
    let consent = match f.consent {
        ConsentFilter::OptedIn => "where m.consent in ('opt_in', 'hold_released')",
        ConsentFilter::NotOptedOut => "where (m.consent is null or m.consent not in ('opt_out', 'hold'))",
        ConsentFilter::Any => "",
    };
    if let Some((category, since)) = &f.bought {
        // Order lines are joined only to match a category: "ordered anything" is any order.
        let mut c = match category {
            Some(category) => format!(
                "exists (select 1 from orders o join order_items i on i.order_id = o.id
                  join products pr on pr.sku = i.sku and lower(pr.category) = lower({})",
                p(Bind::Text(category.clone()))
            ),
            None => "exists (select 1 from orders o".to_string(),
        };
        c += &format!(" where o.customer_id = c.id and {NOT_CANCELLED}");
        if let Some(since) = since {
            c += &format!(" and o.ordered_at >= {}", p(Bind::Time(*since)));
        }
        conditions.push(c + ")");
    }
    let spent = format!(
        "(select coalesce(sum(o.total_cents), 0) from orders o where o.customer_id = c.id and {NOT_CANCELLED})"
    );
    if let Some(cents) = f.spent_at_least_cents {
        conditions.push(format!("{spent} >= {}", p(Bind::Int(cents))));
    }
    if let Some(cents) = f.spent_below_cents {
        conditions.push(format!("{spent} < {}", p(Bind::Int(cents))));
    }
    if let Some(before) = f.last_order_before {
        conditions.push(format!(
            "(select max(o.ordered_at) from orders o where o.customer_id = c.id and {NOT_CANCELLED}) < {}",
            p(Bind::Time(before))
        ));
    }
    if let Some(since) = f.replied_since {
        conditions.push(format!(
            "exists (select 1 from conversations cv join messages m on m.conversation_id = cv.id
              where cv.phone = c.phone and m.direction = 'in' and m.created_at >= {})",
            p(Bind::Time(since))
        ));
    }
    if !f.area_codes.is_empty() {
        let list: Vec<String> = f.area_codes.iter().map(|a| p(Bind::Text(a.clone()))).collect();
        conditions.push(format!("c.phone like '+1%' and substr(c.phone, 3, 3) in ({})", list.join(", ")));
    }
    if let Some(flow) = &f.in_flow {
        conditions.push(format!(
            "exists (select 1 from flow_runs r where r.phone = c.phone and r.flow = {} and r.status = 'waiting')",
            p(Bind::Text(flow.clone()))
        ));
    }
    if let Some(flow) = &f.not_in_flow {
        conditions.push(format!(
            "not exists (select 1 from flow_runs r where r.phone = c.phone and r.flow = {} and r.status = 'waiting')",
            p(Bind::Text(flow.clone()))
        ));
    }
    if let Some((name, since)) = &f.event {
        let name = p(Bind::Text(name.clone()));
        let since = since.map(|s| format!(" and e.occurred_at >= {}", p(Bind::Time(s)))).unwrap_or_default();
        conditions.push(format!(
            "(exists (select 1 from events e where e.customer_id = c.id and e.name = {name}{since})
              or exists (select 1 from events e where e.phone = c.phone and e.name = {name}{since}))"
        ));
    }
    // The latest consent is a scalar subquery in a derived table, filtered outside it: the
    // portable form of a lateral join (SQLite has none), which both databases run as one
    // index lookup per customer, stopping at the page's limit.
    let sql = format!(
        "select * from (
           select c.id as customer_id, c.phone, c.name, c.timezone,
             (select e.kind from consent_events e where e.phone = c.phone order by e.id desc limit 1) as consent,
             (select max(o.sent_at) from outbox o where o.to_phone = c.phone and o.class = 'promotional'
                and o.status in ('sent', 'delivered', 'unknown')) as last_promotional,
             (select count(*) from outbox o where o.to_phone = c.phone and o.kind = 'proactive'
                and o.subject is not null and o.status in ('pending', 'sending', 'sent', 'delivered', 'unknown')) as proactive
           from customers c
           where {}
           order by c.id
         ) m
         {consent}
         order by m.customer_id
         limit $2",
        conditions.join("\n             and ")
    );
    (sql, binds)
}

/// Up to `limit` members with a customer id above `after`, in id order: page through a
/// segment by passing the last id seen.
pub async fn members_page(db: &Db, filter: &Filter, after: i64, limit: i64) -> anyhow::Result<Vec<Member>> {
    let (sql, binds) = query(filter);
    let rows = with_db!(db, |p| {
        let mut q = sqlx::query_as::<_, Member>(sqlx::AssertSqlSafe(sql.clone())).bind(after).bind(limit);
        for b in &binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
                Bind::Time(t) => q.bind(*t),
            };
        }
        q.fetch_all(p).await
    })?;
    Ok(rows)
}

/// A segment defined through the API, as JSON.
pub async fn put_segment(db: &Db, name: &str, definition: &str) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "insert into segments (name, definition, updated_at) values ($1, $2, $3)
         on conflict (name) do update set definition = excluded.definition, updated_at = excluded.updated_at"
    )
    .bind(name)
    .bind(definition)
    .bind(Utc::now())
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The segments defined through the API: `(name, JSON)`, by name.
pub async fn stored_segments(db: &Db) -> anyhow::Result<Vec<(String, String)>> {
    let rows =
        with_db!(db, |p| sqlx::query_as::<_, (String, String)>("select name, definition from segments order by name")
            .fetch_all(p)
            .await)?;
    Ok(rows)
}

/// Removes a segment defined through the API; false when there was none.
pub async fn delete_segment(db: &Db, name: &str) -> anyhow::Result<bool> {
    let done = with_db_write!(db, |p| sqlx::query("delete from segments where name = $1")
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}
