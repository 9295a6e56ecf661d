//! Decoding one file of each domain as stored (channels and bit depth checked, invalid
//! pixels masked), and resizing a decoded view.

use std::path::Path;

use super::TaskonomyDomain;
use crate::data::augment::resize_bilinear;
use crate::data::files::{NpyArray, PngImage, read_npy, read_png};
use crate::data::{Image, TargetData};
use crate::{Error, Result};

/// 16-bit depth values from here on are invalid (holes are stored as 65535).
pub const TASKONOMY_INVALID_DEPTH: u16 = 64500;

/// The range of 2D keypoint heatmaps, as a fraction of 2^16, mapped to [0, 1] (values above
/// it clipped to 1): the (0, 0.005 x 2^16) of the taskgrouping / AdaShare loaders.
pub const TASKONOMY_KEYPOINTS_RANGE: f64 = 0.005;

/// The range of texture edges, as a fraction of 2^16, mapped to [0, 1] (values above it
/// clipped to 1): the (0, 0.08 x 2^16) of the taskgrouping / AdaShare loaders.
pub const TASKONOMY_EDGES_RANGE: f64 = 0.08;

/// The 8-bit normal stored at depth holes; it decodes to a vector of length 0.007, not a
/// normal. Every pixel whose normal decodes shorter than [`TASKONOMY_MIN_NORMAL_LENGTH`]
/// (this one included) is masked.
pub const TASKONOMY_NORMAL_HOLE: [u8; 3] = [128, 128, 128];

/// Decoded normals shorter than this are masked (a stored unit normal decodes to length
/// 1 +- 0.01).
pub const TASKONOMY_MIN_NORMAL_LENGTH: f32 = 0.5;

