//! Product and policy records as they appear in catalog files (README "Catalog format").

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{Money, Sku};
use crate::store::catalog::{PolicyRow, ProductRow};
use crate::store::json_text;

use crate::domain::facts::VariantFact;

/// One variant of a product: a size and/or colour with its own stock, and what a shop's
/// export says besides (its own sku and price, other options, selling when out of stock).
/// Stored as JSON in `products.variants`; a turn reads the [`VariantFact`] part
/// ([`variant_facts`]). The keys beyond size, colour and stock are written only when set, so
/// catalogs without them store what they always did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    /// Other options (Shopify's third option, say "Material"), value by option name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// The variant's own sku, when the shop gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// The variant's price when it differs by variant (the original price when on sale).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "price")]
    pub price: Option<f64>,
    /// The variant's sale price, below `price`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "price")]
    pub sale_price: Option<f64>,
    /// Units in stock (never negative: an oversold variant has none left).
    #[serde(default)]
    pub stock: i64,
    /// Can be ordered with no stock left (Shopify's "continue selling when out of stock",
    /// or inventory the shop does not track): available to order, not sold out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sell_when_out_of_stock: bool,
}

impl Variant {
    /// A variant with only a size, a colour and a stock.
    pub fn new(size: Option<&str>, color: Option<&str>, stock: i64) -> Variant {
        Variant {
            size: size.map(str::to_string),
            color: color.map(str::to_string),
            options: BTreeMap::new(),
            sku: None,
            price: None,
            sale_price: None,
            stock,
            sell_when_out_of_stock: false,
        }
    }

    /// What a turn knows of this variant.
    pub fn fact(&self) -> VariantFact {
        VariantFact {
            size: self.size.clone(),
            color: self.color.clone(),
            stock: self.stock,
            orderable: self.sell_when_out_of_stock,
        }
    }
}

/// The turn's facts of a stored `products.variants` JSON array (empty when unreadable).
pub fn variant_facts(stored: &str) -> Vec<VariantFact> {
    serde_json::from_str::<Vec<Variant>>(stored).unwrap_or_default().iter().map(Variant::fact).collect()
}

/// One product of a catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRecord {
    pub sku: Sku,
    pub title: String,
    #[serde(default, deserialize_with = "text")]
    pub description: String,
    /// Bullet points: a list, or one string with a point per line.
    #[serde(default, deserialize_with = "lines_or_list")]
    pub bullets: Vec<String>,
    #[serde(default, deserialize_with = "text")]
    pub brand: String,
    /// A path, levels separated by `>` ("Women's Clothing > Blouses"), or a list of levels.
    #[serde(default, deserialize_with = "path_or_list")]
    pub category: String,
    /// Decimal amount in `currency` (a number, or a string such as `"$15.00"`); required (a
    /// product without a price cannot be quoted).
    #[serde(default, deserialize_with = "price")]
    pub price: Option<f64>,
    #[serde(default = "usd")]
    pub currency: String,
    /// The current sale price, if the product is on sale.
    #[serde(default, deserialize_with = "price")]
    pub sale_price: Option<f64>,
    /// Colours offered (a list, or one string): derived from the variants when given.
    #[serde(default, deserialize_with = "list_or_one")]
    pub colors: Vec<String>,
    #[serde(default, deserialize_with = "list_or_one")]
    pub sizes: Vec<String>,
    /// Units in stock, all variants together; derived from the variants when given.
    #[serde(default)]
    pub stock: Option<i64>,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default, deserialize_with = "list_or_one")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "text")]
    pub url: String,
    #[serde(default, deserialize_with = "text")]
    pub image_url: String,
    /// Skus that go with this product ("complete the look").
    #[serde(default, deserialize_with = "list_or_one")]
    pub complements: Vec<String>,
}

/// The fields a product record may have, for import mapping and unknown-field reports.
pub const PRODUCT_FIELDS: &[&str] = &[
    "sku",
    "title",
    "description",
    "bullets",
    "brand",
    "category",
    "price",
    "currency",
    "sale_price",
    "colors",
    "sizes",
    "stock",
    "variants",
    "tags",
    "url",
    "image_url",
    "complements",
];

/// The fields of a policy record.
pub const POLICY_FIELDS: &[&str] = &["id", "title", "body", "tags", "translations"];

fn usd() -> String {
    "USD".into()
}

/// A string; `null` is empty.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

