//! A generated stand-in for Taskonomy: synthetic indoor scenes written as Taskonomy files, in
//! either naming and at any building level, with a split file. For trying the loader and the
//! whole pipeline without the download, and for tests.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::decode::{TASKONOMY_EDGES_RANGE, TASKONOMY_KEYPOINTS_RANGE, TASKONOMY_NORMAL_HOLE};
use super::layout::root_name;
use super::names::ViewName;
use super::{BuildingLevel, TaskonomyDomain, TaskonomyNaming, TaskonomySplit};
use crate::data::{SceneConfig, SceneRender, SyntheticScenes, corner_map, edge_map};
use crate::{Error, Result};

/// What [`write_synthetic_taskonomy`] writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticTaskonomy {
    /// Where.
    pub root: PathBuf,
    /// The folder and file naming.
    pub naming: TaskonomyNaming,
    /// Where the building level sits. With [`BuildingLevel::None`] there must be one
    /// building, and the split file names it by the root folder's name.
    pub level: BuildingLevel,
    /// The buildings and the split each belongs to.
    pub buildings: Vec<(String, TaskonomySplit)>,
    /// Views per building (three views per point: `point_{i / 3}_view_{i % 3}`).
    pub views: usize,
    /// Square image size.
    pub size: usize,
    /// Seed of the scenes (each building draws its own from it).
    pub seed: u64,
    /// Leave out the segmentation file of every n-th view (0: never), as the public sample
    /// building lacks 56 of its 557.
    pub drop_segmentation_every: usize,
}

impl SyntheticTaskonomy {
    /// Three buildings (two training, one test) of 24 views at 32 x 32 pixels, no dropped
    /// files.
    pub fn new(root: impl Into<PathBuf>, naming: TaskonomyNaming, level: BuildingLevel) -> Self {
        Self {
            root: root.into(),
            naming,
            level,
            buildings: vec![
                ("building_0".into(), TaskonomySplit::Train),
                ("building_1".into(), TaskonomySplit::Train),
                ("building_2".into(), TaskonomySplit::Test),
            ],
            views: 24,
            size: 32,
            seed: 0,
            drop_segmentation_every: 0,
        }
    }

    /// The split file it writes, `root/train_val_test_synthetic.csv`.
    pub fn split_file(&self) -> PathBuf {
        self.root.join("train_val_test_synthetic.csv")
    }
}

/// Writes synthetic scenes as Taskonomy files: `rgb`, segmentation (the scene's 7 classes as
/// values 1..=7, 0 = uncertain at depth holes), normals (holes (128, 128, 128)), z-buffer
/// and euclidean depth (1/512 m, holes 65535), 2D keypoints (corner heatmaps) and texture
/// edges (surface boundaries, blurred: soft like an edge detector's response), encoded as
/// the loader expects them, so that decoding gives back the rendered values (up to 8- and
/// 16-bit rounding). No classification files. Returns the split file
/// ([`SyntheticTaskonomy::split_file`]).
///
/// # Errors
/// No buildings, several with [`BuildingLevel::None`], a size under 8, or a file that cannot
/// be written.
pub fn write_synthetic_taskonomy(config: &SyntheticTaskonomy) -> Result<PathBuf> {
    if config.buildings.is_empty() || config.views == 0 {
        return Err(Error::config(
            "synthetic taskonomy",
            "needs at least one building and one view",
        ));
    }
    let mut buildings = config.buildings.clone();
    if config.level == BuildingLevel::None {
        if buildings.len() != 1 {
            return Err(Error::config(
                "synthetic taskonomy.buildings",
                "without a building level the root holds exactly one building",
            ));
        }
        std::fs::create_dir_all(&config.root).map_err(|source| Error::Io {
            path: config.root.clone(),
            source,
        })?;
        buildings[0].0 = root_name(&config.root).ok_or_else(|| {
            Error::config("synthetic taskonomy.root", "the root folder has no name")
        })?;
    }
    let mut csv = String::from("id,train,val,test\n");
    for (b, (building, split)) in buildings.iter().enumerate() {
        let flag = |s: TaskonomySplit| u8::from(*split == s);
        csv.push_str(&format!(
            "{building},{},{},{}\n",
            flag(TaskonomySplit::Train),
            flag(TaskonomySplit::Val),
            flag(TaskonomySplit::Test)
        ));
        let scenes = SyntheticScenes::new(SceneConfig::new(
            config.views,
            config.size,
            config.size,
            config.seed.wrapping_mul(1000).wrapping_add(b as u64),
        ))?;
        write_building(config, building, &scenes)?;
    }
    let split_file = config.split_file();
    std::fs::write(&split_file, csv).map_err(|source| Error::Io {
        path: split_file.clone(),
        source,
    })?;
    Ok(split_file)
}

