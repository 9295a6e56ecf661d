//! mtl-nas
#![warn(missing_docs)]

pub mod arch;
pub mod branch;
pub mod data;
pub mod fusion;
mod error;
pub mod rng;
pub mod io;
pub mod net;
pub mod space;
pub mod task;

pub use error::{Error, Result};
