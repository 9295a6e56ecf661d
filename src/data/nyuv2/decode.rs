//! Decoding one sample's files: the image and each target, checked against the image's size.

use std::path::Path;

use super::{NormalDecoding, Nyuv2, Nyuv2Layout, Nyuv2Target};
use crate::data::files::{read_npy, read_png};
use crate::data::{Image, TargetData};
use crate::{Error, Result};

impl Nyuv2 {
    /// The RGB image; an MTAN image with a NaN or infinite value is refused (it would turn
    /// every loss of its batch into NaN).
    pub(super) fn load_image(&self, path: &Path) -> Result<Image> {
        match self.config.layout {
            Nyuv2Layout::Nddr => {
                let png = read_png(path)?;
                if png.channels < 3 || png.bit_depth != 8 {
                    return Err(Error::Dataset(format!(
                        "{}: expected an 8-bit RGB image, found {} channel(s) of {} bits",
                        path.display(),
                        png.channels,
                        png.bit_depth
                    )));
                }
                let (h, w, c) = (png.height, png.width, png.channels);
                Ok(planar(&png.samples, c, 3, h, w, |v| v as f32))
            }
            Nyuv2Layout::Mtan => {
                let (h, w, c, data) = hwc_npy(path, 3)?;
                if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                    let pixel = i / c;
                    return Err(Error::Dataset(format!(
                        "{}: value {} at row {}, column {} (channel {}): an image must be finite",
                        path.display(),
                        data[i],
                        pixel / w,
                        pixel % w,
                        i % c
                    )));
                }
                Ok(planar(&data, c, 3, h, w, |v| v as f32))
            }
        }
    }

    /// One target of the sample whose image is `image`, of the image's size.
    pub(super) fn load_target(
        &self,
        target: Nyuv2Target,
        path: &Path,
        image: &Image,
    ) -> Result<TargetData> {
        let size = [image.height, image.width];
        match target {
            Nyuv2Target::Segmentation => self.load_labels(path, size),
            Nyuv2Target::Normals => self.load_normals(path, size),
            Nyuv2Target::Depth => load_depth(path, size),
        }
    }

    /// Class labels: 0..classes, 255 (and -1 in the MTAN layout) ignored, anything else an
    /// error naming the pixel.
    fn load_labels(&self, path: &Path, [h, w]: [usize; 2]) -> Result<TargetData> {
        let layout = self.config.layout;
        let (th, tw, raw): (usize, usize, Vec<f64>) = match layout {
            Nyuv2Layout::Nddr => {
                let png = read_png(path)?;
                if png.channels != 1 {
                    return Err(Error::Dataset(format!(
                        "{}: expected a single-channel label image, found {} channels",
                        path.display(),
                        png.channels
                    )));
                }
                let raw = png.samples.iter().map(|&v| v as f64).collect();
                (png.height, png.width, raw)
            }
            Nyuv2Layout::Mtan => {
                let (th, tw, _, data) = hwc_npy(path, 1)?;
                (th, tw, data)
            }
        };
        check_size(path, [th, tw], [h, w])?;
        let classes = self.config.classes as f64;
        let also = if layout == Nyuv2Layout::Mtan {
            " or -1"
        } else {
            ""
        };
        let label = |(i, &v): (usize, &f64)| {
            if v == TargetData::IGNORE as f64 || v == -1.0 {
                Ok(TargetData::IGNORE)
            } else if v.fract() == 0.0 && (0.0..classes).contains(&v) {
                Ok(v as i64)
            } else {
                Err(Error::Dataset(format!(
                    "{}: label {v} at row {}, column {} is outside 0..{} (255{also} = ignore)",
                    path.display(),
                    i / w,
                    i % w,
                    self.config.classes,
                )))
            }
        };
        Ok(TargetData::Labels {
            labels: raw.iter().enumerate().map(label).collect::<Result<_>>()?,
            height: h,
            width: w,
        })
    }

    /// Surface normals. Invalid: the layout's marker (white in the NDDR PNGs, all-zero in
    /// the MTAN arrays), a non-finite value (stored as 0), and, when decoded, a vector
    /// shorter than 0.5 (the NDDR PNGs hold (127, 127, 127) at 1-2% of the pixels the
    /// reference counts as valid: a zero vector, which has no direction to learn). With
    /// [`NormalDecoding::ReferenceRaw`] the raw values and the reference's validity (only
    /// white is invalid) come back as plain dense values, so a flip mirrors them without
    /// negating x, as the reference's `hflip` does.
    fn load_normals(&self, path: &Path, [h, w]: [usize; 2]) -> Result<TargetData> {
        let layout = self.config.layout;
        let (th, tw, c, data) = match layout {
            Nyuv2Layout::Nddr => {
                let png = read_png(path)?;
                if png.channels < 3 || png.bit_depth != 8 {
                    return Err(Error::Dataset(format!(
                        "{}: expected an 8-bit RGB normal map, found {} channel(s) of {} bits",
                        path.display(),
                        png.channels,
                        png.bit_depth
                    )));
                }
                let data = png.samples.iter().map(|&v| v as f64).collect();
                (png.height, png.width, png.channels, data)
            }
            Nyuv2Layout::Mtan => hwc_npy(path, 3)?,
        };
        check_size(path, [th, tw], [h, w])?;
        let marker = |p: &[f64]| match layout {
            Nyuv2Layout::Nddr => p[..3] == [255.0; 3],
            Nyuv2Layout::Mtan => p[..3] == [0.0; 3],
        };
        let raw = layout == Nyuv2Layout::Nddr
            && self.config.normal_decoding == NormalDecoding::ReferenceRaw;
        if raw {
            let valid = data.chunks(c).map(|p| !marker(p)).collect();
            return Ok(TargetData::Dense {
                values: planar(&data, c, 3, h, w, |v| v as f32),
                valid: Some(valid),
            });
        }
        let decode = |v: f64| match layout {
            Nyuv2Layout::Nddr => v / 127.5 - 1.0,
            Nyuv2Layout::Mtan => v,
        };
        let decoded: Vec<f64> = (data.iter())
            .map(|&v| decode(v))
            .map(|v| if v.is_finite() { v } else { 0.0 })
            .collect();
        let valid = (data.chunks(c).zip(decoded.chunks(c)))
            .map(|(stored, vector)| {
                let length = vector[..3].iter().map(|v| v * v).sum::<f64>().sqrt();
                !marker(stored) && stored[..3].iter().all(|v| v.is_finite()) && length >= 0.5
            })
            .collect();
        Ok(TargetData::Normals {
            values: planar(&decoded, c, 3, h, w, |v| v as f32),
            valid: Some(valid),
        })
    }
}

