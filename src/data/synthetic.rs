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

use std::f64::consts::PI;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{Image, MultiTaskDataset, MultiTaskSample, Normalization, TargetData};
use crate::rng::SeededRng;
use crate::{Error, Result};

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
    pub fn render(&self, index: usize) -> SceneRender {
        let c = &self.config;
        let mut rng = SeededRng::new(mix(c.seed, index as u64));
        let scene = Scene::random(&mut rng);
        scene.render(c.height, c.width, c.noise, &mut rng)
    }
}

impl MultiTaskDataset for SyntheticScenes {
    fn len(&self) -> usize {
        self.config.scenes
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
            .map(|t| match t {
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
            })
            .collect();
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

/// Normals estimated from a depth map by central differences of the back-projected points,
/// oriented towards the camera: `[3, height, width]` plus validity (all four neighbours
/// valid).
pub fn normals_from_depth(
    depth: &[f32],
    valid: &[bool],
    height: usize,
    width: usize,
    k: &Intrinsics,
) -> (Image, Vec<bool>) {
    let point = |y: usize, x: usize| {
        let z = depth[y * width + x] as f64;
        [
            (x as f64 - k.cx) / k.fx * z,
            (y as f64 - k.cy) / k.fy * z,
            z,
        ]
    };
    let plane = height * width;
    let mut data = vec![0.0f32; 3 * plane];
    let mut ok = vec![false; plane];
    for y in 1..height.saturating_sub(1) {
        for x in 1..width.saturating_sub(1) {
            let neighbours = [(y, x - 1), (y, x + 1), (y - 1, x), (y + 1, x)];
            if !valid[y * width + x] || neighbours.iter().any(|&(a, b)| !valid[a * width + b]) {
                continue;
            }
            let dx = sub(point(y, x + 1), point(y, x - 1));
            let dy = sub(point(y + 1, x), point(y - 1, x));
            let mut n = normalize(cross(dx, dy));
            // Face the camera: the normal and the ray to the point point in opposite ways.
            if dot(n, point(y, x)) > 0.0 {
                n = scale(n, -1.0);
            }
            for c in 0..3 {
                data[c * plane + y * width + x] = n[c] as f32;
            }
            ok[y * width + x] = true;
        }
    }
    (
        Image {
            data,
            channels: 3,
            height,
            width,
        },
        ok,
    )
}

/// 1 where a pixel's right or lower neighbour lies on another surface (either side of the
/// boundary marked), 0 elsewhere.
pub fn edge_map(instances: &[u32], height: usize, width: usize) -> Vec<f32> {
    let mut edges = vec![0.0f32; height * width];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            if x + 1 < width && instances[i] != instances[i + 1] {
                edges[i] = 1.0;
                edges[i + 1] = 1.0;
            }
            if y + 1 < height && instances[i] != instances[i + width] {
                edges[i] = 1.0;
                edges[i + width] = 1.0;
            }
        }
    }
    edges
}

/// A corner heatmap: pixels whose 3 x 3 neighbourhood holds three or more surfaces, blurred
/// by a Gaussian (sigma 1 pixel, 5 x 5 support) and scaled so a lone corner peaks at 1.
pub fn corner_map(instances: &[u32], height: usize, width: usize) -> Vec<f32> {
    let mut corners = vec![0.0f32; height * width];
    for y in 1..height.saturating_sub(1) {
        for x in 1..width.saturating_sub(1) {
            let mut seen = [u32::MAX; 9];
            let mut distinct = 0;
            for dy in 0..3 {
                for dx in 0..3 {
                    let v = instances[(y + dy - 1) * width + x + dx - 1];
                    if !seen[..distinct].contains(&v) {
                        seen[distinct] = v;
                        distinct += 1;
                    }
                }
            }
            if distinct >= 3 {
                corners[y * width + x] = 1.0;
            }
        }
    }
    let kernel: Vec<f32> = (-2i32..=2).map(|d| (-(d * d) as f32 / 2.0).exp()).collect();
    let blur = |input: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0f32; input.len()];
        for y in 0..height {
            for x in 0..width {
                let mut v = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as i64 - 2;
                    let (sy, sx) = if horizontal {
                        (y as i64, x as i64 + d)
                    } else {
                        (y as i64 + d, x as i64)
                    };
                    if (0..height as i64).contains(&sy) && (0..width as i64).contains(&sx) {
                        v += weight * input[sy as usize * width + sx as usize];
                    }
                }
                out[y * width + x] = v;
            }
        }
        out
    };
    blur(&blur(&corners, true), false)
        .into_iter()
        .map(|v| v.min(1.0))
        .collect()
}

