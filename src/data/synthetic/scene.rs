//! The scene sampler: a random room, camera, light and set of objects per scene.

use std::f64::consts::PI;

use rand::RngExt;

use super::geometry::{Shape, V3, cross, normalize};
use super::material::Material;
use crate::rng::SeededRng;

/// One object: its shape, its semantic class ([`super::SCENE_CLASSES`]) and its look.
#[derive(Clone, Debug)]
pub(super) struct Object {
    pub shape: Shape,
    pub class: i64,
    /// Its colour when it has no material (speckled in [`Scene::trace`]).
    pub colour: V3,
    /// Its material, only in scene sets with the material target; it then replaces
    /// `colour`.
    pub material: Option<Material>,
}

/// World: X right, Y up, Z into the room; the room spans [0, width] x [0, height] x [0, depth].
#[derive(Clone, Debug)]
pub(super) struct Scene {
    pub size: V3,
    pub camera: V3,
    /// Camera-to-world rotation, rows.
    pub rotation: [V3; 3],
    pub light: V3,
    pub floor: [V3; 2],
    pub wall: [V3; 2],
    pub ceiling: V3,
    pub tile: f64,
    pub stripe: f64,
    pub objects: Vec<Object>,
    pub blobs: usize,
}

fn colour(rng: &mut SeededRng) -> V3 {
    [0.0; 3].map(|_| 0.15 + 0.75 * rng.random::<f64>())
}

pub(super) fn uniform(rng: &mut SeededRng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

impl Scene {
    /// A scene drawn from `rng`, its objects without materials.
    pub fn random(rng: &mut SeededRng) -> Self {
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
        let rotation = camera_rotation(yaw, pitch);
        let light = [
            uniform(rng, 0.2, 0.8) * size[0],
            size[1] - 0.1,
            uniform(rng, 0.3, 0.9) * size[2],
        ];
        let count = rng.random_range(2..=6);
        let mut objects = Vec::with_capacity(count);
        for _ in 0..count {
            objects.push(random_object(rng, size, camera, yaw));
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

    /// Gives every object a material drawn from `rng` alone, in object order: the materials
    /// depend on nothing else in the scene (the caller keeps `rng` apart from the stream the
    /// scene was drawn from), so nothing about an object's class, shape or place predicts
    /// its material.
    pub fn with_materials(mut self, rng: &mut SeededRng) -> Self {
        for object in &mut self.objects {
            object.material = Some(Material::random(rng));
        }
        self
    }
}

/// The camera-to-world rotation (rows: right, up, forward) of a camera turned by `yaw` about
/// Y, then tilted by `pitch`.
fn camera_rotation(yaw: f64, pitch: f64) -> [V3; 3] {
    // Camera axes in world coordinates: right, up, forward (yaw about Y, then pitch).
    let forward = [
        yaw.sin() * pitch.cos(),
        pitch.sin(),
        yaw.cos() * pitch.cos(),
    ];
    let right = normalize(cross([0.0, 1.0, 0.0], forward));
    let up = cross(forward, right);
    [right, up, forward]
}

/// An object drawn from `rng`, placed mostly in view of the camera at `camera` looking along
/// `yaw` in a room of `size`, with its colour.
fn random_object(rng: &mut SeededRng, size: V3, camera: V3, yaw: f64) -> Object {
    // Mostly in view: 1.5-4.5 m away, within 25 degrees of the viewing direction.
    let distance = uniform(rng, 1.5, 4.5);
    let bearing = yaw + uniform(rng, -25.0, 25.0).to_radians();
    let x = (camera[0] + distance * bearing.sin()).clamp(0.6, size[0] - 0.6);
    let z = (camera[2] + distance * bearing.cos()).clamp(camera[2] + 1.0, size[2] - 0.5);
    let (shape, class) = random_shape(rng, x, z);
    Object {
        shape,
        class,
        colour: colour(rng),
        material: None,
    }
}

/// A table, cabinet, cylinder or sphere drawn from `rng`, standing on the floor at (`x`,
/// `z`), with its semantic class.
fn random_shape(rng: &mut SeededRng, x: f64, z: f64) -> (Shape, i64) {
    let kind = rng.random_range(0..4);
    match kind {
        // Table: wide, low, flat.
        0 => (
            floor_box(rng, x, z, [(0.9, 1.6), (0.6, 1.0), (0.65, 0.8)]),
            3,
        ),
        // Cabinet: narrow and tall.
        1 => (
            floor_box(rng, x, z, [(0.4, 0.8), (0.4, 0.6), (1.3, 2.1)]),
            4,
        ),
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
    }
}

/// A box standing on the floor centred at (`x`, `z`), its width, depth and height drawn from
/// `rng` in that order, each uniform in its `(low, high)` range.
fn floor_box(rng: &mut SeededRng, x: f64, z: f64, ranges: [(f64, f64); 3]) -> Shape {
    let [w, d, h] = ranges.map(|(low, high)| uniform(rng, low, high));
    Shape::Cuboid {
        min: [x - w / 2.0, 0.0, z - d / 2.0],
        max: [x + w / 2.0, h, z + d / 2.0],
    }
}

/// A standard normal draw (Box-Muller).
pub(super) fn gaussian(rng: &mut SeededRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}
