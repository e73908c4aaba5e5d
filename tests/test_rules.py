"""Every rule of docs/policy.md is cited where it is implemented and where it is tested.

A rule is an item of the policy that starts with its id in bold (``- **T3** ...``). Its id must
appear, as a word, in a docstring or comment of the package (the function that implements it)
and in at least one test module, so that a reader can go from the rule to the code and to its
evidence, and a rule nobody implements or tests shows here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stable_rescue

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "docs" / "policy.md"
# The package under test: src/ in a work tree, site-packages for an installed wheel.
SOURCE = Path(stable_rescue.__file__).parent
TESTS = Path(__file__).resolve().parent
RULE = re.compile(r"^- \*\*([A-Z][0-9]+)\*\*", re.MULTILINE)


def rule_ids() -> list[str]:
    """The ids of docs/policy.md's rules, in the page's order."""
    return RULE.findall(POLICY.read_text(encoding="utf-8"))


def texts(paths: list[Path]) -> dict[str, str]:
    return {str(path): path.read_text(encoding="utf-8") for path in paths}


RULES = rule_ids()
SOURCES = texts(sorted(SOURCE.rglob("*.py")))
# This module names no rule; leaving it out keeps the check from passing on its own text.
TEST_MODULES = texts(sorted(path for path in TESTS.glob("*.py") if path.name != "test_rules.py"))


def cited_in(rule: str, modules: dict[str, str]) -> list[str]:
    """The modules whose text names ``rule`` as a word (``T3``, not ``T30`` or ``ST3``)."""
    word = re.compile(rf"\b{rule}\b")
    return sorted(name for name, text in modules.items() if word.search(text))


def test_rules_found() -> None:
    """The policy's rules are found, each id once (a wrong pattern would make the rest vacuous)."""
    assert len(RULES) >= 76
    assert len(set(RULES)) == len(RULES)
    assert {"G1", "T3", "E6", "R9", "N7", "L7", "O7"} <= set(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_rule_cited_in_the_package(rule: str) -> None:
    """The rule's id appears in the package, at the function that implements it."""
    assert cited_in(rule, SOURCES), f"rule {rule} of docs/policy.md is cited nowhere in the package"


@pytest.mark.parametrize("rule", RULES)
def test_rule_cited_in_a_test(rule: str) -> None:
    """The rule's id appears in at least one test module, at the test that checks it."""
    assert cited_in(rule, TEST_MODULES), f"rule {rule} of docs/policy.md is cited in no test"


def test_every_cited_rule_exists() -> None:
    """An id cited as a rule in the package names a rule of docs/policy.md (no stale ids)."""
    cited = set()
    for text in SOURCES.values():
        cited.update(re.findall(r"\b[Rr]ules? ([A-Z][0-9]+)\b", text))
    assert cited <= set(RULES)
