//! Inputs on which a `cargo fuzz` target (see `fuzz/`) once panicked, ran out of memory or
//! timed out, replayed through the same parser. Each lives in
//! `tests/fuzz_regressions/<target>/`, is listed in [`KEPT`] with the error it must now get,
//! and is checked for exactly that error: a folder that is missing or empty, a kept file
//! without an entry, or an entry without its file fails the suite.
//!
//! Targets that never found anything are listed in [`NEVER_CRASHED`]; they have no folder, and
//! a folder appearing for one of them (a new finding copied in) fails the suite until the
//! finding gets an entry in [`KEPT`].

use std::fs;
use std::path::{Path, PathBuf};

use mtl_nas::Error;
use mtl_nas::arch::Architecture;
use mtl_nas::data::{TaskonomySplit, ViewName, files::parse_npy, parse_building_split, parse_idx};
use mtl_nas::search::SearchConfig;

/// One kept input and the error it must get.
struct Kept {
    /// The fuzz target (its folder under `tests/fuzz_regressions/`).
    target: &'static str,
    /// The file name libFuzzer gave the input.
    file: &'static str,
    /// The `Error` variant expected.
    variant: fn(&Error) -> bool,
    /// A part of the message that says what is wrong.
    message: &'static str,
    /// What the input did before it was fixed.
    history: &'static str,
}

const KEPT: &[Kept] = &[
    Kept {
        target: "architecture_json",
        file: "crash-7c275f5df20d1d711a1163a8e95822ea40e84517",
        variant: |e| matches!(e, Error::ArchitectureMismatch(_)),
        message: "decision 6 is for task#5[0] -> a[0] but edge 6 of the space is a[0] -> b[0]",
        history: "an edge decision naming task 5 of a two-task space: building the error \
                  message indexed the task list out of range (panic)",
    },
    Kept {
        target: "npy",
        file: "oom-7d7497e8a7b59339c2c5ba542faec224d378e37c",
        variant: |e| matches!(e, Error::Dataset(_)),
        message: "truncated header (2432709698 bytes declared, 100 present)",
        history: "a version-3 header whose length field says 2,432,709,686 bytes in a 100-byte \
                  file: npyz allocated that much before reading (out of memory)",
    },
    Kept {
        target: "npy",
        file: "timeout-edcddb93f0fbbae8df4597094b1acdf52e1061b7",
        variant: |e| matches!(e, Error::Dataset(_)),
        message: "corrupt header (brackets nested 19 deep",
        history: "a header of 19 nested `{`: npyz's header parser backtracked for minutes \
                  (timeout)",
    },
];

/// Fuzz targets that have found nothing so far (`fuzz/run.sh`, 120 s each at the time of
/// writing): no folder, nothing to replay.
const NEVER_CRASHED: &[&str] = &["config_json", "idx", "nyuv2_list", "taskonomy_names"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The file names in `dir`, sorted; `None` when `dir` is not a folder.
fn file_names(dir: &Path) -> Option<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Some(names)
}

/// Replays every kept input of `target` through `parse`: the folder must hold exactly the
/// files [`KEPT`] lists for it (at least one), and each must get its variant and message.
/// Returns how many were replayed.
fn replay<T>(target: &str, parse: impl Fn(&[u8], &Path) -> mtl_nas::Result<T>) -> usize {
    let dir = root().join("tests/fuzz_regressions").join(target);
    let found = file_names(&dir)
        .unwrap_or_else(|| panic!("{}: missing (its kept inputs are gone)", dir.display()));
    let mut listed: Vec<&Kept> = KEPT.iter().filter(|k| k.target == target).collect();
    listed.sort_by_key(|k| k.file);
    assert!(!listed.is_empty(), "no entry in KEPT for target `{target}`");
    assert!(!found.is_empty(), "{}: empty", dir.display());
    let listed_names: Vec<&str> = listed.iter().map(|k| k.file).collect();
    assert_eq!(
        found,
        listed_names,
        "{}: the files there and the entries in KEPT differ (give each kept input an entry \
         with the error it must get)",
        dir.display()
    );
    for kept in &listed {
        let file = dir.join(kept.file);
        let bytes = fs::read(&file).unwrap();
        match parse(&bytes, &file) {
            Ok(_) => panic!(
                "{}: accepted, expected an error ({})",
                kept.file, kept.history
            ),
            Err(err) => {
                assert!(
                    (kept.variant)(&err),
                    "{}: wrong error variant: {err:?}",
                    kept.file
                );
                assert!(
                    err.to_string().contains(kept.message),
                    "{}: expected a message containing {:?}, got {:?}",
                    kept.file,
                    kept.message,
                    err.to_string()
                );
            }
        }
    }
    listed.len()
}

