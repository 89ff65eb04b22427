//! Shopify's product webhooks (`products/create`, `products/update`) as catalog products, by
//! the same rules as the product export's rows (the parent module).

use super::{ProductFields, VariantRow, assemble, bad_cell, status_skip};
use crate::catalog::records::ProductRecord;
use crate::catalog::shopify::Skip;
use crate::domain::{Money, Sku};

/// A product as the `products/create` and `products/update` webhooks send it (the REST
/// Product resource: Shopify/shopify-api-php `Product.php`, `Variant.php`, `Image.php`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProductPayload {
    pub id: Option<serde_json::Value>,
    pub handle: Option<String>,
    pub title: Option<String>,
    pub body_html: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub status: Option<String>,
    /// Comma-separated, as in the export.
    pub tags: Option<String>,
    pub options: Vec<PayloadOption>,
    pub variants: Vec<PayloadVariant>,
    pub images: Vec<PayloadImage>,
}

/// One of a product payload's options (its name, by position).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PayloadOption {
    pub name: String,
    pub position: Option<usize>,
}

/// One of a product payload's variants.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PayloadVariant {
    pub sku: Option<String>,
    pub price: Option<serde_json::Value>,
    pub compare_at_price: Option<serde_json::Value>,
    pub inventory_quantity: Option<i64>,
    /// `deny` or `continue`.
    pub inventory_policy: Option<String>,
    /// `shopify` when Shopify tracks the stock; null when it does not.
    pub inventory_management: Option<String>,
    pub option1: Option<String>,
    pub option2: Option<String>,
    pub option3: Option<String>,
}

/// One of a product payload's images.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PayloadImage {
    pub src: String,
    pub position: Option<u32>,
}

/// A product webhook's payload as a catalog product (the same rules as the export's rows),
/// or the reason to leave it out of the catalog (a draft or archived product).
pub fn product_from_payload(p: &ProductPayload) -> Result<Result<ProductRecord, Skip>, String> {
    if let Some(skip) = status_skip(p.status.as_deref().unwrap_or_default())? {
        return Ok(Err(skip));
    }
    let handle = p.handle.as_deref().filter(|h| !h.is_empty()).ok_or("the product has no handle")?;
    let mut option_names: [String; 3] = Default::default();
    for (i, o) in p.options.iter().enumerate() {
        let at = o.position.map(|n| n.saturating_sub(1)).unwrap_or(i);
        if at < 3 {
            option_names[at] = o.name.clone();
        }
    }
    let money = |v: &Option<serde_json::Value>, what: &str| -> Result<Option<Money>, String> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Money::parse_usd(s).map(Some).ok_or(bad_cell(what, s, "a price")),
            Some(serde_json::Value::Number(n)) => Ok(n.as_f64().map(Money::usd)),
            Some(other) => Err(bad_cell(what, &other.to_string(), "a price")),
        }
    };
    let rows = p
        .variants
        .iter()
        .map(|v| {
            let price = money(&v.price, "price")?.ok_or("a variant has no price")?;
            Ok(VariantRow {
                values: [&v.option1, &v.option2, &v.option3].map(|o| o.clone().unwrap_or_default()),
                sku: v.sku.as_deref().filter(|s| !s.is_empty()).map(Sku::parse).transpose()?,
                price,
                compare_at: money(&v.compare_at_price, "compare_at_price")?,
                stock: v.inventory_quantity.unwrap_or(0).max(0),
                sell_when_out_of_stock: v.inventory_policy.as_deref() == Some("continue")
                    || v.inventory_management.is_none(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let image = p.images.iter().min_by_key(|i| i.position.unwrap_or(u32::MAX)).map(|i| i.src.clone());
    let fields = ProductFields {
        handle,
        title: p.title.as_deref().unwrap_or(handle),
        body_html: p.body_html.as_deref().unwrap_or_default(),
        vendor: p.vendor.as_deref().unwrap_or_default(),
        category: "",
        kind: p.product_type.as_deref().unwrap_or_default(),
        tags: p.tags.as_deref().unwrap_or_default(),
        option_names,
        image_url: image.unwrap_or_default(),
    };
    assemble(fields, &rows).map(Ok)
}
