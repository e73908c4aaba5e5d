"""Imports point one way (docs/architecture.md): leaves, one composer, I/O only in the CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import stable_rescue

PACKAGE = "stable_rescue"
# The package that is tested: src/ in a work tree, site-packages for an installed wheel.
SOURCE = Path(stable_rescue.__file__).parent
MODULES = sorted(path.stem for path in SOURCE.glob("*.py"))

# Standard modules that reach files, streams, the environment or the exit code.
IO_MODULES = {
    "argparse",
    "fileinput",
    "glob",
    "io",
    "os",
    "pathlib",
    "shutil",
    "socket",
    "subprocess",
    "sys",
    "tempfile",
}
IO_BUILTINS = {"open", "print", "input"}
# The modules that read or write the tree: the document, the domain, the record, the two halves
# of the contract and their shared writer; verification.py compares two documents element by
# element, reading trees as parse.py does.
LXML_MODULES = {
    "document",
    "parse",
    "record",
    "removal",
    "render",
    "undo",
    "verification",
    "writer",
}
PLAN_IMPORTERS = {"api", "cli"}
LEAVES = {"model", "errors"}


def _tree(module: str) -> ast.Module:
    return ast.parse((SOURCE / f"{module}.py").read_text(encoding="utf-8"), f"{module}.py")


def imported(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in its body, as absolute dotted names.

    ``from stable_rescue.model import Bus`` gives ``stable_rescue.model``; ``from stable_rescue
    import api`` gives ``stable_rescue`` and ``stable_rescue.api``; relative imports resolve
    against the package.
    """
    names: set[str] = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{PACKAGE}.{base}" if base else PACKAGE
            names.add(base)
            if base == PACKAGE:
                names.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
    names.discard("__future__")
    return names


def internal(module: str) -> set[str]:
    """The package's own modules that ``module`` imports (``""`` stands for the package)."""
    result = set()
    for name in imported(module):
        if name == PACKAGE:
            result.add("")
        elif name.startswith(f"{PACKAGE}."):
            result.add(name.split(".")[1])
    return result


def top_level(module: str) -> set[str]:
    """The first component of every module that ``module`` imports."""
    return {name.split(".")[0] for name in imported(module)}


def test_modules_found() -> None:
    """The test sees the package's modules (a wrong path would make every check vacuous)."""
    assert {"api", "cli", "errors", "model", "parse", "plan", "render", "undo"} <= set(MODULES)
    assert set(MODULES) >= LXML_MODULES
    assert internal("api") >= {"plan", "parse", "render", "undo"}
    assert "lxml" in top_level("parse")


@pytest.mark.parametrize("module", sorted(LEAVES), ids=sorted(LEAVES))
def test_leaves_import_nothing_of_the_package(module: str) -> None:
    """Model and errors are leaves: they import no other stable_rescue module."""
    assert internal(module) == set()


I_O_CASES = [pytest.param(module, id=module) for module in MODULES if module != "cli"]


