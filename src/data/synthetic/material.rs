//! Surface materials of the scene objects, for the [`SceneTarget::Material`] target.
//!
//! Each object gets one of [`MATERIAL_CLASSES`], drawn uniformly from a random stream of its
//! own (see [`super::SyntheticScenes::render`]) and so independently of the object's semantic
//! class, its shape, size and place, the room and the light. A material is a family of
//! appearances, never one colour:
//!
//! - a hue range: the classes' ranges are centred 90 degrees apart and each spans
//!   +-[`HUE_SPREAD`] degrees, so neighbouring ranges overlap and hue alone names the class
//!   of only about two objects in three; saturation and brightness are drawn from the same
//!   ranges for every class;
//! - a texture in world coordinates between the surface colour and a darker shade of it:
//!   none (`plain`), soft bands along a random direction (`striped`), a 3-D checkerboard
//!   (`checkered`) or fine value noise (`mottled`), each with a random scale.
//!
//! The renderer then multiplies the albedo by the objects' usual faint speckle and shades it
//! with the scene's light like every other surface, so brightness says little about the
//! class, and the texture is seen through perspective, foreshortening and one ray per pixel
//! (fine textures alias far away). The room's surfaces keep their own textures and get no
//! material.
//!
//! [`SceneTarget::Material`]: super::SceneTarget::Material

use std::f64::consts::PI;

use rand::RngExt;

use super::geometry::{V3, add, dot, scale};
use super::scene::uniform;
use crate::rng::SeededRng;

/// Class ids of the objects' surface materials ([`super::SceneTarget::Material`]).
pub const MATERIAL_CLASSES: [&str; 4] = ["plain", "striped", "checkered", "mottled"];

/// Half the width of each material's hue range, in degrees. The ranges' centres are 90
/// degrees apart, so each overlaps each neighbour over 60 degrees: two thirds of the hue
/// circle is claimed by two classes, and hue alone names the class of an object with
/// probability 2/3 (one third single-claimed, always right; two thirds double, right half the
/// time).
pub(super) const HUE_SPREAD: f64 = 75.0;

/// One object's material: its class, its two colours and its texture.
#[derive(Clone, Debug)]
pub(super) struct Material {
    /// Index into [`MATERIAL_CLASSES`].
    pub class: i64,
    /// The surface colour.
    light: V3,
    /// The texture's second colour, `light` darkened.
    dark: V3,
    texture: Texture,
}

#[derive(Clone, Debug)]
enum Texture {
    Plain,
    /// Soft bands across `direction` (a unit vector), `period` metres apart.
    Stripes {
        direction: V3,
        period: f64,
        phase: f64,
    },
    /// Cubes of `cell` metres, alternately light and dark, shifted by `offset` cells.
    Checks {
        cell: f64,
        offset: V3,
    },
    /// Value noise on a lattice of `cell` metres, hashed with `seed`.
    Mottle {
        cell: f64,
        seed: u64,
    },
}

impl Material {
    /// A material of a uniformly drawn class.
    pub fn random(rng: &mut SeededRng) -> Self {
        let class = rng.random_range(0..MATERIAL_CLASSES.len()) as i64;
        let hue = (90.0 * class as f64 + uniform(rng, -HUE_SPREAD, HUE_SPREAD)).rem_euclid(360.0);
        let light = hsv(hue, uniform(rng, 0.3, 0.75), uniform(rng, 0.55, 0.9));
        let dark = scale(light, uniform(rng, 0.35, 0.6));
        let texture = match class {
            0 => Texture::Plain,
            1 => {
                // Uniform on the sphere: z uniform in [-1, 1], azimuth uniform.
                let z = uniform(rng, -1.0, 1.0);
                let azimuth = uniform(rng, 0.0, 2.0 * PI);
                let r = (1.0 - z * z).sqrt();
                Texture::Stripes {
                    direction: [r * azimuth.cos(), z, r * azimuth.sin()],
                    period: uniform(rng, 0.25, 0.45),
                    phase: uniform(rng, 0.0, 2.0 * PI),
                }
            }
            2 => Texture::Checks {
                cell: uniform(rng, 0.15, 0.3),
                offset: [0.0; 3].map(|_| uniform(rng, 0.0, 1.0)),
            },
            _ => Texture::Mottle {
                cell: uniform(rng, 0.04, 0.08),
                seed: rng.random(),
            },
        };
        Self {
            class,
            light,
            dark,
            texture,
        }
    }

