//! Retrieval on the demo store (800 products): SMS questions through query understanding and
//! the real tantivy index return the right items.

use std::collections::HashMap;

use backtalk::catalog::query::understand;
use backtalk::catalog::records::parse_jsonl;
use backtalk::catalog::{ProductDoc, ProductRecord, SearchIndex};

struct Demo {
    index: SearchIndex,
    products: HashMap<String, ProductRecord>,
}

fn demo() -> Demo {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/store/catalog.jsonl")).unwrap();
    let records: Vec<ProductRecord> = parse_jsonl(&text, "demo catalog").unwrap();
    let docs: Vec<ProductDoc> = records.iter().map(|r| ProductDoc::from_row(&r.to_row())).collect();
    let index = SearchIndex::in_ram().unwrap();
    index.rebuild_docs(&docs, &[]).unwrap();
    Demo { index, products: records.into_iter().map(|r| (r.sku.to_string(), r)).collect() }
}

impl Demo {
    /// The top products for a message (and the customer's previous message).
    fn ask(&self, message: &str, previous: Option<&str>) -> Vec<&ProductRecord> {
        let u = understand(message, previous);
        let hits = self.index.search_products(&u.text, &u.filter, 5).unwrap();
        assert!(!hits.is_empty(), "{message:?} found nothing ({u:?})");
        hits.iter().map(|h| &self.products[&h.id]).collect()
    }
}

fn has_color(p: &ProductRecord, color: &str) -> bool {
    p.colors.iter().any(|c| c.to_lowercase().split_whitespace().any(|w| w == color))
}

#[test]
fn red_blouse() {
    let d = demo();
    for p in d.ask("do you have a red blouse?", None) {
        assert!(p.title.to_lowercase().contains("blouse") && has_color(p, "red"), "{} {:?}", p.title, p.colors);
    }
}

#[test]
fn anything_under_30_for_my_husband() {
    let d = demo();
    for p in d.ask("anything under $30 for my husband?", None) {
        assert!(p.price.unwrap() < 30.0, "{} costs {:?}", p.title, p.price);
        assert!(p.category.starts_with("Men's"), "{} is {}", p.title, p.category);
    }
}

#[test]
fn the_shoes_in_size_9() {
    let d = demo();
    for p in d.ask("the shoes in size 9", None) {
        assert!(p.sizes.iter().any(|s| s == "9"), "{} sizes {:?}", p.title, p.sizes);
        assert!(p.category.ends_with("Shoes"), "{} is {}", p.title, p.category);
    }
}

#[test]
fn not_black() {
    let d = demo();
    let results = d.ask("a dress but not black", None);
    for p in &results {
        assert!(!has_color(p, "black"), "{} is {:?}", p.title, p.colors);
        assert!(p.title.to_lowercase().contains("dress"), "{}", p.title);
    }
    // Without the negation the same words do find black dresses: the filter is working.
    let u = understand("a dress black", None);
    let hits = d.index.search_products(&u.text, &Default::default(), 10).unwrap();
    assert!(hits.iter().any(|h| has_color(&d.products[&h.id], "black")));
}

#[test]
fn a_typo() {
    let d = demo();
    for p in d.ask("do u have a blose", None) {
        assert!(p.title.to_lowercase().contains("blouse"), "{}", p.title);
    }
    for p in d.ask("cardigna in grey?", None) {
        assert!(p.title.to_lowercase().contains("cardigan") && has_color(p, "grey"), "{} {:?}", p.title, p.colors);
    }
}

#[test]
fn a_follow_up_searches_the_product_of_the_previous_message() {
    let d = demo();
    let first = d.ask("do you have any blouses?", None);
    assert!(first.iter().all(|p| p.title.to_lowercase().contains("blouse")));
    for p in d.ask("in red?", Some("do you have any blouses?")) {
        assert!(p.title.to_lowercase().contains("blouse") && has_color(p, "red"), "{} {:?}", p.title, p.colors);
    }
    // The size holds when the colour changes.
    for p in d.ask("what about black?", Some("trainers in size 9")) {
        assert!(p.sizes.iter().any(|s| s == "9") && has_color(p, "black"), "{} {:?} {:?}", p.title, p.colors, p.sizes);
    }
}
