//! Shopify's customer and order CSV exports, read as the admin writes them (Customers →
//! Export, Orders → Export, "CSV for Excel, Numbers, or other spreadsheet programs"),
//! recognised by their header row.
//!
//! Columns, from Shopify's help center ("Exporting customers" / customer CSV format,
//! "Exporting orders") and from real exports, which differ a little:
//!
//! - customers: `Customer ID` (newer exports; older ones have none), `First Name`,
//!   `Last Name`, `Email`, `Accepts Email Marketing` (older: `Accepts Marketing`),
//!   `Default Address …` (older: `Company`, `Address1`, …, `Country Code`),
//!   `Default Address Phone`, `Phone`, `Accepts SMS Marketing` (`yes`/`no`),
//!   `Total Spent`, `Total Orders`, `Note`, `Tax Exempt`, `Tags`;
//! - orders: one row per line item, the rows of an order consecutive and the 2nd+ rows
//!   blank in the order's cells: `Name` (`#1001`), `Email`, `Financial Status`, `Paid at`,
//!   `Fulfillment Status`, `Fulfilled at`, `Accepts Marketing`, `Currency`, `Subtotal`,
//!   `Shipping`, `Taxes`, `Total`, …, `Created at`, `Lineitem quantity`, `Lineitem name`,
//!   `Lineitem price`, `Lineitem compare at price`, `Lineitem sku`, …, `Billing Phone`, …,
//!   `Shipping Country`, `Shipping Phone`, …, `Cancelled at`, …, `Id`, `Tags`, …, `Phone`.
//!
//! Quirks handled: a leading apostrophe Shopify puts before numbers (`'+1 (555) 010-0123`,
//! `'7210448301122`) so spreadsheets keep them as text; timestamps written
//! `2024-03-05 14:22:10 -0500`; any column order, and columns this reader does not use.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{CustomerRecord, OrderItemRecord, OrderRecord, ShopOrderFields};
use crate::domain::{Phone, Region, Sku};

/// Where each column of a file is, by its header name.
pub struct Columns(HashMap<String, usize>);

impl Columns {
    /// Reads a header row (a UTF-8 byte-order mark before the first name is ignored).
    pub fn new(headers: &csv::StringRecord) -> Columns {
        Columns(
            headers.iter().enumerate().map(|(i, h)| (h.trim_start_matches('\u{feff}').trim().to_string(), i)).collect(),
        )
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The cell under `name`, trimmed and without Shopify's leading apostrophe; `None` when
    /// the column is absent or the cell empty.
    pub fn get<'r>(&self, row: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let cell = row.get(*self.0.get(name)?)?.trim();
        let cell = cell.strip_prefix('\'').unwrap_or(cell).trim();
        (!cell.is_empty()).then_some(cell)
    }

    /// The first non-empty cell of these columns, with the column it came from.
    fn first<'r>(&self, row: &'r csv::StringRecord, names: &[&'static str]) -> Option<(&'static str, &'r str)> {
        names.iter().find_map(|n| self.get(row, n).map(|v| (*n, v)))
    }
}

/// True for the header of a Shopify customer export.
pub fn is_customer_export(c: &Columns) -> bool {
    c.has("First Name") && c.has("Last Name") && c.has("Email") && (c.has("Phone") || c.has("Default Address Phone"))
}

/// True for the header of a Shopify order export.
pub fn is_order_export(c: &Columns) -> bool {
    c.has("Name") && c.has("Lineitem name") && c.has("Lineitem quantity")
}

/// What one customer row says.
pub enum CustomerRow {
    /// A customer to upsert; `evidence` names the row and value of stated SMS consent.
    Customer { record: CustomerRecord, evidence: Option<String> },
    /// No phone number anywhere on the row: nothing to text.
    NoPhone,
}

