//! The two optimisers of the alternating search: Adam on the logits, SGD on the weights.

use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::{Module, ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Bytes, Device, Gradients, Int, Tensor};
use std::path::Path;

use super::config::{ArchitectureOptimizerConfig, WeightOptimizerConfig};
use crate::branch::TaskBranch;
use crate::net::{ParameterRoles, Supernet};
use crate::{Error, Result, io};

/// Adam on the architecture logits only (PyTorch semantics: coupled weight decay, epsilon added
/// to the bias-corrected root of the second moment).
#[derive(Clone)]
pub(crate) struct ArchitectureOptimizer {
    optimizer: ModuleOptimizer,
    logits: ParamId,
    learning_rate: f64,
}

impl ArchitectureOptimizer {
    pub(crate) fn new(config: &ArchitectureOptimizerConfig, logits: ParamId) -> Self {
        let weight_decay =
            (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
        let optimizer = AdamConfig::new()
            .with_beta_1(config.beta1 as f32)
            .with_beta_2(config.beta2 as f32)
            .with_epsilon(config.epsilon as f32)
            .with_weight_decay(weight_decay)
            .init();
        Self {
            optimizer,
            logits,
            learning_rate: config.learning_rate,
        }
    }

    /// The logits' gradient from `grads`.
    pub(crate) fn gradients<B: TaskBranch>(
        &self,
        net: &Supernet<B>,
        grads: &mut Gradients,
    ) -> GradientsParams {
        GradientsParams::from_params(grads, net, &[self.logits])
    }

    /// How many entries of the logits' gradient in `grads` are not finite, `[1]`, on
    /// `device` (not read back).
    pub(crate) fn non_finite(&self, grads: &GradientsParams, device: &Device) -> Tensor<1> {
        non_finite_count(grads, &[(self.logits, 1)], device)
    }

    /// One step on the logits; every other parameter is left untouched.
    pub(crate) fn step<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        grads: GradientsParams,
    ) -> Supernet<B> {
        self.optimizer.step(self.learning_rate, net, grads)
    }

    /// Writes Adam's state (moments, step counts) to `path`.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        save_optimizer(&self.optimizer, path)
    }

    /// Restores Adam's state from `path`.
    pub(crate) fn load(&mut self, path: &Path) -> Result<()> {
        self.optimizer = load_optimizer(self.optimizer.clone(), path)?;
        Ok(())
    }
}

/// SGD with momentum on every network weight, with per-role learning-rate multipliers, the
/// poly decay, and weight decay on convolution weights (and, if configured, on batch-norm
/// parameters and biases too).
#[derive(Clone)]
pub(crate) struct WeightOptimizer {
    optimizer: ModuleOptimizer,
    weights: Vec<ParamId>,
    ranks: Vec<(ParamId, usize)>,
    groups: Vec<(ParamGroup, f64)>,
    base: f64,
    backbone: f64,
}

impl WeightOptimizer {
    pub(crate) fn new(config: &WeightOptimizerConfig, roles: &ParameterRoles) -> Self {
        let momentum = (config.momentum > 0.0).then_some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: false,
        });
        let decay =
            (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
        let mut optimizer = SgdConfig::new()
            .with_momentum(momentum.clone())
            .with_weight_decay(decay)
            .init();
        if !config.decay_norms_and_biases && !roles.no_decay.is_empty() {
            let plain = SgdConfig::new().with_momentum(momentum).build();
            optimizer =
                optimizer.with_group(ParamGroup::from_ids(roles.no_decay.clone()), plain, None);
        }
        let groups = vec![
            (
                ParamGroup::from_ids(roles.classifier_weights.clone()),
                config.classifier_weight_multiplier,
            ),
            (
                ParamGroup::from_ids(roles.classifier_biases.clone()),
                config.classifier_bias_multiplier,
            ),
            (
                ParamGroup::from_ids(roles.fusion.clone()),
                config.fusion_multiplier,
            ),
        ];
        Self {
            optimizer,
            weights: roles.weights(),
            ranks: roles.ranks.clone(),
            groups,
            base: config.learning_rate,
            backbone: config.backbone_multiplier,
        }
    }

    /// The weights' gradients from `grads`.
    pub(crate) fn gradients<M: Module>(&self, net: &M, grads: &mut Gradients) -> GradientsParams {
        GradientsParams::from_params(grads, net, &self.weights)
    }

    /// How many entries of the weights' gradients in `grads` are not finite, `[1]`, on
    /// `device` (not read back).
    pub(crate) fn non_finite(&self, grads: &GradientsParams, device: &Device) -> Tensor<1> {
        non_finite_count(grads, &self.ranks, device)
    }

    /// One step on the weights at base learning rate `base * factor`; the logits (and
    /// anything else outside the weight roles) are left untouched.
    pub(crate) fn step<M: Module>(&mut self, net: M, grads: GradientsParams, factor: f64) -> M {
        let lr = self.base * factor;
        let mut schedule = ModuleLrScheduler::new(lr * self.backbone);
        for (group, multiplier) in &self.groups {
            schedule = schedule.with_group(group.clone(), lr * multiplier);
        }
        self.optimizer.step(schedule.step(), net, grads)
    }

    /// Writes SGD's state (momentum buffers) to `path`.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        save_optimizer(&self.optimizer, path)
    }

    /// Restores SGD's state from `path`.
    pub(crate) fn load(&mut self, path: &Path) -> Result<()> {
        self.optimizer = load_optimizer(self.optimizer.clone(), path)?;
        Ok(())
    }
}

