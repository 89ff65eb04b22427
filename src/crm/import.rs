//! `backtalk import-crm --customers FILE --orders FILE`: the store's customers and orders
//! into the CRM, from Backtalk's own formats (docs/store-data.md):
//!
//! - customers: `phone`, `name`, `email`, `timezone`, `consent` (`opted_in` | `opted_out` |
//!   empty), as JSON Lines or CSV with those columns;
//! - orders: JSON Lines with `order_id`, `phone`, `ordered_at`, `status` and `items`
//!   (`sku`, `title`, `price`, `quantity`), or CSV with one row per line item (`order_id`,
//!   `phone`, `ordered_at`, `status`, `sku`, `title`, `price`, `quantity`), the rows of one
//!   order together, as exports write them.
//!
//! Upsert by phone (E.164; US numbers may be written without `+1`) and by order id, so a
//! re-run changes nothing. Consent becomes ledger events (source `import`) and an import
//! never turns an opted-out number back on. Files are streamed in transactions of
//! [`BATCH`] records, so a million order lines are never held in memory. A bad row is
//! reported as `file:line: reason` and skipped; `--strict` checks every file first and
//! writes nothing if any row is bad. Shopify's exports are not read yet (issue 17).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value};

use super::{ConsentImported, CustomerRecord, OrderRecord, import_customer, import_order};
use crate::rows::{self, BadLine, RawRow};
use crate::store::Db;

/// Records per SQL transaction.
pub const BATCH: usize = 1000;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct CrmImportOptions {
    /// Check every file first; write nothing if any row is bad.
    pub strict: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CrmImportReport {
    pub customers: usize,
    pub orders: usize,
    pub order_lines: usize,
    /// Consent changes recorded in the ledger.
    pub consent_events: usize,
    /// Customers the file says opted in whose number had opted out: left opted out.
    pub kept_opted_out: usize,
    pub bad_lines: Vec<BadLine>,
}

/// One valid record, or a bad row.
enum Item {
    Customer(CustomerRecord),
    Order(OrderRecord),
    Bad(BadLine),
}

/// Order CSV columns that belong to the order, not to its line.
const ORDER_COLUMNS: &[&str] = &["order_id", "phone", "ordered_at", "status"];
/// Order line CSV columns.
const LINE_COLUMNS: &[&str] = &["sku", "title", "price", "quantity"];
/// Customer columns.
const CUSTOMER_COLUMNS: &[&str] = &["phone", "name", "email", "timezone", "consent"];

/// A CSV row as a map of its non-empty cells (numbers typed for `price` and `quantity`).
fn csv_map(headers: &csv::StringRecord, row: &csv::StringRecord) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (h, cell) in headers.iter().zip(row.iter()) {
        let (h, cell) = (h.trim(), cell.trim());
        if cell.is_empty() {
            continue;
        }
        let value = match h {
            "price" => Value::from(
                cell.trim_start_matches('$').parse::<f64>().map_err(|_| format!("price {cell:?} is not a number"))?,
            ),
            "quantity" => {
                Value::from(cell.parse::<i64>().map_err(|_| format!("quantity {cell:?} is not a whole number"))?)
            }
            _ => Value::from(cell),
        };
        map.insert(h.to_string(), value);
    }
    Ok(map)
}

fn customer(map: Map<String, Value>) -> Result<CustomerRecord, String> {
    if let Some(unknown) = map.keys().find(|k| !CUSTOMER_COLUMNS.contains(&k.as_str())) {
        return Err(format!("unknown field {unknown:?} (customer fields: {})", CUSTOMER_COLUMNS.join(", ")));
    }
    let c: CustomerRecord = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    match c.consent.as_deref() {
        None | Some("opted_in") | Some("opted_out") => Ok(c),
        Some(other) => Err(format!("consent {other:?} is not opted_in or opted_out")),
    }
}

fn order(map: Map<String, Value>) -> Result<OrderRecord, String> {
    let o: OrderRecord = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
    if o.items.is_empty() {
        return Err(format!("order {} has no items", o.order_id));
    }
    Ok(o)
}

/// Reads the customers file, sending each record or bad row.
fn read_customers(path: &Path, count: Arc<AtomicU64>, send: &mut dyn FnMut(Item) -> bool) -> anyhow::Result<()> {
    let file = path.display().to_string();
    rows::read_rows(path, count, |line, row| {
        let record = match row {
            Ok(RawRow::Json(map)) => customer(map),
            Ok(RawRow::Csv { headers, row }) => csv_map(headers, row).and_then(customer),
            Err(e) => Err(e),
        };
        let item = record
            .map(Item::Customer)
            .unwrap_or_else(|message| Item::Bad(BadLine { file: file.clone(), line, message }));
        anyhow::ensure!(send(item), "the import stopped");
        Ok(())
    })
}

