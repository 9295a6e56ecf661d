//! The search space on VGG-16 and small branches.

use super::*;

fn vgg(task: &str) -> BranchDescription {
    BranchDescription::from_stages(
        task,
        &[
            Stage::new(2, 64, 1),
            Stage::new(2, 128, 2),
            Stage::new(3, 256, 4),
            Stage::new(3, 512, 8),
            Stage::new(3, 512, 8),
        ],
    )
}

#[test]
fn reference_rule_gives_24_edges_per_direction() {
    // In-degrees per target layer under depth_limited_connectivity_matrix([2,2,3,3,3], 3):
    // blocks of 2 give 1 + 2, blocks of 3 give 1 + 2 + 3; 3 + 3 + 6 + 6 + 6 = 24.
    let two = SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
    assert_eq!(two.num_edges(), 48);
    let degrees: Vec<usize> = (0..13)
        .map(|l| two.incoming(NodeId::new(0, l)).len())
        .collect();
    assert_eq!(degrees, [1, 2, 1, 2, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    // 3 tasks: 6 ordered pairs x 24.
    let three = SearchSpace::from_branches(&[vgg("a"), vgg("b"), vgg("c")], EdgeRule::same_stage())
        .unwrap();
    assert_eq!(three.num_edges(), 144);
    assert_eq!(three.task_pairs().len(), 6);
}

#[test]
fn general_rule_takes_every_shallower_or_equal_layer() {
    // Target layer i takes layers 0..=i of the other branch: 1 + 2 + ... + 13 = 91.
    let space = SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::shallower()).unwrap();
    assert_eq!(space.num_edges(), 2 * 91);
    let cross_scale = space
        .edges()
        .iter()
        .filter(|e| space.bridge(e).resize)
        .count();
    assert!(cross_scale > 0);
}

#[test]
fn edges_are_grouped_by_target_in_source_order() {
    let space = SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
    let range = space.incoming(NodeId::new(1, 6));
    let sources: Vec<usize> = space.edges()[range]
        .iter()
        .map(|e| e.source.layer)
        .collect();
    assert_eq!(sources, [4, 5, 6]);
    for e in space.edges() {
        assert_ne!(e.source.task, e.target.task);
        assert!(space.bridge(e).is_identity());
    }
}

#[test]
fn schedule_runs_layer_by_layer_across_tasks() {
    let space = SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
    let first: Vec<ScheduleStep> = space.schedule()[..4].to_vec();
    assert_eq!(
        first,
        [
            ScheduleStep::Layer(NodeId::new(0, 0)),
            ScheduleStep::Layer(NodeId::new(1, 0)),
            ScheduleStep::Fuse(NodeId::new(0, 0)),
            ScheduleStep::Fuse(NodeId::new(1, 0)),
        ]
    );
    assert_eq!(space.schedule().len(), 2 * 26);
}

#[test]
fn bad_descriptions_are_errors() {
    let one = SearchSpace::from_branches(&[vgg("a")], EdgeRule::same_stage());
    assert!(matches!(one, Err(Error::TooFewTasks(1))));

    let dup = SearchSpace::from_branches(&[vgg("a"), vgg("a")], EdgeRule::same_stage());
    assert!(matches!(dup, Err(Error::DuplicateTask(name)) if name == "a"));

    let mut zero = vgg("b");
    zero.nodes[3].channels = 0;
    let err = SearchSpace::from_branches(&[vgg("a"), zero], EdgeRule::same_stage())
        .unwrap_err()
        .to_string();
    assert!(err.contains("branch `b`") && err.contains("node 3 has zero channels"));

    let empty = BranchDescription::new("c", vec![]);
    assert!(matches!(
        SearchSpace::from_branches(&[vgg("a"), empty], EdgeRule::same_stage()),
        Err(Error::InvalidBranch { .. })
    ));
}

#[test]
fn explicit_edges_are_validated() {
    let a = NodeId::new(0, 2);
    let b = NodeId::new(1, 2);
    let ok = SearchSpace::from_branches(
        &[vgg("a"), vgg("b")],
        EdgeRule::explicit(vec![FusionEdge::new(a, b)]),
    )
    .unwrap();
    assert_eq!(ok.num_edges(), 1);

    let within = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(0, 1), a)]);
    let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], within).unwrap_err();
    assert!(err.to_string().contains("within one task"), "{err}");

    let missing = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(0, 20), b)]);
    let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], missing).unwrap_err();
    assert!(err.to_string().contains("has no layer 20"), "{err}");

    // a[5] -> b[2] and b[4] -> a[3]: b[2]'s fusion needs a[5], which needs a[3]'s fusion,
    // which needs b[4], which needs b[2]'s fusion. No order computes that.
    let cycle = EdgeRule::explicit(vec![
        FusionEdge::new(NodeId::new(0, 5), NodeId::new(1, 2)),
        FusionEdge::new(NodeId::new(1, 4), NodeId::new(0, 3)),
    ]);
    let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], cycle).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");

    let dup = EdgeRule::explicit(vec![FusionEdge::new(a, b), FusionEdge::new(a, b)]);
    let err = SearchSpace::from_branches(&[vgg("a"), vgg("b")], dup).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");

    let none = EdgeRule::explicit(vec![]);
    assert!(matches!(
        SearchSpace::from_branches(&[vgg("a"), vgg("b")], none),
        Err(Error::NoEdges)
    ));
}

#[test]
fn a_deeper_source_in_a_shorter_branch_is_scheduled() {
    // a has 2 nodes, b has 4. b[3] -> a[1] is computable: a[1]'s fusion waits for b[3].
    let a = BranchDescription::from_stages("a", &[Stage::new(2, 8, 1)]);
    let b = BranchDescription::from_stages("b", &[Stage::new(4, 8, 1)]);
    let rule = EdgeRule::explicit(vec![FusionEdge::new(NodeId::new(1, 3), NodeId::new(0, 1))]);
    let space = SearchSpace::from_branches(&[a, b], rule).unwrap();
    let pos = |s: ScheduleStep| space.schedule().iter().position(|&x| x == s).unwrap();
    assert!(
        pos(ScheduleStep::Layer(NodeId::new(1, 3))) < pos(ScheduleStep::Fuse(NodeId::new(0, 1)))
    );
}

#[test]
fn serde_round_trip_restores_derived_fields() {
    let space = SearchSpace::from_branches(&[vgg("a"), vgg("b")], EdgeRule::same_stage()).unwrap();
    let json = serde_json::to_string(&space).unwrap();
    let back: SearchSpace = serde_json::from_str(&json).unwrap();
    let back = back.rebuild().unwrap();
    assert_eq!(back, space);
    assert_eq!(
        back.incoming(NodeId::new(0, 6)),
        space.incoming(NodeId::new(0, 6))
    );
}
