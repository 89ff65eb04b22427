//! Product vectors in a Qdrant collection, for when a Qdrant URL is configured: the same
//! role as the in-process [`VectorStore`](super::vector_store::VectorStore), held by a server.
//!
//! - One collection of cosine vectors of one size; [`QdrantStore::connect`] creates it when
//!   it is missing and refuses one whose vector size or distance differs.
//! - A point's id is a UUID v5 of its sku (Qdrant accepts only unsigned integers and UUIDs as
//!   ids), so upserting a sku again replaces its point; the sku itself is in the payload,
//!   keyword-indexed, and is what searches return.
//! - Filters are an allow-list of skus, as for the in-process store: the caller works out
//!   which products a [`ProductFilter`](super::ProductFilter) admits (the tantivy index is the
//!   one place that knows its word analysis), and both stores take that answer.
//!
//! The client speaks gRPC (Qdrant's port 6334, not the REST port 6333).

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, PayloadIncludeSelector, PointId, PointStruct, QueryPointsBuilder, ScoredPoint,
    UpsertPointsBuilder, VectorParamsBuilder, vectors_config,
};
use uuid::Uuid;

use super::fusion::sort_best_first;
use super::index::Hit;

/// The payload key holding a point's sku.
const SKU: &str = "sku";
/// The UUID v5 namespace of point ids. Changing it orphans every stored point.
const SKU_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_52c4_3d0e_4e8a_9a57_0c2d_bac7_a1c5);
/// Points sent in one upsert request.
const UPSERT_CHUNK: usize = 256;

/// The Qdrant point id of a sku: deterministic, so the same sku always names the same point.
pub fn point_id(sku: &str) -> String {
    Uuid::new_v5(&SKU_NAMESPACE, sku.as_bytes()).to_string()
}

/// A Qdrant collection of product vectors.
pub struct QdrantStore {
    client: Qdrant,
    /// The collection's name.
    collection: String,
    /// Its vector size.
    dim: usize,
}

impl QdrantStore {
    /// Connects to the gRPC endpoint `url` and makes sure `collection` exists with cosine
    /// vectors of `dim` components; `timeout` bounds each request.
    pub async fn connect(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        dim: usize,
        timeout: Duration,
    ) -> anyhow::Result<QdrantStore> {
        ensure!(dim > 0, "qdrant vector size must be at least 1");
        let client = client(url, api_key, timeout).await?;
        let store = QdrantStore { client, collection: collection.to_string(), dim };
        store.ensure_collection().await?;
        Ok(store)
    }

    /// Points in `collection` at `url`, 0 when the collection does not exist.
    pub async fn count_points(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        timeout: Duration,
    ) -> anyhow::Result<usize> {
        let client = client(url, api_key, timeout).await?;
        let exists = client
            .collection_exists(collection)
            .await
            .with_context(|| format!("failed to check qdrant collection {collection}"))?;
        if !exists {
            return Ok(0);
        }
        let response = client
            .count(CountPointsBuilder::new(collection).exact(true))
            .await
            .with_context(|| format!("failed to count the points of qdrant collection {collection}"))?;
        Ok(response.result.map_or(0, |r| r.count as usize))
    }

