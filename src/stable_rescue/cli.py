"""The ``stable-rescue`` command: files, stdin, stdout and exit codes. The only module with I/O.

Exit 0 on success, 1 on a ``RescueError`` (one line ``stable-rescue: error[CODE]: message`` on
stderr, or a JSON object with ``--json-errors``), 2 on a usage error, 3 from ``status`` for a
domain that is not rescued. Warnings go to stderr as ``stable-rescue: warning: ...`` before any
error line; ``--strict`` turns them into exit 1 with nothing written. Output files are written
whole or not at all (a temporary file renamed into place), except onto a character device or a
FIFO, which get a plain write: nothing is ever renamed over them.

Operators run this from scripts, so the edges of I/O are part of the contract too: a closed
stdin or stdout, a full disk, a reader that goes away, an endless input and a megabyte-long value
each end in one line on stderr and a documented exit status, never a traceback or output that is
cut short with exit 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO, NoReturn

from stable_rescue.api import plan_rescue, rescue, unrescue
from stable_rescue.document import declared_encoding, read_document
from stable_rescue.errors import (
    InvalidImageJSON,
    LegacyNotRequested,
    ModeConflict,
    RescueError,
    StrictWarnings,
    UnreadableInput,
    UnwritableOutput,
)
from stable_rescue.model import Mode, Plan
from stable_rescue.parse import live_state_signs
from stable_rescue.plan import live_dump_warnings
from stable_rescue.record import RescueStatus, rescue_status
from stable_rescue.request import select_mode
from stable_rescue.source import SOURCE_FORMATS
from stable_rescue.version import __version__

# What only some commands or options need (verify, JSON plans, --image-json, --diff, -o FILE) is
# imported where it is used: a CLI start is mostly imports (docs/performance.md).

PROG = "stable-rescue"
# ``status`` exits with this for a domain that is not rescued (0: rescued, 1: an error).
EXIT_NOT_RESCUED = 3
# verify: the pair is not a stable rescue.
EXIT_NOT_STABLE = 1
# A reader that went away (``| head``): quiet, and what a shell reports for a process that
# SIGPIPE killed (128 + 13), so that ``set -o pipefail`` still sees a failure.
EXIT_BROKEN_PIPE = 141
# Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 130
# How much of INPUT (or of an --image-json file) is read before giving up: a domain XML is a few
# kilobytes, and /dev/zero or a runaway pipe must not eat the host's memory.
DEFAULT_MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_INPUT_ENV = "STABLE_RESCUE_MAX_INPUT_BYTES"
# argparse's parsing time grows with the square of the number of options (100,000: 96 s).
MAX_ARGUMENTS = 4096
# A value quoted in an error or warning line is cut to this many characters.
QUOTE_LIMIT = 200
# Past this, an error or warning line keeps its start and end only.
LINE_LIMIT = 2000
# Temporary files for -o are ".stable-rescue-PID-XXXXXXXX.tmp" beside the output; one left by a
# killed run (its process gone) is removed by a later run once it is this old (seconds).
STALE_AFTER = 10 * 60
TEMP_PREFIX = ".stable-rescue-"
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.stable-rescue-([1-9][0-9]{0,9})-[A-Za-z0-9_]{6,}\.tmp\Z")
_READ_CHUNK = 1024 * 1024
# The end of a value that _cap has cut.
_CUT = re.compile(r"\.\.\. \([0-9]+ characters\)\Z")

_EXAMPLES = {
    "rescue": """\
examples:
  virsh dumpxml --inactive --security-info guest > guest.xml
  stable-rescue rescue guest.xml --property hw_rescue_bus=usb \\
      --source /var/lib/libvirt/images/rescue.iso -o guest-rescue.xml
  stable-rescue rescue guest.xml --image-json image.json \\
      --source /var/lib/libvirt/images/rescue.iso --diff""",
    "plan": """\
