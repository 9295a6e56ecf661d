//! [`RunSettings::run`]: every method on every seed of a [`Problem`] over data loaded once, the
//! per-seed tables and their summary, the pictures and the saved run.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;

use super::problem::{SeedStart, checked_datasets, supernet, task_names};
use super::{
    COST_AWARE, COST_AWARE_RETRAINED, Event, ExperimentReport, Problem, RETRAINED, RunSettings,
    SEARCHED, SearchedArchitecture, SweepPoint,
};
use crate::arch::Architecture;
use crate::branch::TaskBranch;
use crate::cost::CostSummary;
use crate::data::MultiTaskDataset;
use crate::metrics::{DeltaConvention, multi_task_delta};
use crate::net::Supernet;
use crate::net::baselines::{self, Baseline};
use crate::report::{ParetoPoint, ResultsTable, SeedSummary, logit_trajectories_svg, pareto_svg};
use crate::search::{
    CostPenalty, Evaluation, IterationLog, Search, SearchConfig, SearchOutcome, evaluate_network,
};
use crate::task::Task;
use crate::train::{TrainConfig, TrainLog, train};
use crate::{Error, Result, io};

/// One method's result on one seed.
struct MethodRun {
    name: String,
    evaluation: Evaluation,
    seconds: f64,
    cost: Option<CostSummary>,
}

/// What a run reads and shares across methods and seeds.
struct Shared<'a, P> {
    settings: &'a RunSettings,
    problem: &'a P,
    device: &'a Device,
    tasks: Vec<Box<dyn Task>>,
    train: &'a dyn MultiTaskDataset,
    test: &'a dyn MultiTaskDataset,
    /// `[height, width]` of the test images, at which costs are counted.
    input: [usize; 2],
}

