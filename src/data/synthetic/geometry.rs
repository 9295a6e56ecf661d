//! The ray tracer's geometry: 3-vectors, the objects' shapes and ray-shape intersection.

/// A point or direction in world or camera coordinates.
pub(super) type V3 = [f64; 3];

pub(super) fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub(super) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub(super) fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub(super) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(super) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub(super) fn normalize(a: V3) -> V3 {
    let n = dot(a, a).sqrt();
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

/// The shape of an object, in world coordinates (Y up, the floor at Y = 0).
#[derive(Clone, Debug)]
pub(super) enum Shape {
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

/// Distance and outward normal of the first intersection of a ray with a shape.
pub(super) fn intersect(shape: &Shape, o: V3, d: V3) -> Option<(f64, V3)> {
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