    /// The albedo at world point `p`.
    pub fn albedo(&self, p: V3) -> V3 {
        let t = match self.texture {
            Texture::Plain => 0.0,
            Texture::Stripes {
                direction,
                period,
                phase,
            } => {
                (0.5 + 1.5 * (2.0 * PI * dot(p, direction) / period + phase).sin()).clamp(0.0, 1.0)
            }
            Texture::Checks { cell, offset } => {
                let sum: i64 = (0..3)
                    .map(|a| (p[a] / cell + offset[a]).floor() as i64)
                    .sum();
                sum.rem_euclid(2) as f64
            }
            Texture::Mottle { cell, seed } => {
                (0.5 + 2.0 * (value_noise(scale(p, 1.0 / cell), seed) - 0.5)).clamp(0.0, 1.0)
            }
        };
        add(scale(self.light, 1.0 - t), scale(self.dark, t))
    }
}

/// RGB of a hue in degrees, a saturation and a value in [0, 1].
fn hsv(hue: f64, saturation: f64, value: f64) -> V3 {
    let c = value * saturation;
    let h = hue / 60.0;
    let x = c * (1.0 - (h.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    [r + m, g + m, b + m]
}

/// Trilinear value noise in [0, 1]: hashed values at the integer lattice, blended with a
/// smoothstep.
fn value_noise(p: V3, seed: u64) -> f64 {
    let cell = p.map(f64::floor);
    let f = [0, 1, 2].map(|a| {
        let t = p[a] - cell[a];
        t * t * (3.0 - 2.0 * t)
    });
    let corner = |dx: i64, dy: i64, dz: i64| {
        let mut h = seed;
        for (a, d) in [dx, dy, dz].into_iter().enumerate() {
            h = super::mix(h, (cell[a] as i64 + d) as u64);
        }
        (h >> 11) as f64 / (1u64 << 53) as f64
    };
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let x00 = lerp(corner(0, 0, 0), corner(1, 0, 0), f[0]);
    let x10 = lerp(corner(0, 1, 0), corner(1, 1, 0), f[0]);
    let x01 = lerp(corner(0, 0, 1), corner(1, 0, 1), f[0]);
    let x11 = lerp(corner(0, 1, 1), corner(1, 1, 1), f[0]);
    lerp(lerp(x00, x10, f[1]), lerp(x01, x11, f[1]), f[2])
}

#[cfg(test)]
mod tests {
    use super::super::{
        MultiTaskDataset, SceneConfig, SceneTarget, SyntheticScenes, TargetData, geometry,
    };
    use super::*;

    fn with_material(config: SceneConfig) -> SceneConfig {
        config.with_targets(vec![
            SceneTarget::Segmentation,
            SceneTarget::Normals,
            SceneTarget::Material,
        ])
    }

    #[test]
    fn the_material_target_is_one_class_per_object_and_ignored_on_the_room() {
        let (h, w) = (36, 48);
        let scenes = SyntheticScenes::new(with_material(SceneConfig::new(8, h, w, 3))).unwrap();
        let mut seen = [0usize; MATERIAL_CLASSES.len()];
        for i in 0..8 {
            let r = scenes.render(i);
            let sample = scenes.sample(i).unwrap();
            assert_eq!(sample.targets.len(), 3);
            let TargetData::Labels {
                labels,
                height,
                width,
            } = &sample.targets[2]
            else {
                panic!(
                    "material target is not a label map: {:?}",
                    sample.targets[2]
                );
            };
            assert_eq!((*height, *width, labels.len()), (h, w, h * w));
            assert_eq!(Some(labels), r.materials.as_ref());
            let mut material_of = std::collections::HashMap::new();
            for ((&m, &class), &instance) in labels.iter().zip(&r.labels).zip(&r.instances) {
                if class < 3 {
                    // Floor, wall, ceiling: no material.
                    assert_eq!(m, TargetData::IGNORE);
                } else {
                    assert!((0..MATERIAL_CLASSES.len() as i64).contains(&m), "{m}");
                    assert_eq!(*material_of.entry(instance).or_insert(m), m);
                    seen[m as usize] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "pixels per material {seen:?}");
        // A set without the target has no material map, and asking for the map of a render
        // without one is an error, not a panic.
        let plain = SyntheticScenes::new(SceneConfig::new(1, h, w, 3)).unwrap();
        assert_eq!(plain.render(0).materials, None);
    }

    #[test]
    fn materials_change_the_objects_look_and_nothing_else() {
        let base = SceneConfig::new(4, 36, 48, 11);
        let plain = SyntheticScenes::new(base.clone()).unwrap();
        let textured = SyntheticScenes::new(with_material(base)).unwrap();
        let plane = 36 * 48;
        for i in 0..4 {
            let (a, b) = (plain.render(i), textured.render(i));
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.instances, b.instances);
            assert_eq!(a.depth, b.depth);
            assert_eq!(a.normals, b.normals);
            assert_eq!(a.depth_valid, b.depth_valid);
            assert_eq!(a.normals_valid, b.normals_valid);
            let (mut room_same, mut object_changed, mut objects) = (true, 0, 0);
            for p in 0..plane {
                let same =
                    (0..3).all(|c| a.image.data[c * plane + p] == b.image.data[c * plane + p]);
                if a.labels[p] < 3 {
                    room_same &= same;
                } else {
                    objects += 1;
                    object_changed += usize::from(!same);
                }
            }
            assert!(room_same, "scene {i}: the room's pixels changed");
            assert!(
                object_changed * 10 >= objects * 9,
                "scene {i}: only {object_changed} of {objects} object pixels changed"
            );
        }
    }

    /// Pearson's chi-square statistic of a contingency table against independence of its
    /// rows and columns (expected counts from the margins).
    fn chi_square<const R: usize, const C: usize>(table: &[[usize; C]; R]) -> f64 {
        let n: usize = table.iter().flatten().sum();
        let rows: Vec<f64> = table
            .iter()
            .map(|r| r.iter().sum::<usize>() as f64)
            .collect();
        let cols: Vec<f64> = (0..C)
            .map(|c| table.iter().map(|r| r[c]).sum::<usize>() as f64)
            .collect();
        let mut chi = 0.0;
        for (r, row) in table.iter().enumerate() {
            for (c, &observed) in row.iter().enumerate() {
                let expected = rows[r] * cols[c] / n as f64;
                chi += (observed as f64 - expected).powi(2) / expected;
            }
        }
        chi
    }

    #[test]
    fn the_material_is_independent_of_the_semantic_class_and_the_size() {
        // Every object of 3000 scenes (about 12 000 objects; no rendering needed), counted by
        // (semantic class, material) and by (size quartile, material). Under independence
        // Pearson's statistic of a 4 x 4 table follows a chi-square law with (4-1)(4-1) = 9
        // degrees of freedom whatever the sample size (the sample size sets how small a
        // dependence it detects: with ~12 000 objects a shift of a few points of probability
        // in one cell already exceeds the bound); its 0.999 quantile is 27.88. The data are
        // seeded, so this is one fixed draw: passing says the table is as close to the
        // product of its margins as 999 in 1000 independent draws are. A material drawn
        // from the scene's own stream after the objects would pass too; one drawn from the
        // class (say, a table's material from its width) would not.
        const CHI2_9_Q999: f64 = 27.88;
        let scenes =
            SyntheticScenes::new(with_material(SceneConfig::new(3000, 8, 8, 2024))).unwrap();
        let mut objects = Vec::new();
        for i in 0..3000 {
            let (scene, _) = scenes.scene(i);
            for o in scene.objects {
                let material = o.material.expect("a material per object").class as usize;
                let size = match o.shape {
                    geometry::Shape::Cuboid { min, max } => {
                        (0..3).map(|a| max[a] - min[a]).product::<f64>()
                    }
                    geometry::Shape::Cylinder { radius, height, .. } => {
                        std::f64::consts::PI * radius * radius * height
                    }
                    geometry::Shape::Sphere { radius, .. } => {
                        4.0 / 3.0 * std::f64::consts::PI * radius.powi(3)
                    }
                };
                objects.push(((o.class - 3) as usize, size, material));
            }
        }
        let n = objects.len();
        assert!(n > 10_000, "{n} objects");
        let mut by_class = [[0usize; 4]; 4];
        for &(class, _, material) in &objects {
            by_class[class][material] += 1;
        }
        let mut sizes: Vec<f64> = objects.iter().map(|o| o.1).collect();
        sizes.sort_by(f64::total_cmp);
        let quartile = |s: f64| sizes.partition_point(|&x| x < s) * 4 / n;
        let mut by_size = [[0usize; 4]; 4];
        for &(_, size, material) in &objects {
            by_size[quartile(size).min(3)][material] += 1;
        }
        let (chi_class, chi_size) = (chi_square(&by_class), chi_square(&by_size));
        assert!(
            chi_class < CHI2_9_Q999,
            "class x material {chi_class}: {by_class:?}"
        );
        assert!(
            chi_size < CHI2_9_Q999,
            "size x material {chi_size}: {by_size:?}"
        );
        // The materials are uniform: each one's share within 4 standard errors of 1/4
        // (standard error sqrt(p (1 - p) / n), about 0.004 here).
        for m in 0..4 {
            let share = by_class.iter().map(|r| r[m]).sum::<usize>() as f64 / n as f64;
            let se = (0.25 * 0.75 / n as f64).sqrt();
            assert!(
                (share - 0.25).abs() < 4.0 * se,
                "material {m}: share {share}"
            );
        }
        // Control: the same statistic does see a dependence as weak as "one object in 25
        // takes the material numbered like its class" (about 3% of the objects moved).
        let mut coupled = by_class;
        for (i, &(class, _, material)) in objects.iter().enumerate() {
            if i % 25 == 0 && material != class {
                coupled[class][material] -= 1;
                coupled[class][class] += 1;
            }
        }
        assert!(
            chi_square(&coupled) > CHI2_9_Q999,
            "{}",
            chi_square(&coupled)
        );
    }

    #[test]
    fn hue_alone_does_not_name_the_material() {
        // The best rule that reads a pixel's hue and nothing else (the majority material of
        // its hue bin, fitted on the very pixels it is scored on, so optimistic) must leave
        // many pixels wrong: the hue ranges overlap by design, so the texture is needed.
        let (h, w) = (48, 64);
        let scenes = SyntheticScenes::new(with_material(SceneConfig::new(60, h, w, 8))).unwrap();
        let plane = h * w;
        let mut bins = vec![[0usize; 4]; 36];
        for i in 0..60 {
            let r = scenes.render(i);
            let materials = r.materials.unwrap();
            for (p, &m) in materials.iter().enumerate() {
                if m == TargetData::IGNORE {
                    continue;
                }
                let [red, green, blue] = [0, 1, 2].map(|c| r.image.data[c * plane + p] as f64);
                let hue = (3f64.sqrt() * (green - blue))
                    .atan2(2.0 * red - green - blue)
                    .to_degrees()
                    .rem_euclid(360.0);
                bins[(hue / 10.0) as usize % 36][m as usize] += 1;
            }
        }
        let total: usize = bins.iter().flatten().sum();
        let right: usize = bins.iter().map(|b| *b.iter().max().unwrap()).sum();
        let accuracy = right as f64 / total as f64;
        assert!(total > 20_000, "{total} object pixels");
        assert!(
            (0.4..0.85).contains(&accuracy),
            "hue-only accuracy {accuracy}"
        );
    }
}
