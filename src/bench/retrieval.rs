//! `backtalk bench retrieval --esci DIR`: product search quality and speed on real shopper
//! queries with human labels (the ESCI US subset in `../shared/data/esci`, Apache-2.0).
//!
//! - Corpus: the 6,764 products of `ubi_ecommerce_products.json.gz` (title, bullet points,
//!   description, brand, colour, category path), indexed by our tantivy index.
//! - Queries and labels: `qrels.tsv` (150 queries, 6,678 judgments).
//! - nDCG@10 with the ESCI gains (Exact 1, Substitute 0.1, Complement 0.01, Irrelevant 0;
//!   an unjudged product counts 0); the ideal ranking is the query's judged products by
//!   gain. Recall of Exact products in the top 100. Both averaged over queries.
//! - Speed: every query run on one thread, `rounds` times; queries per second, p50 and p99
//!   latency. Build time: the whole index written and committed on disk.
//!
//! The last output line is one JSON object (keys pinned in ARCHITECTURE.md).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Deserialize;

use crate::catalog::fusion::{convex_combination, reciprocal_rank_fusion};
use crate::catalog::index::TITLE_REPEATS;
use crate::catalog::{DocKind, FieldWeights, Hit, ProductDoc, SearchIndex};

/// One product line of the ESCI product file.
#[derive(Debug, Deserialize)]
struct EsciProduct {
    asin: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    bullet_points: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    category: Option<Vec<String>>,
    #[serde(default)]
    price: Option<f64>,
}

impl EsciProduct {
    fn into_doc(self) -> ProductDoc {
        ProductDoc {
            sku: self.asin,
            title: self.title.unwrap_or_default(),
            brand: self.brand.unwrap_or_default(),
            category: self.category.unwrap_or_default().join(" > "),
            colors: self.color.into_iter().filter(|c| !c.trim().is_empty()).collect(),
            bullets: self.bullet_points.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            price_cents: self.price.map_or(0, |p| (p * 100.0).round() as i64),
            stock: 1,
            ..ProductDoc::default()
        }
    }
}

/// Loads the ESCI products (gzip JSON lines); a bad line is an error naming its number.
pub fn load_products(path: &Path) -> anyhow::Result<Vec<ProductDoc>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut docs = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}: cannot read", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let p: EsciProduct =
            serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), n + 1))?;
        docs.push(p.into_doc());
    }
    Ok(docs)
}

/// Judgments: query → product id → gain.
pub type Qrels = Vec<(String, HashMap<String, f64>)>;

/// The ESCI gain of a label.
fn gain(label: &str) -> anyhow::Result<f64> {
    Ok(match label {
        "Exact" => 1.0,
        "Substitute" => 0.1,
        "Complement" => 0.01,
        "Irrelevant" => 0.0,
        other => anyhow::bail!("unknown ESCI label {other:?}"),
    })
}

/// Reads `qrels.tsv` (query, asin, grade, esci_label, raw_rating; header first), queries in
/// file order.
pub fn load_qrels(path: &Path) -> anyhow::Result<Qrels> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut order: Vec<String> = Vec::new();
    let mut by_query: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            anyhow::bail!("{} line {}: expected query, asin, grade, esci_label", path.display(), n + 1);
        }
        let g = gain(f[3]).with_context(|| format!("{} line {}", path.display(), n + 1))?;
        if !by_query.contains_key(f[0]) {
            order.push(f[0].to_string());
        }
        by_query.entry(f[0].to_string()).or_default().insert(f[1].to_string(), g);
    }
    Ok(order
        .into_iter()
        .map(|q| {
            let judged = by_query.remove(&q).unwrap_or_default();
            (q, judged)
        })
        .collect())
}

/// nDCG@k of a ranking against judged gains (linear gains, log2 discount).
pub fn ndcg_at(k: usize, ranking: &[String], judged: &HashMap<String, f64>) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, id)| judged.get(id).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = judged.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

/// Share of the Exact products found in the top `k`.
pub fn recall_exact_at(k: usize, ranking: &[String], judged: &HashMap<String, f64>) -> f64 {
    let exact: Vec<&String> = judged.iter().filter(|(_, g)| **g >= 1.0).map(|(id, _)| id).collect();
    if exact.is_empty() {
        return 0.0;
    }
    let top: std::collections::HashSet<&String> = ranking.iter().take(k).collect();
    exact.iter().filter(|id| top.contains(*id)).count() as f64 / exact.len() as f64
}

/// Quality of one configuration over a set of queries.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Quality {
    pub ndcg_at_10: f64,
    pub recall_exact_at_100: f64,
}

/// The top 100 product ids of every query, by BM25 with the index's current weights.
fn bm25_hits(index: &SearchIndex, qrels: &[(String, HashMap<String, f64>)]) -> anyhow::Result<Vec<Vec<Hit>>> {
    qrels.iter().map(|(q, _)| index.search(q, DocKind::Product, 100)).collect()
}

