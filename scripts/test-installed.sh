#!/usr/bin/env bash
# Test what users install (issue 10): build the sdist and the wheel (the wheel from the sdist),
# install the wheel in a fresh venv with the test tools, run the README's first command with it,
# then run the non-libvirt suite from the unpacked sdist against that installed copy, never src/.
# Writes only under a temporary directory of its own; the build runs on a copy of the tree.
# PYTHON picks the interpreter (default python3); arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
README_COMMAND='python3 -m stable_rescue rescue examples/q35-domain.xml --property hw_rescue_bus=usb --source /var/lib/libvirt/images/rescue.iso --diff'

work=$(mktemp -d "${TMPDIR:-/tmp}/stable-rescue-installed.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'test-installed: %s\n' "$*" >&2; exit 1; }

grep -qF -- "$README_COMMAND" README.md || fail "README.md no longer shows: $README_COMMAND (update $0)"

step "copy of the tree (tracked and new files, as git sees them)"
mkdir "$work/tree"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "run it in a git work tree"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' file; do
        if [[ -e $file || -L $file ]]; then printf '%s\0' "$file"; fi
    done |
    xargs -0 -r cp -P --parents -t "$work/tree"

# What the sdist must carry, listed before the build adds its own files to the copy.
(cd "$work/tree" && find src tests docs examples README.md pyproject.toml \
    \( -type f -o -type l \) -print0) >"$work/expected"

step "build: sdist, then the wheel from the sdist"
"$PYTHON" -m venv "$work/build-env"
"$work/build-env/bin/python" -m pip install -q --disable-pip-version-check build
"$work/build-env/bin/python" -m build --outdir "$work/dist" "$work/tree"
sdists=("$work"/dist/*.tar.gz)
wheels=("$work"/dist/*.whl)
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} ]] || fail "expected one sdist in $work/dist"
[[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || fail "expected one wheel in $work/dist"

step "sdist carries every tracked file the tests, docs and package need"
mkdir "$work/sdist"
tar -xzf "${sdists[0]}" -C "$work/sdist"
unpacked_dirs=("$work"/sdist/*/)
unpacked=${unpacked_dirs[0]%/}
missing=0
while IFS= read -r -d '' file; do
    if [[ ! -e $unpacked/$file && ! -L $unpacked/$file ]]; then
        printf 'missing from the sdist: %s\n' "$file" >&2
        missing=1
    fi
done <"$work/expected"
[[ $missing -eq 0 ]] || fail "the sdist lacks files (MANIFEST.in)"

step "wheel holds the package and py.typed, nothing else at the top"
"$PYTHON" - "${wheels[0]}" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {name.split("/")[0] for name in names}
stray = {top for top in tops if top != "stable_rescue" and not top.endswith(".dist-info")}
assert not stray, f"wheel has more than the package: {sorted(stray)}"
assert "stable_rescue/py.typed" in names, "wheel lacks stable_rescue/py.typed"
EOF

step "fresh venv: the wheel and the test extra"
"$PYTHON" -m venv "$work/venv"
venv_python=$work/venv/bin/python
"$venv_python" -m pip install -q --disable-pip-version-check "${wheels[0]}[test]"
site=$("$venv_python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')

step "the README's first command, with the venv's python3 (from the unpacked sdist)"
output=$(cd "$unpacked" && PATH="$work/venv/bin:$PATH" && eval "$README_COMMAND")
printf '%s\n' "$output"
grep -q "^+ *<target dev='sda' bus='usb'/>" <<<"$output" ||
    fail "the README's command printed no USB rescue disk"

step "the suite from the unpacked sdist, against the installed wheel"
# pyproject.toml's pythonpath puts src/ first; "." alone keeps the tests package importable.
# The plugin fails the run unless every stable_rescue module loaded came from the venv.
mkdir "$work/plugin"
cat >"$work/plugin/installed_copy_check.py" <<'EOF'
"""Fail the run unless the stable_rescue the tests imported is the installed copy."""

import os
import sys
from pathlib import Path

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """After collection every test module has imported the package; check where from."""
    site = Path(os.environ["STABLE_RESCUE_SITE"]).resolve()
    loaded = {
        name: Path(module.__file__).resolve()
        for name, module in list(sys.modules.items())
        if (name == "stable_rescue" or name.startswith("stable_rescue."))
        and getattr(module, "__file__", None)
    }
    if "stable_rescue" not in loaded:
        pytest.exit("stable_rescue was not imported", returncode=1)
    elsewhere = sorted(str(path) for path in loaded.values() if site not in path.parents)
    if elsewhere:
        message = f"{len(elsewhere)} stable_rescue modules not from {site}, as {elsewhere[0]}"
        pytest.exit(message, returncode=1)
    print(f"\nstable_rescue from {loaded['stable_rescue']}")
EOF
(
    cd "$unpacked"
    STABLE_RESCUE_SITE=$site PYTHONPATH=$work/plugin \
        "$venv_python" -m pytest -p installed_copy_check -o pythonpath=. -m "not libvirt" "$@"
)
