//! The product catalog and store policies: records, import, and the tantivy search index.
//!
//! - `records`: the catalog's CSV / JSONL formats; `import`: `index-catalog`.
//! - `index`: the tantivy index; `query`: what an SMS asks
//!   for (colour, size, price, negations, carry-over).
//! - `vectors`, `semantic`, `qdrant`: embeddings, vector stores and hybrid fusion.

pub mod import;
pub mod index;
pub mod qdrant;
pub mod query;
pub mod records;
pub mod semantic;
pub mod vectors;

pub use index::{DocKind, FieldWeights, Hit, ProductDoc, ProductFilter, SearchIndex};
pub use records::{PolicyRecord, ProductRecord};