    async fn ensure_collection(&self) -> anyhow::Result<()> {
        let name = &self.collection;
        let exists = self
            .client
            .collection_exists(name.as_str())
            .await
            .with_context(|| format!("failed to check qdrant collection {name}"))?;
        if !exists {
            self.client
                .create_collection(
                    CreateCollectionBuilder::new(name.as_str())
                        .vectors_config(VectorParamsBuilder::new(self.dim as u64, Distance::Cosine)),
                )
                .await
                .with_context(|| format!("failed to create qdrant collection {name}"))?;
            self.client
                .create_field_index(CreateFieldIndexCollectionBuilder::new(name.as_str(), SKU, FieldType::Keyword))
                .await
                .with_context(|| format!("failed to index the sku payload of qdrant collection {name}"))?;
            return Ok(());
        }
        let info = self
            .client
            .collection_info(name.as_str())
            .await
            .with_context(|| format!("failed to read qdrant collection {name}"))?;
        let params = info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config);
        let Some(vectors_config::Config::Params(params)) = params else {
            bail!("qdrant collection {name} does not have a single unnamed vector");
        };
        ensure!(
            params.size == self.dim as u64,
            "qdrant collection {name} holds vectors of size {}, the embedding model gives {}",
            params.size,
            self.dim
        );
        ensure!(params.distance == Distance::Cosine as i32, "qdrant collection {name} does not use cosine distance");
        Ok(())
    }

    /// Components per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Stores each `(sku, vector)`, replacing the point the sku had; returns when Qdrant has
    /// applied the change.
    pub async fn upsert(&self, points: Vec<(String, Vec<f32>)>) -> anyhow::Result<()> {
        if let Some((sku, vector)) = points.iter().find(|(_, v)| v.len() != self.dim) {
            bail!("vector for {sku:?} has {} dimensions, the collection has {}", vector.len(), self.dim);
        }
        let points: Vec<PointStruct> = points
            .into_iter()
            .map(|(sku, vector)| PointStruct::new(point_id(&sku), vector, [(SKU, sku.into())]))
            .collect();
        let count = points.len();
        if count == 0 {
            return Ok(());
        }
        self.client
            .upsert_points_chunked(UpsertPointsBuilder::new(self.collection.as_str(), points).wait(true), UPSERT_CHUNK)
            .await
            .with_context(|| format!("failed to upsert {count} points into qdrant collection {}", self.collection))?;
        Ok(())
    }

    /// Removes the points of `skus` (those that exist).
    pub async fn remove(&self, skus: &[String]) -> anyhow::Result<()> {
        if skus.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = skus.iter().map(|sku| point_id(sku).into()).collect();
        self.client
            .delete_points(DeletePointsBuilder::new(self.collection.as_str()).points(ids).wait(true))
            .await
            .with_context(|| format!("failed to delete points from qdrant collection {}", self.collection))?;
        Ok(())
    }

    /// Removes every point whose sku is not in `keep` (after a full rebuild of the catalog).
    pub async fn remove_all_except(&self, keep: &[String]) -> anyhow::Result<()> {
        let filter = Filter::must_not([Condition::matches(SKU, keep.to_vec())]);
        self.client
            .delete_points(DeletePointsBuilder::new(self.collection.as_str()).points(filter).wait(true))
            .await
            .with_context(|| format!("failed to delete old points from qdrant collection {}", self.collection))?;
        Ok(())
    }

    /// The `k` skus most similar to `query` by cosine, among `allow` (all when `None`), best
    /// first, ties by sku.
    pub async fn search(&self, query: &[f32], k: usize, allow: Option<&[String]>) -> anyhow::Result<Vec<Hit>> {
        ensure!(
            query.len() == self.dim,
            "query vector has {} dimensions, the collection has {}",
            query.len(),
            self.dim
        );
        if k == 0 || allow.is_some_and(|skus| skus.is_empty()) {
            return Ok(Vec::new());
        }
        let mut request = QueryPointsBuilder::new(self.collection.as_str())
            .query(query.to_vec())
            .limit(k as u64)
            .with_payload(PayloadIncludeSelector { fields: vec![SKU.to_string()] });
        if let Some(skus) = allow {
            request = request.filter(Filter::must([Condition::matches(SKU, skus.to_vec())]));
        }
        let response = self
            .client
            .query(request)
            .await
            .with_context(|| format!("failed to search qdrant collection {}", self.collection))?;
        hits_from_points(response.result)
    }

    /// Deletes the whole collection (tests, and rebuilding from scratch).
    pub async fn drop_collection(&self) -> anyhow::Result<()> {
        self.client
            .delete_collection(self.collection.as_str())
            .await
            .with_context(|| format!("failed to delete qdrant collection {}", self.collection))?;
        Ok(())
    }
}

/// A client of `url` whose server answered a health check.
async fn client(url: &str, api_key: Option<&str>, timeout: Duration) -> anyhow::Result<Qdrant> {
    // The built-in compatibility check runs a blocking health check on a thread of its own
    // and prints to stdout; we check health ourselves, asynchronously, instead.
    let client = Qdrant::from_url(url)
        .api_key(api_key)
        .timeout(timeout)
        .connect_timeout(timeout)
        .skip_compatibility_check()
        .build()
        .with_context(|| format!("invalid qdrant url {url:?}"))?;
    client.health_check().await.with_context(|| format!("cannot reach qdrant at {url}"))?;
    Ok(client)
}

