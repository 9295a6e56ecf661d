//! Saving and loading a supernet's (or derived network's) weights.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot, SafetensorsStore};

use super::Supernet;
use crate::branch::TaskBranch;
use crate::{Error, Result, io};

impl<B: TaskBranch> Supernet<B> {
    /// Writes every weight (branches, fusions, batch-norm statistics, architecture logits) to
    /// `path`, atomically: safetensors for a `.safetensors` path, else burnpack. Tensor names
    /// are the module paths (`branches.0.convs.3.weight`, `fusions.1.4.Nddr.weight`,
    /// `architecture.logits`, ...).
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let fail = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        // Batch norm keeps its newest running statistics as a pending per-thread update until
        // the next forward; `valid()` folds them in (in the state this network shares, so it
        // sees the same values afterwards) and gives a copy whose tensors are current.
        let current = self.valid();
        let bytes: Vec<u8> = if is_safetensors(path) {
            let mut store = SafetensorsStore::from_bytes(None);
            current
                .save_into(&mut store)
                .map_err(|e| fail(e.to_string()))?;
            store.get_bytes().map_err(|e| fail(e.to_string()))?
        } else {
            let mut store = BurnpackStore::from_bytes(None);
            current
                .save_into(&mut store)
                .map_err(|e| fail(e.to_string()))?;
            store.get_bytes().map_err(|e| fail(e.to_string()))?.to_vec()
        };
        io::write_atomic(path, &bytes)
    }

    /// Loads weights written by [`Supernet::save_weights`] into a network of the same
    /// structure (for a derived network: derive first, then load).
    ///
    /// # Errors
    /// An unreadable file, or one whose tensors are missing, extra, or of another shape.
    pub fn load_weights(mut self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fail = |reason: String| Error::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let result = if is_safetensors(path) {
            let mut store = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true);
            self.load_from(&mut store).map_err(|e| {
                fail(format!(
                    "the weights do not fit this network ({e}); saved from another structure?"
                ))
            })?
        } else {
            let mut store =
                BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)))
                    .allow_partial(true);
            self.load_from(&mut store).map_err(|e| {
                fail(format!(
                    "the weights do not fit this network ({e}); saved from another structure?"
                ))
            })?
        };
        if let Some(error) = result.errors.first() {
            return Err(fail(format!("{error:?}")));
        }
        if let Some((missing, _)) = result.missing.first() {
            return Err(Error::Weights {
                path: path.to_path_buf(),
                key: missing.clone(),
                reason: format!(
                    "missing ({} tensors missing in all; a derived network must load weights saved from a derived network)",
                    result.missing.len()
                ),
            });
        }
        if let Some(unused) = result.unused.first() {
            return Err(Error::Weights {
                path: path.to_path_buf(),
                key: unused.clone(),
                reason: "in the file but not in this network (saved from another structure?)"
                    .into(),
            });
        }
        Ok(self)
    }
}

fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Architecture, Connectivity, EdgeGates, tensor_to_vec};
    use crate::branch::{SmallCnn, SmallCnnConfig};
    use crate::fusion::FusionConfig;
    use crate::rng::SeededRng;
    use crate::space::Stage;
    use crate::space::{EdgeRule, SearchSpace};
    use burn::tensor::{Device, Tensor};

    fn net(seed: u64) -> Supernet<SmallCnn> {
        let device = Device::flex();
        let mut rng = SeededRng::new(seed);
        let branches: Vec<SmallCnn> = (0..2)
            .map(|_| {
                SmallCnnConfig::new(3, Stage::pyramid(&[(2, 4)]), 2)
                    .init(&mut rng, &device)
                    .unwrap()
            })
            .collect();
        let space = SearchSpace::from_branches(
            &[branches[0].describe("a"), branches[1].describe("b")],
            EdgeRule::same_stage(),
        )
        .unwrap();
        Supernet::new(
            &space,
            branches,
            FusionConfig::nddr_kaiming(),
            seed,
            &device,
        )
        .unwrap()
    }

    fn outputs(net: &Supernet<SmallCnn>, weights: &EdgeGates) -> Vec<f32> {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(
                (0..150).map(|i| (i as f32 * 0.37).sin()).collect(),
                [2, 3, 5, 5],
            ),
            &device,
        );
        net.forward(x, weights)
            .unwrap()
            .into_iter()
            .flat_map(|t| tensor_to_vec(t).unwrap())
            .collect()
    }

    #[test]
    fn weights_round_trip_in_both_formats_and_for_derived_networks() {
        let dir = std::env::temp_dir().join(format!("mtl-nas-weights-{}", std::process::id()));
        let original = net(1);
        let all_on = EdgeGates::from_mask(&[true; 6], &Device::flex());
        let want = outputs(&original, &all_on);
        for name in ["w.bpk", "w.safetensors"] {
            original.save_weights(dir.join(name)).unwrap();
            let loaded = net(2).load_weights(dir.join(name)).unwrap();
            assert_eq!(outputs(&loaded, &all_on), want, "{name}");
        }
        let arch =
            Architecture::from_logits(original.space(), &[1.0, -1.0, 1.0, -1.0, 1.0, 1.0]).unwrap();
        let derived = original.derive(&arch).unwrap();
        let hard = derived
            .architecture
            .connectivity(Connectivity::Hard, &mut SeededRng::new(0))
            .unwrap();
        let want = outputs(&derived, &hard);
        derived.save_weights(dir.join("d.safetensors")).unwrap();
        let loaded = net(3)
            .derive(&arch)
            .unwrap()
            .load_weights(dir.join("d.safetensors"))
            .unwrap();
        assert_eq!(outputs(&loaded, &hard), want);
        // Derived weights do not fit the full supernet.
        let err = net(4)
            .load_weights(dir.join("d.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.safetensors"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
