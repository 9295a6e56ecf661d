//! Pictures of an architecture: SVG (task branches as columns of nodes, kept edges drawn with
//! their sigmoid values) and Graphviz DOT.

use std::fmt::Write;

use crate::arch::{Architecture, EdgeDecision};
use crate::space::NodeId;

/// Colours of the tasks' columns and of the edges leaving them.
const PALETTE: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// Escapes text for XML.
pub(crate) fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn task_colour(task: usize) -> &'static str {
    PALETTE[task % PALETTE.len()]
}

/// Where the SVG picture of an architecture puts things: columns of tasks, rows of layers.
struct SvgLayout {
    /// Pixels between two task columns.
    column: f64,
    /// Pixels between two layer rows.
    row: f64,
    /// Pixels above the first row (room for the title and the task names).
    margin_top: f64,
    /// Pixels left of the first column (room for the layer labels).
    margin_left: f64,
    /// The number of rows: the most nodes of any task branch.
    rows: usize,
    /// The picture's width in pixels.
    width: f64,
    /// The picture's height in pixels.
    height: f64,
}

impl SvgLayout {
    /// The layout of `tasks` columns of at most `rows` nodes.
    fn new(tasks: usize, rows: usize) -> Self {
        let (column, row, margin_top, margin_left) = (260.0, 54.0, 70.0, 90.0);
        Self {
            column,
            row,
            margin_top,
            margin_left,
            rows,
            width: margin_left * 2.0 + column * (tasks.max(1) - 1) as f64 + 60.0,
            height: margin_top + row * rows as f64 + 40.0,
        }
    }

    /// The centre of node `node`: its task's column, its layer's row.
    fn position(&self, node: NodeId) -> (f64, f64) {
        (
            self.margin_left + self.column * node.task as f64,
            self.margin_top + self.row * node.layer as f64,
        )
    }
}

/// The quadratic curve of one edge in the SVG picture.
struct EdgeCurve {
    /// The source node's centre.
    start: (f64, f64),
    /// The control point, lifted off the straight line between the two nodes.
    control: (f64, f64),
    /// The target node's centre.
    end: (f64, f64),
    /// Whether the edge goes to a column further right (and so bends upwards).
    rightwards: bool,
}

impl EdgeCurve {
    /// The curve of `decision`'s edge. Edges towards a column further right bend upwards,
    /// edges towards the left downwards, so the two directions between two nodes never
    /// coincide.
    fn of(decision: &EdgeDecision, layout: &SvgLayout) -> Self {
        let (source, target) = (decision.edge.source, decision.edge.target);
        let (x1, y1) = layout.position(source);
        let (x2, y2) = layout.position(target);
        let rightwards = target.task > source.task;
        let lift = 16.0 + 4.0 * (target.layer as f64 - source.layer as f64);
        let lift = if rightwards { lift } else { -lift };
        Self {
            start: (x1, y1),
            control: ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - lift),
            end: (x2, y2),
            rightwards,
        }
    }

    /// The curve as an SVG path's `d` attribute.
    fn path(&self) -> String {
        let ((x1, y1), (cx, cy), (x2, y2)) = (self.start, self.control, self.end);
        format!("M{x1:.1},{y1:.1} Q{cx:.1},{cy:.1} {x2:.1},{y2:.1}")
    }
}

impl Architecture {
    /// The architecture as an SVG picture: one column of nodes per task branch (node `l` of
    /// every branch on row `l`, labelled with its channels and stride), every kept edge as a
    /// curve from its source node to its target node in the source task's colour, labelled
    /// with its final `sigmoid(alpha)`, and the pruned candidates as faint dotted lines.
    pub fn to_svg(&self) -> String {
        let space = &self.space;
        let tasks = space.num_tasks();
        let rows = (0..tasks).map(|t| space.nodes(t).len()).max().unwrap_or(0);
        let layout = SvgLayout::new(tasks, rows);
        let mut svg = String::new();
        self.write_svg_header(&mut svg, &layout);
        // Pruned candidates first (underneath), then kept edges with their values.
        for kept in [false, true] {
            for decision in self.edges.iter().filter(|e| e.kept == kept) {
                let curve = EdgeCurve::of(decision, &layout);
                if kept {
                    write_kept_edge(&mut svg, decision, &curve);
                } else {
                    write_pruned_edge(&mut svg, decision, &curve);
                }
            }
        }
        for task in 0..tasks {
            self.write_task_column(&mut svg, &layout, task);
        }
        write_layer_labels(&mut svg, &layout);
        svg.push_str("</svg>\n");
        svg
    }

