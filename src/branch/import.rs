//! Weight import from PyTorch (`.pth`/`.pt`) and safetensors checkpoints, by name.
//!
//! A [`Checkpoint`] holds a file's tensors by name; each branch maps its parameters to the
//! names of a [`WeightLayout`] (the reference's single-task models, torchvision's ImageNet
//! models) and takes exactly those tensors. Nothing is matched by key order. A missing or
//! mis-shaped tensor is an [`Error::Weights`] naming the file, the key and the shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::store::pytorch_reader::{DType as TorchDType, PytorchReader};
use burn::tensor::{DType, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The tensors of a checkpoint file, by name, as `f32` on the host.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    path: PathBuf,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    used: std::cell::RefCell<BTreeSet<String>>,
}

impl Checkpoint {
    /// Reads a checkpoint: `.safetensors` by extension, anything else as a PyTorch file
    /// (`torch.save` of a state dict, ZIP or legacy format). A state dict nested under
    /// `"state_dict"` or `"model"` is found too. Float tensors (f16, bf16, f32, f64) are
    /// converted to `f32`; integer tensors (BN's `num_batches_tracked`) are skipped.
    ///
    /// # Errors
    /// An unreadable file, or one that is not a checkpoint.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fail = |reason: String| Error::Checkpoint {
            path: path.clone(),
            reason,
        };
        let is_safetensors = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
        if !path.is_file() {
            let expected = match is_safetensors {
                true => "a .safetensors file",
                false => "a PyTorch checkpoint (torch.save of a state dict, .pth)",
            };
            let found = match path.exists() {
                true => "is not a file",
                false => "does not exist",
            };
            return Err(fail(format!("{found}; expected {expected}")));
        }
        let mut tensors = BTreeMap::new();
        if is_safetensors {
            let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
            let file = safetensors::SafeTensors::deserialize(&bytes)
                .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
            for (name, view) in file.tensors() {
                let dtype = match view.dtype() {
                    safetensors::Dtype::F32 => DType::F32,
                    safetensors::Dtype::F64 => DType::F64,
                    safetensors::Dtype::F16 => DType::F16,
                    safetensors::Dtype::BF16 => DType::BF16,
                    _ => continue,
                };
                let values = to_f32(view.data().to_vec(), view.shape(), dtype)
                    .map_err(|reason| fail(format!("tensor `{name}`: {reason}")))?;
                tensors.insert(name, (view.shape().to_vec(), values));
            }
        } else {
            let reader = PytorchReader::new(&path)
                .or_else(|first| {
                    PytorchReader::with_top_level_key(&path, "state_dict")
                        .or_else(|_| PytorchReader::with_top_level_key(&path, "model"))
                        .map_err(|_| first)
                })
                .map_err(|e| fail(format!("not a PyTorch checkpoint: {e}")))?;
            for (name, tensor) in reader.tensors() {
                let dtype = match tensor.dtype() {
                    TorchDType::F32 => DType::F32,
                    TorchDType::F64 => DType::F64,
                    TorchDType::F16 => DType::F16,
                    TorchDType::BF16 => DType::BF16,
                    _ => continue,
                };
                let bytes = tensor.read().map_err(|e| fail(e.to_string()))?;
                let values = to_f32(bytes, tensor.shape(), dtype)
                    .map_err(|reason| fail(format!("tensor `{name}`: {reason}")))?;
                tensors.insert(name.clone(), (tensor.shape().to_vec(), values));
            }
        }
        if tensors.is_empty() {
            return Err(fail("it holds no floating-point tensor".into()));
        }
        Ok(Self {
            path,
            tensors,
            used: Default::default(),
        })
    }

    /// A checkpoint from tensors in memory (`name -> (shape, values)`); `path` only names it
    /// in errors.
    pub fn from_tensors(
        path: impl Into<PathBuf>,
        tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    ) -> Self {
        Self {
            path: path.into(),
            tensors,
            used: Default::default(),
        }
    }

    /// Renames keys: every key matching the regular expression `pattern` is rewritten with
    /// `replacement` (`$1`-style groups), e.g. `("^module\\.", "")` strips DataParallel's
    /// prefix.
    ///
    /// # Errors
    /// An invalid pattern, or two keys renamed to the same name.
    pub fn remap_keys(mut self, pattern: &str, replacement: &str) -> Result<Self> {
        let regex = regex::Regex::new(pattern)
            .map_err(|e| Error::config("key remapping", format!("invalid pattern: {e}")))?;
        let mut renamed = BTreeMap::new();
        for (key, value) in std::mem::take(&mut self.tensors) {
            let new = regex.replace(&key, replacement).into_owned();
            if renamed.insert(new.clone(), value).is_some() {
                return Err(Error::Weights {
                    path: self.path.clone(),
                    key: new,
                    reason: format!("two keys become `{pattern}` -> `{replacement}`"),
                });
            }
        }
        self.tensors = renamed;
        Ok(self)
    }

    /// The file this checkpoint came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All tensor names.
    pub fn keys(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    /// Whether the checkpoint holds `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// The shape of `key`, if present.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|(s, _)| s.as_slice())
    }

    /// The values of `key`, which must have `shape`.
    ///
    /// # Errors
    /// [`Error::Weights`] if the key is missing or has another shape.
    pub fn values(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (actual, values) = self.tensors.get(key).ok_or_else(|| Error::Weights {
            path: self.path.clone(),
            key: key.to_string(),
            reason: format!("missing (expected shape {shape:?})"),
        })?;
        if actual != shape {
            return Err(Error::Weights {
                path: self.path.clone(),
                key: key.to_string(),
                reason: format!("has shape {actual:?}, the module needs {shape:?}"),
            });
        }
        self.used.borrow_mut().insert(key.to_string());
        Ok(values.clone())
    }

    /// Forgets which keys were read (each import reports its own use).
    pub(crate) fn reset_usage(&self) {
        self.used.borrow_mut().clear();
    }

    /// Keys never read by [`Checkpoint::values`] since the last import began.
    pub fn unused_keys(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect()
    }
}

