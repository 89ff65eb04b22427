//! Shopify's product CSV export (`products_export.csv`) as catalog products, read as it
//! comes: recognised by its header row, one product per Handle with its variants.
//!
//! The columns and their meaning are Shopify's "Using CSV files to import and export
//! products", product CSV description table
//! (https://help.shopify.com/en/manual/products/import-export/using-csv), and the header of
//! its sample `product_template.csv`: Handle, Title, Body (HTML), Vendor, Product Category,
//! Type, Tags, Published, Option1 Name, Option1 Value, [Option1 Linked To], Option2 …,
//! Option3 …, Variant SKU, Variant Grams, Variant Inventory Tracker, Variant Inventory Qty,
//! Variant Inventory Policy, Variant Fulfillment Service, Variant Price, Variant Compare At
//! Price, Variant Requires Shipping, Variant Taxable, Variant Barcode, Image Src, Image
//! Position, Image Alt Text, Gift Card, SEO Title, SEO Description, (Google Shopping and
//! metafield columns), Variant Image, Variant Weight Unit, Variant Tax Code, Cost per item,
//! Status. What this reader takes from them:
//!
//! - Rows of one product share its Handle and are consecutive. The product's own fields
//!   (Title, Body, Vendor, Type, Tags, Published, Status, option names) are on its first
//!   row; later rows carry one variant each (blank Title), or only an image (Handle and
//!   Image Src).
//! - Option1-3 Name/Value: a "Size" option is the variant's size, a "Color"/"Colour" its
//!   colour, any other its `options`; "Title" / "Default Title" is Shopify's placeholder for
//!   a product without options.
//! - Variant Compare At Price is the original price: the variant is on sale when it is above
//!   Variant Price, and it is ignored otherwise.
//! - Variant Inventory Policy `continue` ("continue selling when out of stock"), or a blank
//!   Variant Inventory Tracker (inventory not tracked), means the variant can be ordered with
//!   no stock (Admin API `ProductVariantInventoryPolicy`: "CONTINUE: customers can buy this
//!   product variant after it's out of stock"); `deny` (the default) with none left is sold
//!   out. Negative quantities (oversold) are stored as none left.
//! - Variant Inventory Qty "is only used for stores that have a single location": an export
//!   without it has no stock figures ([`ShopifyColumns::has_stock`]).
//! - Status `draft` or `archived`: skipped. Older exports have no Status; there Published
//!   `FALSE` ("hidden from your online store") is skipped, blank means published.
//! - Image Src: the image at the lowest Image Position is the product's `image_url`.

use std::collections::{BTreeMap, HashSet};

use csv::StringRecord;

use super::records::{ProductRecord, Variant};
use crate::domain::{Money, Sku};

pub mod payload;

pub use payload::{PayloadImage, PayloadOption, PayloadVariant, ProductPayload, product_from_payload};

/// The columns a Shopify product export must have to be read.
pub const REQUIRED: &[&str] = &["Handle", "Title", "Variant Price"];

/// Where the columns this reader uses are in a Shopify export's header.
#[derive(Debug, Clone)]
pub struct ShopifyColumns {
    handle: usize,
    title: usize,
    price: usize,
    body: Option<usize>,
    vendor: Option<usize>,
    category: Option<usize>,
    kind: Option<usize>,
    tags: Option<usize>,
    published: Option<usize>,
    status: Option<usize>,
    option_names: [Option<usize>; 3],
    option_values: [Option<usize>; 3],
    sku: Option<usize>,
    tracker: Option<usize>,
    quantity: Option<usize>,
    policy: Option<usize>,
    compare_at: Option<usize>,
    image_src: Option<usize>,
    image_position: Option<usize>,
}

