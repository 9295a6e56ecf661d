//! Search checkpoints on disk: everything needed to continue a search exactly.
//!
//! A checkpoint is a folder `checkpoint-{iteration:08}` holding `weights.bpk` (every network
//! weight, batch-norm statistic and logit), `architecture-optimizer.bpk` and
//! `weight-optimizer.bpk` (Adam's and SGD's state), and `state.json` (the iteration, the data
//! order and split, every generator's state, the log so far, the configuration and the search
//! space). It is written into a temporary folder first and renamed into place, so a process
//! killed at any moment leaves the previous complete checkpoint as the latest.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{IterationLog, SearchConfig};
use crate::data::EpochSplit;
use crate::rng::SeededRng;
use crate::space::SearchSpace;
use crate::{Error, Result, io};

/// Marks the format of `state.json`.
const FORMAT: &str = "mtl-nas search checkpoint v1";

/// The search's progress that is not in the network or the optimisers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LoopState {
    /// The next iteration to run.
    pub iteration: usize,
    /// The data order and the train/search split.
    pub split: EpochSplit,
    /// The augmentation generator.
    pub augment: SeededRng,
    /// The connectivity-noise generator.
    pub noise: SeededRng,
    /// The log so far.
    pub history: Vec<IterationLog>,
    /// Batches skipped for non-finite losses or gradients.
    pub skipped_batches: usize,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: String,
    config: SearchConfig,
    space: SearchSpace,
    state: LoopState,
}

/// The files of one checkpoint.
pub(crate) struct CheckpointFiles {
    /// Its folder.
    pub folder: PathBuf,
}

impl CheckpointFiles {
    pub(crate) fn weights(&self) -> PathBuf {
        self.folder.join("weights.bpk")
    }
    pub(crate) fn architecture_optimizer(&self) -> PathBuf {
        self.folder.join("architecture-optimizer.bpk")
    }
    pub(crate) fn weight_optimizer(&self) -> PathBuf {
        self.folder.join("weight-optimizer.bpk")
    }
    fn state(&self) -> PathBuf {
        self.folder.join("state.json")
    }
}

fn name(iteration: usize) -> String {
    format!("checkpoint-{iteration:08}")
}

/// Writes a checkpoint of `state` into `dir`: `write_tensors` fills the temporary folder
/// (weights and optimisers), then `state.json` is written and the folder renamed into place.
/// Keeps the newest `keep` checkpoints (at least one) and removes older ones.
pub(crate) fn write(
    dir: &Path,
    keep: usize,
    config: &SearchConfig,
    space: &SearchSpace,
    state: &LoopState,
    write_tensors: impl FnOnce(&CheckpointFiles) -> Result<()>,
) -> Result<PathBuf> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    // Temporary folders of writes that a killed process left behind are garbage.
    for entry in fs::read_dir(dir).map_err(io_error(dir))?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".checkpoint-")
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let final_folder = dir.join(name(state.iteration));
    let temporary = dir.join(format!(
        ".{}.tmp-{}",
        name(state.iteration),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&temporary);
    fs::create_dir_all(&temporary).map_err(io_error(&temporary))?;
    let files = CheckpointFiles {
        folder: temporary.clone(),
    };
    write_tensors(&files)?;
    io::write_json(
        &files.state(),
        &StateFile {
            format: FORMAT.into(),
            config: config.clone(),
            space: space.clone(),
            state: state.clone(),
        },
    )?;
    // Make the files durable before the rename publishes them.
    for entry in fs::read_dir(&temporary)
        .map_err(io_error(&temporary))?
        .flatten()
    {
        if let Ok(file) = fs::File::open(entry.path()) {
            let _ = file.sync_all();
        }
    }
    let _ = fs::remove_dir_all(&final_folder);
    fs::rename(&temporary, &final_folder).map_err(io_error(&final_folder))?;
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    let mut all = list(dir)?;
    while all.len() > keep.max(1) {
        let (_, oldest) = all.remove(0);
        let _ = fs::remove_dir_all(oldest);
    }
    Ok(final_folder)
}

/// The complete checkpoints in `dir`, oldest first, with their iterations. Temporary folders
/// of interrupted writes are ignored.
pub fn list(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found: Vec<(usize, PathBuf)> = fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let iteration = name.strip_prefix("checkpoint-")?.parse().ok()?;
            entry
                .path()
                .join("state.json")
                .is_file()
                .then(|| (iteration, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Reads the state of the checkpoint in `folder` and checks it belongs to a search with
/// `config` over `space`.
pub(crate) fn read(
    folder: &Path,
    config: &SearchConfig,
    space: &SearchSpace,
) -> Result<(CheckpointFiles, LoopState)> {
    let files = CheckpointFiles {
        folder: folder.to_path_buf(),
    };
    let file: StateFile = io::read_json(&files.state())?;
    let mismatch = |what: &str| {
        Error::config(
            "resume",
            format!(
                "{} was written by a search with another {what}; resume with the same one",
                folder.display()
            ),
        )
    };
    if file.format != FORMAT {
        return Err(Error::config(
            "resume",
            format!(
                "{}: unknown checkpoint format {:?}",
                folder.display(),
                file.format
            ),
        ));
    }
    if file.config != *config {
        return Err(mismatch("configuration"));
    }
    let saved = file.space.rebuild()?;
    if saved != *space {
        return Err(mismatch("search space"));
    }
    Ok((files, file.state))
}