/// How many entries of the gradients in `grads` (of the parameters `ranks` lists) are not
/// finite, as a float `[1]` on `device`, summed there (the caller reads it with the step's
/// other values).
fn non_finite_count(
    grads: &GradientsParams,
    ranks: &[(ParamId, usize)],
    device: &Device,
) -> Tensor<1> {
    fn count<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1, Int>> {
        grads
            .get::<D>(id)
            .map(|g| g.is_finite().bool_not().int().sum())
    }
    let mut total: Option<Tensor<1, Int>> = None;
    for &(id, rank) in ranks {
        let bad = match rank {
            1 => count::<1>(grads, id),
            2 => count::<2>(grads, id),
            3 => count::<3>(grads, id),
            4 => count::<4>(grads, id),
            _ => None,
        };
        if let Some(bad) = bad {
            total = Some(match total {
                Some(t) => t + bad,
                None => bad,
            });
        }
    }
    match total {
        Some(total) => total.float(),
        None => Tensor::zeros([1], device),
    }
}

fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<()> {
    let bytes = optimizer.into_bytes().map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    io::write_atomic(path, &bytes)
}

fn load_optimizer(optimizer: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Connectivity, tensor_to_vec};
    use crate::branch::{SmallCnn, SmallCnnConfig};
    use crate::fusion::FusionConfig;
    use crate::rng::SeededRng;
    use crate::space::Stage;
    use crate::space::{EdgeRule, SearchSpace};
    use burn::tensor::{Device, Tensor};

    fn net() -> Supernet<SmallCnn> {
        let device = Device::flex().autodiff();
        let mut rng = SeededRng::new(0);
        let branches: Vec<SmallCnn> = (0..2)
            .map(|_| {
                SmallCnnConfig::new(2, Stage::pyramid(&[(2, 4)]), 3)
                    .init(&mut rng, &device)
                    .unwrap()
            })
            .collect();
        let space = SearchSpace::from_branches(
            &[branches[0].describe("a"), branches[1].describe("b")],
            EdgeRule::same_stage(),
        )
        .unwrap();
        // (0.5, 0.5) so source weight blocks are non-zero and the logits get gradients.
        Supernet::new(&space, branches, FusionConfig::nddr(0.5, 0.5), 0, &device).unwrap()
    }

    fn loss(net: &Supernet<SmallCnn>) -> Tensor<1> {
        let device = net.architecture.logits.device();
        let images = Tensor::<4>::from_floats(
            [[
                [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0], [2.0, 1.0, 0.0]],
                [[0.5, 0.5, -1.0], [1.0, -3.0, 2.0], [0.0, 1.0, 1.5]],
            ]],
            &device,
        );
        let images = Tensor::cat(vec![images.clone(), images.mul_scalar(-0.5)], 0);
        let weights = net
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
            .unwrap();
        let outputs = net.forward(images, &weights).unwrap();
        outputs
            .into_iter()
            .map(|o| o.powi_scalar(2).mean())
            .reduce(|a, b| a + b)
            .unwrap()
    }

    #[test]
    fn weight_step_applies_multipliers_decay_and_spares_the_logits() {
        // First SGD step with momentum buffer = d = grad + wd * w (PyTorch: the buffer starts
        // as d), so w' = w - lr * multiplier * d; parameters of rank < 2 get no decay.
        let config = WeightOptimizerConfig {
            learning_rate: 0.01,
            weight_decay: 0.1,
            ..Default::default()
        };
        let factor = 0.5;
        let net = net();
        let roles = net.parameter_roles();
        let mut grads = loss(&net).backward();
        let conv = net.branches[0].convs[0].weight.val();
        let gamma = net.branches[0].norms[0].gamma.val();
        let head_w = net.branches[1].head.classifier.weight.val();
        let head_b = net.branches[1].head.classifier.bias.as_ref().unwrap().val();
        let fusion = match net.fusions[1][1].as_ref().unwrap() {
            crate::fusion::NodeFusion::Nddr(f) => f.weight.val(),
            _ => unreachable!(),
        };
        let logits = net.architecture.logits.val();
        fn host<const D: usize>(
            w: &Tensor<D>,
            grads: &burn::tensor::Gradients,
        ) -> (Vec<f32>, Vec<f32>) {
            (
                tensor_to_vec(w.clone()).unwrap(),
                tensor_to_vec(w.grad(grads).unwrap()).unwrap(),
            )
        }
        let cases = [
            ("backbone conv", host(&conv, &grads), 1.0, true),
            ("batch-norm gamma", host(&gamma, &grads), 1.0, false),
            ("classifier weight", host(&head_w, &grads), 10.0, true),
            ("classifier bias", host(&head_b, &grads), 20.0, false),
        ];
        let expected: Vec<(&str, Vec<f32>)> = cases
            .iter()
            .map(|(name, (w, g), multiplier, decay)| {
                let lr = 0.01 * factor * multiplier;
                let wd = if *decay { 0.1 } else { 0.0 };
                let next = w
                    .iter()
                    .zip(g)
                    .map(|(w, g)| w - (lr * (g + wd * w) as f64) as f32)
                    .collect();
                (*name, next)
            })
            .collect();
        let fusion_expected: Vec<f32> = {
            let g = tensor_to_vec(fusion.grad(&grads).unwrap()).unwrap();
            tensor_to_vec(fusion.clone())
                .unwrap()
                .iter()
                .zip(&g)
                .map(|(w, g)| w - (0.01 * factor * 100.0 * (g + 0.1 * w) as f64) as f32)
                .collect()
        };
        let logits_before = tensor_to_vec(logits).unwrap();
        let mut optimizer = WeightOptimizer::new(&config, &roles);
        let gradients = optimizer.gradients(&net, &mut grads);
        let net = optimizer.step(net, gradients, factor);
        let after = [
            tensor_to_vec(net.branches[0].convs[0].weight.val()).unwrap(),
            tensor_to_vec(net.branches[0].norms[0].gamma.val()).unwrap(),
            tensor_to_vec(net.branches[1].head.classifier.weight.val()).unwrap(),
            tensor_to_vec(net.branches[1].head.classifier.bias.as_ref().unwrap().val()).unwrap(),
        ];
        for ((name, want), got) in expected.iter().zip(after) {
            for (w, g) in want.iter().zip(&got) {
                assert!((w - g).abs() < 1e-6, "{name}: {want:?} vs {got:?}");
            }
        }
        let fusion_after = match net.fusions[1][1].as_ref().unwrap() {
            crate::fusion::NodeFusion::Nddr(f) => tensor_to_vec(f.weight.val()).unwrap(),
            _ => unreachable!(),
        };
        for (w, g) in fusion_expected.iter().zip(&fusion_after) {
            assert!((w - g).abs() < 1e-6, "fusion");
        }
        assert_eq!(logits_before, net.architecture.logit_values().unwrap());
    }

    #[test]
    fn architecture_step_moves_only_the_logits_by_adam() {
        // Adam's first step: m = (1 - b1) g, v = (1 - b2) g^2, bias-corrected m / (1 - b1) = g
        // and sqrt(v / (1 - b2)) = |g|, so a parameter moves by -lr * g / (|g| + eps): about lr
        // against the gradient's sign (logits start at 0, so the coupled decay adds nothing).
        let config = ArchitectureOptimizerConfig {
            learning_rate: 0.05,
            ..Default::default()
        };
        let net = net();
        let mut grads = loss(&net).backward();
        let g = tensor_to_vec(net.architecture.logits.val().grad(&grads).unwrap()).unwrap();
        assert!(g.iter().any(|v| v.abs() > 1e-6), "{g:?}");
        let conv_before = tensor_to_vec(net.branches[0].convs[0].weight.val()).unwrap();
        let mut optimizer = ArchitectureOptimizer::new(&config, net.architecture.logits.id);
        let gradients = optimizer.gradients(&net, &mut grads);
        let net = optimizer.step(net, gradients);
        for (logit, g) in net.architecture.logit_values().unwrap().iter().zip(&g) {
            let g = *g as f64;
            let want = -0.05 * g / (g.abs() + 1e-8);
            assert!(
                (*logit as f64 - want).abs() < 1e-5,
                "{logit} vs {want} (g = {g})"
            );
        }
        assert_eq!(
            conv_before,
            tensor_to_vec(net.branches[0].convs[0].weight.val()).unwrap()
        );
    }
}
