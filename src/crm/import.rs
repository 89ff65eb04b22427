//! `backtalk import-crm --customers FILE --orders FILE`: the store's customers and orders
//! into the CRM, from Backtalk's own formats (docs/store-data.md) or Shopify's customer and
//! order exports as they come ([`super::shopify_export`]), told apart by the header row:
//!
//! - customers: `phone`, `name`, `email`, `timezone`, `consent` (`opted_in` | `opted_out` |
//!   empty), `external_id`, as JSON Lines or CSV with those columns;
//! - orders: JSON Lines with `order_id`, `phone`, `ordered_at`, `status` and `items`
//!   (`sku`, `title`, `price`, `quantity`), or CSV with one row per line item (`order_id`,
//!   `phone`, `ordered_at`, `status`, `sku`, `title`, `price`, `quantity`), the rows of one
//!   order together, as exports write them; optional `fulfillment_status`,
//!   `tracking_company`, `tracking_number`, `tracking_url` make the order's shipment.
//!
//! Upsert by phone (E.164; numbers without a country code read in the configured region)
//! and by the shop's ids, so a re-run changes nothing. Consent becomes ledger events
//! (source `import` or `shopify_export`, with the file, line and value as evidence) and an
//! import never turns an opted-out number back on. Files are streamed in transactions of
//! [`BATCH`] records, so a million order lines are never held in memory. A bad row is
//! reported as `file:line: reason` and skipped (with the rest of its order); `--strict`
//! checks every file first and writes nothing if any row is bad. Shopify rows without any
//! phone number are skipped and counted: Backtalk texts.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde_json::{Map, Value};

use super::shopify_export::{self, Columns, CustomerRow};
use super::{ConsentImported, CustomerRecord, OrderItemRecord, OrderRecord, import_customer, import_order};
use crate::domain::Region;
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
    /// Where numbers written without a country code are read (`crm.default_region`).
    pub default_region: Region,
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
    /// Shopify customer rows without any phone number: skipped (Backtalk texts).
    pub customers_without_phone: usize,
    /// Shopify orders without any phone number: skipped.
    pub orders_without_phone: usize,
    /// Shopify line items without a SKU (custom items, tips, gift cards): their orders came
    /// in without them.
    pub lines_without_sku: usize,
    /// Each file read and the format its header (or name) said it is.
    pub formats: Vec<FileFormat>,
    pub bad_lines: Vec<BadLine>,
}

/// A file and its format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileFormat {
    pub file: String,
    pub format: Format,
}

/// The formats `import-crm` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Backtalk's JSON Lines.
    Jsonl,
    /// Backtalk's CSV columns.
    Csv,
    /// Shopify's customer export.
    ShopifyCustomers,
    /// Shopify's order export.
    ShopifyOrders,
}

impl Format {
    /// How the summary names it.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Jsonl => "Backtalk JSON Lines",
            Format::Csv => "Backtalk CSV",
            Format::ShopifyCustomers => "Shopify customer export",
            Format::ShopifyOrders => "Shopify order export",
        }
    }
}

/// What was skipped without being an error.
enum Skip {
    CustomerWithoutPhone,
    OrderWithoutPhone,
    LineWithoutSku,
}

