//! Every method on every seed, end to end: check the data, search, evaluate the discrete
//! architecture without retraining, train and evaluate the baselines with the same budget,
//! and write the table, the pictures and the files a person opens afterwards.
//!
//! [`RunSettings::run`] does it for any [`Problem`] (tasks, data, and branches drawn from a
//! seed: a user's own). [`Experiment`] is the problem of the built-in data (synthetic scenes,
//! MultiFashion, Taskonomy) over [`SmallCnn`] branches, the main job's; everything it needs is
//! saved as `run.json` beside the results, so [`evaluate_saved`] can rebuild and re-evaluate a
//! finished run.

mod ablation;
mod problem;
mod progress;
mod runner;
mod settings;

pub use ablation::{AblationRow, AblationTable, AblationVariant, check_ablations};
pub use problem::Problem;
pub use progress::Progress;
pub use settings::RunSettings;

use std::fmt;
use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::branch::{HeadKind, SmallCnn, SmallCnnConfig};
use crate::cost::CostSummary;
#[cfg(doc)]
use crate::data::FASHION_MNIST_DIR;
use crate::data::{
    FashionMnist, MATERIAL_CLASSES, MultiTaskDataset, SCENE_CLASSES, SceneConfig, SceneTarget,
    SyntheticScenes, Taskonomy, TaskonomyConfig, TaskonomyDomain, multi_fashion,
};
use crate::net::Supernet;
use crate::report::{ResultsTable, SeedSummary};
use crate::rng::SeededRng;
use crate::search::{CostPenalty, Evaluation, IterationLog, SearchConfig, evaluate_network};
use crate::space::Stage;
use crate::task::{
    Classification, DenseRegression, Depth, DepthLoss, RegressionLoss, Segmentation,
    SurfaceNormals, Task,
};
use crate::train::TrainLog;
use crate::{Error, Result, io};

/// The row name of the searched network in results tables.
pub const SEARCHED: &str = "MTL-NAS";

/// The row name of the searched architecture retrained as the baselines are
/// ([`RunSettings::retrain`]; a diagnostic, not the paper's method).
pub const RETRAINED: &str = "MTL-NAS retrained";

/// The row name of the cost-aware search's architecture retrained ([`RunSettings::retrain`]).
pub const COST_AWARE_RETRAINED: &str = "MTL-NAS + cost retrained";

/// The row name of the cost-aware search ([`RunSettings::cost_aware`]).
pub const COST_AWARE: &str = "MTL-NAS + cost";

/// Where an experiment's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExperimentData {
    /// Synthetic indoor scenes rendered on the fly.
    Scenes {
        /// Training scenes (split each epoch between weight and architecture steps).
        train: usize,
        /// Test scenes.
        test: usize,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// The tasks, in order.
        targets: Vec<SceneTarget>,
    },
    /// MultiFashion built from Fashion-MNIST's IDX files in `dir` (training pairs from the
    /// `train` split, test pairs from `t10k`); tasks `left` and `right`, 10 classes each.
    MultiFashion {
        /// The folder with the IDX files ([`FASHION_MNIST_DIR`] on Debian).
        dir: std::path::PathBuf,
        /// Training pairs.
        train: usize,
        /// Test pairs.
        test: usize,
    },
    /// Taskonomy on disk: the training and the test configuration (same targets).
    Taskonomy {
        /// Training views.
        train: Box<TaskonomyConfig>,
        /// Test views.
        test: Box<TaskonomyConfig>,
    },
}

