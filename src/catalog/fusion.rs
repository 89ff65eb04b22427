//! Merging rankings: the one best-first order of hits (score, then id) every ranking here
//! uses, reciprocal rank fusion, and the convex combination that hybrid search uses to merge
//! BM25's ranking with the vectors'.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use super::index::Hit;

/// The weight of BM25 in the fusion (vectors get the rest). On ESCI, 0.45–0.7 all gave
/// nDCG@10 0.643–0.648 and reciprocal rank fusion 0.637–0.643; equal weights need no tuning
/// (README "Retrieval").
pub const BM25_WEIGHT: f32 = 0.5;

/// BM25 and vector rankings fused (convex combination, [`BM25_WEIGHT`]), best `limit`.
pub fn fuse(bm25: Vec<Hit>, vectors: Vec<Hit>, limit: usize) -> Vec<Hit> {
    if vectors.is_empty() {
        let mut bm25 = bm25;
        bm25.truncate(limit);
        return bm25;
    }
    convex_combination(&bm25, &vectors, BM25_WEIGHT, limit)
}

/// How two results compare: `Greater` when `a` ranks above `b` (higher score, then the
/// smaller id, so equal scores always come out in the same order).
pub(super) fn rank_order(a_score: f32, a_id: &str, b_score: f32, b_id: &str) -> Ordering {
    a_score.total_cmp(&b_score).then_with(|| b_id.cmp(a_id))
}

/// Sorts hits best first.
pub(crate) fn sort_best_first(hits: &mut [Hit]) {
    hits.sort_by(|a, b| rank_order(b.score, &b.id, a.score, &a.id));
}

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
}
