//! The discrete result of a search: which edges are kept, with the logits that decided it.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::connectivity::sigmoid_scalar;
use crate::cost::{NetworkCost, mega};
use crate::space::{FusionEdge, SearchSpace};
use crate::{Error, Result, io};

/// One edge of an [`Architecture`] as saved: readable names, the logit and the decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeDecision {
    /// The edge.
    pub edge: FusionEdge,
    /// `source_task[layer] -> target_task[layer]`, for people reading the file.
    pub name: String,
    /// The final logit `alpha`.
    pub logit: f32,
    /// `sigmoid(alpha)`.
    pub probability: f32,
    /// Whether the edge is kept (`alpha > 0`).
    pub kept: bool,
}

/// The searched architecture: the search space with one decision per candidate edge. An edge
/// is kept iff its logit is positive (`sigmoid > 0.5`); the network is used as it is, with no
/// pruning step and no retraining.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// The space searched (tasks, nodes, candidate edges, rule).
    pub space: SearchSpace,
    /// One decision per candidate edge, in the space's edge order.
    pub edges: Vec<EdgeDecision>,
}

impl Architecture {
    /// The architecture that `logits` (one per edge of `space`, in order) select.
    ///
    /// # Errors
    /// A logit count different from the space's edge count.
    pub fn from_logits(space: &SearchSpace, logits: &[f32]) -> Result<Self> {
        if logits.len() != space.num_edges() {
            return Err(Error::shape(
                "architecture logits",
                format!("{} (one per edge)", space.num_edges()),
                logits.len().to_string(),
            ));
        }
        let edges = space
            .edges()
            .iter()
            .zip(logits)
            .map(|(edge, &logit)| EdgeDecision {
                edge: *edge,
                name: space.edge_name(edge),
                logit,
                probability: sigmoid_scalar(logit as f64) as f32,
                kept: logit > 0.0,
            })
            .collect();
        Ok(Self {
            space: space.clone(),
            edges,
        })
    }

    /// The logits, in edge order.
    pub fn logits(&self) -> Vec<f32> {
        self.edges.iter().map(|e| e.logit).collect()
    }

    /// Whether each edge is kept, in edge order.
    pub fn mask(&self) -> Vec<bool> {
        self.edges.iter().map(|e| e.kept).collect()
    }

    /// The kept edges.
    pub fn kept(&self) -> impl Iterator<Item = &EdgeDecision> {
        self.edges.iter().filter(|e| e.kept)
    }

    /// Number of kept edges.
    pub fn num_kept(&self) -> usize {
        self.kept().count()
    }

    /// Kept and candidate edges from task `source` into task `target` (task indices).
    pub fn kept_between(&self, source: usize, target: usize) -> (usize, usize) {
        let between = self
            .edges
            .iter()
            .filter(|d| d.edge.source.task == source && d.edge.target.task == target);
        between.fold((0, 0), |(kept, all), d| {
            (kept + usize::from(d.kept), all + 1)
        })
    }

    /// Kept and candidate edges that touch task `task` (from it or into it).
    pub fn kept_touching(&self, task: usize) -> (usize, usize) {
        let touching = self
            .edges
            .iter()
            .filter(|d| d.edge.source.task == task || d.edge.target.task == task);
        touching.fold((0, 0), |(kept, all), d| {
            (kept + usize::from(d.kept), all + 1)
        })
    }

    /// The decision for the edge `source -> target`, if it is a candidate.
    pub fn decision(&self, edge: &FusionEdge) -> Option<&EdgeDecision> {
        self.edges.iter().find(|d| d.edge == *edge)
    }

    /// Checks that this architecture was searched over `space` (same tasks, nodes and edges).
    ///
    /// # Errors
    /// [`Error::ArchitectureMismatch`] naming the first difference.
    pub fn check_space(&self, space: &SearchSpace) -> Result<()> {
        let mine = &self.space;
        if mine.tasks() != space.tasks() {
            return Err(Error::ArchitectureMismatch(format!(
                "tasks {:?} vs the space's {:?}",
                mine.tasks(),
                space.tasks()
            )));
        }
        for task in 0..space.num_tasks() {
            if mine.nodes(task) != space.nodes(task) {
                return Err(Error::ArchitectureMismatch(format!(
                    "task `{}` has {} nodes here and {} in the space, or their channels/strides differ",
                    space.tasks()[task],
                    mine.nodes(task).len(),
                    space.nodes(task).len()
                )));
            }
        }
        if mine.edges() != space.edges() {
            return Err(Error::ArchitectureMismatch(format!(
                "{} candidate edges here vs {} in the space (different edge rule?)",
                mine.num_edges(),
                space.num_edges()
            )));
        }
        Ok(())
    }

