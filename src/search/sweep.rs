//! A sweep of the cost-aware search over its weight (or budget): one search per setting, each
//! derived network evaluated as searched, and the trade-off between cost and quality.

use serde::{Deserialize, Serialize};

use super::{CostPenalty, Evaluation, Search, SearchConfig, evaluate_network};
use crate::arch::Architecture;
use crate::branch::TaskBranch;
use crate::cost::CostSummary;
use crate::data::MultiTaskDataset;
use crate::net::Supernet;
use crate::task::Task;
use crate::{Error, Result};

/// One setting of a cost sweep and what its search found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontPoint {
    /// The penalty the search ran with.
    pub penalty: CostPenalty,
    /// The architecture it found.
    pub architecture: Architecture,
    /// What the derived network costs on one test image.
    pub cost: CostSummary,
    /// The derived network on the test set, as searched (no retraining).
    pub evaluation: Evaluation,
}

/// Runs one search per entry of `penalties` (everything else as in `config`), each on a fresh
/// supernet from `supernet` (build it the same way every time, so that the settings compete
/// from the same start), and evaluates each derived network on `test` in batches of
/// `eval_batch`. Costs are counted at the size of `test`'s first image. The points come back
/// sorted by fusion MACs (cheapest first); [`pareto_front`] picks the ones no other beats.
///
/// # Errors
/// No setting, an empty test set, and everything a search or an evaluation can fail with.
pub fn cost_sweep<B: TaskBranch>(
    config: &SearchConfig,
    penalties: &[CostPenalty],
    mut supernet: impl FnMut() -> Result<Supernet<B>>,
    tasks: &[Box<dyn Task>],
    train: &dyn MultiTaskDataset,
    test: &dyn MultiTaskDataset,
    eval_batch: usize,
) -> Result<Vec<FrontPoint>> {
    if penalties.is_empty() {
        return Err(Error::config(
            "cost sweep",
            "at least one setting is needed",
        ));
    }
    let image = test.sample(0)?.image;
    let input = [image.height, image.width];
    let mut points = Vec::with_capacity(penalties.len());
    for penalty in penalties {
        let search = Search::new(SearchConfig {
            cost_penalty: penalty.clone(),
            ..config.clone()
        });
        let outcome = search.run(supernet()?, tasks, train)?;
        let derived = outcome.network.derive(&outcome.architecture)?;
        points.push(FrontPoint {
            penalty: penalty.clone(),
            cost: derived.cost(input)?.summary(),
            evaluation: evaluate_network(&derived, tasks, test, eval_batch)?,
            architecture: outcome.architecture,
        });
    }
    points.sort_by_key(|p| p.cost.fusion_macs);
    Ok(points)
}

/// The indices of the points on the Pareto front of (fusion MACs, `score`): those that no
/// other point beats on both, i.e. none is at most as costly and scores at least as high with
/// one of the two strictly better. `score` is higher-is-better (e.g. the Delta against
/// single-task baselines). In increasing cost.
pub fn pareto_front<T>(
    points: &[T],
    cost: impl Fn(&T) -> f64,
    score: impl Fn(&T) -> f64,
) -> Vec<usize> {
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let (ci, si) = (cost(&points[i]), score(&points[i]));
            !points.iter().any(|q| {
                let (cq, sq) = (cost(q), score(q));
                cq <= ci && sq >= si && (cq < ci || sq > si)
            })
        })
        .collect();
    front.sort_by(|&a, &b| cost(&points[a]).total_cmp(&cost(&points[b])));
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_only_undominated_points() {
        // (cost, score): (1, 1) and (2, 3) and (4, 4) are undominated; (3, 2) is beaten by
        // (2, 3); (2, 0) by (1, 1); the duplicate (4, 4) ties, so neither beats the other.
        let points = [
            (3.0, 2.0),
            (1.0, 1.0),
            (2.0, 3.0),
            (2.0, 0.0),
            (4.0, 4.0),
            (4.0, 4.0),
        ];
        let front = pareto_front(&points, |p| p.0, |p| p.1);
        assert_eq!(front, [1, 2, 4, 5]);
        assert!(pareto_front::<(f64, f64)>(&[], |p| p.0, |p| p.1).is_empty());
    }
}
