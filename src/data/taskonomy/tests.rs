use std::path::{Path, PathBuf};

use super::*;
use crate::data::files::tests::{write_npy, write_png};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mtl-nas-taskonomy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes one building's view `point_{point}_view_2` in every omnidata domain at 4 x 4.
fn write_view(root: &Path, building: &str, point: u32) {
    let name = |domain: &str, ext: &str| format!("point_{point}_view_2_domain_{domain}.{ext}");
    let dir = |folder: &str| {
        let d = root.join(folder).join(building);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let rgb: Vec<u16> = (0..16).flat_map(|i| [i as u16 * 16, 0, 255]).collect();
    let (rgb8, grey8, grey16) = (
        (png::ColorType::Rgb, png::BitDepth::Eight),
        (png::ColorType::Grayscale, png::BitDepth::Eight),
        (png::ColorType::Grayscale, png::BitDepth::Sixteen),
    );
    let write = |path: PathBuf, (color, depth): (png::ColorType, png::BitDepth), s: &[u16]| {
        write_png(&path, 4, 4, color, depth, s)
    };
    write(dir("rgb").join(name("rgb", "png")), rgb8, &rgb);
    // Segmentation: 0 (uncertain), 1 (background), 2 and 17 (COCO classes).
    let seg: Vec<u16> = (0..16).map(|i| [0, 1, 2, 17][i % 4]).collect();
    let path = dir("segment_semantic").join(name("segmentsemantic", "png"));
    write(path, grey8, &seg);
    // Normals 127-centred: (255, 128, 0) ~ (+1, 0, -1), and the hole (128, 128, 128) at
    // pixel 3.
    let normal: Vec<u16> = (0..16)
        .flat_map(|i| {
            if i == 3 {
                [128, 128, 128]
            } else {
                [255, 128, 0]
            }
        })
        .collect();
    write(dir("normal").join(name("normal", "png")), rgb8, &normal);
    // Depth: 512 (1 m), 64499 (valid), 64500 and 65535 (invalid).
    let depth: Vec<u16> = (0..16).map(|i| [512, 64499, 64500, 65535][i % 4]).collect();
    write(
        dir("depth_zbuffer").join(name("depth_zbuffer", "png")),
        grey16,
        &depth,
    );
    let keypoints: Vec<u16> = (0..16).map(|i| (i * 40) as u16).collect();
    write(
        dir("keypoints2d").join(name("keypoints2d", "png")),
        grey16,
        &keypoints,
    );
    let mut scene = vec![0.0f32; 365];
    scene[3] = 3.0;
    scene[9] = 1.0;
    let bytes: Vec<u8> = scene.iter().flat_map(|v| v.to_le_bytes()).collect();
    let path = dir("class_scene").join(name("class_places", "npy"));
    write_npy(&path, "<f4", false, &[365], &bytes);
}

/// Writes a tiny omnidata copy under `temp(name)`: allensville (train) with points 7 and 8
/// (8 lacking its keypoints), beechwood (val) with point 1. Returns the root and the train
/// split's config of segmentation, normals, z-buffer depth, keypoints and scene classes.
fn tiny_copy(name: &str) -> (PathBuf, TaskonomyConfig) {
    let root = temp(name);
    write_view(&root, "allensville", 7);
    write_view(&root, "allensville", 8);
    write_view(&root, "beechwood", 1);
    std::fs::write(
        root.join("train_val_test_tiny.csv"),
        "id,train,val,test\nallensville,1,0,0\nbeechwood,0,1,0\n",
    )
    .unwrap();
    // point 8 lacks keypoints: it is skipped, not fatal, and the report says why.
    std::fs::remove_file(
        root.join("keypoints2d/allensville/point_8_view_2_domain_keypoints2d.png"),
    )
    .unwrap();
    let config = TaskonomyConfig {
        targets: vec![
            TaskonomyDomain::Segmentation,
            TaskonomyDomain::Normals,
            TaskonomyDomain::DepthZbuffer,
            TaskonomyDomain::Keypoints2d,
            TaskonomyDomain::SceneClass,
        ],
        size: None,
        ..TaskonomyConfig::five_tasks(
            &root,
            root.join("train_val_test_tiny.csv"),
            TaskonomySplit::Train,
        )
    };
    (root, config)
}

#[test]
fn a_view_lacking_a_target_is_skipped_and_reported() {
    let (root, config) = tiny_copy("read-skipped");
    let data = Taskonomy::open(config).unwrap();
    assert_eq!((data.len(), data.skipped()), (1, 1));
    let building = &data.report().buildings[0];
    assert_eq!(building.naming(), Some(TaskonomyNaming::Omnidata));
    assert_eq!(building.rgb.level, BuildingLevel::BelowDomain);
    assert_eq!(building.skipped[0].domain, TaskonomyDomain::Keypoints2d);
    let text = data.report().to_string();
    assert!(
        text.contains("read 1 view of building allensville in the omnidata layout")
            && text.contains("skipped 1: 1 with no file in")
            && text.contains("keypoints2d"),
        "{text}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn reads_every_encoding_and_the_building_split() {
    let (root, config) = tiny_copy("read");
    let data = Taskonomy::open(config).unwrap();
    let s = data.sample(0).unwrap();
    assert_eq!(s.image.shape(), [3, 4, 4]);
    assert!((s.image.data[1] - 16.0 / 255.0).abs() < 1e-6);
    match &s.targets[0] {
        TargetData::Labels { labels, .. } => assert_eq!(&labels[..4], &[255, 0, 1, 16]),
        other => panic!("{other:?}"),
    }
    match &s.targets[1] {
        TargetData::Normals { values, valid } => {
            assert_eq!(values.data[0], 1.0);
            assert!((values.data[16] - 0.0039).abs() < 1e-3);
            assert_eq!(values.data[32], -1.0);
            let valid = valid.as_ref().unwrap();
            assert!(!valid[3] && valid.iter().filter(|v| !**v).count() == 1);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[2] {
        TargetData::Dense { values, valid } => {
            // ln(1 + 512) / ln(65536) = 6.240276 / 11.090355 = 0.562676.
            assert!((values.data[0] - 0.562676).abs() < 1e-5);
            assert_eq!(&valid.as_ref().unwrap()[..4], &[true, true, false, false]);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[3] {
        // 80 / (0.005 x 65536) = 0.244; 40 x 9 = 360 is past the range: 1.
        TargetData::Dense { values, .. } => {
            assert!((values.data[2] - 80.0 / 327.68).abs() < 1e-6);
            assert_eq!(values.data[9], 1.0);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[4] {
        TargetData::SoftLabels(p) => assert_eq!((p[3], p[9]), (0.75, 0.25)),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_val_split_resized_keeps_targets_and_masks_aligned() {
    let (root, config) = tiny_copy("read-val");
    // The val split holds beechwood; resizing to 8 x 8 keeps targets and masks aligned.
    let val = Taskonomy::open(TaskonomyConfig {
        split: TaskonomySplit::Val,
        size: Some(8),
        ..config
    })
    .unwrap();
    let s = val.sample(0).unwrap();
    assert_eq!(s.image.shape(), [3, 8, 8]);
    match &s.targets[0] {
        TargetData::Labels { labels, height, .. } => {
            assert_eq!(*height, 8);
            assert_eq!(&labels[..8], &[255, 255, 0, 0, 1, 1, 16, 16]);
        }
        other => panic!("{other:?}"),
    }
    match &s.targets[1] {
        TargetData::Normals { valid, .. } => {
            assert_eq!(&valid.as_ref().unwrap()[4..8], &[true, true, false, false])
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn missing_folders_and_bad_values_are_reported() {
    let root = temp("bad");
    let csv = root.join("split.csv");
    std::fs::write(&csv, "id,train,val,test\nghost,1,0,0\n").unwrap();
    let config = TaskonomyConfig::five_tasks(&root, &csv, TaskonomySplit::Train);
    let err = Taskonomy::open(config).unwrap_err().to_string();
    assert!(
        err.contains("no rgb folder for building \"ghost\"")
            && err.contains(&root.join("ghost/rgb").display().to_string()),
        "{err}"
    );

    write_view(&root, "ghost", 1);
    // Edges were never written: every view is skipped, and the error says so.
    let err = Taskonomy::open(TaskonomyConfig::five_tasks(
        &root,
        &csv,
        TaskonomySplit::Train,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no usable view")
            && err.contains("read 0 views of building ghost")
            && err.contains("skipped 1: 1 because the building has no edge_texture folder (tried edge_texture/, edge2d/)"),
        "{err}"
    );

    let seg = root.join("segment_semantic/ghost/point_1_view_2_domain_segmentsemantic.png");
    write_png(
        &seg,
        4,
        4,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &[18; 16],
    );
    let config = TaskonomyConfig {
        targets: vec![TaskonomyDomain::Segmentation],
        ..TaskonomyConfig::five_tasks(&root, &csv, TaskonomySplit::Train)
    };
    let err = Taskonomy::open(config)
        .unwrap()
        .sample(0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("value 18"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn domain_names_in_both_namings() {
    use TaskonomyNaming::{Omnidata, Original};
    let view = ViewName::parse("point_3_view_1_domain_rgb.png").unwrap();
    let names = |d: TaskonomyDomain, n| d.file_names(n, &view);
    assert_eq!(
        names(TaskonomyDomain::DepthZbuffer, Original),
        ["point_3_view_1_domain_depth.png"]
    );
    assert_eq!(
        names(TaskonomyDomain::EdgeTexture, Original),
        ["point_3_view_1_domain_edge2d.png"]
    );
    assert_eq!(
        names(TaskonomyDomain::Keypoints2d, Omnidata),
        ["point_3_view_1_domain_keypoints2d.png"]
    );
    assert_eq!(
        names(TaskonomyDomain::SceneClass, Omnidata),
        ["point_3_view_1_domain_class_places.npy"]
    );
    assert_eq!(
        names(TaskonomyDomain::SceneClass, Original),
        ["point_3_view_1.npy", "point_3_view_1_domain_places.npy"]
    );
    assert_eq!(
        TaskonomyDomain::Segmentation.folder_names(),
        ["segment_semantic", "segmentsemantic"]
    );
    assert!(!TaskonomyDomain::Normals.names_differ());
    // The omnidata spellings stay what `folder` and `file_domain` return.
    assert_eq!(TaskonomyDomain::DepthZbuffer.folder(), "depth_zbuffer");
    assert_eq!(TaskonomyDomain::SceneClass.file_domain(), "class_places");
}

#[test]
fn synthetic_copies_read_back_in_every_layout() {
    for (naming, level) in [
        (TaskonomyNaming::Original, BuildingLevel::AboveDomain),
        (TaskonomyNaming::Original, BuildingLevel::BelowDomain),
        (TaskonomyNaming::Omnidata, BuildingLevel::BelowTaskonomy),
    ] {
        let root = temp(&format!("synthetic-{naming:?}-{level:?}"));
        let config = SyntheticTaskonomy {
            views: 4,
            size: 8,
            drop_segmentation_every: 4,
            ..SyntheticTaskonomy::new(&root, naming, level)
        };
        let split_file = write_synthetic_taskonomy(&config).unwrap();
        let mut loader = TaskonomyConfig::five_tasks(&root, split_file, TaskonomySplit::Train);
        loader.targets.push(TaskonomyDomain::DepthEuclidean);
        loader.size = None;
        let data = Taskonomy::open(loader).unwrap();
        assert_eq!((data.len(), data.skipped()), (6, 2), "{naming:?} {level:?}");
        for b in &data.report().buildings {
            assert_eq!((b.naming(), b.rgb.level), (Some(naming), level));
        }
        let s = data.sample(0).unwrap();
        assert_eq!(s.image.shape(), [3, 8, 8]);
        std::fs::remove_dir_all(root).unwrap();
    }
}