    /// Writes the architecture as pretty JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        io::write_json(path.as_ref(), self)
    }

    /// Reads an architecture written by [`Architecture::save`] and checks it is consistent
    /// (one decision per candidate edge, in order, `kept` agreeing with the logit).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&bytes, path)
    }

    /// Parses an architecture from JSON bytes with the checks of [`Architecture::load`];
    /// `origin` names the source in errors.
    pub fn from_json(bytes: &[u8], origin: &Path) -> Result<Self> {
        let path = origin;
        let raw: Architecture = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let space = raw.space.clone().rebuild()?;
        let invalid =
            |reason: String| Error::ArchitectureMismatch(format!("{}: {reason}", path.display()));
        if raw.edges.len() != space.num_edges() {
            return Err(invalid(format!(
                "{} edge decisions for {} candidate edges",
                raw.edges.len(),
                space.num_edges()
            )));
        }
        for (i, (decision, edge)) in raw.edges.iter().zip(space.edges()).enumerate() {
            if decision.edge != *edge {
                return Err(invalid(format!(
                    "decision {i} is for {} but edge {i} of the space is {}",
                    space.edge_name(&decision.edge),
                    space.edge_name(edge)
                )));
            }
            if !decision.logit.is_finite() || decision.kept != (decision.logit > 0.0) {
                return Err(invalid(format!(
                    "edge {} has logit {} but kept = {}",
                    decision.name, decision.logit, decision.kept
                )));
            }
        }
        Self::from_logits(&space, &raw.logits())
    }
}

impl Architecture {
    /// The edge table with what each edge adds to the network (its block of the target's 1x1
    /// convolution, in MMAC) and the network's fusion and total MACs, from `cost`: this
    /// architecture's network on one image (e.g. `derived.cost([h, w])`, or
    /// [`NetworkCost::of`] with [`Architecture::mask`]).
    pub fn with_cost<'a>(&'a self, cost: &'a NetworkCost) -> CostedArchitecture<'a> {
        CostedArchitecture {
            architecture: self,
            cost,
        }
    }
}

/// An [`Architecture`] shown with its cost ([`Architecture::with_cost`]).
#[derive(Clone, Copy, Debug)]
pub struct CostedArchitecture<'a> {
    architecture: &'a Architecture,
    cost: &'a NetworkCost,
}

impl fmt::Display for CostedArchitecture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_table(f, self.architecture, Some(self.cost))
    }
}

impl fmt::Display for Architecture {
    /// A table of every candidate edge: source, target, logit, sigmoid, kept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_table(f, self, None)
    }
}

