//! Checkpoints: an interrupted and resumed search ends bit-identical to an uninterrupted one,
//! and a process killed at any moment, and in particular while it writes a checkpoint (the
//! test makes sure some kills land there), leaves the newest complete checkpoint loadable.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use mtl_nas::prelude::*;
use mtl_nas::search::checkpoint;
use mtl_nas::search::{ArchitectureOptimizerConfig, NonFinitePolicy, WeightOptimizerConfig};
use rand::RngExt;

const CHILD_DIR: &str = "MTL_NAS_RESUME_CHILD_DIR";
/// Iterations of the killed search (a checkpoint after each).
const STEPS: usize = 150;

fn problem(device: &Device) -> (Supernet<SmallCnn>, Vec<Box<dyn Task>>) {
    let mut rng = SeededRng::new(1);
    let branches: Vec<SmallCnn> = (0..2)
        .map(|t| {
            SmallCnnConfig::new(2, Stage::pyramid(&[(2, 8), (1, 12)]), 1)
                .with_input_view(t, 1)
                .init(&mut rng, device)
                .unwrap()
        })
        .collect();
    let space = SearchSpace::from_branches(
        &[branches[0].describe("a"), branches[1].describe("b")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    let net = Supernet::new(&space, branches, FusionConfig::nddr(0.8, 0.2), 1, device).unwrap();
    let tasks = ["a", "b"]
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect();
    (net, tasks)
}

fn data() -> InMemoryDataset {
    CrossModalCopy::new(2, 12, 40, 3)
        .smooth()
        .generate()
        .unwrap()
}

fn config(steps: usize, every: usize) -> SearchConfig {
    SearchConfig {
        steps,
        batch_size: 6,
        seed: 5,
        checkpoint_every: every,
        keep_checkpoints: 2,
        architecture: ArchitectureOptimizerConfig {
            learning_rate: 0.05,
            ..Default::default()
        },
        weights: WeightOptimizerConfig {
            learning_rate: 0.01,
            ..Default::default()
        },
        augmentation: Augmentation {
            flip: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Every float parameter and running statistic, in module order. `valid()` first: batch norm
/// holds its newest statistics as a pending update until it is synchronised.
fn all_values<M: Module>(module: &M) -> Vec<Vec<f32>> {
    let module = module.valid();
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_into_vec_as::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// Asserts two parameter lists are bit-identical, reporting the first difference briefly.
fn assert_same(a: &[Vec<f32>], b: &[Vec<f32>]) {
    assert_eq!(a.len(), b.len(), "parameter count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "tensor {i} of {} differs (largest difference {worst}, length {} vs {})",
            a.len(),
            x.len(),
            y.len()
        );
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mtl-nas-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn an_interrupted_and_resumed_search_equals_an_uninterrupted_one() {
    let device = Device::flex().autodiff();
    let data = data();
    let (net, tasks) = problem(&device);
    let straight = Search::new(config(12, 0)).run(net, &tasks, &data).unwrap();

    // Run with checkpoints every 4 iterations (the newest two are kept: 8 and 12), then
    // forget everything after iteration 8, as if the process had died there, and resume.
    let dir = temp("equivalence");
    let (net, _) = problem(&device);
    let search = Search::new(config(12, 4)).with_checkpoints(&dir);
    let full = search.run(net, &tasks, &data).unwrap();
    assert_eq!(full.architecture.logits(), straight.architecture.logits());
    let kept: Vec<usize> = checkpoint::list(&dir)
        .unwrap()
        .iter()
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(kept, [8, 12], "the newest two are kept");
    std::fs::remove_dir_all(dir.join("checkpoint-00000012")).unwrap();
    let (net, _) = problem(&device);
    let resumed = search.resume(net, &tasks, &data, |_| {}).unwrap();

    assert_eq!(
        resumed.architecture.logits(),
        straight.architecture.logits()
    );
    assert_same(
        &all_values(&resumed.network),
        &all_values(&straight.network),
    );
    assert_eq!(resumed.history, straight.history);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_checks_the_configuration_and_needs_a_checkpoint() {
    let device = Device::flex().autodiff();
    let data = data();
    let (net, tasks) = problem(&device);
    let dir = temp("mismatch");
    Search::new(config(4, 2))
        .with_checkpoints(&dir)
        .run(net, &tasks, &data)
        .unwrap();
    let (net, _) = problem(&device);
    let other = Search::new(SearchConfig {
        seed: 6,
        ..config(4, 2)
    })
    .with_checkpoints(&dir);
    let err = other
        .resume(net, &tasks, &data, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("another configuration"), "{err}");
    let (net, _) = problem(&device);
    let err = Search::new(config(4, 2))
        .with_checkpoints(temp("empty"))
        .resume(net, &tasks, &data, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no complete checkpoint"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The child process of the kill test: searches with a checkpoint after every iteration,
/// resuming from the newest one if there is any.
#[test]
#[ignore = "helper: runs only as the child process that the kill test starts and kills"]
fn child_search() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let device = Device::flex().autodiff();
    let (net, tasks) = problem(&device);
    let search = Search::new(config(STEPS, 1)).with_checkpoints(&dir);
    if checkpoint::list(Path::new(&dir)).unwrap().is_empty() {
        search.run(net, &tasks, &data()).unwrap();
    } else {
        search.resume(net, &tasks, &data(), |_| {}).unwrap();
    }
}

/// The temporary folder of the checkpoint write of `iteration` by process `pid` (see
/// `checkpoint::write`): `.checkpoint-{iteration:08}.tmp-{pid}`, renamed into place when the
/// write completes.
fn temporary_name(iteration: usize, pid: u32) -> String {
    format!(".checkpoint-{iteration:08}.tmp-{pid}")
}

/// The iterations of the temporary checkpoint folders of process `pid` in `dir`.
fn temporaries_of(dir: &Path, pid: u32) -> Vec<usize> {
    let suffix = format!(".tmp-{pid}");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(".checkpoint-")?
                        .strip_suffix(&suffix)?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Watches `dir` and kills `process` the moment its temporary folder for a checkpoint of
/// iteration `from` or later appears, i.e. while that checkpoint is being written. Returns
/// the iteration whose temporary folder was still there once the process was dead (the kill
/// landed inside the write), or `None` (the write finished between the look and the kill, or
/// the process ended first).
fn kill_inside_a_write(process: &mut Child, dir: &Path, from: usize) -> Option<usize> {
    let pid = process.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(&iteration) = temporaries_of(dir, pid).iter().find(|&&i| i >= from) {
            process.kill().ok();
            process.wait().unwrap();
            return dir
                .join(temporary_name(iteration, pid))
                .is_dir()
                .then_some(iteration);
        }
        if process.try_wait().unwrap().is_some() || Instant::now() > deadline {
            process.kill().ok();
            process.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

#[test]
fn a_search_killed_at_random_moments_and_inside_checkpoint_writes_resumes_to_the_same_result() {
    let device = Device::flex().autodiff();
    let data = data();
    let (net, tasks) = problem(&device);
    let straight = Search::new(config(STEPS, 0))
        .run(net, &tasks, &data)
        .unwrap();

    let dir = temp("kill");
    let child = || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "child_search",
                "--exact",
                "--ignored",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DIR, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let newest = || checkpoint::list(&dir).unwrap().pop();
    // Whatever the moment of a kill, the newest complete checkpoint loads.
    let check_newest_loads = || {
        let (iteration, folder) = newest().expect("a complete checkpoint");
        let (net, _) = problem(&device);
        net.load_weights(folder.join("weights.bpk")).unwrap();
        iteration
    };
    let mut rng = SeededRng::new(11);
    let mut progress = Vec::new();
    let mut during_writes = Vec::new();
    // Kills at random moments (some land in writes, most between them).
    for _ in 0..8 {
        let mut process = child();
        let pid = process.id();
        std::thread::sleep(Duration::from_millis(rng.random_range(40..400)));
        process.kill().ok();
        process.wait().unwrap();
        // A temporary folder of this process left behind: the kill hit a checkpoint write.
        let interrupted = temporaries_of(&dir, pid).pop();
        during_writes.push(interrupted);
        if newest().is_some() {
            progress.push(check_newest_loads());
        }
    }
    // Kills timed to land inside a write: each one watches for the temporary folder of a
    // checkpoint a few iterations ahead and kills as soon as it appears.
    let mut inside = Vec::new();
    for _ in 0..10 {
        let from = newest().map_or(2, |(i, _)| i + 1) + rng.random_range(0..4usize);
        let mut process = child();
        if let Some(iteration) = kill_inside_a_write(&mut process, &dir, from) {
            // The interrupted checkpoint is not listed; the one before it is the newest, and
            // it loads.
            assert_eq!(
                check_newest_loads(),
                iteration - 1,
                "after a kill inside the write of checkpoint {iteration}"
            );
            inside.push(iteration);
            if inside.len() == 3 {
                break;
            }
        }
    }
    println!(
        "newest checkpoint after each random kill: {progress:?}; killed while writing: \
         {during_writes:?}; kills inside the writes of checkpoints {inside:?}"
    );
    assert!(
        !inside.is_empty(),
        "no kill landed inside a checkpoint write (10 tries): the test did not exercise it"
    );
    // Let the last child finish, then compare with the uninterrupted run.
    assert!(child().wait().unwrap().success());
    // The finishing child removed the temporary folders the kills left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (net, _) = problem(&device);
    let finished =
        Search::new(config(STEPS, 1))
            .with_checkpoints(&dir)
            .resume(net, &tasks, &data, |_| {});
    // The search had already finished: resuming from its last checkpoint runs no iteration
    // and returns the final state.
    let finished = finished.unwrap();
    assert_eq!(
        finished.architecture.logits(),
        straight.architecture.logits()
    );
    assert_same(
        &all_values(&finished.network),
        &all_values(&straight.network),
    );
    assert_eq!(finished.history, straight.history);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn non_finite_losses_stop_or_are_skipped() {
    // A task whose target holds NaN makes its loss NaN at the first architecture step.
    let device = Device::flex().autodiff();
    let mut samples = data().samples().to_vec();
    for s in &mut samples {
        if let TargetData::Dense { values, .. } = &mut s.targets[1] {
            values.data[0] = f32::NAN;
        }
    }
    let poisoned = InMemoryDataset::new(samples);
    let (net, tasks) = problem(&device);
    let err = Search::new(config(3, 0))
        .run(net, &tasks, &poisoned)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("non-finite loss at iteration 0 during the architecture step (task `b`)"),
        "{err}"
    );
    let (net, _) = problem(&device);
    let skipping = SearchConfig {
        on_non_finite: NonFinitePolicy::SkipBatch,
        ..config(3, 0)
    };
    let outcome = Search::new(skipping).run(net, &tasks, &poisoned).unwrap();
    assert_eq!(outcome.skipped_batches, 6, "both steps of all 3 iterations");
    for log in &outcome.history {
        // Logged as skipped, not as an empty loss list alone.
        assert_eq!(
            (log.architecture_step, log.weight_step),
            (StepStatus::Skipped, StepStatus::Skipped)
        );
        assert!(log.architecture_losses.is_empty() && log.weight_losses.is_empty());
    }
    assert_eq!(
        outcome.architecture.logits(),
        vec![0.0; outcome.architecture.edges.len()]
    );
}

#[test]
fn an_iteration_reads_the_device_once_or_twice_when_batches_may_be_skipped() {
    // Before: one read per task loss in each step, one per step for the gradient check, one
    // for the entropy and one for the logits (2 x tasks + 4). Now everything the checks and
    // the log need is queued on the device and read in one go; deciding to skip a batch must
    // happen before its update, so under SkipBatch the architecture step reads on its own.
    let device = Device::flex().autodiff();
    let (net, tasks) = problem(&device);
    let outcome = Search::new(config(3, 0)).run(net, &tasks, &data()).unwrap();
    let reads: Vec<usize> = outcome.history.iter().map(|log| log.host_reads).collect();
    assert_eq!(reads, [1, 1, 1]);
    let (net, _) = problem(&device);
    let skipping = SearchConfig {
        on_non_finite: NonFinitePolicy::SkipBatch,
        ..config(3, 0)
    };
    let outcome = Search::new(skipping).run(net, &tasks, &data()).unwrap();
    let reads: Vec<usize> = outcome.history.iter().map(|log| log.host_reads).collect();
    assert_eq!(reads, [2, 2, 2]);
}
