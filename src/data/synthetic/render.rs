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
        let mut image = vec![0.0f32; 3 * plane];
        let mut normals = vec![0.0f32; 3 * plane];
        let mut labels = vec![0i64; plane];
        let mut instances = vec![0u32; plane];
        let with_materials = self.objects.iter().any(|o| o.material.is_some());
        let mut materials = vec![TargetData::IGNORE; if with_materials { plane } else { 0 }];
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
                if with_materials {
                    materials[i] = hit.material;
                }
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
            materials: with_materials.then_some(materials),
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