/// The error message of an [`Error::Dataset`] without its `dataset:` prefix.
pub(super) fn message(error: &Error) -> String {
    match error {
        Error::Dataset(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Checks a PNG's channels and bit depth against what its domain stores.
fn expect(png: &PngImage, path: &Path, what: &str, channels: &[usize], bits: u8) -> Result<()> {
    if channels.contains(&png.channels) && png.bit_depth == bits {
        return Ok(());
    }
    let described = match channels {
        [1] => "1 channel".to_string(),
        [3, 4] => "3 channels (RGB, or 4 with alpha)".to_string(),
        other => format!("{other:?} channels"),
    };
    Err(Error::Dataset(format!(
        "{}: expected {what}: {described} of {bits} bits, found {} channel(s) of {} bits",
        path.display(),
        png.channels,
        png.bit_depth
    )))
}

/// Reads an `rgb` image: 8-bit RGB (alpha ignored), values scaled to [0, 1].
pub(super) fn read_rgb(path: &Path) -> Result<Image> {
    let png = read_png(path)?;
    expect(&png, path, "an RGB image", &[3, 4], 8)?;
    let plane = png.height * png.width;
    let data = (0..3)
        .flat_map(|c| (0..plane).map(move |i| (c, i)))
        .map(|(c, i)| png.samples[i * png.channels + c] as f32 / 255.0)
        .collect();
    Image::new(data, 3, png.height, png.width)
}

/// Reads and decodes one target file at its stored size.
pub(super) fn read_target(domain: TaskonomyDomain, path: &Path) -> Result<TargetData> {
    match domain {
        TaskonomyDomain::ObjectClass | TaskonomyDomain::SceneClass => {
            decode_soft_labels(domain, &read_npy(path)?, path)
        }
        _ => decode_png(domain, &read_png(path)?, path),
    }
}

/// Decodes a PNG target of a per-pixel domain; `path` names it in errors.
///
/// # Errors
/// A channel count or bit depth other than the domain's, or a segmentation value outside
/// 0..=17.
pub(super) fn decode_png(
    domain: TaskonomyDomain,
    png: &PngImage,
    path: &Path,
) -> Result<TargetData> {
    match domain {
        TaskonomyDomain::Segmentation => decode_segmentation(png, path),
        TaskonomyDomain::Normals => decode_normals(png, path),
        TaskonomyDomain::DepthZbuffer | TaskonomyDomain::DepthEuclidean => decode_depth(png, path),
        TaskonomyDomain::Keypoints2d | TaskonomyDomain::EdgeTexture => {
            decode_heatmap(domain, png, path)
        }
        TaskonomyDomain::ObjectClass | TaskonomyDomain::SceneClass => Err(Error::Dataset(format!(
            "{}: {} soft labels are .npy arrays, not images",
            path.display(),
            domain.folder()
        ))),
    }
}

/// The labels of an 8-bit segmentation map: value - 1, [`TargetData::IGNORE`] at 0
/// (uncertain).
fn decode_segmentation(png: &PngImage, path: &Path) -> Result<TargetData> {
    let (height, width) = (png.height, png.width);
    expect(png, path, "a segmentation label map", &[1], 8)?;
    let mut labels = Vec::with_capacity(height * width);
    for (i, &v) in png.samples.iter().enumerate() {
        labels.push(match v {
            0 => TargetData::IGNORE,
            1..=17 => v as i64 - 1,
            _ => {
                return Err(Error::Dataset(format!(
                    "{}: value {v} at row {}, column {} is not 0 (uncertain), 1 (background) or 2..17 (COCO classes)",
                    path.display(),
                    i / width,
                    i % width
                )));
            }
        });
    }
    Ok(TargetData::Labels {
        labels,
        height,
        width,
    })
}

/// The unit normals of an 8-bit 127.5-centred normal map, masked where they decode shorter
/// than [`TASKONOMY_MIN_NORMAL_LENGTH`].
fn decode_normals(png: &PngImage, path: &Path) -> Result<TargetData> {
    let (height, width) = (png.height, png.width);
    let plane = height * width;
    expect(png, path, "an 8-bit RGB normal map", &[3, 4], 8)?;
    let mut data = vec![0.0f32; 3 * plane];
    let mut valid = vec![true; plane];
    for i in 0..plane {
        let mut length = 0.0f32;
        for c in 0..3 {
            let v = png.samples[i * png.channels + c] as f32 / 127.5 - 1.0;
            data[c * plane + i] = v;
            length += v * v;
        }
        valid[i] = length.sqrt() >= TASKONOMY_MIN_NORMAL_LENGTH;
    }
    Ok(TargetData::Normals {
        values: Image::new(data, 3, height, width)?,
        valid: Some(valid),
    })
}

/// The log-scaled depth of a 16-bit depth map, masked from [`TASKONOMY_INVALID_DEPTH`] on.
fn decode_depth(png: &PngImage, path: &Path) -> Result<TargetData> {
    expect(png, path, "a depth map", &[1], 16)?;
    let scale = (65536.0f64).ln();
    let values = png
        .samples
        .iter()
        .map(|&v| ((1.0 + v as f64).ln() / scale) as f32)
        .collect();
    let valid = png
        .samples
        .iter()
        .map(|&v| v < TASKONOMY_INVALID_DEPTH)
        .collect();
    Ok(TargetData::Dense {
        values: Image::new(values, 1, png.height, png.width)?,
        valid: Some(valid),
    })
}

/// The values of a 16-bit keypoint heatmap or edge map, its domain's range mapped to [0, 1]
/// (values above it clipped to 1).
fn decode_heatmap(domain: TaskonomyDomain, png: &PngImage, path: &Path) -> Result<TargetData> {
    let (what, range) = if domain == TaskonomyDomain::Keypoints2d {
        ("a keypoint heatmap", TASKONOMY_KEYPOINTS_RANGE)
    } else {
        ("an edge map", TASKONOMY_EDGES_RANGE)
    };
    expect(png, path, what, &[1], 16)?;
    let full = range * 65536.0;
    let values = png
        .samples
        .iter()
        .map(|&v| (v as f64 / full).min(1.0) as f32)
        .collect();
    Ok(TargetData::Dense {
        values: Image::new(values, 1, png.height, png.width)?,
        valid: None,
    })
}

/// Normalises the soft labels of a classification domain (non-positive and non-finite
/// scores count as 0).
pub(super) fn decode_soft_labels(
    domain: TaskonomyDomain,
    array: &NpyArray,
    path: &Path,
) -> Result<TargetData> {
    let classes = domain.classes().unwrap_or(0);
    if array.data.len() != classes {
        return Err(Error::Dataset(format!(
            "{}: {} values of shape {:?}, expected {classes} class scores",
            path.display(),
            array.data.len(),
            array.shape
        )));
    }
    let positive = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let total: f64 = array.data.iter().map(|&v| positive(v)).sum();
    if total <= 0.0 {
        return Err(Error::Dataset(format!(
            "{}: the soft labels have no positive mass",
            path.display()
        )));
    }
    Ok(TargetData::SoftLabels(
        array
            .data
            .iter()
            .map(|&v| (positive(v) / total) as f32)
            .collect(),
    ))
}

/// Height and width of a per-pixel target (`None` for per-image targets).
pub(super) fn pixel_size(target: &TargetData) -> Option<(usize, usize)> {
    match target {
        TargetData::Dense { values, .. } | TargetData::Normals { values, .. } => {
            Some((values.height, values.width))
        }
        TargetData::Labels { height, width, .. } => Some((*height, *width)),
        TargetData::Class(_) | TargetData::SoftLabels(_) => None,
    }
}

/// Nearest-neighbour resize of a row-major `h x w` plane to `s x s`.
fn nearest<T: Copy>(plane: &[T], h: usize, w: usize, s: usize) -> Vec<T> {
    (0..s * s)
        .map(|i| plane[((i / s) * h / s) * w + (i % s) * w / s])
        .collect()
}

fn nearest_image(image: &Image, s: usize) -> Image {
    let (h, w) = (image.height, image.width);
    let data = image
        .data
        .chunks(h * w)
        .flat_map(|plane| nearest(plane, h, w, s))
        .collect();
    Image {
        data,
        channels: image.channels,
        height: s,
        width: s,
    }
}

/// Resizes an image (bilinear) to `s x s`.
pub(super) fn resize_image(image: Image, s: usize) -> Image {
    if (image.height, image.width) == (s, s) {
        image
    } else {
        resize_bilinear(&image, s, s)
    }
}

/// Resizes a per-pixel target and its mask (nearest neighbour, so labels and masks stay
/// exact) to `s x s`; per-image targets are returned as they are.
pub(super) fn resize_target(target: TargetData, s: usize) -> TargetData {
    if pixel_size(&target).is_none_or(|size| size == (s, s)) {
        return target;
    }
    match target {
        TargetData::Dense { values, valid } => TargetData::Dense {
            valid: valid.map(|v| nearest(&v, values.height, values.width, s)),
            values: nearest_image(&values, s),
        },
        TargetData::Normals { values, valid } => TargetData::Normals {
            valid: valid.map(|v| nearest(&v, values.height, values.width, s)),
            values: nearest_image(&values, s),
        },
        TargetData::Labels {
            labels,
            height,
            width,
        } => TargetData::Labels {
            labels: nearest(&labels, height, width, s),
            height: s,
            width: s,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(samples: Vec<u16>, channels: usize, bit_depth: u8, width: usize) -> PngImage {
        let height = samples.len() / channels / width;
        PngImage {
            samples,
            channels,
            height,
            width,
            bit_depth,
        }
    }

    #[test]
    fn masks_of_every_per_pixel_domain() {
        let path = Path::new("x.png");
        // Normals: a unit normal, the hole value (128, 128, 128), and (127, 127, 127).
        let normals = png(vec![255, 128, 0, 128, 128, 128, 127, 127, 127], 3, 8, 3);
        match decode_png(TaskonomyDomain::Normals, &normals, path).unwrap() {
            TargetData::Normals { values, valid } => {
                assert_eq!(valid.unwrap(), [true, false, false]);
                assert_eq!((values.data[0], values.data[6]), (1.0, -1.0));
            }
            other => panic!("{other:?}"),
        }
        let depth = png(vec![512, 64499, 64500, 65535], 1, 16, 4);
        match decode_png(TaskonomyDomain::DepthEuclidean, &depth, path).unwrap() {
            TargetData::Dense { valid, .. } => {
                assert_eq!(valid.unwrap(), [true, true, false, false])
            }
            other => panic!("{other:?}"),
        }
        let seg = png(vec![0, 1, 2, 17], 1, 8, 4);
        match decode_png(TaskonomyDomain::Segmentation, &seg, path).unwrap() {
            TargetData::Labels { labels, .. } => assert_eq!(labels, [255, 0, 1, 16]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keypoints_and_edges_fill_zero_to_one() {
        let path = Path::new("x.png");
        // 0.005 x 2^16 = 327.68: half of it is 0.5, anything above is clipped to 1.
        let keypoints = png(vec![0, 164, 328, 5000], 1, 16, 4);
        let TargetData::Dense { values, valid } =
            decode_png(TaskonomyDomain::Keypoints2d, &keypoints, path).unwrap()
        else {
            panic!()
        };
        assert!(valid.is_none());
        assert_eq!(values.data[0], 0.0);
        assert!((values.data[1] - 164.0 / 327.68).abs() < 1e-6);
        assert_eq!(&values.data[2..], &[1.0, 1.0]);
        // 0.08 x 2^16 = 5242.88.
        let edges = png(vec![2621, 9000], 1, 16, 2);
        let TargetData::Dense { values, .. } =
            decode_png(TaskonomyDomain::EdgeTexture, &edges, path).unwrap()
        else {
            panic!()
        };
        assert!((values.data[0] - 0.5).abs() < 1e-4);
        assert_eq!(values.data[1], 1.0);
    }

    #[test]
    fn channels_and_bit_depths_are_checked() {
        let path = Path::new("bad.png");
        let cases = [
            (
                TaskonomyDomain::Normals,
                png(vec![0; 6], 3, 16, 2),
                "3 channel(s) of 16 bits",
            ),
            (
                TaskonomyDomain::Normals,
                png(vec![0; 2], 1, 8, 2),
                "1 channel(s) of 8 bits",
            ),
            (
                TaskonomyDomain::Segmentation,
                png(vec![0; 2], 1, 16, 2),
                "1 channel(s) of 16 bits",
            ),
            (
                TaskonomyDomain::Segmentation,
                png(vec![0; 6], 3, 8, 2),
                "3 channel(s) of 8 bits",
            ),
            (
                TaskonomyDomain::DepthZbuffer,
                png(vec![0; 2], 1, 8, 2),
                "1 channel(s) of 8 bits",
            ),
            (
                TaskonomyDomain::Keypoints2d,
                png(vec![0; 2], 1, 8, 2),
                "of 8 bits",
            ),
            (
                TaskonomyDomain::EdgeTexture,
                png(vec![0; 4], 2, 16, 2),
                "2 channel(s)",
            ),
        ];
        for (domain, image, found) in cases {
            let err = decode_png(domain, &image, path).unwrap_err().to_string();
            assert!(
                err.contains("bad.png") && err.contains(found),
                "{domain:?}: {err}"
            );
        }
    }

    #[test]
    fn resizing_keeps_labels_and_masks_exact() {
        let target = TargetData::Dense {
            values: Image::new(vec![1.0, 2.0, 3.0, 4.0], 1, 2, 2).unwrap(),
            valid: Some(vec![true, false, true, true]),
        };
        match resize_target(target, 4) {
            TargetData::Dense { values, valid } => {
                assert_eq!(&values.data[..4], &[1.0, 1.0, 2.0, 2.0]);
                assert_eq!(&valid.unwrap()[..4], &[true, true, false, false]);
            }
            other => panic!("{other:?}"),
        }
        let labels = TargetData::Labels {
            labels: vec![255, 0, 1, 16],
            height: 2,
            width: 2,
        };
        match resize_target(labels, 4) {
            TargetData::Labels { labels, height, .. } => {
                assert_eq!(height, 4);
                assert_eq!(&labels[..8], &[255, 255, 0, 0, 255, 255, 0, 0]);
            }
            other => panic!("{other:?}"),
        }
    }
}
