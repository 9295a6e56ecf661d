//! Synthetic indoor scenes: a seeded, NYU-like generator that needs no download.
//!
//! Each scene is a box room (floor, walls, ceiling) seen by a pinhole camera with NYUv2's
//! intrinsics (scaled to the requested size), holding 2-6 objects whose class follows their
//! shape and size, never their colour: low wide cuboids are tables, tall cuboids cabinets,
//! vertical cylinders bins, spheres balls. One ray per pixel gives exactly consistent class,
//! depth (z in metres), camera-frame normals and instance ids. Textures live in world
//! coordinates (floor tiles, wall stripes, speckled objects) and a point light shades every
//! surface (Lambert), so appearance carries geometry. Sensor noise is added to the image;
//! depth and normals are invalid beyond 8 m, at grazing angles and inside random dropout
//! blobs (as a Kinect's holes).
//!
//! Normals are in camera coordinates: x right, y down, z forward (OpenCV), pointing towards
//! the camera. A horizontal flip of the image therefore negates x.
//!
//! A set with the [`SceneTarget::Material`] target also gives every object a surface
//! material ([`MATERIAL_CLASSES`]): a family of colours and a texture, drawn from a random
//! stream of its own, so independent of the object's class, shape and place and of
//! everything else in the scene ([`material`](self::material) says how). The material then
//! replaces the object's colour, so such a set renders other images than the same set
//! without the target; the geometry, the light, the room and the noise stay the same, and a
//! set without the target renders exactly as it did before materials existed.
//!
//! The code is split by concern: the dataset (here), the scene sampler (`scene`), the ray
//! tracer (`render`, over the shapes of `geometry`), the materials (`material`) and the maps
//! derived from a render (`maps`).

mod geometry;
mod maps;
mod material;
mod render;
mod scene;

use serde::{Deserialize, Serialize};

use super::{Image, MultiTaskDataset, MultiTaskSample, Normalization, TargetData};
use crate::rng::SeededRng;
use crate::{Error, Result};
pub use maps::{corner_map, edge_map, normals_from_depth};
pub use material::MATERIAL_CLASSES;
use scene::Scene;

/// Class ids of the synthetic scenes.
pub const SCENE_CLASSES: [&str; 7] = [
    "floor", "wall", "ceiling", "table", "cabinet", "bin", "ball",
];

/// NYUv2's colour camera intrinsics at 640 x 480: fx, fy, cx, cy.
const NYU_INTRINSICS: [f64; 4] = [518.86, 519.47, 325.58, 253.74];

/// Depth beyond which the simulated sensor reports nothing, in metres.
const MAX_DEPTH: f64 = 8.0;

/// Below this |cos| between the viewing ray and the surface, depth and normals are invalid.
const GRAZING_COSINE: f64 = 0.1;

/// Pinhole intrinsics in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Focal length along x.
    pub fx: f64,
    /// Focal length along y.
    pub fy: f64,
    /// Principal point x.
    pub cx: f64,
    /// Principal point y.
    pub cy: f64,
}

impl Intrinsics {
    /// NYUv2's intrinsics scaled to a `width` x `height` image.
    pub fn nyu(height: usize, width: usize) -> Self {
        let [fx, fy, cx, cy] = NYU_INTRINSICS;
        let (sx, sy) = (width as f64 / 640.0, height as f64 / 480.0);
        Self {
            fx: fx * sx,
            fy: fy * sy,
            cx: cx * sx,
            cy: cy * sy,
        }
    }

    /// The intrinsics of the horizontally mirrored image of width `width`.
    pub fn flipped(&self, width: usize) -> Self {
        Self {
            cx: width as f64 - 1.0 - self.cx,
            ..*self
        }
    }
}

/// One rendered scene with everything the generator knows about each pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneRender {
    /// RGB in [0, 1], `[3, height, width]`.
    pub image: Image,
    /// Class id per pixel ([`SCENE_CLASSES`]).
    pub labels: Vec<i64>,
    /// Surface id per pixel (each wall, floor, ceiling and object is one instance).
    pub instances: Vec<u32>,
    /// Material class per pixel ([`MATERIAL_CLASSES`]), [`TargetData::IGNORE`] on the room's
    /// surfaces; only in sets with the [`SceneTarget::Material`] target.
    pub materials: Option<Vec<i64>>,
    /// Depth (camera z) in metres per pixel, 0 where invalid.
    pub depth: Vec<f32>,
    /// Camera-frame unit normals, `[3, height, width]`, 0 where invalid.
    pub normals: Image,
    /// Where depth is valid.
    pub depth_valid: Vec<bool>,
    /// Where normals are valid.
    pub normals_valid: Vec<bool>,
    /// The camera.
    pub intrinsics: Intrinsics,
}

