use burn::tensor::Device;

use super::*;
use crate::branch::{
    HeadKind, ResNetConfig, ResNetDepth, SmallCnnConfig, TaskBranch, Vgg16LargeFovConfig,
};
use crate::rng::SeededRng;
use crate::space::Stage;
use crate::space::{EdgeRule, FusionEdge};

/// Two tasks of `SmallCnn` stages `(1, 4), (1, second)` on 3-channel images, 2 outputs each.
fn small(second: usize, rule: EdgeRule) -> (SearchSpace, Vec<Option<BranchCost>>) {
    let device = Device::flex();
    let mut rng = SeededRng::new(0);
    let branches: Vec<_> = (0..2)
        .map(|_| {
            SmallCnnConfig::new(3, Stage::pyramid(&[(1, 4), (1, second)]), 2)
                .init(&mut rng, &device)
                .unwrap()
        })
        .collect();
    let described = [branches[0].describe("a"), branches[1].describe("b")];
    let space = SearchSpace::from_branches(&described, rule).unwrap();
    let costs = branches.iter().map(|b| b.cost([8, 8])).collect();
    (space, costs)
}

#[test]
fn a_small_network_matches_a_hand_count() {
    // One branch on 8 x 8: conv 3 -> 4 (3x3, padding 1): 4 * 3 * 9 * 64 = 6912 MACs, 108
    // weights + 8 batch-norm parameters; 2x2 pool to 4 x 4, conv 4 -> 8: 8 * 4 * 9 * 16 = 4608
    // MACs, 288 + 16 parameters; dense head 8 -> 2 with bias on 4 x 4: 2 * 8 * 16 = 256 MACs,
    // 16 + 2 parameters.
    let (space, branches) = small(8, EdgeRule::same_stage());
    let branch = branches[0].as_ref().unwrap();
    assert_eq!(branch.layers[0].cost, Cost::new(6912, 116));
    assert_eq!(branch.layers[1].cost, Cost::new(4608, 304));
    assert_eq!(branch.layers[1].size, [4, 4]);
    assert_eq!(branch.head, Cost::new(256, 18));
    // Every edge on: node [0] fuses 4 + 4 channels into 4 at 8 x 8: 4 * 8 * 64 = 2048 MACs,
    // 32 weights + 8; node [1] 8 + 8 into 8 at 4 x 4: 8 * 16 * 16 = 2048 MACs, 128 + 16.
    let all = NetworkCost::of(&space, [8, 8], &[true; 4], &branches).unwrap();
    assert_eq!(all.fusion_total(), Cost::new(2 * 4096, 2 * (40 + 144)));
    assert_eq!(all.resize_macs(), 0);
    assert_eq!(all.total().macs, 2 * (6912 + 4608 + 256) + 8192);
    assert!(all.is_complete());
    // Only the edge into a[0] kept: a[0] as before (2048), the other three fusions keep their
    // own feature only: 4 * 4 * 64 = 1024 and 8 * 8 * 16 = 1024 (twice).
    let into_a0 = space
        .edges()
        .iter()
        .position(|e| e.target == NodeId::new(0, 0))
        .unwrap();
    let mut kept = [false; 4];
    kept[into_a0] = true;
    let one = NetworkCost::of(&space, [8, 8], &kept, &branches).unwrap();
    assert_eq!(one.fusion_macs(), 2048 + 3 * 1024);
    assert_eq!(one.summary().fusion_macs, 5120);
}

#[test]
fn a_cross_scale_edge_counts_its_resize_once() {
    // b[0] (4 channels, 8 x 8) into a[1] (8 channels, 4 x 4): the resize is a width pass
    // 4 * 8 * 8 * 4 = 1024 MACs and a height pass 4 * 4 * 8 * 4 = 512; a[1]'s convolution
    // takes 8 + 4 channels: 8 * 12 * 16 = 1536 MACs.
    let edge = FusionEdge::new(NodeId::new(1, 0), NodeId::new(0, 1));
    let (space, branches) = small(8, EdgeRule::explicit(vec![edge]));
    let cost = NetworkCost::of(&space, [8, 8], &[true], &branches).unwrap();
    assert_eq!(cost.resizes.len(), 1);
    assert_eq!(cost.resize_macs(), 1536);
    assert_eq!(cost.fusion_macs(), 1536);
    assert_eq!(resize_macs(4, [8, 8], [4, 4]), 1536);
}

