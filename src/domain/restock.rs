//! Back in stock (docs/flows.md, "Back in stock"): what a product update restocked, and
//! whether a customer's `Back In Stock Subscribed` event asked for it. Klaviyo's flow waits on
//! "Subscribed to Back in Stock" until the variant is restocked and sends once
//! (shared/reference/flows-webhooks-analytics.md §1.6); here each subscription gets one
//! `Back In Stock` event, which a flow turns into the text.

use serde::Deserialize;

/// One variant as `products.variants` stores it, read leniently: the stored JSON carries more
/// than [`super::facts::VariantFact`] admits (`catalog::records::Variant`'s `sku` and
/// `options`), and the store, which calls this, cannot reach the catalog's parser.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Variant {
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub stock: i64,
}

/// What an update restocked: the product as a whole (its total went from none to some), and
/// each variant that did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restock {
    pub product: bool,
    pub variants: Vec<Variant>,
}

impl Restock {
    /// True when anything came back.
    pub fn any(&self) -> bool {
        self.product || !self.variants.is_empty()
    }

    /// The restocked variant a subscription asked for (its `size` and `color`, each compared
    /// ignoring case when given), or `None`. A subscription naming no variant matches when the
    /// product came back; one naming a variant matches only that variant's return.
    pub fn matches(&self, properties: &serde_json::Value) -> Option<Variant> {
        let wanted = |key: &str| properties.get(key).and_then(|v| v.as_str()).map(str::to_lowercase);
        let (size, color) = (wanted("size"), wanted("color"));
        if size.is_none() && color.is_none() {
            return self.product.then(Variant::default);
        }
        let same = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref().is_some_and(|h| h.to_lowercase() == *w))
        };
        self.variants.iter().find(|v| same(&size, &v.size) && same(&color, &v.color)).cloned()
    }
}

/// What came back between a product's stored stock and variants (`before`) and the update's.
pub fn restocked(before_stock: i64, before_variants: &str, after_stock: i64, after_variants: &str) -> Restock {
    let parse = |json: &str| serde_json::from_str::<Vec<Variant>>(json).unwrap_or_default();
    let (before, after) = (parse(before_variants), parse(after_variants));
    let variants = after
        .into_iter()
        .filter(|v| v.stock > 0)
        .filter(|v| {
            // A variant new in this update was not out of stock before: only a known one returns.
            before.iter().any(|b| b.size == v.size && b.color == v.color && b.stock <= 0)
        })
        .collect();
    Restock { product: before_stock <= 0 && after_stock > 0, variants }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_what_went_from_none_to_some_is_restocked() {
        let before = r#"[{"size":"S","color":null,"stock":4},{"size":"M","color":null,"stock":0}]"#;
        let after = r#"[{"size":"S","color":null,"stock":2},{"size":"M","color":null,"stock":3}]"#;
        let r = restocked(4, before, 5, after);
        assert!(!r.product, "the product had stock all along");
        assert_eq!(r.variants.len(), 1);
        assert_eq!(r.matches(&json!({"sku": "x", "size": "m"})).and_then(|v| v.size).as_deref(), Some("M"));
        assert_eq!(r.matches(&json!({"sku": "x", "size": "S"})), None, "S never ran out");
        assert_eq!(r.matches(&json!({"sku": "x"})), None, "the product as a whole never ran out");
        let whole = restocked(0, "[]", 3, "[]");
        assert_eq!(whole.matches(&json!({"sku": "x"})), Some(Variant::default()));
        assert!(!restocked(0, before, 0, before).any());
    }
}