/// Quality of one ranking per query (`rankings[i]` for `qrels[i]`).
fn quality(qrels: &[(String, HashMap<String, f64>)], rankings: &[Vec<Hit>]) -> Quality {
    let (mut ndcg, mut recall) = (0.0, 0.0);
    for ((_, judged), hits) in qrels.iter().zip(rankings) {
        let ranking: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
        ndcg += ndcg_at(10, &ranking, judged);
        recall += recall_exact_at(100, &ranking, judged);
    }
    let n = qrels.len().max(1) as f64;
    Quality { ndcg_at_10: ndcg / n, recall_exact_at_100: recall / n }
}

/// Prints a table row: nDCG@10 over all queries and each half (weights and fusion were
/// chosen on the first half), recall over all; returns the quality over all.
fn row(name: &str, qrels: &[(String, HashMap<String, f64>)], rankings: &[Vec<Hit>]) -> Quality {
    let half = qrels.len() / 2;
    let all = quality(qrels, rankings);
    let (a, b) = (quality(&qrels[..half], &rankings[..half]), quality(&qrels[half..], &rankings[half..]));
    println!(
        "{name:<34} {:>10.4} {:>12.4} {:>12.4} {:>16.4}",
        all.ndcg_at_10, a.ndcg_at_10, b.ndcg_at_10, all.recall_exact_at_100
    );
    all
}

/// Where to get embeddings for the hybrid run.
#[derive(Debug, Clone)]
pub struct EmbeddingEndpoint {
    pub base_url: String,
    /// For queries.
    pub model: String,
    /// For products.
    pub document_model: String,
}

