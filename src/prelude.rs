//! The types most programs use: `use mtl_nas::prelude::*;`.
//!
//! It carries what implementing a [`TaskBranch`] takes from burn ([`Module`], its derive,
//! [`Tensor`], [`ParamId`]); burn's layers are under `mtl_nas::burn::nn`. `#[derive(Module)]`
//! expands to `burn::...` paths, so a crate without a burn dependency of its own adds
//! `use mtl_nas::burn;` beside the prelude.

pub use crate::arch::{Architecture, ArchitectureParameters, Connectivity, EdgeGates};
pub use crate::branch::{
    ResNet, ResNetConfig, ResNetDepth, SmallCnn, SmallCnnConfig, TaskBranch, Vgg16LargeFov,
    Vgg16LargeFovConfig,
};
pub use crate::cost::{CostSummary, EdgeCostKind, NetworkCost};
pub use crate::data::{
    Augmentation, CrossModalCopy, Image, InMemoryDataset, MultiTaskBatch, MultiTaskDataset,
    MultiTaskSample, Target, TargetData,
};
pub use crate::experiment::{Experiment, ExperimentReport, Problem, Progress, RunSettings};
pub use crate::fusion::{FusionConfig, FusionInit, FusionKind};
pub use crate::metrics::{
    DeltaConvention, MeanLoss, Metric, MetricAccumulator, TaskMetrics, multi_task_delta,
};
pub use crate::net::{MultiTaskNetwork, Supernet};
pub use crate::rng::SeededRng;
pub use crate::search::{
    CostPenalty, EntropySchedule, Evaluation, IterationLog, Search, SearchConfig, SearchOutcome,
    StepStatus, evaluate, evaluate_losses, evaluate_network,
};
pub use crate::space::{
    BranchDescription, EdgeRule, FusionEdge, NodeDescription, NodeId, SearchSpace, Stage, TaskNode,
};
pub use crate::task::{
    DenseRegression, Depth, DepthLoss, RegressionLoss, Segmentation, SurfaceNormals, Task,
    resize_to_target,
};
pub use crate::{Error, Result};
pub use burn::module::{Module, ParamId};
pub use burn::tensor::{Device, Tensor};
