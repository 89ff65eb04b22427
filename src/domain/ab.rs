//! A/B tests of a flow's text: which arm a customer gets, and when a test has a winner.
//!
//! - Assignment is a stable hash of the test's name and the customer's number (SHA-256, not
//!   Rust's per-process hasher), placed in the arms' weights: a customer who enters the flow
//!   again gets the same arm (shared/reference/flows-webhooks-analytics.md §7, design note).
//! - The winner gate is Klaviyo's for flows: at least 500 recipients in every arm and a win
//!   probability of at least 90% (help.klaviyo.com/hc/en-us/articles/11233978755611); below
//!   it the test runs to its end date. Win probability: each arm's rate has a Beta(1 + hits,
//!   1 + misses) posterior; the share of joint draws in which an arm is best.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Beta, Distribution};
use sha2::{Digest, Sha256};

/// Recipients every arm needs before a winner can be called.
pub const MIN_RECIPIENTS_PER_ARM: u64 = 500;
/// The win probability a winner needs.
pub const MIN_WIN_PROBABILITY: f64 = 0.90;
/// Joint posterior draws behind a win probability.
const DRAWS: usize = 20_000;

/// The seed of a test's win probabilities: the same counts give the same answer every time,
/// in the engine and in the API.
pub fn seed(test: &str) -> u64 {
    test.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The arm (index into `weights`) of `key` (a phone number) in test `test`. Weights are
/// relative (`[1, 1]` is an even split); an arm of weight 0 gets nobody.
pub fn assign(test: &str, key: &str, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return 0;
    }
    let digest = Sha256::digest(format!("{test}\u{1f}{key}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let mut point = u64::from_be_bytes(first) % total;
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if point < w {
            return i;
        }
        point -= w;
    }
    weights.len() - 1
}

/// One arm's outcome so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmCount {
    pub recipients: u64,
    /// Recipients who did what the metric counts (replied, opted out, ordered).
    pub hits: u64,
}

/// Each arm's probability of being best: the highest rate, or the lowest when
/// `lower_is_better` (opt-out rate). Deterministic for a given `seed`.
pub fn win_probabilities(arms: &[ArmCount], lower_is_better: bool, seed: u64) -> Vec<f64> {
    if arms.is_empty() {
        return vec![];
    }
    let posteriors: Vec<Beta<f64>> = arms
        .iter()
        .map(|a| {
            let hits = a.hits.min(a.recipients) as f64;
            Beta::new(1.0 + hits, 1.0 + (a.recipients as f64 - hits)).expect("positive shape parameters")
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wins = vec![0usize; arms.len()];
    for _ in 0..DRAWS {
        let draws = posteriors.iter().map(|b| b.sample(&mut rng));
        let best = draws
            .enumerate()
            .reduce(|best, (i, x)| {
                let better = if lower_is_better { x < best.1 } else { x > best.1 };
                if better { (i, x) } else { best }
            })
            .map(|(i, _)| i)
            .expect("at least one arm");
        wins[best] += 1;
    }
    wins.into_iter().map(|w| w as f64 / DRAWS as f64).collect()
}

/// The winner, if the gate is passed: every arm has at least [`MIN_RECIPIENTS_PER_ARM`]
/// recipients and one arm's win probability is at least [`MIN_WIN_PROBABILITY`].
pub fn winner(arms: &[ArmCount], probabilities: &[f64]) -> Option<usize> {
    if arms.len() < 2 || arms.iter().any(|a| a.recipients < MIN_RECIPIENTS_PER_ARM) {
        return None;
    }
    probabilities.iter().enumerate().find(|(_, p)| **p >= MIN_WIN_PROBABILITY).map(|(i, _)| i)
}

/// The arm with the best posterior mean rate (what a test that reached its end date without a
/// winner sends from then on).
pub fn leader(arms: &[ArmCount], lower_is_better: bool) -> usize {
    let mean = |a: &ArmCount| (1.0 + a.hits as f64) / (2.0 + a.recipients as f64);
    let mut best = 0;
    for (i, a) in arms.iter().enumerate() {
        let better = if lower_is_better { mean(a) < mean(&arms[best]) } else { mean(a) > mean(&arms[best]) };
        if better {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_keeps_their_arm_and_the_split_follows_the_weights() {
        for n in 0..200 {
            let phone = format!("+1305555{n:04}");
            assert_eq!(assign("cart_copy", &phone, &[1, 1]), assign("cart_copy", &phone, &[1, 1]));
        }
        let counts = (0..10_000).fold([0usize; 2], |mut c, n| {
            c[assign("cart_copy", &format!("+1212555{n:04}"), &[3, 1])] += 1;
            c
        });
        assert!((7_200..7_800).contains(&counts[0]), "{counts:?}");
        // Another test splits the same customers independently.
        let same = (0..1_000)
            .filter(|n| {
                let p = format!("+1212555{n:04}");
                assign("a", &p, &[1, 1]) == assign("b", &p, &[1, 1])
            })
            .count();
        assert!((420..580).contains(&same), "{same}");
        assert_eq!(assign("t", "+1", &[0, 5]), 1);
    }

    #[test]
    fn no_winner_below_500_per_arm_however_clear() {
        let arms = [ArmCount { recipients: 499, hits: 250 }, ArmCount { recipients: 499, hits: 10 }];
        let p = win_probabilities(&arms, false, 1);
        assert!(p[0] > 0.999, "{p:?}");
        assert_eq!(winner(&arms, &p), None);
    }

    #[test]
    fn a_clear_winner_at_500_per_arm_and_none_on_a_close_race() {
        let clear = [ArmCount { recipients: 500, hits: 100 }, ArmCount { recipients: 500, hits: 60 }];
        let p = win_probabilities(&clear, false, 1);
        assert_eq!(winner(&clear, &p), Some(0), "{p:?}");
        let close = [ArmCount { recipients: 600, hits: 100 }, ArmCount { recipients: 600, hits: 97 }];
        let p = win_probabilities(&close, false, 1);
        assert!(p[0] > 0.5 && p[0] < 0.9, "{p:?}");
        assert_eq!(winner(&close, &p), None);
        // Opt-out rate: lower wins.
        let optouts = [ArmCount { recipients: 800, hits: 40 }, ArmCount { recipients: 800, hits: 12 }];
        let p = win_probabilities(&optouts, true, 1);
        assert_eq!(winner(&optouts, &p), Some(1), "{p:?}");
        assert_eq!(leader(&optouts, true), 1);
    }
}
