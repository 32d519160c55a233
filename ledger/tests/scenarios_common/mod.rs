//! The scenario file format shared by `scenarios.rs` (Kazakh) and `scenarios_kg.rs` (budget, keys,
//! Kyrgyz): step parsing, the `scenario:`/`rule:`/`setup:`/`given:`/`when:`/`then:` driver, field
//! checks on JSON facts, and the directory runner. Each runner brings its own world.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed step line: its verb words and its `key=value` arguments.
pub struct Step {
    pub words: Vec<String>,
    pub args: BTreeMap<String, String>,
}

impl Step {
    pub fn parse(text: &str) -> Step {
        let mut words = Vec::new();
        let mut args = BTreeMap::new();
        for token in tokenize(text) {
            match token.split_once('=') {
                Some((key, value)) => {
                    args.insert(key.to_owned(), value.to_owned());
                }
                None => words.push(token),
            }
        }
        Step { words, args }
    }

    pub fn verb(&self) -> String {
        self.words.join(" ")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.args.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("step \"{}\" needs {key}=…", self.verb()))
    }
}

/// Splits on spaces, keeping `"quoted text"` together (quotes removed).
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in text.chars() {
        match character {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// What a scenario runner drives: its world's steps and its `then:` checks.
pub trait Scenario {
    type Outcome;
    /// A `setup:` line (may replace the world).
    fn setup(&mut self, step: &Step);
    /// A `given:` or `when:` step.
    fn execute(&mut self, step: &Step) -> Self::Outcome;
    /// Why a `given:` step was refused, if it was.
    fn refused(outcome: &Self::Outcome) -> Option<String>;
    /// A `then:` line against the `when:` outcome.
    fn check(&self, outcome: &Self::Outcome, then: &str) -> Result<(), String>;
}

/// Runs one scenario file against `world`.
pub fn run<S: Scenario>(path: &Path, world: &mut S) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
    let mut outcome: Option<S::Outcome> = None;
    let mut thens = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let fail = |message: String| format!("{}:{}: {message}", path.display(), index + 1);
        if line.starts_with('#') {
            continue;
        }
        let Some((keyword, rest)) = line.split_once(':') else {
            continue;
        };
        match keyword {
            "scenario" | "rule" => {}
            "setup" => world.setup(&Step::parse(rest)),
            "given" => {
                let given = world.execute(&Step::parse(rest));
                if let Some(reason) = S::refused(&given) {
                    return Err(fail(format!("given step refused: {reason}")));
                }
            }
            "when" => outcome = Some(world.execute(&Step::parse(rest))),
            "then" => {
                let result = outcome
                    .as_ref()
                    .ok_or_else(|| fail("then before when".to_owned()))?;
                world.check(result, rest.trim()).map_err(fail)?;
                thens += 1;
            }
            other => return Err(fail(format!("unknown keyword \"{other}\""))),
        }
    }
    if thens == 0 {
        Err(format!("{}: no then step", path.display()))
    } else {
        Ok(())
    }
}

/// The `*.txt` scenario files of `tests/scenarios/<directory>` (`""` for the top level), sorted.
pub fn files(directories: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut paths = Vec::new();
    for directory in directories {
        let entries = std::fs::read_dir(root.join(directory))
            .unwrap_or_else(|error| panic!("tests/scenarios/{directory}: {error}"));
        paths.extend(
            entries
                .map(|entry| entry.expect("entry").path())
                .filter(|path| path.extension().is_some_and(|extension| extension == "txt")),
        );
    }
    paths.sort();
    paths
}

/// Runs every file with a fresh world from `world_for`; panics listing the failures.
pub fn run_all<S: Scenario>(paths: &[PathBuf], minimum: usize, world_for: impl Fn(&Path) -> S) {
    assert!(
        paths.len() >= minimum,
        "only {} scenario files, expected at least {minimum}",
        paths.len()
    );
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| run(path, &mut world_for(path)).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

/// Renders a JSON value the way scenario files write it: money as `300.00 KZT`, strings bare.
pub fn render(value: &serde_json::Value) -> String {
    if let Ok(amount) = serde_json::from_value::<ledger::domain::money::Money>(value.clone()) {
        return amount.to_string();
    }
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn lookup<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(value, |value, key| match key.parse::<usize>() {
            Ok(index) => value.get(index),
            Err(_) => value.get(key),
        })
}

/// Checks each `path=expected` argument of `step` against the fact `value` named `selector`
/// (dotted paths into its JSON form).
pub fn check_json(selector: &str, value: &serde_json::Value, step: &Step) -> Result<(), String> {
    for (path, expected) in &step.args {
        let actual = lookup(value, path)
            .map(render)
            .ok_or_else(|| format!("{selector} has no field {path}"))?;
        if &actual != expected {
            return Err(format!(
                "{selector}.{path}: expected {expected}, got {actual}"
            ));
        }
    }
    Ok(())
}

/// `then: events A, B`: the exact fact types in order.
pub fn check_types(actual: &[&str], then: &str) -> Result<(), String> {
    let expected: Vec<&str> = then
        .trim_start_matches("events")
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    if expected == actual {
        Ok(())
    } else {
        Err(format!("expected events {expected:?}, got {actual:?}"))
    }
}

/// `then: error <rule> "<fragment>"` against a refusal's rule and message.
pub fn check_refusal(rule: &str, message: &str, step: &Step) -> Result<(), String> {
    let expected = step.words.get(1).ok_or("then: error needs a rule ID")?;
    let fragment = step.words.get(2).map(String::as_str).unwrap_or("");
    if rule == expected && message.contains(fragment) {
        Ok(())
    } else {
        Err(format!(
            "expected refusal {expected} containing \"{fragment}\", got: {message} [{rule}]"
        ))
    }
}
