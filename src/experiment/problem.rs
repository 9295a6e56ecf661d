//! [`Problem`]: what the runner needs to know about a multi-task problem, whatever its
//! branches, tasks and data.

use burn::tensor::Device;

use super::{Event, RunSettings};
use crate::branch::TaskBranch;
use crate::data::{MultiTaskDataset, check_samples};
use crate::fusion::FusionConfig;
use crate::net::{Supernet, baselines};
use crate::rng::SeededRng;
use crate::space::SearchSpace;
use crate::task::Task;
use crate::train::{TrainConfig, train};
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

/// Where every method of seed number `index` starts: the problem's fresh branches of that
/// seed or, with [`RunSettings::start_from_single_task`], those branches after one budget of
/// single-task training.
pub(super) struct SeedStart<B> {
    /// The seed's number (0 for the first).
    pub index: usize,
    /// The single-task branches every method starts from, if pre-trained.
    pretrained: Option<Vec<B>>,
}

impl<B: TaskBranch> SeedStart<B> {
    /// Seed number `index`'s start; with [`RunSettings::start_from_single_task`], its fresh
    /// branches are trained first as single-task branches on `train_set` with the seed's budget.
    pub fn new<P: Problem<Branch = B>>(
        problem: &P,
        settings: &RunSettings,
        tasks: &[Box<dyn Task>],
        train_set: &dyn MultiTaskDataset,
        device: &Device,
        index: usize,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Self> {
        let pretrained = match settings.start_from_single_task {
            false => None,
            true => {
                let seed = settings.seed.wrapping_add(index as u64);
                events(Event::Stage(&format!("{PRETRAINING} (seed {seed})")));
                let branches = branches_for_seed(problem, settings, tasks, device, index)?;
                let net = baselines::single_task(branches, &task_names(tasks), device)?;
                let config = TrainConfig::from(&settings.search_for_seed(index));
                let trained = train(net, tasks, train_set, &config, |log| {
                    events(Event::Train(log))
                })?;
                Some(trained.network.branches)
            }
        };
        Ok(Self { index, pretrained })
    }

    /// The branches a method of this seed starts from: independent copies of the pre-trained
    /// ones (weights and batch-norm statistics), or the problem's fresh branches of the seed.
    ///
    /// # Errors
    /// A problem that cannot build its branches, or builds one too many or too few.
    pub fn branches<P: Problem<Branch = B>>(
        &self,
        problem: &P,
        settings: &RunSettings,
        tasks: &[Box<dyn Task>],
        device: &Device,
    ) -> Result<Vec<B>> {
        match &self.pretrained {
            Some(branches) => Ok(branches.iter().map(independent_copy).collect()),
            None => branches_for_seed(problem, settings, tasks, device, self.index),
        }
    }
}

/// A copy of `branch` that shares no state with it. A burn module's `clone` shares its
/// batch-norm running statistics (a `RunningState` keeps them behind an `Arc`), so training a
/// clone would move the original's statistics, and every later copy's, too; `valid()` and
/// `train()` each rebuild them, and `train()` restores the training mode.
fn independent_copy<B: TaskBranch>(branch: &B) -> B {
    branch.valid().train()
}

/// The stage name of the single-task training every method of a seed starts from, with
/// [`RunSettings::start_from_single_task`].
const PRETRAINING: &str = "single-task pre-training";

/// The supernet of `start`'s seed over its branches, with `fusion` at every node.
pub(super) fn supernet<P: Problem>(
    problem: &P,
    settings: &RunSettings,
    tasks: &[Box<dyn Task>],
    device: &Device,
    start: &SeedStart<P::Branch>,
    fusion: FusionConfig,
) -> Result<Supernet<P::Branch>> {
    let branches = start.branches(problem, settings, tasks, device)?;
    let described: Vec<_> = (branches.iter().zip(task_names(tasks)))
        .map(|(b, n)| b.describe(n))
        .collect();
    let space = SearchSpace::from_branches(&described, settings.rule.clone())?;
    let seed = settings.seed.wrapping_add(start.index as u64);
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
