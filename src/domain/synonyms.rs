//! Everyday and US shopping words → the words the catalog uses (the demo store's titles are
//! British: "jumper", "trainers", "trousers", "rucksack"). A shopper texts "sweaters" or
//! "sneakers"; search and the evidence score read the catalog's words too.
//!
//! A table, not a model: the vocabulary of a clothing catalog is small and the mapping is
//! exact; an embedding model (the `embeddings` setting) also bridges these words, but the
//! embedded default runs without one. Each entry is (the shopper's word, singular; the
//! catalog's words).

const SYNONYMS: &[(&str, &[&str])] = &[
    ("sweater", &["jumper", "cardigan", "sweatshirt"]),
    ("pullover", &["jumper"]),
    ("jersey", &["jumper"]),
    ("hoodie", &["sweatshirt"]),
    ("sneaker", &["trainers"]),
    ("tennis", &["trainers"]),
    ("runner", &["trainers"]),
    ("kick", &["trainers"]),
    ("pant", &["trousers", "chinos"]),
    ("slack", &["trousers", "chinos"]),
    ("sweatpant", &["tracksuit", "bottoms"]),
    ("jogger", &["tracksuit", "bottoms"]),
    ("purse", &["handbag", "bag", "clutch"]),
    ("backpack", &["rucksack"]),
    ("coat", &["jacket", "parka"]),
    ("flat", &["ballet", "pumps"]),
    ("pump", &["heels"]),
    ("tank", &["vest"]),
    ("tee", &["t-shirt"]),
    ("top", &["blouse", "shirt", "vest"]),
    ("tshirt", &["t-shirt"]),
    ("pajama", &["pyjama"]),
    ("robe", &["dressing", "gown"]),
    ("sandal", &["sandals"]),
    ("shoe", &["trainers", "lace-ups", "heels", "pumps", "boots"]),
];

/// The catalog's words for a shopper's word (plural or singular), or none.
pub fn catalog_words(word: &str) -> &'static [&'static str] {
    let w = word.to_lowercase();
    let singular = w.strip_suffix('s').unwrap_or(&w);
    SYNONYMS.iter().find(|(s, _)| *s == singular || *s == w).map(|(_, words)| *words).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_and_everyday_words_find_the_catalogs() {
        assert_eq!(catalog_words("sweaters"), ["jumper", "cardigan", "sweatshirt"]);
        assert_eq!(catalog_words("Sneakers"), ["trainers"]);
        assert_eq!(catalog_words("pants"), ["trousers", "chinos"]);
        assert!(catalog_words("blouse").is_empty());
    }
}
