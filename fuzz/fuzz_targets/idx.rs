//! IDX arrays (Fashion-MNIST).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mtl_nas::data::parse_idx(data, "fuzz.idx");
});
