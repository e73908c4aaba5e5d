"""The examples of the docs run, against the package under test, and print what the docs say.

Every page of ``docs/`` and the README is checked. Each page's fenced blocks run in order, in a
fresh directory holding a copy of ``examples/``: ``python`` blocks in one namespace per page,
``sh`` blocks in bash with ``stable-rescue`` and ``python3`` (this interpreter and its package)
and a stand-in ``virsh`` first on ``PATH``. A ``text`` block right after a code block is that
block's expected output (stdout), compared exactly.

A block that must not run is preceded by ``<!-- not run: REASON -->``, and REASON is one of
``NOT_RUN_REASONS``: it installs packages, it needs a real libvirt host (``virsh start``, the
real-libvirt tests), or it needs virtinst. A block that needs virtinst runs, and its output is
checked, wherever ``virt-xml`` is on ``PATH``; elsewhere it is skipped. Every other ``python``
or ``sh`` block runs, and the number of blocks that do not run is bounded.

The stand-in ``virsh`` is not libvirt. It holds one domain, in a file: the page's ``GUEST`` (a
Python string the page defines in a block before its first ``virsh``), else the bundled
``examples/q35-domain.xml``. It knows four commands:

- ``dumpxml [OPTIONS] NAME`` prints the domain it holds, whatever NAME;
- ``define [--validate] FILE`` checks that the file is well-formed XML (not libvirt's schema),
  holds it from then on, and says what libvirt says (``Domain 'NAME' defined from FILE``);
- ``metadata NAME --uri URI`` prints the element of ``<metadata>`` in namespace URI as
  ElementTree writes it (not libvirt's text) and exits 0, or fails as libvirt does when there is
  none (``error: metadata not found: ...``, exit 1);
- anything else fails, naming the command.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DOMAIN = ROOT / "examples" / "q35-domain.xml"
# Every page of docs/, and the README: paths from the repository's root.
PAGES = [*sorted(f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")), "README.md"]
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+) -->$")
RUNNABLE = ("python", "sh")
VIRTINST = "it needs virtinst"
# Why a block may be left out, and what such a block must contain to be one of them.
NOT_RUN_REASONS = {
    "it installs packages": re.compile(r"\b(pip|pipx|apt-get) install\b|libvirt-test-host\.sh"),
    "it needs a real libvirt host": re.compile(r"\bvirsh (start|shutdown)\b|-m libvirt\b"),
    VIRTINST: re.compile(r"\bvirt-xml\b"),
}
# How many blocks may be left out for each reason, over all pages: more means examples that
# should run instead.
MAX_NOT_RUN = {"it installs packages": 7, "it needs a real libvirt host": 6, VIRTINST: 6}
# Pages whose examples do not run yet, each with why; strict, so a page that comes to run fails
# here until it is taken off this list.
PENDING: dict[str, str] = {}

VIRSH = """\
#!{python}
import shutil
import sys
import xml.etree.ElementTree as ET

HELD = {domain!r}
args = sys.argv[1:]
if args and args[0] == "dumpxml":
    sys.stdout.write(open(HELD, encoding="utf-8").read())
elif args[:1] == ["define"] and len([a for a in args[1:] if a != "--validate"]) == 1:
    path = [a for a in args[1:] if a != "--validate"][0]
    name = ET.parse(path).getroot().findtext("name")
    shutil.copyfile(path, HELD)
    print(f"Domain '{{name}}' defined from {{path}}")
elif len(args) == 4 and args[0] == "metadata" and args[2] == "--uri":
    metadata = ET.parse(HELD).getroot().find("metadata")
    found = None if metadata is None else metadata.find(f"{{{{{{args[3]}}}}}}*")
    if found is None:
        sys.exit("error: metadata not found: Requested metadata element is not present")
    found.tail = None
    print(ET.tostring(found, encoding="unicode"))
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


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of the page at ``path``, a ``text`` block joined to the one before it."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    found: list[Block] = []
    number = 0
    previous_line = ""
    while number < len(lines):
        line = lines[number]
        stripped = line.lstrip()
        if not stripped.startswith("```"):
            if line.strip():
                previous_line = line.strip()
            number += 1
            continue
        indent = line[: len(line) - len(stripped)]
        lang = stripped[3:].strip()
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
        body = "".join(
            text[len(indent) :] if text.startswith(indent) else text
            for text in lines[number + 1 : end]
        )
        if lang == "text" and found and found[-1].expected is None:
            found[-1] = attrs.evolve(found[-1], expected=body)
        else:
            reason = NOT_RUN.match(previous_line)
            found.append(Block(lang, body, number + 1, None, reason["reason"] if reason else None))
        previous_line = ""
        number = end + 1
    return found


