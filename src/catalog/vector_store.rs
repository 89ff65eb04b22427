//! An exact in-process cosine index of unit vectors keyed by id, saved to one file: where
//! semantic search keeps product vectors when no Qdrant is configured ([`super::qdrant`]
//! holds them otherwise).
//!
//! Every vector here is unit length (L2-normalised), so cosine similarity is a dot product.
//! Search is exact (a scan of every row): a catalog of 100k products at 768 dimensions is
//! ~77M multiply-adds, tens of milliseconds, so async callers run it in `spawn_blocking`
//! like the tantivy searches. Saving and loading are blocking file IO too.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, bail, ensure};
use tracing::warn;

use super::fusion::{rank_order, sort_best_first};
use super::index::Hit;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