/// Vector-only and hybrid (BM25 + vectors, convex combination; RRF beside it) quality, printed as rows
/// of the table; returns the hybrid quality and the seconds spent embedding products (`None`
/// when the vectors came from the cache).
async fn hybrid(
    endpoint: &EmbeddingEndpoint,
    bm25: &[Vec<Hit>],
    products: &[ProductDoc],
    qrels: &[(String, HashMap<String, f64>)],
) -> anyhow::Result<(Quality, Option<f64>)> {
    use crate::catalog::embeddings::EmbeddingClient;
    use crate::catalog::vector_store::VectorStore;
    let client = EmbeddingClient::new(&endpoint.base_url, &endpoint.model, "", std::time::Duration::from_secs(120))?;
    let documents =
        EmbeddingClient::new(&endpoint.base_url, &endpoint.document_model, "", std::time::Duration::from_secs(300))?;
    // Embedding the products takes minutes on a small CPU: the vectors are cached in
    // target/, per document model, and reused while every product has one.
    let cache =
        Path::new("target").join(format!("esci-vectors-{}.bin", endpoint.document_model.replace(['/', ' '], "_")));
    let cached = VectorStore::load(&cache).ok().filter(|s| products.iter().all(|p| s.get(&p.sku).is_some()));
    let started = Instant::now();
    let (store, embed_s) = match cached {
        Some(store) => {
            println!("product vectors from {} (delete it to embed again)", cache.display());
            (store, None)
        }
        None => {
            let texts: Vec<String> = products.iter().map(crate::catalog::semantic::embedding_text).collect();
            let mut vectors = Vec::with_capacity(texts.len());
            let bar = indicatif::ProgressBar::new(texts.len() as u64);
            for chunk in texts.chunks(256) {
                vectors.extend(documents.embed(chunk).await?);
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
            let mut store = VectorStore::new(vectors.first().map_or(1, Vec::len));
            for (p, v) in products.iter().zip(vectors) {
                store.insert(p.sku.clone(), v)?;
            }
            if std::fs::create_dir_all("target").is_ok() {
                store.save(&cache)?;
            }
            (store, Some(started.elapsed().as_secs_f64()))
        }
    };
    let queries: Vec<String> = qrels.iter().map(|(q, _)| q.clone()).collect();
    let vectors: Vec<Vec<Hit>> = client.embed(&queries).await?.iter().map(|v| store.search(v, 100, None)).collect();
    row(&format!("vectors only ({})", endpoint.model), qrels, &vectors);
    // The fusion a turn uses.
    let fused: Vec<Vec<Hit>> =
        bm25.iter().zip(&vectors).map(|(b, v)| crate::catalog::fusion::fuse(b.clone(), v.clone(), 100)).collect();
    let fused = row("hybrid: BM25 + vectors, convex 0.5", qrels, &fused);
    let rrf: Vec<Vec<Hit>> =
        bm25.iter().zip(&vectors).map(|(b, v)| reciprocal_rank_fusion(&[b.clone(), v.clone()], 60.0, 100)).collect();
    row("hybrid with RRF k=60 instead", qrels, &rrf);
    if let Ok(grid) = std::env::var("BENCH_FUSION") {
        // Tuning aid: `k,bm25_weight,vector_weight;...` (weighted reciprocal rank fusion) or
        // `cc,bm25_weight;...` (convex combination).
        for spec in grid.split(';') {
            if let Some(alpha) = spec.strip_prefix("cc,").and_then(|a| a.trim().parse::<f32>().ok()) {
                let rankings: Vec<Vec<Hit>> =
                    bm25.iter().zip(&vectors).map(|(b, v)| convex_combination(b, v, alpha, 100)).collect();
                row(&format!("convex bm25 {alpha}"), qrels, &rankings);
                continue;
            }
            let v: Vec<f64> = spec.split(',').filter_map(|x| x.trim().parse().ok()).collect();
            let [k, wb, wv] = v[..] else { continue };
            let rankings: Vec<Vec<Hit>> =
                bm25.iter().zip(&vectors).map(|(b, v)| weighted_rrf(b, v, k, wb, wv)).collect();
            row(&format!("rrf k={k} bm25 {wb} vectors {wv}"), qrels, &rankings);
        }
    }
    Ok((fused, embed_s))
}

/// Weighted reciprocal rank fusion of two rankings (a tuning aid for the bench).
fn weighted_rrf(bm25: &[Hit], vectors: &[Hit], k: f64, wb: f64, wv: f64) -> Vec<Hit> {
    let mut scores: HashMap<&str, f64> = HashMap::new();
    for (list, w) in [(bm25, wb), (vectors, wv)] {
        for (rank, hit) in list.iter().enumerate() {
            *scores.entry(hit.id.as_str()).or_default() += w / (k + rank as f64 + 1.0);
        }
    }
    let mut ranked: Vec<(&str, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.into_iter().take(100).map(|(id, score)| Hit { id: id.to_string(), score: score as f32 }).collect()
}

/// Runs the benchmark and prints a table, then the pinned JSON line. With an embedding
/// endpoint, vector-only and hybrid rows are added and the JSON line carries `hybrid_*` keys.
pub async fn run(esci: &Path, rounds: usize, embeddings: Option<EmbeddingEndpoint>) -> anyhow::Result<()> {
    let products = load_products(&esci.join("ubi_ecommerce_products.json.gz"))?;
    let qrels = load_qrels(&esci.join("qrels.tsv"))?;
    println!(
        "ESCI: {} products, {} queries, {} judgments",
        products.len(),
        qrels.len(),
        qrels.iter().map(|(_, j)| j.len()).sum::<usize>()
    );

    // Build on disk, as `index-catalog` does.
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut index = SearchIndex::open_or_create(dir.path())?;
    index.rebuild_docs(&products, &[])?;
    let build_s = started.elapsed().as_secs_f64();
    println!("index build: {build_s:.2} s ({} documents)", index.num_docs());

    // Quality: single-field baselines, then the shipped weights (each row shows both halves
    // of the queries). The all-text baseline has the title written once, in an index of its
    // own; the shipped index writes it TITLE_REPEATS times.
    let none = FieldWeights::NONE;
    let shipped = FieldWeights::default();
    println!("{:<34} {:>10} {:>12} {:>12} {:>16}", "configuration", "nDCG@10", "1st half", "2nd half", "recall(E)@100");
    index.set_weights(FieldWeights { title: 1.0, ..none });
    row("title only (one stemmed field)", &qrels, &bm25_hits(&index, &qrels)?);
    let mut plain = SearchIndex::in_ram()?;
    plain.set_title_repeats(1);
    plain.rebuild_docs(&products, &[])?;
    plain.set_weights(FieldWeights { all: 1.0, ..none });
    row("all text as one field", &qrels, &bm25_hits(&plain, &qrels)?);
    drop(plain);
    let shipped_name = format!("shipped: all text, title x{TITLE_REPEATS}");
    let mut configurations: Vec<(String, FieldWeights)> = vec![(shipped_name, shipped)];
    if let Ok(grid) = std::env::var("BENCH_WEIGHTS") {
        // Tuning aid: `all,title,brand,category,color,bullets,description,proximity,slop;...`
        for spec in grid.split(';') {
            let v: Vec<f32> = spec.split(',').filter_map(|x| x.trim().parse().ok()).collect();
            if v.len() == 9 {
                let w = FieldWeights {
                    all: v[0],
                    title: v[1],
                    brand: v[2],
                    category: v[3],
                    color: v[4],
                    bullets: v[5],
                    description: v[6],
                    tags: 0.0,
                    proximity: v[7],
                    proximity_slop: v[8] as u32,
                };
                configurations.push((spec.to_string(), w));
            }
        }
    }
    for (name, weights) in configurations {
        index.set_weights(weights);
        row(&name, &qrels, &bm25_hits(&index, &qrels)?);
    }
    index.set_weights(shipped);
    let shipped_hits = bm25_hits(&index, &qrels)?;
    let result = quality(&qrels, &shipped_hits);
    let hybrid_result = match &embeddings {
        Some(endpoint) => {
            let (q, embed_s) = hybrid(endpoint, &shipped_hits, &products, &qrels).await?;
            if let Some(seconds) = embed_s {
                println!("embedding {} products took {seconds:.1} s", products.len());
            }
            Some(q)
        }
        None => {
            println!("no embedding endpoint (set BACKTALK_EMBEDDINGS_BASE_URL and _MODEL): BM25 only");
            None
        }
    };

    // Speed: one thread, every query `rounds` times (after one warm-up pass).
    for (q, _) in &qrels {
        std::hint::black_box(index.search(q, DocKind::Product, 10)?);
    }
    let mut latencies = Vec::with_capacity(qrels.len() * rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        for (q, _) in &qrels {
            let t = Instant::now();
            std::hint::black_box(index.search(q, DocKind::Product, 10)?);
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let qps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let (p50_ms, p99_ms) = (at(0.5), at(0.99));
    println!("speed (one thread, top 10, {rounds} rounds): {qps:.0} queries/s, p50 {p50_ms:.3} ms, p99 {p99_ms:.3} ms");
    let mut line = serde_json::json!({
        "ndcg_at_10": result.ndcg_at_10,
        "recall_exact_at_100": result.recall_exact_at_100,
        "qps": qps,
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
        "build_s": build_s,
    });
    if let Some(h) = hybrid_result {
        line["hybrid_ndcg_at_10"] = h.ndcg_at_10.into();
        line["hybrid_recall_exact_at_100"] = h.recall_exact_at_100.into();
    }
    println!("{line}");
    Ok(())
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Writes a synthetic catalog of `n` products (JSON lines) to `path`: varied titles,
/// categories, colours, sizes, prices and bullet points, deterministic.
pub fn write_synthetic_catalog(path: &Path, n: usize) -> anyhow::Result<()> {
    use std::io::Write;
    const KINDS: &[&str] =
        &["blouse", "cardigan", "jeans", "trainers", "scarf", "coat", "dress", "boots", "shirt", "skirt"];
    const COLORS: &[&str] = &["red", "black", "white", "navy", "green", "beige", "grey", "pink"];
    const FABRICS: &[&str] = &["cotton", "linen", "wool", "silk", "denim", "leather", "cashmere"];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        let kind = KINDS[i % KINDS.len()];
        let color = COLORS[(i / 7) % COLORS.len()];
        let fabric = FABRICS[(i / 3) % FABRICS.len()];
        let record = serde_json::json!({
            "sku": format!("SYN{i:07}"),
            "title": format!("{fabric} {kind} - {color} no. {i}"),
            "brand": format!("Brand {}", i % 97),
            "category": format!("Clothing > {kind}"),
            "price": 5.0 + (i % 200) as f64 + 0.99,
            "variants": [{"size": "S", "color": color, "stock": i % 5}, {"size": "M", "color": color, "stock": i % 3}],
            "bullets": [format!("Made of {fabric}"), format!("Machine washable; item {i}")],
            "description": format!("A {color} {fabric} {kind} for every day. Catalogue number {i}."),
        });
        writeln!(out, "{record}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(id, g)| (id.to_string(), *g)).collect()
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ndcg_is_one_for_the_ideal_ranking_and_less_otherwise() {
        let j = judged(&[("a", 1.0), ("b", 0.1), ("c", 0.0)]);
        assert!((ndcg_at(10, &ids(&["a", "b", "c"]), &j) - 1.0).abs() < 1e-12);
        let swapped = ndcg_at(10, &ids(&["b", "a"]), &j);
        // DCG = 0.1 + 1/log2(3); IDCG = 1 + 0.1/log2(3).
        let expected = (0.1 + 1.0 / 3f64.log2()) / (1.0 + 0.1 / 3f64.log2());
        assert!((swapped - expected).abs() < 1e-12, "{swapped} vs {expected}");
        assert_eq!(ndcg_at(10, &ids(&["x", "y"]), &j), 0.0, "unjudged products count 0");
    }

    #[test]
    fn recall_counts_only_exact_products() {
        let j = judged(&[("a", 1.0), ("b", 1.0), ("c", 0.1)]);
        assert_eq!(recall_exact_at(100, &ids(&["c", "a"]), &j), 0.5);
        assert_eq!(recall_exact_at(1, &ids(&["c", "a", "b"]), &j), 0.0);
    }

    #[test]
    fn labels_map_to_the_esci_gains() {
        assert_eq!(gain("Exact").unwrap(), 1.0);
        assert_eq!(gain("Complement").unwrap(), 0.01);
        assert!(gain("Maybe").is_err());
    }
}
