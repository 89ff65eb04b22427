//! Semantic product search: product embeddings from the configured `/v1/embeddings`
//! endpoint ([`super::embeddings`]), searched by cosine, and fused with BM25 by a convex
//! combination of normalised scores ([`super::fusion::fuse`]).
//!
//! The vectors live in one of two places:
//! - by default, an in-process [`VectorStore`] saved in the data directory and searched
//!   exactly; the file is named after the model that made the vectors
//!   (`vectors-<model>.bin`), so changing the model starts an empty store, which is then
//!   filled (at start, or by `index-catalog`), instead of comparing one model's query with
//!   another's products;
//! - with `qdrant.url` set, a Qdrant collection ([`QdrantStore`]), shared by every process
//!   that points at it.
//!
//! Without `embeddings.base_url` there is no [`Semantic`] and search is BM25 alone. An
//! embedding or Qdrant failure during a turn is logged and the turn uses BM25 alone: vectors
//! improve ranking, they are never needed to answer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::OnceCell;

use super::embeddings::EmbeddingClient;
use super::index::{Hit, ProductDoc};
use super::qdrant::QdrantStore;
use super::vector_store::VectorStore;
use crate::config::{EmbeddingsConfig, QdrantConfig};

/// Embeddings client plus the product vectors.
pub struct Semantic {
    /// Embeds the customer's words.
    client: EmbeddingClient,
    /// Embeds products (the same model unless `embeddings.document_model` is set).
    documents: EmbeddingClient,
    vectors: Vectors,
}

/// Where the product vectors are kept.
enum Vectors {
    Local(LocalVectors),
    Qdrant(QdrantVectors),
}

/// The in-process store and the file it is saved in.
struct LocalVectors {
    store: RwLock<Option<VectorStore>>,
    path: PathBuf,
    /// Modification time of the file the store was loaded from or saved to: an import by
    /// another process (`index-catalog`) is picked up at the next search.
    loaded: RwLock<Option<std::time::SystemTime>>,
}

/// A Qdrant collection, connected on first use: its vector size is the embedding model's,
/// known from the first vector (so a server starts, with BM25 alone, while Qdrant is down).
struct QdrantVectors {
    config: QdrantConfig,
    store: OnceCell<QdrantStore>,
}

impl QdrantVectors {
    /// The collection, connecting (and creating it for vectors of `dim` components) on first
    /// use; a failed connection is retried at the next call.
    async fn store(&self, dim: usize) -> anyhow::Result<&QdrantStore> {
        let c = &self.config;
        let timeout = Duration::from_secs(c.timeout_secs);
        self.store.get_or_try_init(|| QdrantStore::connect(&c.url, c.api_key(), &c.collection, dim, timeout)).await
    }
}

