//! Training augmentation that keeps every target consistent with the image.
//!
//! In the reference's order: colour jitter, random rescale of the shorter side, horizontal
//! flip, padding where the image is smaller than the crop, random crop. The image is resized
//! bilinearly; labels, normals, depth and validity masks by nearest neighbour. A flip mirrors
//! every target and negates the x component of normals.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{Image, MultiTaskSample, TargetData};
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Random colour changes in HSV space, as torchvision's `ColorJitter(hue, saturation)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColourJitter {
    /// Hue shift drawn from `U(-hue, hue)`, in turns of the colour wheel (at most 0.5).
    pub hue: f64,
    /// Saturation factor drawn from `U(1 - saturation, 1 + saturation)`.
    pub saturation: f64,
    /// The largest pixel value of the raw image (255 for 8-bit images, 1 for `[0, 1]`);
    /// results are clamped to `[0, pixel_max]`.
    pub pixel_max: f32,
}

/// The augmentation of training samples. `Default` does nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Augmentation {
    /// Colour jitter of the image (raw RGB), applied first.
    pub colour_jitter: Option<ColourJitter>,
    /// Rescale so the shorter side is its length times `U(low, high)`.
    pub scale: Option<(f64, f64)>,
    /// Mirror horizontally with probability 1/2.
    pub flip: bool,
    /// Random crop of `[height, width]`; an image smaller than the crop is first padded on
    /// both sides by the shortfall (image 0, labels ignored, dense targets invalid), as the
    /// reference does, so its placement within the crop is random too.
    pub crop: Option<[usize; 2]>,
}

impl Augmentation {
    /// The reference's NYUv2 training augmentation: jitter (hue 0.05, saturation 0.05) of
    /// 8-bit RGB, shorter side x U(0.5, 1.5), flip, 321 x 321 crop.
    pub fn nyuv2_reference() -> Self {
        Self {
            colour_jitter: Some(ColourJitter {
                hue: 0.05,
                saturation: 0.05,
                pixel_max: 255.0,
            }),
            scale: Some((0.5, 1.5)),
            flip: true,
            crop: Some([321, 321]),
        }
    }

    /// Whether this augmentation changes nothing.
    pub fn is_identity(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        if let Some(j) = self.colour_jitter
            && !((0.0..=0.5).contains(&j.hue)
                && (0.0..1.0).contains(&j.saturation)
                && j.pixel_max > 0.0)
        {
            return Err(Error::config(
                "augmentation.colour_jitter",
                "hue must lie in [0, 0.5], saturation in [0, 1), pixel_max above 0",
            ));
        }
        if let Some((low, high)) = self.scale
            && !(low > 0.0 && high >= low && high.is_finite())
        {
            return Err(Error::config("augmentation.scale", "needs 0 < low <= high"));
        }
        if let Some([h, w]) = self.crop
            && (h == 0 || w == 0)
        {
            return Err(Error::config(
                "augmentation.crop",
                "crop sides must be positive",
            ));
        }
        Ok(())
    }

    /// Applies the augmentation to one raw sample, drawing from `rng`.
    ///
    /// # Errors
    /// Targets whose size differs from the image's.
    pub fn apply(&self, sample: MultiTaskSample, rng: &mut SeededRng) -> Result<MultiTaskSample> {
        let MultiTaskSample {
            mut image,
            mut targets,
        } = sample;
        for (t, target) in targets.iter().enumerate() {
            if let Some([h, w]) = spatial_size(target)
                && [h, w] != [image.height, image.width]
            {
                return Err(Error::shape(
                    format!("target {t} of a sample"),
                    format!("{} x {} like its image", image.height, image.width),
                    format!("{h} x {w}"),
                ));
            }
        }
        if let Some(jitter) = self.colour_jitter {
            image = jitter_colours(image, jitter, rng);
        }
        if let Some((low, high)) = self.scale {
            let factor = low + (high - low) * rng.random::<f64>();
            let shorter = image.height.min(image.width);
            let new_shorter = ((shorter as f64 * factor) as usize).max(1);
            let (h, w) = if image.height <= image.width {
                (new_shorter, image.width * new_shorter / image.height)
            } else {
                (image.height * new_shorter / image.width, new_shorter)
            };
            let (h, w) = (h.max(1), w.max(1));
            image = resize_bilinear(&image, h, w);
            targets = targets
                .into_iter()
                .map(|t| resize_target(t, h, w))
                .collect();
        }
        if self.flip && rng.random::<f64>() < 0.5 {
            image = flip_image(&image);
            targets = targets.into_iter().map(flip_target).collect();
        }
        if let Some([crop_h, crop_w]) = self.crop {
            let pad_h = crop_h.saturating_sub(image.height);
            let pad_w = crop_w.saturating_sub(image.width);
            if pad_h > 0 || pad_w > 0 {
                image = pad_image(&image, pad_h, pad_w, 0.0);
                targets = targets
                    .into_iter()
                    .map(|t| pad_target(t, pad_h, pad_w))
                    .collect();
            }
            let top = rng.random_range(0..=image.height - crop_h);
            let left = rng.random_range(0..=image.width - crop_w);
            image = crop_image(&image, top, left, crop_h, crop_w);
            targets = targets
                .into_iter()
                .map(|t| crop_target(t, top, left, crop_h, crop_w))
                .collect();
        }
        Ok(MultiTaskSample { image, targets })
    }
}

