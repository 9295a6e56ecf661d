//! The minimal-entropy regulariser that drives every edge to 0 or 1, and the optional L1.

use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Tensor, TensorData};

use crate::space::SearchSpace;

/// Averaging weights that turn a sum over edges into "mean over task pairs of the mean over
/// that pair's edges", the reference's reduction. Shape `[num_edges]`, summing to 1.
#[derive(Clone, Debug)]
pub struct PairAverage {
    weights: Vec<f32>,
}

impl PairAverage {
    /// The weights for `space`: `1 / (pairs * edges of the edge's pair)` per edge.
    pub fn new(space: &SearchSpace) -> Self {
        let pair_of = space.edge_pair_indices();
        let pairs = space.task_pairs().len().max(1);
        let mut counts = vec![0usize; pairs];
        for &p in &pair_of {
            counts[p] += 1;
        }
        let weights = pair_of
            .iter()
            .map(|&p| 1.0 / (pairs as f32 * counts[p] as f32))
            .collect();
        Self { weights }
    }

    /// Equal weights `1 / n` (a plain mean over `n` edges).
    pub fn uniform(n: usize) -> Self {
        Self {
            weights: vec![1.0 / n.max(1) as f32; n],
        }
    }

    /// The weights on `device`, shape `[num_edges]`.
    pub fn tensor(&self, device: &Device) -> Tensor<1> {
        Tensor::from_data(
            TensorData::new(self.weights.clone(), [self.weights.len()]),
            device,
        )
    }
}

/// The binary entropy of each edge, `-(p ln p + (1 - p) ln(1 - p))` with `p = sigmoid(alpha)`,
/// written as `softplus(alpha) - alpha * sigmoid(alpha)` so it stays finite for any logit.
/// Shape `[num_edges]` in and out. Its derivative is `-alpha p (1 - p)`: descending it pushes
/// every logit away from 0.
pub fn edge_entropy(logits: Tensor<1>) -> Tensor<1> {
    softplus(logits.clone(), 1.0) - logits.clone() * sigmoid(logits)
}

/// The minimal-entropy regulariser `H`: edge entropies averaged with `average` (mean over task
/// pairs of mean over their edges). `logits`: `[num_edges]`; result: `[1]`.
pub fn entropy(logits: Tensor<1>, average: &PairAverage) -> Tensor<1> {
    let weights = average.tensor(&logits.device());
    (edge_entropy(logits) * weights).sum()
}

/// The L1 penalty on the connectivity, `sum_e w_e * sigmoid(alpha_e)`, with `w` from `average`
/// (optionally scaled by a per-edge cost such as the source's channels). `logits`:
/// `[num_edges]`; `cost`: `[num_edges]` or `None`; result: `[1]`.
pub fn l1(logits: Tensor<1>, average: &PairAverage, cost: Option<Tensor<1>>) -> Tensor<1> {
    let weights = average.tensor(&logits.device());
    let p = sigmoid(logits) * weights;
    match cost {
        Some(cost) => (p * cost).sum(),
        None => p.sum(),
    }
}

