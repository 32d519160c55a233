//! Real Python clients from PyPI (issue #14): a virtual environment under `target/` that the tests
//! create themselves with `scripts/pyvenv.sh` (cached between runs), and the scripts beside these
//! tests in `commands/tests/python/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder of the Python scripts.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The JSON Schemas (`schemas/`).
pub fn schemas() -> PathBuf {
    repository().join("schemas")
}

/// The venv's python, after installing `tests/python/requirements.txt` if it is not yet there.
pub fn python() -> PathBuf {
    venv("py-venv", "requirements.txt")
}

/// The venv of the HTTP tools (`tests/python/requirements-http.txt`: an OpenAPI validator and
/// schemathesis, which pins its own jsonschema).
pub fn python_http() -> PathBuf {
    venv("py-venv-http", "requirements-http.txt")
}

fn venv(name: &str, requirements: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let output = Command::new("bash")
        .arg(repository().join("scripts/pyvenv.sh"))
        .arg(&venv)
        .arg(scripts().join(requirements))
        .output()
        .expect("run scripts/pyvenv.sh");
    assert!(
        output.status.success(),
        "scripts/pyvenv.sh failed (python3.11 and PyPI are needed): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}