example:
  stable-rescue plan guest.xml --property hw_rescue_device=cdrom \\
      --source /var/lib/libvirt/images/rescue.iso""",
    "unrescue": """\
example:
  virsh dumpxml --inactive --security-info guest | stable-rescue unrescue - -o guest.xml""",
    "status": """\
example:
  virsh dumpxml --inactive --security-info guest | stable-rescue status -""",
    "verify": """\
example:
  stable-rescue verify guest.xml guest-rescue.xml
  virsh dumpxml --inactive guest | stable-rescue verify - nova-rescue.xml --json""",
}


class _UsageError(Exception):
    """Bad command-line usage: exit 2, after the usage line of the parser that found it."""

    def __init__(self, message: str, parser: argparse.ArgumentParser | None = None) -> None:
        super().__init__(message)
        self.parser = parser


class _BrokenPipe(Exception):
    """The reader of stdout went away: stop quietly, as ``cat`` does."""


class _Parser(argparse.ArgumentParser):
    # The subcommands' parsers by name, so that a usage error shows the right usage line.
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self)

    def _print_message(self, message: str, file: object = None) -> None:
        """--help and --version on stdout are checked like any output; stderr stays best-effort."""
        if not message:
            return
        if file is not None and file is sys.stderr:
            _say(message.rstrip("\n"))
        else:  # sys.stdout, or None when stdout is closed: help and version are output
            _write_stdout(message.encode("utf-8", errors="backslashreplace"))


class _Once(argparse.Action):
    """An option that takes one value: given twice with two values, a usage error.

    argparse keeps the last one, which hides a script's mistake (a second --source appended
    by a wrapper) in exactly the places that decide what is rescued and where it is written.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        given = getattr(namespace, self.dest, None)
        if given is not None and given != values:
            raise argparse.ArgumentError(
                self,
                f"given twice, as {_cap(str(given))!r} and {_cap(str(values))!r}; "
                "expected one value",
            )
        setattr(namespace, self.dest, values)