pub(super) fn run<P: Problem>(
    settings: &RunSettings,
    problem: &P,
    out: &Path,
    device: &Device,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<ExperimentReport> {
    let tasks = problem.tasks();
    settings.validate(tasks.len())?;
    io::write_json(&out.join("settings.json"), settings)?;
    let (train_set, test_set) = checked_datasets(problem, events)?;
    let image = test_set.sample(0)?.image;
    let shared = Shared {
        settings,
        problem,
        device,
        tasks,
        train: &*train_set,
        test: &*test_set,
        input: [image.height, image.width],
    };
    let seeds = settings.seed_list();
    let mut tables = Vec::with_capacity(seeds.len());
    let mut first = None;
    let mut architectures = Vec::new();
    let mut sweep = Vec::new();
    let mut first_start = None;
    for (index, &seed) in seeds.iter().enumerate() {
        let start = SeedStart::new(
            problem,
            settings,
            &shared.tasks,
            shared.train,
            device,
            index,
            events,
        )?;
        let run = shared.seed(&start, seed, seeds.len(), out, events)?;
        tables.push(run.table);
        architectures.extend(run.architectures);
        sweep.extend(run.sweep);
        first = first.or(run.first);
        first_start = first_start.or(Some(start));
    }
    if let Some(start) = first_start.filter(|_| !settings.sweep_every_seed) {
        sweep = shared.sweep(&tables[0], &start, events)?;
    }
    let summary = SeedSummary::new(tables, seeds, SEARCHED)?;
    io::write_json(&out.join("results.json"), &summary)?;
    io::write_json(&out.join("sweep.json"), &sweep)?;
    io::write_json(&out.join("architectures.json"), &architectures)?;
    io::write_atomic(&out.join("results.txt"), summary.to_string().as_bytes())?;
    let pareto = pareto_picture(&summary, &sweep)?;
    io::write_atomic(&out.join("pareto.svg"), pareto.as_bytes())?;
    let (architecture, history) = first.ok_or_else(|| Error::config("seeds", "at least 1"))?;
    Ok(ExperimentReport {
        table: summary.tables[0].clone(),
        summary,
        architecture,
        history,
        sweep,
        architectures,
    })
}

/// What one seed's methods give.
struct SeedRun {
    /// Its table: the baselines, then the searched networks, then the retrained ones.
    table: ResultsTable,
    /// The architectures its searches found.
    architectures: Vec<SearchedArchitecture>,
    /// Its sweep points (with [`RunSettings::sweep_every_seed`]; else none).
    sweep: Vec<SweepPoint>,
    /// The first seed's reference architecture and its history (for the pictures).
    first: Option<(Architecture, Vec<IterationLog>)>,
}

impl<P: Problem> Shared<'_, P> {
    /// Every method on seed `seed` (the `start.index`-th of `count`), each from `start`'s
    /// branches; the first seed's searches are written to `out`.
    fn seed(
        &self,
        start: &SeedStart<P::Branch>,
        seed: u64,
        count: usize,
        out: &Path,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<SeedRun> {
        let settings = self.settings;
        let label = |name: &str| match count {
            1 => name.to_string(),
            _ => format!("{name} (seed {seed})"),
        };
        let mut architectures = Vec::new();
        let mut found = |method: &str, outcome: &SearchOutcome<P::Branch>| {
            architectures.push(SearchedArchitecture {
                method: method.to_string(),
                seed,
                architecture: outcome.architecture.clone(),
            })
        };
        let (mut searched, mut retrained) = (Vec::new(), Vec::new());
        events(Event::Stage(&label(SEARCHED)));
        let (run, outcome) = self.search(SEARCHED, start, None, events)?;
        found(SEARCHED, &outcome);
        searched.push(run);
        let first =
            (start.index == 0).then(|| (outcome.architecture.clone(), outcome.history.clone()));
        if start.index == 0 {
            write_search(out, "", &outcome)?;
        }
        if settings.retrain {
            events(Event::Stage(&label(RETRAINED)));
            retrained.push(self.retrain(RETRAINED, &outcome.architecture, start, events)?);
        }
        if settings.cost_aware.is_on() {
            events(Event::Stage(&label(COST_AWARE)));
            let penalty = settings.cost_aware.clone();
            let (run, outcome) = self.search(COST_AWARE, start, Some(penalty), events)?;
            found(COST_AWARE, &outcome);
            searched.push(run);
            if settings.retrain {
                events(Event::Stage(&label(COST_AWARE_RETRAINED)));
                let architecture = &outcome.architecture;
                let run = self.retrain(COST_AWARE_RETRAINED, architecture, start, events)?;
                retrained.push(run);
            }
            if start.index == 0 {
                write_search(out, "cost-aware-", &outcome)?;
            }
        }
        let mut swept = Vec::new();
        if settings.sweep_every_seed {
            for &weight in &settings.sweep {
                let name = sweep_name(weight);
                events(Event::Stage(&label(&name)));
                let penalty = self.sweep_penalty(weight);
                let (run, outcome) = self.search(&name, start, Some(penalty.clone()), events)?;
                found(&name, &outcome);
                swept.push((name, penalty, outcome.architecture.num_kept()));
                searched.push(run);
            }
        }
        // Rows: the baselines, then the searched networks.
        let mut runs = Vec::new();
        for &baseline in &settings.baselines {
            events(Event::Stage(&label(baseline.name())));
            runs.push(self.baseline(baseline, start, events)?);
        }
        runs.extend(searched);
        runs.extend(retrained);
        let table = table(runs)?;
        let sweep = sweep_points(&table, seed, swept)?;
        Ok(SeedRun {
            table,
            architectures,
            sweep,
            first,
        })
    }
}

/// Delta against the fusion's MACs (1x1 convolutions and resizes): every costed method on
/// every seed, and the cost-aware sweep (first seed) as a line.
fn pareto_picture(summary: &SeedSummary, sweep: &[SweepPoint]) -> Result<String> {
    let fusion = |c: &CostSummary| (c.fusion_macs + c.resize_macs) as f64;
    let points: Vec<ParetoPoint> = summary
        .tables
        .iter()
        .zip(&summary.seeds)
        .flat_map(|(table, &seed)| {
            table.rows.iter().filter_map(move |row| {
                row.cost.as_ref().map(|cost| ParetoPoint {
                    label: row.method.clone(),
                    seed,
                    fusion_macs: fusion(cost),
                    delta: row.delta,
                })
            })
        })
        .collect();
    // One point per weight: the mean over the seeds it ran on.
    let mut front: Vec<(f64, (f64, f64, f64))> = Vec::new();
    for point in sweep {
        let (macs, delta) = (fusion(&point.cost), point.delta);
        match front.iter_mut().find(|(w, _)| *w == point.penalty.weight) {
            Some((_, (m, d, n))) => (*m, *d, *n) = (*m + macs, *d + delta, *n + 1.0),
            None => front.push((point.penalty.weight, (macs, delta, 1.0))),
        }
    }
    let front: Vec<(f64, f64)> = (front.into_iter())
        .map(|(_, (macs, delta, n))| (macs / n, delta / n))
        .collect();
    let seeds = summary.seeds.len();
    let line = match sweep.iter().any(|p| p.seed != summary.seeds[0]) {
        true => "cost-aware sweep, mean over seeds",
        false => "cost-aware sweep (first seed)",
    };
    let title = format!("Delta against fusion cost, {seeds} seed(s); line: {line}");
    pareto_svg(&points, &front, &title)
}

/// Seed `seed`'s sweep points, read from its `table`: one per `(row name, penalty, kept
/// edges)` of `swept`.
fn sweep_points(
    table: &ResultsTable,
    seed: u64,
    swept: Vec<(String, CostPenalty, usize)>,
) -> Result<Vec<SweepPoint>> {
    (swept.into_iter())
        .map(|(name, penalty, kept_edges)| {
            let row = table.row(&name);
            let row = row.ok_or_else(|| Error::config("sweep", "a row"))?;
            Ok(SweepPoint {
                penalty,
                seed,
                kept_edges,
                cost: row.cost.unwrap_or_default(),
                delta: row.delta,
                evaluation: row.evaluation.clone(),
            })
        })
        .collect()
}

/// The row name of the sweep's search at weight `weight`.
fn sweep_name(weight: f64) -> String {
    format!("{COST_AWARE} mu {weight}")
}

/// The table of one seed's runs, Deltas against the single-task baseline.
fn table(runs: Vec<MethodRun>) -> Result<ResultsTable> {
    let costs = runs.iter().map(|r| r.cost).collect();
    let methods = runs
        .into_iter()
        .map(|r| (r.name, r.evaluation, r.seconds))
        .collect();
    ResultsTable::new(
        methods,
        Baseline::SingleTask.name(),
        DeltaConvention::LibMtl,
    )?
    .with_costs(costs)
}

/// Writes a search's files, their names starting with `prefix`: the architecture (JSON, SVG,
/// DOT), the logit trajectories, the history and the derived network's weights.
fn write_search<B: TaskBranch>(out: &Path, prefix: &str, outcome: &SearchOutcome<B>) -> Result<()> {
    let file = |name: &str| out.join(format!("{prefix}{name}"));
    outcome.architecture.save(file("architecture.json"))?;
    let architecture = &outcome.architecture;
    io::write_atomic(&file("architecture.svg"), architecture.to_svg().as_bytes())?;
    io::write_atomic(&file("architecture.dot"), architecture.to_dot().as_bytes())?;
    let trajectories = logit_trajectories_svg(&outcome.history, architecture)?;
    io::write_atomic(&file("logits.svg"), trajectories.as_bytes())?;
    io::write_json(&file("history.json"), &outcome.history)?;
    let derived = outcome.network.clone().derive(architecture)?;
    derived.save_weights(file("derived.safetensors"))
}

impl<P: Problem> Shared<'_, P> {
    /// The search configuration of seed number `index`: the settings', its seed moved on;
    /// with a `penalty`, the cost-aware search (that penalty and the settings' cost-aware
    /// warm-up).
    fn search_config(&self, index: usize, penalty: Option<CostPenalty>) -> SearchConfig {
        let config = self.settings.search_for_seed(index);
        match penalty {
            None => config,
            Some(cost_penalty) => SearchConfig {
                cost_penalty,
                architecture_warmup: self.settings.cost_aware_warmup,
                ..config
            },
        }
    }

    /// A search from `start`'s branches, its derived network evaluated as searched.
    fn search(
        &self,
        name: &str,
        start: &SeedStart<P::Branch>,
        penalty: Option<CostPenalty>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(MethodRun, SearchOutcome<P::Branch>)> {
        let clock = Instant::now();
        let (settings, problem, tasks) = (self.settings, self.problem, &self.tasks);
        let net = supernet(
            problem,
            settings,
            tasks,
            self.device,
            start,
            settings.fusion,
        )?;
        let config = self.search_config(start.index, penalty);
        let outcome = Search::new(config).run_observed(net, &self.tasks, self.train, |log| {
            events(Event::Search(log))
        })?;
        let seconds = clock.elapsed().as_secs_f64();
        let derived = outcome.network.clone().derive(&outcome.architecture)?;
        let evaluation = evaluate_network(&derived, &self.tasks, self.test, self.eval_batch())?;
        let run = MethodRun {
            name: name.to_string(),
            evaluation,
            seconds,
            cost: Some(derived.cost(self.input)?.summary()),
        };
        Ok((run, outcome))
    }

    fn eval_batch(&self) -> usize {
        self.settings.eval_batch
    }

    /// A baseline trained from `start`'s branches with the search's budget.
    fn baseline(
        &self,
        baseline: Baseline,
        start: &SeedStart<P::Branch>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<MethodRun> {
        let settings = self.settings;
        let clock = Instant::now();
        let mut observe = |log: &TrainLog| events(Event::Train(log));
        let (tasks, train_set, device) = (&self.tasks, self.train, self.device);
        let branches = start.branches(self.problem, settings, tasks, device)?;
        let names = task_names(tasks);
        let config = self.search_config(start.index, None);
        let seed = settings.seed.wrapping_add(start.index as u64);
        let fusion = settings.baseline_fusion;
        let supernet = |net: Supernet<P::Branch>, observe: &mut dyn FnMut(&TrainLog)| {
            let trained = train(net, tasks, train_set, &(&config).into(), observe)?;
            let evaluation =
                evaluate_network(&trained.network, tasks, self.test, self.eval_batch())?;
            Ok::<_, Error>((
                evaluation,
                Some(trained.network.cost(self.input)?.summary()),
            ))
        };
        let (evaluation, cost) = match baseline {
            Baseline::SingleTask => supernet(
                baselines::single_task(branches, &names, device)?,
                &mut observe,
            )?,
            Baseline::SharedTrunk => {
                let net = baselines::shared_trunk(branches, &names)?;
                let trained = train(net, tasks, train_set, &(&config).into(), &mut observe)?;
                let evaluation =
                    evaluate_network(&trained.network, tasks, self.test, self.eval_batch())?;
                (evaluation, Some(trained.network.cost(self.input)))
            }
            Baseline::NddrCnn => supernet(
                baselines::nddr_cnn(branches, &names, fusion, seed, device)?,
                &mut observe,
            )?,
            Baseline::NoEdges | Baseline::AllEdges => {
                let build = match baseline {
                    Baseline::NoEdges => baselines::no_edges,
                    _ => baselines::all_edges,
                };
                let rule = settings.rule.clone();
                let net = build(branches, &names, rule, fusion, seed, device)?;
                supernet(net, &mut observe)?
            }
        };
        Ok(MethodRun {
            name: baseline.name().to_string(),
            evaluation,
            seconds: clock.elapsed().as_secs_f64(),
            cost,
        })
    }

    /// The searched `architecture` trained again from `start`'s branches as the baselines
    /// are (all the training data for the weights, the baselines' fusion, the same budget):
    /// a diagnostic beside the method, which evaluates the searched weights as they are.
    fn retrain(
        &self,
        name: &str,
        architecture: &Architecture,
        start: &SeedStart<P::Branch>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<MethodRun> {
        let (settings, tasks, device) = (self.settings, &self.tasks, self.device);
        let clock = Instant::now();
        let branches = start.branches(self.problem, settings, tasks, device)?;
        let seed = settings.seed.wrapping_add(start.index as u64);
        let net = Supernet::new(
            &architecture.space,
            branches,
            settings.baseline_fusion,
            seed,
            device,
        )?
        .derive(architecture)?;
        let config = TrainConfig::from(&self.search_config(start.index, None));
        let trained = train(net, tasks, self.train, &config, |log| {
            events(Event::Train(log))
        })?;
        let evaluation = evaluate_network(&trained.network, tasks, self.test, self.eval_batch())?;
        Ok(MethodRun {
            name: name.to_string(),
            evaluation,
            seconds: clock.elapsed().as_secs_f64(),
            cost: Some(trained.network.cost(self.input)?.summary()),
        })
    }

    /// The cost-aware search's penalty at sweep weight `weight`.
    fn sweep_penalty(&self, weight: f64) -> CostPenalty {
        CostPenalty {
            weight,
            ..self.settings.cost_aware.clone()
        }
    }

    /// The cost-aware search at every weight of the settings' sweep, on the first seed
    /// (`start`), each point's Delta against that seed's single-task baseline (`first`).
    fn sweep(
        &self,
        first: &ResultsTable,
        start: &SeedStart<P::Branch>,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<Vec<SweepPoint>> {
        let base = first
            .row(Baseline::SingleTask.name())
            .ok_or_else(|| Error::config("baselines", "the single-task baseline is needed"))?;
        let mut points = Vec::new();
        for &weight in &self.settings.sweep {
            let name = sweep_name(weight);
            events(Event::Stage(&name));
            let penalty = self.sweep_penalty(weight);
            let (run, outcome) = self.search(&name, start, Some(penalty.clone()), events)?;
            let delta = multi_task_delta(
                &run.evaluation.metrics,
                &base.evaluation.metrics,
                first.convention,
            )?;
            points.push(SweepPoint {
                penalty,
                seed: self.settings.seed,
                kept_edges: outcome.architecture.num_kept(),
                cost: run.cost.unwrap_or_default(),
                delta,
                evaluation: run.evaluation,
            });
        }
        Ok(points)
    }
}
