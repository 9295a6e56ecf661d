//! The supernet: every task branch, a fusion at every node, and the architecture logits.

use std::collections::HashMap;

use crate::rng::SeededRng;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};

use crate::arch::{Architecture, ArchitectureParameters, EdgeGates};
use crate::branch::TaskBranch;
use crate::cost::NetworkCost;
use crate::fusion::{FusionConfig, NodeFusion};
use crate::resample::resize_bilinear;
use crate::space::{NodeId, ScheduleStep, SearchSpace};
use crate::{Error, Result};

/// All task branches joined by a fusion at every node that has candidate edges, with one
/// architecture logit per edge.
///
/// One forward runs the space's schedule: each task's layer on its own fused input gives the
/// node's pre-fusion feature; each fusion mixes that feature with the connectivity-weighted
/// pre-fusion features of its edges' sources (resized once per source and size, and shared by
/// every edge that needs it). Inactive edges (weight exactly 0 under a discrete connectivity)
/// are skipped. A node without candidate edges passes its feature through.
#[derive(Module, Debug)]
pub struct Supernet<B: TaskBranch> {
    /// One branch per task, in the space's task order.
    pub branches: Vec<B>,
    /// `fusions[task][layer]`: the node's fusion, `None` where the node has no candidate edge.
    pub fusions: Vec<Vec<Option<NodeFusion>>>,
    /// The architecture logits, one per candidate edge.
    pub architecture: ArchitectureParameters,
    #[module(skip)]
    space: SearchSpace,
    /// For every node (flattened), the schedule position after which its pre-fusion feature is
    /// no longer read.
    #[module(skip)]
    last_use: Vec<usize>,
    /// Whether pruned edges were dropped ([`Supernet::derive`]).
    derived: bool,
}

impl<B: TaskBranch> Supernet<B> {
    /// Joins `branches` (one per task of `space`, in its task order) with fusions built by
    /// `fusion`, whose random draws (Kaiming init) come from `seed`.
    ///
    /// # Errors
    /// A branch count different from the space's task count, a branch whose nodes differ from
    /// the space's description of its task, branches expecting different input channels, or an
    /// invalid fusion configuration.
    pub fn new(
        space: &SearchSpace,
        branches: Vec<B>,
        fusion: FusionConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if branches.len() != space.num_tasks() {
            return Err(Error::shape(
                "supernet branches",
                format!("{} (one per task: {:?})", space.num_tasks(), space.tasks()),
                branches.len().to_string(),
            ));
        }
        for (task, branch) in branches.iter().enumerate() {
            let name = &space.tasks()[task];
            let described = branch.describe(name);
            let expected: Vec<_> = space
                .nodes(task)
                .iter()
                .map(|n| (n.stage, n.channels, n.stride))
                .collect();
            let actual: Vec<_> = described
                .nodes
                .iter()
                .map(|n| (n.stage, n.channels, n.stride))
                .collect();
            if expected != actual {
                return Err(Error::shape(
                    format!("branch of task `{name}` (nodes as (stage, channels, stride))"),
                    format!("{expected:?}"),
                    format!("{actual:?}"),
                ));
            }
        }
        let input_channels = branches[0].input_channels();
        if let Some((task, b)) = branches
            .iter()
            .enumerate()
            .find(|(_, b)| b.input_channels() != input_channels)
        {
            return Err(Error::shape(
                format!("input channels of branch `{}`", space.tasks()[task]),
                format!("{input_channels} like branch `{}`", space.tasks()[0]),
                b.input_channels().to_string(),
            ));
        }
        let mut rng = SeededRng::new(seed);
        let mut fusions = Vec::with_capacity(space.num_tasks());
        for task in 0..space.num_tasks() {
            let mut row = Vec::with_capacity(space.nodes(task).len());
            for layer in 0..space.nodes(task).len() {
                row.push(fusion.init(space, NodeId::new(task, layer), &mut rng, device)?);
            }
            fusions.push(row);
        }
        let net = Self {
            branches,
            fusions,
            architecture: ArchitectureParameters::new(space.num_edges(), device),
            last_use: last_uses(space),
            space: space.clone(),
            derived: false,
        };
        Ok(canonical_ids(net))
    }

    /// The search space this supernet spans.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Whether this is a derived network ([`Supernet::derive`]).
    pub fn is_derived(&self) -> bool {
        self.derived
    }

