"""The examples of the docs run, against the package under test, and print what the docs say.

Each page's fenced blocks run in order, in a fresh directory: ``python`` blocks in one namespace
per page, ``sh`` blocks in bash with ``stable-rescue`` (this interpreter's package) and a
stand-in ``virsh`` first on ``PATH``. A ``text`` block right after a code block is that block's
expected output, compared exactly. A block that must not run (an install command) is preceded
by ``<!-- not run: REASON -->``; every other ``python`` or ``sh`` block runs.

The stand-in ``virsh`` knows two commands: ``dumpxml ... NAME`` prints the page's ``GUEST``
(a Python string the page defines first), and ``define FILE`` checks that the file is
well-formed XML and says what libvirt says.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
# The pages whose examples run (all of them, once every page's examples are runnable).
PAGES = ["testing.md"]
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+) -->$")
RUNNABLE = ("python", "sh")

VIRSH = """\
#!{python}
import sys
import xml.etree.ElementTree as ET

args = sys.argv[1:]
if args and args[0] == "dumpxml":
    sys.stdout.write(open({guest!r}, encoding="utf-8").read())
elif len(args) == 2 and args[0] == "define":
    name = ET.parse(args[1]).getroot().findtext("name")
    print(f"Domain '{{name}}' defined from {{args[1]}}")
else:
    sys.exit(f"stand-in virsh: {{args}} not known")
"""
STABLE_RESCUE = """\
#!/bin/sh
exec {python} -m stable_rescue "$@"
"""


@attrs.frozen
class Block:
    """One fenced block of a page: its language, text, and the output the page expects."""

    lang: str
    body: str
    line: int
    expected: str | None
    not_run: str | None


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``docs/PAGE``, a ``text`` block joined to the code block before it."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines(keepends=True)
    found: list[Block] = []
    number = 0
    previous_line = ""
    while number < len(lines):
        line = lines[number]
        if not line.startswith("```"):
            if line.strip():
                previous_line = line.strip()
            number += 1
            continue
        lang = line[3:].strip()
        end = next(i for i in range(number + 1, len(lines)) if lines[i].rstrip() == "```")
        body = "".join(lines[number + 1 : end])
        if lang == "text" and found and found[-1].expected is None:
            found[-1] = attrs.evolve(found[-1], expected=body)
        else:
            reason = NOT_RUN.match(previous_line)
            found.append(Block(lang, body, number + 1, None, reason["reason"] if reason else None))
        previous_line = ""
        number = end + 1
    return found


def stand_ins(directory: Path, guest: Path) -> dict[str, str]:
    """An environment whose ``PATH`` starts with the stand-in ``virsh`` and ``stable-rescue``."""
    bin_directory = directory / "bin"
    bin_directory.mkdir()
    for name, template in (("virsh", VIRSH), ("stable-rescue", STABLE_RESCUE)):
        script = bin_directory / name
        script.write_text(template.format(python=sys.executable, guest=str(guest)))
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_directory}{os.pathsep}{os.environ['PATH']}"}


def run_python(block: Block, namespace: dict[str, object]) -> str:
    """Run a Python block in ``namespace``; what it printed."""
    output = io.StringIO()
    code = compile(block.body, f"<docs block at line {block.line}>", "exec")
    with contextlib.redirect_stdout(output):
        exec(code, namespace)
    return output.getvalue()


def run_sh(block: Block, workdir: Path, environment: dict[str, str]) -> str:
    """Run a shell block in bash; what it printed (it must exit 0)."""
    done = subprocess.run(
        ["bash", "-c", block.body],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"line {block.line}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("page", PAGES)
def test_every_example_runs_and_prints_what_the_page_says(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``python`` and ``sh`` block of the page runs; each ``text`` block is its output."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    guest = tmp_path / "guest.xml"
    environment = stand_ins(tmp_path, guest)
    namespace: dict[str, object] = {"__name__": f"docs.{page}"}
    ran = 0
    for block in blocks(page):
        if block.lang not in RUNNABLE or block.not_run is not None:
            continue
        if block.lang == "python":
            printed = run_python(block, namespace)
            if isinstance(namespace.get("GUEST"), str) and not guest.exists():
                guest.write_text(str(namespace["GUEST"]), encoding="utf-8")
        else:
            printed = run_sh(block, workdir, environment)
        if block.expected is not None:
            assert printed == block.expected, f"{page} line {block.line}"
        ran += 1
    assert ran >= 5, f"only {ran} blocks of {page} ran"


@pytest.mark.parametrize("page", PAGES)
def test_blocks_that_do_not_run_say_why(page: str) -> None:
    """A ``python`` or ``sh`` block is skipped only with a reason, and only an install step."""
    skipped = [block for block in blocks(page) if block.not_run is not None]
    for block in skipped:
        assert block.lang in RUNNABLE
        assert block.body.startswith("pip install"), block.body