fn to_f32(bytes: Vec<u8>, shape: &[usize], dtype: DType) -> std::result::Result<Vec<f32>, String> {
    let expected = shape.iter().product::<usize>() * dtype.size();
    if bytes.len() != expected {
        return Err(format!(
            "{} bytes for shape {shape:?} of {dtype:?}",
            bytes.len()
        ));
    }
    TensorData::from_bytes_vec(bytes, shape.to_vec(), dtype)
        .convert::<f32>()
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// The naming scheme of a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightLayout {
    /// The MTL-NAS/NDDR reference's single-task VGG-16 LargeFOV models: `features.N.*` (convs at
    /// 0, 3, 8, 11, 16, 19, 22, 27, 30, 33, 37, 40, 43, each followed by its batch norm) and
    /// `head.N.*` (fc6, BN, fc7, BN, fc8 at 0, 1, 4, 5, 8 in the 5-stage model, or at 2, 3,
    /// 6, 7, 10 in the 13-stage one; detected from the keys).
    Reference,
    /// torchvision `vgg16_bn`: `features.N.*` with convs (with bias) at 0, 3, 7, 10, 14, 17,
    /// 20, 24, 27, 30, 34, 37, 40 and batch norms after them. Conv biases are folded into the
    /// batch norms' running means. The ImageNet classifier is not imported.
    TorchvisionVgg16Bn,
    /// torchvision `vgg16` (no batch norm): convs with bias at 0, 2, 5, 7, 10, 12, 14, 17,
    /// 19, 21, 24, 26, 28. Each batch norm is set to add the bias and otherwise pass its input
    /// (exact in evaluation mode). The ImageNet classifier is not imported.
    TorchvisionVgg16,
    /// torchvision ResNet-18/34: `conv1`, `bn1`, `layer{1-4}.{i}.{conv1,bn1,conv2,bn2,
    /// downsample.0,downsample.1}`; `fc` into a pooled head when the shapes fit.
    TorchvisionResNet,
}