    /// The task outputs for `images` (`[batch, channels, height, width]`) with the edges
    /// weighted by `weights`: one `[batch, outputs, h, w]` tensor per task.
    ///
    /// # Errors
    /// Images with other channels than the branches expect, or weights for another number of
    /// edges.
    pub fn forward(&self, images: Tensor<4>, weights: &EdgeGates) -> Result<Vec<Tensor<4>>> {
        let [_, channels, height, width] = images.dims();
        let expected = self.branches[0].input_channels();
        if channels != expected {
            return Err(Error::shape(
                "supernet input",
                format!("{expected} channels"),
                channels.to_string(),
            ));
        }
        let smallest = self
            .branches
            .iter()
            .map(|b| b.min_input_size())
            .max()
            .unwrap_or(1);
        if height < smallest || width < smallest {
            return Err(Error::shape(
                "supernet input",
                format!("at least {smallest} x {smallest} pixels for these branches"),
                format!("{height} x {width}"),
            ));
        }
        if weights.len() != self.space.num_edges() {
            return Err(Error::shape(
                "edge weights",
                format!("{} (one per edge)", self.space.num_edges()),
                weights.len().to_string(),
            ));
        }
        let tasks = self.space.num_tasks();
        let offsets = node_offsets(&self.space);
        let mut pre: Vec<Option<Tensor<4>>> = vec![None; *offsets.last().unwrap_or(&0)];
        let mut fused: Vec<Option<Tensor<4>>> = vec![None; tasks];
        let mut resized: HashMap<(NodeId, [usize; 2]), Tensor<4>> = HashMap::new();
        for (position, step) in self.space.schedule().iter().enumerate() {
            match *step {
                ScheduleStep::Layer(node) => {
                    let input = match node.layer {
                        0 => images.clone(),
                        _ => fused[node.task]
                            .take()
                            .ok_or_else(|| missing(node, "fused"))?,
                    };
                    let feature = self.branches[node.task].layer_forward(node.layer, input);
                    self.check_node(node, &feature, [height, width])?;
                    pre[offsets[node.task] + node.layer] = Some(feature);
                }
                ScheduleStep::Fuse(node) => {
                    let own = (pre[offsets[node.task] + node.layer].clone())
                        .ok_or_else(|| missing(node, "pre-fusion"))?;
                    let out = match &self.fusions[node.task][node.layer] {
                        None => own,
                        Some(fusion) => {
                            let [_, _, h, w] = own.dims();
                            let sources = fusion
                                .inputs()
                                .iter()
                                .map(|input| {
                                    if !weights.active[input.edge] {
                                        return None;
                                    }
                                    let source = self.space.edges()[input.edge].source;
                                    let key = (source, [h, w]);
                                    if let Some(t) = resized.get(&key) {
                                        return Some(t.clone());
                                    }
                                    let feature =
                                        pre[offsets[source.task] + source.layer].clone()?;
                                    let t = resize_bilinear(feature, [h, w], false);
                                    resized.insert(key, t.clone());
                                    Some(t)
                                })
                                .collect();
                            fusion.forward(own, sources, &weights.values)
                        }
                    };
                    fused[node.task] = Some(out);
                }
            }
            // Release pre-fusion features (and their resized copies) nobody reads any more.
            for (flat, &last) in self.last_use.iter().enumerate() {
                if last == position && pre[flat].is_some() {
                    pre[flat] = None;
                    let task = offsets.iter().rposition(|&o| o <= flat).unwrap_or(0);
                    let node = NodeId::new(task, flat - offsets[task]);
                    resized.retain(|(n, _), _| *n != node);
                }
            }
        }
        Ok(fused
            .into_iter()
            .zip(&self.branches)
            .map(|(x, branch)| branch.head_forward(x.unwrap_or_else(|| images.clone())))
            .collect())
    }