impl ShopifyColumns {
    /// `None` when `headers` is not a Shopify product export; otherwise its columns, or the
    /// required columns it lacks. A header is Shopify's when it has a Handle column and
    /// any of the columns only Shopify's export has (Body (HTML), Variant Price, Option1
    /// Name).
    pub fn detect(headers: &StringRecord) -> Option<Result<ShopifyColumns, Vec<&'static str>>> {
        let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
        find("Handle")?;
        if ["Body (HTML)", "Variant Price", "Option1 Name"].iter().all(|c| find(c).is_none()) {
            return None;
        }
        let missing: Vec<&'static str> = REQUIRED.iter().copied().filter(|c| find(c).is_none()).collect();
        if !missing.is_empty() {
            return Some(Err(missing));
        }
        let option = |n: usize, what: &str| find(&format!("Option{n} {what}"));
        Some(Ok(ShopifyColumns {
            handle: find("Handle")?,
            title: find("Title")?,
            price: find("Variant Price")?,
            body: find("Body (HTML)"),
            vendor: find("Vendor"),
            category: find("Product Category"),
            kind: find("Type"),
            tags: find("Tags"),
            published: find("Published"),
            status: find("Status"),
            option_names: [option(1, "Name"), option(2, "Name"), option(3, "Name")],
            option_values: [option(1, "Value"), option(2, "Value"), option(3, "Value")],
            sku: find("Variant SKU"),
            tracker: find("Variant Inventory Tracker"),
            quantity: find("Variant Inventory Qty"),
            policy: find("Variant Inventory Policy"),
            compare_at: find("Variant Compare At Price"),
            image_src: find("Image Src"),
            image_position: find("Image Position"),
        }))
    }

    /// False for an export without Variant Inventory Qty (a store with several locations):
    /// its variants have no stock figures.
    pub fn has_stock(&self) -> bool {
        self.quantity.is_some()
    }
}

/// Why a product of the export was left out on purpose (not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    Draft,
    Archived,
    /// Published FALSE in an export without Status.
    Unpublished,
}

impl Skip {
    /// The word the import summary uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Draft => "draft",
            Skip::Archived => "archived",
            Skip::Unpublished => "unpublished",
        }
    }
}

/// What one product of the export became.
#[derive(Debug)]
pub enum Outcome {
    Product(Box<ProductRecord>),
    Skipped(Skip),
    /// A bad row or product: the line to report and why.
    Bad(usize, String),
}

/// One variant row, as read.
#[derive(Debug)]
struct VariantRow {
    values: [String; 3],
    sku: Option<Sku>,
    price: Money,
    compare_at: Option<Money>,
    stock: i64,
    sell_when_out_of_stock: bool,
}

/// The rows of one Handle gathered so far.
#[derive(Debug)]
struct Gathering {
    /// Its first line, where a problem of the whole product is reported.
    line: usize,
    handle: String,
    /// The cells of the row with the Title (the product's own fields).
    first: Option<StringRecord>,
    variants: Vec<VariantRow>,
    /// (Image Position, Image Src) of the first image.
    image: Option<(u32, String)>,
    /// A row was bad: the product is left out (reported at that row).
    broken: bool,
}

/// Groups an export's rows into products; feed it every row in order with [`Grouper::row`],
/// then call [`Grouper::finish`].
pub struct Grouper {
    columns: ShopifyColumns,
    open: Option<Gathering>,
    /// Handles already finished (their rows must be together).
    done: HashSet<String>,
}

impl Grouper {
    /// A grouper for an export with these columns.
    pub fn new(columns: ShopifyColumns) -> Grouper {
        Grouper { columns, open: None, done: HashSet::new() }
    }

