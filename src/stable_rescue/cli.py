"""The ``stable-rescue`` command: files, stdin, stdout and exit codes. The only module with I/O.

Exit 0 on success, 1 on a ``RescueError`` (one line ``stable-rescue: error[CODE]: message`` on
stderr, or a JSON object with ``--json-errors``), 2 on a usage error, 3 from ``status`` for a
domain that is not rescued. Warnings go to stderr as ``stable-rescue: warning: ...`` before any
error line; ``--strict`` turns them into exit 1 with nothing written. Output files are written
whole or not at all (a temporary file renamed into place), except onto a character device or a
FIFO, which get a plain write: nothing is ever renamed over them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Sequence

from stable_rescue.api import plan_rescue, rescue, unrescue
from stable_rescue.errors import (
    LegacyNotRequested,
    ModeConflict,
    RescueError,
    StrictWarnings,
    UnreadableInput,
    UnwritableOutput,
)
from stable_rescue.image import properties_from_image_json
from stable_rescue.model import Mode, Plan
from stable_rescue.parse import declared_encoding, live_state_signs, read_document
from stable_rescue.plan import live_dump_warnings
from stable_rescue.record import RescueStatus, rescue_status
from stable_rescue.request import select_mode
from stable_rescue.serialize import plan_to_dict
from stable_rescue.source import SOURCE_FORMATS
from stable_rescue.version import __version__

PROG = "stable-rescue"
# ``status`` exits with this for a domain that is not rescued (0: rescued, 1: an error).
EXIT_NOT_RESCUED = 3

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
}


class _UsageError(Exception):
    """Bad command-line usage: exit 2, after the usage line of the parser that found it."""

    def __init__(self, message: str, parser: argparse.ArgumentParser | None = None) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    # The subcommands' parsers by name, so that a usage error shows the right usage line.
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message, self)


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
            metavar="FILE",
            help="image properties: 'openstack image show -f json' output, or a flat JSON object",
        )
        command.add_argument(
            "--source",
            required=True,
            metavar="PATH_OR_URI",
            help="rescue media: an absolute file path, a block device under /dev/, "
            "rbd://... or iscsi://...",
        )
        command.add_argument(
            "--source-format",
            metavar="FMT",
            help=f"the media's format, one of {', '.join(SOURCE_FORMATS)}; required unless the "
            "name ends in .qcow2, .raw or .iso (never probed from the content)",
        )
        command.add_argument(
            "--source-type",
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
            "--kernel", metavar="PATH", help="rescue kernel, replacing a direct kernel boot"
        )
        command.add_argument("--initrd", metavar="PATH", help="rescue initrd (with --kernel)")
        command.add_argument(
            "--cmdline", metavar="TEXT", help="rescue kernel command line (with --kernel)"
        )
        if name == "rescue":
            command.add_argument(
                "--plan-json", metavar="FILE", help="also write the plan as JSON to FILE"
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
    parser.commands = dict(commands.choices)
    return parser


def _add_command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    summary: str,
    *,
    output: bool = True,
) -> argparse.ArgumentParser:
    command = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=_EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    command.add_argument(
        "input",
        nargs="?",
        default="-",
        metavar="INPUT",
        help="domain XML file (as virsh dumpxml --inactive prints it), or - for stdin",
    )
    if output:
        command.add_argument(
            "-o", "--output", metavar="OUTPUT", help="write here instead of stdout"
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
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # argparse reports these from the top parser; the subcommand's usage says more.
            raise _UsageError(
                f"unrecognized arguments: {' '.join(extra)}", parser.commands[args.command]
            )
    except _UsageError as error:
        (error.parser or parser).print_usage(sys.stderr)
        print(f"{PROG}: usage error: {error}", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except _UsageError as error:
        print(f"{PROG}: usage error: {error}", file=sys.stderr)
        return 2
    except RescueError as error:
        if args.json_errors:
            print(json.dumps(error.to_json(), sort_keys=True), file=sys.stderr)
        else:
            print(f"{PROG}: error[{error.code}]: {error.message}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    domain_xml = _read_input(args.input)
    if args.command == "status":
        return _status(domain_xml, as_json=args.json)
    if args.command == "unrescue":
        original = unrescue(domain_xml)
        _warn(live_dump_warnings(live_state_signs(read_document(domain_xml).root)), args)
        _write_output(args.output, original)
        return 0
    properties = _properties(args)
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


def _warn(warnings: Sequence[str], args: argparse.Namespace) -> None:
    """Print each warning on stderr; under ``--strict``, refuse to write anything."""
    for warning in warnings:
        if args.json_errors:
            print(json.dumps({"warning": warning}), file=sys.stderr)
        else:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if warnings and args.strict:
        raise StrictWarnings(
            f"{len(warnings)} warning(s) under --strict; expected none, nothing was written",
            warnings=list(warnings),
        )


def _status(domain_xml: bytes, *, as_json: bool) -> int:
    status = rescue_status(read_document(domain_xml).root)
    if as_json:
        data = {"rescued": status is not None, **(_status_fields(status) if status else {})}
        print(json.dumps(data, sort_keys=True))
    elif status is None:
        print("not rescued")
    else:
        disk = f"rescue disk {status.target} ({status.bus})" if status.target else "no rescue disk"
        print(f"rescued: {status.mode.value} mode, {disk}")
    return 0 if status is not None else EXIT_NOT_RESCUED


def _status_fields(status: RescueStatus) -> dict[str, object]:
    return {"mode": status.mode.value, "target": status.target, "bus": status.bus}


def _properties(args: argparse.Namespace) -> dict[str, str]:
    properties: dict[str, str] = {}
    if args.image_json:
        properties.update(_image_json(args.image_json))
    for item in args.property:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"--property '{item}'; expected KEY=VALUE")
        properties[key] = value
    return properties


def _image_json(path: str) -> dict[str, str]:
    """Properties from ``openstack image show -f json`` output, or from a flat object."""
    return properties_from_image_json(_read_input(path), path)


def plan_json(plan: Plan) -> str:
    """The plan as stable, sorted JSON: ``plan_to_dict``'s data, two-space indented."""
    return json.dumps(plan_to_dict(plan), indent=2, sort_keys=True) + "\n"


