//! Decoding one sample's files: the image and each target, checked against the image's size.

use std::path::Path;

use super::{NormalDecoding, Nyuv2, Nyuv2Layout, Nyuv2Target};
use crate::data::files::{read_npy, read_png};
use crate::data::{Image, TargetData};
use crate::{Error, Result};

impl Nyuv2 {
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
                Ok(planar(
                    &png.samples,
                    png.channels,
                    3,
                    png.height,
                    png.width,
                    |v| v as f32,
                ))
            }
            Nyuv2Layout::Mtan => {
                let (h, w, c, data) = hwc_npy(path, 3)?;
                Ok(planar(&data, c, 3, h, w, |v| v as f32))
            }
        }
    }

    pub(super) fn load_target(
        &self,
        target: Nyuv2Target,
        path: &Path,
        image: &Image,
    ) -> Result<TargetData> {
        let (h, w) = (image.height, image.width);
        let size_error = |th: usize, tw: usize| {
            Error::Dataset(format!(
                "{}: {th} x {tw} pixels, but its image is {h} x {w}",
                path.display()
            ))
        };
        let layout = self.config.layout;
        match target {
            Nyuv2Target::Segmentation => {
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
                        (
                            png.height,
                            png.width,
                            png.samples.iter().map(|&v| v as f64).collect(),
                        )
                    }
                    Nyuv2Layout::Mtan => {
                        let (th, tw, _, data) = hwc_npy(path, 1)?;
                        (th, tw, data)
                    }
                };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                let classes = self.config.classes as f64;
                let mut labels = Vec::with_capacity(raw.len());
                for (i, &v) in raw.iter().enumerate() {
                    let label = if v == TargetData::IGNORE as f64 || v == -1.0 {
                        TargetData::IGNORE
                    } else if v.fract() == 0.0 && (0.0..classes).contains(&v) {
                        v as i64
                    } else {
                        return Err(Error::Dataset(format!(
                            "{}: label {v} at row {}, column {} is outside 0..{} (255{} = ignore)",
                            path.display(),
                            i / w,
                            i % w,
                            self.config.classes,
                            if layout == Nyuv2Layout::Mtan {
                                " or -1"
                            } else {
                                ""
                            }
                        )));
                    };
                    labels.push(label);
                }
                Ok(TargetData::Labels {
                    labels,
                    height: h,
                    width: w,
                })
            }
            Nyuv2Target::Normals => {
                let (th, tw, c, data, valid): (usize, usize, usize, Vec<f64>, Vec<bool>) =
                    match layout {
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
                            let c = png.channels;
                            let valid = png
                                .samples
                                .chunks(c)
                                .map(|p| !(p[0] == 255 && p[1] == 255 && p[2] == 255))
                                .collect();
                            let decode = |v: u16| match self.config.normal_decoding {
                                NormalDecoding::Centred => v as f64 / 127.5 - 1.0,
                                NormalDecoding::ReferenceRaw => v as f64,
                            };
                            let data = png.samples.iter().map(|&v| decode(v)).collect();
                            (png.height, png.width, c, data, valid)
                        }
                        Nyuv2Layout::Mtan => {
                            let (th, tw, c, data) = hwc_npy(path, 3)?;
                            let valid = data
                                .chunks(c)
                                .map(|p| p.iter().take(3).any(|&v| v != 0.0))
                                .collect();
                            (th, tw, c, data, valid)
                        }
                    };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                Ok(TargetData::Normals {
                    values: planar(&data, c, 3, h, w, |v| v as f32),
                    valid: Some(valid),
                })
            }
            Nyuv2Target::Depth => {
                let array = read_npy(path)?;
                let (th, tw) = match array.shape[..] {
                    [th, tw] | [th, tw, 1] => (th, tw),
                    _ => {
                        return Err(Error::Dataset(format!(
                            "{}: expected a depth map of shape (height, width) or (height, \
                             width, 1), found {:?}",
                            path.display(),
                            array.shape
                        )));
                    }
                };
                if (th, tw) != (h, w) {
                    return Err(size_error(th, tw));
                }
                let valid = array
                    .data
                    .iter()
                    .map(|&d| d.is_finite() && d > 0.0)
                    .collect();
                let values = array
                    .data
                    .iter()
                    .map(|&d| {
                        if d.is_finite() && d > 0.0 {
                            d as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Ok(TargetData::Dense {
                    values: Image::new(values, 1, h, w)?,
                    valid: Some(valid),
                })
            }
        }
    }
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