def _input_limit(text: str) -> int:
    """A byte count, with an optional K, M or G suffix (powers of 1024); at least 1."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    match = re.fullmatch(r"\s*([0-9]{1,15})\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{_cap(text)!r}; expected a positive number of bytes, such as 16777216 or 16M"
        )
    return int(match[1]) * units[match[2].upper()]


def build_parser() -> _Parser:
    """The argument parser (also used by the docs)."""
    parser = _Parser(
        prog=PROG,
        description="Add rescue media to a libvirt domain without moving any device, and undo it.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--json-errors", action="store_true", help="print errors and warnings as JSON on stderr"
    )
    parser.add_argument(
        "--max-input-bytes",
        type=_input_limit,
        metavar="N",
        help=f"read at most N bytes of INPUT or --image-json (16M, or ${MAX_INPUT_ENV}, "
        "by default)",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, help="what to do; COMMAND -h for more"
    )
    for name, summary in (
        ("rescue", "print the rescue-mode domain XML"),
        ("plan", "print the rescue plan as JSON"),
    ):
        command = _add_command(commands, name, summary)
        command.add_argument(
            "--property",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a rescue image property (hw_rescue_bus=usb); repeatable, overrides --image-json",
        )
        command.add_argument(
            "--image-json",
            action=_Once,
            metavar="FILE",
            help="image properties: 'openstack image show -f json' output, or a flat JSON object",
        )
        command.add_argument(
            "--source",
            action=_Once,
            required=True,
            metavar="PATH_OR_URI",
            help="rescue media: an absolute file path, a block device under /dev/, "
            "rbd://... or iscsi://...",
        )
        command.add_argument(
            "--source-format",
            action=_Once,
            metavar="FMT",
            help=f"the media's format, one of {', '.join(SOURCE_FORMATS)}; required unless the "
            "name ends in .qcow2, .raw or .iso (never probed from the content)",
        )
        command.add_argument(
            "--source-type",
            action=_Once,
            choices=("file", "block", "network"),
            help="override the guess made from --source",
        )
        command.add_argument(
            "--allow-unaddressed",
            action="store_true",
            help="accept devices without addresses (stability is then not guaranteed)",
        )
        command.add_argument(
            "--legacy",
            action="store_true",
            help="ask for Nova's legacy layout (root disk moved, other disks detached), which an "
            "image with neither hw_rescue_bus nor hw_rescue_device gets; refused without it",
        )
        command.add_argument(
            "--kernel",
            action=_Once,
            metavar="PATH",
            help="rescue kernel, replacing a direct kernel boot",
        )
        command.add_argument(
            "--initrd", action=_Once, metavar="PATH", help="rescue initrd (with --kernel)"
        )
        command.add_argument(
            "--cmdline",
            action=_Once,
            metavar="TEXT",
            help="rescue kernel command line (with --kernel)",
        )
        if name == "rescue":
            command.add_argument(
                "--plan-json",
                action=_Once,
                metavar="FILE",
                help="also write the plan as JSON to FILE",
            )
            command.add_argument(
                "--diff", action="store_true", help="print a unified diff instead of the XML"
            )
    _add_command(commands, "unrescue", "print the domain as it was before rescue")
    status = _add_command(
        commands,
        "status",
        "say whether the domain is rescued: exit 0 and its mode and rescue disk if it is, "
        f"exit {EXIT_NOT_RESCUED} if not",
        output=False,
    )
    status.add_argument("--json", action="store_true", help="print the status as a JSON object")
    verify_command = _add_command(
        commands,
        "verify",
        "say whether RESCUED is a stable rescue of ORIGINAL, whoever made it: exit 0 if it is, "
        f"{EXIT_NOT_STABLE} and every difference found if not",
        output=False,
        pair=True,
    )
    verify_command.add_argument(
        "--json", action="store_true", help="print the report as a JSON object"
    )
    parser.commands = dict(commands.choices)
    return parser


def _add_command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    summary: str,
    *,
    output: bool = True,
    pair: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand reading INPUT (stdin by default), or, for a ``pair``, ORIGINAL and RESCUED."""
    command = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    if pair:
        command.add_argument(
            "input", metavar="ORIGINAL", help="the domain XML file before rescue, or - for stdin"
        )
        command.add_argument(
            "rescued", metavar="RESCUED", help="the rescue-mode domain XML file, or - for stdin"
        )
    else:
        command.add_argument(
            "input",
            nargs="?",
            default="-",
            metavar="INPUT",
            help="domain XML file (as virsh dumpxml --inactive prints it), or - for stdin",
        )
    if output:
        command.add_argument(
            "-o", "--output", action=_Once, metavar="OUTPUT", help="write here instead of stdout"
        )
        command.add_argument(
            "--strict", action="store_true", help="exit 1, writing nothing, on any warning"
        )
    command.add_argument(
        "--json-errors",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print errors and warnings as JSON on stderr",
    )
    command.add_argument(
        "--max-input-bytes",
        type=_input_limit,
        metavar="N",
        default=argparse.SUPPRESS,
        help=f"read at most N bytes of INPUT or --image-json (16M, or ${MAX_INPUT_ENV}, "
        "by default)",
    )
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Every way out is one of the documented exit statuses with at most one line on stderr: a
    traceback in an operator's log says nothing a script can act on.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    json_errors = "--json-errors" in arguments
    try:
        try:
            return _main(arguments)
        except RescueError as error:  # raised while parsing (--help or --version on stdout)
            _report(error, as_json=json_errors)
            return 1
    except _BrokenPipe:
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _main(arguments: list[str]) -> int:
    parser = build_parser()
    try:
        if len(arguments) > MAX_ARGUMENTS:
            raise _UsageError(
                f"{len(arguments)} arguments; expected at most {MAX_ARGUMENTS} (put image "
                "properties in a file for --image-json)"
            )
        args, extra = parser.parse_known_args(arguments)
        if extra:
            # argparse reports these from the top parser; the subcommand's usage says more.
            raise _UsageError(
                f"unrecognized arguments: {' '.join(extra)}", parser.commands[args.command]
            )
    except _UsageError as error:
        _say((error.parser or parser).format_usage().rstrip("\n"))
        _say(f"{PROG}: usage error: {_capped(str(error))}")
        return 2
    try:
        return _run(args)
    except _UsageError as error:
        _say(f"{PROG}: usage error: {_capped(str(error))}")
        return 2
    except RescueError as error:
        _report(error, as_json=args.json_errors)
        return 1


