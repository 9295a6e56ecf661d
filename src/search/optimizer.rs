//! The two optimisers of the alternating search: Adam on the logits, SGD on the weights.

use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::{ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::Gradients;

use super::config::{ArchitectureOptimizerConfig, WeightOptimizerConfig};
use crate::branch::TaskBranch;
use crate::net::{ParameterRoles, Supernet};

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

    /// One step on the logits from `grads`; every other parameter is left untouched.
    pub(crate) fn step<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        grads: &mut Gradients,
    ) -> Supernet<B> {
        let grads = GradientsParams::from_params(grads, &net, &[self.logits]);
        self.optimizer.step(self.learning_rate, net, grads)
    }
}

/// SGD with momentum on every network weight, with per-role learning-rate multipliers, the
/// poly decay, and weight decay on convolution weights (and, if configured, on batch-norm
/// parameters and biases too).
#[derive(Clone)]
pub(crate) struct WeightOptimizer {
    optimizer: ModuleOptimizer,
    weights: Vec<ParamId>,
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
            groups,
            base: config.learning_rate,
            backbone: config.backbone_multiplier,
        }
    }

    /// One step on the weights from `grads` at base learning rate `base * factor`; the logits
    /// are left untouched.
    pub(crate) fn step<B: TaskBranch>(
        &mut self,
        net: Supernet<B>,
        grads: &mut Gradients,
        factor: f64,
    ) -> Supernet<B> {
        let lr = self.base * factor;
        let mut schedule = ModuleLrScheduler::new(lr * self.backbone);
        for (group, multiplier) in &self.groups {
            schedule = schedule.with_group(group.clone(), lr * multiplier);
        }
        let grads = GradientsParams::from_params(grads, &net, &self.weights);
        self.optimizer.step(schedule.step(), net, grads)
    }
}
