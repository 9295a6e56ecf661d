//! Bilinear resizing written as two matrix products, so its backward exists on every burn
//! backend (burn's own bilinear `interpolate` has no backward on the CubeCL backends). Used by
//! the fusions (cross-scale sources), the tasks (strided predictions to their targets) and
//! the data; re-exported by [`fusion`](crate::fusion) for compatibility.

use burn::tensor::{Device, Tensor, TensorData};

/// The `[output, input]` matrix of 1-D bilinear interpolation, no antialiasing.
///
/// With `align_corners = false` (half-pixel centres, PyTorch's default) output pixel `d`
/// samples input position `max((d + 0.5) * input / output - 0.5, 0)`; with `align_corners =
/// true` (the reference's label-size upsampling) it samples `d * (input - 1) / (output - 1)`.
/// The weight is split between the two neighbours of that position.
pub fn bilinear_matrix(input: usize, output: usize, align_corners: bool) -> Vec<f32> {
    let mut matrix = vec![0.0f32; output * input];
    for d in 0..output {
        let position = if align_corners {
            if output > 1 {
                d as f64 * (input as f64 - 1.0) / (output as f64 - 1.0)
            } else {
                0.0
            }
        } else {
            ((d as f64 + 0.5) * input as f64 / output as f64 - 0.5).max(0.0)
        };
        let lower = (position.floor() as usize).min(input - 1);
        let upper = (lower + 1).min(input - 1);
        let upper_weight = position - lower as f64;
        let upper_weight = if upper == lower { 0.0 } else { upper_weight };
        matrix[d * input + lower] += (1.0 - upper_weight) as f32;
        matrix[d * input + upper] += upper_weight as f32;
    }
    matrix
}

/// Resizes `input` (`[batch, channels, height, width]`) to `[batch, channels, size[0],
/// size[1]]` by bilinear interpolation, as `A_h x A_w^T` (see [`bilinear_matrix`] for
/// `align_corners`). Returns the input itself when the size already matches.
pub fn resize_bilinear(input: Tensor<4>, size: [usize; 2], align_corners: bool) -> Tensor<4> {
    let [_, _, height, width] = input.dims();
    if [height, width] == size {
        return input;
    }
    let device = input.device();
    let rows = interpolation(height, size[0], align_corners, false, &device);
    let columns = interpolation(width, size[1], align_corners, true, &device);
    rows.matmul(input.matmul(columns))
}

/// The interpolation matrix as a `[1, 1, out, in]` tensor (or its transpose `[1, 1, in, out]`).
fn interpolation(
    input: usize,
    output: usize,
    align_corners: bool,
    transpose: bool,
    device: &Device,
) -> Tensor<4> {
    let matrix = bilinear_matrix(input, output, align_corners);
    let tensor = Tensor::<2>::from_data(TensorData::new(matrix, [output, input]), device);
    let tensor = if transpose {
        tensor.transpose()
    } else {
        tensor
    };
    tensor.unsqueeze::<4>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tensor_to_vec;

    #[test]
    fn matches_pytorch_bilinear_half_pixel() {
        // torch.nn.functional.interpolate(torch.arange(4.).view(1, 1, 1, 4), size=(1, 2),
        //     mode="bilinear", align_corners=False) -> [[0.5, 2.5]]: output d samples input
        // (d + 0.5) * 2 - 0.5 = 0.5 and 2.5, halfway between neighbours.
        // Upsampling 2 -> 4 samples 0 (clamped from -0.25), 0.25, 0.75, 1.25 -> clamped to the
        // last pixel: [0, 0.25, 0.75, 1] times the values [0, 1] -> [0, 0.25, 0.75, 1].
        let device = Device::flex();
        let x = Tensor::<4>::from_floats([[[[0.0, 1.0, 2.0, 3.0]]]], &device);
        let down = tensor_to_vec(resize_bilinear(x, [1, 2], false)).unwrap();
        assert_eq!(down, [0.5, 2.5]);
        let y = Tensor::<4>::from_floats([[[[0.0, 1.0]]]], &device);
        let up = tensor_to_vec(resize_bilinear(y.clone(), [1, 4], false)).unwrap();
        assert_eq!(up, [0.0, 0.25, 0.75, 1.0]);
        // align_corners=True samples d * (2 - 1) / (4 - 1): [0, 1/3, 2/3, 1].
        let corners = tensor_to_vec(resize_bilinear(y, [1, 4], true)).unwrap();
        for (got, want) in corners.iter().zip([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{corners:?}");
        }
    }

    #[test]
    fn rows_sum_to_one_and_identity_when_same_size() {
        for (i, o) in [(5, 3), (3, 5), (40, 80), (7, 7)] {
            let m = bilinear_matrix(i, o, false);
            for row in m.chunks(i) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            }
        }
        let m = bilinear_matrix(4, 4, false);
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(m[r * 4 + c], if r == c { 1.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn two_dimensional_resize_is_separable_and_differentiable() {
        // A constant map stays constant; the gradient of the sum of a resize to h x w from
        // H x W spreads h*w units of mass over the input (each output row of weights sums to 1).
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::ones([2, 3, 5, 6], &device).require_grad();
        let y = resize_bilinear(x.clone(), [3, 4], false);
        assert_eq!(y.dims(), [2, 3, 3, 4]);
        for v in tensor_to_vec(y.clone()).unwrap() {
            assert!((v - 1.0).abs() < 1e-6);
        }
        let grads = y.sum().backward();
        let g = tensor_to_vec(x.grad(&grads).unwrap()).unwrap();
        let total: f32 = g.iter().sum();
        assert!((total - (2 * 3 * 3 * 4) as f32).abs() < 1e-3, "{total}");
    }
}