@pytest.mark.parametrize("module", I_O_CASES)
def test_only_cli_does_io(module: str) -> None:
    """Only cli.py imports I/O modules (argparse, sys, os, tempfile, ...) or calls open/print.

    The core is text in, text out; files, streams and exit codes are the CLI's.
    """
    assert top_level(module) & IO_MODULES == set()
    calls = {
        node.func.id
        for node in ast.walk(_tree(module))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert calls & IO_BUILTINS == set()


def test_cli_is_where_io_lives() -> None:
    """cli.py does import the I/O modules (so the check above looks at the right names)."""
    assert {"argparse", "os", "sys", "tempfile"} <= top_level("cli")


@pytest.mark.parametrize("module", MODULES, ids=MODULES)
def test_lxml_only_in_the_tree_modules(module: str) -> None:
    """Lxml is imported only by the modules in ``LXML_MODULES``; the planner's never see a tree."""
    if module not in LXML_MODULES:
        assert "lxml" not in top_level(module)


@pytest.mark.parametrize("module", MODULES, ids=MODULES)
def test_only_api_and_cli_import_plan(module: str) -> None:
    """Plan composes the rest; only api.py and cli.py may import it."""
    if module not in PLAN_IMPORTERS:
        assert "plan" not in internal(module)


@pytest.mark.parametrize("module", [m for m in MODULES if m != "__main__"], ids=str)
def test_no_module_imports_the_package(module: str) -> None:
    """Inside the package, modules import each other directly, never via __init__."""
    if module != "__init__":
        assert "" not in internal(module)


def test_imports_have_no_cycle() -> None:
    """The import graph of the package's modules is acyclic: imports point one way."""
    graph = {module: internal(module) - {""} for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for dependency in sorted(graph.get(module, set())):
            visit(dependency, (*path, module))
        done.add(module)

    for module in MODULES:
        visit(module, ())
    assert done == set(MODULES)


# --- stable_rescue.testing: a client of the library, beside it ---------------------------------

TESTING = sorted(f"testing/{path.stem}" for path in (SOURCE / "testing").glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=MODULES)
def test_core_never_imports_testing_or_hypothesis(module: str) -> None:
    """Hypothesis is an optional extra: no core module imports it or ``stable_rescue.testing``."""
    assert "testing" not in internal(module)
    assert "hypothesis" not in top_level(module)


@pytest.mark.parametrize("module", TESTING, ids=TESTING)
def test_testing_uses_only_the_public_api(module: str) -> None:
    """``stable_rescue.testing`` imports the package's exported names and its own modules only.

    It is what other projects' test suites use, so it may rely on nothing they could not; and
    like the core it does no I/O.
    """
    assert len(TESTING) >= 5  # the subpackage was found
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            if node.module == PACKAGE:
                assert {alias.name for alias in node.names} <= set(stable_rescue.__all__)
            else:
                assert (node.module or "").startswith(f"{PACKAGE}.testing"), node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name == PACKAGE or not alias.name.startswith(f"{PACKAGE}.")
    assert top_level(module) & IO_MODULES == set()


def test_no_public_name_is_also_a_module() -> None:
    """No exported name is also a module's: the exports load lazily (PEP 562).

    Importing a submodule binds the package attribute of its name to the module, so a function
    of the same name would be lost (``stable_rescue.verify`` was both).
    """
    assert set(stable_rescue.__all__) & {*MODULES, "testing"} == set()


# --- docs/architecture.md: its module table in step with the modules ----------------------------

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# A row of the table: | `module.py` | concept | rules | tests |
ROW = re.compile(r"^\| `(?P<module>[\w]+)\.py` \|[^|]*\|(?P<rules>[^|]*)\|(?P<tests>[^|]*)\|$")


def table_rows() -> dict[str, tuple[list[str], list[str]]]:
    """Each module of the table, with the rule ids and test modules its row names."""
    rows = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            assert match["module"] not in rows, f"{match['module']} has two rows"
            rows[match["module"]] = (
                re.findall(r"\b[A-Z][0-9]+\b", match["rules"]),
                re.findall(r"`(test_\w+)`", match["tests"]),
            )
    return rows


def test_architecture_table_lists_every_module() -> None:
    """docs/architecture.md has one row per module of the package, and no row for another."""
    assert set(table_rows()) == set(MODULES)


@pytest.mark.parametrize("module", sorted(table_rows()), ids=str)
def test_architecture_table_row_holds(module: str) -> None:
    """A row's rules are cited in its module, and its tests exist.

    So the table says where a rule lives only where the module's docstrings say so too.
    """
    rules, tests = table_rows()[module]
    text = (SOURCE / f"{module}.py").read_text(encoding="utf-8")
    for rule in rules:
        assert re.search(rf"\b{rule}\b", text), f"{module}.py does not cite rule {rule}"
    assert tests, f"{module} names no test"
    for test in tests:
        assert (ROOT / "tests" / f"{test}.py").is_file(), test
