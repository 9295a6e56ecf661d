//! # mtl-nas
//!
//! Multi-task neural architecture search (MTL-NAS, Gao et al., CVPR 2020) on
//! [burn](https://burn.dev). Describe one network ("branch") per task; the search space puts a
//! candidate [`FusionEdge`](space::FusionEdge) from nodes of every task into nodes of every
//! other task; NDDR fusion at every node mixes a node's own feature with its edges' sources;
//! one logit per edge, trained with a minimal-entropy regulariser, decides which edges stay.
//! The searched network is evaluated as it is, without retraining.
//!
//! ```
//! use mtl_nas::prelude::*;
//!
//! # fn main() -> mtl_nas::Result<()> {
//! let device = Device::flex().autodiff();
//! let mut rng = SeededRng::new(0);
//! // Two tasks; each branch sees one channel of a 2-channel image (its own "modality").
//! let branch = |t: usize, rng: &mut SeededRng| {
//!     SmallCnnConfig::new(2, Stage::pyramid(&[(2, 8)]), 1).with_input_view(t, 1).init(rng, &device)
//! };
//! let branches = vec![branch(0, &mut rng)?, branch(1, &mut rng)?];
//! let space = SearchSpace::from_branches(
//!     &[branches[0].describe("a"), branches[1].describe("b")],
//!     EdgeRule::same_stage(),
//! )?;
//! let net = Supernet::new(&space, branches, FusionConfig::nddr(1.0, 0.0), 0, &device)?;
//! let tasks: Vec<Box<dyn Task>> = vec![
//!     Box::new(DenseRegression::new("a", 1, RegressionLoss::L2)),
//!     Box::new(DenseRegression::new("b", 1, RegressionLoss::L2)),
//! ];
//! // Both tasks must reproduce channel 0, which only branch `a` sees.
//! let data = CrossModalCopy::new(2, 8, 32, 1).generate()?;
//! // The recipe for small problems trained from scratch, for 5 steps.
//! let outcome = Search::new(SearchConfig::short(5)).run(net, &tasks, &data)?;
//! println!("{}", outcome.architecture); // which edges were kept, with their logits
//! let losses = evaluate_losses(&outcome.network, &tasks, &data, Connectivity::Hard, 16, 0)?;
//! assert_eq!(losses.len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! ## Layout
//! - [`space`]: nodes, candidate edges, edge rules (pure data, serde).
//! - [`arch`]: one logit per edge, connectivity relaxations, the entropy and L1 regularisers,
//!   and the discrete [`Architecture`](arch::Architecture).
//! - [`fusion`]: NDDR and cross-stitch fusion and their initialisations.
//! - [`branch`]: task networks that describe their nodes ([`TaskBranch`](branch::TaskBranch)).
//! - [`net`]: the [`Supernet`](net::Supernet) and the derived network.
//! - [`cost`]: MACs and parameters of a network, split into branches, heads, fusions and
//!   resizes; the per-edge costs of the cost-aware search.
//! - [`task`]: task losses. [`data`]: samples, batches, datasets (synthetic scenes, NYUv2,
//!   Taskonomy, MultiFashion), the train/search split.
//! - [`search`]: the configuration, the alternating search, checkpoints, evaluation, the
//!   constant baseline, the cost sweep.
//! - [`train`]: training a network of fixed structure (the baselines).
//! - [`metrics`]: per-task metrics over a test set and the multi-task Delta.
//! - [`report`]: results tables, their summary over seeds, the plots, the architecture's
//!   pictures (SVG, DOT).
//! - [`experiment`]: the main job end to end (every method on every seed), the ablations,
//!   progress display; any [`Problem`](experiment::Problem) through
//!   [`RunSettings`](experiment::RunSettings).
//! - Low level, used by the rest: [`resample`] (bilinear resizing with a backward on every
//!   backend), [`init`] (seeded initialisers), [`rng`] (the seeded generator), [`io`] (atomic
//!   writes), [`device`] (a compute device by name). [`prelude`]: the common imports.
//!
//! Every default follows the authors' PyTorch reference implementation (bhpfelix/MTLNAS)
//! unless its documentation says otherwise, and says why.
#![warn(missing_docs)]

// The README's code blocks compile as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod arch;
pub mod branch;
pub mod cost;
pub mod data;
pub mod device;
mod error;
pub mod experiment;
pub mod fusion;
pub mod init;
pub mod io;
pub mod metrics;
pub mod net;
pub mod prelude;
pub mod report;
pub mod resample;
pub mod rng;
pub mod search;
pub mod space;
pub mod task;
pub mod train;

pub use error::{Error, Result};

/// burn, at the exact version this crate is built on (0.22.1): implement
/// [`TaskBranch`](branch::TaskBranch) with `mtl_nas::burn::...` and no burn dependency of
/// your own to keep in step.
pub use burn;