/// The region a row's numbers are read in: the address's country when it is one, else
/// the configured default.
fn region_of(c: &Columns, row: &csv::StringRecord, columns: &[&'static str], default: Region) -> Region {
    columns.iter().filter_map(|n| c.get(row, n)).find_map(|code| Region::parse(code).ok()).unwrap_or(default)
}

/// Reads one customer row. `at` is `file:line`, for the consent evidence.
///
/// "Accepts SMS Marketing" `yes` states consent to SMS marketing (an opt-in event, source
/// `shopify_export`); `no` records nothing: Shopify writes `no` for a customer who never
/// subscribed as for one who unsubscribed (its `CustomerSmsMarketingState` is
/// `NOT_SUBSCRIBED` or `UNSUBSCRIBED`), and neither means "do not text me back", so an
/// opt-out here would silence order updates the customer asks for. Opt-outs come from the
/// customer's own STOP, the carrier and Shopify's webhooks.
pub fn customer(c: &Columns, row: &csv::StringRecord, default: Region, at: &str) -> Result<CustomerRow, String> {
    let Some((column, raw)) = c.first(row, &["Phone", "Default Address Phone"]) else {
        return Ok(CustomerRow::NoPhone);
    };
    let region = region_of(c, row, &["Default Address Country Code", "Country Code"], default);
    let phone = Phone::parse_in(raw, region).map_err(|e| format!("{column} {raw:?}: {e}"))?;
    let name = [c.get(row, "First Name"), c.get(row, "Last Name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let (consent, evidence) = match c.get(row, "Accepts SMS Marketing").map(str::to_lowercase).as_deref() {
        Some("yes") => (Some("opted_in".to_string()), Some(format!("{at}: Accepts SMS Marketing=yes"))),
        None | Some("no") => (None, None),
        Some(other) => return Err(format!("Accepts SMS Marketing {other:?} is not yes or no")),
    };
    let record = CustomerRecord {
        phone,
        name: (!name.is_empty()).then_some(name),
        email: c.get(row, "Email").map(str::to_string),
        timezone: None,
        consent,
        external_id: c.get(row, "Customer ID").map(str::to_string),
    };
    Ok(CustomerRow::Customer { record, evidence })
}

/// The order a row belongs to: its `Name` without the leading `#` ("#1001" → "1001"), the
/// number customers quote.
pub fn order_key<'r>(c: &Columns, row: &'r csv::StringRecord) -> Option<&'r str> {
    c.get(row, "Name").map(|n| n.strip_prefix('#').unwrap_or(n).trim())
}

/// Reads the order's own cells from its first row (without its lines); `None`: no phone
/// on the order ("Phone", "Shipping Phone", "Billing Phone" all empty).
pub fn order_head(c: &Columns, row: &csv::StringRecord, default: Region) -> Result<Option<OrderRecord>, String> {
    let order_id = order_key(c, row).filter(|k| !k.is_empty()).ok_or("Name (the order number) is empty")?;
    let Some((column, raw)) = c.first(row, &["Phone", "Shipping Phone", "Billing Phone"]) else {
        return Ok(None);
    };
    let countries: &[&str] =
        if column == "Billing Phone" { &["Billing Country"] } else { &["Shipping Country", "Billing Country"] };
    let phone =
        Phone::parse_in(raw, region_of(c, row, countries, default)).map_err(|e| format!("{column} {raw:?}: {e}"))?;
    let created = c.get(row, "Created at").ok_or("Created at is empty")?;
    let ordered_at = timestamp(created).ok_or_else(|| format!("Created at {created:?} is not a date and time"))?;
    let cancelled_at = match c.get(row, "Cancelled at") {
        Some(t) => Some(timestamp(t).ok_or_else(|| format!("Cancelled at {t:?} is not a date and time"))?),
        None => None,
    };
    let financial = c.get(row, "Financial Status").map(str::to_lowercase);
    let fulfillment = c.get(row, "Fulfillment Status").map(str::to_lowercase);
    let status = order_status(financial.as_deref(), fulfillment.as_deref(), cancelled_at.is_some());
    let total_cents = match c.get(row, "Total") {
        Some(t) => Some(cents(t).ok_or_else(|| format!("Total {t:?} is not an amount"))?),
        None => None,
    };
    Ok(Some(OrderRecord {
        order_id: order_id.to_string(),
        phone,
        ordered_at,
        status: status.to_string(),
        items: vec![],
        fulfillment_status: fulfillment,
        tracking_company: None,
        tracking_number: None,
        tracking_url: None,
        shop: ShopOrderFields {
            source_id: c.get(row, "Id").map(str::to_string),
            cancelled_at,
            total_cents,
            currency: c.get(row, "Currency").map(str::to_uppercase),
            discount_codes: c.get(row, "Discount Code").map(|code| vec![code.to_string()]).unwrap_or_default(),
        },
    }))
}

