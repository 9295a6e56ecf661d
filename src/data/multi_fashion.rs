//! MultiFashion: two Fashion-MNIST items overlaid with offsets, one task per item.
//!
//! The standard two-task benchmark of the MGDA / Pareto-MTL / Nash-MTL line of work, built from
//! the IDX files Debian's `dataset-fashion-mnist` package installs under
//! `/usr/share/datasets/fashion-mnist/` (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`).
//! Each image puts one item near the top-left and another near the bottom-right of a 36 x 36
//! canvas (each shifted by up to 2 pixels), keeps the brighter pixel where they overlap, and is
//! resized to 28 x 28. Task `left` is the top-left item's class, task `right` the other's.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use rand::RngExt;

use super::augment::resize_bilinear;
use super::{Image, InMemoryDataset, MultiTaskSample, TargetData};
use crate::rng::SeededRng;
use crate::{Error, Result};

/// Where Debian's package puts Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// An IDX array (the MNIST family's format): dimensions and unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Parses IDX bytes: two zero bytes, the type code `0x08` (unsigned byte), the number of
/// dimensions, one big-endian `u32` per dimension, then the values.
///
/// # Errors
/// A wrong magic number, a type other than unsigned bytes, or data shorter or longer than the
/// dimensions say; `origin` names the source in the message.
pub fn parse_idx(bytes: &[u8], origin: &str) -> Result<IdxArray> {
    let invalid = |reason: String| Error::Dataset(format!("{origin}: {reason}"));
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid(
            "not an IDX file (its first two bytes must be 0)".into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(invalid(format!(
            "element type 0x{:02x} is not supported (0x08, unsigned byte, is)",
            bytes[2]
        )));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(invalid(format!("truncated header for {rank} dimensions")));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|d| {
            u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap_or([0; 4])) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| invalid(format!("dimensions {dims:?} overflow")))?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(invalid(format!(
            "{} data bytes for dimensions {dims:?} ({count} expected)",
            data.len()
        )));
    }
    Ok(IdxArray {
        dims,
        data: data.to_vec(),
    })
}

/// Reads an IDX file, gzip-compressed or not (detected from its first bytes).
///
/// # Errors
/// A missing or unreadable file, corrupt gzip data, or a malformed IDX array.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Dataset(format!("{}: corrupt gzip data ({e})", path.display())))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, &path.display().to_string())
}

/// Fashion-MNIST images and labels of one split.
#[derive(Clone, Debug)]
pub struct FashionMnist {
    /// Images, `count x 28 x 28` bytes.
    pub images: IdxArray,
    /// Labels 0..9.
    pub labels: Vec<u8>,
}