/// One valid record, a skipped one, a file's format, or a bad row.
enum Item {
    Format(FileFormat),
    Customer { record: CustomerRecord, source: &'static str, evidence: Option<String> },
    Order(OrderRecord),
    Skipped(Skip),
    Bad(BadLine),
}

/// Order CSV columns that belong to the order, not to its line.
const ORDER_COLUMNS: &[&str] = &[
    "order_id",
    "phone",
    "ordered_at",
    "status",
    "fulfillment_status",
    "tracking_company",
    "tracking_number",
    "tracking_url",
];
/// Order line CSV columns.
const LINE_COLUMNS: &[&str] = &["sku", "title", "price", "quantity"];
/// Customer columns.
const CUSTOMER_COLUMNS: &[&str] = &["phone", "name", "email", "timezone", "consent", "external_id"];

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

/// A CSV file's format from its header; `None` for a CSV that is neither Shopify export.
fn detect(headers: &csv::StringRecord) -> (Format, Option<Columns>) {
    let columns = Columns::new(headers);
    if shopify_export::is_customer_export(&columns) {
        (Format::ShopifyCustomers, Some(columns))
    } else if shopify_export::is_order_export(&columns) {
        (Format::ShopifyOrders, Some(columns))
    } else {
        (Format::Csv, None)
    }
}

/// A file's format, from its first readable row, announced to the import; a Shopify export
/// of the `other` kind (given with the wrong flag) stops the import naming the right flag.
fn first_layout(
    file: &str,
    first: &RawRow<'_>,
    other: Format,
    send: &mut dyn FnMut(Item) -> bool,
) -> anyhow::Result<(Format, Option<Columns>)> {
    let detected = match first {
        RawRow::Csv { headers, .. } => detect(headers),
        RawRow::Json(_) => (Format::Jsonl, None),
    };
    if detected.0 == other {
        let (what, flag) = match other {
            Format::ShopifyOrders => ("order", "--orders"),
            _ => ("customer", "--customers"),
        };
        anyhow::bail!("{file}: this is a Shopify {what} export; give it with {flag}");
    }
    anyhow::ensure!(
        send(Item::Format(FileFormat { file: file.to_string(), format: detected.0 })),
        "the import stopped"
    );
    Ok(detected)
}

/// Reads the customers file, sending each record, skipped row or bad row.
fn read_customers(
    path: &Path,
    region: Region,
    count: Arc<AtomicU64>,
    send: &mut dyn FnMut(Item) -> bool,
) -> anyhow::Result<()> {
    let file = path.display().to_string();
    // The file's format, known from its first row.
    let mut layout: Option<(Format, Option<Columns>)> = None;
    rows::read_rows(path, count, |line, row| {
        let at = || format!("{file}:{line}");
        // The format, from the first row that could be read (a malformed first row says nothing).
        if layout.is_none()
            && let Ok(first) = &row
        {
            layout = Some(first_layout(&file, first, Format::ShopifyOrders, send)?);
        }
        let shopify = layout.as_ref().and_then(|(_, columns)| columns.as_ref());
        let record = match (row, shopify) {
            (Err(e), _) => Err(e),
            (Ok(RawRow::Csv { row, .. }), Some(columns)) => {
                shopify_export::customer(columns, row, region, &at()).map(|c| match c {
                    CustomerRow::Customer { record, evidence } => {
                        Item::Customer { record, source: "shopify_export", evidence }
                    }
                    CustomerRow::NoPhone => Item::Skipped(Skip::CustomerWithoutPhone),
                })
            }
            (Ok(RawRow::Json(map)), _) => customer(map).map(|c| own_customer(c, &at())),
            (Ok(RawRow::Csv { headers, row }), None) => {
                csv_map(headers, row).and_then(customer).map(|c| own_customer(c, &at()))
            }
        };
        let item = record.unwrap_or_else(|message| Item::Bad(BadLine { file: file.clone(), line, message }));
        anyhow::ensure!(send(item), "the import stopped");
        Ok(())
    })
}

/// A customer of Backtalk's format, its consent's evidence naming the row.
fn own_customer(record: CustomerRecord, at: &str) -> Item {
    let evidence = record.consent.as_ref().map(|c| format!("{at}: consent={c}"));
    Item::Customer { record, source: "import", evidence }
}

/// An order being gathered from its rows.
enum Gathered {
    Order(Box<OrderRecord>),
    /// A Shopify order without any phone number: skipped, counted.
    NoPhone,
    /// A row of it was bad (already reported): the rest of its rows are skipped.
    Bad,
}

/// Gathers the consecutive rows of one order into one record. The rows of an order must be
/// together (as Backtalk's and Shopify's exports write them): a group whose order was
/// gathered before is a bad row, not a second import that would replace the first's lines.
struct Grouper {
    file: String,
    /// Backtalk's format needs an order to have lines; a Shopify order may have only
    /// lines without a SKU.
    require_items: bool,
    /// The order being gathered: its key, first line, what it is so far.
    open: Option<(String, usize, Gathered)>,
    /// The orders gathered so far, as 64-bit hashes of their numbers: 8 bytes an order
    /// (under 16 MB with the set's overhead for a million orders) instead of the numbers.
    seen: HashSet<u64>,
}

impl Grouper {
    fn new(file: String, require_items: bool) -> Grouper {
        Grouper { file, require_items, open: None, seen: HashSet::new() }
    }

    fn bad(&self, line: usize, message: String) -> Item {
        Item::Bad(BadLine { file: self.file.clone(), line, message })
    }

    /// Sends the order gathered so far.
    fn flush(&mut self, send: &mut dyn FnMut(Item) -> bool) -> anyhow::Result<()> {
        let Some((_, line, gathered)) = self.open.take() else { return Ok(()) };
        let item = match gathered {
            Gathered::Order(o) if o.items.is_empty() && self.require_items => {
                self.bad(line, format!("order {} has no items", o.order_id))
            }
            Gathered::Order(o) => Item::Order(*o),
            Gathered::NoPhone => Item::Skipped(Skip::OrderWithoutPhone),
            Gathered::Bad => return Ok(()),
        };
        anyhow::ensure!(send(item), "the import stopped");
        Ok(())
    }