/// Depth in metres; zero and non-finite values are invalid (and stored as 0).
fn load_depth(path: &Path, [h, w]: [usize; 2]) -> Result<TargetData> {
    let array = read_npy(path)?;
    let (th, tw) = match array.shape[..] {
        [th, tw] | [th, tw, 1] => (th, tw),
        _ => {
            return Err(Error::Dataset(format!(
                "{}: expected a depth map of shape (height, width) or (height, width, 1), \
                 found {:?}",
                path.display(),
                array.shape
            )));
        }
    };
    check_size(path, [th, tw], [h, w])?;
    let valid = |d: f64| d.is_finite() && d > 0.0;
    let values = (array.data.iter())
        .map(|&d| if valid(d) { d as f32 } else { 0.0 })
        .collect();
    Ok(TargetData::Dense {
        values: Image::new(values, 1, h, w)?,
        valid: Some(array.data.iter().map(|&d| valid(d)).collect()),
    })
}

/// A target must have its image's size.
fn check_size(path: &Path, [th, tw]: [usize; 2], [h, w]: [usize; 2]) -> Result<()> {
    if [th, tw] != [h, w] {
        return Err(Error::Dataset(format!(
            "{}: {th} x {tw} pixels, but its image is {h} x {w}",
            path.display()
        )));
    }
    Ok(())
}

/// Interleaved `[h, w, c]` samples to a planar image of the first `keep` channels.
fn planar<T: Copy>(
    samples: &[T],
    channels: usize,
    keep: usize,
    height: usize,
    width: usize,
    convert: impl Fn(T) -> f32,
) -> Image {
    let mut data = Vec::with_capacity(keep * height * width);
    for c in 0..keep {
        data.extend(
            samples
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|&v| convert(v)),
        );
    }
    Image {
        data,
        channels: keep,
        height,
        width,
    }
}

/// A `(height, width[, channels])` array with `channels` channels (1 allows 2-D arrays).
fn hwc_npy(path: &Path, channels: usize) -> Result<(usize, usize, usize, Vec<f64>)> {
    let array = read_npy(path)?;
    match array.shape[..] {
        [h, w] if channels == 1 => Ok((h, w, 1, array.data)),
        [h, w, c] if c == channels => Ok((h, w, c, array.data)),
        _ => Err(Error::Dataset(format!(
            "{}: expected shape (height, width{}), found {:?}",
            path.display(),
            if channels == 1 {
                String::new()
            } else {
                format!(", {channels}")
            },
            array.shape
        ))),
    }
}