impl ExperimentData {
    /// Synthetic scenes of `size` pixels, written `HEIGHTxWIDTH` (e.g. `24x32`), with the
    /// targets named `tasks` ([`SceneTarget::task_name`], e.g. `seg`, `normal`, `material`),
    /// as the search example and the benches take them on the command line.
    ///
    /// # Errors
    /// A size that is not `HEIGHTxWIDTH`, or a task name the scenes do not offer.
    pub fn scenes(
        train: usize,
        test: usize,
        size: &str,
        tasks: &[impl AsRef<str>],
    ) -> Result<Self> {
        let (height, width) = (size.split_once('x'))
            .and_then(|(h, w)| Some((h.parse().ok()?, w.parse().ok()?)))
            .ok_or_else(|| {
                Error::config(
                    "size",
                    format!("expected HEIGHTxWIDTH such as 36x48, got {size}"),
                )
            })?;
        let targets = (tasks.iter())
            .map(|t| SceneTarget::from_task_name(t.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(ExperimentData::Scenes {
            train,
            test,
            height,
            width,
            targets,
        })
    }

    /// The images' `[height, width]` when it is known without reading the data: the
    /// scenes' size (MultiFashion's and Taskonomy's come from their files).
    pub fn image_size(&self) -> Option<[usize; 2]> {
        match self {
            ExperimentData::Scenes { height, width, .. } => Some([*height, *width]),
            _ => None,
        }
    }
}

/// A complete experiment: data, branches, search space, search and baselines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// The data and its tasks.
    pub data: ExperimentData,
    /// Every branch's stages ([`SmallCnnConfig::stages`]).
    pub stages: Vec<Stage>,
    /// How every method is set up (saved flattened into `run.json`).
    #[serde(flatten)]
    pub settings: RunSettings,
}

/// One setting of an experiment's cost sweep and what it gave on one seed (the first, unless
/// [`RunSettings::sweep_every_seed`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The penalty of the search.
    pub penalty: CostPenalty,
    /// The seed of its weights and search.
    #[serde(default)]
    pub seed: u64,
    /// Edges its architecture keeps.
    pub kept_edges: usize,
    /// What its derived network costs on one test image.
    pub cost: CostSummary,
    /// Its Delta against its seed's single-task baseline.
    pub delta: f64,
    /// Its metrics on the test set, as searched.
    pub evaluation: Evaluation,
}

impl Experiment {
    /// The default run of `examples/search.rs`: segmentation and normals on 36 x 48 scenes,
    /// small three-stage branches, the reference's rule and search settings scaled to a short
    /// run ([`SearchConfig::short`]), every baseline.
    pub fn two_tasks() -> Self {
        Self {
            data: ExperimentData::Scenes {
                train: 600,
                test: 200,
                height: 36,
                width: 48,
                targets: vec![SceneTarget::Segmentation, SceneTarget::Normals],
            },
            stages: Stage::pyramid(&[(2, 16), (2, 32), (2, 48)]),
            settings: RunSettings::new(SearchConfig::short(800)),
        }
    }

