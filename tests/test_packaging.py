"""The sdist carries what its own tests read, and the wheel what users and distributors need.

Both are built as a distributor would, with no network: setuptools' PEP 517 backend, called in a
subprocess on a copy of the tree (the sdist), then on the unpacked sdist (the wheel). That needs
the setuptools ``[build-system]`` asks for, which the ``test`` extra installs.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The first setuptools that writes a PEP 639 License-Expression (pyproject.toml's [build-system]).
SETUPTOOLS_NEEDED = 77
# What the tree holds that is neither source nor shipped: caches, builds, virtualenvs.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "build", "dist", "_build", "*.egg-info", "__pycache__",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".benchmarks",
)  # fmt: skip
# The directories whose every file the sdist must carry, so that its tests run from it.
SHIPPED_DIRECTORIES = ("tests", "docs", "examples", "fuzz", "src")
SHIPPED_FILES = ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "MANIFEST.in")


@attrs.frozen
class Built:
    """An sdist and the wheel built from it, with the tree copy they came from."""

    tree: Path
    sdist: Path
    wheel: Path


def setuptools_major() -> int:
    """The major version of the installed setuptools, 0 when there is none."""
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return 0


def backend(hook: str, source: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 ``hook`` in ``source``, writing into ``out``; the file it built."""
    out.mkdir(parents=True, exist_ok=True)
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the sdist from a copy of the tree, then the wheel from the unpacked sdist."""
    assert setuptools_major() >= SETUPTOOLS_NEEDED, (
        f"building needs setuptools>={SETUPTOOLS_NEEDED}: pip install -e '.[test]'"
    )
    work = tmp_path_factory.mktemp("packaging")
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=NOT_SOURCE, symlinks=True)
    sdist = backend("build_sdist", tree, work / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    wheel = backend("build_wheel", unpacked, work / "dist")
    return Built(tree, sdist, wheel)


def test_sdist_carries_the_tests_docs_examples_and_legal_files(built: Built) -> None:
    """Every file of tests/, docs/, examples/ and src/ is in the sdist, with LICENSE and CHANGELOG.

    The unpacked sdist runs its own test suite (scripts/test-installed.sh does), which reads the
    golden cases, the docs and the bundled example.
    """
    with tarfile.open(built.sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    members = {name.removeprefix(f"{top}/") for name in names}
    expected = {
        path.relative_to(built.tree).as_posix()
        for directory in SHIPPED_DIRECTORIES
        for path in (built.tree / directory).rglob("*")
        if path.is_file()
    }
    assert expected  # the walk found the tree
    assert sorted(expected - members) == []
    assert sorted(set(SHIPPED_FILES) - members) == []
    assert "examples/q35-domain.xml" in members  # the README's first command reads it


def test_wheel_carries_the_package_typing_marker_and_license(built: Built) -> None:
    """The wheel has ``stable_rescue.testing``, ``py.typed``, and LICENSE in its dist-info."""
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
    (metadata_name,) = (name for name in names if name.endswith(".dist-info/METADATA"))
    dist_info = metadata_name.removesuffix("/METADATA")
    testing = {
        f"stable_rescue/testing/{path.name}"
        for path in (ROOT / "src" / "stable_rescue" / "testing").glob("*.py")
    }
    assert testing
    assert sorted(testing - names) == []
    assert "stable_rescue/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert {name.split("/")[0] for name in names} == {"stable_rescue", dist_info}


def test_wheel_metadata_gives_the_license_as_an_spdx_expression(built: Built) -> None:
    """PEP 639: ``License-Expression: Apache-2.0`` and the license file; no license classifier."""
    with zipfile.ZipFile(built.wheel) as archive:
        (metadata_name,) = (name for name in archive.namelist() if name.endswith("/METADATA"))
        headers = archive.read(metadata_name).decode("utf-8").split("\n\n")[0].splitlines()
    assert "License-Expression: Apache-2.0" in headers
    assert "License-File: LICENSE" in headers
    assert [line for line in headers if line.startswith("Classifier: License ::")] == []
    assert [line for line in headers if line.startswith("License:")] == []


def test_license_is_the_apache_license_2_0() -> None:
    """LICENSE is the Apache License, Version 2.0, whole (its terms end with the appendix)."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
