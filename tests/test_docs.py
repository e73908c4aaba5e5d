"""The documentation lists what the code defines: every error code, CLI option and public name."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import stable_rescue
import stable_rescue.testing
from stable_rescue.cli import build_parser
from stable_rescue.errors import ALL_ERRORS

DOCS = Path(__file__).resolve().parent.parent / "docs"
ERROR_ROW = re.compile(r"^\| `([a-z-]+)` \|", re.MULTILINE)


def documented_error_codes() -> set[str]:
    """The codes in the first column of the table rows of ``docs/errors.md``."""
    return set(ERROR_ROW.findall((DOCS / "errors.md").read_text(encoding="utf-8")))


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every ``--option`` of ``parser`` and of its subcommands, except ``--help``."""
    options: set[str] = set()
    for action in parser._actions:
        options.update(
            option
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        )
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                options |= long_options(subparser)
    return options


def test_error_table_lists_every_code() -> None:
    """docs/errors.md has one table row per code in ALL_ERRORS, and no row for any other code.

    The code is the contract with callers ("listed in docs/errors.md, never renamed"), so an
    error class added without documentation, or a documented code the library no longer
    raises, fails here.
    """
    codes = {error.code for error in ALL_ERRORS}
    assert documented_error_codes() == codes


def test_error_table_rows_are_unique() -> None:
    """No code has two rows in docs/errors.md."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    rows = ERROR_ROW.findall(text)
    assert len(rows) == len(set(rows))


def test_cli_doc_mentions_every_option() -> None:
    """Every long option of every ``stable-rescue`` command appears in docs/cli.md."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    options = long_options(build_parser())
    assert options  # the parser walk found something
    missing = sorted(
        option for option in options if not re.search(re.escape(option) + r"(?![\w-])", text)
    )
    assert missing == []


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("stable_rescue", stable_rescue.__all__),
        ("stable_rescue.testing", stable_rescue.testing.__all__),
    ],
    ids=["stable_rescue", "stable_rescue.testing"],
)
def test_api_reference_documents_every_public_name(module: str, names: list[str]) -> None:
    """docs/api.md has an autodoc or ``py:data`` entry for every name of the module's ``__all__``.

    Sphinx then renders each from its docstring (the docs build runs with warnings as errors, so
    a name autodoc cannot import fails there).
    """
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    entry = re.compile(r"^\.\. (?:autoclass|autofunction|autodata|py:data):: ([\w.]+)$", re.M)
    documented = set(entry.findall(text))
    assert names
    assert sorted({f"{module}.{name}" for name in names} - documented) == []
