//! Dense vectors for semantic search: embeddings from an OpenAI-compatible endpoint, an
//! exact in-process cosine index saved to one file, and reciprocal rank fusion to merge its
//! ranking with BM25's.
//!
//! Every vector here is unit length (L2-normalised), so cosine similarity is a dot product.
//! Search is exact (a scan of every row): a catalog of 100k products at 768 dimensions is
//! ~77M multiply-adds, tens of milliseconds, so async callers run it in `spawn_blocking`
//! like the tantivy searches. Saving and loading are blocking file IO too.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EmbeddingInput, EncodingFormat};
use serde::Deserialize;
use tracing::warn;

use super::index::Hit;

/// Texts sent in one request: well under OpenAI's 2048 inputs and 300k tokens per request
/// for product texts, and small enough that one slow batch does not hit the timeout.
const DEFAULT_BATCH_SIZE: usize = 64;
/// Longest part of an error body quoted in an error message.
const MAX_QUOTED_BODY: usize = 300;

/// Scales `vector` to unit length; fails on a zero, NaN or infinite vector, which has no
/// direction to compare.
pub fn normalize(vector: &mut [f32]) -> anyhow::Result<()> {
    ensure!(vector.iter().all(|x| x.is_finite()), "vector has a nan or infinite component");
    // Summed in f64 so a long vector of small components keeps its precision.
    let norm = vector.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    ensure!(norm > 0.0, "vector is all zeros");
    for x in vector.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
    Ok(())
}

/// The dot product, in eight independent lanes so the compiler can vectorise it (a single
/// running sum cannot be reordered, floating-point addition not being associative).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_rest) = a.as_chunks::<8>();
    let (b_chunks, b_rest) = b.as_chunks::<8>();
    let mut lanes = [0f32; 8];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// How two results compare: `Greater` when `a` ranks above `b` (higher score, then the
/// smaller id, so equal scores always come out in the same order).
fn rank_order(a_score: f32, a_id: &str, b_score: f32, b_id: &str) -> Ordering {
    a_score.total_cmp(&b_score).then_with(|| b_id.cmp(a_id))
}

/// Sorts hits best first.
pub(crate) fn sort_best_first(hits: &mut [Hit]) {
    hits.sort_by(|a, b| rank_order(b.score, &b.id, a.score, &a.id));
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

/// Embeddings from an OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama,
/// llama.cpp server, text-embeddings-inference).
///
/// Requests go through async-openai's `create_byot` with our own lenient response type:
/// servers differ in the fields around the vectors (no `usage`, no `object`, sometimes no
/// `index`), and we read only the vectors and their indices. async-openai retries 429, 5xx
/// and refused connections itself (3 retries, backoff from 100 ms), so a request can take up
/// to about four times the timeout before it fails.
pub struct EmbeddingClient {
    client: Client<OpenAIConfig>,
    /// The model name sent with every request.
    model: String,
    /// Texts per request.
    batch_size: usize,
    /// The vector length of the first answer; every later answer must match it, since
    /// vectors of different models or settings cannot be compared.
    dim: OnceLock<usize>,
}

impl EmbeddingClient {
    /// A client for `base_url` (including the version path, e.g. `http://localhost:11434/v1`);
    /// `timeout` bounds each HTTP request.
    pub fn new(base_url: &str, model: &str, api_key: &str, timeout: Duration) -> anyhow::Result<EmbeddingClient> {
        ensure!(!model.trim().is_empty(), "embedding model name is empty");
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .context("failed to build the embedding http client")?;
        let config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/')).with_api_key(api_key);
        Ok(EmbeddingClient {
            client: Client::with_config(config).with_http_client(http),
            model: model.to_string(),
            batch_size: DEFAULT_BATCH_SIZE,
            dim: OnceLock::new(),
        })
    }

    /// Sends at most `batch_size` texts per request (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> EmbeddingClient {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The vector length, once an answer has set it.
    pub fn dim(&self) -> Option<usize> {
        self.dim.get().copied()
    }

    /// One unit-length vector per text, in the order of `texts`, fetched in requests of at
    /// most `batch_size` texts sent one after another.
    pub async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        // OpenAI rejects an empty input with a 400 that does not say which one; say it here.
        if let Some(position) = texts.iter().position(|t| t.trim().is_empty()) {
            bail!("text {position} is empty: embedding endpoints reject empty input");
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for (batch_number, batch) in texts.chunks(self.batch_size).enumerate() {
            let first = batch_number * self.batch_size;
            let embedded = self
                .embed_batch(batch)
                .await
                .with_context(|| format!("failed to embed texts {first}..{}", first + batch.len()))?;
            vectors.extend(embedded);
        }
        Ok(vectors)
    }

    async fn embed_batch(&self, batch: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let request = CreateEmbeddingRequestArgs::default()
            .model(&self.model)
            .input(EmbeddingInput::StringArray(batch.to_vec()))
            .encoding_format(EncodingFormat::Float)
            .build()
            .context("failed to build the embedding request")?;
        let response: EmbeddingResponse =
            self.client.embeddings().create_byot(request).await.map_err(describe_error)?;
        let mut vectors = in_input_order(response.data, batch.len())?;
        for (position, vector) in vectors.iter_mut().enumerate() {
            let expected = *self.dim.get_or_init(|| vector.len());
            ensure!(
                vector.len() == expected,
                "embedding {position} has {} dimensions, earlier embeddings have {expected}",
                vector.len()
            );
            normalize(vector).with_context(|| format!("embedding {position} cannot be normalised"))?;
        }
        Ok(vectors)
    }
}

/// The part of an embeddings response we read.
#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    /// Position of the input text; some servers leave it out and answer in input order.
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Puts the vectors in input order by their `index`, checking that there is exactly one
/// per text.
fn in_input_order(items: Vec<EmbeddingItem>, texts: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    ensure!(items.len() == texts, "embedding endpoint returned {} vectors for {texts} texts", items.len());
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; texts];
    for (position, item) in items.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let Some(slot) = slots.get_mut(index) else {
            bail!("embedding endpoint returned index {index} for {texts} texts");
        };
        ensure!(slot.is_none(), "embedding endpoint returned index {index} twice");
        ensure!(!item.embedding.is_empty(), "embedding endpoint returned an empty vector at index {index}");
        *slot = Some(item.embedding);
    }
    // `texts` items with distinct indices below `texts` fill every slot.
    Ok(slots.into_iter().flatten().collect())
}

