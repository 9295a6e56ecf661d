//! Choosing a compute device by name, for command lines and configuration files.

use burn::tensor::Device;
#[cfg(any(feature = "wgpu", feature = "vulkan"))]
use burn::tensor::DeviceKind;

use crate::{Error, Result};

/// The device names this build accepts, depending on its Cargo features.
pub fn device_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "wgpu-cpu"]);
    }
    if cfg!(feature = "vulkan") {
        names.extend(["vulkan", "vulkan-cpu"]);
    }
    if cfg!(feature = "tch") {
        names.extend(["tch", "tch-cuda"]);
    }
    names
}

/// The device called `name` (without autodiff; call `.autodiff()` on it to train):
///
/// | name | device | feature |
/// |---|---|---|
/// | `flex` | burn's pure-Rust CPU backend | `flex` (default) |
/// | `wgpu` / `vulkan` | the best GPU through wgpu / Vulkan | `wgpu` / `vulkan` |
/// | `wgpu-cpu` / `vulkan-cpu` | a CPU adapter (e.g. Mesa's lavapipe) | `wgpu` / `vulkan` |
/// | `tch` / `tch-cuda` | libtorch on the CPU / on CUDA device 0 | `tch` |
///
/// # Errors
/// An unknown name, or one whose feature this build lacks (the message lists the names it
/// accepts).
pub fn device_from_name(name: &str) -> Result<Device> {
    match name {
        #[cfg(feature = "flex")]
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        "wgpu-cpu" => Ok(Device::wgpu(DeviceKind::Cpu)),
        #[cfg(feature = "vulkan")]
        "vulkan" => Ok(Device::vulkan(DeviceKind::DefaultDevice)),
        #[cfg(feature = "vulkan")]
        "vulkan-cpu" => Ok(Device::vulkan(DeviceKind::Cpu)),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn marks its libtorch backend deprecated; it is the CUDA route here
        "tch" => Ok(Device::libtorch()),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch-cuda" => Ok(Device::libtorch_cuda(0)),
        _ => Err(Error::config(
            "device",
            format!(
                "unknown or disabled device `{name}`; this build accepts {:?} (others need \
                 the Cargo features wgpu, vulkan or tch)",
                device_names()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_or_explain() {
        assert!(device_from_name("flex").is_ok());
        let err = device_from_name("quantum").unwrap_err().to_string();
        assert!(err.contains("quantum") && err.contains("flex"), "{err}");
    }
}