    /// Reads one row of order `key`: `head` makes the order from its first row (`None`: no
    /// phone), `item` reads the row's line (`None`: a line without a SKU).
    fn row(
        &mut self,
        key: &str,
        line: usize,
        head: impl FnOnce() -> Result<Option<OrderRecord>, String>,
        item: impl FnOnce() -> Result<Option<OrderItemRecord>, String>,
        send: &mut dyn FnMut(Item) -> bool,
    ) -> anyhow::Result<()> {
        if self.open.as_ref().is_none_or(|(open, _, _)| open != key) {
            self.flush(send)?;
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut hasher);
            let gathered = if !self.seen.insert(hasher.finish()) {
                let message = format!("order {key}: its rows must be together (it appeared earlier)");
                anyhow::ensure!(send(self.bad(line, message)), "the import stopped");
                Gathered::Bad
            } else {
                match head() {
                    Ok(Some(order)) => Gathered::Order(Box::new(order)),
                    Ok(None) => Gathered::NoPhone,
                    Err(message) => {
                        anyhow::ensure!(send(self.bad(line, message)), "the import stopped");
                        Gathered::Bad
                    }
                }
            };
            self.open = Some((key.to_string(), line, gathered));
        }
        let Some((_, _, Gathered::Order(_))) = &self.open else { return Ok(()) };
        match item() {
            Ok(Some(i)) => {
                if let Some((_, _, Gathered::Order(order))) = &mut self.open {
                    order.items.push(i);
                }
            }
            Ok(None) => anyhow::ensure!(send(Item::Skipped(Skip::LineWithoutSku)), "the import stopped"),
            Err(message) => {
                anyhow::ensure!(send(self.bad(line, format!("order {key}: {message}"))), "the import stopped");
                if let Some((_, _, gathered)) = &mut self.open {
                    *gathered = Gathered::Bad;
                }
            }
        }
        Ok(())
    }
}

/// A row's cells by column.
type Cells = Map<String, Value>;

/// A row of Backtalk's orders CSV: its order's cells and its line's, or what is wrong.
fn own_order_row(headers: &csv::StringRecord, row: &csv::StringRecord) -> Result<(Cells, Cells), String> {
    let mut cells = csv_map(headers, row)?;
    if let Some(unknown) =
        cells.keys().find(|k| !ORDER_COLUMNS.contains(&k.as_str()) && !LINE_COLUMNS.contains(&k.as_str()))
    {
        return Err(format!("unknown column {unknown:?}"));
    }
    let line: Map<String, Value> =
        LINE_COLUMNS.iter().filter_map(|k| cells.remove(*k).map(|v| (k.to_string(), v))).collect();
    Ok((cells, line))
}

/// Reads the orders file, sending each order (a CSV's consecutive rows of one order
/// grouped into one), skipped order or line, or bad row.
fn read_orders(
    path: &Path,
    region: Region,
    count: Arc<AtomicU64>,
    send: &mut dyn FnMut(Item) -> bool,
) -> anyhow::Result<()> {
    let file = path.display().to_string();
    let mut layout: Option<(Format, Option<Columns>)> = None;
    let mut grouper: Option<Grouper> = None;
    rows::read_rows(path, count, |line, row| {
        // The format, from the first row that could be read (a malformed first row says nothing).
        if layout.is_none()
            && let Ok(first) = &row
        {
            let detected = first_layout(&file, first, Format::ShopifyCustomers, send)?;
            grouper = Some(Grouper::new(file.clone(), detected.0 == Format::Csv));
            layout = Some(detected);
        }
        let shopify = layout.as_ref().and_then(|(_, columns)| columns.as_ref());
        let row = match row {
            Ok(row) => row,
            Err(message) => {
                anyhow::ensure!(send(Item::Bad(BadLine { file: file.clone(), line, message })), "the import stopped");
                return Ok(());
            }
        };
        let grouper = grouper.as_mut().expect("set with the layout, from the first row read");
        match (row, shopify) {
            (RawRow::Json(map), _) => {
                let item = order(map)
                    .map(Item::Order)
                    .unwrap_or_else(|message| Item::Bad(BadLine { file: file.clone(), line, message }));
                anyhow::ensure!(send(item), "the import stopped");
            }
            (RawRow::Csv { row, .. }, Some(columns)) => {
                let key = shopify_export::order_key(columns, row).unwrap_or_default();
                grouper.row(
                    key,
                    line,
                    || shopify_export::order_head(columns, row, region),
                    || shopify_export::line_item(columns, row),
                    send,
                )?;
            }
            (RawRow::Csv { headers, row }, None) => {
                let key = headers.iter().position(|h| h.trim() == "order_id").and_then(|i| row.get(i)).unwrap_or("");
                let cells = own_order_row(headers, row);
                let (head, item) = match cells {
                    Ok((head, item)) => (Ok(head), Ok(item)),
                    Err(e) => (Err(e.clone()), Err(e)),
                };
                grouper.row(
                    key.trim(),
                    line,
                    || {
                        let mut head = head?;
                        head.insert("items".into(), Value::Array(vec![]));
                        serde_json::from_value(Value::Object(head)).map(Some).map_err(|e| e.to_string())
                    },
                    || serde_json::from_value(Value::Object(item?)).map(Some).map_err(|e| e.to_string()),
                    send,
                )?;
            }
        }
        Ok(())
    })?;
    if let Some(grouper) = grouper.as_mut() {
        grouper.flush(send)?;
    }
    Ok(())
}