def _report(error: RescueError, *, as_json: bool) -> None:
    """The error's one line on stderr, every long value in it cut short."""
    message = _capped(error.message, list(error.context.values()))
    if as_json:
        data = {key: _capped_data(value) for key, value in error.to_json().items()}
        data["message"] = message
        _say(json.dumps(data, sort_keys=True))
    else:
        _say(f"{PROG}: error[{error.code}]: {message}")


def _say(line: str) -> None:
    """One line on stderr; a closed or broken stderr loses it rather than raising."""
    if sys.stderr is None:
        return
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _run(args: argparse.Namespace) -> int:
    _check_paths(args)
    _check_outputs_are_not_inputs(args)
    limit = _max_input_bytes(args)
    domain_xml = _read_input(args.input, limit)
    if args.command == "status":
        return _status(domain_xml, as_json=args.json)
    if args.command == "verify":
        return _verify(domain_xml, _read_input(args.rescued, limit), as_json=args.json)
    if args.command == "unrescue":
        original = unrescue(domain_xml)
        _warn(live_dump_warnings(live_state_signs(read_document(domain_xml).root)), args)
        _write_output(args.output, original)
        return 0
    properties = _properties(args, limit)
    _check_mode(properties, legacy=args.legacy)
    options = {
        "source_format": args.source_format,
        "source_type": args.source_type,
        "allow_unaddressed": args.allow_unaddressed,
        "kernel": args.kernel,
        "initrd": args.initrd,
        "cmdline": args.cmdline,
    }
    if args.command == "plan":
        plan = plan_rescue(domain_xml, properties, args.source, **options)
        _warn(plan.warnings, args)
        _write_output(args.output, plan_json(plan))
        return 0
    result = rescue(domain_xml, properties, args.source, **options)
    _warn(result.plan.warnings, args)
    if args.plan_json:
        _write_output(args.plan_json, plan_json(result.plan))
    if args.diff:
        import difflib

        text = read_document(domain_xml).text
        diff = difflib.unified_diff(
            text.splitlines(keepends=True),
            result.xml.splitlines(keepends=True),
            fromfile=args.input if args.input != "-" else "stdin",
            tofile="rescued",
        )
        _write_output(args.output, "".join(diff))
    else:
        _write_output(args.output, result.xml)
    return 0