    /// Reads the row at `line`; `emit` gets what a finished product (or a bad row) became.
    pub fn row(
        &mut self,
        line: usize,
        row: &StringRecord,
        emit: &mut dyn FnMut(Outcome) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let cell = |i: Option<usize>| i.and_then(|i| row.get(i)).map(str::trim).unwrap_or_default();
        let handle = cell(Some(self.columns.handle));
        if handle.is_empty() {
            return emit(Outcome::Bad(line, "column \"Handle\" is empty".into()));
        }
        if self.open.as_ref().is_none_or(|g| g.handle != handle) {
            self.finish(emit)?;
            if !self.done.insert(handle.to_string()) {
                return emit(Outcome::Bad(
                    line,
                    format!("handle {handle:?}: a product's rows must be together (it appeared earlier)"),
                ));
            }
            self.open = Some(Gathering {
                line,
                handle: handle.to_string(),
                first: None,
                variants: vec![],
                image: None,
                broken: false,
            });
        }
        let columns = &self.columns;
        let Some(gathering) = self.open.as_mut() else { return Ok(()) };
        if gathering.broken {
            return Ok(());
        }
        if gathering.first.is_none() && !cell(Some(columns.title)).is_empty() {
            gathering.first = Some(row.clone());
        }
        let image = cell(columns.image_src);
        if !image.is_empty() {
            let position = cell(columns.image_position).parse().unwrap_or(u32::MAX);
            if gathering.image.as_ref().is_none_or(|(p, _)| position < *p) {
                gathering.image = Some((position, image.to_string()));
            }
        }
        let is_variant = !cell(Some(columns.price)).is_empty()
            || !cell(columns.sku).is_empty()
            || columns.option_values.iter().any(|&c| !cell(c).is_empty());
        if is_variant {
            match variant_row(columns, &cell) {
                Ok(variant) => gathering.variants.push(variant),
                Err(message) => {
                    gathering.broken = true;
                    return emit(Outcome::Bad(line, format!("{message} (product {handle:?} skipped)")));
                }
            }
        }
        Ok(())
    }

    /// Ends the product being gathered, if any, emitting what it became.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Outcome) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let Some(gathering) = self.open.take() else { return Ok(()) };
        if gathering.broken {
            return Ok(());
        }
        let line = gathering.line;
        emit(match product(&self.columns, gathering) {
            Ok(Ok(p)) => Outcome::Product(Box::new(p)),
            Ok(Err(skip)) => Outcome::Skipped(skip),
            Err(message) => Outcome::Bad(line, message),
        })
    }
}

/// `column "NAME": "VALUE" is not …`: the error of a bad cell.
fn bad_cell(column: &str, value: &str, what: &str) -> String {
    format!("column {column:?}: {value:?} is not {what}")
}

/// One variant row's variant, or what is wrong with the row.
fn variant_row<'r>(columns: &ShopifyColumns, cell: &dyn Fn(Option<usize>) -> &'r str) -> Result<VariantRow, String> {
    let price_text = cell(Some(columns.price));
    if price_text.is_empty() {
        return Err("column \"Variant Price\" is empty".into());
    }
    let price = Money::parse_usd(price_text).ok_or_else(|| bad_cell("Variant Price", price_text, "a price"))?;
    let compare_text = cell(columns.compare_at);
    let compare_at = if compare_text.is_empty() {
        None
    } else {
        Some(
            Money::parse_usd(compare_text)
                .ok_or_else(|| bad_cell("Variant Compare At Price", compare_text, "a price"))?,
        )
    };
    let quantity = cell(columns.quantity);
    let stock: i64 = if quantity.is_empty() {
        0
    } else {
        quantity.parse().map_err(|_| bad_cell("Variant Inventory Qty", quantity, "a whole number"))?
    };
    let policy = cell(columns.policy);
    let continue_selling = match policy.to_ascii_lowercase().as_str() {
        "" | "deny" => false,
        "continue" => true,
        _ => return Err(bad_cell("Variant Inventory Policy", policy, "deny or continue")),
    };
    // A blank tracker means Shopify does not track the variant's inventory: it always sells.
    let untracked = columns.tracker.is_some() && cell(columns.tracker).is_empty();
    let sku_text = cell(columns.sku);
    let sku = if sku_text.is_empty() {
        None
    } else {
        Some(Sku::parse(sku_text).map_err(|e| format!("column \"Variant SKU\": {e}"))?)
    };
    Ok(VariantRow {
        values: columns.option_values.map(|c| cell(c).to_string()),
        sku,
        price,
        compare_at,
        stock: stock.max(0),
        sell_when_out_of_stock: continue_selling || untracked,
    })
}

