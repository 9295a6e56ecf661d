//! Taskonomy building split CSVs and `point_{p}_view_{v}_domain_{d}.{ext}` names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mtl_nas::data::{TaskonomySplit, ViewName, parse_building_split};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for split in [TaskonomySplit::Train, TaskonomySplit::Val, TaskonomySplit::Test] {
            let _ = parse_building_split(text, std::path::Path::new("fuzz.csv"), split);
        }
        if let Some(name) = ViewName::parse(text) {
            let _ = name.with_domain("rgb", "png");
        }
    }
});