/// An error that says what went wrong without quoting a whole response body.
fn describe_error(error: OpenAIError) -> anyhow::Error {
    match error {
        OpenAIError::ApiError(api) => {
            let message: String = api.api_error.message.chars().take(MAX_QUOTED_BODY).collect();
            anyhow!("embedding endpoint returned http {}: {}", api.status_code.as_u16(), message.trim())
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => anyhow!("embedding request timed out"),
        OpenAIError::Reqwest(e) if e.is_connect() => anyhow!(e).context("cannot connect to the embedding endpoint"),
        // Also what a 4xx without an OpenAI error object becomes, e.g. a 404 from a base url
        // without its `/v1`: quote the start of the body, not megabytes of vectors.
        OpenAIError::JSONDeserialize(e, body) => {
            let start: String = body.chars().take(MAX_QUOTED_BODY).collect();
            anyhow!("embedding endpoint answered with something other than the expected json ({e}): {start:?}")
        }
        other => anyhow!(other).context("embedding request failed"),
    }
}

// ---------------------------------------------------------------------------------------
// The vector store
// ---------------------------------------------------------------------------------------

/// Exact cosine search over unit vectors keyed by id (a sku or policy id), in memory.
///
/// Rows live in one contiguous `Vec<f32>` so a search is a linear scan with no pointer
/// chasing; removing a row moves the last row into its place.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorStore {
    /// Components per vector.
    dim: usize,
    /// The id of each row, in row order.
    ids: Vec<String>,
    /// Row `i` is `data[i * dim..(i + 1) * dim]`, unit length.
    data: Vec<f32>,
    /// The row of each id.
    rows: HashMap<String, usize>,
}

/// A candidate during a search; orders like [`rank_order`], without cloning ids.
struct Candidate<'a> {
    score: f32,
    id: &'a str,
}

// Equality by the same total order as `Ord` (a derived `==` on the f32 would call 0.0 and
// -0.0 equal where `total_cmp` does not).
impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(self.score, self.id, other.score, other.id)
    }
}

impl VectorStore {
    /// An empty store of `dim`-dimensional vectors.
    ///
    /// # Panics
    /// If `dim` is 0.
    pub fn new(dim: usize) -> VectorStore {
        assert!(dim > 0, "a vector store needs at least one dimension");
        VectorStore { dim, ids: Vec::new(), data: Vec::new(), rows: HashMap::new() }
    }

    /// Components per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The stored (normalised) vector of `id`.
    pub fn get(&self, id: &str) -> Option<&[f32]> {
        self.rows.get(id).map(|&row| self.row(row))
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }

    /// Stores `vector` (normalised here) under `id`, replacing the vector it had.
    pub fn insert(&mut self, id: String, mut vector: Vec<f32>) -> anyhow::Result<()> {
        ensure!(
            vector.len() == self.dim,
            "vector for {id:?} has {} dimensions, the store has {}",
            vector.len(),
            self.dim
        );
        normalize(&mut vector).with_context(|| format!("vector for {id:?} cannot be normalised"))?;
        match self.rows.get(&id) {
            Some(&row) => self.data[row * self.dim..(row + 1) * self.dim].copy_from_slice(&vector),
            None => {
                self.rows.insert(id.clone(), self.ids.len());
                self.ids.push(id);
                self.data.extend_from_slice(&vector);
            }
        }
        Ok(())
    }