/// Writes every view of one building, each domain in its folder.
fn write_building(
    config: &SyntheticTaskonomy,
    building: &str,
    scenes: &SyntheticScenes,
) -> Result<()> {
    let folders = BuildingFolders::create(config, building)?;
    for i in 0..config.views {
        write_view(config, &folders, i, &scenes.render(i))?;
    }
    Ok(())
}

/// The folders of one building's domains.
struct BuildingFolders {
    rgb: PathBuf,
    segmentation: PathBuf,
    normals: PathBuf,
    depth: PathBuf,
    distance: PathBuf,
    keypoints: PathBuf,
    edges: PathBuf,
}

impl BuildingFolders {
    /// Creates the folders of `building` in the configured naming and at its level.
    fn create(config: &SyntheticTaskonomy, building: &str) -> Result<Self> {
        let folder = |name: &str| -> Result<PathBuf> {
            let dir = (config.level.folder(&config.root, building, name)).ok_or_else(|| {
                Error::config(
                    "building",
                    format!("`{building}` is not the root's name, which a layout without building folders needs"),
                )
            })?;
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            Ok(dir)
        };
        let domain_folder = |d: TaskonomyDomain| folder(d.folder_in(config.naming));
        Ok(Self {
            rgb: folder("rgb")?,
            segmentation: domain_folder(TaskonomyDomain::Segmentation)?,
            normals: domain_folder(TaskonomyDomain::Normals)?,
            depth: domain_folder(TaskonomyDomain::DepthZbuffer)?,
            distance: domain_folder(TaskonomyDomain::DepthEuclidean)?,
            keypoints: domain_folder(TaskonomyDomain::Keypoints2d)?,
            edges: domain_folder(TaskonomyDomain::EdgeTexture)?,
        })
    }
}

/// Writes view `i` (`point_{i / 3}_view_{i % 3}`), rendered as `render`, in every domain
/// (its segmentation unless dropped).
fn write_view(
    config: &SyntheticTaskonomy,
    folders: &BuildingFolders,
    i: usize,
    render: &SceneRender,
) -> Result<()> {
    let size = config.size;
    let name = ViewName {
        point: (i / 3).to_string(),
        view: (i % 3).to_string(),
        domain: "rgb".into(),
        extension: "png".into(),
    };
    let file = |d: TaskonomyDomain| d.file_names(config.naming, &name).remove(0);
    let path = folders.rgb.join(name.with_domain("rgb", "png"));
    write_png(&path, size, 3, 8, &rgb_samples(render, size))?;
    if config.drop_segmentation_every == 0
        || !(i + 1).is_multiple_of(config.drop_segmentation_every)
    {
        let path = folders
            .segmentation
            .join(file(TaskonomyDomain::Segmentation));
        write_png(&path, size, 1, 8, &segmentation_samples(render, size))?;
    }
    let path = folders.normals.join(file(TaskonomyDomain::Normals));
    write_png(&path, size, 3, 8, &normal_samples(render, size))?;
    let (depth, distance) = depth_samples(render, size);
    let path = folders.depth.join(file(TaskonomyDomain::DepthZbuffer));
    write_png(&path, size, 1, 16, &depth)?;
    let path = folders.distance.join(file(TaskonomyDomain::DepthEuclidean));
    write_png(&path, size, 1, 16, &distance)?;
    let keypoints = heatmap_samples(
        corner_map(&render.instances, size, size),
        TASKONOMY_KEYPOINTS_RANGE,
    );
    let path = folders.keypoints.join(file(TaskonomyDomain::Keypoints2d));
    write_png(&path, size, 1, 16, &keypoints)?;
    let edges = heatmap_samples(
        soft_edges(&edge_map(&render.instances, size, size), size),
        TASKONOMY_EDGES_RANGE,
    );
    let path = folders.edges.join(file(TaskonomyDomain::EdgeTexture));
    write_png(&path, size, 1, 16, &edges)
}

