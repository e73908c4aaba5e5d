"""Development sessions; each installs what it needs from pyproject.toml's extras."""

from __future__ import annotations

from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# nox.project.python_versions (the classifiers as a list) came in 2025.02.09.
nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lowest", "installed", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# The Pythons the classifiers name, oldest first: what is tested is what the metadata claims.
PYTHONS = nox.project.python_versions(PYPROJECT)
LOWEST = ROOT / "constraints" / "lowest.txt"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite but the real-libvirt tests (nox -s libvirt), on every supported Python."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not libvirt", *session.posargs)


def lowest_mismatches() -> list[str]:
    """How constraints/lowest.txt disagrees with the lower bounds of the runtime and test deps.

    Every dependency the ``test`` extra installs must have a ``>=`` bound in pyproject.toml, and
    the constraints file must pin exactly that version, so the lowest session tests what
    pyproject.toml claims.
    """
    where = LOWEST.relative_to(ROOT)
    pins: dict[str, Version] = {}
    for line in LOWEST.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pinned = Requirement(line)
            (spec,) = pinned.specifier
            pins[canonicalize_name(pinned.name)] = Version(spec.version)
    project = PYPROJECT["project"]
    problems = []
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        required = Requirement(text)
        pin = pins.pop(canonicalize_name(required.name), None)
        bounds = [Version(s.version) for s in required.specifier if s.operator == ">="]
        if len(bounds) != 1:
            problems.append(f"{text}: pyproject.toml gives no single >= lower bound")
        elif pin != bounds[0]:
            problems.append(f"{text}: {where} must pin {required.name}=={bounds[0]}")
    problems.extend(f"{name}: pinned in {where} but not a dependency" for name in pins)
    return problems


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """The same suite on the oldest Python with the lowest versions pyproject.toml allows."""
    if problems := lowest_mismatches():
        session.error("; ".join(problems))
    # Wheels only: a lower bound nobody can install from a wheel is not a real lower bound.
    session.install("--only-binary", ":all:", "-c", str(LOWEST), "-e", ".[test]")
    session.run("pytest", "-m", "not libvirt", *session.posargs)


@nox.session(python=PYTHONS[-1])
def installed(session: nox.Session) -> None:
    """Build the sdist and wheel, install the wheel in a fresh venv and test that copy."""
    # The script makes its own venvs from this session's python3.
    session.run("bash", "scripts/test-installed.sh", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the whole tree."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "fuzz", "bench", "noxfile.py", "docs/conf.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy --strict over src, tests and this file, for Python 3.10."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx docs, warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("sphinx-build", "-W", "-b", "html", "docs", "docs/_build/html")


@nox.session
def libvirt(session: nox.Session) -> None:
    """The real libvirt and QEMU checks; fails rather than skips without a libvirt host."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "-m", "libvirt", *session.posargs, env={"STABLE_RESCUE_REQUIRE_LIBVIRT": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """bench/bench_rescue.py: costs as ratios to an lxml parse, against issue 14's budgets.

    Arguments go to the script: ``nox -s bench -- --quick`` (the short mode for CI, under a minute),
    ``nox -s bench -- --json FILE``. It never fails for a missed budget.
    """
    session.install("-e", ".[bench]")
    session.run("python", "bench/bench_rescue.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Coverage-guided atheris fuzzing of the public API (fuzz/README.md); not a default session.

    Arguments go to libFuzzer (default: one million runs). Corpus and crashes stay outside the
    tree, under /var/tmp/stable-rescue-fuzz.
    """
    session.install("-e", ".[fuzz]")
    work = Path("/var/tmp/stable-rescue-fuzz")
    corpus, crashes = work / "corpus", work / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    session.run("python", "fuzz/make_corpus.py", str(corpus))
    runs = session.posargs or ["-atheris_runs=1000000"]
    session.run(
        "python",
        "fuzz/fuzz_rescue.py",
        *runs,
        f"-dict={work / 'xml.dict'}",  # written by make_corpus.py next to the corpus
        f"-artifact_prefix={crashes}/",
        str(corpus),
    )