    /// Removes the vector of `id`; false if there was none.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(row) = self.rows.remove(id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        if row != last {
            self.data.copy_within(last * self.dim..(last + 1) * self.dim, row * self.dim);
            self.rows.insert(self.ids[last].clone(), row);
        }
        self.ids.swap_remove(row);
        self.data.truncate(last * self.dim);
        true
    }

    /// The `k` ids most similar to `query` (by cosine, ties by id) among those `allow`
    /// accepts (all when `None`), best first.
    ///
    /// A query of the wrong dimension, or one that cannot be normalised, matches nothing
    /// and logs a warning: that is a configuration error (a different embedding model than
    /// the one the store was built with), not a reason to fail the customer's turn.
    pub fn search(&self, query: &[f32], k: usize, allow: Option<&dyn Fn(&str) -> bool>) -> Vec<Hit> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        if query.len() != self.dim {
            warn!(query_dim = query.len(), store_dim = self.dim, "vector query has the wrong dimension");
            return Vec::new();
        }
        let mut query = query.to_vec();
        if let Err(error) = normalize(&mut query) {
            warn!(error = %error, "vector query cannot be normalised");
            return Vec::new();
        }
        // The k best so far, the worst of them on top.
        let mut best: BinaryHeap<Reverse<Candidate<'_>>> = BinaryHeap::with_capacity(k + 1);
        for (row, id) in self.ids.iter().enumerate() {
            if let Some(allow) = allow
                && !allow(id)
            {
                continue;
            }
            let candidate = Candidate { score: dot(&query, self.row(row)), id };
            if best.len() < k {
                best.push(Reverse(candidate));
            } else if best.peek().is_some_and(|Reverse(worst)| candidate > *worst) {
                best.pop();
                best.push(Reverse(candidate));
            }
        }
        let mut hits: Vec<Hit> =
            best.into_iter().map(|Reverse(c)| Hit { id: c.id.to_string(), score: c.score }).collect();
        sort_best_first(&mut hits);
        hits
    }
}

// ---------------------------------------------------------------------------------------
// The file format
// ---------------------------------------------------------------------------------------

/// The first bytes of a vector store file.
const MAGIC: &[u8; 8] = b"BTVECTRS";
/// The file format version this code writes and reads.
const FORMAT_VERSION: u32 = 1;
/// Magic, version, dimension and count.
const HEADER_LEN: usize = 8 + 4 + 4 + 8;
/// The trailing CRC-32.
const CHECKSUM_LEN: usize = 4;

/// Writes through a CRC-32 of everything written.
struct ChecksumWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.crc.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a byte slice front to back, failing clearly past its end.
struct ByteReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, len: usize, what: &str) -> anyhow::Result<&'a [u8]> {
        let end = self.offset.checked_add(len).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            bail!("file is truncated: {what} at byte {} needs {len} bytes", self.offset);
        };
        let taken = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(taken)
    }

    fn u32(&mut self, what: &str) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
}

