//! The paper's ablations on any problem: variants of the search (weight-step connectivity,
//! evaluation, entropy weight) and of the fusion's initialisation, each run on every seed and
//! reported as the discrete network's Delta and its gap to the relaxed network.

use std::fmt;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::problem::{SeedStart, checked_datasets, supernet, task_names};
use super::{Event, Problem, RunSettings};
use crate::arch::Connectivity;
use crate::branch::TaskBranch;
use crate::data::MultiTaskDataset;
use crate::fusion::FusionConfig;
use crate::metrics::{DeltaConvention, multi_task_delta};
use crate::net::baselines;
use crate::report::MeanStd;
use crate::search::{
    Evaluation, Search, SearchConfig, SearchOutcome, WeightStepConnectivity, evaluate,
    evaluate_network,
};
use crate::task::Task;
use crate::train::train;
use crate::{Error, Result};

/// One variant of an ablation: the search and fusion it runs with and how its searched
/// network is evaluated ("discrete": [`Connectivity::Hard`] as the paper, or a Bernoulli
/// sample).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationVariant {
    /// The row name.
    pub name: String,
    /// The search settings.
    pub search: SearchConfig,
    /// The fusion of the supernet.
    pub fusion: FusionConfig,
    /// The connectivity of the evaluated ("discrete") network.
    pub evaluation: Connectivity,
}

impl AblationVariant {
    /// The settings' own search and fusion (the reference row of every ablation).
    pub fn reference(settings: &RunSettings) -> Self {
        Self {
            name: "MTL-NAS (reference)".into(),
            search: settings.search.clone(),
            fusion: settings.fusion,
            evaluation: Connectivity::Hard,
        }
    }

    /// The paper's search ablation: the reference; the weight step under `sigmoid(alpha)`
    /// instead of a relaxed Bernoulli sample; the evaluation as a Bernoulli sample instead of
    /// the threshold; the entropy weight 0.
    pub fn search_variants(settings: &RunSettings) -> Vec<Self> {
        let reference = Self::reference(settings);
        let with = |name: &str, change: &dyn Fn(&mut Self)| {
            let mut v = reference.clone();
            v.name = name.into();
            change(&mut v);
            v
        };
        vec![
            reference.clone(),
            with("weight step sigmoid", &|v| {
                v.search.weight_step_connectivity = WeightStepConnectivity::Sigmoid
            }),
            with("evaluation sampled", &|v| {
                v.evaluation = Connectivity::BernoulliSample
            }),
            with("entropy weight 0", &|v| v.search.entropy_weight = 0.0),
        ]
    }

    /// The paper's initialisation ablation: NDDR `(w_t, w_s)` of (1, 0), (0.9, 0.1),
    /// (0.5, 0.5), and Kaiming normal.
    pub fn fusion_inits(settings: &RunSettings) -> Vec<Self> {
        let with = |name: &str, fusion: FusionConfig| Self {
            name: name.into(),
            fusion,
            ..Self::reference(settings)
        };
        vec![
            with("init (1, 0)", FusionConfig::nddr(1.0, 0.0)),
            with("init (0.9, 0.1)", FusionConfig::nddr(0.9, 0.1)),
            with("init (0.5, 0.5)", FusionConfig::nddr(0.5, 0.5)),
            with("init Kaiming", FusionConfig::nddr_kaiming()),
        ]
    }
}

/// One variant over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationRow {
    /// The variant.
    pub variant: AblationVariant,
    /// The evaluated (discrete) network's Delta against the single-task baseline.
    pub discrete_delta: MeanStd,
    /// The relaxed (`sigmoid(alpha)`) network's Delta.
    pub relaxed_delta: MeanStd,
    /// The largest relative difference between the discrete and the relaxed network's task
    /// losses, in percent.
    pub gap_percent: MeanStd,
    /// Edges the search keeps.
    pub kept_edges: MeanStd,
}

/// One ablation: its variants over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationTable {
    /// What is ablated.
    pub title: String,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// One row per variant.
    pub rows: Vec<AblationRow>,
}

/// What one variant gave on one seed: discrete Delta, relaxed Delta, gap %, kept edges.
type SeedResult = [f64; 4];

