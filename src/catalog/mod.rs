//! The product catalog and store policies: records, import, and the tantivy search index.
//!
//! - `records`: the catalog's CSV / JSONL formats; `import`: `index-catalog`; `shopify`:
//!   Shopify's product CSV export, read as it comes.
//! - `index`: the tantivy index; `query`: what an SMS asks
//!   for (colour, size, price, negations, carry-over).
//! - `semantic`: hybrid retrieval's vector side, built from `embeddings` (the embeddings
//!   client) and a vector store: `vector_store` (in-process, one file) or `qdrant`.
//! - `fusion`: the best-first order of hits and the fusion of BM25 and vector rankings.

pub mod embeddings;
pub mod fusion;
pub mod import;
pub mod index;
pub mod qdrant;
pub mod query;
pub mod records;
pub mod semantic;
pub mod shopify;
pub mod vector_store;

pub use index::{DocKind, FieldWeights, Hit, ProductDoc, ProductFilter, SearchIndex};
pub use records::{PolicyRecord, ProductRecord};