    /// The same network with gradients for the edge logits only: the architecture step's
    /// forward pass runs on it, and its backward pass then skips every weight gradient. The
    /// parameters are shared (same ids), not copied.
    pub(crate) fn logits_only(&self) -> Self {
        // Not `Module::no_grad`: on a parameter not yet materialised (burn's lazily initialised
        // batch-norm scales and shifts) it flips the flag in the initialiser that every clone
        // shares, which would freeze the original network's parameter for good. Each weight
        // here becomes a fresh parameter (same id, same values) detached from the graph.
        struct Detached;
        impl ModuleMapper for Detached {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                Param::initialized(param.id, param.val().set_require_grad(false))
            }
        }
        let mut view = self.clone().map(&mut Detached);
        view.architecture = self.architecture.clone();
        view
    }

    /// The derived network of `architecture`: logits set to the architecture's, and every
    /// fusion's pruned inputs dropped (their weight slices removed), so that the forward under
    /// [`Connectivity::Hard`](crate::arch::Connectivity::Hard) equals the supernet's with
    /// zeros for pruned edges, at a lower cost. Nodes keep their fusion even when all their
    /// edges are pruned, as in the reference.
    ///
    /// # Errors
    /// An architecture searched over a different space.
    pub fn derive(self, architecture: &Architecture) -> Result<Self> {
        architecture.check_space(&self.space)?;
        let mask = architecture.mask();
        let device = self.architecture.logits.device();
        let fusions = self
            .fusions
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|f| f.map(|f| f.prune(|edge| mask[edge])))
                    .collect()
            })
            .collect();
        let mut logits = ArchitectureParameters::from_logits(&architecture.logits(), &device);
        logits.logits.id = self.architecture.logits.id;
        Ok(Self {
            branches: self.branches,
            fusions,
            architecture: logits,
            space: self.space,
            last_use: self.last_use,
            derived: true,
        })
    }

    /// The derived network of a saved `architecture`: a supernet over the architecture's space
    /// with these `branches` (built as for the search), derived (pruned inputs dropped). Load
    /// its trained weights with [`Supernet::load_weights`].
    ///
    /// # Errors
    /// Branches that do not fit the architecture's space, or an invalid fusion.
    pub fn derived_from(
        architecture: &Architecture,
        branches: Vec<B>,
        fusion: FusionConfig,
        device: &Device,
    ) -> Result<Self> {
        Self::new(&architecture.space, branches, fusion, 0, device)?.derive(architecture)
    }

    /// What one forward pass on one `input` = `[height, width]` image costs: the branches
    /// (where they count themselves, [`TaskBranch::cost`]), the heads, every fusion over the
    /// inputs it still has (all candidate edges in a supernet, the kept ones in a derived
    /// network) and the resizes those need. A cross-stitch fusion is counted as the 1x1
    /// convolution an NDDR fusion would run (an upper bound of its scalar sum).
    ///
    /// # Errors
    /// A branch whose cost does not list one layer per node.
    pub fn cost(&self, input: [usize; 2]) -> Result<NetworkCost> {
        let mut kept = vec![false; self.space.num_edges()];
        for fusion in self.fusions.iter().flatten().flatten() {
            for input in fusion.inputs() {
                kept[input.edge] = true;
            }
        }
        let branches: Vec<_> = self.branches.iter().map(|b| b.cost(input)).collect();
        NetworkCost::of(&self.space, input, &kept, &branches)
    }

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

fn node_offsets(space: &SearchSpace) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(space.num_tasks() + 1);
    let mut total = 0;
    for task in 0..space.num_tasks() {
        offsets.push(total);
        total += space.nodes(task).len();
    }
    offsets.push(total);
    offsets
}

/// For every node, the last schedule position that reads its pre-fusion feature: its own
/// fusion, or the fusion of any target it is a source for.
fn last_uses(space: &SearchSpace) -> Vec<usize> {
    let offsets = node_offsets(space);
    let mut last = vec![0usize; *offsets.last().unwrap_or(&0)];
    for (position, step) in space.schedule().iter().enumerate() {
        if let ScheduleStep::Fuse(target) = *step {
            let own = offsets[target.task] + target.layer;
            last[own] = last[own].max(position);
            for edge in &space.edges()[space.incoming(target)] {
                let source = offsets[edge.source.task] + edge.source.layer;
                last[source] = last[source].max(position);
            }
        }
    }
    last
}

impl<B: TaskBranch> Supernet<B> {
    /// A branch's layer must give the feature its description promised: the channels exactly,
    /// and the size of an input of `input` pixels at the node's stride (rounded either way).
    fn check_node(&self, node: NodeId, feature: &Tensor<4>, input: [usize; 2]) -> Result<()> {
        let described = self.space.node(node);
        let [_, channels, h, w] = feature.dims();
        let stride = described.stride.max(1);
        let fits = |got: usize, size: usize| got == size / stride || got == size.div_ceil(stride);
        if channels != described.channels || !fits(h, input[0]) || !fits(w, input[1]) {
            return Err(Error::shape(
                format!(
                    "node {} (the branch's layer_forward({}) against its describe())",
                    self.space.node_name(node),
                    node.layer
                ),
                format!(
                    "{} channels at stride {stride}: about {} x {} for a {} x {} input",
                    described.channels,
                    input[0].div_ceil(stride),
                    input[1].div_ceil(stride),
                    input[0],
                    input[1]
                ),
                format!("{channels} channels of {h} x {w}"),
            ));
        }
        Ok(())
    }
}