/// A price: a number, or a string as shops write prices ([`Money::parse_usd`]).
fn price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<NumberOrText>::deserialize(d)? {
        None => None,
        Some(NumberOrText::Number(n)) => Some(n),
        Some(NumberOrText::Text(t)) => {
            let Some(money) = Money::parse_usd(&t) else {
                return Err(serde::de::Error::custom(format!("{t:?} is not a price")));
            };
            Some(money.cents as f64 / 100.0)
        }
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A list of strings, or one string (a list of one); `null` and empty strings are dropped.
fn list_or_one<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    }
    .into_iter()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
    .collect())
}

/// A list, or one string with an item per line.
fn lines_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => s.lines().map(str::to_string).collect(),
        Some(OneOrMany::Many(v)) => v,
    }
    .into_iter()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
    .collect())
}

/// A path string, or a list of levels joined with " > ".
fn path_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => String::new(),
        Some(OneOrMany::One(s)) => s.trim().to_string(),
        Some(OneOrMany::Many(v)) => {
            v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" > ")
        }
    })
}

/// One policy document (shipping, returns, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    pub id: String,
    pub title: String,
    pub body: String,
    #[serde(default, deserialize_with = "list_or_one")]
    pub tags: Vec<String>,
    /// The policy in other languages, by ISO 639-1 code: `{"es": {"title": …, "body": …}}`.
    #[serde(default)]
    pub translations: BTreeMap<String, PolicyTranslation>,
}

/// A policy's title and body in another language; the figures must be the same as the
/// original's (the claims guard checks replies against them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTranslation {
    pub title: String,
    pub body: String,
}

impl PolicyRecord {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id is empty".into());
        }
        if self.body.trim().is_empty() {
            return Err("body is empty".into());
        }
        for (lang, t) in &self.translations {
            if lang.len() != 2 || !lang.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(format!("translations: {lang:?} is not a two-letter language code such as \"es\""));
            }
            if t.body.trim().is_empty() {
                return Err(format!("translations.{lang}.body is empty"));
            }
        }
        Ok(())
    }

    /// The row stored for this policy.
    pub fn to_row(&self) -> PolicyRow {
        PolicyRow {
            id: self.id.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            tags: json_text(&self.tags),
            translations: json_text(&self.translations),
        }
    }
}

/// `listed`, then each of `more` not already there (case-insensitive), in order.
fn merged(listed: &[String], more: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = listed.to_vec();
    for value in more {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&value)) {
            out.push(value);
        }
    }
    out
}

fn money(what: &str, amount: f64) -> Result<i64, String> {
    if !(0.0..10_000_000.0).contains(&amount) {
        return Err(format!("{what} {amount} is not a price"));
    }
    Ok(Money::usd(amount).cents)
}

impl ProductRecord {
    /// Checks what serde cannot: a usable title, a sane price, consistent stock.
    pub fn validate(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("title is empty".into());
        }
        let Some(price) = self.price else {
            return Err("price is missing".into());
        };
        let cents = money("price", price)?;
        if let Some(sale) = self.sale_price
            && money("sale_price", sale)? >= cents
        {
            return Err(format!("sale_price {sale} is not below price {price}"));
        }
        if self.currency != "USD" {
            return Err(format!("currency {} is not supported (USD only)", self.currency));
        }
        if self.stock.is_some_and(|s| s < 0) || self.variants.iter().any(|v| v.stock < 0) {
            return Err("stock is negative".into());
        }
        for v in &self.variants {
            let variant_price = v.price.map(|p| money("variant price", p)).transpose()?.unwrap_or(cents);
            if let Some(sale) = v.sale_price
                && money("variant sale_price", sale)? >= variant_price
            {
                return Err(format!("variant sale_price {sale} is not below its price"));
            }
        }
        if !self.variants.is_empty() && self.stock.is_some_and(|s| s != self.variant_stock()) {
            return Err(format!(
                "stock {} differs from the variants' total {} (give one or the other)",
                self.stock.unwrap_or_default(),
                self.variant_stock()
            ));
        }
        Ok(())
    }

    fn variant_stock(&self) -> i64 {
        self.variants.iter().map(|v| v.stock).sum()
    }

    /// Colours: the listed ones, then those of the variants.
    pub fn all_colors(&self) -> Vec<String> {
        merged(&self.colors, self.variants.iter().filter_map(|v| v.color.clone()))
    }

    /// Sizes: the listed ones, then those of the variants.
    pub fn all_sizes(&self) -> Vec<String> {
        merged(&self.sizes, self.variants.iter().filter_map(|v| v.size.clone()))
    }

    /// The row stored in the products table (call [`ProductRecord::validate`] first).
    pub fn to_row(&self) -> ProductRow {
        let stock = if self.variants.is_empty() { self.stock.unwrap_or(0) } else { self.variant_stock() };
        ProductRow {
            sku: self.sku.clone(),
            title: self.title.trim().to_string(),
            brand: self.brand.trim().to_string(),
            category: self.category.clone(),
            price_cents: Money::usd(self.price.unwrap_or_default()).cents,
            currency: self.currency.clone(),
            colors: json_text(&self.all_colors()),
            sizes: json_text(&self.all_sizes()),
            stock,
            description: self.description.trim().to_string(),
            bullets: json_text(&self.bullets),
            sale_price_cents: self.sale_price.map(|p| Money::usd(p).cents),
            variants: json_text(&self.variants),
            tags: json_text(&self.tags),
            url: self.url.trim().to_string(),
            image_url: self.image_url.trim().to_string(),
            complements: json_text(&self.complements),
        }
    }
}