def _check_mode(properties: dict[str, str], *, legacy: bool) -> None:
    """On the command line, legacy mode only when asked for: it moves the root disk."""
    mode, reason = select_mode(properties)
    if mode is Mode.LEGACY and not legacy:
        raise LegacyNotRequested(
            f"{reason}, which means legacy mode (the root disk moves, other disks are detached); "
            "expected hw_rescue_bus or hw_rescue_device, or --legacy to ask for legacy mode"
        )
    if mode is Mode.STABLE and legacy:
        raise ModeConflict(f"--legacy given but {reason}; expected one mode, not both")


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse file names that cannot mean what the user wants before anything is read."""
    names = {"INPUT": args.input}
    for option, attribute in (
        ("-o", "output"),
        ("--plan-json", "plan_json"),
        ("--image-json", "image_json"),
    ):
        names[option] = getattr(args, attribute, None)
    for option, name in names.items():
        if name == "":
            raise _UsageError(f"{option} is an empty file name; expected a file name, or -")
    output, plan = names["-o"], names["--plan-json"]
    if plan == "-" and output in (None, "-"):
        raise _UsageError("--plan-json - and the result both go to stdout; expected a file name")
    if plan not in (None, "-") and output not in (None, "-") and _same_file(plan, output):
        raise _UsageError(
            f"--plan-json and -o both name '{_cap(plan)}'; expected two different files"
        )
    if args.input == "-" and getattr(args, "rescued", None) == "-":
        raise _UsageError("ORIGINAL and RESCUED both read stdin; expected a file for one")
    if getattr(args, "rescued", None) == "":
        raise _UsageError("RESCUED is an empty file name; expected a file name, or -")
    if args.input == "-" and names["--image-json"] == "-":
        raise _UsageError("INPUT and --image-json both read stdin; expected a file for one")


def _same_file(first: str, second: str) -> bool:
    """Whether two names are one regular file (or would be one new file): one would be lost.

    A device or FIFO named twice (``/dev/null``) takes both writes, as a shell would give them.
    """
    try:
        if not stat.S_ISREG(os.stat(first).st_mode):
            return False
        return os.path.samefile(first, second)
    except FileNotFoundError:
        return os.path.realpath(first) == os.path.realpath(second)
    except (OSError, ValueError):
        return False


def _max_input_bytes(args: argparse.Namespace) -> int:
    """The option if given, else the environment variable, else 16 MiB."""
    given: int | None = args.max_input_bytes
    if given is not None:
        return given
    text = os.environ.get(MAX_INPUT_ENV)
    if text is None or text == "":
        return DEFAULT_MAX_INPUT_BYTES
    try:
        return _input_limit(text)
    except argparse.ArgumentTypeError as error:
        raise _UsageError(f"${MAX_INPUT_ENV} {error}") from None


def _warn(warnings: Sequence[str], args: argparse.Namespace) -> None:
    """Print each warning on stderr; under ``--strict``, refuse to write anything."""
    for warning in warnings:
        if args.json_errors:
            _say(json.dumps({"warning": _capped(warning)}))
        else:
            _say(f"{PROG}: warning: {_capped(warning)}")
    if warnings and args.strict:
        raise StrictWarnings(
            f"{len(warnings)} warning(s) under --strict; expected none, nothing was written",
            warnings=list(warnings),
        )


def _status(domain_xml: bytes, *, as_json: bool) -> int:
    status = rescue_status(read_document(domain_xml).root)
    if as_json:
        data = {"rescued": status is not None, **(_status_fields(status) if status else {})}
        line = json.dumps(data, sort_keys=True)
    elif status is None:
        line = "not rescued"
    else:
        disk = f"rescue disk {status.target} ({status.bus})" if status.target else "no rescue disk"
        line = f"rescued: {status.mode.value} mode, {disk}"
    # Checked like any output: a status that was never written is no answer.
    _write_stdout((line + "\n").encode("utf-8", errors="backslashreplace"))
    return 0 if status is not None else EXIT_NOT_RESCUED


def _verify(original_xml: bytes, rescued_xml: bytes, *, as_json: bool) -> int:
    from stable_rescue.serialize import report_to_dict
    from stable_rescue.verification import verify

    report = verify(original_xml, rescued_xml)
    if as_json:
        lines = [json.dumps(report_to_dict(report), sort_keys=True)]
    elif report.ok:
        disk = report.rescue_device
        assert disk is not None  # ok means one disk was added
        lines = [f"ok: a stable rescue, rescue disk {disk.target} ({disk.bus})"]
    else:
        lines = [str(finding) for finding in report.findings]
    _write_stdout(("\n".join(lines) + "\n").encode("utf-8", errors="backslashreplace"))
    return 0 if report.ok else EXIT_NOT_STABLE


def _status_fields(status: RescueStatus) -> dict[str, object]:
    return {"mode": status.mode.value, "target": status.target, "bus": status.bus}


def _properties(args: argparse.Namespace, limit: int) -> dict[str, str]:
    properties: dict[str, str] = {}
    if args.image_json is not None:
        properties.update(_image_json(args.image_json, limit))
    given: dict[str, str] = {}
    for item in args.property:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"--property '{item}'; expected KEY=VALUE")
        if given.get(key, value) != value:
            # Last-one-wins would hide a script's mistake that decides the rescue device.
            raise _UsageError(
                f"--property {key!r} given twice, as {given[key]!r} and {value!r}; expected "
                "one value"
            )
        given[key] = value
    properties.update(given)
    return properties


def _image_json(path: str, limit: int) -> dict[str, str]:
    """Properties from ``openstack image show -f json`` output, or from a flat object."""
    from stable_rescue.image import properties_from_image_json

    data = _read_input(path, limit)
    try:
        return properties_from_image_json(data, path)
    except RecursionError:  # json's parser, on lists or objects nested thousands deep
        raise InvalidImageJSON(
            f"--image-json '{path}' nests lists or objects too deeply to read; expected an object"
        ) from None


def plan_json(plan: Plan) -> str:
    """The plan as stable, sorted JSON: ``plan_to_dict``'s data, two-space indented."""
    from stable_rescue.serialize import plan_to_dict

    return json.dumps(plan_to_dict(plan), indent=2, sort_keys=True) + "\n"