impl FashionMnist {
    /// Reads the `train` or `t10k` split from `dir` (gzip-compressed or not).
    ///
    /// # Errors
    /// Missing files (with a hint to install `dataset-fashion-mnist`), malformed files, or
    /// images and labels that do not match.
    pub fn open(dir: &Path, split: &str) -> Result<Self> {
        let find = |kind: &str| -> Result<PathBuf> {
            let base = dir.join(format!("{split}-{kind}-ubyte"));
            let gz = base.with_file_name(format!("{split}-{kind}-ubyte.gz"));
            [gz, base.clone()].into_iter().find(|p| p.is_file()).ok_or_else(|| {
                Error::Dataset(format!(
                    "Fashion-MNIST: {}(.gz) not found; on Debian `apt install dataset-fashion-mnist` puts the files in {FASHION_MNIST_DIR}",
                    base.display()
                ))
            })
        };
        let images = read_idx(&find("images-idx3")?)?;
        let labels = read_idx(&find("labels-idx1")?)?;
        if images.dims.len() != 3 || labels.dims.len() != 1 || images.dims[0] != labels.dims[0] {
            return Err(Error::Dataset(format!(
                "Fashion-MNIST in {}: images {:?} and labels {:?} do not match (expected [n, 28, 28] and [n])",
                dir.display(),
                images.dims,
                labels.dims
            )));
        }
        if let Some(bad) = labels.data.iter().find(|&&l| l >= 10) {
            return Err(Error::Dataset(format!(
                "Fashion-MNIST in {}: label {bad} outside 0..10",
                dir.display()
            )));
        }
        Ok(Self {
            labels: labels.data,
            images,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Builds `count` MultiFashion samples from `source`, drawing item pairs and offsets from
/// `seed`. Images are `[1, 28, 28]` in [0, 1]; targets are the left and right items' classes,
/// named `left` and `right`.
///
/// # Errors
/// An empty source, or items that are not 28 x 28.
pub fn multi_fashion(source: &FashionMnist, count: usize, seed: u64) -> Result<InMemoryDataset> {
    let dims = &source.images.dims;
    if source.is_empty() || dims[1..] != [28, 28] {
        return Err(Error::Dataset(format!(
            "MultiFashion needs 28 x 28 items, got {} items of {:?}",
            source.len(),
            &dims[1..]
        )));
    }
    let mut rng = SeededRng::new(seed);
    let (size, canvas) = (28usize, 36usize);
    let samples = (0..count)
        .map(|_| {
            let left = rng.random_range(0..source.len());
            let right = rng.random_range(0..source.len());
            let (ly, lx) = (rng.random_range(0..=2), rng.random_range(0..=2));
            let (ry, rx) = (
                canvas - size - rng.random_range(0..=2),
                canvas - size - rng.random_range(0..=2),
            );
            let mut pixels = vec![0.0f32; canvas * canvas];
            for (item, oy, ox) in [(left, ly, lx), (right, ry, rx)] {
                let data = &source.images.data[item * size * size..(item + 1) * size * size];
                for y in 0..size {
                    for x in 0..size {
                        let v = data[y * size + x] as f32 / 255.0;
                        let p = &mut pixels[(y + oy) * canvas + x + ox];
                        *p = p.max(v);
                    }
                }
            }
            let image = resize_bilinear(&Image::new(pixels, 1, canvas, canvas)?, size, size);
            Ok(MultiTaskSample {
                image,
                targets: vec![
                    TargetData::Class(source.labels[left] as i64),
                    TargetData::Class(source.labels[right] as i64),
                ],
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(InMemoryDataset::new(samples).with_target_names(["left", "right"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::MultiTaskDataset;
    use std::io::Write;

    /// IDX bytes written by hand: magic 0 0 8 rank, big-endian dimensions, data.
    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    #[test]
    fn parses_idx_and_rejects_malformed_files() {
        let a = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6]), "x").unwrap();
        assert_eq!(a.dims, [2, 3]);
        assert_eq!(a.data, [1, 2, 3, 4, 5, 6]);
        let err = parse_idx(&idx(&[2, 3], &[1, 2]), "short.idx")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("short.idx") && err.contains("6 expected"),
            "{err}"
        );
        assert!(
            parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0], "f").is_err(),
            "float type"
        );
        assert!(parse_idx(&[1, 2, 3], "x").is_err());
        assert!(
            parse_idx(&[0, 0, 8, 3, 0, 0], "x").is_err(),
            "truncated header"
        );
        assert!(parse_idx(&idx(&[u32::MAX, u32::MAX, u32::MAX], &[]), "x").is_err());
    }

    #[test]
    fn builds_multi_fashion_from_gzipped_files() {
        let dir = std::env::temp_dir().join(format!("mtl-nas-fashion-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Three items: item k is a 28 x 28 square of brightness 80 (k + 1), labels 7, 1, 9.
        let mut images = Vec::new();
        for k in 0..3u8 {
            images.extend(std::iter::repeat_n(80 * (k + 1), 28 * 28));
        }
        let write_gz = |name: &str, bytes: &[u8]| {
            let file = std::fs::File::create(dir.join(name)).unwrap();
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
            gz.write_all(bytes).unwrap();
            gz.finish().unwrap();
        };
        write_gz("train-images-idx3-ubyte.gz", &idx(&[3, 28, 28], &images));
        write_gz("train-labels-idx1-ubyte.gz", &idx(&[3], &[7, 1, 9]));
        let source = FashionMnist::open(&dir, "train").unwrap();
        assert_eq!(source.len(), 3);
        let data = multi_fashion(&source, 20, 4).unwrap();
        assert_eq!(data.len(), 20);
        for s in data.samples() {
            assert_eq!(s.image.shape(), [1, 28, 28]);
            assert!(s.image.data.iter().all(|v| (0.0..=1.0).contains(v)));
            for t in &s.targets {
                assert!(matches!(t, TargetData::Class(c) if [7, 1, 9].contains(c)));
            }
        }
        // Same seed, same set.
        assert_eq!(
            multi_fashion(&source, 20, 4).unwrap().samples(),
            data.samples()
        );
        let err = FashionMnist::open(&dir, "t10k").unwrap_err().to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte") && err.contains("dataset-fashion-mnist"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
