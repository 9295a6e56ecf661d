//! mtl-nas
#![warn(missing_docs)]

pub mod arch;
mod error;
pub mod io;
pub mod space;

pub use error::{Error, Result};