/// The edge table, with each edge's MMAC and the network's totals when `cost` is given.
fn write_table(
    f: &mut fmt::Formatter<'_>,
    arch: &Architecture,
    cost: Option<&NetworkCost>,
) -> fmt::Result {
    let space = &arch.space;
    let width = arch
        .edges
        .iter()
        .map(|e| space.node_name(e.edge.source).len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        f,
        "architecture: {} of {} candidate edges kept ({})",
        arch.num_kept(),
        arch.edges.len(),
        space.rule()
    )?;
    let macs_header = if cost.is_some() { "      MMAC" } else { "" };
    writeln!(
        f,
        "{:>width$}    {:<width$}  {:>8}  {:>7}{macs_header}  kept",
        "source", "target", "logit", "sigmoid"
    )?;
    for e in &arch.edges {
        let macs = cost.map(|cost| {
            let size = cost
                .fusions
                .iter()
                .find(|fusion| fusion.node == e.edge.target)
                .map_or([0, 0], |fusion| fusion.size);
            let macs = space.node(e.edge.target).channels
                * space.node(e.edge.source).channels
                * size[0]
                * size[1];
            format!("  {:>8.3}", mega(macs as u64))
        });
        writeln!(
            f,
            "{:>width$} -> {:<width$}  {:>8.3}  {:>7.4}{}  {}",
            space.node_name(e.edge.source),
            space.node_name(e.edge.target),
            e.logit,
            e.probability,
            macs.unwrap_or_default(),
            if e.kept { "yes" } else { "-" }
        )?;
    }
    if let Some(cost) = cost {
        let summary = cost.summary();
        writeln!(
            f,
            "one {} x {} image: fusion {:.3} MMAC, resizes {:.3} MMAC, total {:.3} MMAC{}",
            cost.input[0],
            cost.input[1],
            mega(summary.fusion_macs),
            mega(summary.resize_macs),
            mega(summary.total_macs),
            if summary.complete {
                ""
            } else {
                " (branches not counted)"
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Stage;
    use crate::space::{BranchDescription, EdgeRule};

    fn space() -> SearchSpace {
        let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(2, 8, 1)]);
        SearchSpace::from_branches(&[b("seg"), b("depth")], EdgeRule::same_stage()).unwrap()
    }

    #[test]
    fn keeps_positive_logits_and_round_trips_through_json() {
        let space = space();
        // One stage of 2 layers: target 0 takes source 0, target 1 takes 0 and 1; both ways.
        assert_eq!(space.num_edges(), 6);
        let logits = [3.0, -2.0, 0.5, -0.1, 4.0, -5.0];
        let arch = Architecture::from_logits(&space, &logits).unwrap();
        assert_eq!(arch.mask(), [true, false, true, false, true, false]);
        assert_eq!(arch.num_kept(), 3);
        let dir = std::env::temp_dir().join(format!("mtl-nas-arch-{}", std::process::id()));
        let path = dir.join("architecture.json");
        arch.save(&path).unwrap();
        let back = Architecture::load(&path).unwrap();
        assert_eq!(back, arch);
        back.check_space(&space).unwrap();
        let table = arch.to_string();
        assert!(table.contains("3 of 6 candidate edges kept"), "{table}");
        assert!(table.contains("depth[0] -> seg[0]"), "{table}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn counts_kept_edges_per_task_pair() {
        // Three tasks of one 2-layer stage: 3 candidate edges per ordered pair, 18 in all.
        let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(2, 8, 1)]);
        let space =
            SearchSpace::from_branches(&[b("a"), b("b"), b("c")], EdgeRule::same_stage()).unwrap();
        let logits: Vec<f32> = (0..18)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let arch = Architecture::from_logits(&space, &logits).unwrap();
        // Counted from the edges' printed names ("a[0] -> b[1]"), not from their indices.
        let count = |from: &str, into: &str| {
            let between = arch.edges.iter().filter(|d| {
                let (source, target) = d.name.split_once(" -> ").unwrap();
                source.starts_with(&format!("{from}[")) && target.starts_with(&format!("{into}["))
            });
            between.fold((0, 0), |(k, n), d| (k + usize::from(d.kept), n + 1))
        };
        let names = ["a", "b", "c"];
        for (s, from) in names.iter().enumerate() {
            for (t, into) in names.iter().enumerate() {
                let expected = if s == t { (0, 0) } else { count(from, into) };
                assert_eq!(arch.kept_between(s, t), expected, "{from} -> {into}");
            }
        }
        let touching_c = [
            count("a", "c"),
            count("b", "c"),
            count("c", "a"),
            count("c", "b"),
        ];
        let expected = touching_c
            .iter()
            .fold((0, 0), |(k, n), (a, b)| (k + a, n + b));
        assert_eq!(expected.1, 12);
        assert_eq!(arch.kept_touching(2), expected);
        assert_eq!(arch.num_kept(), 6);
    }

    #[test]
    fn rejects_a_different_space_and_a_tampered_file() {
        let arch = Architecture::from_logits(&space(), &[1.0; 6]).unwrap();
        let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(3, 8, 1)]);
        let other =
            SearchSpace::from_branches(&[b("seg"), b("depth")], EdgeRule::same_stage()).unwrap();
        let err = arch.check_space(&other).unwrap_err().to_string();
        assert!(err.contains("task `seg`"), "{err}");

        let dir = std::env::temp_dir().join(format!("mtl-nas-arch-bad-{}", std::process::id()));
        let path = dir.join("a.json");
        arch.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"kept\": true", "\"kept\": false", 1)).unwrap();
        let err = Architecture::load(&path).unwrap_err().to_string();
        assert!(err.contains("kept = false"), "{err}");
        std::fs::write(&path, "{ not json").unwrap();
        let err = Architecture::load(&path).unwrap_err().to_string();
        assert!(err.contains("invalid JSON"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
        assert!(Architecture::from_logits(&space(), &[1.0; 5]).is_err());
    }
}
