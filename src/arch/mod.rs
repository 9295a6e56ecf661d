//! Architecture parameters: one logit per candidate edge, the relaxations that turn logits into
//! connectivity weights, the minimal-entropy and L1 regularisers, and the discrete
//! [`Architecture`] a search ends with.

mod architecture;
mod connectivity;
mod regularizer;

pub use architecture::{Architecture, CostedArchitecture, EdgeDecision};
pub use connectivity::{ArchitectureParameters, Connectivity, EdgeGates};

pub use regularizer::{PairAverage, cost_penalty, edge_entropy, entropy, l1};

pub(crate) use connectivity::{sigmoid_scalar, tensor_to_vec};
