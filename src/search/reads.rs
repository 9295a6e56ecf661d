//! Values the loop needs on the host (losses, the non-finite count, the entropy, the logits),
//! gathered on the device and read back together: on a GPU every read waits for the queue to
//! drain, so an iteration reads once (twice when a non-finite batch may be skipped: the skip
//! must be decided before the update).

use burn::tensor::Tensor;

use crate::Result;
use crate::arch::tensor_to_vec;

/// Where one pushed tensor's values are, in the order they were pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot(usize);

/// Tensors waiting to be read back, and the values of those already read.
#[derive(Debug, Default)]
pub(crate) struct HostReads {
    pending: Vec<(usize, Tensor<1>)>,
    values: Vec<Option<Vec<f32>>>,
    reads: usize,
}

impl HostReads {
    /// Queues `tensor` (`[n]`, detached from the graph here) for the next read.
    pub(crate) fn push(&mut self, tensor: Tensor<1>) -> Slot {
        let slot = self.values.len();
        self.values.push(None);
        self.pending.push((slot, tensor.detach()));
        Slot(slot)
    }

    /// The values of `slot`, reading every queued tensor in one read if they are not yet on
    /// the host.
    ///
    /// # Errors
    /// The device cannot hand them back.
    pub(crate) fn get(&mut self, slot: Slot) -> Result<&[f32]> {
        if self.values[slot.0].is_none() {
            self.read()?;
        }
        Ok(self.values[slot.0].as_deref().unwrap_or_default())
    }

    /// How many reads have reached the device.
    pub(crate) fn count(&self) -> usize {
        self.reads
    }

    /// One read of everything queued: concatenated on the device, then split on the host.
    fn read(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (slots, tensors): (Vec<usize>, Vec<Tensor<1>>) = self.pending.drain(..).unzip();
        let lengths: Vec<usize> = tensors.iter().map(|t| t.dims()[0]).collect();
        let all = tensor_to_vec(Tensor::cat(tensors, 0))?;
        self.reads += 1;
        let mut offset = 0;
        for (slot, length) in slots.into_iter().zip(lengths) {
            self.values[slot] = Some(all[offset..offset + length].to_vec());
            offset += length;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn everything_queued_comes_back_in_one_read() {
        let device = Device::flex();
        let tensor =
            |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
        let mut reads = HostReads::default();
        let a = reads.push(tensor(vec![1.0, 2.0]));
        let b = reads.push(tensor(vec![3.0]));
        assert_eq!(reads.get(b).unwrap(), [3.0]);
        assert_eq!(reads.get(a).unwrap(), [1.0, 2.0]);
        assert_eq!(reads.count(), 1);
        let c = reads.push(tensor(vec![4.0, 5.0, 6.0]));
        assert_eq!(reads.get(c).unwrap(), [4.0, 5.0, 6.0]);
        assert_eq!(reads.get(a).unwrap(), [1.0, 2.0]);
        assert_eq!(reads.count(), 2);
    }
}