def _read_input(path: str, limit: int) -> bytes:
    """The whole of ``path`` (``-``: stdin), refused past ``limit`` bytes rather than read on."""
    shown = "stdin" if path == "-" else path
    if path == "-":
        if sys.stdin is None:  # started with stdin closed (<&-)
            raise UnreadableInput(
                "cannot read stdin (it is closed); expected a file name, or XML piped in",
                path=path,
            )
        if sys.stdin.isatty():
            raise _UsageError(
                "no INPUT file given and stdin is a terminal; expected a file name, or XML piped in"
            )
    try:
        if path == "-":
            return _read_limited(sys.stdin.buffer, limit, path)
        with open(path, "rb") as handle:
            return _read_limited(handle, limit, path)
    except OSError as error:
        if isinstance(error, UnreadableInput):
            raise
        raise UnreadableInput(
            f"cannot read '{shown}' ({error.strerror}); expected a readable file", path=path
        ) from None


def _read_limited(handle: BinaryIO, limit: int, path: str) -> bytes:
    """Read in chunks: an endless input (/dev/zero) stops at the limit, not at memory's end."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = handle.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise UnreadableInput(
                f"cannot read '{'stdin' if path == '-' else path}' (larger than {limit} bytes); "
                "expected a domain XML or image JSON within the limit (--max-input-bytes or "
                f"${MAX_INPUT_ENV})",
                path=path,
                limit=limit,
            )


def _input_files(args: argparse.Namespace) -> Iterator[tuple[str, os.stat_result]]:
    """The input files, as named and as the kernel knows them (stdin too when it is a file)."""
    names = [args.input, getattr(args, "image_json", None)]
    for name in names:
        if name is None:
            continue
        try:
            if name == "-":
                if sys.stdin is None:
                    continue
                yield "stdin", os.fstat(sys.stdin.fileno())
            else:
                yield name, os.stat(name)
        except (OSError, ValueError):  # io.UnsupportedOperation: stdin is not a file
            continue


def _check_outputs_are_not_inputs(args: argparse.Namespace) -> None:
    """Refuse to write over an input, before anything is written (--plan-json comes first).

    The domain XML is all an operator has to go back to. A FIFO or device named as both is
    pipe plumbing, not a file to keep, and is left alone.
    """
    for path in (getattr(args, "plan_json", None), getattr(args, "output", None)):
        if path is None or path == "-":
            continue
        try:
            existing = os.stat(path)
        except (OSError, ValueError):
            continue  # not there yet (or unusable: the write says why)
        if not stat.S_ISREG(existing.st_mode):
            continue
        for name, known in _input_files(args):
            if (known.st_dev, known.st_ino) == (existing.st_dev, existing.st_ino):
                raise UnwritableOutput(
                    f"cannot write '{_cap(path)}' (it is the input file {_cap(name)!r}); "
                    "expected a different file",
                    path=path,
                )


def _write_output(path: str | None, text: str) -> None:
    """Write ``text`` in the encoding its XML declaration names (UTF-8 without one).

    A regular file (or a new one) is replaced whole: a temporary file in the same directory,
    renamed over it. A symbolic link is written through to its target, as a shell redirect
    does. A character device (``/dev/null``) or FIFO gets a plain write: a rename would replace
    the device node itself. Anything else (a directory, a block device, a socket) is refused:
    writing a domain XML onto a disk destroys the disk.
    """
    data = _encode(text)
    if path is None or path == "-":
        _write_stdout(data)
        return
    try:
        existing = os.stat(path)  # follows symbolic links: the kind of what is written to
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise _unwritable(path, error.strerror) from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        if not (stat.S_ISCHR(existing.st_mode) or stat.S_ISFIFO(existing.st_mode)):
            raise UnwritableOutput(
                f"cannot write '{_cap(path)}' (it is {_file_kind(existing.st_mode)}); expected a "
                "regular file, a character device or a FIFO",
                path=path,
            )
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NOCTTY)
            try:
                _write_all(descriptor, data)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise _unwritable(path, error.strerror) from None
        return
    _replace_file(os.path.realpath(path), data, existing, shown=path)


def _write_stdout(data: bytes) -> None:
    """Every byte to stdout, or an error: a cut domain XML with exit 0 is the worst outcome."""
    stream = sys.stdout
    if stream is None:  # started with stdout closed (>&-)
        raise UnwritableOutput(
            "cannot write stdout (it is closed); expected an open stdout, or -o FILE", path="-"
        )
    try:
        stream.flush()
        try:
            descriptor = stream.fileno()
        except (OSError, ValueError):  # not a real file (a test's capture): its own buffer
            stream.buffer.write(data)
            stream.buffer.flush()
        else:
            _write_all(descriptor, data)
    except BrokenPipeError:
        raise _BrokenPipe from None
    except OSError as error:
        raise UnwritableOutput(
            f"cannot write stdout ({error.strerror}); expected room for the whole output",
            path="-",
        ) from None


def _write_all(descriptor: int, data: bytes) -> None:
    """``os.write`` until every byte is out: a write may take only part (a pipe, a file limit)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(descriptor, view)
        except BlockingIOError:  # a non-blocking descriptor whose reader is slow: wait for it
            import select

            select.select([], [descriptor], [])
            continue
        except InterruptedError:  # pragma: no cover - Python retries EINTR itself (PEP 475)
            continue
        view = view[written:]