impl VectorStore {
    /// Writes the store to `path`, atomically: a temporary file in the same directory,
    /// synced, then renamed over `path`, so a crash leaves the old file or the new one.
    ///
    /// The format (version 1), every number little-endian:
    ///
    /// | bytes            | content                                            |
    /// |------------------|----------------------------------------------------|
    /// | 8                | magic `BTVECTRS`                                   |
    /// | 4                | format version, u32 (1)                            |
    /// | 4                | dimension, u32                                     |
    /// | 8                | count of vectors, u64                              |
    /// | count × (4 + n)  | each id: its length in bytes (u32), then its UTF-8 |
    /// | count × dim × 4  | the vectors (f32), row by row in id order          |
    /// | 4                | CRC-32 (IEEE) of every byte before it              |
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("failed to create a temporary file in {}", dir.display()))?;
        self.write_to(file.as_file_mut()).with_context(|| format!("failed to write {}", file.path().display()))?;
        file.as_file().sync_all().context("failed to sync the vector file")?;
        file.persist(path).with_context(|| format!("failed to move the vector file to {}", path.display()))?;
        Ok(())
    }

    fn write_to(&self, file: &mut std::fs::File) -> anyhow::Result<()> {
        let mut out = ChecksumWriter { inner: BufWriter::new(file), crc: crc32fast::Hasher::new() };
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&u32::try_from(self.dim).context("dimension does not fit in u32")?.to_le_bytes())?;
        out.write_all(&(self.ids.len() as u64).to_le_bytes())?;
        for id in &self.ids {
            out.write_all(&u32::try_from(id.len()).context("id longer than 4 GiB")?.to_le_bytes())?;
            out.write_all(id.as_bytes())?;
        }
        let mut row_bytes = Vec::with_capacity(self.dim * 4);
        for row in self.data.chunks_exact(self.dim) {
            row_bytes.clear();
            row_bytes.extend(row.iter().flat_map(|x| x.to_le_bytes()));
            out.write_all(&row_bytes)?;
        }
        let checksum = out.crc.finalize();
        out.inner.write_all(&checksum.to_le_bytes())?;
        out.inner.flush()?;
        Ok(())
    }

    /// Reads a store written by [`VectorStore::save`].
    pub fn load(path: &Path) -> anyhow::Result<VectorStore> {
        let bytes = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
        VectorStore::from_bytes(&bytes).with_context(|| format!("failed to load vectors from {}", path.display()))
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<VectorStore> {
        ensure!(bytes.starts_with(MAGIC), "not a vector store file (no {:?} magic)", "BTVECTRS");
        let mut reader = ByteReader { bytes, offset: MAGIC.len() };
        let version = reader.u32("version")?;
        ensure!(version == FORMAT_VERSION, "unsupported vector file version {version} (this build reads 1)");
        ensure!(bytes.len() >= HEADER_LEN + CHECKSUM_LEN, "file is truncated: {} bytes", bytes.len());
        let (body, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let stored = u32::from_le_bytes(stored.try_into().expect("4 bytes"));
        ensure!(crc32fast::hash(body) == stored, "file is corrupt or truncated (checksum mismatch)");

        let mut reader = ByteReader { bytes: body, offset: reader.offset };
        let dim = reader.u32("dimension")? as usize;
        let count = usize::try_from(reader.u64("count")?).context("count does not fit in memory")?;
        ensure!(dim > 0, "dimension is 0");
        // Each id takes at least its 4-byte length: check before allocating for `count`.
        ensure!(count <= body.len() / 4, "count {count} is larger than the file can hold");
        let mut store = VectorStore::new(dim);
        store.ids.reserve(count);
        for row in 0..count {
            let len = reader.u32("id length")? as usize;
            let id = std::str::from_utf8(reader.take(len, "id")?).with_context(|| format!("id {row} is not utf-8"))?;
            ensure!(store.rows.insert(id.to_string(), row).is_none(), "id {id:?} appears twice");
            store.ids.push(id.to_string());
        }
        let floats = count.checked_mul(dim).and_then(|n| n.checked_mul(4)).context("vector data size overflows")?;
        let raw = reader.take(floats, "vectors")?;
        store.data = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        ensure!(reader.offset == body.len(), "{} unexpected bytes after the vectors", body.len() - reader.offset);
        Ok(store)
    }
}

// ---------------------------------------------------------------------------------------
// Fusion
// ---------------------------------------------------------------------------------------

/// Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): each id scores
/// Σ 1 / (k + rank) over the lists it appears in, rank starting at 1; the `limit` best,
/// ties broken by id.
///
/// Each list is taken as ranked best first; only positions matter, not the lists' own
/// scores, which is why BM25 and cosine rankings can be merged without calibration. An id
/// repeated within one list counts at its first position. `k` (60 in the paper) damps the
/// weight of the very top ranks.
///
/// # Panics
/// If `k` is negative or not finite.
pub fn reciprocal_rank_fusion(lists: &[Vec<Hit>], k: f32, limit: usize) -> Vec<Hit> {
    assert!(k.is_finite() && k >= 0.0, "rrf k must be a finite non-negative number, got {k}");
    let mut ranks: HashMap<&str, Vec<usize>> = HashMap::new();
    for list in lists {
        let mut seen = HashSet::new();
        for (position, hit) in list.iter().enumerate() {
            if seen.insert(hit.id.as_str()) {
                ranks.entry(hit.id.as_str()).or_default().push(position + 1);
            }
        }
    }
    let mut fused: Vec<Hit> = ranks
        .into_iter()
        .map(|(id, mut ranks)| {
            // Summed in rank order so two ids with the same ranks in different lists get
            // bit-identical scores and fall back to the id tie-break.
            ranks.sort_unstable();
            let score: f64 = ranks.iter().map(|&rank| 1.0 / (f64::from(k) + rank as f64)).sum();
            Hit { id: id.to_string(), score: score as f32 }
        })
        .collect();
    sort_best_first(&mut fused);
    fused.truncate(limit);
    fused
}

/// Convex combination of scores (Bruch, Gai & Ingber, "An Analysis of Fusion Functions for
/// Hybrid Retrieval", TOIS 2023): each list's scores are min-max normalised to [0, 1] over
/// the list, then an id scores `bm25_weight` × its BM25 score + (1 − `bm25_weight`) × its
/// vector score, a list it is missing from adding 0; the `limit` best, ties by id.
///
/// Unlike RRF it keeps how far apart the scores are, not only their order: a product far
/// ahead on words stays ahead. An id repeated within one list counts at its first position.
///
/// # Panics
/// If `bm25_weight` is not within 0..=1.
pub fn convex_combination(bm25: &[Hit], vectors: &[Hit], bm25_weight: f32, limit: usize) -> Vec<Hit> {
    assert!((0.0..=1.0).contains(&bm25_weight), "bm25 weight must be within 0..=1, got {bm25_weight}");
    let mut scores: HashMap<&str, f32> = HashMap::new();
    for (list, weight) in [(bm25, bm25_weight), (vectors, 1.0 - bm25_weight)] {
        let max = list.iter().map(|h| h.score).fold(f32::NEG_INFINITY, f32::max);
        let min = list.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
        let mut seen = HashSet::new();
        for hit in list.iter().filter(|h| seen.insert(h.id.as_str())) {
            // One score (or all equal): every hit counts fully.
            let normalised = if max > min { (hit.score - min) / (max - min) } else { 1.0 };
            *scores.entry(hit.id.as_str()).or_default() += weight * normalised;
        }
    }
    let mut fused: Vec<Hit> = scores.into_iter().map(|(id, score)| Hit { id: id.to_string(), score }).collect();
    sort_best_first(&mut fused);
    fused.truncate(limit);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(ids: &[&str]) -> Vec<Hit> {
        ids.iter().map(|id| Hit { id: id.to_string(), score: 0.0 }).collect()
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    fn store_of(rows: &[(&str, [f32; 3])]) -> VectorStore {
        let mut store = VectorStore::new(3);
        for (id, v) in rows {
            store.insert(id.to_string(), v.to_vec()).unwrap();
        }
        store
    }

    #[test]
    fn normalize_makes_unit_length_and_refuses_zero_or_nan() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
        assert!(normalize(&mut [0.0, 0.0]).unwrap_err().to_string().contains("all zeros"));
        assert!(normalize(&mut [1.0, f32::NAN]).unwrap_err().to_string().contains("nan"));
    }

    #[test]
    fn dot_matches_a_plain_sum_across_the_lane_boundary() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn search_ranks_by_cosine_and_breaks_ties_by_id() {
        let store = store_of(&[
            ("far", [0.0, 1.0, 0.0]),
            ("near-b", [2.0, 0.0, 0.0]),
            ("near-a", [1.0, 0.0, 0.0]),
            ("middle", [1.0, 1.0, 0.0]),
        ]);
        let found = store.search(&[5.0, 0.0, 0.0], 10, None);
        assert_eq!(ids(&found), ["near-a", "near-b", "middle", "far"]);
        assert!((found[0].score - 1.0).abs() < 1e-6);
        assert!((found[2].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(ids(&store.search(&[1.0, 0.0, 0.0], 2, None)), ["near-a", "near-b"]);
        assert!(store.search(&[1.0, 0.0, 0.0], 0, None).is_empty());
    }

    #[test]
    fn search_keeps_only_ids_the_filter_allows() {
        let store = store_of(&[("a1", [1.0, 0.0, 0.0]), ("b1", [1.0, 0.1, 0.0]), ("a2", [0.0, 1.0, 0.0])]);
        let only_a = |id: &str| id.starts_with('a');
        assert_eq!(ids(&store.search(&[1.0, 0.0, 0.0], 10, Some(&only_a))), ["a1", "a2"]);
    }

    #[test]
    fn a_query_of_the_wrong_dimension_or_zero_length_matches_nothing() {
        let store = store_of(&[("a", [1.0, 0.0, 0.0])]);
        assert!(store.search(&[1.0, 0.0], 5, None).is_empty());
        assert!(store.search(&[0.0, 0.0, 0.0], 5, None).is_empty());
    }

    #[test]
    fn insert_replaces_by_id_and_rejects_the_wrong_dimension() {
        let mut store = store_of(&[("a", [1.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0])]);
        store.insert("a".into(), vec![0.0, 0.0, 2.0]).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("a"), Some(&[0.0, 0.0, 1.0][..]));
        assert_eq!(ids(&store.search(&[0.0, 0.0, 1.0], 1, None)), ["a"]);
        let error = store.insert("c".into(), vec![1.0, 0.0]).unwrap_err().to_string();
        assert!(error.contains("2 dimensions, the store has 3"), "{error}");
        assert!(store.insert("z".into(), vec![0.0; 3]).is_err());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn remove_moves_the_last_row_into_the_gap_and_keeps_lookups_right() {
        let mut store = store_of(&[("a", [1.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0]), ("c", [0.0, 0.0, 1.0])]);
        assert!(store.remove("a"));
        assert!(!store.remove("a"));
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("c"), Some(&[0.0, 0.0, 1.0][..]));
        assert_eq!(ids(&store.search(&[0.0, 0.0, 1.0], 1, None)), ["c"]);
        assert!(store.remove("c"));
        assert!(store.remove("b"));
        assert!(store.is_empty());
        assert!(store.search(&[1.0, 0.0, 0.0], 3, None).is_empty());
        store.insert("d".into(), vec![1.0, 1.0, 0.0]).unwrap();
        assert_eq!(ids(&store.search(&[1.0, 0.0, 0.0], 3, None)), ["d"]);
    }

    #[test]
    fn a_saved_store_loads_back_identical_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.bin");
        let mut store = store_of(&[("sku-1", [1.0, 2.0, 3.0]), ("ünïcode", [0.0, 1.0, 0.0]), ("", [1.0, 0.0, 0.0])]);
        store.remove("sku-1");
        store.save(&path).unwrap();
        // Saving again replaces the file.
        store.insert("sku-2".into(), vec![3.0, 2.0, 1.0]).unwrap();
        store.save(&path).unwrap();
        let loaded = VectorStore::load(&path).unwrap();
        assert_eq!(loaded, store);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(loaded.search(&[3.0, 2.0, 1.0], 1, None)[0].id, "sku-2");
    }

    #[test]
    fn an_empty_store_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.bin");
        VectorStore::new(768).save(&path).unwrap();
        let loaded = VectorStore::load(&path).unwrap();
        assert_eq!((loaded.dim(), loaded.len()), (768, 0));
    }

    fn saved_bytes() -> Vec<u8> {
        let mut file = tempfile::tempfile().unwrap();
        store_of(&[("a", [1.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0])]).write_to(&mut file).unwrap();
        use std::io::{Read, Seek};
        file.rewind().unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn the_file_layout_is_the_documented_one() {
        let bytes = saved_bytes();
        assert_eq!(&bytes[..8], b"BTVECTRS");
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        assert_eq!(bytes[12..16], 3u32.to_le_bytes());
        assert_eq!(bytes[16..24], 2u64.to_le_bytes());
        assert_eq!(bytes[24..28], 1u32.to_le_bytes());
        assert_eq!(bytes[28], b'a');
        assert_eq!(bytes.len(), HEADER_LEN + 2 * (4 + 1) + 2 * 3 * 4 + CHECKSUM_LEN);
        assert_eq!(bytes[34..38], 1.0f32.to_le_bytes());
    }

    #[test]
    fn a_truncated_corrupt_or_foreign_file_is_refused_with_a_clear_error() {
        let bytes = saved_bytes();
        let error = |bytes: &[u8]| VectorStore::from_bytes(bytes).unwrap_err().to_string();

        assert!(error(&bytes[..bytes.len() - 5]).contains("corrupt or truncated"));
        assert!(error(&bytes[..20]).contains("truncated"));
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x10;
        assert!(error(&flipped).contains("checksum mismatch"));
        assert!(error(b"PK\x03\x04 a zip file").contains("not a vector store file"));
        let mut future = bytes.clone();
        future[8] = 2;
        assert!(error(&future).contains("unsupported vector file version 2"));
        assert!(VectorStore::from_bytes(&bytes).is_ok());
    }

    #[test]
    fn a_file_whose_counts_disagree_with_its_length_is_refused_even_with_a_valid_checksum() {
        let mut body = saved_bytes();
        body.truncate(body.len() - CHECKSUM_LEN);
        body[16..24].copy_from_slice(&3u64.to_le_bytes());
        let checksum = crc32fast::hash(&body);
        body.extend_from_slice(&checksum.to_le_bytes());
        let error = VectorStore::from_bytes(&body).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");
    }

    #[test]
    fn loading_a_missing_file_names_it() {
        let error = format!("{:#}", VectorStore::load(Path::new("/nonexistent/vectors.bin")).unwrap_err());
        assert!(error.contains("/nonexistent/vectors.bin"), "{error}");
    }

    #[test]
    fn rrf_sums_reciprocal_ranks_worked_example() {
        // BM25 ranks a, b, c; vectors rank c, a, d. With k = 60:
        //   a = 1/61 + 1/62 = 0.032522
        //   c = 1/63 + 1/61 = 0.032266
        //   b = 1/62        = 0.016129
        //   d = 1/63        = 0.015873
        let fused = reciprocal_rank_fusion(&[hits(&["a", "b", "c"]), hits(&["c", "a", "d"])], 60.0, 10);
        assert_eq!(ids(&fused), ["a", "c", "b", "d"]);
        let expected = [1.0 / 61.0 + 1.0 / 62.0, 1.0 / 61.0 + 1.0 / 63.0, 1.0 / 62.0, 1.0 / 63.0];
        for (hit, want) in fused.iter().zip(expected) {
            assert!((f64::from(hit.score) - want).abs() < 1e-7, "{} scored {}, want {want}", hit.id, hit.score);
        }
        assert_eq!(
            ids(&reciprocal_rank_fusion(&[hits(&["a", "b", "c"]), hits(&["c", "a", "d"])], 60.0, 2)),
            ["a", "c"]
        );
    }

    #[test]
    fn rrf_breaks_ties_by_id_and_ignores_the_lists_own_scores() {
        let mut bm25 = hits(&["y", "x"]);
        bm25[0].score = 12.0;
        bm25[1].score = 0.1;
        // x and y have ranks {1, 2} each, in opposite lists.
        let fused = reciprocal_rank_fusion(&[bm25, hits(&["x", "y"])], 60.0, 10);
        assert_eq!(ids(&fused), ["x", "y"]);
        assert_eq!(fused[0].score, fused[1].score);
    }

    #[test]
    fn rrf_counts_an_id_once_per_list_at_its_first_rank() {
        let fused = reciprocal_rank_fusion(&[hits(&["a", "a", "b"])], 0.0, 10);
        assert_eq!(ids(&fused), ["a", "b"]);
        assert_eq!(fused[0].score, 1.0);
        assert_eq!(fused[1].score, 1.0 / 3.0);
        assert!(reciprocal_rank_fusion(&[], 60.0, 10).is_empty());
    }

    fn scored(rows: &[(&str, f32)]) -> Vec<Hit> {
        rows.iter().map(|(id, score)| Hit { id: id.to_string(), score: *score }).collect()
    }

    #[test]
    fn convex_combination_weighs_normalised_scores() {
        // BM25: a far ahead of b and c; vectors: c ahead of a, b missing.
        let bm25 = scored(&[("a", 20.0), ("b", 6.0), ("c", 5.0)]);
        let vectors = scored(&[("c", 0.9), ("a", 0.8), ("d", 0.5)]);
        let fused = convex_combination(&bm25, &vectors, 0.5, 10);
        // a: 0.5 × 1 + 0.5 × 0.75; c: 0.5 × 0 + 0.5 × 1; b: 0.5 × 1/15; d: 0.
        assert_eq!(ids(&fused), ["a", "c", "b", "d"]);
        assert!((fused[0].score - 0.875).abs() < 1e-6);
        // All weight on one list: its order, the other list's ids after it.
        assert_eq!(ids(&convex_combination(&bm25, &vectors, 1.0, 3)), ["a", "b", "c"]);
        assert_eq!(ids(&convex_combination(&bm25, &vectors, 0.0, 2)), ["c", "a"]);
    }

    #[test]
    fn convex_combination_handles_single_equal_repeated_and_empty_lists() {
        let fused = convex_combination(&scored(&[("a", 3.0)]), &scored(&[("b", 0.2), ("b", 0.1)]), 0.5, 10);
        assert_eq!(ids(&fused), ["a", "b"], "equal scores tie by id");
        assert_eq!(fused[0].score, fused[1].score);
        assert!(convex_combination(&[], &[], 0.5, 10).is_empty());
    }

    /// A fake OpenAI-compatible embeddings server speaking the real wire format.
    mod fake_server {
        use std::sync::{Arc, Mutex};

        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::post;
        use axum::{Json, Router};
        use serde_json::{Value, json};

        #[derive(Clone, Copy)]
        pub enum Mode {
            /// Vectors for every text, listed in reverse order with their `index`.
            Normal,
            /// A 500 with a plain-text body.
            ServerError,
            /// One vector fewer than texts.
            WrongCount,
            /// Answers after two seconds.
            Slow,
        }

        #[derive(Clone)]
        struct Fake {
            mode: Mode,
            /// The inputs of each request, in arrival order.
            requests: Arc<Mutex<Vec<Vec<String>>>>,
        }

        /// A vector that differs per text and is not unit length; texts starting with
        /// "wide" get four dimensions instead of three.
        pub fn vector_for(text: &str) -> Vec<f32> {
            let sum = text.bytes().map(u32::from).sum::<u32>() % 97;
            let mut v = vec![text.len() as f32, sum as f32 + 1.0, 2.0];
            if text.starts_with("wide") {
                v.push(5.0);
            }
            v
        }

        async fn embeddings(State(fake): State<Fake>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
            assert_eq!(headers["authorization"], "Bearer test-key");
            assert_eq!(body["model"], "fake-embed");
            assert_eq!(body["encoding_format"], "float");
            let inputs: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
            fake.requests.lock().unwrap().push(inputs.clone());
            let mut data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": vector_for(text)}))
                .collect();
            data.reverse();
            match fake.mode {
                Mode::Normal => {}
                Mode::ServerError => return (StatusCode::INTERNAL_SERVER_ERROR, "model crashed").into_response(),
                Mode::WrongCount => {
                    data.pop();
                }
                Mode::Slow => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            }
            let usage = json!({"prompt_tokens": 1, "total_tokens": 1});
            Json(json!({"object": "list", "model": "fake-embed", "data": data, "usage": usage})).into_response()
        }

        /// Starts the server on a free port; returns its base URL and the requests it saw.
        pub async fn start(mode: Mode) -> (String, Arc<Mutex<Vec<Vec<String>>>>) {
            let requests = Arc::new(Mutex::new(Vec::new()));
            let app = Router::new()
                .route("/v1/embeddings", post(embeddings))
                .with_state(Fake { mode, requests: requests.clone() });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            (format!("http://{address}/v1/"), requests)
        }
    }

    use fake_server::Mode;

    fn client(base_url: &str, timeout: Duration) -> EmbeddingClient {
        EmbeddingClient::new(base_url, "fake-embed", "test-key", timeout).unwrap()
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn embeddings_come_back_in_input_order_normalised_and_in_batches() {
        let (url, requests) = fake_server::start(Mode::Normal).await;
        let client = client(&url, Duration::from_secs(5)).with_batch_size(3);
        let input = texts(&["red dress", "blue jeans", "a", "wool socks", "sandals", "hat", "scarf"]);
        let vectors = client.embed(&input).await.unwrap();

        let sizes: Vec<usize> = requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(requests.lock().unwrap().concat(), input);
        assert_eq!(vectors.len(), input.len());
        for (text, vector) in input.iter().zip(&vectors) {
            let mut expected = fake_server::vector_for(text);
            normalize(&mut expected).unwrap();
            assert_eq!(vector, &expected, "vector of {text:?}");
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6);
        }
        assert_eq!(client.dim(), Some(3));
        assert!(client.embed(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_change_of_dimension_between_calls_is_an_error() {
        let (url, _) = fake_server::start(Mode::Normal).await;
        let client = client(&url, Duration::from_secs(5));
        client.embed(&texts(&["narrow"])).await.unwrap();
        let error = format!("{:#}", client.embed(&texts(&["wide one"])).await.unwrap_err());
        assert!(error.contains("embedding 0 has 4 dimensions, earlier embeddings have 3"), "{error}");
    }

    /// The whole error chain of embedding `items` with a fake server in `mode`, and how
    /// many requests the server saw.
    async fn embedding_error(mode: Mode, timeout: Duration, items: &[&str]) -> (String, usize) {
        let (url, requests) = fake_server::start(mode).await;
        let error = client(&url, timeout).embed(&texts(items)).await.unwrap_err();
        let seen = requests.lock().unwrap().len();
        (format!("{error:#}"), seen)
    }

    #[tokio::test]
    async fn a_server_error_reports_the_http_status_and_body() {
        let (error, requests) = embedding_error(Mode::ServerError, Duration::from_secs(5), &["x"]).await;
        assert!(error.contains("failed to embed texts 0..1"), "{error}");
        assert!(error.contains("embedding endpoint returned http 500: model crashed"), "{error}");
        // async-openai retried the 5xx before giving up.
        assert!(requests > 1);
    }

    #[tokio::test]
    async fn a_response_with_the_wrong_number_of_vectors_is_an_error() {
        let (error, _) = embedding_error(Mode::WrongCount, Duration::from_secs(5), &["x", "y"]).await;
        assert!(error.contains("embedding endpoint returned 1 vectors for 2 texts"), "{error}");
    }

    #[tokio::test]
    async fn a_base_url_without_the_version_path_gives_a_clear_error() {
        let (url, _) = fake_server::start(Mode::Normal).await;
        let without_v1 = url.trim_end_matches("/v1/");
        let error =
            format!("{:#}", client(without_v1, Duration::from_secs(5)).embed(&texts(&["x"])).await.unwrap_err());
        assert!(error.contains("embedding endpoint answered with something other than the expected json"), "{error}");
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let (error, _) = embedding_error(Mode::Slow, Duration::from_millis(200), &["x"]).await;
        assert!(error.contains("embedding request timed out"), "{error}");
    }

    #[tokio::test]
    async fn an_empty_text_is_refused_before_any_request() {
        let (error, requests) = embedding_error(Mode::Normal, Duration::from_secs(5), &["ok", "  "]).await;
        assert!(error.contains("text 1 is empty"), "{error}");
        assert_eq!(requests, 0);
    }

    #[test]
    fn indices_out_of_range_or_repeated_are_errors() {
        let item = |index: Option<usize>| EmbeddingItem { index, embedding: vec![1.0] };
        let error = in_input_order(vec![item(Some(0)), item(Some(5))], 2).unwrap_err().to_string();
        assert!(error.contains("index 5 for 2 texts"), "{error}");
        let error = in_input_order(vec![item(Some(1)), item(Some(1))], 2).unwrap_err().to_string();
        assert!(error.contains("index 1 twice"), "{error}");
        assert_eq!(in_input_order(vec![item(None), item(None)], 2).unwrap().len(), 2);
    }
}