/// Which attribute an option name is.
enum OptionKind {
    Size,
    Colour,
    /// Shopify's "Title" option of a product without options.
    Placeholder,
    Other,
}

fn option_kind(name: &str) -> OptionKind {
    let name = name.to_lowercase();
    if name == "title" {
        OptionKind::Placeholder
    } else if name.contains("size") {
        OptionKind::Size
    } else if name.contains("color") || name.contains("colour") {
        OptionKind::Colour
    } else {
        OptionKind::Other
    }
}

/// The catalog product of a Handle's rows, a reason to skip it, or what is wrong with it.
fn product(columns: &ShopifyColumns, g: Gathering) -> Result<Result<ProductRecord, Skip>, String> {
    let Some(first) = g.first else {
        return Err(format!("handle {:?} has no row with a Title", g.handle));
    };
    let cell = |i: Option<usize>| i.and_then(|i| first.get(i)).map(str::trim).unwrap_or_default();
    if columns.status.is_some() {
        if let Some(skip) = status_skip(cell(columns.status))? {
            return Ok(Err(skip));
        }
    } else if cell(columns.published).eq_ignore_ascii_case("false") {
        return Ok(Err(Skip::Unpublished));
    }
    let fields = ProductFields {
        handle: &g.handle,
        title: cell(Some(columns.title)),
        body_html: cell(columns.body),
        vendor: cell(columns.vendor),
        category: cell(columns.category),
        kind: cell(columns.kind),
        tags: cell(columns.tags),
        option_names: columns.option_names.map(|c| cell(c).to_string()),
        image_url: g.image.map(|(_, src)| src).unwrap_or_default(),
    };
    assemble(fields, &g.variants).map(Ok)
}

/// Shopify's product status: `None` for an active product, the reason to skip a draft or an
/// archived one.
fn status_skip(status: &str) -> Result<Option<Skip>, String> {
    match status.to_ascii_lowercase().as_str() {
        "" | "active" => Ok(None),
        "draft" => Ok(Some(Skip::Draft)),
        "archived" => Ok(Some(Skip::Archived)),
        other => Err(bad_cell("Status", other, "active, draft or archived")),
    }
}

/// A product's own fields, from an export's first row or a webhook's payload.
struct ProductFields<'a> {
    handle: &'a str,
    title: &'a str,
    body_html: &'a str,
    vendor: &'a str,
    category: &'a str,
    kind: &'a str,
    tags: &'a str,
    option_names: [String; 3],
    image_url: String,
}

/// The catalog product of a product's fields and its variants.
fn assemble(f: ProductFields<'_>, rows: &[VariantRow]) -> Result<ProductRecord, String> {
    let variants: Vec<Variant> = rows.iter().map(|v| variant(&f.option_names, v)).collect();
    // The product's price is its cheapest variant's (what "how much is it?" starts from).
    let Some(cheapest) = variants.iter().min_by(|a, b| {
        let now = |v: &Variant| v.sale_price.or(v.price).unwrap_or_default();
        now(a).total_cmp(&now(b))
    }) else {
        return Err(format!("handle {:?} has no variant with a price", f.handle));
    };
    let (price, sale_price) = (cheapest.price, cheapest.sale_price);
    let sku = Sku::parse(f.handle).map_err(|e| format!("column \"Handle\": {e}"))?;
    let mut tags: Vec<String> =
        f.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect();
    if !f.kind.is_empty() && !tags.iter().any(|t| t.eq_ignore_ascii_case(f.kind)) {
        tags.push(f.kind.to_string());
    }
    let category = if f.category.is_empty() { f.kind } else { f.category };
    Ok(ProductRecord {
        sku,
        title: f.title.to_string(),
        description: plain_text(f.body_html),
        bullets: vec![],
        brand: f.vendor.to_string(),
        category: category.to_string(),
        price,
        currency: "USD".into(),
        sale_price,
        colors: vec![],
        sizes: vec![],
        stock: None,
        variants,
        tags,
        url: String::new(),
        image_url: f.image_url,
        complements: vec![],
    })
}