def _replace_file(target: str, data: bytes, existing: os.stat_result | None, shown: str) -> None:
    """Write ``data`` to the regular file ``target`` atomically, keeping its mode and owner.

    The temporary file's name carries our pid, so that one left by a killed run (SIGKILL cannot
    be caught) can be told from one being written, and removed by a later run.
    """
    directory = os.path.dirname(target)
    _remove_stale_temporaries(directory)
    try:
        import tempfile

        descriptor, temporary = tempfile.mkstemp(
            dir=directory, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX
        )
        try:
            try:
                _write_all(descriptor, data)
                os.fsync(descriptor)  # the rename must not outlive the data in a crash
            finally:
                os.close(descriptor)
            # mkstemp makes the file 0600 and ours: keep what a plain open() would have kept.
            if existing is None:
                os.chmod(temporary, 0o666 & ~_umask())
            else:
                os.chmod(temporary, existing.st_mode & 0o7777)
                if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                    _keep_owner(temporary, existing)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise _unwritable(shown, error.strerror) from None


def _remove_stale_temporaries(directory: str) -> None:
    """Remove temporary files that killed runs left in ``directory``; only what is surely stale.

    A file is removed only if its name is ours with a pid, it is a regular file (not a link)
    owned by us, its process no longer exists, and it was last changed ``STALE_AFTER`` ago: a
    pid reused since, or a run on another host sharing the directory, keeps it for that long.
    """
    now = time.time()
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                continue
            if now - info.st_mtime < STALE_AFTER or _process_exists(int(match[1])):
                continue
            os.unlink(entry.path)


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: someone else's process, so it exists
        return True
    return True


