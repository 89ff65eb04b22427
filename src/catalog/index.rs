//! The tantivy index over products and policies.
//!
//! - Text: English stemming with ASCII folding and Lucene's English stop words (`en_fold`);
//!   title, brand, category, colour, bullet points, description and tags are separate
//!   fields, weighted at query time ([`FieldWeights`]).
//! - Fast fields: price (cents), stock, on sale, for filters and, later, ranking features.
//! - Facets: category path, colour, size (lower case), for exact filters.
//!
//! The index holds text for ranking and ids; facts (price, stock) are read from SQL, so a
//! reply is never grounded in a stale copy. Searches are synchronous and CPU-bound: async
//! callers run them in `spawn_blocking`. The index is derived data: if its schema is from an
//! older version it is recreated empty, and the caller rebuilds it from SQL.
//!
//! Over 600 lines: the schema, the writer and the query builder all work through the one
//! index's private field handles (`Fields`), so they stay together.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tantivy::collector::TopDocs;
use tantivy::index::SegmentId;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::query::{EnableScoring, Scorer};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, SegmentOrdinal, TantivyDocument, Term, doc,
};

use crate::store::catalog::{PolicyRow, ProductRow};

/// The analyzer of every ranked text field.
const ANALYZER: &str = "en_fold";
/// Lower case and ASCII folding only: the field typo-tolerant matching runs on (a stemmed
/// "blous" is two edits from "blose", the word "blouse" one).
const RAW_ANALYZER: &str = "fold";
/// Memory for one index writer (tantivy splits it across its threads).
const WRITER_MEMORY: usize = 50_000_000;
/// How many times the title is written into the all-text field by default. On ESCI (nDCG@10, all
/// queries): 1 → 0.603, 3 → 0.617, 5 → 0.624, 6 → 0.625, 8 → 0.625, 12 → 0.622; one field
/// with the title 6 times beat the all-text field plus a separate title field (0.616), and
/// searches one field instead of two.
pub const TITLE_REPEATS: usize = 6;
/// Candidates (by the words alone) whose proximity bonus is computed.
const RESCORE_DEPTH: usize = 100;

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

/// A search result: the document id (sku or policy id) and its score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

/// What the index needs of a product.
#[derive(Debug, Clone, Default)]
pub struct ProductDoc {
    pub sku: String,
    pub title: String,
    pub brand: String,
    /// A category path, levels separated by `>` ("Women's Clothing > Blouses").
    pub category: String,
    pub colors: Vec<String>,
    pub sizes: Vec<String>,
    pub bullets: String,
    pub description: String,
    pub tags: Vec<String>,
    /// The price a customer pays now (the sale price when on sale), in cents.
    pub price_cents: i64,
    pub stock: i64,
    pub on_sale: bool,
}

impl ProductDoc {
    /// The index's view of a stored product.
    pub fn from_row(p: &ProductRow) -> ProductDoc {
        let list = |json: &str| serde_json::from_str::<Vec<String>>(json).unwrap_or_default();
        ProductDoc {
            sku: p.sku.as_str().to_owned(),
            title: p.title.clone(),
            brand: p.brand.clone(),
            category: p.category.clone(),
            colors: list(&p.colors),
            sizes: list(&p.sizes),
            bullets: list(&p.bullets).join("\n"),
            description: p.description.clone(),
            tags: list(&p.tags),
            price_cents: p.sale_price_cents.unwrap_or(p.price_cents),
            stock: p.stock,
            on_sale: p.sale_price_cents.is_some(),
        }
    }
}

/// Query-time weight of each text field (BM25 scores of the fields are summed, each times
/// its weight). The defaults were chosen on the first half of the ESCI queries
/// (`backtalk bench retrieval`), see README "Retrieval".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldWeights {
    /// Every text field at once, as one document (what single-field engines index).
    pub all: f32,
    pub title: f32,
    pub brand: f32,
    pub category: f32,
    pub color: f32,
    pub bullets: f32,
    pub description: f32,
    pub tags: f32,
    /// Weight of adjacent query terms found within `proximity_slop` positions of each other.
    pub proximity: f32,
    pub proximity_slop: u32,
}

impl Default for FieldWeights {
    fn default() -> Self {
        // All text as one field, the title written into it several times (TITLE_REPEATS):
        // 0.625 nDCG@10 on ESCI against 0.592 for the title alone. Weighting the title,
        // brand, colour, category, bullets or description as separate fields on top did not
        // help, nor did a bonus for adjacent query words near each other: they are
        // available but weigh 0 (README "Retrieval").
        FieldWeights { all: 1.0, ..FieldWeights::NONE }
    }
}