/// A variant row as the catalog's variant: its options by kind, its price (the
/// compare-at price as the original when it is above, making the price a sale price).
fn variant(names: &[String; 3], row: &VariantRow) -> Variant {
    let mut v = Variant::new(None, None, row.stock);
    for (name, value) in names.iter().zip(&row.values) {
        if value.is_empty() {
            continue;
        }
        match option_kind(name) {
            OptionKind::Placeholder => {}
            OptionKind::Size if v.size.is_none() => v.size = Some(value.clone()),
            OptionKind::Colour if v.color.is_none() => v.color = Some(value.clone()),
            _ => {
                let name = if name.is_empty() { "Option" } else { name.as_str() };
                v.options.insert(name.to_string(), value.clone());
            }
        }
    }
    let dollars = |m: Money| m.cents as f64 / 100.0;
    match row.compare_at {
        Some(original) if original.cents > row.price.cents => {
            v.price = Some(dollars(original));
            v.sale_price = Some(dollars(row.price));
        }
        _ => v.price = Some(dollars(row.price)),
    }
    v.sku = row.sku.clone();
    v.sell_when_out_of_stock = row.sell_when_out_of_stock;
    v
}

/// Body (HTML) as plain text: html2text renders the markup and decodes the entities; lines
/// are trimmed and runs of blank lines become one.
pub fn plain_text(html: &str) -> String {
    if html.is_empty() {
        return String::new();
    }
    let rendered = html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 10_000)
        .unwrap_or_else(|_| html.to_string());
    let mut out: Vec<&str> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Counts of what an export brought in (for the summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShopifyCounts {
    pub products: usize,
    pub variants: usize,
    /// Products left out on purpose, by reason (`draft`, `archived`, `unpublished`).
    pub skipped: BTreeMap<String, usize>,
    /// Exports without Variant Inventory Qty (stock not imported).
    pub files_without_stock: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,SEO Title,SEO Description,Variant Image,Variant Weight Unit,Variant Tax Code,Cost per item,Status";

    fn headers(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    /// Runs `rows` (CSV text after the header) through a grouper.
    fn group(rows: &str) -> Vec<Outcome> {
        let text = format!("{HEADER}\n{rows}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let columns = ShopifyColumns::detect(&reader.headers().unwrap().clone()).unwrap().unwrap();
        let mut grouper = Grouper::new(columns);
        let mut out = Vec::new();
        let mut emit = |o: Outcome| {
            out.push(o);
            Ok(())
        };
        for row in reader.records() {
            let row = row.unwrap();
            grouper.row(row.position().unwrap().line() as usize, &row, &mut emit).unwrap();
        }
        grouper.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn the_header_says_which_export_it_is() {
        assert!(ShopifyColumns::detect(&headers(HEADER)).unwrap().is_ok());
        // Newer exports add "Option1 Linked To" and may lack Variant Inventory Qty.
        let newer =
            HEADER.replace("Option1 Value,", "Option1 Value,Option1 Linked To,").replace("Variant Inventory Qty,", "");
        let columns = ShopifyColumns::detect(&headers(&newer)).unwrap().unwrap();
        assert!(!columns.has_stock());
        assert!(ShopifyColumns::detect(&headers("sku,title,price")).is_none());
        assert!(ShopifyColumns::detect(&headers("Handle,name,cost")).is_none(), "a Handle alone is not Shopify's");
        assert_eq!(
            ShopifyColumns::detect(&headers("Handle,Body (HTML),Vendor")).unwrap().unwrap_err(),
            ["Title", "Variant Price"]
        );
    }

    #[test]
    fn rows_of_a_handle_become_one_product_with_its_variants() {
        let out = group(concat!(
            "tee,Tee,<p>Soft</p>,Acme,,Shirts,\"summer, cotton\",TRUE,Size,S,Color,Red,,,TEE-S-R,0,shopify,3,deny,manual,$15.00,,TRUE,TRUE,,https://cdn/x2.jpg,2,,FALSE,,,,g,,,active\n",
            "tee,,,,,,,,,M,,Red,,,TEE-M-R,0,shopify,0,deny,manual,$15.00,,TRUE,TRUE,,,,,,,,,g,,,\n",
            "tee,,,,,,,,,,,,,,,,,,,,,,,,,https://cdn/x1.jpg,1,,,,,,,,,\n",
            "mug,Mug,,Acme,,,,TRUE,Title,Default Title,,,,,MUG,0,shopify,-4,continue,manual,9.5,12,TRUE,TRUE,,,,,,,,,g,,,active\n",
        ));
        let [Outcome::Product(tee), Outcome::Product(mug)] = &out[..] else { panic!("{out:#?}") };
        assert_eq!(tee.sku.as_str(), "tee");
        assert_eq!(tee.variants.len(), 2);
        assert_eq!(tee.variants[1].size.as_deref(), Some("M"));
        assert_eq!(tee.variants[1].color.as_deref(), Some("Red"));
        assert_eq!(tee.variants[0].sku.as_ref().map(Sku::as_str), Some("TEE-S-R"));
        assert_eq!(tee.image_url, "https://cdn/x1.jpg", "the lowest Image Position");
        assert_eq!(tee.tags, ["summer", "cotton", "Shirts"]);
        assert_eq!(tee.description, "Soft");
        assert_eq!((tee.price, tee.sale_price), (Some(15.0), None));
        assert!(tee.validate().is_ok());
        // Compare-at above the price: a sale; continue with negative stock: orderable.
        assert_eq!((mug.price, mug.sale_price), (Some(12.0), Some(9.5)));
        assert_eq!(mug.variants[0].stock, 0);
        assert!(mug.variants[0].sell_when_out_of_stock);
        assert_eq!((mug.variants[0].size.as_ref(), mug.variants[0].options.len()), (None, 0));
        assert!(mug.validate().is_ok());
    }

    #[test]
    fn drafts_bad_rows_and_scattered_handles_are_reported() {
        let out = group(concat!(
            "a,A,,,,,,TRUE,,,,,,,,,,1,,,1.00,,,,,,,,,,,,,,,draft\n",
            "b,B,,,,,,TRUE,,,,,,,,,,1,,,abc,,,,,,,,,,,,,,,active\n",
            "b,,,,,,,,,,,,,,,,,1,,,2.00,,,,,,,,,,,,,,,\n",
            "c,C,,,,,,TRUE,,,,,,,,,,1,,,3.00,2.00,,,,,,,,,,,,,,active\n",
            "a,,,,,,,,,,,,,,,,,1,,,1.00,,,,,,,,,,,,,,,\n",
        ));
        assert!(matches!(out[0], Outcome::Skipped(Skip::Draft)));
        let Outcome::Bad(3, message) = &out[1] else { panic!("{out:#?}") };
        assert_eq!(message, "column \"Variant Price\": \"abc\" is not a price (product \"b\" skipped)");
        // Compare-at below the price is not a sale.
        let Outcome::Product(c) = &out[2] else { panic!("{out:#?}") };
        assert_eq!((c.price, c.sale_price), (Some(3.0), None));
        let Outcome::Bad(6, message) = &out[3] else { panic!("{out:#?}") };
        assert!(message.contains("must be together"), "{message}");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn html_becomes_plain_text() {
        let text = plain_text(
            "<p>Soft &amp; light<br>cotton&nbsp;tee</p><ul><li>Machine wash</li><li>Made in &quot;USA&quot;</li></ul>",
        );
        assert!(!text.contains('<') && !text.contains("&amp;"), "{text}");
        assert!(text.contains("Soft & light\ncotton"), "{text}");
        assert!(text.contains("Machine wash") && text.contains("Made in \"USA\""), "{text}");
    }
}