fn spatial_size(target: &TargetData) -> Option<[usize; 2]> {
    match target {
        TargetData::Dense { values, .. } | TargetData::Normals { values, .. } => {
            Some([values.height, values.width])
        }
        TargetData::Labels { height, width, .. } => Some([*height, *width]),
        TargetData::Class(_) | TargetData::SoftLabels(_) => None,
    }
}

/// Applies `f` to every spatial plane of a target (values, labels and validity alike).
fn map_target(
    target: TargetData,
    image: impl Fn(&Image) -> Image,
    labels: impl Fn(&[i64], usize, usize) -> (Vec<i64>, usize, usize),
    mask: impl Fn(&[bool], usize, usize) -> Vec<bool>,
) -> TargetData {
    let map_valid = |valid: Option<Vec<bool>>, values: &Image| {
        let v = valid.unwrap_or_else(|| vec![true; values.height * values.width]);
        Some(mask(&v, values.height, values.width))
    };
    match target {
        TargetData::Dense { values, valid } => {
            let valid = map_valid(valid, &values);
            TargetData::Dense {
                values: image(&values),
                valid,
            }
        }
        TargetData::Normals { values, valid } => {
            let valid = map_valid(valid, &values);
            TargetData::Normals {
                values: image(&values),
                valid,
            }
        }
        TargetData::Labels {
            labels: l,
            height,
            width,
        } => {
            let (labels, height, width) = labels(&l, height, width);
            TargetData::Labels {
                labels,
                height,
                width,
            }
        }
        other => other,
    }
}

fn resize_target(target: TargetData, h: usize, w: usize) -> TargetData {
    map_target(
        target,
        |img| resize_nearest_image(img, h, w),
        |l, lh, lw| (resize_nearest(l, lh, lw, h, w), h, w),
        |m, mh, mw| resize_nearest(m, mh, mw, h, w),
    )
}

fn flip_target(target: TargetData) -> TargetData {
    let negate_x = matches!(target, TargetData::Normals { .. });
    let flipped = map_target(
        target,
        flip_image,
        |l, h, w| (flip_plane(l, h, w), h, w),
        flip_plane,
    );
    match flipped {
        TargetData::Normals { mut values, valid } if negate_x => {
            let plane = values.height * values.width;
            for v in &mut values.data[..plane] {
                *v = -*v;
            }
            TargetData::Normals { values, valid }
        }
        other => other,
    }
}

fn pad_target(target: TargetData, pad_h: usize, pad_w: usize) -> TargetData {
    map_target(
        target,
        |img| pad_image(img, pad_h, pad_w, 0.0),
        |l, h, w| {
            (
                pad_plane(l, h, w, pad_h, pad_w, TargetData::IGNORE),
                h + 2 * pad_h,
                w + 2 * pad_w,
            )
        },
        |m, h, w| pad_plane(m, h, w, pad_h, pad_w, false),
    )
}

fn crop_target(target: TargetData, top: usize, left: usize, h: usize, w: usize) -> TargetData {
    map_target(
        target,
        |img| crop_image(img, top, left, h, w),
        |l, _, lw| (crop_plane(l, lw, top, left, h, w), h, w),
        |m, _, mw| crop_plane(m, mw, top, left, h, w),
    )
}

/// Bilinear resize with half-pixel centres (no antialiasing), per channel.
pub(crate) fn resize_bilinear(image: &Image, h: usize, w: usize) -> Image {
    let rows = crate::resample::bilinear_matrix(image.height, h, false);
    let columns = crate::resample::bilinear_matrix(image.width, w, false);
    let taps = |matrix: &[f32], input: usize, output: usize| -> Vec<Vec<(usize, f32)>> {
        (0..output)
            .map(|o| {
                (0..input)
                    .filter_map(|i| {
                        let weight = matrix[o * input + i];
                        (weight != 0.0).then_some((i, weight))
                    })
                    .collect()
            })
            .collect()
    };
    let row_taps = taps(&rows, image.height, h);
    let column_taps = taps(&columns, image.width, w);
    let mut data = Vec::with_capacity(image.channels * h * w);
    for c in 0..image.channels {
        let plane =
            &image.data[c * image.height * image.width..(c + 1) * image.height * image.width];
        for rt in &row_taps {
            for ct in &column_taps {
                let mut v = 0.0f32;
                for &(y, wy) in rt {
                    for &(x, wx) in ct {
                        v += wy * wx * plane[y * image.width + x];
                    }
                }
                data.push(v);
            }
        }
    }
    Image {
        data,
        channels: image.channels,
        height: h,
        width: w,
    }
}