/// What a [`SyntheticScenes`] dataset returns per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SceneTarget {
    /// Class per pixel, 7 classes.
    Segmentation,
    /// Camera-frame surface normals.
    Normals,
    /// Depth in metres.
    Depth,
    /// Occlusion and crease edges: 1 where a pixel's 4-neighbourhood crosses from one surface
    /// to another, 0 elsewhere.
    Edges,
    /// Corner heatmap: 1 at pixels where three or more surfaces meet (room corners, box
    /// corners), blurred by a Gaussian of 1 pixel, in [0, 1].
    Keypoints,
    /// Surface material per pixel, [`MATERIAL_CLASSES`] (4 classes), one per object and drawn
    /// independently of its class and geometry; [`TargetData::IGNORE`] on the floor, walls
    /// and ceiling, which keep their own textures. Asking for it gives the objects their
    /// materials' looks, so such a set renders other images than the same set without
    /// it (with the same geometry, light, room and noise).
    Material,
}

impl SceneTarget {
    /// Every target, in the order of [`SceneTarget::task_name`]'s list.
    pub const ALL: [SceneTarget; 6] = [
        SceneTarget::Segmentation,
        SceneTarget::Normals,
        SceneTarget::Depth,
        SceneTarget::Edges,
        SceneTarget::Keypoints,
        SceneTarget::Material,
    ];

