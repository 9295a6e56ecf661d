//! Augmentation on small samples.

use super::*;

fn sample() -> MultiTaskSample {
    // 2 x 3 image whose pixel (y, x) is 10 y + x in every channel.
    let plane: Vec<f32> = (0..6).map(|i| (10 * (i / 3) + i % 3) as f32).collect();
    let image = Image::new(plane.repeat(3), 3, 2, 3).unwrap();
    // Normals pointing right (+x) on the left column, up elsewhere.
    let mut normals = vec![0.0f32; 18];
    for y in 0..2 {
        normals[y * 3] = 1.0; // x of column 0
        for x in 1..3 {
            normals[6 + y * 3 + x] = 1.0; // y channel
        }
    }
    MultiTaskSample {
        image,
        targets: vec![
            TargetData::Labels {
                labels: vec![0, 1, 2, 3, 4, 5],
                height: 2,
                width: 3,
            },
            TargetData::Normals {
                values: Image::new(normals, 3, 2, 3).unwrap(),
                valid: Some(vec![true, true, false, true, true, true]),
            },
        ],
    }
}

#[test]
fn flip_mirrors_everything_and_negates_normal_x() {
    let flip = Augmentation {
        flip: true,
        ..Default::default()
    };
    // Find a seed whose first draw flips.
    let mut flipped = None;
    for seed in 0..20 {
        let out = flip.apply(sample(), &mut SeededRng::new(seed)).unwrap();
        if out.image.data[0] != 0.0 {
            flipped = Some(out);
            break;
        }
    }
    let out = flipped.expect("some seed flips");
    assert_eq!(&out.image.data[..6], &[2.0, 1.0, 0.0, 12.0, 11.0, 10.0]);
    match &out.targets[0] {
        TargetData::Labels { labels, .. } => assert_eq!(labels, &[2, 1, 0, 5, 4, 3]),
        other => panic!("{other:?}"),
    }
    match &out.targets[1] {
        TargetData::Normals { values, valid } => {
            // The normal that pointed right (+x) at the left edge now sits at the right
            // edge pointing left (-x): still consistent with the mirrored image.
            assert_eq!(values.data[2], -1.0);
            assert_eq!(values.data[0], 0.0);
            assert_eq!(
                valid.as_ref().unwrap(),
                &[false, true, true, true, true, true]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn crop_pads_with_ignore_and_invalid() {
    let crop = Augmentation {
        crop: Some([4, 3]),
        ..Default::default()
    };
    let out = crop.apply(sample(), &mut SeededRng::new(1)).unwrap();
    assert_eq!(out.image.shape(), [3, 4, 3]);
    match &out.targets[0] {
        TargetData::Labels {
            labels,
            height,
            width,
        } => {
            assert_eq!((*height, *width), (4, 3));
            let ignored = labels.iter().filter(|&&l| l == TargetData::IGNORE).count();
            // 2 rows of padding out of 4 in the crop (the image is 2 rows high).
            assert_eq!(ignored, 6, "{labels:?}");
        }
        other => panic!("{other:?}"),
    }
    match &out.targets[1] {
        TargetData::Normals { valid, .. } => {
            assert_eq!(valid.as_ref().unwrap().iter().filter(|v| **v).count(), 5);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rescale_keeps_targets_aligned_with_the_image() {
    let scale = Augmentation {
        scale: Some((2.0, 2.0)),
        ..Default::default()
    };
    let out = scale.apply(sample(), &mut SeededRng::new(0)).unwrap();
    assert_eq!(out.image.shape(), [3, 4, 6]);
    match &out.targets[0] {
        TargetData::Labels {
            labels,
            height,
            width,
        } => {
            assert_eq!((*height, *width), (4, 6));
            // Nearest neighbour: each label becomes a 2x2 block.
            assert_eq!(&labels[..6], &[0, 0, 1, 1, 2, 2]);
            assert_eq!(&labels[18..], &[3, 3, 4, 4, 5, 5]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hsv_round_trip_and_bounded_jitter() {
    for rgb in [
        [10.0, 200.0, 30.0],
        [255.0, 0.0, 0.0],
        [5.0, 5.0, 5.0],
        [0.1, 0.4, 0.9],
    ] {
        let back = hsv_to_rgb(rgb_to_hsv(rgb));
        for (a, b) in rgb.iter().zip(back) {
            assert!(
                (a - b).abs() < 1e-3 * a.abs().max(1.0),
                "{rgb:?} -> {back:?}"
            );
        }
    }
    let jitter = Augmentation {
        colour_jitter: Some(ColourJitter {
            hue: 0.05,
            saturation: 0.05,
            pixel_max: 255.0,
        }),
        ..Default::default()
    };
    let out = jitter.apply(sample(), &mut SeededRng::new(3)).unwrap();
    // Grey pixels (equal channels) have no hue or saturation to change.
    assert_eq!(out.image.data, sample().image.data);
    assert!(jitter.validate().is_ok());
    let bad = Augmentation {
        scale: Some((1.5, 0.5)),
        ..Default::default()
    };
    assert!(bad.validate().is_err());
}