/// The cost-aware penalty on the expected cost of the kept edges (without its weight `mu`):
/// `sum_e c_e p_e / E` with `p = sigmoid(alpha)`, or with a `budget` `b`,
/// `max(0, sum_e c_e p_e / sum_e c_e - b)`. `logits` and `costs`: `[num_edges]`; result: `[1]`.
/// Its gradient on `alpha_e` is `c_e p_e (1 - p_e) / E` (linear; `/ sum c` above the budget):
/// a costlier edge is pushed down harder.
pub fn cost_penalty(logits: Tensor<1>, costs: Tensor<1>, budget: Option<f64>) -> Tensor<1> {
    let edges = logits.dims()[0].max(1);
    match budget {
        None => (sigmoid(logits) * costs).sum().div_scalar(edges as f64),
        Some(b) => {
            let total = costs.clone().sum();
            let fraction = (sigmoid(logits) * costs).sum() / total;
            burn::tensor::activation::relu(fraction.sub_scalar(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::connectivity::tensor_to_vec;
    use crate::space::Stage;
    use crate::space::{BranchDescription, EdgeRule};

    #[test]
    fn entropy_at_logit_zero_is_ln_2_per_edge() {
        let device = Device::flex();
        let logits = Tensor::<1>::zeros([6], &device);
        let per_edge = tensor_to_vec(edge_entropy(logits.clone())).unwrap();
        for h in per_edge {
            assert!((h - std::f32::consts::LN_2).abs() < 1e-6);
        }
        let h = tensor_to_vec(entropy(logits, &PairAverage::uniform(6))).unwrap()[0];
        assert!((h - std::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn entropy_matches_the_closed_form_and_stays_finite() {
        // p = sigmoid(2) = 0.880797; H = -(p ln p + (1 - p) ln(1 - p))
        // = -(0.880797 * -0.126928 + 0.119203 * -2.126928) = 0.365334.
        let device = Device::flex();
        let logits = Tensor::<1>::from_floats([2.0, -2.0, 80.0, -80.0], &device);
        let h = tensor_to_vec(edge_entropy(logits)).unwrap();
        assert!((h[0] - 0.365334).abs() < 1e-5, "{h:?}");
        assert!((h[1] - 0.365334).abs() < 1e-5, "{h:?}");
        assert!(h[2].is_finite() && h[2].abs() < 1e-6, "{h:?}");
        assert!(h[3].is_finite() && h[3].abs() < 1e-6, "{h:?}");
    }

    #[test]
    fn entropy_gradient_pushes_logits_away_from_zero() {
        // dH/dalpha = -alpha p (1 - p): negative for alpha > 0, positive for alpha < 0, so a
        // descent step raises positive logits and lowers negative ones. At alpha = 1:
        // -1 * 0.731059 * 0.268941 = -0.196612.
        let device = Device::flex().autodiff();
        let logits = Tensor::<1>::from_floats([1.0, -1.0, 0.0], &device).require_grad();
        let h = edge_entropy(logits.clone()).sum();
        let grads = h.backward();
        let g = tensor_to_vec(logits.grad(&grads).unwrap()).unwrap();
        assert!((g[0] + 0.196612).abs() < 1e-5, "{g:?}");
        assert!((g[1] - 0.196612).abs() < 1e-5, "{g:?}");
        assert_eq!(g[2], 0.0);
    }

    #[test]
    fn cost_penalty_pushes_costlier_edges_down_harder() {
        // Linear: d/dalpha_e (sum c p / E) = c_e p_e (1 - p_e) / E; at alpha = 0 (p = 1/2) with
        // costs [0.5, 1.5] and E = 2: 0.5 * 0.25 / 2 = 0.0625 and 1.5 * 0.25 / 2 = 0.1875.
        // Value: (0.5 * 0.5 + 1.5 * 0.5) / 2 = 0.5.
        let device = Device::flex().autodiff();
        let logits = Tensor::<1>::zeros([2], &device).require_grad();
        let costs = Tensor::<1>::from_floats([0.5, 1.5], &device);
        let penalty = cost_penalty(logits.clone(), costs.clone(), None);
        assert!((tensor_to_vec(penalty.clone()).unwrap()[0] - 0.5).abs() < 1e-6);
        let g = tensor_to_vec(logits.grad(&penalty.backward()).unwrap()).unwrap();
        assert!(
            (g[0] - 0.0625).abs() < 1e-6 && (g[1] - 0.1875).abs() < 1e-6,
            "{g:?}"
        );
        // Budget 0.25: expected fraction (0.25 + 0.75) / 2 = 0.5, hinge 0.25; gradient
        // c_e p (1 - p) / sum c = 0.125 / 2 and 0.375 / 2. Under a budget of 0.6: 0, no push.
        let over = cost_penalty(logits.clone(), costs.clone(), Some(0.25));
        assert!((tensor_to_vec(over.clone()).unwrap()[0] - 0.25).abs() < 1e-6);
        let g = tensor_to_vec(logits.grad(&over.backward()).unwrap()).unwrap();
        assert!(
            (g[0] - 0.0625).abs() < 1e-6 && (g[1] - 0.1875).abs() < 1e-6,
            "{g:?}"
        );
        let within = cost_penalty(logits.clone(), costs, Some(0.6));
        assert_eq!(tensor_to_vec(within.clone()).unwrap()[0], 0.0);
        let g = tensor_to_vec(logits.grad(&within.backward()).unwrap()).unwrap();
        assert_eq!(g, vec![0.0, 0.0]);
    }

    #[test]
    fn pair_average_is_mean_of_pair_means() {
        // Pair (b <- a) has 1 edge, pair (a <- b) has 3: weights 1/2 and 1/6.
        let a = BranchDescription::from_stages("a", &[Stage::new(1, 4, 1), Stage::new(3, 4, 2)]);
        let b = BranchDescription::from_stages("b", &[Stage::new(1, 4, 1), Stage::new(1, 4, 2)]);
        let rule = EdgeRule::explicit(vec![
            crate::space::FusionEdge::new(
                crate::space::NodeId::new(0, 0),
                crate::space::NodeId::new(1, 0),
            ),
            crate::space::FusionEdge::new(
                crate::space::NodeId::new(1, 0),
                crate::space::NodeId::new(0, 1),
            ),
            crate::space::FusionEdge::new(
                crate::space::NodeId::new(1, 0),
                crate::space::NodeId::new(0, 2),
            ),
            crate::space::FusionEdge::new(
                crate::space::NodeId::new(1, 1),
                crate::space::NodeId::new(0, 3),
            ),
        ]);
        let space = SearchSpace::from_branches(&[a, b], rule).unwrap();
        let w = PairAverage::new(&space).weights;
        let mut sorted = w.clone();
        sorted.sort_by(f32::total_cmp);
        assert!((sorted[0] - 1.0 / 6.0).abs() < 1e-7 && (sorted[3] - 0.5).abs() < 1e-7);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