/// Reads the orders file, sending each order (a CSV's consecutive rows of one order id
/// grouped into one) or bad row.
fn read_orders(path: &Path, count: Arc<AtomicU64>, send: &mut dyn FnMut(Item) -> bool) -> anyhow::Result<()> {
    let file = path.display().to_string();
    // A CSV order being gathered: its first line, its fields, its lines.
    let mut open: Option<(usize, Map<String, Value>, Vec<Value>)> = None;
    let mut done: std::collections::HashSet<String> = Default::default();
    let flush = |open: &mut Option<(usize, Map<String, Value>, Vec<Value>)>, send: &mut dyn FnMut(Item) -> bool| {
        let Some((line, mut fields, items)) = open.take() else { return true };
        fields.insert("items".into(), Value::Array(items));
        let item = order(fields)
            .map(Item::Order)
            .unwrap_or_else(|message| Item::Bad(BadLine { file: file.clone(), line, message }));
        send(item)
    };
    rows::read_rows(path, count, |line, row| {
        let bad = |message: String| Item::Bad(BadLine { file: file.clone(), line, message });
        let item = match row {
            Ok(RawRow::Json(map)) => Some(order(map).map(Item::Order).unwrap_or_else(bad)),
            Err(e) => Some(bad(e)),
            Ok(RawRow::Csv { headers, row }) => match csv_map(headers, row) {
                Err(e) => Some(bad(e)),
                Ok(mut cells) => {
                    if let Some(unknown) = cells
                        .keys()
                        .find(|k| !ORDER_COLUMNS.contains(&k.as_str()) && !LINE_COLUMNS.contains(&k.as_str()))
                    {
                        Some(bad(format!("unknown column {unknown:?}")))
                    } else {
                        let id = cells.get("order_id").and_then(Value::as_str).unwrap_or_default().to_string();
                        let same = open
                            .as_ref()
                            .is_some_and(|(_, f, _)| f.get("order_id").and_then(Value::as_str) == Some(&id));
                        if !same {
                            anyhow::ensure!(flush(&mut open, send), "the import stopped");
                        }
                        if !same && done.contains(&id) {
                            Some(bad(format!("order {id}: its lines must be together (it appeared earlier)")))
                        } else {
                            let line_item: Map<String, Value> = LINE_COLUMNS
                                .iter()
                                .filter_map(|k| cells.remove(*k).map(|v| (k.to_string(), v)))
                                .collect();
                            let entry = open.get_or_insert_with(|| (line, cells, vec![]));
                            entry.2.push(Value::Object(line_item));
                            done.insert(id);
                            None
                        }
                    }
                }
            },
        };
        if let Some(item) = item {
            anyhow::ensure!(send(item), "the import stopped");
        }
        Ok(())
    })?;
    anyhow::ensure!(flush(&mut open, send), "the import stopped");
    Ok(())
}

/// Reads both files in order (customers first), sending every item.
fn read_all(
    customers: Option<&Path>,
    orders: Option<&Path>,
    count: Arc<AtomicU64>,
    send: &mut dyn FnMut(Item) -> bool,
) -> anyhow::Result<()> {
    if let Some(path) = customers {
        read_customers(path, count.clone(), send)?;
    }
    if let Some(path) = orders {
        read_orders(path, count, send)?;
    }
    Ok(())
}

/// Imports the files (either may be absent) into the CRM.
pub async fn import_files(
    db: &Db,
    customers: Option<&Path>,
    orders: Option<&Path>,
    opts: &CrmImportOptions,
) -> anyhow::Result<CrmImportReport> {
    anyhow::ensure!(
        customers.is_some() || orders.is_some(),
        "nothing to import: give --customers FILE, --orders FILE or both"
    );
    let (customers, orders) = (customers.map(Path::to_path_buf), orders.map(Path::to_path_buf));
    if opts.strict {
        // A first pass that writes nothing.
        let (c, o) = (customers.clone(), orders.clone());
        let bad = tokio::task::spawn_blocking(move || {
            let mut bad = Vec::new();
            read_all(c.as_deref(), o.as_deref(), Arc::default(), &mut |item| {
                if let Item::Bad(b) = item {
                    bad.push(b);
                }
                true
            })
            .map(|()| bad)
        })
        .await??;
        if !bad.is_empty() {
            return Err(rows::strict_failure(&bad));
        }
    }
    let total: u64 = [&customers, &orders]
        .iter()
        .filter_map(|p| p.as_ref())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let count = Arc::new(AtomicU64::new(0));
    let bar = rows::progress_bar(total, opts.progress);
    // The reader runs on a blocking thread; records come through a bounded channel, so
    // memory holds at most a channel's worth however large the files.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(BATCH);
    let reader_count = count.clone();
    let reader = tokio::task::spawn_blocking(move || {
        read_all(customers.as_deref(), orders.as_deref(), reader_count, &mut |item| tx.blocking_send(item).is_ok())
    });
    let mut report = CrmImportReport::default();
    let mut sql = db.begin().await?;
    let mut in_batch = 0;
    while let Some(item) = rx.recv().await {
        match item {
            Item::Customer(c) => {
                match import_customer(&mut sql, &c).await? {
                    ConsentImported::Recorded => report.consent_events += 1,
                    ConsentImported::KeptOptedOut => report.kept_opted_out += 1,
                    ConsentImported::Unchanged => {}
                }
                report.customers += 1;
            }
            Item::Order(o) => {
                import_order(&mut sql, &o).await?;
                report.orders += 1;
                report.order_lines += o.items.len();
            }
            Item::Bad(b) => report.bad_lines.push(b),
        }
        in_batch += 1;
        if in_batch >= BATCH {
            sql.commit().await?;
            sql = db.begin().await?;
            in_batch = 0;
            bar.set_position(count.load(std::sync::atomic::Ordering::Relaxed));
        }
    }
    reader.await??;
    // What was bought together feeds the complements ("what goes with…").
    crate::store::catalog::refresh_bought_together(&mut sql).await?;
    sql.commit().await?;
    bar.finish_and_clear();
    Ok(report)
}