/// The schedule computes every node's input before the node: a missing one is a bug.
fn missing(node: NodeId, what: &str) -> Error {
    Error::config(
        "supernet schedule",
        format!(
            "node {}:{} has no {what} feature when it needs one",
            node.task, node.layer
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Connectivity, tensor_to_vec};
    use crate::branch::{SmallCnn, SmallCnnConfig};
    use crate::rng::SeededRng;
    use crate::space::EdgeRule;
    use crate::space::Stage;

    fn branches(device: &Device, stages: Vec<(usize, usize)>, n: usize) -> Vec<SmallCnn> {
        let mut rng = SeededRng::new(1);
        (0..n)
            .map(|_| {
                SmallCnnConfig::new(3, Stage::pyramid(&stages), 2)
                    .init(&mut rng, device)
                    .unwrap()
            })
            .collect()
    }

    fn space_of(branches: &[SmallCnn], rule: EdgeRule) -> SearchSpace {
        let d: Vec<_> = branches
            .iter()
            .enumerate()
            .map(|(i, b)| b.describe(&format!("t{i}")))
            .collect();
        SearchSpace::from_branches(&d, rule).unwrap()
    }

    #[test]
    fn cross_scale_edges_resize_and_project_and_train() {
        // Stages of 4 then 8 channels at strides 1 and 2: the shallower rule joins them across
        // scales and channel counts.
        let device = Device::flex().autodiff();
        let b = branches(&device, vec![(1, 4), (1, 8)], 2);
        let space = space_of(&b, EdgeRule::shallower());
        let crossing = space
            .edges()
            .iter()
            .filter(|e| space.bridge(e).resize && !space.bridge(e).is_identity())
            .count();
        assert_eq!(space.num_edges(), 6);
        assert_eq!(crossing, 2, "t0[0] -> t1[1] and t1[0] -> t0[1]");
        let net = Supernet::new(&space, b, FusionConfig::nddr(0.5, 0.5), 0, &device).unwrap();
        let images = Tensor::<4>::ones([2, 3, 8, 8], &device);
        let weights = net
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
            .unwrap();
        let outputs = net.forward(images, &weights).unwrap();
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].dims(), [2, 2, 4, 4]);
        let loss = outputs
            .into_iter()
            .map(|o| o.sum())
            .reduce(|a, b| a + b)
            .unwrap();
        let grads = loss.backward();
        let g = tensor_to_vec(net.architecture.logits.val().grad(&grads).unwrap()).unwrap();
        assert_eq!(g.len(), 6);
        assert!(g.iter().all(|v| v.is_finite()));
        assert!(g.iter().filter(|v| v.abs() > 0.0).count() >= 4, "{g:?}");
    }

    #[test]
    fn the_logits_only_view_gives_the_same_logit_gradient_and_no_weight_gradients() {
        let device = Device::flex().autodiff();
        let b = branches(&device, vec![(1, 4), (1, 8)], 2);
        let space = space_of(&b, EdgeRule::shallower());
        let net = Supernet::new(&space, b, FusionConfig::nddr(0.5, 0.5), 0, &device).unwrap();
        let images = Tensor::<4>::random(
            [2, 3, 8, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let gradients = |network: &Supernet<SmallCnn>| {
            let weights = network
                .architecture
                .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
                .unwrap();
            let loss = network
                .forward(images.clone(), &weights)
                .unwrap()
                .into_iter()
                .map(|o| (o.clone() * o).sum())
                .reduce(|a, b| a + b)
                .unwrap();
            let grads = loss.backward();
            let logits = network.architecture.logits.val().grad(&grads).unwrap();
            let fusion_weight = match network.fusions[1][1].as_ref().unwrap() {
                NodeFusion::Nddr(f) => f.weight.val().grad(&grads),
                NodeFusion::CrossStitch(_) => unreachable!(),
            };
            (tensor_to_vec(logits).unwrap(), fusion_weight.is_some())
        };
        // The view is made first, while the batch norms' parameters are still lazy: the
        // original network must keep training them afterwards.
        let view_net = net.logits_only();
        let (view, view_has_weight_gradient) = gradients(&view_net);
        let (full, full_has_weight_gradient) = gradients(&net);
        assert!(full_has_weight_gradient && !view_has_weight_gradient);
        assert!(full.iter().any(|g| *g != 0.0));
        // Bit for bit: the same operations reach the logits either way.
        assert_eq!(full, view);
        let weights = net
            .architecture
            .connectivity(Connectivity::Sigmoid, &mut SeededRng::new(0))
            .unwrap();
        let loss = net.forward(images, &weights).unwrap()[1].clone().sum();
        let grads = loss.backward();
        let NodeFusion::Nddr(fusion) = net.fusions[1][1].as_ref().unwrap() else {
            unreachable!()
        };
        assert!(
            fusion.norm.gamma.val().grad(&grads).is_some(),
            "the original network's batch-norm scale lost its gradient"
        );
    }

    #[test]
    fn hard_connectivity_skips_pruned_edges_and_matches_zero_weights() {
        let device = Device::flex();
        let b = branches(&device, vec![(2, 4)], 2);
        let space = space_of(&b, EdgeRule::same_stage());
        let net = Supernet::new(&space, b, FusionConfig::nddr(0.6, 0.4), 0, &device).unwrap();
        let images =
            Tensor::<4>::random([1, 3, 6, 6], burn::tensor::Distribution::Default, &device);
        let mask = [true, false, true, false, true, true];
        let skipped = net
            .forward(images.clone(), &EdgeGates::from_mask(&mask, &device))
            .unwrap();
        let zeros = EdgeGates {
            active: vec![true; 6],
            ..EdgeGates::from_mask(&mask, &device)
        };
        let multiplied = net.forward(images, &zeros).unwrap();
        for (a, b) in skipped.into_iter().zip(multiplied) {
            for (x, y) in tensor_to_vec(a)
                .unwrap()
                .iter()
                .zip(tensor_to_vec(b).unwrap())
            {
                assert!((x - y).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn mismatches_are_errors_not_panics() {
        let device = Device::flex();
        let b = branches(&device, vec![(2, 4)], 2);
        let space = space_of(&b, EdgeRule::same_stage());
        let other = branches(&device, vec![(3, 4)], 2);
        let err = Supernet::new(&space, other, FusionConfig::nddr(1.0, 0.0), 0, &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("branch of task `t0`"), "{err}");
        let one = branches(&device, vec![(2, 4)], 1);
        assert!(Supernet::new(&space, one, FusionConfig::nddr(1.0, 0.0), 0, &device).is_err());
        let net = Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap();
        let weights = EdgeGates::from_mask(&[true; 6], &device);
        let err = net
            .forward(Tensor::zeros([1, 2, 4, 4], &device), &weights)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("supernet input") && err.contains("3 channels"),
            "{err}"
        );
        let short = EdgeGates::from_mask(&[true; 5], &device);
        assert!(
            net.forward(Tensor::zeros([1, 3, 4, 4], &device), &short)
                .is_err()
        );
    }

    #[test]
    fn networks_built_alike_share_parameter_ids() {
        let device = Device::flex();
        let build = || {
            let b = branches(&device, vec![(2, 4)], 2);
            let space = space_of(&b, EdgeRule::same_stage());
            Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap()
        };
        let (a, b) = (build().parameter_roles(), build().parameter_roles());
        assert_eq!(a.weights(), b.weights());
        assert_eq!(a.architecture, b.architecture);
        let unique: std::collections::HashSet<_> = a.weights().into_iter().collect();
        assert_eq!(unique.len(), a.weights().len());
    }

    #[test]
    fn parameter_roles_cover_every_trainable_tensor_once() {
        let device = Device::flex();
        let b = branches(&device, vec![(2, 4)], 2);
        let space = space_of(&b, EdgeRule::same_stage());
        let net = Supernet::new(&space, b, FusionConfig::nddr(1.0, 0.0), 0, &device).unwrap();
        let roles = net.parameter_roles();
        // Per branch: 2 convs + 2 x (gamma, beta) + head weight + head bias = 8; per fusion
        // (4 nodes): weight + gamma + beta = 3.
        assert_eq!(roles.backbone.len(), 2 * 6);
        assert_eq!(roles.classifier_weights.len(), 2);
        assert_eq!(roles.classifier_biases.len(), 2);
        assert_eq!(roles.fusion.len(), 4 * 3);
        let all = roles.weights();
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        assert!(!all.contains(&roles.architecture));
        // No decay on the 1-D tensors: 2 x (4 gammas/betas + 1 bias) + 4 x 2 fusion BN.
        assert_eq!(roles.no_decay.len(), 2 * 5 + 4 * 2);
    }
}