def _read_input(path: str) -> bytes:
    if path == "-" and sys.stdin.isatty():
        raise _UsageError(
            "no INPUT file given and stdin is a terminal; expected a file name, or XML piped in"
        )
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise UnreadableInput(
            f"cannot read '{path}' ({error.strerror}); expected a readable file", path=path
        ) from None


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
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
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
                f"cannot write '{path}' (it is {_file_kind(existing.st_mode)}); expected a "
                "regular file, a character device or a FIFO",
                path=path,
            )
        try:
            with open(path, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise _unwritable(path, error.strerror) from None
        return
    _replace_file(os.path.realpath(path), data, existing, shown=path)


def _replace_file(target: str, data: bytes, existing: os.stat_result | None, shown: str) -> None:
    """Write ``data`` to the regular file ``target`` atomically, keeping its mode and owner."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=os.path.dirname(target), prefix=".stable-rescue-"
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            # mkstemp makes the file 0600 and ours: keep what a plain open() would have kept.
            if existing is None:
                os.chmod(temporary, 0o666 & ~_umask())
            else:
                os.chmod(temporary, existing.st_mode & 0o7777)
                if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                    _keep_owner(temporary, existing)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise _unwritable(shown, error.strerror) from None


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
        f"cannot write '{path}' ({reason}); expected a writable path", path=path
    )


def _encode(text: str) -> bytes:
    encoding = declared_encoding(text) or "utf-8"
    try:
        return text.encode(encoding, errors="xmlcharrefreplace")
    except LookupError:
        return text.encode("utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
