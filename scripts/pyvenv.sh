#!/usr/bin/env bash
# A Python virtual environment for the tests that use real Python clients from PyPI (issue #14).
#
#   scripts/pyvenv.sh DIR REQUIREMENTS    create DIR (python3.11 -m venv) and install REQUIREMENTS into
#                                         it, unless DIR already holds exactly those requirements;
#                                         prints the path of DIR's python
#
# Cached between runs: DIR/requirements.sha256 records what was installed. One install at a time
# (parallel test binaries may ask together). Needs python3.11 (or python3) with venv and PyPI access.
set -euo pipefail

die() {
    echo "pyvenv.sh: $*" >&2
    exit 2
}

[[ $# -eq 2 ]] || die "usage: scripts/pyvenv.sh DIR REQUIREMENTS"
dir="$1"
requirements="$2"
[[ -f "$requirements" ]] || die "no requirements file $requirements"
python=$(command -v python3.11 || command -v python3 || true)
[[ -n "$python" ]] || die "python3.11 (or python3) is not installed"

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$dir/requirements.sha256"
if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "$dir/bin/python"
    exit 0
fi
rm -rf "$dir"
"$python" -m venv "$dir" >&2 || die "$python -m venv $dir failed"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 \
    || die "pip install -r $requirements failed (is PyPI reachable?)"
echo "$wanted" >"$stamp"
echo "$dir/bin/python"
