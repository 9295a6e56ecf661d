//! The types most programs use: `use mtl_nas::prelude::*;`.

pub use crate::arch::{Architecture, ArchitectureParameters, Connectivity, EdgeWeights};
pub use crate::branch::{
    ResNet, ResNetConfig, ResNetDepth, SmallCnn, SmallCnnConfig, TaskBranch, Vgg16LargeFov,
    Vgg16LargeFovConfig,
};
pub use crate::cost::{CostSummary, EdgeCostKind, NetworkCost};
pub use crate::data::{
    Augmentation, CrossModalCopy, Image, InMemoryDataset, MultiTaskBatch, MultiTaskDataset,
    MultiTaskSample, Target, TargetData,
};
pub use crate::experiment::{Experiment, Progress};
pub use crate::fusion::{FusionConfig, FusionInit, FusionKind};
pub use crate::metrics::{
    DeltaConvention, Metric, MetricAccumulator, TaskMetrics, multi_task_delta,
};
pub use crate::net::{MultiTaskNetwork, Supernet};
pub use crate::rng::SeededRng;
pub use crate::search::{
    CostPenalty, EntropySchedule, Evaluation, IterationLog, Search, SearchConfig, SearchOutcome,
    evaluate, evaluate_losses, evaluate_network,
};
pub use crate::space::{
    BranchDescription, EdgeRule, FusionEdge, NodeDescription, NodeId, SearchSpace, TaskNode,
};
pub use crate::task::{
    DenseRegression, Depth, DepthLoss, RegressionLoss, Segmentation, SurfaceNormals, Task,
};
pub use crate::{Error, Result};
pub use burn::tensor::Device;