def _keep_owner(path: str, existing: os.stat_result) -> None:
    # Only root may give a file away; a plain open() would have kept the owner.
    with contextlib.suppress(PermissionError):
        os.chown(path, existing.st_uid, existing.st_gid)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _unwritable(path: str, reason: str | None) -> UnwritableOutput:
    return UnwritableOutput(
        f"cannot write '{_cap(path)}' ({reason}); expected a writable path", path=path
    )


def _cap(value: str) -> str:
    """``value`` cut to ``QUOTE_LIMIT`` characters, saying how long it was."""
    if len(value) <= QUOTE_LIMIT:
        return value
    return f"{value[:QUOTE_LIMIT]}... ({len(value)} characters)"


def _capped(message: str, context: Sequence[object] = ()) -> str:
    """``message`` with every long value in it cut short: a megabyte value makes a useless line.

    The library builds its messages; here the values are found again: first the string values
    of the error's context, as they are and as ``repr`` writes them, then any quoted span, and
    last the line as a whole keeps its start and end.
    """
    for value in _strings(context):
        if len(value) > QUOTE_LIMIT:
            for form in {value, repr(value)[1:-1]}:
                if form in message:
                    message = message.replace(form, _cap(form))
    if len(message) > 50 * LINE_LIMIT:  # keeps the quote scan below linear in practice
        message = _elide(message)
    message = _cap_quoted(message)
    return _elide(message) if len(message) > LINE_LIMIT else message


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _cap_quoted(message: str) -> str:
    """Cut each quoted span (``'...'`` or ``"..."``) longer than ``QUOTE_LIMIT``."""
    parts: list[str] = []
    done = position = 0
    while position < len(message):
        quote = message[position]
        if quote not in "'\"" or (position and message[position - 1].isalnum()):
            position += 1
            continue
        end = _closing(message, position + 1, quote)
        if end < 0:
            position += 1
            continue
        inner = message[position + 1 : end]
        if len(inner) > QUOTE_LIMIT and not _CUT.search(inner):
            parts += [message[done : position + 1], _cap(inner)]
            done = end
        position = end + 1
    return "".join(parts) + message[done:]


def _closing(message: str, start: int, quote: str) -> int:
    """Where the quote opened before ``start`` closes: a quote not followed by a letter."""
    end = message.find(quote, start)
    while end >= 0 and end + 1 < len(message) and message[end + 1].isalnum():
        end = message.find(quote, end + 1)
    return end


def _elide(message: str) -> str:
    half = LINE_LIMIT // 2
    return f"{message[:half]} ... ({len(message)} characters in all) ... {message[-half:]}"


def _capped_data(value: object) -> object:
    """A ``--json-errors`` context value cut short: a string is a value, a list holds lines.

    A list item may be a whole warning, itself quoting values: it is cut as a line is.
    """
    if isinstance(value, str):
        return _cap(value)
    if isinstance(value, list):
        return [_capped(item) if isinstance(item, str) else item for item in value]
    return value


def _encode(text: str) -> bytes:
    encoding = declared_encoding(text) or "utf-8"
    try:
        return text.encode(encoding, errors="xmlcharrefreplace")
    except LookupError:
        return text.encode("utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