/// Whether to take the last classifier from the checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassifierImport {
    /// Import it; a missing or mis-shaped classifier is an error.
    Require,
    /// Import it when present with the right shape, else keep the initialised one (for a
    /// different number of classes, as the reference does when fine-tuning).
    IfShapeMatches,
    /// Keep the initialised classifier.
    Skip,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Checkpoint keys that were read.
    pub loaded: usize,
    /// Whether the last classifier came from the checkpoint.
    pub classifier_loaded: bool,
    /// Checkpoint keys not used by this branch.
    pub unused: Vec<String>,
}

/// A branch whose weights can be imported from a checkpoint.
pub trait ImportWeights: Sized {
    /// This branch with its weights taken from `checkpoint` in `layout`.
    ///
    /// # Errors
    /// A layout this branch does not support, or a missing or mis-shaped tensor.
    fn import_weights(
        self,
        checkpoint: &Checkpoint,
        layout: WeightLayout,
        classifier: ClassifierImport,
    ) -> Result<(Self, ImportReport)>;
}

/// Loads a 4-D weight (and optional bias) into `conv`.
pub(crate) fn load_conv(
    conv: &mut Conv2d,
    checkpoint: &Checkpoint,
    weight: &str,
    bias: Option<&str>,
) -> Result<()> {
    let device = conv.weight.device();
    let shape = conv.weight.dims();
    let values = checkpoint.values(weight, &shape)?;
    conv.weight = param(conv.weight.id, values, shape, &device);
    if let (Some(key), Some(b)) = (bias, conv.bias.as_ref()) {
        let shape = b.dims();
        let values = checkpoint.values(key, &shape)?;
        conv.bias = Some(param(b.id, values, shape, &device));
    }
    Ok(())
}

/// Loads `{prefix}.weight`, `.bias`, `.running_mean`, `.running_var` into `norm`.
pub(crate) fn load_norm(norm: &mut BatchNorm, checkpoint: &Checkpoint, prefix: &str) -> Result<()> {
    let device = norm.gamma.device();
    let shape = norm.gamma.dims();
    let get = |name: &str| checkpoint.values(&format!("{prefix}.{name}"), &shape);
    norm.gamma = param(norm.gamma.id, get("weight")?, shape, &device);
    norm.beta = param(norm.beta.id, get("bias")?, shape, &device);
    norm.running_mean = RunningState::new(tensor(get("running_mean")?, shape, &device));
    norm.running_var = RunningState::new(tensor(get("running_var")?, shape, &device));
    Ok(())
}

/// Sets `norm` to an affine map with identity statistics: `x + shift` in evaluation mode
/// (running mean `-shift`, running variance `1 - epsilon`, scale 1, offset 0).
pub(crate) fn norm_as_shift(norm: &mut BatchNorm, shift: &[f32]) {
    let device = norm.gamma.device();
    let n = shift.len();
    let eps = norm.epsilon as f32;
    norm.gamma = param(norm.gamma.id, vec![1.0; n], [n], &device);
    norm.beta = param(norm.beta.id, vec![0.0; n], [n], &device);
    norm.running_mean = RunningState::new(tensor(shift.iter().map(|b| -b).collect(), [n], &device));
    norm.running_var = RunningState::new(tensor(vec![1.0 - eps; n], [n], &device));
}

/// Folds a bias `b` that precedes `norm` into its running mean: `BN(x + b) = BN'(x)` with
/// `mean' = mean - b` (exact in evaluation mode; batch statistics cancel the bias anyway).
pub(crate) fn fold_bias_into_norm(norm: &mut BatchNorm, bias: &[f32]) -> crate::Result<()> {
    let device = norm.gamma.device();
    let mean: Vec<f32> = crate::arch::tensor_to_vec(norm.running_mean.value())?
        .iter()
        .zip(bias)
        .map(|(m, b)| m - b)
        .collect();
    let n = mean.len();
    norm.running_mean = RunningState::new(tensor(mean, [n], &device));
    Ok(())
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn param<const D: usize>(
    id: burn::module::ParamId,
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Param<Tensor<D>> {
    crate::init::param_with_id(id, tensor(values, shape, device))
}
