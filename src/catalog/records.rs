//! Product and policy records as they appear in JSONL files (see README "Catalog format").

use serde::Deserialize;

use crate::domain::{Money, Sku};
use crate::store::catalog::ProductRow;
use crate::store::json_text;

/// One product line of a catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRecord {
    pub sku: Sku,
    pub title: String,
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub category: String,
    /// Decimal amount in `currency`.
    pub price: f64,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default)]
    pub colors: Vec<String>,
    #[serde(default)]
    pub sizes: Vec<String>,
    /// Units in stock; 0 means out of stock.
    #[serde(default)]
    pub stock: i64,
    #[serde(default)]
    pub description: String,
}

fn usd() -> String {
    "USD".into()
}

/// One policy document (shipping, returns, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    pub id: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl ProductRecord {
    /// Checks what serde cannot: a usable title and a sane price.
    pub fn validate(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("title is empty".into());
        }
        if !(self.price.is_finite() && self.price >= 0.0) {
            return Err(format!("price {} is not a non-negative number", self.price));
        }
        if self.currency != "USD" {
            return Err(format!("currency {} is not supported (USD only)", self.currency));
        }
        if self.stock < 0 {
            return Err("stock is negative".into());
        }
        Ok(())
    }

    /// The row stored in the products table.
    pub fn to_row(&self) -> ProductRow {
        ProductRow {
            sku: self.sku.to_string(),
            title: self.title.trim().to_string(),
            brand: self.brand.clone(),
            category: self.category.clone(),
            price_cents: Money::usd(self.price).cents,
            currency: self.currency.clone(),
            colors: json_text(&self.colors),
            sizes: json_text(&self.sizes),
            stock: self.stock,
            description: self.description.clone(),
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

    #[test]
    fn a_broken_line_is_reported_with_its_number() {
        let text = "{\"sku\":\"A1\",\"title\":\"Shirt\",\"price\":1.5}\n{\"sku\":\"A2\",\"title\":";
        let err = parse_jsonl::<ProductRecord>(text, "catalog").unwrap_err().to_string();
        assert!(err.starts_with("catalog line 2:"), "{err}");
    }

    #[test]
    fn prices_are_stored_in_cents() {
        let r: ProductRecord = serde_json::from_str("{\"sku\":\"A1\",\"title\":\"Shirt\",\"price\":11.99}").unwrap();
        assert_eq!(r.to_row().price_cents, 1199);
        assert!(r.validate().is_ok());
        let bad: ProductRecord = serde_json::from_str("{\"sku\":\"A1\",\"title\":\" \",\"price\":1}").unwrap();
        assert!(bad.validate().is_err());
    }
}
