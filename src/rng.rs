//! The seeded random generator behind every random choice of the crate.

use std::ops::{Deref, DerefMut};

use chacha20::ChaCha8Rng;
use rand::SeedableRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A ChaCha8 generator: the same seed gives the same stream on every platform, and its whole
/// state (seed, stream, position) can be saved and restored, so an interrupted run resumes
/// with the draws it would have made.
///
/// It dereferences to [`ChaCha8Rng`], so it is a [`rand::Rng`] and works with every `rand`
/// helper (`random`, `shuffle`, distributions).
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A generator for a named purpose derived from `seed`, independent of the generators for
    /// other purposes (each purpose reads its own ChaCha stream).
    pub fn stream(seed: u64, purpose: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(purpose);
        Self(rng)
    }

    /// The full state: 32 bytes of seed, 8 of stream, 9 of word position.
    pub fn state(&self) -> Vec<u8> {
        self.0.serialize_state().to_vec()
    }

    /// A generator continuing from a saved [`SeededRng::state`], or `None` if `state` is not
    /// 49 bytes long.
    pub fn from_state(state: &[u8]) -> Option<Self> {
        let state: &[u8; 49] = state.try_into().ok()?;
        Some(Self(ChaCha8Rng::deserialize_state(state)))
    }
}

impl Clone for SeededRng {
    fn clone(&self) -> Self {
        Self(ChaCha8Rng::deserialize_state(&self.0.serialize_state()))
    }
}

impl std::fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeededRng(word {})", self.0.get_word_pos())
    }
}

impl PartialEq for SeededRng {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Deref for SeededRng {
    type Target = ChaCha8Rng;
    fn deref(&self) -> &ChaCha8Rng {
        &self.0
    }
}

impl DerefMut for SeededRng {
    fn deref_mut(&mut self) -> &mut ChaCha8Rng {
        &mut self.0
    }
}

impl Serialize for SeededRng {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.state().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SeededRng {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(deserializer)?;
        Self::from_state(&bytes).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "generator state must be 49 bytes, got {}",
                bytes.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn state_round_trip_continues_the_stream() {
        let mut a = SeededRng::new(42);
        for _ in 0..13 {
            a.random::<u32>();
        }
        let mut b = SeededRng::from_state(&a.state()).unwrap();
        let mut c = a.clone();
        let json = serde_json::to_string(&a).unwrap();
        let mut d: SeededRng = serde_json::from_str(&json).unwrap();
        for _ in 0..100 {
            let x = a.random::<u64>();
            assert_eq!(x, b.random::<u64>());
            assert_eq!(x, c.random::<u64>());
            assert_eq!(x, d.random::<u64>());
        }
        assert!(SeededRng::from_state(&[0; 3]).is_none());
    }

    #[test]
    fn streams_differ() {
        let mut a = SeededRng::stream(1, 0);
        let mut b = SeededRng::stream(1, 1);
        assert_ne!(a.random::<u64>(), b.random::<u64>());
        assert_eq!(
            SeededRng::new(5).random::<u64>(),
            SeededRng::new(5).random::<u64>()
        );
    }
}
