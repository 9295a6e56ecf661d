//! The crate's one error type.

use std::path::PathBuf;

/// Everything a user of this crate can get wrong, and every file that can fail to read or write.
///
/// Each variant names what was wrong and where (which task, node, edge, file or field), so a
/// message is enough to fix the input without reading the crate's code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A search space needs at least two tasks (edges join different tasks).
    #[error("a search space needs at least two task branches, got {0}")]
    TooFewTasks(usize),
    /// Two branches describe the same task name.
    #[error("task name `{0}` is used by more than one branch")]
    DuplicateTask(String),
    /// A branch description is unusable (empty name, no nodes, zero channels or stride).
    #[error("branch `{task}`: {reason}")]
    InvalidBranch {
        /// The task whose branch description is wrong.
        task: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An edge rule's parameters are unusable.
    #[error("edge rule: {0}")]
    InvalidRule(String),
    /// An edge cannot exist in the space (wrong task, missing node, cycle, duplicate).
    #[error("edge {edge}: {reason}")]
    InvalidEdge {
        /// The edge, written `source -> target` with task names and layers.
        edge: String,
        /// Why it cannot exist.
        reason: String,
    },
    /// The rule connects no pair of nodes: there is nothing to search.
    #[error("the edge rule connects no node of one task to a node of another: nothing to search")]
    NoEdges,
    /// A configuration value is out of its valid range.
    #[error("configuration field `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field, with its path (e.g. `weights.base_learning_rate`).
        field: String,
        /// What was expected.
        reason: String,
    },
    /// Tensors, modules or lists whose shapes or lengths do not fit together.
    #[error("shape mismatch in {context}: expected {expected}, got {actual}")]
    Shape {
        /// Where the mismatch was found (e.g. `fusion of seg layer 3`).
        context: String,
        /// What was expected.
        expected: String,
        /// What was found.
        actual: String,
    },
    /// A loaded architecture does not belong to the search space it is applied to.
    #[error("architecture does not match the search space: {0}")]
    ArchitectureMismatch(String),
    /// A loss or gradient became NaN or infinite.
    #[error("non-finite {what} at iteration {iteration} during the {phase} step (task `{task}`)")]
    NonFinite {
        /// `loss` or `gradient`.
        what: String,
        /// The search iteration (0-based).
        iteration: usize,
        /// `architecture` or `weight`.
        phase: String,
        /// The task whose loss was not finite (or `all` for a total).
        task: String,
    },
    /// A checkpoint cannot provide a tensor a module needs.
    #[error("{path}: tensor `{key}`: {reason}")]
    Weights {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the checkpoint (after remapping).
        key: String,
        /// What is wrong (missing, shape, dtype).
        reason: String,
    },
    /// A checkpoint file cannot be read at all.
    #[error("{path}: cannot read checkpoint: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The compute device failed (a tensor could not be read back to the host).
    #[error("device: {0}")]
    Device(String),
    /// A dataset cannot provide what was asked for.
    #[error("dataset: {0}")]
    Dataset(String),
    /// A folder to write into cannot be created.
    #[error("{path}: cannot create the folder: {source}")]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid setting: which `field`, and why (for a user's own branch, task or problem
    /// too).
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A tensor or target of the wrong shape: where (`context`), what was `expected`, and
    /// what came (`actual`).
    pub fn shape(
        context: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Error::Shape {
            context: context.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }
}
