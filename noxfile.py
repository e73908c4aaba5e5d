"""Development sessions; each installs what it needs from pyproject.toml's extras."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (real-libvirt tests skip where libvirt is absent)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the whole tree."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "noxfile.py", "docs/conf.py")


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
    """Throughput benchmarks (ratios measured within one run)."""
    session.install("-e", ".[bench]")
    session.run("python", "bench/bench_rescue.py", *session.posargs)
