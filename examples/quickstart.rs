//! A search on a toy problem with a known answer, in seconds on a CPU.
//!
//! Two tasks, two branches; each branch sees one channel of a two-channel image (one
//! "modality" each), and both tasks must reproduce channel 0, which only branch `a` sees. The
//! search should keep the edges from `a` into `b` and drop the edges out of `b`'s first layer
//! (they carry only channel 1, which no task needs). Edges out of `b`'s deeper layers carry
//! `a`'s own feature back (b fused it at its first node), so keeping them is no mistake. The
//! discrete network should score like the relaxed supernet it came from, and far better than
//! the same weights with every edge cut.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::time::Instant;

use mtl_nas::prelude::*;
use mtl_nas::search::{ArchitectureOptimizerConfig, WeightOptimizerConfig};

fn main() -> mtl_nas::Result<()> {
    let device = Device::flex().autodiff();
    let mut rng = SeededRng::new(0);
    let names = ["a", "b"];
    // Two stages (16x16 then 8x8) of two 3x3 conv layers each.
    let branches = (0..2)
        .map(|t| {
            SmallCnnConfig::new(2, vec![(2, 8), (2, 16)], 1)
                .with_input_view(t, 1)
                .init(&mut rng, &device)
        })
        .collect::<mtl_nas::Result<Vec<_>>>()?;
    let descriptions: Vec<_> = branches
        .iter()
        .zip(names)
        .map(|(b, n)| b.describe(n))
        .collect();
    let space = SearchSpace::from_branches(&descriptions, EdgeRule::same_stage())?;
    println!("{space}");
    let net = Supernet::new(&space, branches, FusionConfig::nddr(1.0, 0.0), 0, &device)?;
    let tasks: Vec<Box<dyn Task>> = names
        .iter()
        .map(|n| Box::new(DenseRegression::new(*n, 1, RegressionLoss::L2)) as Box<dyn Task>)
        .collect();
    let train = CrossModalCopy::new(2, 16, 256, 1).smooth().generate()?;
    let test = CrossModalCopy::new(2, 16, 128, 2).smooth().generate()?;

    // The reference's schedule is tuned for 20001 steps; a 600-step toy run uses larger
    // learning rates for the logits and weights.
    let config = SearchConfig {
        steps: 600,
        batch_size: 16,
        entropy_schedule: EntropySchedule::LinearRamp,
        architecture: ArchitectureOptimizerConfig {
            learning_rate: 0.03,
            ..Default::default()
        },
        weights: WeightOptimizerConfig {
            learning_rate: 0.01,
            fusion_multiplier: 10.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let start = Instant::now();
    let outcome = Search::new(config.clone()).run_observed(net, &tasks, &train, |log| {
        if log.iteration % 100 == 0 || log.iteration + 1 == config.steps {
            println!(
                "iteration {:>4}: losses a {:.4} b {:.4}, entropy {:.3}, edges kept {}",
                log.iteration,
                log.weight_losses[0],
                log.weight_losses[1],
                log.entropy,
                log.kept_edges
            );
        }
    })?;
    println!("searched in {:.1} s\n", start.elapsed().as_secs_f64());
    println!("{}", outcome.architecture);

    let evaluate =
        |net: &Supernet<SmallCnn>, mode| evaluate_losses(net, &tasks, &test, mode, 32, 0);
    let relaxed = evaluate(&outcome.network, Connectivity::Sigmoid)?;
    let discrete = evaluate(&outcome.network, Connectivity::Hard)?;
    let derived = outcome.network.clone().derive(&outcome.architecture)?;
    let derived_losses = evaluate(&derived, Connectivity::Hard)?;
    println!("test losses (mean squared error; channel 0 has variance 1):");
    println!(
        "  relaxed supernet (sigmoid): a {:.4}  b {:.4}",
        relaxed[0], relaxed[1]
    );
    println!(
        "  discrete (alpha > 0):       a {:.4}  b {:.4}",
        discrete[0], discrete[1]
    );
    println!(
        "  derived (pruned inputs):    a {:.4}  b {:.4}",
        derived_losses[0], derived_losses[1]
    );
    let no_edges = Architecture::from_logits(&space, &vec![-1.0; space.num_edges()])?;
    let cut = evaluate(
        &outcome.network.clone().derive(&no_edges)?,
        Connectivity::Hard,
    )?;
    println!(
        "  same weights, every edge cut: a {:.4}  b {:.4}",
        cut[0], cut[1]
    );

    let out = std::path::Path::new("runs/quickstart");
    outcome.architecture.save(out.join("architecture.json"))?;
    config.save(out.join("config.json"))?;
    println!("\nwrote {}", out.join("architecture.json").display());
    Ok(())
}
