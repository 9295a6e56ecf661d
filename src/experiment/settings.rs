//! [`RunSettings`]: how every method of a run is set up, whatever the problem.

use std::path::Path;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{AblationTable, AblationVariant, Event, ExperimentReport, Problem};
use crate::fusion::FusionConfig;
use crate::net::baselines::Baseline;
use crate::search::{CostPenalty, SearchConfig};
use crate::space::EdgeRule;
use crate::{Error, Result};

/// How every method of a run is set up: the candidate edges, the fusions, the search (whose
/// steps and batch every baseline's training shares), the baselines, the seeds, and the
/// cost-aware row and sweep. [`RunSettings::run`] runs them on any [`Problem`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The candidate edges.
    pub rule: EdgeRule,
    /// The fusion at every node of the searched supernet.
    pub fusion: FusionConfig,
    /// The fusion of the NDDR-CNN and all-edges baselines (the reference uses (0.9, 0.1)).
    pub baseline_fusion: FusionConfig,
    /// The search (and, with the same steps and batch, every baseline's training).
    pub search: SearchConfig,
    /// The baselines to train; the single-task one is needed for the Delta.
    pub baselines: Vec<Baseline>,
    /// Seed of the data and the initial weights.
    pub seed: u64,
    /// Images per evaluation batch.
    pub eval_batch: usize,
    /// How many seeds every method runs on: seed number `i` starts from the initial weights
    /// of `seed + i` and searches (or trains) with `search.seed + i`; the data are those of
    /// `seed` for all, loaded once.
    #[serde(default = "one")]
    pub seeds: usize,
    /// The cost-aware search, run as a second searched row beside the reference one
    /// ([`COST_AWARE`](super::COST_AWARE)); weight 0 leaves the row out.
    #[serde(default)]
    pub cost_aware: CostPenalty,
    /// The architecture warm-up ([`SearchConfig::architecture_warmup`]) of the cost-aware
    /// row and the sweep: the penalty needs informative task gradients to trade against.
    #[serde(default = "default_cost_aware_warmup")]
    pub cost_aware_warmup: f64,
    /// Also train each searched architecture (the reference's, and the cost-aware one's when
    /// that row runs) again from the initial weights, as the baselines are trained, and add
    /// them as rows ([`RETRAINED`](super::RETRAINED),
    /// [`COST_AWARE_RETRAINED`](super::COST_AWARE_RETRAINED)): a
    /// diagnostic (the paper evaluates the searched weights as they are). It separates what
    /// the search found from how its weights were trained (on half the training data, under
    /// relaxed connectivity).
    #[serde(default)]
    pub retrain: bool,
    /// Weights `mu` of a sweep of the cost-aware search (on the first seed, priced as
    /// `cost_aware`, with its warm-up; 0 is the warm-up alone), for the Pareto picture; empty
    /// for none.
    #[serde(default)]
    pub sweep: Vec<f64>,
    /// Run the sweep on every seed rather than on the first: each weight is then a row of
    /// every seed's table ("MTL-NAS + cost mu 0.03"), with its mean ± std and the paired
    /// comparison to the searched network, and the sweep's line in the Pareto picture goes
    /// through the means over the seeds.
    #[serde(default)]
    pub sweep_every_seed: bool,
    /// Start every method from trained single-task branches, as the paper does (its branches
    /// start from single-task networks fine-tuned on NYUv2): on each seed the fresh branches
    /// are first trained as single-task branches for one budget (the search's steps and
    /// batch), and every method then starts from copies of them (the fusions fresh) and
    /// trains for one more budget. The single-task row is those branches trained on for that
    /// second budget, so every row has had the same training. Off: every method starts from
    /// the seed's fresh branches.
    #[serde(default)]
    pub start_from_single_task: bool,
}

fn default_cost_aware_warmup() -> f64 {
    0.1
}

fn one() -> usize {
    1
}