    /// The task's short name, as experiments name it and command lines take it: `seg`,
    /// `normal`, `depth`, `edges`, `keypoints`, `material`.
    pub fn task_name(self) -> &'static str {
        match self {
            SceneTarget::Segmentation => "seg",
            SceneTarget::Normals => "normal",
            SceneTarget::Depth => "depth",
            SceneTarget::Edges => "edges",
            SceneTarget::Keypoints => "keypoints",
            SceneTarget::Material => "material",
        }
    }

    /// The target whose [`SceneTarget::task_name`] is `name`.
    ///
    /// # Errors
    /// An unknown name (the error lists the known ones).
    pub fn from_task_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.task_name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.task_name()).collect();
                Error::config(
                    "tasks",
                    format!(
                        "unknown task `{name}`: the scenes offer {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

/// Settings of a synthetic scene set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneConfig {
    /// Number of scenes.
    pub scenes: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Seed; scene `i` depends only on the seed and `i`.
    pub seed: u64,
    /// The targets, in task order.
    pub targets: Vec<SceneTarget>,
    /// Standard deviation of the image's sensor noise (image in [0, 1]).
    pub noise: f64,
}

impl SceneConfig {
    /// `scenes` scenes of `height` x `width` pixels with segmentation and normals targets.
    pub fn new(scenes: usize, height: usize, width: usize, seed: u64) -> Self {
        Self {
            scenes,
            height,
            width,
            seed,
            targets: vec![SceneTarget::Segmentation, SceneTarget::Normals],
            noise: 0.02,
        }
    }

    /// The same with these targets.
    pub fn with_targets(mut self, targets: Vec<SceneTarget>) -> Self {
        self.targets = targets;
        self
    }
}

/// Tells the material stream of a scene from its main stream (see
/// [`SyntheticScenes::render`]).
const MATERIAL_STREAM: u64 = 0x6D61_7465_7269_616C;

/// A set of synthetic scenes, rendered on demand (scene `i` is a pure function of the seed and
/// `i`, so nothing is stored).
#[derive(Clone, Debug)]
pub struct SyntheticScenes {
    config: SceneConfig,
}

impl SyntheticScenes {
    /// A scene set.
    ///
    /// # Errors
    /// No scenes, an image smaller than 8 x 8, or no targets.
    pub fn new(config: SceneConfig) -> Result<Self> {
        if config.scenes == 0 || config.height < 8 || config.width < 8 || config.targets.is_empty()
        {
            return Err(Error::config(
                "scenes",
                format!(
                    "needs at least one scene, 8 x 8 pixels and one target; got {} scenes of {} x {} with {} targets",
                    config.scenes,
                    config.height,
                    config.width,
                    config.targets.len()
                ),
            ));
        }
        if !(config.noise >= 0.0 && config.noise.is_finite()) {
            return Err(Error::config(
                "scenes.noise",
                "must be finite and non-negative",
            ));
        }
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &SceneConfig {
        &self.config
    }

    /// Renders scene `index` with every per-pixel quantity.
    ///
    /// The scene (room, camera, light, objects, noise) comes from one generator seeded by
    /// the set's seed and `index`; in a set with the material target the objects' materials
    /// come from a second one, seeded by mixing that seed once more, so the scene's own draws
    /// are the same with and without materials.
    pub fn render(&self, index: usize) -> SceneRender {
        let c = &self.config;
        let (scene, mut rng) = self.scene(index);
        scene.render(c.height, c.width, c.noise, &mut rng)
    }

    /// Scene `index`, and the generator it was drawn from, to draw the render's noise.
    fn scene(&self, index: usize) -> (Scene, SeededRng) {
        let seed = mix(self.config.seed, index as u64);
        let mut rng = SeededRng::new(seed);
        let mut scene = Scene::random(&mut rng);
        if self.config.targets.contains(&SceneTarget::Material) {
            scene = scene.with_materials(&mut SeededRng::new(mix(seed, MATERIAL_STREAM)));
        }
        (scene, rng)
    }
}

impl MultiTaskDataset for SyntheticScenes {
    fn len(&self) -> usize {
        self.config.scenes
    }

    fn target_names(&self) -> Option<Vec<String>> {
        super::check::named_targets(&self.config.targets, SceneTarget::task_name)
    }

    fn sample(&self, index: usize) -> Result<MultiTaskSample> {
        if index >= self.config.scenes {
            return Err(Error::Dataset(format!(
                "scene {index} requested from a set of {}",
                self.config.scenes
            )));
        }
        let r = self.render(index);
        let (h, w) = (self.config.height, self.config.width);
        let targets = self
            .config
            .targets
            .iter()
            .map(|t| {
                Ok(match t {
                    SceneTarget::Segmentation => TargetData::Labels {
                        labels: r.labels.clone(),
                        height: h,
                        width: w,
                    },
                    SceneTarget::Normals => TargetData::Normals {
                        values: r.normals.clone(),
                        valid: Some(r.normals_valid.clone()),
                    },
                    SceneTarget::Depth => TargetData::Dense {
                        values: Image {
                            data: r.depth.clone(),
                            channels: 1,
                            height: h,
                            width: w,
                        },
                        valid: Some(r.depth_valid.clone()),
                    },
                    SceneTarget::Edges => TargetData::Dense {
                        values: Image {
                            data: edge_map(&r.instances, h, w),
                            channels: 1,
                            height: h,
                            width: w,
                        },
                        valid: None,
                    },
                    SceneTarget::Keypoints => TargetData::Dense {
                        values: Image {
                            data: corner_map(&r.instances, h, w),
                            channels: 1,
                            height: h,
                            width: w,
                        },
                        valid: None,
                    },
                    SceneTarget::Material => TargetData::Labels {
                        labels: r.materials.clone().ok_or_else(|| {
                            Error::Dataset(format!("scene {index} was rendered without materials"))
                        })?,
                        height: h,
                        width: w,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MultiTaskSample {
            image: r.image,
            targets,
        })
    }

    /// Images in [0, 1], centred on 0.5 and scaled by 1 / 0.25.
    fn normalization(&self) -> Option<Normalization> {
        Some(Normalization {
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        })
    }
}

/// A seed for scene `index` of a set seeded with `seed` (SplitMix64 of the pair).
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::geometry::dot;
    use super::*;

    /// FNV-1a over every per-pixel quantity of a render and every target of a sample.
    fn fingerprint(scenes: &SyntheticScenes, index: usize) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        };
        let r = scenes.render(index);
        r.image
            .data
            .iter()
            .for_each(|v| eat(&v.to_bits().to_le_bytes()));
        r.normals
            .data
            .iter()
            .for_each(|v| eat(&v.to_bits().to_le_bytes()));
        r.depth.iter().for_each(|v| eat(&v.to_bits().to_le_bytes()));
        r.labels.iter().for_each(|v| eat(&v.to_le_bytes()));
        r.instances.iter().for_each(|v| eat(&v.to_le_bytes()));
        r.depth_valid
            .iter()
            .chain(&r.normals_valid)
            .for_each(|&v| eat(&[v as u8]));
        for target in scenes.sample(index).unwrap().targets {
            match target {
                TargetData::Labels { labels, .. } => {
                    labels.iter().for_each(|v| eat(&v.to_le_bytes()))
                }
                TargetData::Normals { values, valid } | TargetData::Dense { values, valid } => {
                    values
                        .data
                        .iter()
                        .for_each(|v| eat(&v.to_bits().to_le_bytes()));
                    valid.iter().flatten().for_each(|&v| eat(&[v as u8]));
                }
                other => panic!("unexpected target {other:?}"),
            }
        }
        h
    }

    #[test]
    fn scenes_without_the_material_target_render_as_before_materials() {
        // Fingerprints of every per-pixel quantity and every target, computed with the
        // renderer as it was before materials were added (commit aa3c289): a set that does not
        // ask for materials must render bit for bit as it did. (Pinned on x86-64 Linux; the
        // renderer's sin, cos and exp come from the platform's libm, which elsewhere could
        // round a last bit differently.)
        let all = vec![
            SceneTarget::Segmentation,
            SceneTarget::Normals,
            SceneTarget::Depth,
            SceneTarget::Edges,
            SceneTarget::Keypoints,
        ];
        let a = SyntheticScenes::new(SceneConfig::new(3, 24, 32, 1)).unwrap();
        let b = SyntheticScenes::new(SceneConfig::new(4, 36, 48, 7).with_targets(all)).unwrap();
        let got_a: Vec<u64> = (0..3).map(|i| fingerprint(&a, i)).collect();
        let got_b: Vec<u64> = (0..4).map(|i| fingerprint(&b, i)).collect();
        assert_eq!(
            got_a,
            [0x387a0fdb7f4ac458, 0x451a6222afd51379, 0x75419cdcbf6643c0]
        );
        assert_eq!(
            got_b,
            [
                0xd41126882884aa07,
                0x58f8febbfad82d6e,
                0x0405bd8c3dbae55a,
                0x1fdde699126aa24f
            ]
        );
        assert_eq!(a.render(0).materials, None);
    }

    #[test]
    fn scenes_are_deterministic_per_seed_and_consistent() {
        let a = SyntheticScenes::new(SceneConfig::new(3, 24, 32, 1)).unwrap();
        let b = SyntheticScenes::new(SceneConfig::new(3, 24, 32, 1)).unwrap();
        let c = SyntheticScenes::new(SceneConfig::new(3, 24, 32, 2)).unwrap();
        assert_eq!(a.render(2), b.render(2));
        assert_ne!(a.render(2).image, c.render(2).image);
        assert_ne!(a.render(0).image, a.render(1).image);
        let r = a.render(1);
        // Labels and instances agree: every instance has one class; classes in range.
        let mut class_of = std::collections::HashMap::new();
        for (&inst, &label) in r.instances.iter().zip(&r.labels) {
            assert!((0..7).contains(&label));
            assert_eq!(*class_of.entry(inst).or_insert(label), label);
        }
        // Valid normals are unit length; valid depth is positive and within range.
        let plane = 24 * 32;
        for i in 0..plane {
            if r.normals_valid[i] {
                let n = [0, 1, 2].map(|c| r.normals.data[c * plane + i] as f64);
                assert!((dot(n, n) - 1.0).abs() < 1e-4);
                // Facing the camera: the normal points against the viewing ray.
                let k = r.intrinsics;
                let (x, y) = ((i % 32) as f64, (i / 32) as f64);
                let ray = [(x - k.cx) / k.fx, (y - k.cy) / k.fy, 1.0];
                assert!(dot(n, ray) < 0.0);
            }
            if r.depth_valid[i] {
                assert!(r.depth[i] > 0.0 && r.depth[i] <= 8.0);
            }
        }
        let sample = a.sample(0).unwrap();
        assert_eq!(sample.targets.len(), 2);
        assert!(a.sample(3).is_err());
        assert!(SyntheticScenes::new(SceneConfig::new(0, 24, 32, 1)).is_err());
    }
}