#[test]
fn vgg16_space_at_480x640_matches_the_authors_counts() {
    // The authors' counts (convolutions only, one image, every edge on): branches with heads
    // 294.45 GMAC, fusion 93.11 GMAC, total 387.57 GMAC. By hand: the 13 convolutions of one
    // branch at strides 1,1,2,2,4,4,4,8x6 sum to 119,439,360,000 MACs; the head at 60 x 80 is
    // fc6 512*1024*9*4800 + fc7 1024*1024*4800 + fc8 1024*outputs*4800. Fusion of one task:
    // sum over nodes of C^2 (1 + in-degree) H W with in-degrees [1,2,1,2,1,2,3,1,2,3,1,2,3]
    // = 46,556,774,400.
    let device = Device::flex();
    let mut rng = SeededRng::new(0);
    let seg = Vgg16LargeFovConfig::new(40)
        .init(&mut rng, &device)
        .unwrap();
    let normal = Vgg16LargeFovConfig::new(3).init(&mut rng, &device).unwrap();
    let space = SearchSpace::from_branches(
        &[seg.describe("seg"), normal.describe("normal")],
        EdgeRule::same_stage(),
    )
    .unwrap();
    let branches = [seg.cost([480, 640]), normal.cost([480, 640])];
    let cost = NetworkCost::of(&space, [480, 640], &[true; 48], &branches).unwrap();
    assert_eq!(cost.branches[0].unwrap().macs, 119_439_360_000);
    let head = |outputs: u64| (512 * 1024 * 9 + 1024 * 1024 + 1024 * outputs) * 4800;
    assert_eq!(cost.heads[0].unwrap().macs, head(40));
    assert_eq!(cost.heads[1].unwrap().macs, head(3));
    let branch_macs = cost.branch_total().macs + cost.head_total().macs;
    assert_eq!(branch_macs, 294_454_886_400);
    assert_eq!(cost.fusion_macs(), 93_113_548_800);
    assert_eq!(cost.total().macs, 387_568_435_200);
    assert!((giga(cost.total().macs) - 387.57).abs() < 0.005);
    assert_eq!(branches[0].as_ref().unwrap().layers[12].size, [60, 80]);
}

#[test]
fn resnet18_at_224_matches_the_published_count() {
    // torchvision lists ResNet-18 at 1.81 G multiply-adds for a 224 x 224 image (with its
    // 1000-way classifier); ours has the same layers with a pooled 1x1 head.
    let device = Device::flex();
    let mut rng = SeededRng::new(0);
    let mut config = ResNetConfig::new(ResNetDepth::R18, 1000);
    config.output_stride = 32;
    config.head = HeadKind::Pooled;
    let net = config.init(&mut rng, &device).unwrap();
    let cost = net.cost([224, 224]).unwrap();
    let macs = cost.layers_total().macs + cost.head.macs;
    assert!((giga(macs) - 1.814).abs() < 0.005, "{macs}");
    assert_eq!(cost.layers.last().unwrap().size, [7, 7]);
    // 11,689,512 parameters in torchvision's ResNet-18.
    assert_eq!(cost.layers_total().params + cost.head.params, 11_689_512);
}

#[test]
fn edge_costs_are_normalised_to_mean_one() {
    // Edges into [0]: 4 * 4 * 64 = 1024 MACs each; into [1]: 8 * 8 * 16 = 1024 each, so every
    // edge costs the mean. Target channels 4 and 8 (mean 6) give 2/3 and 4/3.
    let (space, branches) = small(8, EdgeRule::same_stage());
    let macs = edge_costs(&space, [8, 8], &branches, EdgeCostKind::Macs).unwrap();
    assert!(macs.iter().all(|&c| (c - 1.0).abs() < 1e-12), "{macs:?}");
    let channels = edge_costs(&space, [8, 8], &branches, EdgeCostKind::TargetChannels).unwrap();
    for (edge, c) in space.edges().iter().zip(&channels) {
        let expected = if edge.target.layer == 0 {
            2.0 / 3.0
        } else {
            4.0 / 3.0
        };
        assert!((c - expected).abs() < 1e-12, "{channels:?}");
    }
    // Stage widths 4 and 16: 1024 and 16 * 16 * 16 = 4096 MACs, mean 2560: 0.4 and 1.6.
    let (space, branches) = small(16, EdgeRule::same_stage());
    let macs = edge_costs(&space, [8, 8], &branches, EdgeCostKind::Macs).unwrap();
    for (edge, c) in space.edges().iter().zip(&macs) {
        let expected = if edge.target.layer == 0 { 0.4 } else { 1.6 };
        assert!((c - expected).abs() < 1e-12, "{macs:?}");
    }
    let uniform = edge_costs(&space, [8, 8], &branches, EdgeCostKind::Uniform).unwrap();
    assert_eq!(uniform, vec![1.0; 4]);
}

#[test]
fn a_fusion_macs_budget_becomes_a_fraction_of_the_edges_cost() {
    // Stage widths 4 and 16 on 8 x 8, per task: own features 4 * 4 * 64 + 16 * 16 * 16 = 5120
    // MACs, its edges the same again; both tasks: N = 10240 with no edge, A = 20480 with all.
    // 75% of A is 15360, i.e. N plus half of the edges' 10240: a budget of 0.5. 100% is 1.
    let (space, branches) = small(16, EdgeRule::same_stage());
    let budget = |f| edge_budget_for_fusion_macs(&space, [8, 8], &branches, f);
    assert!((budget(0.75).unwrap() - 0.5).abs() < 1e-12);
    assert!((budget(1.0).unwrap() - 1.0).abs() < 1e-12);
    // 50% of A is N: no architecture costs less than its fusions' own shares.
    let error = budget(0.5).unwrap_err().to_string();
    assert!(
        error.contains("cost_penalty.budget") && error.contains("10240"),
        "{error}"
    );
    for outside in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(budget(outside).is_err(), "{outside}");
    }
}

#[test]
fn wrong_lengths_are_errors() {
    let (space, branches) = small(8, EdgeRule::same_stage());
    assert!(NetworkCost::of(&space, [8, 8], &[true; 3], &branches).is_err());
    assert!(NetworkCost::of(&space, [8, 8], &[true; 4], &branches[..1]).is_err());
}