impl FieldWeights {
    /// Every weight 0: a base to set a few fields on.
    pub const NONE: FieldWeights = FieldWeights {
        all: 0.0,
        title: 0.0,
        brand: 0.0,
        category: 0.0,
        color: 0.0,
        bullets: 0.0,
        description: 0.0,
        tags: 0.0,
        proximity: 0.0,
        proximity_slop: 0,
    };
}

/// Exact filters on a product search; empty means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductFilter {
    /// Price bounds in cents, inclusive.
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    /// Any of these colours, as words of the product's colours ("red" matches "dark red").
    pub colors: Vec<String>,
    /// None of these colours (same matching).
    pub exclude_colors: Vec<String>,
    /// Any of these sizes (exact, case-insensitive).
    pub sizes: Vec<String>,
    /// Words every result's category must contain ("men" for "Men's Shoes").
    pub category_terms: Vec<String>,
    /// Only these skus (complements of past purchases); empty means any.
    pub only_skus: Vec<String>,
}

impl ProductFilter {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self == &ProductFilter::default()
    }
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    id: Field,
    /// `kind:id`, unique: replacing a document deletes by this one term.
    key: Field,
    /// Title, brand, category and colours, unstemmed, for fuzzy matching.
    raw: Field,
    all: Field,
    title: Field,
    brand: Field,
    category: Field,
    color: Field,
    bullets: Field,
    description: Field,
    tags: Field,
    /// A policy's title, body and tags (policies have text fields of their own, so a product
    /// search needs no filter on the kind and stays a plain disjunction).
    policy_all: Field,
    policy_title: Field,
    category_facet: Field,
    color_facet: Field,
    size_facet: Field,
    price_cents: Field,
    stock: Field,
    on_sale: Field,
}

/// An index with one long-lived reader.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    weights: FieldWeights,
    /// The id of every document of each segment searched, by doc id, read once per segment
    /// from the document store: a hit's id is then a lookup, not a document decompressed and
    /// decoded (which cost more than the search itself on ESCI).
    ids: Mutex<HashMap<SegmentId, Arc<Vec<String>>>>,
    /// Times the title is written into the all-text field ([`TITLE_REPEATS`]).
    title_repeats: usize,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        kind: b.add_text_field("kind", STRING | STORED),
        id: b.add_text_field("id", STRING | STORED),
        key: b.add_text_field("key", STRING),
        raw: b.add_text_field(
            "raw",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default().set_tokenizer(RAW_ANALYZER).set_index_option(IndexRecordOption::Basic),
            ),
        ),
        all: b.add_text_field("all", text.clone()),
        title: b.add_text_field("title", text.clone()),
        brand: b.add_text_field("brand", text.clone()),
        category: b.add_text_field("category", text.clone()),
        color: b.add_text_field("color", text.clone()),
        bullets: b.add_text_field("bullets", text.clone()),
        description: b.add_text_field("description", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        policy_all: b.add_text_field("policy_all", text.clone()),
        policy_title: b.add_text_field("policy_title", text),
        category_facet: b.add_facet_field("category_facet", FacetOptions::default()),
        color_facet: b.add_facet_field("color_facet", FacetOptions::default()),
        size_facet: b.add_facet_field("size_facet", FacetOptions::default()),
        price_cents: b.add_i64_field("price_cents", FAST | INDEXED),
        stock: b.add_i64_field("stock", FAST | INDEXED),
        on_sale: b.add_bool_field("on_sale", FAST | INDEXED),
    };
    (b.build(), fields)
}

fn register_analyzer(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
    let raw = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    index.tokenizers().register(RAW_ANALYZER, raw);
}

