//! The supernet's parameters by role (branches, classifiers, fusions, logits) for the
//! optimisers, and ids derived from each parameter's path so that resumed runs match.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use super::Supernet;
use crate::branch::TaskBranch;

impl<B: TaskBranch> Supernet<B> {
    /// The supernet's parameters by role, for per-group learning rates and weight decay.
    pub fn parameter_roles(&self) -> ParameterRoles {
        let mut roles = ParameterRoles {
            architecture: self.architecture.logits.id,
            ..Default::default()
        };
        for branch in &self.branches {
            let (weights, biases) = branch.classifier_parameters();
            for (id, rank) in collect_parameters(branch) {
                roles.ranks.push((id, rank));
                if weights.contains(&id) {
                    roles.classifier_weights.push(id);
                } else if biases.contains(&id) {
                    roles.classifier_biases.push(id);
                } else {
                    roles.backbone.push(id);
                }
                if rank < 2 {
                    roles.no_decay.push(id);
                }
            }
        }
        for row in &self.fusions {
            for (id, rank) in row.iter().flat_map(collect_parameters) {
                roles.ranks.push((id, rank));
                roles.fusion.push(id);
                if rank < 2 {
                    roles.no_decay.push(id);
                }
            }
        }
        roles
    }
}

/// Gives every parameter an id derived from its path in `module` (FNV-1a of the dotted path),
/// so two networks built the same way share their ids: optimiser state saved from one (keyed
/// by id) applies to the other, which is what resuming a search needs.
pub(crate) fn canonical_ids<M: Module>(module: M) -> M {
    struct Canonical {
        path: Vec<String>,
    }
    impl ModuleMapper for Canonical {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for byte in self.path.join(".").bytes() {
                hash ^= byte as u64;
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            param.id = ParamId::from(hash);
            param
        }
    }
    module.map(&mut Canonical { path: Vec::new() })
}

/// The trainable parameters of a supernet sorted by what they are.
#[derive(Clone, Debug, Default)]
pub struct ParameterRoles {
    /// Branch layers other than the last classifier.
    pub backbone: Vec<ParamId>,
    /// The last classifier's weights.
    pub classifier_weights: Vec<ParamId>,
    /// The last classifier's biases.
    pub classifier_biases: Vec<ParamId>,
    /// Fusion weights and batch norms.
    pub fusion: Vec<ParamId>,
    /// The architecture logits.
    pub architecture: ParamId,
    /// Parameters of rank below 2 (biases, batch-norm scales and shifts): no weight decay.
    pub no_decay: Vec<ParamId>,
    /// Every weight with its tensor rank (for gradient checks).
    pub ranks: Vec<(ParamId, usize)>,
}

impl ParameterRoles {
    /// Every network weight (all roles but the architecture logits).
    pub fn weights(&self) -> Vec<ParamId> {
        let mut all = self.backbone.clone();
        all.extend(&self.classifier_weights);
        all.extend(&self.classifier_biases);
        all.extend(&self.fusion);
        all
    }
}

pub(crate) fn collect_parameters<M: Module>(module: &M) -> Vec<(ParamId, usize)> {
    /// Collects float parameters, skipping batch-norm running statistics: burn visits those as
    /// float parameters too, under the field names `running_mean` and `running_var`.
    struct Collect {
        found: Vec<(ParamId, usize)>,
        path: Vec<String>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let running = self
                .path
                .last()
                .is_some_and(|name| name.starts_with("running_"));
            if !running {
                self.found.push((param.id, D));
            }
        }
    }
    let mut collect = Collect {
        found: Vec::new(),
        path: Vec::new(),
    };
    module.visit(&mut collect);
    collect.found
}