    /// Each task's name, loss and metrics, and whether its head is per image (pooled).
    fn task_specs(&self) -> Vec<(&'static str, Box<dyn Task>, HeadKind)> {
        fn spec(
            name: &'static str,
            task: impl Task + 'static,
            head: HeadKind,
        ) -> (&'static str, Box<dyn Task>, HeadKind) {
            (name, Box::new(task), head)
        }
        let dense = HeadKind::Dense;
        let l1 = |name: &'static str| {
            spec(
                name,
                DenseRegression::new(name, 1, RegressionLoss::L1),
                dense,
            )
        };
        match &self.data {
            ExperimentData::Scenes { targets, .. } => targets
                .iter()
                .map(|t| match t {
                    SceneTarget::Segmentation => {
                        spec("seg", Segmentation::new("seg", SCENE_CLASSES.len()), dense)
                    }
                    SceneTarget::Normals => spec("normal", SurfaceNormals::new("normal"), dense),
                    SceneTarget::Depth => spec("depth", Depth::new("depth", DepthLoss::L1), dense),
                    SceneTarget::Edges => l1("edges"),
                    SceneTarget::Keypoints => l1("keypoints"),
                    SceneTarget::Material => spec(
                        "material",
                        Segmentation::new("material", MATERIAL_CLASSES.len()),
                        dense,
                    ),
                })
                .collect(),
            ExperimentData::MultiFashion { .. } => vec![
                spec("left", Classification::new("left", 10), HeadKind::Pooled),
                spec("right", Classification::new("right", 10), HeadKind::Pooled),
            ],
            ExperimentData::Taskonomy { train, .. } => train
                .targets
                .iter()
                .map(|d| match d {
                    TaskonomyDomain::Segmentation => {
                        spec("seg", Segmentation::new("seg", 17), dense)
                    }
                    TaskonomyDomain::Normals => {
                        spec("normal", SurfaceNormals::new("normal"), dense)
                    }
                    TaskonomyDomain::DepthZbuffer => l1("depth"),
                    TaskonomyDomain::DepthEuclidean => l1("distance"),
                    TaskonomyDomain::Keypoints2d => l1("keypoints"),
                    TaskonomyDomain::EdgeTexture => l1("edges"),
                    TaskonomyDomain::ObjectClass => spec(
                        "object",
                        Classification::new("object", 1000),
                        HeadKind::Pooled,
                    ),
                    TaskonomyDomain::SceneClass => {
                        spec("scene", Classification::new("scene", 365), HeadKind::Pooled)
                    }
                })
                .collect(),
        }
    }

    /// The task names, in order (`seg`, `normal`, `depth`, `edges`, `keypoints`, ...).
    pub fn task_names(&self) -> Vec<&'static str> {
        self.task_specs().into_iter().map(|(n, _, _)| n).collect()
    }

    /// The tasks, in order.
    pub fn tasks(&self) -> Vec<Box<dyn Task>> {
        self.task_specs().into_iter().map(|(_, t, _)| t).collect()
    }

    /// Fresh branches, one per task, drawn from the experiment's seed (the same for every
    /// method, so all start from the same weights).
    pub fn initial_branches(&self, device: &Device) -> Result<Vec<SmallCnn>> {
        Problem::branches(self, &mut SeededRng::new(self.settings.seed), device)
    }

    /// Channels of the input images (1 for MultiFashion, 3 otherwise).
    pub fn input_channels(&self) -> usize {
        match self.data {
            ExperimentData::MultiFashion { .. } => 1,
            _ => 3,
        }
    }

    /// The training and test sets (synthetic sets use different seeds, so no test scene is
    /// trained on).
    pub fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
        match &self.data {
            ExperimentData::Scenes {
                train,
                test,
                height,
                width,
                targets,
            } => {
                let scenes = |count, seed| {
                    SyntheticScenes::new(
                        SceneConfig::new(count, *height, *width, seed)
                            .with_targets(targets.clone()),
                    )
                };
                Ok((
                    Box::new(scenes(
                        *train,
                        self.settings.seed.wrapping_mul(2).wrapping_add(1),
                    )?),
                    Box::new(scenes(
                        *test,
                        self.settings.seed.wrapping_mul(2).wrapping_add(2),
                    )?),
                ))
            }
            ExperimentData::MultiFashion { dir, train, test } => Ok((
                Box::new(multi_fashion(
                    &FashionMnist::open(dir, "train")?,
                    *train,
                    self.settings.seed,
                )?),
                Box::new(multi_fashion(
                    &FashionMnist::open(dir, "t10k")?,
                    *test,
                    self.settings.seed.wrapping_add(1),
                )?),
            )),
            ExperimentData::Taskonomy { train, test } => {
                if train.targets != test.targets {
                    return Err(Error::config(
                        "data",
                        "the Taskonomy training and test configurations name different targets",
                    ));
                }
                Ok((
                    Box::new(Taskonomy::open((**train).clone())?),
                    Box::new(Taskonomy::open((**test).clone())?),
                ))
            }
        }
    }

    /// Checks what a run needs before it starts.
    ///
    /// # Errors
    /// Invalid settings ([`RunSettings::validate`]).
    pub fn validate(&self) -> Result<()> {
        self.settings.validate(self.task_specs().len())
    }

    /// Runs every method on every seed ([`RunSettings::run`]), with this experiment saved as
    /// `run.json` beside the results (for [`evaluate_saved`]).
    ///
    /// # Errors
    /// An invalid experiment, a failed search or training, or a file that cannot be written.
    pub fn run(
        &self,
        out: &Path,
        device: &Device,
        events: impl FnMut(Event<'_>),
    ) -> Result<ExperimentReport> {
        self.validate()?;
        io::write_json(&out.join("run.json"), self)?;
        self.settings.run(self, out, device, events)
    }

    /// Runs the ablations ([`RunSettings::ablations`]) on this experiment's problem.
    ///
    /// # Errors
    /// As [`RunSettings::ablations`].
    pub fn ablations(
        &self,
        ablations: &[(String, Vec<AblationVariant>)],
        device: &Device,
        events: impl FnMut(Event<'_>),
    ) -> Result<Vec<AblationTable>> {
        self.settings.ablations(self, ablations, device, events)
    }
}

/// The built-in data with [`SmallCnn`] branches of [`Experiment::stages`], one per task, each
/// with the head its task needs.
impl Problem for Experiment {
    type Branch = SmallCnn;

    fn tasks(&self) -> Vec<Box<dyn Task>> {
        Experiment::tasks(self)
    }

    fn datasets(&self) -> Result<(Box<dyn MultiTaskDataset>, Box<dyn MultiTaskDataset>)> {
        Experiment::datasets(self)
    }

    fn branches(&self, rng: &mut SeededRng, device: &Device) -> Result<Vec<SmallCnn>> {
        self.task_specs()
            .iter()
            .map(|(_, task, head)| {
                let mut config =
                    SmallCnnConfig::new(self.input_channels(), self.stages.clone(), task.outputs());
                config.head = *head;
                config.init(rng, device)
            })
            .collect()
    }
}

/// Progress of a run ([`RunSettings::run`]).
#[derive(Debug)]
pub enum Event<'a> {
    /// A method starts (the search, then each baseline), or, with
    /// [`RunSettings::start_from_single_task`], a seed's single-task pre-training.
    Stage(&'a str),
    /// A search iteration finished.
    Search(&'a IterationLog),
    /// A baseline training step finished.
    Train(&'a TrainLog),
    /// Samples checked so far out of all of a set's, before the first step
    /// ([`check_samples`](crate::data::check_samples)).
    Check {
        /// Samples checked.
        done: usize,
        /// Samples in the set.
        total: usize,
    },
}

/// The outcome of a run ([`RunSettings::run`]).
#[derive(Clone, Debug)]
pub struct ExperimentReport {
    /// Every method's metrics and Delta on the first seed.
    pub table: ResultsTable,
    /// Every method over every seed (mean ± std), with each seed's table.
    pub summary: SeedSummary,
    /// The first seed's searched architecture.
    pub architecture: Architecture,
    /// The first seed's search iterations.
    pub history: Vec<IterationLog>,
    /// The cost sweep's points (empty without a sweep).
    pub sweep: Vec<SweepPoint>,
    /// Every searched architecture: each searching method on each seed.
    pub architectures: Vec<SearchedArchitecture>,
}

/// The architecture one searching method found on one seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchedArchitecture {
    /// The method ([`SEARCHED`] or [`COST_AWARE`]).
    pub method: String,
    /// The seed.
    pub seed: u64,
    /// What it found.
    pub architecture: Architecture,
}

/// One line: the method, the seed, the edges kept, and of those touching each task, e.g.
/// `MTL-NAS seed 0: 43 of 54 kept; touching seg 29/36, normal 28/36, material 29/36`.
impl fmt::Display for SearchedArchitecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let architecture = &self.architecture;
        let touching: Vec<String> = (architecture.space.tasks().iter().enumerate())
            .map(|(task, name)| {
                let (kept, all) = architecture.kept_touching(task);
                format!("{name} {kept}/{all}")
            })
            .collect();
        write!(
            f,
            "{:>16} seed {}: {:>2} of {} kept; touching {}",
            self.method,
            self.seed,
            architecture.num_kept(),
            architecture.edges.len(),
            touching.join(", ")
        )
    }
}