#[test]
fn architecture_json_regressions() {
    assert_eq!(replay("architecture_json", Architecture::from_json), 1);
}

#[test]
fn npy_regressions() {
    let replayed = replay("npy", |bytes, path| {
        parse_npy(bytes, &path.display().to_string())
    });
    assert_eq!(replayed, 2);
}

#[test]
fn every_fuzz_target_is_accounted_for() {
    // Every target in fuzz/fuzz_targets/ either has kept inputs (replayed above) or is listed
    // as never having crashed; every folder of kept inputs belongs to a target with entries.
    let targets: Vec<String> = file_names(&root().join("fuzz/fuzz_targets"))
        .expect("fuzz/fuzz_targets/")
        .into_iter()
        .filter_map(|f| f.strip_suffix(".rs").map(str::to_string))
        .collect();
    assert_eq!(targets.len(), 6, "{targets:?}");
    let with_entries: Vec<&str> = KEPT.iter().map(|k| k.target).collect();
    for target in &targets {
        let kept = with_entries.contains(&target.as_str());
        let never = NEVER_CRASHED.contains(&target.as_str());
        assert!(
            kept != never,
            "fuzz target `{target}`: list it in KEPT (with its inputs) or in NEVER_CRASHED, \
             not both or neither"
        );
        let dir = root().join("tests/fuzz_regressions").join(target);
        if never {
            let files = file_names(&dir).unwrap_or_default();
            assert!(
                files.is_empty(),
                "{}: holds {files:?} but `{target}` is listed as never crashed: give each \
                 input an entry in KEPT",
                dir.display()
            );
        }
    }
    for folder in file_names(&root().join("tests/fuzz_regressions")).unwrap() {
        assert!(
            targets.contains(&folder) && with_entries.contains(&folder.as_str()),
            "tests/fuzz_regressions/{folder}: not a fuzz target with entries in KEPT"
        );
    }
}

#[test]
fn every_seed_is_accepted_by_the_replayed_parser() {
    // The seeds in fuzz/seeds/ are valid inputs. Parsing each through the same calls as the
    // fuzz target shows those calls (and the regression closures above) reach the parser
    // rather than failing on their own.
    let seeds = |target: &str| -> Vec<(String, Vec<u8>)> {
        let dir = root().join("fuzz/seeds").join(target);
        let names = file_names(&dir).unwrap_or_else(|| panic!("{}", dir.display()));
        assert!(!names.is_empty(), "{}: no seed", dir.display());
        names
            .into_iter()
            .map(|n| {
                let bytes = fs::read(dir.join(&n)).unwrap();
                (n, bytes)
            })
            .collect()
    };
    let origin = Path::new("seed");
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
    for (name, bytes) in seeds("architecture_json") {
        Architecture::from_json(&bytes, origin).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds("config_json") {
        SearchConfig::from_json(&bytes, origin, 2).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds("npy") {
        parse_npy(&bytes, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds("idx") {
        parse_idx(&bytes, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in seeds("nyuv2_list") {
        let pairs = mtl_nas::data::parse_list(&text(&bytes), &name).unwrap();
        assert!(!pairs.is_empty(), "{name}");
    }
    for (name, bytes) in seeds("taskonomy_names") {
        let text = text(&bytes);
        if name.ends_with(".csv") {
            for split in [
                TaskonomySplit::Train,
                TaskonomySplit::Val,
                TaskonomySplit::Test,
            ] {
                parse_building_split(&text, origin, split)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        } else {
            let view = ViewName::parse(text.trim()).unwrap_or_else(|| panic!("{name}: {text:?}"));
            assert!(
                view.with_domain("rgb", "png").contains("point_12"),
                "{name}"
            );
        }
    }
}