/// The source index of nearest-neighbour resizing (PIL's and PyTorch's `nearest`):
/// `floor(o * input / output)`.
fn nearest(o: usize, input: usize, output: usize) -> usize {
    ((o * input) / output).min(input - 1)
}

fn resize_nearest<T: Copy>(plane: &[T], h: usize, w: usize, nh: usize, nw: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(nh * nw);
    for y in 0..nh {
        let sy = nearest(y, h, nh);
        for x in 0..nw {
            out.push(plane[sy * w + nearest(x, w, nw)]);
        }
    }
    out
}

fn resize_nearest_image(image: &Image, h: usize, w: usize) -> Image {
    per_channel(image, h, w, |p| {
        resize_nearest(p, image.height, image.width, h, w)
    })
}

fn flip_plane<T: Copy>(plane: &[T], h: usize, w: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        out.extend(plane[y * w..(y + 1) * w].iter().rev());
    }
    out
}

fn flip_image(image: &Image) -> Image {
    per_channel(image, image.height, image.width, |p| {
        flip_plane(p, image.height, image.width)
    })
}

fn pad_plane<T: Copy>(plane: &[T], h: usize, w: usize, ph: usize, pw: usize, fill: T) -> Vec<T> {
    let (nh, nw) = (h + 2 * ph, w + 2 * pw);
    let mut out = vec![fill; nh * nw];
    for y in 0..h {
        out[(y + ph) * nw + pw..(y + ph) * nw + pw + w].copy_from_slice(&plane[y * w..(y + 1) * w]);
    }
    out
}

fn pad_image(image: &Image, ph: usize, pw: usize, fill: f32) -> Image {
    per_channel(image, image.height + 2 * ph, image.width + 2 * pw, |p| {
        pad_plane(p, image.height, image.width, ph, pw, fill)
    })
}

fn crop_plane<T: Copy>(
    plane: &[T],
    w: usize,
    top: usize,
    left: usize,
    ch: usize,
    cw: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(ch * cw);
    for y in top..top + ch {
        out.extend_from_slice(&plane[y * w + left..y * w + left + cw]);
    }
    out
}

fn crop_image(image: &Image, top: usize, left: usize, h: usize, w: usize) -> Image {
    per_channel(image, h, w, |p| crop_plane(p, image.width, top, left, h, w))
}

fn per_channel(image: &Image, h: usize, w: usize, f: impl Fn(&[f32]) -> Vec<f32>) -> Image {
    let plane = image.height * image.width;
    let mut data = Vec::with_capacity(image.channels * h * w);
    for c in 0..image.channels {
        data.extend(f(&image.data[c * plane..(c + 1) * plane]));
    }
    Image {
        data,
        channels: image.channels,
        height: h,
        width: w,
    }
}

/// Saturation then hue, in a random order as torchvision does; images with other than 3
/// channels are left alone.
fn jitter_colours(mut image: Image, jitter: ColourJitter, rng: &mut SeededRng) -> Image {
    if image.channels != 3 {
        return image;
    }
    let saturation = 1.0 + jitter.saturation * (2.0 * rng.random::<f64>() - 1.0);
    let hue = jitter.hue * (2.0 * rng.random::<f64>() - 1.0);
    let saturation_first = rng.random::<f64>() < 0.5;
    let plane = image.height * image.width;
    let max = jitter.pixel_max;
    for i in 0..plane {
        let mut rgb = [
            image.data[i],
            image.data[plane + i],
            image.data[2 * plane + i],
        ];
        let adjust_saturation = |rgb: [f32; 3]| {
            // torchvision blends with the ITU-R 601 grey level.
            let grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
            rgb.map(|v| (grey + saturation as f32 * (v - grey)).clamp(0.0, max))
        };
        let adjust_hue = |rgb: [f32; 3]| {
            let [h, s, v] = rgb_to_hsv(rgb);
            hsv_to_rgb([(h + hue as f32).rem_euclid(1.0), s, v])
        };
        rgb = if saturation_first {
            adjust_hue(adjust_saturation(rgb))
        } else {
            adjust_saturation(adjust_hue(rgb))
        };
        image.data[i] = rgb[0];
        image.data[plane + i] = rgb[1];
        image.data[2 * plane + i] = rgb[2];
    }
    image
}

/// RGB (any non-negative scale) to HSV with hue in [0, 1) and value on the input's scale.
fn rgb_to_hsv([r, g, b]: [f32; 3]) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let s = if max > 0.0 { delta / max } else { 0.0 };
    let h = if delta == 0.0 {
        0.0
    } else if max == r {
        ((g - b) / delta).rem_euclid(6.0) / 6.0
    } else if max == g {
        ((b - r) / delta + 2.0) / 6.0
    } else {
        ((r - g) / delta + 4.0) / 6.0
    };
    [h, s, max]
}

fn hsv_to_rgb([h, s, v]: [f32; 3]) -> [f32; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match (i as i32).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests;
