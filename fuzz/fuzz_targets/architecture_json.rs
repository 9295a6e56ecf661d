//! Architecture JSON: any bytes give an architecture or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtl_nas::arch::Architecture;

fuzz_target!(|data: &[u8]| {
    let _ = Architecture::from_json(data, std::path::Path::new("fuzz.json"));
});