/// The hits of scored points, by the sku in their payload.
fn hits_from_points(points: Vec<ScoredPoint>) -> anyhow::Result<Vec<Hit>> {
    let mut hits = Vec::with_capacity(points.len());
    for point in points {
        let Some(sku) = point.try_get(SKU).and_then(|v| v.as_str()) else {
            bail!("qdrant point {:?} has no sku in its payload", point.id);
        };
        hits.push(Hit { id: sku.clone(), score: point.score });
    }
    // Qdrant orders by score alone; equal scores follow the sku, as in the in-process store.
    sort_best_first(&mut hits);
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(sku: Option<&str>, score: f32) -> ScoredPoint {
        let mut point = ScoredPoint { score, ..ScoredPoint::default() };
        if let Some(sku) = sku {
            point.payload.insert(SKU.to_string(), sku.into());
        }
        point
    }

    #[test]
    fn a_point_id_is_a_stable_uuid_v5_of_the_sku() {
        let id = point_id("SKU-123");
        assert_eq!(id, point_id("SKU-123"));
        assert_ne!(id, point_id("SKU-124"));
        let parsed = Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        // Pinned: a change here re-keys every stored point.
        assert_eq!(point_id(""), Uuid::new_v5(&SKU_NAMESPACE, b"").to_string());
    }

    #[test]
    fn scored_points_become_hits_best_first_with_ties_by_sku() {
        let hits = hits_from_points(vec![scored(Some("b"), 0.5), scored(Some("c"), 0.9), scored(Some("a"), 0.5)]);
        let ids: Vec<String> = hits.unwrap().into_iter().map(|h| h.id).collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }

    #[test]
    fn a_point_without_a_sku_is_an_error() {
        let error = hits_from_points(vec![scored(None, 0.5)]).unwrap_err().to_string();
        assert!(error.contains("no sku in its payload"), "{error}");
    }

    #[tokio::test]
    async fn connecting_to_a_closed_port_says_qdrant_cannot_be_reached() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let result = QdrantStore::connect(&url, None, "unused", 3, Duration::from_secs(2)).await;
        let error = format!("{:#}", result.err().expect("nothing listens there"));
        assert!(error.contains("cannot reach qdrant at"), "{error}");
    }

    /// Runs against a real server: `BACKTALK_TEST_QDRANT_URL=http://127.0.0.1:6334`.
    #[tokio::test]
    async fn a_real_qdrant_collection_upserts_replaces_filters_and_removes() {
        let Ok(url) = std::env::var("BACKTALK_TEST_QDRANT_URL") else {
            eprintln!("skipped: set BACKTALK_TEST_QDRANT_URL to a qdrant grpc url to run this test");
            return;
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let collection = format!("backtalk_test_{}_{nanos}", std::process::id());
        let store = QdrantStore::connect(&url, None, &collection, 3, Duration::from_secs(10)).await.unwrap();
        let result = exercise(&store).await;
        store.drop_collection().await.unwrap();
        result.unwrap();
        let reopened = QdrantStore::connect(&url, None, &collection, 3, Duration::from_secs(10)).await.unwrap();
        let wrong = QdrantStore::connect(&url, None, &collection, 4, Duration::from_secs(10)).await;
        reopened.drop_collection().await.unwrap();
        let error = format!("{:#}", wrong.err().expect("the size differs"));
        assert!(error.contains("vectors of size 3, the embedding model gives 4"), "{error}");
    }

    async fn exercise(store: &QdrantStore) -> anyhow::Result<()> {
        let points = |rows: &[(&str, [f32; 3])]| rows.iter().map(|(s, v)| (s.to_string(), v.to_vec())).collect();
        store
            .upsert(points(&[("red", [1.0, 0.0, 0.0]), ("green", [0.0, 1.0, 0.0]), ("teal", [0.0, 1.0, 1.0])]))
            .await?;
        let ids = |hits: Vec<Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();

        assert_eq!(ids(store.search(&[0.0, 1.0, 0.2], 2, None).await?), ["green", "teal"]);
        let allow = ["red".to_string(), "teal".to_string()];
        assert_eq!(ids(store.search(&[0.0, 1.0, 0.0], 5, Some(&allow)).await?), ["teal", "red"]);
        assert!(store.search(&[0.0, 1.0, 0.0], 5, Some(&[])).await?.is_empty());

        // The same sku again replaces its point.
        store.upsert(points(&[("red", [0.0, 0.0, 1.0])])).await?;
        let hits = store.search(&[0.0, 0.0, 1.0], 5, None).await?;
        assert_eq!(ids(hits.clone()), ["red", "teal", "green"]);
        assert!((hits[0].score - 1.0).abs() < 1e-5);

        store.remove(&["red".to_string()]).await?;
        assert_eq!(ids(store.search(&[0.0, 0.0, 1.0], 5, None).await?), ["teal", "green"]);
        Ok(())
    }
}
