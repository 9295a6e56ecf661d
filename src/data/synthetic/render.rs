//! The ray tracer: one ray per pixel through the scene, shaded by its point light, with every
//! per-pixel quantity the targets need.

use std::f64::consts::PI;

use super::geometry::{V3, add, dot, intersect, normalize, scale, sub};
use super::scene::{Scene, gaussian, uniform};
use super::{GRAZING_COSINE, Image, Intrinsics, MAX_DEPTH, SceneRender, TargetData};
use crate::rng::SeededRng;

/// What a ray hits: distance, world normal, class, instance, material, albedo.
struct Hit {
    t: f64,
    normal: V3,
    class: i64,
    instance: u32,
    /// The object's material class, [`TargetData::IGNORE`] on the room and on objects
    /// without a material.
    material: i64,
    albedo: V3,
}

impl Scene {
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
                material: TargetData::IGNORE,
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
                let (material, albedo) = match &object.material {
                    Some(m) => (m.class, scale(m.albedo(point), speckle)),
                    None => (TargetData::IGNORE, scale(object.colour, speckle)),
                };
                consider(Hit {
                    t,
                    normal,
                    class: object.class,
                    instance: 6 + i as u32,
                    material,
                    albedo,
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

    /// Renders the scene at `height` x `width` with sensor noise `noise`, drawing the noise
    /// and the dropout blobs from `rng`; the material map only when the objects have
    /// materials.
    pub(super) fn render(
        &self,
        height: usize,
        width: usize,
        noise: f64,
        rng: &mut SeededRng,
    ) -> SceneRender {
        let k = Intrinsics::nyu(height, width);
        let plane = height * width;
        let with_materials = self.objects.iter().any(|o| o.material.is_some());
        let mut maps = PixelMaps::new(plane, with_materials);
        let [right, up, forward] = self.rotation;
        let blobs = dropout_blobs(rng, self.blobs, height, width);
        for y in 0..height {
            for x in 0..width {
                let i = y * width + x;
                // Camera-frame ray with z = 1 (x right, y down), so t is the camera depth.
                let (u, v) = ((x as f64 - k.cx) / k.fx, (y as f64 - k.cy) / k.fy);
                let direction = add(add(scale(right, u), scale(up, -v)), forward);
                let Some(hit) = self.trace(self.camera, direction) else {
                    continue;
                };
                let shade = self.shade(&hit, direction);
                for c in 0..3 {
                    let n = noise * gaussian(rng);
                    maps.image[c * plane + i] = (hit.albedo[c] * shade + n).clamp(0.0, 1.0) as f32;
                }
                maps.labels[i] = hit.class;
                maps.instances[i] = hit.instance;
                if with_materials {
                    maps.materials[i] = hit.material;
                }
                let cosine = dot(hit.normal, normalize(direction)).abs();
                let in_blob = blobs
                    .iter()
                    .any(|&(bx, by, r)| (x as f64 - bx).powi(2) + (y as f64 - by).powi(2) < r * r);
                let grazing = cosine < GRAZING_COSINE;
                if !grazing && !in_blob {
                    maps.record_geometry(i, self.camera_normal(hit.normal), hit.t);
                }
            }
        }
        maps.into_render(height, width, k)
    }

    /// The brightness at `hit` along `direction` from the camera: ambient light plus the
    /// point light's Lambert term, falling off with distance.
    fn shade(&self, hit: &Hit, direction: V3) -> f64 {
        let point = add(self.camera, scale(direction, hit.t));
        let to_light = sub(self.light, point);
        let distance = dot(to_light, to_light).sqrt();
        let lambert = dot(hit.normal, scale(to_light, 1.0 / distance)).max(0.0);
        0.3 + 0.8 * lambert / (1.0 + 0.04 * distance * distance)
    }

    /// A world normal in the camera frame (x right, y down, z forward).
    fn camera_normal(&self, normal: V3) -> V3 {
        let [right, up, forward] = self.rotation;
        [dot(normal, right), -dot(normal, up), dot(normal, forward)]
    }
}

/// Dropout blobs drawn from `rng`: discs (centre x, centre y, radius) in image coordinates.
fn dropout_blobs(
    rng: &mut SeededRng,
    count: usize,
    height: usize,
    width: usize,
) -> Vec<(f64, f64, f64)> {
    (0..count)
        .map(|_| {
            (
                uniform(rng, 0.0, width as f64),
                uniform(rng, 0.0, height as f64),
                uniform(rng, 0.03, 0.08) * width as f64,
            )
        })
        .collect()
}

/// The per-pixel maps of a render, filled in as the rays hit.
struct PixelMaps {
    image: Vec<f32>,
    normals: Vec<f32>,
    labels: Vec<i64>,
    instances: Vec<u32>,
    with_materials: bool,
    /// Empty without materials.
    materials: Vec<i64>,
    depth: Vec<f32>,
    depth_valid: Vec<bool>,
    normals_valid: Vec<bool>,
}

impl PixelMaps {
    /// Empty maps of `plane` pixels: black, unlabelled, every normal and depth invalid.
    fn new(plane: usize, with_materials: bool) -> Self {
        Self {
            image: vec![0.0f32; 3 * plane],
            normals: vec![0.0f32; 3 * plane],
            labels: vec![0i64; plane],
            instances: vec![0u32; plane],
            with_materials,
            materials: vec![TargetData::IGNORE; if with_materials { plane } else { 0 }],
            depth: vec![0.0f32; plane],
            depth_valid: vec![false; plane],
            normals_valid: vec![false; plane],
        }
    }

    /// Records pixel `i`'s camera-frame normal as valid, and its depth `t` where in range.
    fn record_geometry(&mut self, i: usize, camera_normal: V3, t: f64) {
        let plane = self.labels.len();
        for (c, &value) in camera_normal.iter().enumerate() {
            self.normals[c * plane + i] = value as f32;
        }
        self.normals_valid[i] = true;
        if t <= MAX_DEPTH {
            self.depth[i] = t as f32;
            self.depth_valid[i] = true;
        }
    }

    /// The render of these maps at `height` x `width`, seen through `intrinsics`.
    fn into_render(self, height: usize, width: usize, intrinsics: Intrinsics) -> SceneRender {
        SceneRender {
            image: Image {
                data: self.image,
                channels: 3,
                height,
                width,
            },
            labels: self.labels,
            instances: self.instances,
            materials: self.with_materials.then_some(self.materials),
            depth: self.depth,
            normals: Image {
                data: self.normals,
                channels: 3,
                height,
                width,
            },
            depth_valid: self.depth_valid,
            normals_valid: self.normals_valid,
            intrinsics,
        }
    }
}
