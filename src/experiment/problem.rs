//! [`Problem`]: what the runner needs to know about a multi-task problem, whatever its
//! branches, tasks and data.

use burn::tensor::Device;

use super::{Event, RunSettings};
use crate::branch::TaskBranch;
use crate::data::{MultiTaskDataset, check_samples};
use crate::fusion::FusionConfig;
use crate::net::Supernet;
use crate::rng::SeededRng;
use crate::space::SearchSpace;
use crate::task::Task;
use crate::{Error, Result};

/// A multi-task problem every method of a run ([`RunSettings::run`]) can be run on: its tasks,
/// its data, and fresh branches for each seed.
///
/// ```no_run
/// use mtl_nas::data::{SceneConfig, SyntheticScenes};
/// use mtl_nas::prelude::*;
///
/// struct Scenes;
///
/// impl Problem for Scenes {
///     type Branch = SmallCnn;
///     fn tasks(&self) -> Vec<Box<dyn Task>> {
///         vec![Box::new(Segmentation::new("seg", 7)), Box::new(SurfaceNormals::new("normal"))]
///     }
///     fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
///         let scenes = |count, seed| SyntheticScenes::new(SceneConfig::new(count, 24, 32, seed));
///         Ok((Box::new(scenes(300, 1)?), Box::new(scenes(100, 2)?)))
///     }
///     fn branches(&self, rng: &mut SeededRng, device: &Device) -> Result<Vec<SmallCnn>> {
///         let stages = Stage::pyramid(&[(2, 16), (2, 32)]);
///         let mut branch = |outputs| SmallCnnConfig::new(3, stages.clone(), outputs).init(rng, device);
///         Ok(vec![branch(7)?, branch(3)?])
///     }
/// }
/// ```
pub trait Problem {
    /// The branch every task runs on.
    type Branch: TaskBranch;

    /// The tasks, in branch order; each task's name names its branch in the search space.
    fn tasks(&self) -> Vec<Box<dyn Task>>;

    /// The training set (split each epoch between weight and architecture steps) and the test
    /// set, loaded once per run.
    ///
    /// # Errors
    /// Data that cannot be loaded.
    fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)>;

    /// Fresh branches, one per task in task order, every weight drawn from `rng` (seeded by
    /// the runner for each seed, so every method of a seed starts from the same weights; see
    /// [`crate::init`] for seeded initialisers).
    ///
    /// # Errors
    /// A branch that cannot be built.
    fn branches(&self, rng: &mut SeededRng, device: &Device) -> Result<Vec<Self::Branch>>;
}

pub(super) use crate::task::task_names;

/// The branches of seed number `index` (drawn from `settings.seed + index`), one per task.
pub(super) fn branches_for_seed<P: Problem>(
    problem: &P,
    settings: &RunSettings,
    tasks: &[Box<dyn Task>],
    device: &Device,
    index: usize,
) -> Result<Vec<P::Branch>> {
    let mut rng = SeededRng::new(settings.seed.wrapping_add(index as u64));
    let branches = problem.branches(&mut rng, device)?;
    if branches.len() != tasks.len() {
        return Err(Error::config(
            "branches",
            format!(
                "the problem gave {} branches for {} tasks: one per task is needed",
                branches.len(),
                tasks.len()
            ),
        ));
    }
    Ok(branches)
}

/// The supernet of seed number `index` with `fusion` at every node.
pub(super) fn supernet<P: Problem>(
    problem: &P,
    settings: &RunSettings,
    tasks: &[Box<dyn Task>],
    device: &Device,
    index: usize,
    fusion: FusionConfig,
) -> Result<Supernet<P::Branch>> {
    let branches = branches_for_seed(problem, settings, tasks, device, index)?;
    let described: Vec<_> = (branches.iter().zip(task_names(tasks)))
        .map(|(b, n)| b.describe(n))
        .collect();
    let space = SearchSpace::from_branches(&described, settings.rule.clone())?;
    let seed = settings.seed.wrapping_add(index as u64);
    Supernet::new(&space, branches, fusion, seed, device)
}

/// The problem's training and test sets, every sample of both decoded and checked first
/// ([`check_samples`]): a bad file is reported before the first step, with every other bad
/// file, instead of after the search.
pub(super) fn checked_datasets<P: Problem>(
    problem: &P,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
    let (train, test) = problem.datasets()?;
    for (set, data) in [("training set", &*train), ("test set", &*test)] {
        events(Event::Stage(&format!("checking the {set}")));
        check_samples(data, set, |done, total| {
            events(Event::Check { done, total })
        })?;
    }
    Ok((train, test))
}