/// Parses JSONL text into records; a bad line is an error naming its line number.
pub fn parse_jsonl<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{what} line {}: {e}", n + 1))?;
        out.push(record);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(json: &str) -> ProductRecord {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_policy_translation_needs_a_language_code_and_a_body() {
        let policy = |translations: &str| -> PolicyRecord {
            serde_json::from_str(&format!(
                r#"{{"id":"returns","title":"Returns","body":"30 days.","translations":{translations}}}"#
            ))
            .unwrap()
        };
        let good = policy(r#"{"es":{"title":"Devoluciones","body":"30 días."}}"#);
        assert!(good.validate().is_ok());
        assert_eq!(good.to_row().translations, r#"{"es":{"title":"Devoluciones","body":"30 días."}}"#);
        assert!(policy(r#"{"Spanish":{"title":"x","body":"y"}}"#).validate().unwrap_err().contains("language code"));
        assert!(policy(r#"{"es":{"title":"x","body":" "}}"#).validate().unwrap_err().contains("translations.es.body"));
        assert!(
            serde_json::from_str::<PolicyRecord>(
                r#"{"id":"r","title":"R","body":"b","translations":{"es":{"body":"y","text":"z"}}}"#
            )
            .is_err()
        );
        assert_eq!(policy("{}").to_row().translations, "{}");
    }

    #[test]
    fn a_broken_line_is_reported_with_its_number() {
        let text = "{\"sku\":\"A1\",\"title\":\"Shirt\",\"price\":1.5}\n{\"sku\":\"A2\",\"title\":";
        let err = parse_jsonl::<ProductRecord>(text, "catalog").unwrap_err().to_string();
        assert!(err.starts_with("catalog line 2:"), "{err}");
    }

    #[test]
    fn prices_are_stored_in_cents() {
        let r = product(r#"{"sku":"A1","title":"Shirt","price":11.99,"sale_price":9.5}"#);
        assert!(r.validate().is_ok());
        assert_eq!(r.to_row().price_cents, 1199);
        assert_eq!(r.to_row().sale_price_cents, Some(950));
        assert_eq!(product(r#"{"sku":"A1","title":" ","price":1}"#).validate().unwrap_err(), "title is empty");
        assert_eq!(product(r#"{"sku":"A1","title":"T","price":null}"#).validate().unwrap_err(), "price is missing");
        assert!(product(r#"{"sku":"A1","title":"T","price":5,"sale_price":6}"#).validate().is_err());
    }

    #[test]
    fn variants_give_colours_sizes_and_stock() {
        let r = product(
            r#"{"sku":"B1","title":"Blouse","price":30,"variants":[{"size":"S","color":"red","stock":2},{"size":"M","color":"red","stock":3},{"size":"M","color":"white","stock":0}]}"#,
        );
        assert!(r.validate().is_ok());
        let row = r.to_row();
        assert_eq!(row.stock, 5);
        assert_eq!(row.colors, r#"["red","white"]"#);
        assert_eq!(row.sizes, r#"["S","M"]"#);
        let inconsistent = product(r#"{"sku":"B1","title":"Blouse","price":30,"stock":9,"variants":[{"stock":2}]}"#);
        assert!(inconsistent.validate().unwrap_err().contains("variants' total 2"));
    }

    #[test]
    fn flexible_shapes_for_lists_and_paths() {
        let r = product(
            r#"{"sku":"K1","title":"Kindle","price":1,"bullets":"Thin\nWaterproof\n","category":["Electronics","Readers"],"colors":"Black","brand":null}"#,
        );
        assert_eq!(r.bullets, ["Thin", "Waterproof"]);
        assert_eq!(r.category, "Electronics > Readers");
        assert_eq!(r.colors, ["Black"]);
        assert_eq!(r.brand, "");
    }
}