/// The unique key of a document.
fn key(kind: DocKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

/// A facet path segment: lower case, no slashes.
fn facet_segment(s: &str) -> String {
    s.trim().to_lowercase().replace('/', " ")
}

impl SearchIndex {
    /// Opens the index in `dir`, creating an empty one if there is none (or if the one there
    /// has another schema: the index is derived from SQL and is rebuilt by the caller).
    pub fn open_or_create(dir: &Path) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create index dir {}", dir.display()))?;
        let (schema, _) = schema();
        let open = |dir: &Path| -> anyhow::Result<Index> {
            let directory = tantivy::directory::MmapDirectory::open(dir)
                .with_context(|| format!("failed to open index dir {}", dir.display()))?;
            Ok(Index::open_or_create(directory, schema.clone())?)
        };
        let index = match open(dir) {
            Ok(index) => index,
            Err(e) if format!("{e:#}").contains("schema") => {
                tracing::warn!(dir = %dir.display(), "search index has an older schema; recreating it empty");
                std::fs::remove_dir_all(dir).with_context(|| format!("failed to clear {}", dir.display()))?;
                std::fs::create_dir_all(dir)?;
                open(dir).context("failed to recreate search index")?
            }
            Err(e) => return Err(e.context("failed to open search index")),
        };
        Self::with_index(index)
    }

    /// An index in memory (benchmarks, tests).
    pub fn in_ram() -> anyhow::Result<SearchIndex> {
        Self::with_index(Index::create_in_ram(schema().0))
    }

    fn with_index(index: Index) -> anyhow::Result<SearchIndex> {
        register_analyzer(&index);
        let fields = schema().1;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .context("failed to open index reader")?;
        let weights = FieldWeights::default();
        Ok(SearchIndex { index, reader, fields, weights, ids: Mutex::default(), title_repeats: TITLE_REPEATS })
    }

    /// Writes the title this many times into the all-text field of documents added from now
    /// on (the benchmark's baselines; the index itself does not record it).
    pub fn set_title_repeats(&mut self, repeats: usize) {
        self.title_repeats = repeats.max(1);
    }

    /// Uses these field weights for later searches.
    pub fn set_weights(&mut self, weights: FieldWeights) {
        self.weights = weights;
    }

    fn writer(&self) -> anyhow::Result<IndexWriter<TantivyDocument>> {
        self.index
            .writer::<TantivyDocument>(WRITER_MEMORY)
            .context("failed to open index writer (is another import running?)")
    }

    fn product_document(&self, p: &ProductDoc) -> TantivyDocument {
        let f = self.fields;
        // The title counts TITLE_REPEATS times in the all-text field: a title weight applied
        // to term frequency before BM25 saturates it (as BM25F does), in one field.
        let titles = vec![p.title.as_str(); self.title_repeats].join("\n");
        let all = [
            titles.as_str(),
            &p.brand,
            &p.category.replace('>', " "),
            &p.colors.join(" "),
            &p.bullets,
            &p.description,
            &p.tags.join(" "),
        ]
        .join("\n");
        let mut d = doc!(
            f.kind => DocKind::Product.as_str(),
            f.id => p.sku.as_str(),
            f.key => key(DocKind::Product, &p.sku),
            f.raw => format!("{} {} {} {}", p.title, p.brand, p.category, p.colors.join(" ")),
            f.all => all,
            f.title => p.title.as_str(),
            f.brand => p.brand.as_str(),
            f.category => p.category.replace('>', " "),
            f.color => p.colors.join(" "),
            f.bullets => p.bullets.as_str(),
            f.description => p.description.as_str(),
            f.tags => p.tags.join(" "),
            f.price_cents => p.price_cents,
            f.stock => p.stock,
            f.on_sale => p.on_sale,
        );
        let path: Vec<String> = p.category.split('>').map(facet_segment).filter(|s| !s.is_empty()).collect();
        if !path.is_empty() {
            d.add_facet(f.category_facet, Facet::from_path(path));
        }
        for c in &p.colors {
            d.add_facet(f.color_facet, Facet::from_path([facet_segment(c)]));
        }
        for s in &p.sizes {
            d.add_facet(f.size_facet, Facet::from_path([facet_segment(s)]));
        }
        d
    }

    fn policy_document(&self, p: &PolicyRow) -> TantivyDocument {
        let f = self.fields;
        let tags: Vec<String> = serde_json::from_str(&p.tags).unwrap_or_default();
        doc!(
            f.kind => DocKind::Policy.as_str(),
            f.id => p.id.as_str(),
            f.key => key(DocKind::Policy, &p.id),
            f.policy_all => format!("{}\n{}\n{}", p.title, p.body, tags.join(" ")),
            f.policy_title => p.title.as_str(),
        )
    }

    /// Replaces the whole index with these products and policies in one commit; readers
    /// see the old index until the commit, then the new one (never a half-written state).
    pub fn rebuild(&self, products: &[ProductRow], policies: &[PolicyRow]) -> anyhow::Result<()> {
        let docs: Vec<ProductDoc> = products.iter().map(ProductDoc::from_row).collect();
        self.rebuild_docs(&docs, policies)
    }

    /// [`SearchIndex::rebuild`] from index documents.
    pub fn rebuild_docs(&self, products: &[ProductDoc], policies: &[PolicyRow]) -> anyhow::Result<()> {
        // One indexing thread: one segment, documents in the order given, so equal scores
        // rank the same way every time (and each term is looked up once per search).
        let writer = self
            .index
            .writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY)
            .context("failed to open index writer (is another import running?)")?;
        writer.delete_all_documents()?;
        for p in products {
            writer.add_document(self.product_document(p))?;
        }
        for p in policies {
            writer.add_document(self.policy_document(p))?;
        }
        self.commit(writer)
    }

    fn commit(&self, mut writer: IndexWriter<TantivyDocument>) -> anyhow::Result<()> {
        writer.commit().context("failed to commit search index")?;
        writer.wait_merging_threads().context("failed to finish index merges")?;
        self.reader.reload().context("failed to reload index reader")?;
        Ok(())
    }

    /// Starts a batch of changes that become visible together at [`IndexBatch::commit`]
    /// (until then searches see the index as it was). `replace_all` starts from empty.
    pub fn begin(&self, replace_all: bool) -> anyhow::Result<IndexBatch<'_>> {
        let writer = self.writer()?;
        if replace_all {
            writer.delete_all_documents()?;
        }
        Ok(IndexBatch { index: self, writer, before: self.reader.searcher(), replace_all, added: Default::default() })
    }

    /// Picks up commits made by another process (an import) now, rather than after the
    /// reader's reload delay.
    pub fn reload(&self) -> anyhow::Result<()> {
        self.reader.reload().context("failed to reload index reader")
    }

    /// Number of indexed documents of every kind.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The product text fields searched, with their weights (those above 0).
    fn weighted_fields(&self) -> Vec<(Field, f32)> {
        let (f, w) = (self.fields, self.weights);
        [
            (f.all, w.all),
            (f.title, w.title),
            (f.brand, w.brand),
            (f.category, w.category),
            (f.color, w.color),
            (f.bullets, w.bullets),
            (f.description, w.description),
            (f.tags, w.tags),
        ]
        .into_iter()
        .filter(|(_, weight)| *weight > 0.0)
        .collect()
    }

    /// Documents with any of `terms` in any of `fields`, scored by the weighted sum of BM25
    /// over every (term, field) pair. One flat disjunction of term queries (not a query per
    /// word): tantivy runs that shape with block-max WAND, skipping documents that cannot
    /// reach the top k (about twice as fast on ESCI as the query parser's nested form, with
    /// the same scores).
    fn disjunction(terms: &[String], fields: &[(Field, f32)]) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * fields.len());
        let mut seen = HashSet::new();
        // A word said twice counts once ("tub faucet for a clawfoot tub"), as with tantivy's
        // query parser: counting it twice lost 0.002 nDCG@10 on ESCI.
        for term in terms.iter().filter(|t| seen.insert(t.as_str())) {
            for &(field, weight) in fields {
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs));
                let q = if weight == 1.0 { q } else { Box::new(BoostQuery::new(q, weight)) };
                clauses.push((Occur::Should, q));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The ranked product query for free text; `None` when nothing is left after analysis
    /// (only stop words or punctuation: the parser would match everything).
    fn text_query(&self, text: &str) -> Option<TextQuery> {
        let terms = self.analyzed(&sanitize(text));
        if terms.is_empty() {
            return None;
        }
        let words = Self::disjunction(&terms, &self.weighted_fields());
        let w = self.weights;
        // Sequential dependence: adjacent query terms found near each other in the product's
        // text add to its score ("tan heels" near each other beats "tan" and "heels" apart).
        let mut proximity = Vec::new();
        if w.proximity > 0.0 {
            for pair in terms.windows(2).filter(|p| p[0] != p[1]) {
                let all = self.fields.all;
                let mut phrase =
                    PhraseQuery::new(vec![Term::from_field_text(all, &pair[0]), Term::from_field_text(all, &pair[1])]);
                phrase.set_slop(w.proximity_slop);
                proximity.push(BoostQuery::new(Box::new(phrase), w.proximity));
            }
        }
        Some(TextQuery { words, proximity })
    }

    fn filter(query: Box<dyn Query>) -> Box<dyn Query> {
        // A constant score of 0 filters without changing the text ranking.
        Box::new(ConstScoreQuery::new(query, 0.0))
    }

    fn term(field: Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
    }

    fn facet_any(field: Field, values: &[String]) -> Box<dyn Query> {
        let clauses = values
            .iter()
            .map(|v| {
                let facet = Facet::from_path([facet_segment(v)]);
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(Term::from_facet(field, &facet), IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    /// The best `limit` documents of `kind` for free text (SMS wording, typos and all:
    /// the parser is lenient and never fails on syntax).
    pub fn search(&self, text: &str, kind: DocKind, limit: usize) -> anyhow::Result<Vec<Hit>> {
        match kind {
            DocKind::Product => self.search_products(text, &ProductFilter::default(), limit),
            DocKind::Policy => {
                let terms = self.analyzed(&sanitize(text));
                if terms.is_empty() {
                    return Ok(Vec::new());
                }
                let fields = [(self.fields.policy_all, 1.0), (self.fields.policy_title, 1.0)];
                self.run(&*Self::disjunction(&terms, &fields), limit, &[])
            }
        }
    }

    /// The best `limit` products for free text within `filter`. When the words match
    /// nothing, a fuzzy retry allows one typo per word ("blose"); when the words are only
    /// filler ("anything under $30 for my husband"), the filter alone decides.
    pub fn search_products(&self, text: &str, filter: &ProductFilter, limit: usize) -> anyhow::Result<Vec<Hit>> {
        let Some(query) = self.text_query(text) else {
            if filter.is_empty() {
                return Ok(Vec::new());
            }
            // Every document of the product kind, within the filter.
            let products = Self::term(self.fields.kind, DocKind::Product.as_str());
            return self.run(&self.product_query(products, filter), limit, &[]);
        };
        let hits = self.run(&self.product_query(query.words, filter), limit, &query.proximity)?;
        if !hits.is_empty() {
            return Ok(hits);
        }
        self.run(&self.product_query(self.fuzzy_query(text), filter), limit, &[])
    }

    /// The text query with typos allowed, over title, brand, category and colours: one edit
    /// (a transposition counts one) in words of four letters or more, two from eight.
    fn fuzzy_query(&self, text: &str) -> Box<dyn Query> {
        let f = self.fields;
        let clauses: Vec<(Occur, Box<dyn Query>)> = self
            .analyzed_with(RAW_ANALYZER, &sanitize(text))
            .into_iter()
            .filter(|t| t.chars().count() >= 4 && !self.analyzed(t).is_empty())
            .map(|t| {
                let distance = if t.chars().count() >= 8 { 2 } else { 1 };
                let q: Box<dyn Query> = Box::new(FuzzyTermQuery::new(Term::from_field_text(f.raw, &t), distance, true));
                (Occur::Should, q)
            })
            .collect();
        if clauses.is_empty() { Box::new(EmptyQuery) } else { Box::new(BooleanQuery::new(clauses)) }
    }

    /// Every analysed word of a text field containing all of `value`'s words.
    fn words_query(&self, field: Field, value: &str) -> Box<dyn Query> {
        let clauses: Vec<(Occur, Box<dyn Query>)> =
            self.analyzed(value).into_iter().map(|t| (Occur::Must, Self::term(field, &t))).collect();
        if clauses.is_empty() { Box::new(EmptyQuery) } else { Box::new(BooleanQuery::new(clauses)) }
    }

    /// The analysed terms of `text`.
    fn analyzed(&self, text: &str) -> Vec<String> {
        self.analyzed_with(ANALYZER, text)
    }

    fn analyzed_with(&self, analyzer: &str, text: &str) -> Vec<String> {
        let Some(mut analyzer) = self.index.tokenizers().get(analyzer) else { return Vec::new() };
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms
    }

    /// `text_query` (which matches products only: their text fields are their own) within
    /// `filter`; without a filter, `text_query` itself, so a plain disjunction of words keeps
    /// tantivy's block-max WAND (top-k without scoring every match).
    fn product_query(&self, text_query: Box<dyn Query>, filter: &ProductFilter) -> Box<dyn Query> {
        if filter.is_empty() {
            return text_query;
        }
        let f = self.fields;
        let mut clauses = vec![(Occur::Must, text_query)];
        if filter.min_price_cents.is_some() || filter.max_price_cents.is_some() {
            let bound = |b: Option<i64>| {
                b.map_or(Bound::Unbounded, |c| Bound::Included(Term::from_field_i64(f.price_cents, c)))
            };
            let range = RangeQuery::new(bound(filter.min_price_cents), bound(filter.max_price_cents));
            clauses.push((Occur::Must, Self::filter(Box::new(range))));
        }
        if !filter.colors.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> =
                filter.colors.iter().map(|c| (Occur::Should, self.words_query(f.color, c))).collect();
            clauses.push((Occur::Must, Self::filter(Box::new(BooleanQuery::new(any)))));
        }
        for c in &filter.exclude_colors {
            clauses.push((Occur::MustNot, self.words_query(f.color, c)));
        }
        if !filter.sizes.is_empty() {
            clauses.push((Occur::Must, Self::filter(Self::facet_any(f.size_facet, &filter.sizes))));
        }
        for word in &filter.category_terms {
            clauses.push((Occur::Must, Self::filter(self.words_query(f.category, word))));
        }
        if !filter.only_skus.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = filter
                .only_skus
                .iter()
                .map(|sku| (Occur::Should, Self::term(f.key, &key(DocKind::Product, sku))))
                .collect();
            clauses.push((Occur::Must, Self::filter(Box::new(BooleanQuery::new(any)))));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The best `limit` documents for `query` plus `bonus` (queries that add to the score of
    /// a document `query` matches, never match by themselves: the proximity of words).
    ///
    /// The bonus is computed for the best [`RESCORE_DEPTH`] by `query` alone, so `query` runs
    /// as a plain top-k search and the bonus costs a few seeks per candidate. A document
    /// outside that depth whose bonus would lift it into the top `limit` is missed; on ESCI
    /// this changes no figure (README "Retrieval").
    fn run(&self, query: &dyn Query, limit: usize, bonus: &[BoostQuery]) -> anyhow::Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let depth = if bonus.is_empty() { limit } else { limit.max(RESCORE_DEPTH) };
        let mut top = searcher.search(query, &TopDocs::with_limit(depth).order_by_score())?;
        if !bonus.is_empty() && !top.is_empty() {
            self.add_bonus(&searcher, &mut top, bonus)?;
            top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            top.truncate(limit);
        }
        let mut hits = Vec::with_capacity(top.len());
        let mut segment: Option<(SegmentOrdinal, Arc<Vec<String>>)> = None;
        for (score, address) in top {
            if segment.as_ref().is_none_or(|(ord, _)| *ord != address.segment_ord) {
                segment = Some((address.segment_ord, self.segment_ids(&searcher, address.segment_ord)?));
            }
            let (_, ids) = segment.as_ref().expect("just set");
            let id = ids.get(address.doc_id as usize).cloned().unwrap_or_default();
            hits.push(Hit { id, score });
        }
        Ok(hits)
    }

    /// The ids of a segment's documents by doc id (deleted ones included, so positions hold).
    fn segment_ids(&self, searcher: &tantivy::Searcher, ord: SegmentOrdinal) -> anyhow::Result<Arc<Vec<String>>> {
        let reader = searcher.segment_reader(ord);
        let segment = reader.segment_id();
        if let Some(ids) = self.ids.lock().expect("id cache lock").get(&segment) {
            return Ok(ids.clone());
        }
        let store = reader.get_store_reader(1)?;
        let mut ids = Vec::with_capacity(reader.max_doc() as usize);
        for doc in store.iter::<TantivyDocument>(None) {
            let doc = doc?;
            ids.push(doc.get_first(self.fields.id).and_then(|v| v.as_str()).unwrap_or_default().to_string());
        }
        let ids = Arc::new(ids);
        let mut cache = self.ids.lock().expect("id cache lock");
        // Segments merged away or deleted since are searched no more.
        let live: HashSet<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        cache.retain(|id, _| live.contains(id));
        cache.insert(segment, ids.clone());
        Ok(ids)
    }

    /// Adds each bonus query's score to the candidates it matches.
    fn add_bonus(
        &self,
        searcher: &tantivy::Searcher,
        candidates: &mut [(f32, DocAddress)],
        bonus: &[BoostQuery],
    ) -> anyhow::Result<()> {
        // Visit the candidates segment by segment, in doc order: scorers only seek forward.
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by_key(|&i| candidates[i].1);
        for query in bonus {
            let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
            let mut current: Option<(u32, Box<dyn Scorer>)> = None;
            for &i in &order {
                let address = candidates[i].1;
                if current.as_ref().is_none_or(|(segment, _)| *segment != address.segment_ord) {
                    let reader = searcher.segment_reader(address.segment_ord);
                    current = Some((address.segment_ord, weight.scorer(reader, 1.0)?));
                }
                let (_, scorer) = current.as_mut().expect("just set");
                if scorer.doc() <= address.doc_id && scorer.seek(address.doc_id) == address.doc_id {
                    candidates[i].0 += scorer.score();
                }
            }
        }
        Ok(())
    }
}

/// A product query for free text: the words, and the proximity of adjacent words as a bonus.
struct TextQuery {
    words: Box<dyn Query>,
    proximity: Vec<BoostQuery>,
}

/// Changes to the index that become visible together.
pub struct IndexBatch<'a> {
    index: &'a SearchIndex,
    writer: IndexWriter<TantivyDocument>,
    /// The index as it was when the batch began.
    before: tantivy::Searcher,
    /// The batch started from an empty index.
    replace_all: bool,
    /// Keys added in this batch (a few dozen bytes each).
    added: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl IndexBatch<'_> {
    fn delete(&self, kind: DocKind, id: &str) -> anyhow::Result<()> {
        // A pending delete costs about 1 KiB until the commit, so only documents that exist
        // are deleted: those in the index when the batch began, or added earlier in it.
        let key = key(kind, id);
        let term = Term::from_field_text(self.index.fields.key, &key);
        let in_index = !self.replace_all && self.before.doc_freq(&term)? > 0;
        let mut added = self.added.lock().expect("batch key set");
        if in_index || added.contains(&key) {
            self.writer.delete_term(term);
        }
        added.insert(key);
        Ok(())
    }

    /// Adds a product, replacing the one with its sku.
    pub fn upsert_product(&self, p: &ProductDoc) -> anyhow::Result<()> {
        self.delete(DocKind::Product, &p.sku)?;
        self.writer.add_document(self.index.product_document(p))?;
        Ok(())
    }

    /// Removes the product with this sku (nothing when there is none).
    pub fn delete_product(&self, sku: &str) -> anyhow::Result<()> {
        self.delete(DocKind::Product, sku)
    }

    /// Adds a policy, replacing the one with its id.
    pub fn upsert_policy(&self, p: &PolicyRow) -> anyhow::Result<()> {
        self.delete(DocKind::Policy, &p.id)?;
        self.writer.add_document(self.index.policy_document(p))?;
        Ok(())
    }

    /// Makes every change visible at once.
    pub fn commit(self) -> anyhow::Result<()> {
        self.index.commit(self.writer)
    }
}

/// Keeps letters, digits and spaces: SMS punctuation ("red?", "$50") is not part of a word.
fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, title: &str, colors: &[&str], price_cents: i64) -> ProductDoc {
        ProductDoc {
            sku: sku.into(),
            title: title.into(),
            brand: "Acme".into(),
            category: "Women's Clothing > Tops".into(),
            colors: colors.iter().map(|c| c.to_string()).collect(),
            sizes: vec!["S".into(), "M".into()],
            description: format!("{title} from Acme."),
            price_cents,
            stock: 3,
            ..ProductDoc::default()
        }
    }

    fn returns_policy() -> PolicyRow {
        PolicyRow {
            id: "returns".into(),
            title: "Returns".into(),
            body: "Return within 30 days.".into(),
            tags: "[\"returns\"]".into(),
            translations: "{}".into(),
        }
    }

    #[test]
    fn searches_find_products_by_stemmed_words_and_colour() {
        let index = SearchIndex::in_ram().unwrap();
        index
            .rebuild_docs(
                &[
                    product("B1", "Blouse - red", &["red"], 2000),
                    product("B2", "Blouse - black", &["black"], 2000),
                    product("S1", "Sandals - red", &["red"], 2000),
                ],
                &[returns_policy()],
            )
            .unwrap();
        let hits = index.search("do you have blouses in red?", DocKind::Product, 3).unwrap();
        assert_eq!(hits[0].id, "B1");
        let policies = index.search("how do I return something", DocKind::Policy, 2).unwrap();
        assert_eq!(policies[0].id, "returns");
        assert!(index.search("returns", DocKind::Product, 3).unwrap().is_empty());
    }

    #[test]
    fn accents_fold_and_stop_words_do_not_match() {
        let index = SearchIndex::in_ram().unwrap();
        index.rebuild_docs(&[product("C1", "Café crème cardigan", &["beige"], 3000)], &[]).unwrap();
        assert_eq!(index.search("cafe creme", DocKind::Product, 3).unwrap()[0].id, "C1");
        assert!(index.search("the and for", DocKind::Product, 3).unwrap().is_empty());
    }

    #[test]
    fn filters_bound_price_colour_and_size() {
        let index = SearchIndex::in_ram().unwrap();
        index
            .rebuild_docs(
                &[
                    product("B1", "Blouse", &["red"], 2500),
                    product("B2", "Blouse", &["black"], 1500),
                    product("B3", "Blouse", &["Red", "white"], 6000),
                ],
                &[],
            )
            .unwrap();
        let ids = |filter: ProductFilter| -> Vec<String> {
            let mut ids: Vec<String> =
                index.search_products("blouse", &filter, 10).unwrap().into_iter().map(|h| h.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(ProductFilter { max_price_cents: Some(3000), ..Default::default() }), ["B1", "B2"]);
        assert_eq!(ids(ProductFilter { colors: vec!["red".into()], ..Default::default() }), ["B1", "B3"]);
        assert_eq!(ids(ProductFilter { exclude_colors: vec!["black".into()], ..Default::default() }), ["B1", "B3"]);
        assert_eq!(ids(ProductFilter { sizes: vec!["xl".into()], ..Default::default() }), Vec::<String>::new());
        assert_eq!(ids(ProductFilter { sizes: vec!["m".into()], ..Default::default() }).len(), 3);
    }

    #[test]
    fn upserts_replace_by_sku_and_a_rebuild_replaces_everything() {
        let index = SearchIndex::in_ram().unwrap();
        index.rebuild_docs(&[product("B1", "Blouse", &["red"], 2000)], &[]).unwrap();
        let batch = index.begin(false).unwrap();
        batch.upsert_product(&product("B1", "Cardigan", &["blue"], 2000)).unwrap();
        batch.commit().unwrap();
        assert_eq!(index.num_docs(), 1);
        assert!(index.search("blouse", DocKind::Product, 3).unwrap().is_empty());
        assert_eq!(index.search("cardigan", DocKind::Product, 3).unwrap()[0].id, "B1");
        index.rebuild_docs(&[product("C1", "Coat", &[], 2000)], &[]).unwrap();
        assert_eq!(index.num_docs(), 1);
    }

    #[test]
    fn a_word_said_twice_counts_once() {
        let index = SearchIndex::in_ram().unwrap();
        let docs = [product("T1", "Clawfoot tub faucet", &[], 9000), product("T2", "Tub mat", &[], 1500)];
        index.rebuild_docs(&docs, &[]).unwrap();
        let once = index.search("tub faucet", DocKind::Product, 3).unwrap();
        let twice = index.search("tub faucet for a clawfoot tub", DocKind::Product, 3).unwrap();
        let mat = |hits: &[Hit]| hits.iter().find(|h| h.id == "T2").unwrap().score;
        assert_eq!(mat(&once), mat(&twice), "\"tub\" twice scores the mat as once");
    }

    #[test]
    fn the_proximity_bonus_gives_the_scores_of_the_whole_query() {
        let mut index = SearchIndex::in_ram().unwrap();
        let docs = [
            product("A", "Tan heels in soft leather", &[], 5000),
            product("B", "Tan leather bag with heels pictured", &[], 5000),
            product("C", "Heels", &[], 5000),
            product("D", "Tan belt", &[], 5000),
        ];
        index.rebuild_docs(&docs, &[]).unwrap();
        let plain = index.search("tan heels", DocKind::Product, 10).unwrap();
        let weights = FieldWeights { proximity: 0.5, proximity_slop: 1, ..FieldWeights::default() };
        index.set_weights(weights);
        let with_bonus = index.search("tan heels", DocKind::Product, 10).unwrap();
        assert_eq!(with_bonus[0].id, "A", "{with_bonus:?}");

        // The rescored top k equals one search of words + phrase as a single boolean query.
        let query = index.text_query("tan heels").unwrap();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query.words)];
        for phrase in query.proximity {
            clauses.push((Occur::Should, Box::new(phrase)));
        }
        let searcher = index.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(10).order_by_score()).unwrap();
        assert_eq!(top.len(), with_bonus.len());
        for ((expected, _), hit) in top.iter().zip(&with_bonus) {
            assert!((expected - hit.score).abs() < 1e-4, "{top:?} vs {with_bonus:?}");
        }
        let bonus_of = |id: &str| {
            let score = |hits: &[Hit]| hits.iter().find(|h| h.id == id).unwrap().score;
            score(&with_bonus) - score(&plain)
        };
        assert!(bonus_of("A") > 0.0 && bonus_of("B").abs() < 1e-6, "adjacent only");
    }

    #[test]
    fn ids_are_right_across_segments_and_after_replacing() {
        let index = SearchIndex::in_ram().unwrap();
        index.rebuild_docs(&[product("B1", "Blouse", &[], 2000), product("B2", "Blouse", &[], 2000)], &[]).unwrap();
        assert_eq!(index.search("blouse", DocKind::Product, 5).unwrap().len(), 2);
        // Each batch adds a segment; B1's old document is deleted but keeps its doc id.
        for (sku, title) in [("B3", "Blouse silk"), ("B1", "Blouse linen"), ("B4", "Blouse cotton")] {
            let batch = index.begin(false).unwrap();
            batch.upsert_product(&product(sku, title, &[], 2000)).unwrap();
            batch.commit().unwrap();
        }
        let ids = |q: &str| -> Vec<String> {
            index.search(q, DocKind::Product, 5).unwrap().into_iter().map(|h| h.id).collect()
        };
        assert_eq!(ids("linen"), ["B1"]);
        assert_eq!(ids("silk"), ["B3"]);
        assert_eq!(ids("cotton"), ["B4"]);
        let mut all = ids("blouse");
        all.sort();
        assert_eq!(all, ["B1", "B2", "B3", "B4"]);
    }

    #[test]
    fn an_index_with_an_older_schema_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Schema::builder();
            b.add_text_field("something_else", STRING);
            Index::create_in_dir(dir.path(), b.build()).unwrap();
        }
        let index = SearchIndex::open_or_create(dir.path()).unwrap();
        assert_eq!(index.num_docs(), 0);
        index.rebuild_docs(&[product("B1", "Blouse", &[], 100)], &[]).unwrap();
        assert_eq!(index.num_docs(), 1);
    }
}
