//! Tidy checks that keep the architecture honest (STYLE §2.1, §2.10, §2.14). They read the source tree
//! as text, so they fail the build the moment a forbidden path appears.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            fs::read_dir(&dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Source lines with comments stripped, so that a doc comment may *mention* a forbidden path.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

fn find_forbidden(dir: &Path, forbidden: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in rust_files(dir) {
        for (number, line) in code_lines(&file) {
            for pattern in forbidden {
                if line.contains(pattern) {
                    hits.push(format!(
                        "{}:{number}: `{pattern}` in: {}",
                        file.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    hits
}

/// STYLE §2.1: `ledger::domain` is pure and synchronous: no file system, network, async runtime,
/// clock, randomness, environment or tracing.
#[test]
fn domain_is_pure() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::env",
        "std::thread",
        "tokio",
        "SystemTime",
        "Instant::now",
        "Utc::now",
        "Local::now",
        "rand::",
        "thread_rng",
        "tracing",
        "println!",
        "include_bytes!(\"/",
    ];
    let hits = find_forbidden(&workspace_root().join("ledger/src/domain"), &forbidden);
    assert!(
        hits.is_empty(),
        "ledger::domain must stay pure:\n{}",
        hits.join("\n")
    );
}

/// STYLE §2.1: I/O in `ledger` is confined to the log adapters (`log::file`, `log::kafka`).
#[test]
fn ledger_io_only_in_log_adapters() {
    let root = workspace_root().join("ledger/src");
    let mut hits = Vec::new();
    for file in rust_files(&root) {
        let relative = file
            .strip_prefix(&root)
            .expect("under ledger/src")
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("log/file")
            || relative.starts_with("log/kafka")
            || relative == "log/testkit.rs"
        {
            continue;
        }
        for (number, line) in code_lines(&file) {
            if line.contains("std::fs") || line.contains("File::open") || line.contains("std::net")
            {
                hits.push(format!("{}:{number}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "file or network I/O outside ledger::log adapters:\n{}",
        hits.join("\n")
    );
}

/// STYLE §2.4: only `commands` may use `anyhow`; library crates use typed errors.
#[test]
fn anyhow_only_in_commands() {
    let root = workspace_root();
    let mut hits = Vec::new();
    for krate in ["ledger", "projector"] {
        let manifest =
            fs::read_to_string(root.join(krate).join("Cargo.toml")).expect("crate manifest");
        if manifest
            .lines()
            .any(|line| line.trim_start().starts_with("anyhow"))
        {
            hits.push(format!("{krate}/Cargo.toml depends on anyhow"));
        }
        hits.extend(find_forbidden(&root.join(krate).join("src"), &["anyhow::"]));
    }
    assert!(
        hits.is_empty(),
        "anyhow outside commands:\n{}",
        hits.join("\n")
    );
}

/// STYLE §2.1: the projector never writes to the event log.
#[test]
fn projector_never_appends() {
    let hits = find_forbidden(
        &workspace_root().join("projector/src"),
        &[".append(", "AppendRequest"],
    );
    assert!(
        hits.is_empty(),
        "the projector must not write to the log:\n{}",
        hits.join("\n")
    );
}

/// ARCHITECTURE.md: the log never decodes payloads; its public topic renders through the injected
/// `PublicForm` (issue #14), never by naming the domain's events or `ledger::public` itself.
#[test]
fn log_never_decodes_payloads() {
    let hits = find_forbidden(
        &workspace_root().join("ledger/src/log"),
        &["domain::event", "crate::public", "from_payload"],
    );
    assert!(
        hits.is_empty(),
        "the log must stay domain-agnostic:\n{}",
        hits.join("\n")
    );
}

/// The rule IDs defined in `../shared/domain/RULES.md` (e.g. `D-04`, `M-03`, `A-20`).
fn rule_ids_in_catalogue() -> Vec<String> {
    let path = workspace_root().join("../shared/domain/RULES.md");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|rest| rest.split(" |").next())
        .filter(|id| is_rule_id(id))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The project's own rule IDs (`O-01`…), defined in the tables of `docs/domain.md` in the RULES style
/// for rules the catalogue has no ID for.
fn project_rule_ids() -> Vec<String> {
    let path = workspace_root().join("docs/domain.md");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|rest| rest.split(" |").next())
        .filter(|id| is_rule_id(id) && id.starts_with(PROJECT_RULE_PREFIXES))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The letters of project rule IDs; RULES.md uses none of them.
const PROJECT_RULE_PREFIXES: &[char] = &['O'];

/// Every known rule ID: the catalogue's and the project's.
fn known_rule_ids() -> Vec<String> {
    let mut ids = rule_ids_in_catalogue();
    ids.extend(project_rule_ids());
    ids
}

fn is_rule_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 4
        && bytes[0].is_ascii_uppercase()
        && bytes[1] == b'-'
        && bytes[2].is_ascii_digit()
        && bytes[3].is_ascii_digit()
}

/// The comment text of a source file: rule IDs are cited in comments, while string literals may hold
/// look-alike business data (a contract numbered `C-17`).
fn comment_text(text: &str) -> String {
    text.lines()
        .filter_map(|line| line.split_once("//").map(|(_, comment)| comment))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every rule ID cited in a comment exists in the catalogue or among the project's rules (no invented
/// or mistyped IDs).
#[test]
fn cited_rule_ids_exist() {
    assert!(
        project_rule_ids().len() >= 8,
        "docs/domain.md defines the order-of-facts rules O-01…O-08"
    );
    let catalogue = known_rule_ids();
    assert!(
        catalogue.len() > 100,
        "RULES.md parsed to only {} ids",
        catalogue.len()
    );
    let root = workspace_root();
    let mut unknown = Vec::new();
    for krate in ["ledger", "projector", "commands"] {
        for file in rust_files(&root.join(krate)) {
            let text = fs::read_to_string(&file).expect("source file");
            for id in cited_ids(&comment_text(&text)) {
                if !catalogue.contains(&id) {
                    unknown.push(format!("{}: {id}", file.display()));
                }
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "rule IDs not in RULES.md or docs/domain.md:\n{}",
        unknown.join("\n")
    );
}

fn cited_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut ids = Vec::new();
    for start in 0..bytes.len().saturating_sub(3) {
        let window = &text.get(start..start + 4).unwrap_or("");
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let after_ok = bytes
            .get(start + 4)
            .is_none_or(|byte| !byte.is_ascii_alphanumeric());
        if before_ok && after_ok && is_rule_id(window) && "DMBVECPXRSFAO".contains(&window[..1]) {
            ids.push((*window).to_owned());
        }
    }
    ids
}

/// STYLE §2.10: every rule listed as implemented in `docs/rules-implemented.txt` has at least one
/// citation in non-test code and one in a test (a `#[test]`-bearing file or a scenario file).
#[test]
fn implemented_rules_are_cited_and_tested() {
    let root = workspace_root();
    let listed = fs::read_to_string(root.join("docs/rules-implemented.txt"))
        .expect("docs/rules-implemented.txt");
    let implemented: Vec<&str> = listed
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|id| !id.is_empty())
        .collect();
    let catalogue = known_rule_ids();
    let mut code = String::new();
    let mut tests = String::new();
    for krate in ["ledger", "projector", "commands", "tests"] {
        for file in rust_files(&root.join(krate)) {
            let text = fs::read_to_string(&file).expect("source file");
            let (body, test_part) = match text.find("#[cfg(test)]") {
                Some(split) => text.split_at(split),
                None if text.contains("#[test]") => ("", text.as_str()),
                None => (text.as_str(), ""),
            };
            code.push_str(body);
            tests.push_str(test_part);
        }
    }
    if let Ok(entries) = fs::read_dir(root.join("tests/scenarios")) {
        for entry in entries.flatten() {
            tests.push_str(&fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    let mut missing = Vec::new();
    for id in implemented {
        assert!(
            catalogue.iter().any(|known| known == id),
            "{id} is listed but not in RULES.md or docs/domain.md"
        );
        if !cited_ids(&code).iter().any(|cited| cited == id) {
            missing.push(format!("{id}: no citation in non-test code"));
        }
        if !cited_ids(&tests).iter().any(|cited| cited == id) {
            missing.push(format!("{id}: no test cites it"));
        }
    }
    assert!(
        missing.is_empty(),
        "implemented rules without citation or test:\n{}",
        missing.join("\n")
    );
}

/// The citation scanner itself must be able to fail: it finds whole IDs only.
#[test]
fn citation_scanner_finds_whole_ids_only() {
    assert_eq!(
        cited_ids("see D-04, XD-05, D-061 and (A-20)"),
        vec!["D-04".to_owned(), "A-20".to_owned()]
    );
    assert_eq!(
        comment_text("let x = \"C-17\"; // D-04\nno comment"),
        " D-04"
    );
}