    /// The SVG's opening tag, white background, title (edges kept of all candidates) and the
    /// arrowheads in each task's colour.
    fn write_svg_header(&self, svg: &mut String, layout: &SvgLayout) {
        let (width, height) = (layout.width, layout.height);
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{:.0}" y="22" text-anchor="middle" font-size="15">{} of {} candidate edges kept</text>"#,
            width / 2.0,
            self.num_kept(),
            self.edges.len()
        );
        svg.push_str("<defs>");
        for task in 0..self.space.num_tasks() {
            let _ = write!(
                svg,
                r#"<marker id="arrow{task}" viewBox="0 0 10 10" refX="24" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>"#,
                task_colour(task)
            );
        }
        svg.push_str("</defs>\n");
    }

    /// Task `task`'s column: its name above, then one circle per node with its channels and
    /// stride beneath.
    fn write_task_column(&self, svg: &mut String, layout: &SvgLayout, task: usize) {
        let space = &self.space;
        let colour = task_colour(task);
        let (x, _) = layout.position(NodeId::new(task, 0));
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="14" fill="{colour}" font-weight="bold">{}</text>"#,
            layout.margin_top - 28.0,
            xml(&space.tasks()[task])
        );
        for node in space.nodes(task) {
            let (x, y) = layout.position(node.id);
            let _ = writeln!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="9" fill="white" stroke="{colour}" stroke-width="2"><title>{}: {} channels, stride {}</title></circle>"#,
                xml(&space.node_name(node.id)),
                node.channels,
                node.stride
            );
            let _ = writeln!(
                svg,
                r##"<text x="{x:.1}" y="{:.1}" font-size="8" fill="#777777" text-anchor="middle">{}c /{}</text>"##,
                y + 20.0,
                node.channels,
                node.stride
            );
        }
    }

    /// The architecture in Graphviz DOT: one cluster per task, kept edges labelled with their
    /// sigmoid values.
    pub fn to_dot(&self) -> String {
        let space = &self.space;
        let mut dot =
            String::from("digraph architecture {\n  rankdir=TB;\n  node [shape=circle];\n");
        for task in 0..space.num_tasks() {
            let _ = writeln!(
                dot,
                "  subgraph cluster_{task} {{\n    label=\"{}\";\n    color=\"{}\";",
                space.tasks()[task].replace('"', "'"),
                task_colour(task)
            );
            for node in space.nodes(task) {
                let _ = writeln!(
                    dot,
                    "    n{}_{} [label=\"{}\"];",
                    task, node.id.layer, node.id.layer
                );
            }
            for layer in 1..space.nodes(task).len() {
                let _ = writeln!(dot, "    n{task}_{} -> n{task}_{layer};", layer - 1);
            }
            dot.push_str("  }\n");
        }
        for e in self.kept() {
            let _ = writeln!(
                dot,
                "  n{}_{} -> n{}_{} [label=\"{:.2}\", color=\"{}\", constraint=false];",
                e.edge.source.task,
                e.edge.source.layer,
                e.edge.target.task,
                e.edge.target.layer,
                e.probability,
                task_colour(e.edge.source.task)
            );
        }
        dot.push_str("}\n");
        dot
    }
}

/// A kept edge: its curve in the source task's colour, as thick as its `sigmoid(alpha)`, with
/// an arrowhead, and its value written on the curve.
fn write_kept_edge(svg: &mut String, decision: &EdgeDecision, curve: &EdgeCurve) {
    let colour = task_colour(decision.edge.source.task);
    let stroke = 1.0 + 2.0 * decision.probability as f64;
    let _ = writeln!(
        svg,
        r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="{stroke:.2}" opacity="0.85" marker-end="url(#arrow{})"><title>{}: sigmoid {:.3}, logit {:.3}</title></path>"#,
        curve.path(),
        decision.edge.source.task,
        xml(&decision.name),
        decision.probability,
        decision.logit
    );
    // The label sits on the curve's midpoint: (P0 + 2C + P2) / 4, nudged along the curve by
    // layer so labels of stacked edges do not overlap.
    let ((x1, y1), (cx, cy), (x2, y2)) = (curve.start, curve.control, curve.end);
    let (lx, ly) = ((x1 + 2.0 * cx + x2) / 4.0, (y1 + 2.0 * cy + y2) / 4.0);
    let _ = writeln!(
        svg,
        r#"<text x="{lx:.1}" y="{:.1}" text-anchor="middle" fill="{colour}" font-size="10" stroke="white" stroke-width="3" paint-order="stroke">{:.2}</text>"#,
        ly + if curve.rightwards { -2.0 } else { 9.0 },
        decision.probability
    );
}

/// A pruned candidate: a faint grey dotted curve.
fn write_pruned_edge(svg: &mut String, decision: &EdgeDecision, curve: &EdgeCurve) {
    let _ = writeln!(
        svg,
        r##"<path d="{}" fill="none" stroke="#bbbbbb" stroke-width="0.8" stroke-dasharray="2,3"><title>{} (pruned): sigmoid {:.3}</title></path>"##,
        curve.path(),
        xml(&decision.name),
        decision.probability
    );
}

/// The layer labels down the left margin, one per row.
fn write_layer_labels(svg: &mut String, layout: &SvgLayout) {
    for layer in 0..layout.rows {
        let _ = writeln!(
            svg,
            r##"<text x="14" y="{:.1}" fill="#888888">layer {layer}</text>"##,
            layout.margin_top + layout.row * layer as f64 + 4.0
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::Architecture;
    use crate::space::{BranchDescription, EdgeRule, SearchSpace, Stage};

    #[test]
    fn svg_and_dot_show_the_kept_edges_with_their_values() {
        let b = |t: &str| BranchDescription::from_stages(t, &[Stage::new(2, 8, 1)]);
        let space = SearchSpace::from_branches(&[b("seg"), b("normal<&>")], EdgeRule::same_stage())
            .unwrap();
        let arch = Architecture::from_logits(&space, &[3.0, -2.0, 0.5, -0.1, 4.0, -5.0]).unwrap();
        let svg = arch.to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("3 of 6 candidate edges kept"));
        // Kept edges carry their sigmoid: sigmoid(3) = 0.95, sigmoid(0.5) = 0.62, sigmoid(4) = 0.98.
        for value in [">0.95<", ">0.62<", ">0.98<"] {
            assert!(svg.contains(value), "{value}");
        }
        assert!(svg.contains("normal&lt;&amp;&gt;"), "names are escaped");
        assert_eq!(svg.matches("(pruned)").count(), 3);
        let dot = arch.to_dot();
        assert_eq!(dot.matches("constraint=false").count(), 3);
    }
}