impl RunSettings {
    /// `search` with the reference's edge rule ([`EdgeRule::same_stage`]) and fusions (the
    /// identity-like NDDR initialisation (1, 0) for the search, (0.9, 0.1) for the
    /// baselines), every baseline, seed 0 on 1 seed, evaluation batches of 50, no cost-aware
    /// row, no sweep, and every method starting from fresh branches.
    pub fn new(search: SearchConfig) -> Self {
        Self {
            rule: EdgeRule::same_stage(),
            fusion: FusionConfig::nddr(1.0, 0.0),
            baseline_fusion: FusionConfig::nddr(0.9, 0.1),
            search,
            baselines: Baseline::ALL.to_vec(),
            seed: 0,
            eval_batch: 50,
            seeds: 1,
            cost_aware: CostPenalty::default(),
            cost_aware_warmup: default_cost_aware_warmup(),
            retrain: false,
            sweep: Vec::new(),
            sweep_every_seed: false,
            start_from_single_task: false,
        }
    }

    /// The same settings on `seeds` seeds.
    pub fn with_seeds(self, seeds: usize) -> Self {
        Self { seeds, ..self }
    }

    /// The same settings with the cost-aware search as a second searched row.
    pub fn with_cost_aware(self, cost_aware: CostPenalty) -> Self {
        Self { cost_aware, ..self }
    }

    /// The seeds of the runs, `seed, seed + 1, ...` ([`RunSettings::seeds`] of them).
    pub fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds as u64)
            .map(|i| self.seed.wrapping_add(i))
            .collect()
    }

    /// The search configuration of seed number `index`: the settings' search, its seed moved
    /// on by `index`.
    pub fn search_for_seed(&self, index: usize) -> SearchConfig {
        SearchConfig {
            seed: self.search.seed.wrapping_add(index as u64),
            ..self.search.clone()
        }
    }

    /// Checks what a run over `tasks` tasks needs before it starts.
    ///
    /// # Errors
    /// No single-task baseline (every Delta is measured against it), no seed, an invalid
    /// search configuration or cost penalty, or a sweep weight that is not finite and positive.
    pub fn validate(&self, tasks: usize) -> Result<()> {
        if !self.baselines.contains(&Baseline::SingleTask) {
            return Err(Error::config(
                "baselines",
                "the single-task baseline is needed: every Delta is measured against it",
            ));
        }
        if self.seeds == 0 {
            return Err(Error::config("seeds", "at least 1"));
        }
        if self.eval_batch == 0 {
            return Err(Error::config("eval_batch", "at least 1"));
        }
        self.search.validate(tasks)?;
        SearchConfig {
            cost_penalty: self.cost_aware.clone(),
            architecture_warmup: self.cost_aware_warmup,
            ..self.search.clone()
        }
        .validate(tasks)
        .map_err(|e| Error::config("cost_aware", e.to_string()))?;
        if self.sweep.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::config(
                "sweep",
                "every weight must be finite and non-negative",
            ));
        }
        Ok(())
    }

    /// Runs every method on every seed of `problem` and writes into `out`: `settings.json`
    /// (these settings); for the first seed's search `architecture.json`,
    /// `architecture.svg`, `architecture.dot`, `logits.svg`, `history.json` and
    /// `derived.safetensors` (the same with a `cost-aware-` prefix for the cost-aware
    /// search); `results.json` (every seed's table and their summary), `results.txt` (the
    /// summary: mean ± std per method), `architectures.json` (every searched architecture,
    /// per method and seed), `sweep.json` and `pareto.svg` (Delta against fusion MACs, every
    /// method on every seed, the sweep as a line). `device` must be an autodiff device;
    /// `events` hears about each stage and iteration (for progress bars).
    ///
    /// # Errors
    /// Invalid settings, a failed search or training, or a file that cannot be written.
    pub fn run<P: Problem>(
        &self,
        problem: &P,
        out: &Path,
        device: &Device,
        mut events: impl FnMut(Event<'_>),
    ) -> Result<ExperimentReport> {
        super::runner::run(self, problem, out, device, &mut events)
    }

    /// Runs every variant of every ablation in `ablations` (`(title, variants)`) on every seed
    /// of `problem`, over data loaded once: per seed one single-task baseline (for the
    /// Deltas) and one search per distinct (search, fusion) pair, evaluated as each variant
    /// says (variants that share a search share its outcome).
    ///
    /// # Errors
    /// Invalid settings or variants, or a failed search, training or evaluation.
    pub fn ablations<P: Problem>(
        &self,
        problem: &P,
        ablations: &[(String, Vec<AblationVariant>)],
        device: &Device,
        mut events: impl FnMut(Event<'_>),
    ) -> Result<Vec<AblationTable>> {
        super::ablation::run(self, problem, ablations, device, &mut events)
    }
}