/// The in-process vector file for vectors made by `model` in `data_dir`.
pub fn vector_file(data_dir: &Path, model: &str) -> PathBuf {
    let slug: String =
        model.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    data_dir.join(format!("vectors-{slug}.bin"))
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The text of a product that is embedded: title, brand, category and colours, cut to 1,000
/// characters. Bullet points and descriptions are left to BM25: small CPU models read a few
/// hundred tokens at most and would spend 4 times as long per product (ESCI: 2.6 products/s
/// with bullets, 12 without, multilingual-e5-small on 2 cores).
pub fn embedding_text(p: &ProductDoc) -> String {
    let mut text = format!("{}. {}. {}. {}", p.title, p.brand, p.category, p.colors.join(", "));
    if text.len() > 1000 {
        let cut = (0..=1000).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
    }
    text
}

impl Semantic {
    /// The semantic search configured by `embeddings` and `qdrant` (vectors in `data_dir`
    /// without a Qdrant url), or `None` when no embedding endpoint is set.
    pub fn open(config: &EmbeddingsConfig, qdrant: &QdrantConfig, data_dir: &Path) -> anyhow::Result<Option<Semantic>> {
        if config.base_url.is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(
            !config.model.is_empty(),
            "embeddings.model (BACKTALK_EMBEDDINGS_MODEL) is required with embeddings.base_url"
        );
        let client = EmbeddingClient::new(&config.base_url, &config.model, "", Duration::from_secs(30))?;
        let documents = EmbeddingClient::new(&config.base_url, config.document_model(), "", Duration::from_secs(120))?;
        let vectors = if qdrant.url.is_empty() {
            let path = vector_file(data_dir, config.document_model());
            let store = if path.exists() {
                Some(VectorStore::load(&path).with_context(|| format!("failed to load {}", path.display()))?)
            } else {
                None
            };
            Vectors::Local(LocalVectors { store: RwLock::new(store), loaded: RwLock::new(modified(&path)), path })
        } else {
            Vectors::Qdrant(QdrantVectors { config: qdrant.clone(), store: OnceCell::new() })
        };
        Ok(Some(Semantic { client, documents, vectors }))
    }

    /// Number of products with a vector (for Qdrant, points in the collection; 0 when it
    /// does not exist yet).
    pub async fn len(&self) -> anyhow::Result<usize> {
        match &self.vectors {
            Vectors::Local(local) => {
                local.reload_if_changed()?;
                Ok(local.store.read().expect("vector store lock").as_ref().map_or(0, VectorStore::len))
            }
            Vectors::Qdrant(q) => {
                let c = &q.config;
                let timeout = Duration::from_secs(c.timeout_secs);
                QdrantStore::count_points(&c.url, c.api_key(), &c.collection, timeout).await
            }
        }
    }

    /// Embeds `products` (in batches) and replaces their vectors. With `replace_all` the
    /// products not in `products` lose theirs.
    pub async fn embed_products(&self, products: &[ProductDoc], replace_all: bool) -> anyhow::Result<()> {
        let texts: Vec<String> = products.iter().map(embedding_text).collect();
        let vectors = if texts.is_empty() { vec![] } else { self.documents.embed(&texts).await? };
        let points: Vec<(String, Vec<f32>)> = products.iter().map(|p| p.sku.clone()).zip(vectors).collect();
        match &self.vectors {
            Vectors::Local(local) => local.replace(points, replace_all),
            Vectors::Qdrant(q) => {
                let Some(dim) = points.first().map(|(_, v)| v.len()) else {
                    return Ok(());
                };
                let store = q.store(dim).await?;
                let skus: Vec<String> = points.iter().map(|(sku, _)| sku.clone()).collect();
                store.upsert(points).await?;
                if replace_all {
                    store.remove_all_except(&skus).await?;
                }
                Ok(())
            }
        }
    }

    /// Products nearest to `text`, best first, among `allow` when given.
    pub async fn search(&self, text: &str, k: usize, allow: Option<&HashSet<String>>) -> anyhow::Result<Vec<Hit>> {
        if text.trim().is_empty() {
            return Ok(vec![]);
        }
        if let Vectors::Local(local) = &self.vectors {
            local.reload_if_changed()?;
            if local.store.read().expect("vector store lock").is_none() {
                return Ok(vec![]);
            }
        }
        let query = self.client.embed(&[text.to_string()]).await?.pop().context("no query vector")?;
        match &self.vectors {
            Vectors::Local(local) => {
                let guard = local.store.read().expect("vector store lock");
                let Some(store) = guard.as_ref() else { return Ok(vec![]) };
                let filter = allow.map(|set| move |id: &str| set.contains(id));
                Ok(match &filter {
                    Some(f) => store.search(&query, k, Some(f)),
                    None => store.search(&query, k, None),
                })
            }
            Vectors::Qdrant(q) => {
                let allow: Option<Vec<String>> = allow.map(|set| set.iter().cloned().collect());
                q.store(query.len()).await?.search(&query, k, allow.as_deref()).await
            }
        }
    }
}

impl LocalVectors {
    /// Replaces the vectors of `points` (all vectors with `replace_all`) and saves the file.
    fn replace(&self, points: Vec<(String, Vec<f32>)>, replace_all: bool) -> anyhow::Result<()> {
        let mut guard = self.store.write().expect("vector store lock");
        if replace_all {
            *guard = None;
        }
        for (sku, v) in points {
            let store = guard.get_or_insert_with(|| VectorStore::new(v.len()));
            store.insert(sku, v)?;
        }
        if let Some(store) = guard.as_ref() {
            store.save(&self.path)?;
            *self.loaded.write().expect("vector file time lock") = modified(&self.path);
        }
        Ok(())
    }

    /// Reloads the store when another process saved a newer file.
    fn reload_if_changed(&self) -> anyhow::Result<()> {
        let on_disk = modified(&self.path);
        if on_disk.is_some() && on_disk != *self.loaded.read().expect("vector file time lock") {
            let store =
                VectorStore::load(&self.path).with_context(|| format!("failed to reload {}", self.path.display()))?;
            *self.store.write().expect("vector store lock") = Some(store);
            *self.loaded.write().expect("vector file time lock") = on_disk;
            tracing::info!("product vectors reloaded");
        }
        Ok(())
    }
}
