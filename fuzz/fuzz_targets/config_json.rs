//! Search configuration JSON, parsed and validated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtl_nas::search::SearchConfig;

fuzz_target!(|data: &[u8]| {
    let _ = SearchConfig::from_json(data, std::path::Path::new("fuzz.json"), 2);
});
