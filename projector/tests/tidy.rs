//! Tidy checks of the projector crate (STYLE §2.1): sled is named only by its adapter, and nothing in
//! the crate can write to the event log.

use std::path::{Path, PathBuf};

fn sources(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

fn crate_sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    assert!(
        paths.len() > 5,
        "found too few sources under {}",
        root.display()
    );
    paths
        .into_iter()
        .map(|path| (path.clone(), std::fs::read_to_string(&path).unwrap()))
        .collect()
}

#[test]
fn sled_is_named_only_in_the_sled_adapter() {
    for (path, text) in crate_sources() {
        if path.ends_with("store/sled.rs") {
            continue;
        }
        // `store::sled::…` is the adapter module itself; any other `sled::` is the crate.
        let crate_paths = text
            .match_indices("sled::")
            .filter(|(index, _)| !text[..*index].ends_with("store::"));
        assert_eq!(
            crate_paths.count(),
            0,
            "{} names sled; keep sled inside projector::store::sled",
            path.display()
        );
    }
}

#[test]
fn projector_never_appends_to_the_event_log() {
    for (path, text) in crate_sources() {
        for forbidden in [".append(", "AppendRequest"] {
            assert!(
                !text.contains(forbidden),
                "{} contains {forbidden:?}: the projector never writes to the log",
                path.display()
            );
        }
    }
}