/// Reads both files in order (customers first), sending every item.
fn read_all(
    customers: Option<&Path>,
    orders: Option<&Path>,
    region: Region,
    count: Arc<AtomicU64>,
    send: &mut dyn FnMut(Item) -> bool,
) -> anyhow::Result<()> {
    if let Some(path) = customers {
        read_customers(path, region, count.clone(), send)?;
    }
    if let Some(path) = orders {
        read_orders(path, region, count, send)?;
    }
    Ok(())
}

/// Reads the files as `import-crm` would, writing nothing: the number of customers and orders
/// read, and each bad line's message. The fuzz targets (tests/fuzz.rs) drive the readers
/// through it.
pub fn check_files(
    customers: Option<&Path>,
    orders: Option<&Path>,
    region: Region,
) -> anyhow::Result<(usize, Vec<String>)> {
    let (mut good, mut bad) = (0, Vec::new());
    read_all(customers, orders, region, Arc::default(), &mut |item| {
        match item {
            Item::Customer { .. } | Item::Order(_) => good += 1,
            Item::Bad(line) => bad.push(format!("{}:{}: {}", line.file, line.line, line.message)),
            Item::Format(_) | Item::Skipped(_) => {}
        }
        true
    })?;
    Ok((good, bad))
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
    let region = opts.default_region;
    if opts.strict {
        // A first pass that writes nothing.
        let (c, o) = (customers.clone(), orders.clone());
        let bad = tokio::task::spawn_blocking(move || {
            let mut bad = Vec::new();
            read_all(c.as_deref(), o.as_deref(), region, Arc::default(), &mut |item| {
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
        read_all(customers.as_deref(), orders.as_deref(), region, reader_count, &mut |item| {
            tx.blocking_send(item).is_ok()
        })
    });
    let mut report = CrmImportReport::default();
    let mut sql = db.begin().await?;
    let mut in_batch = 0;
    while let Some(item) = rx.recv().await {
        match item {
            Item::Customer { record, source, evidence } => {
                match import_customer(&mut sql, &record, source, evidence.as_deref()).await? {
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
            Item::Skipped(Skip::CustomerWithoutPhone) => report.customers_without_phone += 1,
            Item::Skipped(Skip::OrderWithoutPhone) => report.orders_without_phone += 1,
            Item::Skipped(Skip::LineWithoutSku) => report.lines_without_sku += 1,
            Item::Format(f) => report.formats.push(f),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What reading an orders file sends, as (kind, detail) pairs.
    fn read(text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders_export.csv");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        read_orders(&path, Region::US, Arc::default(), &mut |item| {
            out.push(match item {
                Item::Format(f) => format!("format {:?}", f.format),
                Item::Order(o) => format!("order {} {} lines", o.order_id, o.items.len()),
                Item::Bad(b) => format!("bad {}", b.line),
                Item::Skipped(_) => "skipped".into(),
                Item::Customer { .. } => "customer".into(),
            });
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn a_malformed_first_row_does_not_hide_the_shopify_header() {
        let header = "Name,Created at,Phone,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku";
        let text = format!(
            "{header}\n#1,too,few\n#2,2024-03-05 14:22:10 -0500,'(917) 555-0140,1,Tee,5.00,T-1\n#2,,,2,Cap,3.00,C-1\n#3,2024-03-05 14:22:10 -0500,,1,Tee,5.00,T-1\n"
        );
        assert_eq!(read(&text), ["bad 2", "format ShopifyOrders", "order 2 2 lines", "skipped"]);
    }

    #[test]
    fn an_order_whose_rows_are_apart_is_a_bad_row_once() {
        let text = "order_id,phone,ordered_at,status,sku,title,price,quantity
A,+19175550140,2026-11-28T15:00:00Z,shipped,S1,Tee,5,1
B,+19175550140,2026-11-28T15:00:00Z,shipped,S1,Tee,5,1
A,+19175550140,2026-11-28T15:00:00Z,shipped,S2,Cap,3,1
A,+19175550140,2026-11-28T15:00:00Z,shipped,S3,Hat,3,1
";
        assert_eq!(read(text), ["format Csv", "order A 1 lines", "order B 1 lines", "bad 4"]);
    }
}
