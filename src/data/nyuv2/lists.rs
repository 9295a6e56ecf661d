//! Finding a split's files: the NDDR layout's list files, the MTAN layout's folders.

use std::path::{Path, PathBuf};

use super::{Entry, Nyuv2Config, Nyuv2Layout, Nyuv2Split, Nyuv2Target};
use crate::{Error, Result};

pub(super) fn layout_name(layout: Nyuv2Layout) -> &'static str {
    match layout {
        Nyuv2Layout::Nddr => "NDDR/MTL-NAS",
        Nyuv2Layout::Mtan => "MTAN/LibMTL",
    }
}

pub(super) fn layout_hint(layout: Nyuv2Layout) -> &'static str {
    match layout {
        Nyuv2Layout::Nddr => {
            "list/training_seg.txt, list/training_normal_mask.txt, list/testing_seg.txt, \
             list/testing_normal_mask.txt with lines '/image.png /label.png'"
        }
        Nyuv2Layout::Mtan => {
            "train/ and val/ folders with image/, label/, depth/, normal/ of {i}.npy"
        }
    }
}

pub(super) fn open_nddr(config: &Nyuv2Config) -> Result<Vec<Entry>> {
    let prefix = match config.split {
        Nyuv2Split::Train => "training",
        Nyuv2Split::Test => "testing",
    };
    let mut images: Option<(PathBuf, Vec<PathBuf>)> = None;
    let mut per_target = Vec::new();
    for &target in &config.targets {
        let list = match target {
            Nyuv2Target::Segmentation => format!("{prefix}_seg.txt"),
            Nyuv2Target::Normals => format!("{prefix}_normal_mask.txt"),
            Nyuv2Target::Depth => format!("{prefix}_depth.txt"),
        };
        let list_path = config.root.join("list").join(&list);
        if !list_path.is_file() {
            let extra = if target == Nyuv2Target::Depth {
                " (depth is not part of the NDDR layout; AdaShare's copy lists it there, or use the MTAN layout)"
            } else {
                ""
            };
            return Err(Error::Dataset(format!(
                "NYUv2 (NDDR/MTL-NAS layout): expected the list file {}{extra}; the layout is {}",
                list_path.display(),
                layout_hint(Nyuv2Layout::Nddr)
            )));
        }
        let (list_images, files) = read_list(&config.root, &list_path)?;
        match &images {
            None => images = Some((list_path.clone(), list_images)),
            Some((first, expected)) if *expected != list_images => {
                return Err(Error::Dataset(format!(
                    "{} and {} do not list the same images in the same order",
                    first.display(),
                    list_path.display()
                )));
            }
            Some(_) => {}
        }
        per_target.push(files);
    }
    let (_, images) = images.unwrap_or_default();
    Ok(images
        .into_iter()
        .enumerate()
        .map(|(i, image)| Entry {
            image,
            targets: per_target.iter().map(|files| files[i].clone()).collect(),
        })
        .collect())
}

/// Parses the text of a list file: one `<image path> <label path>` pair per non-blank line.
/// `origin` names the file in errors.
///
/// # Errors
/// A line without exactly two paths (named by its number).
pub fn parse_list(text: &str, origin: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [image, label] = parts[..] else {
            return Err(Error::Dataset(format!(
                "{origin} line {}: expected '<image path> <label path>', found {line:?}",
                number + 1
            )));
        };
        pairs.push((image.to_string(), label.to_string()));
    }
    Ok(pairs)
}

/// Reads a list file of `<image> <label>` lines; every named file must exist.
fn read_list(root: &Path, list: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let text = std::fs::read_to_string(list).map_err(|source| Error::Io {
        path: list.to_path_buf(),
        source,
    })?;
    let root = root.to_string_lossy();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let numbered = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, _)| n + 1);
    let pairs = parse_list(&text, &list.display().to_string())?;
    for ((image, label), number) in pairs.into_iter().zip(numbered) {
        // The reference appends list paths to the root as plain strings.
        let glued = |listed: &str| (PathBuf::from(format!("{root}{listed}")), listed.to_string());
        let (image, label) = (glued(&image), glued(&label));
        for (path, listed) in [&image, &label] {
            if !path.is_file() {
                let hint = match listed.starts_with('/') {
                    true => String::new(),
                    false => format!(
                        " (the list names {listed:?}: list paths are appended to the root as \
                         they are, so they must start with `/`, as in '/images/0.png')"
                    ),
                };
                return Err(Error::Dataset(format!(
                    "{} line {number}: {} does not exist{hint}",
                    list.display(),
                    path.display()
                )));
            }
        }
        let ((image, _), (label, _)) = (image, label);
        images.push(image);
        labels.push(label);
    }
    Ok((images, labels))
}

pub(super) fn open_mtan(config: &Nyuv2Config) -> Result<Vec<Entry>> {
    let split = match config.split {
        Nyuv2Split::Train => "train",
        Nyuv2Split::Test => "val",
    };
    let base = config.root.join(split);
    let folder = |name: &str| -> Result<PathBuf> {
        let path = base.join(name);
        if path.is_dir() {
            Ok(path)
        } else {
            Err(Error::Dataset(format!(
                "NYUv2 (MTAN/LibMTL layout): expected the folder {}; the layout is {}",
                path.display(),
                layout_hint(Nyuv2Layout::Mtan)
            )))
        }
    };
    let image_dir = folder("image")?;
    let target_dirs = config
        .targets
        .iter()
        .map(|t| {
            folder(match t {
                Nyuv2Target::Segmentation => "label",
                Nyuv2Target::Depth => "depth",
                Nyuv2Target::Normals => "normal",
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let count = std::fs::read_dir(&image_dir)
        .map_err(|source| Error::Io {
            path: image_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "npy"))
        .count();
    (0..count)
        .map(|i| {
            let name = format!("{i}.npy");
            let image = image_dir.join(&name);
            let targets: Vec<PathBuf> = target_dirs.iter().map(|d| d.join(&name)).collect();
            for path in std::iter::once(&image).chain(&targets) {
                if !path.is_file() {
                    return Err(Error::Dataset(format!(
                        "NYUv2 (MTAN/LibMTL layout): {} does not exist ({count} images found, \
                         named 0.npy .. {}.npy)",
                        path.display(),
                        count.saturating_sub(1)
                    )));
                }
            }
            Ok(Entry { image, targets })
        })
        .collect()
}
