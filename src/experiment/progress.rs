//! Progress of a long run on the terminal: a bar per stage where stderr is a terminal, and a
//! plain line every few seconds where it is not (a run piped into a log file would otherwise
//! print nothing for minutes, as indicatif hides its bars there).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::Event;
use crate::search::{IterationLog, StepStatus};
use crate::train::TrainLog;

/// Seconds between two plain progress lines.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Shows the [`Event`]s of a run ([`super::Experiment::run`], [`super::Experiment::ablations`],
/// or a search of one's own through [`Progress::search`]): the stage, the iteration out of
/// `steps`, the task losses, and for a search the entropy and the edges kept.
pub struct Progress {
    bar: ProgressBar,
    /// Iterations of every search or training stage.
    steps: u64,
    /// Plain lines instead of a bar: when the last one was printed, and the stage.
    plain: Option<(Instant, String)>,
    start: Instant,
}

impl Progress {
    /// Progress of stages of `steps` iterations each, on stderr.
    pub fn new(steps: usize) -> Self {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>13} {bar:30} {pos}/{len} [{elapsed} < {eta}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let terminal = std::io::stderr().is_terminal();
        let start = Instant::now();
        Self {
            bar,
            steps: steps as u64,
            plain: (!terminal).then(|| (start, String::new())),
            start,
        }
    }

    /// Takes one event of a run.
    pub fn observe(&mut self, event: Event<'_>) {
        match event {
            Event::Stage(name) => self.stage(name),
            Event::Search(log) => self.search(log),
            Event::Train(log) => self.train(log),
            Event::Check { done, total } => self.check(done, total),
        }
    }

    /// `done` of `total` samples checked (the bar's length is the set's size meanwhile).
    pub fn check(&mut self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.step(
            done.saturating_sub(1),
            format!("{done} of {total} samples decoded"),
        );
    }

    /// A new stage (a method, a seed) starts.
    pub fn stage(&mut self, name: &str) {
        self.bar.reset();
        self.bar.set_length(self.steps);
        self.bar.set_prefix(name.to_string());
        if let Some((last, stage)) = &mut self.plain {
            *stage = name.to_string();
            *last = Instant::now();
            eprintln!("[{:>6.0} s] {name}", self.start.elapsed().as_secs_f64());
        }
    }

    /// A search iteration finished.
    pub fn search(&mut self, log: &IterationLog) {
        let message = format!(
            "losses {} entropy {:.3} edges kept {}",
            losses(&log.weight_losses, log.weight_step),
            log.entropy,
            log.kept_edges
        );
        self.step(log.iteration, message);
    }

    /// A training step finished.
    pub fn train(&mut self, log: &TrainLog) {
        let message = format!("losses {}", losses(&log.losses, log.step));
        self.step(log.iteration, message);
    }

    fn step(&mut self, iteration: usize, message: String) {
        self.bar.set_position(iteration as u64 + 1);
        if let Some((last, stage)) = &mut self.plain {
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                let steps = self.bar.length().unwrap_or(0);
                eprintln!(
                    "[{:>6.0} s] {stage} {}/{steps} {message}",
                    self.start.elapsed().as_secs_f64(),
                    iteration + 1
                );
            }
        } else {
            self.bar.set_message(message);
        }
    }

    /// Clears the bar (call before printing the results).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Losses with three decimals, separated by spaces.
/// A step's losses, or why it has none.
fn losses(values: &[f64], step: StepStatus) -> String {
    match step {
        StepStatus::Applied => {
            let text: Vec<String> = values.iter().map(|l| format!("{l:.3}")).collect();
            text.join(" ")
        }
        StepStatus::Skipped => "skipped (not finite)".into(),
        StepStatus::NotRun => "none (no step)".into(),
    }
}
