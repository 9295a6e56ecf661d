//! Per-pixel maps derived from a render: normals from depth, surface edges and corners.

use super::Image;
use super::Intrinsics;
use super::geometry::{cross, dot, normalize, scale, sub};

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

#[cfg(test)]
mod tests {
    use super::super::geometry::V3;
    use super::super::{SceneConfig, SyntheticScenes};
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
}