def runs(block: Block) -> bool:
    """Whether the block runs here: a code block not left out (virtinst's where it is installed)."""
    if block.lang not in RUNNABLE:
        return False
    if block.not_run == VIRTINST:
        return shutil.which("virt-xml") is not None
    return block.not_run is None


def stand_ins(directory: Path, domain: Path) -> dict[str, str]:
    """An environment whose ``PATH`` starts with the stand-in ``virsh`` and this package's tools."""
    bin_directory = directory / "bin"
    bin_directory.mkdir()
    for name, template in (("virsh", VIRSH), ("stable-rescue", STABLE_RESCUE)):
        script = bin_directory / name
        script.write_text(template.format(python=sys.executable, domain=str(domain)))
        script.chmod(0o755)
    # A script, not a symbolic link: a venv's python found through a link elsewhere no longer
    # sees its venv (pyvenv.cfg is looked for beside the link), nor the package installed there.
    python = bin_directory / "python3"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
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


def run_page(path: Path, tmp_path: Path) -> int:
    """Run every block of the page that runs, in ``tmp_path/work``; how many ran.

    The caller has made ``tmp_path/work`` the current directory.
    """
    workdir = tmp_path / "work"
    shutil.copytree(ROOT / "examples", workdir / "examples")
    domain = tmp_path / "domain.xml"
    shutil.copyfile(EXAMPLE_DOMAIN, domain)
    environment = stand_ins(tmp_path, domain)
    namespace: dict[str, object] = {"__name__": f"docs.{path.stem}"}
    guest_taken = False
    ran = 0
    for block in blocks(path):
        if not runs(block):
            continue
        if block.lang == "python":
            printed = run_python(block, namespace)
            if isinstance(namespace.get("GUEST"), str) and not guest_taken:
                domain.write_text(str(namespace["GUEST"]), encoding="utf-8")
                guest_taken = True
        else:
            printed = run_sh(block, workdir, environment)
        if block.expected is not None:
            assert printed == block.expected, f"{path.name} line {block.line}"
        ran += 1
    return ran


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=pytest.mark.xfail(reason=PENDING[page], strict=True))
        if page in PENDING
        else page
        for page in PAGES
    ],
)
def test_every_example_runs_and_prints_what_the_page_says(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``python`` and ``sh`` block of the page runs; each ``text`` block is its output."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    code_blocks = [block for block in blocks(ROOT / page) if block.lang in RUNNABLE]
    ran = run_page(ROOT / page, tmp_path)
    assert ran == sum(runs(block) for block in code_blocks)


def test_pages_cover_the_docs_and_the_readme() -> None:
    """No page of ``docs/`` is left out, and every example the pages hold is found."""
    assert {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")} < set(PAGES)
    assert "README.md" in PAGES
    assert sum(len(blocks(ROOT / page)) for page in PAGES) >= 40


def test_blocks_that_do_not_run_are_few_and_say_why() -> None:
    """A block is left out only for a known reason, and it is the kind of block that reason says."""
    skipped = [(page, block) for page in PAGES for block in blocks(ROOT / page) if block.not_run]
    for reason, limit in MAX_NOT_RUN.items():
        assert sum(block.not_run == reason for _, block in skipped) <= limit, reason
    for page, block in skipped:
        where = f"{page} line {block.line}"
        assert block.lang in RUNNABLE, where
        assert block.not_run in NOT_RUN_REASONS, where
        assert NOT_RUN_REASONS[block.not_run].search(block.body), where


def test_a_wrong_output_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: an expected output one character off stops the page."""
    page = tmp_path / "page.md"
    page.write_text("```sh\nstable-rescue --version\n```\n\n```text\nstable-rescue 0.0.0\n```\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(AssertionError, match=r"page\.md line 1"):
        run_page(page, tmp_path)


def test_a_failing_command_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell block that exits non-zero stops the page, and so does a stand-in's refusal."""
    page = tmp_path / "page.md"
    page.write_text("```sh\nvirsh start guest\n```\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(AssertionError, match="not known"):
        run_page(page, tmp_path)