/// [`RunSettings::ablations`].
pub(super) fn run<P: Problem>(
    settings: &RunSettings,
    problem: &P,
    ablations: &[(String, Vec<AblationVariant>)],
    device: &Device,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<AblationTable>> {
    let tasks = problem.tasks();
    settings.validate(tasks.len())?;
    check_ablations(ablations)?;
    let (train_set, test_set) = checked_datasets(problem, events)?;
    let (train_set, test_set) = (&*train_set, &*test_set);
    let names = task_names(&tasks);
    let seeds = settings.seed_list();
    // results[table][row] = one SeedResult per seed
    let mut results: Vec<Vec<Vec<SeedResult>>> = ablations
        .iter()
        .map(|(_, variants)| vec![Vec::new(); variants.len()])
        .collect();
    for (index, &seed) in seeds.iter().enumerate() {
        let start = SeedStart::new(problem, settings, &tasks, train_set, device, index, events)?;
        events(Event::Stage(&format!("single-task (seed {seed})")));
        let config = settings.search_for_seed(index);
        let branches = start.branches(problem, settings, &tasks, device)?;
        let net = baselines::single_task(branches, &names, device)?;
        let trained = train(net, &tasks, train_set, &(&config).into(), |l| {
            events(Event::Train(l))
        })?;
        let base = evaluate_network(&trained.network, &tasks, test_set, settings.eval_batch)?;
        let mut searched: Vec<((SearchConfig, FusionConfig), _)> = Vec::new();
        for (table, (_, variants)) in ablations.iter().enumerate() {
            for (row, variant) in variants.iter().enumerate() {
                let key = (
                    SearchConfig {
                        seed: config.seed,
                        ..variant.search.clone()
                    },
                    variant.fusion,
                );
                let position = match searched.iter().position(|(k, _)| *k == key) {
                    Some(position) => position,
                    None => {
                        events(Event::Stage(&format!("{} (seed {seed})", variant.name)));
                        let net = supernet(problem, settings, &tasks, device, &start, key.1)?;
                        let outcome = Search::new(key.0.clone()).run_observed(
                            net,
                            &tasks,
                            train_set,
                            |l| events(Event::Search(l)),
                        )?;
                        searched.push((key, outcome));
                        searched.len() - 1
                    }
                };
                let scored = score(
                    &searched[position].1,
                    variant,
                    &base,
                    &tasks,
                    test_set,
                    settings.eval_batch,
                    seed,
                );
                results[table][row].push(scored?);
            }
        }
    }
    Ok(tables(ablations, results, &seeds))
}

/// One table per ablation, each variant's row summarising `results[table][row]` (one result
/// per seed of `seeds`).
fn tables(
    ablations: &[(String, Vec<AblationVariant>)],
    results: Vec<Vec<Vec<SeedResult>>>,
    seeds: &[u64],
) -> Vec<AblationTable> {
    (ablations.iter().zip(results))
        .map(|((title, variants), rows)| AblationTable {
            title: title.clone(),
            seeds: seeds.to_vec(),
            rows: (variants.iter().zip(rows))
                .map(|(variant, per_seed)| summarise(variant, &per_seed))
                .collect(),
        })
        .collect()
}

/// One variant's searched network on one seed: its evaluated and relaxed Deltas against
/// `base` (the single-task baseline), their largest relative loss gap, and its kept edges.
fn score<B: TaskBranch>(
    outcome: &SearchOutcome<B>,
    variant: &AblationVariant,
    base: &Evaluation,
    tasks: &[Box<dyn Task>],
    test: &dyn MultiTaskDataset,
    eval_batch: usize,
    seed: u64,
) -> Result<SeedResult> {
    let evaluate = |mode| evaluate(&outcome.network, tasks, test, mode, eval_batch, seed);
    let (discrete, relaxed) = (
        evaluate(variant.evaluation)?,
        evaluate(Connectivity::Sigmoid)?,
    );
    let delta =
        |e: &Evaluation| multi_task_delta(&e.metrics, &base.metrics, DeltaConvention::LibMtl);
    let gap = discrete
        .losses
        .iter()
        .zip(&relaxed.losses)
        .map(|(d, r)| 100.0 * (d - r).abs() / r.abs().max(1e-12))
        .fold(0.0, f64::max);
    Ok([
        delta(&discrete)?,
        delta(&relaxed)?,
        gap,
        outcome.architecture.num_kept() as f64,
    ])
}

fn summarise(variant: &AblationVariant, per_seed: &[SeedResult]) -> AblationRow {
    let column = |i: usize| MeanStd::of(&per_seed.iter().map(|r| r[i]).collect::<Vec<_>>());
    AblationRow {
        variant: variant.clone(),
        discrete_delta: column(0),
        relaxed_delta: column(1),
        gap_percent: column(2),
        kept_edges: column(3),
    }
}

impl fmt::Display for AblationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |v: MeanStd| format!("{:.2} ± {:.2}", v.mean, v.std);
        writeln!(
            f,
            "{} ({} seed(s) {:?})",
            self.title,
            self.seeds.len(),
            self.seeds
        )?;
        writeln!(
            f,
            "{:<24} {:>11} {:>18} {:>18} {:>16} {:>14}",
            "variant",
            "evaluation",
            "Delta discrete %",
            "Delta relaxed %",
            "loss gap %",
            "kept edges"
        )?;
        for row in &self.rows {
            let evaluation = match row.variant.evaluation {
                Connectivity::Hard => "hard",
                Connectivity::BernoulliSample => "sampled",
                Connectivity::Sigmoid => "sigmoid",
                Connectivity::AllOn => "all on",
                Connectivity::RelaxedBernoulli { .. } => "relaxed",
            };
            writeln!(
                f,
                "{:<24} {:>11} {:>18} {:>18} {:>16} {:>14}",
                row.variant.name,
                evaluation,
                cell(row.discrete_delta),
                cell(row.relaxed_delta),
                cell(row.gap_percent),
                cell(row.kept_edges)
            )?;
        }
        writeln!(
            f,
            "Delta vs single-task: {}; loss gap: largest relative difference of a task's test \
             loss between the evaluated and the relaxed network",
            DeltaConvention::LibMtl.label()
        )
    }
}

/// Checks a list of ablations before a run.
///
/// # Errors
/// An ablation without variants.
pub fn check_ablations(ablations: &[(String, Vec<AblationVariant>)]) -> Result<()> {
    match ablations.iter().find(|(_, v)| v.is_empty()) {
        Some((title, _)) => Err(Error::config(
            "ablations",
            format!("`{title}` has no variant"),
        )),
        None => Ok(()),
    }
}
