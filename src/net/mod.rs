//! Networks assembled from branches and fusions: the [`Supernet`] searched over, the derived
//! network it yields, and the baselines built from the same parts.

pub mod baselines;
mod supernet;
mod weights;

pub use baselines::{Baseline, SharedTrunk};
pub(crate) use supernet::collect_parameters;
pub use supernet::{ParameterRoles, Supernet};

use burn::module::{Module, ModuleDisplay};
use burn::tensor::Tensor;

use crate::Result;

/// A trained multi-task network with fixed structure: images in, one output per task out.
/// Baselines and derived networks alike, so they train and evaluate the same way.
pub trait MultiTaskNetwork: Module + ModuleDisplay {
    /// One output `[batch, outputs, h, w]` per task for `images` `[batch, channels, height,
    /// width]`.
    ///
    /// # Errors
    /// Images the network cannot take (channels, size).
    fn task_outputs(&self, images: Tensor<4>) -> Result<Vec<Tensor<4>>>;

    /// The parameters by role, for the weight optimiser's groups.
    fn parameter_roles(&self) -> ParameterRoles;
}
