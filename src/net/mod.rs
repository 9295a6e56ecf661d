//! Networks assembled from branches and fusions: the [`Supernet`] searched over, and the
//! derived network it yields.

mod supernet;
mod weights;

pub use supernet::{ParameterRoles, Supernet};
