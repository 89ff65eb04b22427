//! The product catalog and store policies: records, import, and the tantivy search index.
//!
//! Thin for now (issue 4 adds `index-catalog`, field mapping, query understanding, vectors
//! and hybrid fusion): BM25 over products and policies, rebuilt from the SQL tables.

pub mod import;
pub mod index;
pub mod qdrant;
pub mod query;
pub mod records;
pub mod semantic;
pub mod vectors;

pub use index::{DocKind, FieldWeights, Hit, ProductDoc, ProductFilter, SearchIndex};
pub use records::{PolicyRecord, ProductRecord};
