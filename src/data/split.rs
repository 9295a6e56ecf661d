//! The train/search split of one training set, re-drawn every epoch.

use crate::rng::SeededRng;
use rand::seq::SliceRandom;

use crate::{Error, Result};

/// Splits `0..len` into a weight-training part (a fraction `train_fraction`) and an
/// architecture-search part, shuffled anew every epoch so both halves see all the data over
/// the run (the reference's `TRAIN_SPLIT`).
///
/// An epoch ends when the training part cannot fill another batch; the search part, if it runs
/// out first (fraction above one half), starts over in a new order within the same epoch rather
/// than stopping the run (the reference crashes there).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochSplit {
    len: usize,
    train_len: usize,
    rng: SeededRng,
    order: Vec<usize>,
    train_cursor: usize,
    search_order: Vec<usize>,
    search_cursor: usize,
    epoch: usize,
}

impl EpochSplit {
    /// A split of `len` samples, `train_fraction` of them for weights, shuffled by `rng`.
    ///
    /// # Errors
    /// A fraction outside (0, 1), or one that leaves either part empty.
    pub fn new(len: usize, train_fraction: f64, rng: SeededRng) -> Result<Self> {
        if !(train_fraction > 0.0 && train_fraction < 1.0) {
            return Err(Error::config(
                "train_split",
                format!("must lie strictly between 0 and 1, got {train_fraction}"),
            ));
        }
        let train_len = (len as f64 * train_fraction).round() as usize;
        if train_len == 0 || train_len >= len {
            return Err(Error::config(
                "train_split",
                format!(
                    "{train_fraction} of {len} samples leaves {train_len} for weights and {} \
                     for the architecture; both need at least one",
                    len.saturating_sub(train_len)
                ),
            ));
        }
        let mut split = Self {
            len,
            train_len,
            rng,
            order: Vec::new(),
            train_cursor: 0,
            search_order: Vec::new(),
            search_cursor: 0,
            epoch: 0,
        };
        split.start_epoch();
        split.epoch = 0;
        Ok(split)
    }

    fn start_epoch(&mut self) {
        self.order = (0..self.len).collect();
        self.order.shuffle(&mut self.rng);
        self.search_order = self.order[self.train_len..].to_vec();
        self.train_cursor = 0;
        self.search_cursor = 0;
        self.epoch += 1;
    }

    /// The epoch in progress (0-based).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Size of the weight-training part.
    pub fn train_len(&self) -> usize {
        self.train_len
    }

    /// Size of the architecture-search part.
    pub fn search_len(&self) -> usize {
        self.len - self.train_len
    }

    /// The next weight-training batch (`batch_size` indices, or the whole part if smaller).
    pub fn next_train(&mut self, batch_size: usize) -> Vec<usize> {
        let size = batch_size.min(self.train_len);
        if self.train_cursor + size > self.train_len {
            self.start_epoch();
        }
        let batch = self.order[self.train_cursor..self.train_cursor + size].to_vec();
        self.train_cursor += size;
        batch
    }

    /// The next architecture-search batch (`batch_size` indices, or the whole part if smaller).
    pub fn next_search(&mut self, batch_size: usize) -> Vec<usize> {
        let size = batch_size.min(self.search_order.len());
        if self.search_cursor + size > self.search_order.len() {
            self.search_order.shuffle(&mut self.rng);
            self.search_cursor = 0;
        }
        let batch = self.search_order[self.search_cursor..self.search_cursor + size].to_vec();
        self.search_cursor += size;
        batch
    }
}

/// All of `0..len` in a fresh random order every epoch, served in batches (for training
/// without an architecture split: the baselines).
#[derive(Clone, Debug)]
pub struct EpochSampler {
    order: Vec<usize>,
    cursor: usize,
    rng: SeededRng,
}

impl EpochSampler {
    /// A sampler over `len` samples shuffled by `rng`.
    ///
    /// # Errors
    /// An empty dataset.
    pub fn new(len: usize, rng: SeededRng) -> Result<Self> {
        if len == 0 {
            return Err(Error::Dataset("cannot train on an empty dataset".into()));
        }
        let mut sampler = Self {
            order: (0..len).collect(),
            cursor: len,
            rng,
        };
        sampler.next_batch(0);
        Ok(sampler)
    }

    /// The next `batch_size` indices (the whole set if smaller); a new epoch starts when the
    /// current one cannot fill the batch.
    pub fn next_batch(&mut self, batch_size: usize) -> Vec<usize> {
        let size = batch_size.min(self.order.len());
        if self.cursor + size > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.cursor = 0;
        }
        let batch = self.order[self.cursor..self.cursor + size].to_vec();
        self.cursor += size;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn parts_are_disjoint_and_redrawn_each_epoch() {
        let mut split = EpochSplit::new(10, 0.5, SeededRng::new(1)).unwrap();
        let mut train = HashSet::new();
        let mut search = HashSet::new();
        for _ in 0..2 {
            train.extend(split.next_train(2));
            search.extend(split.next_search(2));
        }
        train.extend(split.next_train(1));
        assert_eq!(split.epoch(), 0);
        assert_eq!(train.len(), 5);
        assert!(train.is_disjoint(&search));
        // The next full batch does not fit: a new epoch with a new split begins.
        let mut seen_train = HashSet::new();
        for _ in 0..20 {
            seen_train.extend(split.next_train(5));
        }
        assert!(split.epoch() >= 20);
        assert_eq!(
            seen_train.len(),
            10,
            "every sample trains weights in some epoch"
        );
    }

    #[test]
    fn large_train_fraction_does_not_run_out_of_search_data() {
        let mut split = EpochSplit::new(10, 0.8, SeededRng::new(2)).unwrap();
        for _ in 0..10 {
            assert_eq!(split.next_search(3).len(), 2);
            assert_eq!(split.next_train(3).len(), 3);
        }
    }

    #[test]
    fn impossible_fractions_are_errors() {
        for f in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert!(EpochSplit::new(10, f, SeededRng::new(0)).is_err(), "{f}");
        }
        assert!(EpochSplit::new(1, 0.5, SeededRng::new(0)).is_err());
        let err = EpochSplit::new(3, 0.1, SeededRng::new(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("train_split"), "{err}");
    }

    #[test]
    fn the_sampler_visits_everything_each_epoch() {
        let mut sampler = EpochSampler::new(10, SeededRng::new(3)).unwrap();
        let mut seen = HashSet::new();
        for _ in 0..5 {
            seen.extend(sampler.next_batch(2));
        }
        assert_eq!(seen.len(), 10);
        assert!(EpochSampler::new(0, SeededRng::new(0)).is_err());
    }

    #[test]
    fn same_seed_same_order() {
        let mut a = EpochSplit::new(50, 0.5, SeededRng::new(9)).unwrap();
        let mut b = EpochSplit::new(50, 0.5, SeededRng::new(9)).unwrap();
        for _ in 0..30 {
            assert_eq!(a.next_train(4), b.next_train(4));
            assert_eq!(a.next_search(4), b.next_search(4));
        }
    }
}
