//! Seeded initialisers: every weight drawn from the generator you pass (a
//! [`SeededRng`](crate::rng::SeededRng)), never from the backend's global one.
//!
//! burn's own initialisers ([`Initializer`]) draw from the device's generator, so a branch
//! built with them reproduces only if the device is seeded first, and only under the same
//! threading. Build a branch's layers with these instead (the crate's own branches do) and
//! the same seed gives the same weights on every run and every CPU:
//!
//! ```
//! use mtl_nas::init;
//! use mtl_nas::burn::nn::conv::Conv2dConfig;
//! use mtl_nas::prelude::*;
//!
//! # fn main() -> mtl_nas::Result<()> {
//! let device = Device::flex();
//! let config = Conv2dConfig::new([3, 16], [3, 3]).with_dilation([2, 2]);
//! let a = init::kaiming_normal_conv(&config, &mut SeededRng::new(7), &device)?;
//! let b = init::kaiming_normal_conv(&config, &mut SeededRng::new(7), &device)?;
//! assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
//! # Ok(())
//! # }
//! ```

use burn::module::Param;
use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::{Error, Result};

/// A parameter of `shape` with independent normal entries of mean 0 and standard deviation
/// `std`, drawn from `rng` in row-major order.
///
/// # Errors
/// A standard deviation that is negative or not finite.
pub fn normal<const D: usize>(
    shape: [usize; D],
    std: f64,
    rng: &mut impl Rng,
    device: &Device,
) -> Result<Param<Tensor<D>>> {
    // rand_distr 0.6 accepts a negative std: refuse it here.
    let normal = Normal::new(0.0, std)
        .ok()
        .filter(|_| std.is_finite() && std >= 0.0)
        .ok_or_else(|| {
            Error::config(
                "std",
                format!("a normal initialiser needs a finite std >= 0, got {std}"),
            )
        })?;
    Ok(draw(shape, normal, rng, device))
}

/// A trainable parameter holding `value` (detached from any graph) under an existing id, so
/// optimiser state and parameter groups keyed by the id still apply.
pub(crate) fn param_with_id<const D: usize>(
    id: burn::module::ParamId,
    value: Tensor<D>,
) -> Param<Tensor<D>> {
    let mut param = Param::from_tensor(value.detach());
    param.id = id;
    param
}

fn draw<const D: usize>(
    shape: [usize; D],
    normal: Normal<f64>,
    rng: &mut impl Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let count = shape.iter().product();
    let values: Vec<f32> = (0..count).map(|_| normal.sample(rng) as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// The convolution of `config` with its weight Kaiming normal (fan-out, ReLU gain:
/// `std = sqrt(2 / (out_channels * kernel_h * kernel_w))`) drawn from `rng`, and its bias, if
/// any, zero: how torchvision initialises VGG and ResNet convolutions. `config`'s own
/// initialiser is ignored.
///
/// # Errors
/// A configuration with no output channels or an empty kernel.
pub fn kaiming_normal_conv(
    config: &Conv2dConfig,
    rng: &mut impl Rng,
    device: &Device,
) -> Result<Conv2d> {
    let [_, out] = config.channels;
    let [kh, kw] = config.kernel_size;
    let fan_out = out * kh * kw;
    if fan_out == 0 {
        return Err(Error::config(
            "convolution",
            format!(
                "Kaiming initialisation needs output channels and a kernel, got {out} channels, kernel {kh}x{kw}"
            ),
        ));
    }
    let mut conv = config
        .clone()
        .with_initializer(Initializer::Zeros)
        .init(device);
    let shape = conv.weight.dims();
    conv.weight = normal(shape, (2.0 / fan_out as f64).sqrt(), rng, device)?;
    Ok(conv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn kaiming_conv_has_the_fan_out_std_and_matches_the_crate_branches() {
        let device = Device::flex();
        let config = Conv2dConfig::new([32, 64], [3, 3]).with_bias(false);
        let conv = kaiming_normal_conv(&config, &mut SeededRng::new(3), &device).unwrap();
        let values = conv.weight.val().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(values.len(), 64 * 32 * 9);
        // std = sqrt(2 / (64 * 3 * 3)) = 0.058926; the sample std of 18432 draws is within
        // about 0.5% (1 / sqrt(2 n)) of it, so 3% is a loose bound.
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((var.sqrt() / (2.0f64 / 576.0).sqrt() - 1.0).abs() < 0.03);
        assert!(mean.abs() < 0.003);
        // The crate's own branches draw the same weights from the same seed.
        let own =
            crate::branch::kaiming_conv([32, 64], 3, 1, 0, 1, &mut SeededRng::new(3), &device)
                .unwrap();
        assert_eq!(own.weight.val().into_data(), conv.weight.val().into_data());
    }

    #[test]
    fn bad_initialiser_arguments_are_errors() {
        let device = Device::flex();
        let rng = &mut SeededRng::new(0);
        for std in [-1.0, f64::NAN, f64::INFINITY] {
            let message = normal([2, 2], std, rng, &device).unwrap_err().to_string();
            assert!(message.contains("finite std >= 0"), "{message}");
        }
        let empty = Conv2dConfig::new([3, 0], [3, 3]);
        let message = kaiming_normal_conv(&empty, rng, &device)
            .unwrap_err()
            .to_string();
        assert!(message.contains("0 channels"), "{message}");
    }
}