/// Reads a row's line item; `None` for a line without a SKU (a custom item, a tip, a gift
/// card: nothing the catalog knows).
pub fn line_item(c: &Columns, row: &csv::StringRecord) -> Result<Option<OrderItemRecord>, String> {
    let Some(sku) = c.get(row, "Lineitem sku") else { return Ok(None) };
    let sku = Sku::parse(sku).map_err(|e| format!("Lineitem sku: {e}"))?;
    let title = c.get(row, "Lineitem name").ok_or("Lineitem name is empty")?.to_string();
    let raw_price = c.get(row, "Lineitem price").ok_or("Lineitem price is empty")?;
    let price = cents(raw_price).ok_or_else(|| format!("Lineitem price {raw_price:?} is not an amount"))?;
    let raw_quantity = c.get(row, "Lineitem quantity").ok_or("Lineitem quantity is empty")?;
    let quantity = raw_quantity
        .parse::<i64>()
        .ok()
        .filter(|q| *q > 0)
        .ok_or_else(|| format!("Lineitem quantity {raw_quantity:?} is not a whole number above 0"))?;
    Ok(Some(OrderItemRecord { sku, title, price: price as f64 / 100.0, quantity }))
}

/// The order's status in the words the bot and the guard read (`llm::phrases::order_status`,
/// `guard::claims`): cancelled (a `Cancelled at`, or a `voided` payment) before refunded
/// (`refunded`) before shipped (`fulfilled`); anything else, including `partial` (not all of
/// it has left; `fulfillment_status` keeps `partial`), `unfulfilled`, `pending` and
/// `authorized`, is `processing`. An export does not say whether a parcel arrived, so
/// never `delivered`.
pub fn order_status(financial: Option<&str>, fulfillment: Option<&str>, cancelled: bool) -> &'static str {
    if cancelled || financial == Some("voided") {
        "cancelled"
    } else if financial == Some("refunded") {
        "refunded"
    } else if fulfillment == Some("fulfilled") {
        "shipped"
    } else {
        "processing"
    }
}

/// Shopify's `2024-03-05 14:22:10 -0500`, or RFC 3339.
pub fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `56.29` or `$56.29` in cents.
fn cents(text: &str) -> Option<i64> {
    let amount: f64 = text.trim_start_matches('$').parse().ok()?;
    amount.is_finite().then(|| (amount * 100.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(header: &str) -> Columns {
        Columns::new(&csv::StringRecord::from(header.split(',').collect::<Vec<_>>()))
    }

    #[test]
    fn headers_tell_the_exports_apart() {
        let customers = columns("\u{feff}Customer ID,First Name,Last Name,Email,Default Address Phone,Phone");
        let orders = columns("Name,Email,Created at,Lineitem quantity,Lineitem name,Lineitem price");
        assert!(is_customer_export(&customers) && !is_order_export(&customers));
        assert!(is_order_export(&orders) && !is_customer_export(&orders));
        assert!(!is_customer_export(&columns("phone,name,email,timezone,consent")));
    }

    #[test]
    fn statuses_map_to_the_words_the_bot_reads() {
        assert_eq!(order_status(Some("paid"), Some("fulfilled"), true), "cancelled");
        assert_eq!(order_status(Some("voided"), None, false), "cancelled");
        assert_eq!(order_status(Some("refunded"), Some("fulfilled"), false), "refunded");
        assert_eq!(order_status(Some("paid"), Some("fulfilled"), false), "shipped");
        assert_eq!(order_status(Some("partially_refunded"), Some("fulfilled"), false), "shipped");
        assert_eq!(order_status(Some("paid"), Some("partial"), false), "processing");
        assert_eq!(order_status(Some("pending"), Some("unfulfilled"), false), "processing");
        assert_eq!(order_status(None, None, false), "processing");
    }

    #[test]
    fn shopify_timestamps_and_amounts_parse() {
        assert_eq!(timestamp("2024-03-05 14:22:10 -0500").unwrap().to_rfc3339(), "2024-03-05T19:22:10+00:00");
        assert_eq!(timestamp("2024-03-05T19:22:10Z").unwrap().to_rfc3339(), "2024-03-05T19:22:10+00:00");
        assert!(timestamp("03/05/2024").is_none());
        assert_eq!(cents("56.29"), Some(5629));
        assert_eq!(cents("$0.10"), Some(10));
        assert_eq!(cents("abc"), None);
    }

    #[test]
    fn cells_lose_the_apostrophe_shopify_adds() {
        let c = columns("Phone,Customer ID");
        let row = csv::StringRecord::from(vec![" '+1 (555) 010-0123", "'7210448301122"]);
        assert_eq!(c.get(&row, "Phone"), Some("+1 (555) 010-0123"));
        assert_eq!(c.get(&row, "Customer ID"), Some("7210448301122"));
        assert_eq!(c.get(&row, "Email"), None);
    }
}
