//! Where an A/B test of a flow's text stands: each arm's outcomes, its count on the test's
//! metric and its win probability. The engine calls the winner from it; the API and the
//! console show it.

use super::file::{AbTest, Variant};
use crate::domain::ab;
use crate::store::Db;
use crate::store::ab::{ArmOutcome, outcomes};

/// One arm's standing, in the order of the step's variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub outcome: ArmOutcome,
    /// Recipients and hits on the test's metric.
    pub count: ab::ArmCount,
    pub win_probability: f64,
}

/// The standings of `test`'s arms (`variants`).
pub async fn standings(db: &Db, test: &AbTest, variants: &[Variant]) -> anyhow::Result<Vec<Standing>> {
    let outcomes = outcomes(db, &test.name).await?;
    let arms: Vec<ArmOutcome> = variants.iter().map(|v| outcomes.get(&v.name).copied().unwrap_or_default()).collect();
    let counts: Vec<ab::ArmCount> = arms.iter().map(|o| test.metric.count(o)).collect();
    let probabilities = ab::win_probabilities(&counts, test.metric.lower_is_better(), ab::seed(&test.name));
    Ok(arms
        .into_iter()
        .zip(counts)
        .zip(probabilities)
        .map(|((outcome, count), win_probability)| Standing { outcome, count, win_probability })
        .collect())
}
