//! Inputs on which a `cargo fuzz` target (see `fuzz/`) once panicked, replayed through the same
//! parser. Each lives in `tests/fuzz_regressions/<target>/` and must now give a clear `Error`.

use std::fs;
use std::path::{Path, PathBuf};

use mtl_nas::arch::Architecture;
use mtl_nas::data::{TaskonomySplit, ViewName, files::parse_npy, parse_building_split, parse_idx};
use mtl_nas::search::SearchConfig;

/// Every saved input of one fuzz target (an empty list when the target never crashed).
fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `parse` on every saved input of `target` and checks each is rejected with a message.
fn replay<T>(target: &str, parse: impl Fn(&[u8], &Path) -> mtl_nas::Result<T>) -> usize {
    let files = cases(target);
    for file in &files {
        let bytes = fs::read(file).unwrap();
        match parse(&bytes, file) {
            Ok(_) => panic!("{}: accepted, expected an error", file.display()),
            Err(err) => assert!(!err.to_string().is_empty(), "{}", file.display()),
        }
    }
    files.len()
}

#[test]
fn architecture_json_regressions() {
    // An edge decision naming task 1 of a one-task space: the error message itself indexed the
    // task list out of range.
    let replayed = replay("architecture_json", Architecture::from_json);
    assert!(replayed >= 1, "the first finding is kept");
}

#[test]
fn config_json_regressions() {
    replay("config_json", |bytes, path| {
        SearchConfig::from_json(bytes, path, 2)
    });
}

#[test]
fn npy_regressions() {
    // A version-3 header whose length field says 2,432,709,686 bytes in a 100-byte file: npyz
    // allocated that much before reading (libFuzzer: out-of-memory). Now the length is checked
    // against the file first.
    let replayed = replay("npy", |bytes, path| {
        parse_npy(bytes, &path.display().to_string())
    });
    assert!(replayed >= 1, "the first finding is kept");
    let file = cases("npy")
        .into_iter()
        .find(|f| f.to_string_lossy().contains("oom-7d7497e8"))
        .expect("the out-of-memory input is kept");
    let err = parse_npy(&fs::read(&file).unwrap(), "oom.npy").unwrap_err();
    assert!(
        err.to_string().contains("2432709698 bytes declared"),
        "{err}"
    );
    // A header of 19 nested `{`: npyz's header parser backtracked for minutes (libFuzzer:
    // timeout). Now rejected before parsing.
    let file = cases("npy")
        .into_iter()
        .find(|f| f.to_string_lossy().contains("timeout-edcddb93"))
        .expect("the slow input is kept");
    let err = parse_npy(&fs::read(&file).unwrap(), "slow.npy").unwrap_err();
    assert!(err.to_string().contains("nested 19 deep"), "{err}");
}

#[test]
fn idx_regressions() {
    replay("idx", |bytes, path| {
        parse_idx(bytes, &path.display().to_string())
    });
}

#[test]
fn nyuv2_list_regressions() {
    replay("nyuv2_list", |bytes, path| {
        let text = std::str::from_utf8(bytes).unwrap();
        mtl_nas::data::parse_list(text, &path.display().to_string())
    });
}

#[test]
fn taskonomy_regressions() {
    replay("taskonomy_names", |bytes, path| {
        let text = std::str::from_utf8(bytes).unwrap();
        if let Some(name) = ViewName::parse(text) {
            let _ = name.with_domain("rgb", "png");
        }
        parse_building_split(text, path, TaskonomySplit::Train)
    });
}
