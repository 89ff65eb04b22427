//! The tantivy index over products and policies (BM25, English stemming).
//!
//! The index holds text for ranking and ids; facts (price, stock) are read from SQL, so a
//! reply is never grounded in a stale copy. Searches are synchronous and CPU-bound: async
//! callers run them in `spawn_blocking`.

use std::path::Path;

use anyhow::Context;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

use crate::store::catalog::{PolicyRow, ProductRow};

/// Which kind of document a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Product,
    Policy,
}

impl DocKind {
    fn as_str(self) -> &'static str {
        match self {
            DocKind::Product => "product",
            DocKind::Policy => "policy",
        }
    }
}

/// A search result: the document id (sku or policy id) and its BM25 score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    id: Field,
    title: Field,
    body: Field,
    category: Field,
    brand: Field,
    colors: Field,
}

/// An on-disk index with one long-lived reader.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        kind: b.add_text_field("kind", STRING | STORED),
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        category: b.add_text_field("category", text.clone()),
        brand: b.add_text_field("brand", text.clone()),
        colors: b.add_text_field("colors", text),
    };
    (b.build(), fields)
}

impl SearchIndex {
    /// Opens the index in `dir`, creating an empty one if there is none.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create index dir {}", dir.display()))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .with_context(|| format!("failed to open index dir {}", dir.display()))?;
        let index = Index::open_or_create(directory, schema).context("failed to open search index")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .context("failed to open index reader")?;
        Ok(SearchIndex { index, reader, fields })
    }

    /// Replaces the whole index with these products and policies in one commit; readers
    /// see the old index until the commit, then the new one (never a half-written state).
    pub fn rebuild(&self, products: &[ProductRow], policies: &[PolicyRow]) -> anyhow::Result<()> {
        let f = self.fields;
        let mut writer = self.index.writer::<TantivyDocument>(50_000_000).context("failed to open index writer")?;
        writer.delete_all_documents()?;
        for p in products {
            let colors: Vec<String> = serde_json::from_str(&p.colors).unwrap_or_default();
            writer.add_document(doc!(
                f.kind => DocKind::Product.as_str(),
                f.id => p.sku.as_str(),
                f.title => p.title.as_str(),
                f.body => p.description.as_str(),
                f.category => p.category.as_str(),
                f.brand => p.brand.as_str(),
                f.colors => colors.join(" "),
            ))?;
        }
        for p in policies {
            let tags: Vec<String> = serde_json::from_str(&p.tags).unwrap_or_default();
            writer.add_document(doc!(
                f.kind => DocKind::Policy.as_str(),
                f.id => p.id.as_str(),
                f.title => p.title.as_str(),
                f.body => p.body.as_str(),
                f.category => tags.join(" "),
            ))?;
        }
        writer.commit().context("failed to commit search index")?;
        self.reader.reload().context("failed to reload index reader")?;
        Ok(())
    }

    /// Number of indexed documents of every kind.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The best `limit` documents of `kind` for free text (SMS wording, typos and all:
    /// the parser is lenient and never fails on syntax).
    pub fn search(&self, text: &str, kind: DocKind, limit: usize) -> anyhow::Result<Vec<Hit>> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.body, f.category, f.brand, f.colors]);
        parser.set_field_boost(f.title, 3.0);
        parser.set_field_boost(f.colors, 2.0);
        parser.set_field_boost(f.category, 1.5);
        let (parsed, _errors) = parser.parse_query_lenient(&sanitize(text));
        // The kind is a filter: a constant score of 0 leaves BM25 ranking untouched.
        let kind_filter: Box<dyn Query> = Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(Term::from_field_text(f.kind, kind.as_str()), IndexRecordOption::Basic)),
            0.0,
        ));
        let query = BooleanQuery::new(vec![(Occur::Must, parsed), (Occur::Must, kind_filter)]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            hits.push(Hit { id, score });
        }
        Ok(hits)
    }
}

/// Keeps letters, digits and spaces: SMS punctuation ("red?", "$50") is not query syntax.
fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, title: &str, colors: &str) -> ProductRow {
        ProductRow {
            sku: sku.into(),
            title: title.into(),
            brand: "Acme".into(),
            category: "Women's Clothing".into(),
            price_cents: 1000,
            currency: "USD".into(),
            colors: colors.into(),
            sizes: "[]".into(),
            stock: 3,
            description: format!("{title} from Acme."),
        }
    }

    #[test]
    fn searches_find_products_by_stemmed_words_and_colour() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open_or_create(dir.path()).unwrap();
        index
            .rebuild(
                &[
                    product("B1", "Blouse - red", "[\"red\"]"),
                    product("B2", "Blouse - black", "[\"black\"]"),
                    product("S1", "Sandals - red", "[\"red\"]"),
                ],
                &[PolicyRow {
                    id: "returns".into(),
                    title: "Returns".into(),
                    body: "Return within 30 days.".into(),
                    tags: "[\"returns\"]".into(),
                }],
            )
            .unwrap();
        let hits = index.search("do you have blouses in red?", DocKind::Product, 3).unwrap();
        assert_eq!(hits[0].id, "B1");
        let policies = index.search("how do I return something", DocKind::Policy, 2).unwrap();
        assert_eq!(policies[0].id, "returns");
        assert!(index.search("returns", DocKind::Product, 3).unwrap().is_empty());
    }

    #[test]
    fn a_rebuild_replaces_every_document() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open_or_create(dir.path()).unwrap();
        index.rebuild(&[product("B1", "Blouse - red", "[]")], &[]).unwrap();
        index.rebuild(&[product("C1", "Cardigan - blue", "[]")], &[]).unwrap();
        assert_eq!(index.num_docs(), 1);
        assert!(index.search("blouse", DocKind::Product, 3).unwrap().is_empty());
    }
}