impl SearchedArchitecture {
    /// Reads a run's `architectures.json`, each architecture checked as
    /// [`Architecture::load`] checks one (its space rebuilt and matched to the decisions).
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or an architecture that fails the checks.
    pub fn load_all(path: impl AsRef<Path>) -> Result<Vec<Self>> {
        #[derive(Deserialize)]
        struct Raw {
            method: String,
            seed: u64,
            architecture: serde_json::Value,
        }
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json = |source| Error::Json {
            path: path.to_path_buf(),
            source,
        };
        let raw: Vec<Raw> = serde_json::from_slice(&bytes).map_err(json)?;
        raw.into_iter()
            .map(|r| {
                let bytes = serde_json::to_vec(&r.architecture).map_err(json)?;
                Ok(Self {
                    method: r.method,
                    seed: r.seed,
                    architecture: Architecture::from_json(&bytes, path)?,
                })
            })
            .collect()
    }
}

/// Re-evaluates the searched network of a finished run in `dir` (its `run.json`,
/// `architecture.json` and `derived.safetensors`) on the run's test scenes.
///
/// # Errors
/// Missing or malformed files, or weights that do not fit the architecture.
pub fn evaluate_saved(dir: &Path, device: &Device) -> Result<Evaluation> {
    let experiment: Experiment = io::read_json(&dir.join("run.json"))?;
    let architecture = Architecture::load(dir.join("architecture.json"))?;
    let net = Supernet::derived_from(
        &architecture,
        experiment.initial_branches(device)?,
        experiment.settings.fusion,
        device,
    )?
    .load_weights(dir.join("derived.safetensors"))?;
    let (_, test_set) = experiment.datasets()?;
    evaluate_network(
        &net,
        &experiment.tasks(),
        &*test_set,
        experiment.settings.eval_batch,
    )
}