/// The 8-bit interleaved RGB samples of a render of `size` x `size` pixels.
fn rgb_samples(render: &SceneRender, size: usize) -> Vec<u16> {
    let plane = size * size;
    (0..plane)
        .flat_map(|p| (0..3).map(move |c| (c, p)))
        .map(|(c, p)| (render.image.data[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u16)
        .collect()
}

/// The segmentation samples of a render of `size` x `size` pixels: class + 1, 0 (uncertain)
/// at depth holes.
fn segmentation_samples(render: &SceneRender, size: usize) -> Vec<u16> {
    (0..size * size)
        .map(|p| {
            if render.depth_valid[p] {
                render.labels[p] as u16 + 1
            } else {
                0
            }
        })
        .collect()
}

/// The 8-bit interleaved normal samples of a render of `size` x `size` pixels,
/// 127.5-centred, [`TASKONOMY_NORMAL_HOLE`] where the normal is invalid.
fn normal_samples(render: &SceneRender, size: usize) -> Vec<u16> {
    let plane = size * size;
    (0..plane)
        .flat_map(|p| {
            let valid = render.normals_valid[p];
            (0..3).map(move |c| (p, c, valid))
        })
        .map(|(p, c, valid)| {
            if valid {
                ((render.normals.data[c * plane + p] as f64 + 1.0) * 127.5)
                    .round()
                    .clamp(0.0, 255.0) as u16
            } else {
                TASKONOMY_NORMAL_HOLE[c] as u16
            }
        })
        .collect()
}

/// The 16-bit z-buffer depth and euclidean distance samples (1/512 m, holes 65535) of a
/// render of `size` x `size` pixels.
fn depth_samples(render: &SceneRender, size: usize) -> (Vec<u16>, Vec<u16>) {
    let plane = size * size;
    let k = &render.intrinsics;
    let encode = |metres: f64| (metres * 512.0).round().clamp(0.0, 64499.0) as u16;
    let (mut depth, mut distance) = (vec![65535u16; plane], vec![65535u16; plane]);
    for p in 0..plane {
        if render.depth_valid[p] {
            let z = render.depth[p] as f64;
            let (x, y) = ((p % size) as f64, (p / size) as f64);
            let ray = 1.0 + ((x - k.cx) / k.fx).powi(2) + ((y - k.cy) / k.fy).powi(2);
            depth[p] = encode(z);
            distance[p] = encode(z * ray.sqrt());
        }
    }
    (depth, distance)
}

/// The 16-bit samples of a heatmap, clipped to [0, 1], stored over `range` of 2^16.
fn heatmap_samples(values: Vec<f32>, range: f64) -> Vec<u16> {
    values
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) as f64 * range * 65536.0).round() as u16)
        .collect()
}

/// Texture edges are soft (an edge detector's blurred response, not a binary map): the
/// boundary map blurred by a normalised Gaussian (sigma 1 pixel, 5 x 5 support) and scaled by
/// 1.5, so a boundary (2 pixels wide, peak 0.65 after the blur) reaches about 1, clipped at 1.
fn soft_edges(edges: &[f32], s: usize) -> Vec<f32> {
    let weights: Vec<f32> = (-2i32..=2).map(|d| (-(d * d) as f32 / 2.0).exp()).collect();
    let total: f32 = weights.iter().sum();
    let pass = |input: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0f32; input.len()];
        for y in 0..s {
            for x in 0..s {
                let mut v = 0.0;
                for (k, w) in weights.iter().enumerate() {
                    let d = k as i64 - 2;
                    let (yy, xx) = if horizontal {
                        (y as i64, x as i64 + d)
                    } else {
                        (y as i64 + d, x as i64)
                    };
                    if (0..s as i64).contains(&yy) && (0..s as i64).contains(&xx) {
                        v += w / total * input[yy as usize * s + xx as usize];
                    }
                }
                out[y * s + x] = v;
            }
        }
        out
    };
    pass(&pass(edges, true), false)
        .into_iter()
        .map(|v| (1.5 * v).min(1.0))
        .collect()
}

/// Writes a square PNG of `channels` (1 grey, 3 RGB) interleaved samples of `bits` (8 or 16).
fn write_png(path: &Path, size: usize, channels: usize, bits: u8, samples: &[u16]) -> Result<()> {
    let invalid = |e: png::EncodingError| {
        Error::Dataset(format!("{}: cannot encode the PNG ({e})", path.display()))
    };
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), size as u32, size as u32);
    encoder.set_color(if channels == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    encoder.set_depth(if bits == 16 {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    });
    let bytes: Vec<u8> = if bits == 16 {
        samples.iter().flat_map(|v| v.to_be_bytes()).collect()
    } else {
        samples.iter().map(|&v| v as u8).collect()
    };
    let mut writer = encoder.write_header().map_err(invalid)?;
    writer.write_image_data(&bytes).map_err(invalid)?;
    writer.finish().map_err(invalid)
}