/// A seed for scene `index` of a set seeded with `seed` (SplitMix64 of the pair).
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

type V3 = [f64; 3];

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn normalize(a: V3) -> V3 {
    let n = dot(a, a).sqrt();
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

/// What a ray hits: distance, world normal, class, instance, albedo.
struct Hit {
    t: f64,
    normal: V3,
    class: i64,
    instance: u32,
    albedo: V3,
}

#[derive(Clone, Debug)]
enum Shape {
    /// Axis-aligned box.
    Cuboid { min: V3, max: V3 },
    /// Vertical cylinder standing on the floor.
    Cylinder {
        x: f64,
        z: f64,
        radius: f64,
        height: f64,
    },
    /// Sphere.
    Sphere { centre: V3, radius: f64 },
}

#[derive(Clone, Debug)]
struct Object {
    shape: Shape,
    class: i64,
    colour: V3,
}

/// World: X right, Y up, Z into the room; the room spans [0, width] x [0, height] x [0, depth].
#[derive(Clone, Debug)]
struct Scene {
    size: V3,
    camera: V3,
    /// Camera-to-world rotation, rows.
    rotation: [V3; 3],
    light: V3,
    floor: [V3; 2],
    wall: [V3; 2],
    ceiling: V3,
    tile: f64,
    stripe: f64,
    objects: Vec<Object>,
    blobs: usize,
}

fn colour(rng: &mut SeededRng) -> V3 {
    [0.0; 3].map(|_| 0.15 + 0.75 * rng.random::<f64>())
}

fn uniform(rng: &mut SeededRng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

impl Scene {
    fn random(rng: &mut SeededRng) -> Self {
        let size = [
            uniform(rng, 4.0, 7.0),
            uniform(rng, 2.5, 3.2),
            uniform(rng, 4.5, 8.0),
        ];
        let camera = [
            uniform(rng, 0.35, 0.65) * size[0],
            uniform(rng, 1.0, 1.7),
            uniform(rng, 0.2, 0.8),
        ];
        let yaw = uniform(rng, -30.0, 30.0).to_radians();
        let pitch = uniform(rng, -25.0, 0.0).to_radians();
        // Camera axes in world coordinates: right, up, forward (yaw about Y, then pitch).
        let forward = [
            yaw.sin() * pitch.cos(),
            pitch.sin(),
            yaw.cos() * pitch.cos(),
        ];
        let right = normalize(cross([0.0, 1.0, 0.0], forward));
        let up = cross(forward, right);
        let rotation = [right, up, forward];
        let light = [
            uniform(rng, 0.2, 0.8) * size[0],
            size[1] - 0.1,
            uniform(rng, 0.3, 0.9) * size[2],
        ];
        let count = rng.random_range(2..=6);
        let mut objects = Vec::with_capacity(count);
        for _ in 0..count {
            // Mostly in view: 1.5-4.5 m away, within 25 degrees of the viewing direction.
            let distance = uniform(rng, 1.5, 4.5);
            let bearing = yaw + uniform(rng, -25.0, 25.0).to_radians();
            let x = (camera[0] + distance * bearing.sin()).clamp(0.6, size[0] - 0.6);
            let z = (camera[2] + distance * bearing.cos()).clamp(camera[2] + 1.0, size[2] - 0.5);
            let kind = rng.random_range(0..4);
            let (shape, class) = match kind {
                0 => {
                    // Table: wide, low, flat.
                    let (w, d, h) = (
                        uniform(rng, 0.9, 1.6),
                        uniform(rng, 0.6, 1.0),
                        uniform(rng, 0.65, 0.8),
                    );
                    (
                        Shape::Cuboid {
                            min: [x - w / 2.0, 0.0, z - d / 2.0],
                            max: [x + w / 2.0, h, z + d / 2.0],
                        },
                        3,
                    )
                }
                1 => {
                    // Cabinet: narrow and tall.
                    let (w, d, h) = (
                        uniform(rng, 0.4, 0.8),
                        uniform(rng, 0.4, 0.6),
                        uniform(rng, 1.3, 2.1),
                    );
                    (
                        Shape::Cuboid {
                            min: [x - w / 2.0, 0.0, z - d / 2.0],
                            max: [x + w / 2.0, h, z + d / 2.0],
                        },
                        4,
                    )
                }
                2 => (
                    Shape::Cylinder {
                        x,
                        z,
                        radius: uniform(rng, 0.15, 0.35),
                        height: uniform(rng, 0.4, 1.1),
                    },
                    5,
                ),
                _ => {
                    let radius = uniform(rng, 0.15, 0.4);
                    (
                        Shape::Sphere {
                            centre: [x, radius, z],
                            radius,
                        },
                        6,
                    )
                }
            };
            objects.push(Object {
                shape,
                class,
                colour: colour(rng),
            });
        }
        Self {
            size,
            camera,
            rotation,
            light,
            floor: [colour(rng), colour(rng)],
            wall: [colour(rng), colour(rng)],
            ceiling: [0.0; 3].map(|_| uniform(rng, 0.75, 0.95)),
            tile: uniform(rng, 0.3, 0.7),
            stripe: uniform(rng, 0.2, 0.6),
            objects,
            blobs: rng.random_range(0..=2),
        }
    }

    /// The nearest hit along `origin + t * direction`.
    fn trace(&self, origin: V3, direction: V3) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        let mut consider = |hit: Hit| {
            if hit.t > 1e-6 && best.as_ref().is_none_or(|b| hit.t < b.t) {
                best = Some(hit);
            }
        };
        // Room: floor, ceiling and four walls, each facing inwards.
        let planes: [(usize, f64, f64, i64, u32); 6] = [
            (1, 0.0, 1.0, 0, 0),
            (1, self.size[1], -1.0, 2, 1),
            (0, 0.0, 1.0, 1, 2),
            (0, self.size[0], -1.0, 1, 3),
            (2, 0.0, 1.0, 1, 4),
            (2, self.size[2], -1.0, 1, 5),
        ];
        for (axis, position, facing, class, instance) in planes {
            if direction[axis] * facing >= 0.0 {
                continue;
            }
            let t = (position - origin[axis]) / direction[axis];
            let mut normal = [0.0; 3];
            normal[axis] = facing;
            let point = add(origin, scale(direction, t));
            consider(Hit {
                t,
                normal,
                class,
                instance,
                albedo: self.room_albedo(class, point, axis),
            });
        }
        for (i, object) in self.objects.iter().enumerate() {
            if let Some((t, normal)) = intersect(&object.shape, origin, direction) {
                let point = add(origin, scale(direction, t));
                let speckle = 0.85
                    + 0.15
                        * (0.5
                            + 0.25
                                * ((9.1 * point[0] + 4.3 * point[1]).sin()
                                    + (7.7 * point[2] - 5.9 * point[1]).sin()));
                consider(Hit {
                    t,
                    normal,
                    class: object.class,
                    instance: 6 + i as u32,
                    albedo: scale(object.colour, speckle),
                });
            }
        }
        best
    }

    fn room_albedo(&self, class: i64, p: V3, axis: usize) -> V3 {
        match class {
            0 => {
                let tile = ((p[0] / self.tile).floor() + (p[2] / self.tile).floor()) as i64;
                self.floor[tile.rem_euclid(2) as usize]
            }
            2 => self.ceiling,
            _ => {
                // Vertical stripes along the wall's horizontal coordinate.
                let s = if axis == 0 { p[2] } else { p[0] };
                let a = 0.5 + 0.5 * (2.0 * PI * s / self.stripe).sin();
                add(scale(self.wall[0], a), scale(self.wall[1], 1.0 - a))
            }
        }
    }

    fn render(&self, height: usize, width: usize, noise: f64, rng: &mut SeededRng) -> SceneRender {
        let k = Intrinsics::nyu(height, width);
        let plane = height * width;
        let mut image = vec![0.0f32; 3 * plane];
        let mut normals = vec![0.0f32; 3 * plane];
        let mut labels = vec![0i64; plane];
        let mut instances = vec![0u32; plane];
        let mut depth = vec![0.0f32; plane];
        let mut depth_valid = vec![false; plane];
        let mut normals_valid = vec![false; plane];
        let [right, up, forward] = self.rotation;
        // Dropout blobs: discs in image coordinates.
        let blobs: Vec<(f64, f64, f64)> = (0..self.blobs)
            .map(|_| {
                (
                    uniform(rng, 0.0, width as f64),
                    uniform(rng, 0.0, height as f64),
                    uniform(rng, 0.03, 0.08) * width as f64,
                )
            })
            .collect();
        for y in 0..height {
            for x in 0..width {
                let i = y * width + x;
                // Camera-frame ray with z = 1 (x right, y down), so t is the camera depth.
                let (u, v) = ((x as f64 - k.cx) / k.fx, (y as f64 - k.cy) / k.fy);
                let direction = add(add(scale(right, u), scale(up, -v)), forward);
                let Some(hit) = self.trace(self.camera, direction) else {
                    continue;
                };
                let point = add(self.camera, scale(direction, hit.t));
                let to_light = sub(self.light, point);
                let distance = dot(to_light, to_light).sqrt();
                let lambert = dot(hit.normal, scale(to_light, 1.0 / distance)).max(0.0);
                let shade = 0.3 + 0.8 * lambert / (1.0 + 0.04 * distance * distance);
                for c in 0..3 {
                    let n = noise * gaussian(rng);
                    image[c * plane + i] = (hit.albedo[c] * shade + n).clamp(0.0, 1.0) as f32;
                }
                labels[i] = hit.class;
                instances[i] = hit.instance;
                // World normal to camera frame (x right, y down, z forward).
                let n_camera = [
                    dot(hit.normal, right),
                    -dot(hit.normal, up),
                    dot(hit.normal, forward),
                ];
                let cosine = dot(hit.normal, normalize(direction)).abs();
                let in_blob = blobs
                    .iter()
                    .any(|&(bx, by, r)| (x as f64 - bx).powi(2) + (y as f64 - by).powi(2) < r * r);
                let grazing = cosine < GRAZING_COSINE;
                if !grazing && !in_blob {
                    for c in 0..3 {
                        normals[c * plane + i] = n_camera[c] as f32;
                    }
                    normals_valid[i] = true;
                    if hit.t <= MAX_DEPTH {
                        depth[i] = hit.t as f32;
                        depth_valid[i] = true;
                    }
                }
            }
        }
        SceneRender {
            image: Image {
                data: image,
                channels: 3,
                height,
                width,
            },
            labels,
            instances,
            depth,
            normals: Image {
                data: normals,
                channels: 3,
                height,
                width,
            },
            depth_valid,
            normals_valid,
            intrinsics: k,
        }
    }
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut SeededRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Distance and outward normal of the first intersection of a ray with a shape.
fn intersect(shape: &Shape, o: V3, d: V3) -> Option<(f64, V3)> {
    match *shape {
        Shape::Cuboid { min, max } => {
            let (mut near, mut far) = (f64::NEG_INFINITY, f64::INFINITY);
            let mut axis = 0;
            for a in 0..3 {
                if d[a].abs() < 1e-12 {
                    if o[a] < min[a] || o[a] > max[a] {
                        return None;
                    }
                    continue;
                }
                let (t1, t2) = ((min[a] - o[a]) / d[a], (max[a] - o[a]) / d[a]);
                let (lo, hi) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
                if lo > near {
                    near = lo;
                    axis = a;
                }
                far = far.min(hi);
            }
            if near > far || near <= 0.0 {
                return None;
            }
            let mut normal = [0.0; 3];
            normal[axis] = -d[axis].signum();
            Some((near, normal))
        }
        Shape::Cylinder {
            x,
            z,
            radius,
            height,
        } => {
            let mut best: Option<(f64, V3)> = None;
            let (ox, oz) = (o[0] - x, o[2] - z);
            let a = d[0] * d[0] + d[2] * d[2];
            if a > 1e-12 {
                let b = 2.0 * (ox * d[0] + oz * d[2]);
                let c = ox * ox + oz * oz - radius * radius;
                let disc = b * b - 4.0 * a * c;
                if disc >= 0.0 {
                    let t = (-b - disc.sqrt()) / (2.0 * a);
                    let y = o[1] + t * d[1];
                    if t > 0.0 && (0.0..=height).contains(&y) {
                        let p = add(o, scale(d, t));
                        best = Some((t, [(p[0] - x) / radius, 0.0, (p[2] - z) / radius]));
                    }
                }
            }
            if d[1] < 0.0 {
                let t = (height - o[1]) / d[1];
                let p = add(o, scale(d, t));
                if t > 0.0
                    && (p[0] - x).powi(2) + (p[2] - z).powi(2) <= radius * radius
                    && best.is_none_or(|(bt, _)| t < bt)
                {
                    best = Some((t, [0.0, 1.0, 0.0]));
                }
            }
            best
        }
        Shape::Sphere { centre, radius } => {
            let oc = sub(o, centre);
            let a = dot(d, d);
            let b = 2.0 * dot(oc, d);
            let c = dot(oc, oc) - radius * radius;
            let disc = b * b - 4.0 * a * c;
            if disc < 0.0 {
                return None;
            }
            let t = (-b - disc.sqrt()) / (2.0 * a);
            (t > 0.0).then(|| {
                let p = add(o, scale(d, t));
                (t, scale(sub(p, centre), 1.0 / radius))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn angle(a: V3, b: V3) -> f64 {
        dot(normalize(a), normalize(b))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees()
    }

    /// Angles between rendered normals and normals from the depth map's finite differences,
    /// at pixels whose 3 x 3 neighbourhood lies on one surface (away from discontinuities).
    fn consistency(
        depth: &[f32],
        valid: &[bool],
        normals: &Image,
        instances: &[u32],
        k: &Intrinsics,
    ) -> Vec<f64> {
        let (h, w) = (normals.height, normals.width);
        let (estimated, ok) = normals_from_depth(depth, valid, h, w, k);
        let plane = h * w;
        let mut angles = Vec::new();
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                let same = (0..3).all(|dy| {
                    (0..3).all(|dx| instances[(y + dy - 1) * w + x + dx - 1] == instances[i])
                });
                if !ok[i] || !same {
                    continue;
                }
                let get = |img: &Image| [0, 1, 2].map(|c| img.data[c * plane + i] as f64);
                angles.push(angle(get(&estimated), get(normals)));
            }
        }
        angles
    }

    #[test]
    fn normals_from_depth_agree_with_rendered_normals() {
        let scenes = SyntheticScenes::new(SceneConfig::new(6, 96, 128, 5)).unwrap();
        let mut angles = Vec::new();
        for i in 0..6 {
            let r = scenes.render(i);
            // Depth must be valid wherever normals are (apart from the far range).
            let valid: Vec<bool> = r
                .depth_valid
                .iter()
                .zip(&r.normals_valid)
                .map(|(a, b)| *a && *b)
                .collect();
            angles.extend(consistency(
                &r.depth,
                &valid,
                &r.normals,
                &r.instances,
                &r.intrinsics,
            ));
        }
        angles.sort_by(f64::total_cmp);
        let median = angles[angles.len() / 2];
        let p95 = angles[angles.len() * 95 / 100];
        // Planes agree to rounding; curved objects to the finite-difference error.
        assert!(angles.len() > 30_000, "{}", angles.len());
        assert!(median < 0.1 && p95 < 2.0, "median {median} p95 {p95}");
    }

    #[test]
    fn a_flipped_sample_stays_consistent_with_its_geometry() {
        // Mirror the image, the depth and the normals (negating x, as the augmentation does):
        // normals estimated from the mirrored depth with the mirrored camera must match the
        // mirrored normals. Without negating x they would not.
        let scenes = SyntheticScenes::new(SceneConfig::new(1, 64, 80, 9)).unwrap();
        let r = scenes.render(0);
        let (h, w) = (64, 80);
        let flip = |v: &[f32]| -> Vec<f32> {
            (0..h)
                .flat_map(|y| (0..w).rev().map(move |x| (y, x)))
                .map(|(y, x)| v[y * w + x])
                .collect()
        };
        let flip_b = |v: &[bool]| -> Vec<bool> {
            (0..h)
                .flat_map(|y| (0..w).rev().map(move |x| (y, x)))
                .map(|(y, x)| v[y * w + x])
                .collect()
        };
        let flip_u = |v: &[u32]| -> Vec<u32> {
            (0..h)
                .flat_map(|y| (0..w).rev().map(move |x| (y, x)))
                .map(|(y, x)| v[y * w + x])
                .collect()
        };
        let plane = h * w;
        let mut normals = Vec::new();
        for c in 0..3 {
            let mut channel = flip(&r.normals.data[c * plane..(c + 1) * plane]);
            if c == 0 {
                channel.iter_mut().for_each(|v| *v = -*v);
            }
            normals.extend(channel);
        }
        let normals = Image::new(normals, 3, h, w).unwrap();
        let valid: Vec<bool> = flip_b(&r.depth_valid)
            .iter()
            .zip(flip_b(&r.normals_valid))
            .map(|(a, b)| *a && b)
            .collect();
        let k = r.intrinsics.flipped(w);
        let angles = consistency(&flip(&r.depth), &valid, &normals, &flip_u(&r.instances), &k);
        let mean = angles.iter().sum::<f64>() / angles.len() as f64;
        assert!(mean < 1.0, "mean {mean}");
        // Control: keeping x unnegated breaks the agreement.
        let mut wrong = normals.clone();
        wrong.data[..plane].iter_mut().for_each(|v| *v = -*v);
        let angles = consistency(&flip(&r.depth), &valid, &wrong, &flip_u(&r.instances), &k);
        let mean_wrong = angles.iter().sum::<f64>() / angles.len() as f64;
        assert!(mean_wrong > 10.0, "mean without negation {mean_wrong}");
    }

    #[test]
    fn edges_and_corners_by_hand() {
        // Instances on a 4 x 4 grid: left half 0, top-right 1, bottom-right 2.
        //   0 0 1 1
        //   0 0 1 1
        //   0 0 2 2
        //   0 0 2 2
        let inst = [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 2, 2];
        let e = edge_map(&inst, 4, 4);
        // Columns 1 and 2 border the left half; rows 1 and 2 of the right half border each
        // other.
        assert_eq!(
            e,
            [
                0., 1., 1., 0., 0., 1., 1., 1., 0., 1., 1., 1., 0., 1., 1., 0.
            ]
        );
        // Pixels (1, 1), (1, 2), (2, 1), (2, 2) see all three surfaces; the blur of a single
        // corner peaks at 1 (kernel centre weight 1), four neighbouring corners exceed 1 and
        // are capped.
        let c = corner_map(&inst, 4, 4);
        assert_eq!(c[5], 1.0);
        assert!(c[0] > 0.0 && c[0] < 1.0);
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
