//! NYUv2 list files (`<image> <label>` lines).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mtl_nas::data::parse_list(text, "fuzz.txt");
    }
});
