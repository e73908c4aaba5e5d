"""The ``stable-rescue`` command: files, stdin, stdout and exit codes. The only module with I/O.

Exit 0 on success, 1 on a ``RescueError`` (one line ``stable-rescue: error[CODE]: message`` on
stderr, or a JSON object with ``--json-errors``), 2 on a usage error. Output files are written
whole or not at all (a temporary file renamed into place).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import tempfile
from collections.abc import Sequence

import attrs

from stable_rescue.api import plan_rescue, rescue, unrescue
from stable_rescue.errors import (
    InvalidImageJSON,
    InvalidProperties,
    RescueError,
    UnreadableInput,
    UnwritableOutput,
)
from stable_rescue.model import Plan
from stable_rescue.parse import declared_encoding, read_document

PROG = "stable-rescue"


class _UsageError(Exception):
    """Bad command-line usage: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs)."""
    parser = _Parser(
        prog=PROG,
        description="Add rescue media to a libvirt domain without moving any device, and undo it.",
    )
    parser.add_argument(
        "--json-errors", action="store_true", help="print errors as a JSON object on stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, summary in (
        ("rescue", "print the rescue-mode domain XML"),
        ("plan", "print the rescue plan as JSON"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        _add_input(command)
        command.add_argument(
            "--property",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a rescue image property (hw_rescue_bus=usb); repeatable",
        )
        command.add_argument(
            "--image-json",
            metavar="FILE",
            help="image properties: 'openstack image show -f json' output, or a flat JSON object",
        )
        command.add_argument("--source", required=True, help="rescue media: a path or a URI")
        command.add_argument("--source-format", help="raw, qcow2, ... (never probed)")
        command.add_argument(
            "--source-type", choices=("file", "block", "network"), help="override the guess"
        )
        command.add_argument(
            "--allow-unaddressed",
            action="store_true",
            help="accept devices without addresses (stability is then not guaranteed)",
        )
        command.add_argument("--kernel", help="rescue kernel, replacing a direct kernel boot")
        command.add_argument("--initrd", help="rescue initrd (with --kernel)")
        command.add_argument("--cmdline", help="rescue kernel command line (with --kernel)")
        command.add_argument("--json-errors", action="store_true", default=argparse.SUPPRESS)
        if name == "rescue":
            command.add_argument("--plan-json", metavar="FILE", help="also write the plan as JSON")
            command.add_argument(
                "--diff", action="store_true", help="print a unified diff instead of the XML"
            )
    command = commands.add_parser("unrescue", help="print the domain as it was before rescue")
    _add_input(command)
    command.add_argument("--json-errors", action="store_true", default=argparse.SUPPRESS)
    return parser


def _add_input(command: argparse.ArgumentParser) -> None:
    command.add_argument("input", nargs="?", default="-", help="domain XML file, or - for stdin")
    command.add_argument("-o", "--output", help="write here instead of stdout")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        parser.print_usage(sys.stderr)
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
    if args.command == "unrescue":
        _write_output(args.output, unrescue(domain_xml))
        return 0
    properties = _properties(args)
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
        _write_output(args.output, plan_json(plan))
        return 0
    result = rescue(domain_xml, properties, args.source, **options)
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
    raw = _read_input(path)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidImageJSON(
            f"--image-json '{path}' is not JSON ({error}); expected an object"
        ) from None
    if not isinstance(data, dict):
        raise InvalidImageJSON(
            f"--image-json '{path}' holds a {type(data).__name__}; expected an object"
        )
    nested = data.get("properties")
    if isinstance(nested, dict):
        data = nested
    elif isinstance(nested, str):
        # Older clients print properties as "key='value', key2='value2'".
        data = _parse_property_string(nested, path)
    properties = {}
    for key, value in data.items():
        if isinstance(value, str):
            properties[key] = value
        elif key.startswith("hw_"):
            raise InvalidProperties(
                f"image property {key} is {type(value).__name__} {value!r}; expected a string",
                property=key,
            )
    return properties


def _parse_property_string(text: str, path: str) -> dict[str, str]:
    properties = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidImageJSON(f"--image-json '{path}' property '{item}'; expected key='value'")
        properties[key.strip()] = value.strip().strip("'\"")
    return properties


def plan_json(plan: Plan) -> str:
    """The plan as stable, sorted JSON."""
    return (
        json.dumps(attrs.asdict(plan, value_serializer=_serialize), indent=2, sort_keys=True) + "\n"
    )


def _serialize(_: object, __: object, value: object) -> object:
    if hasattr(value, "value") and type(value).__module__ == "stable_rescue.model":
        return value.value
    if attrs.has(type(value)):
        data = attrs.asdict(value, value_serializer=_serialize)  # type: ignore[arg-type]
        return {"type": _address_type(value), **data} if "Address" in type(value).__name__ else data
    return value


def _address_type(address: object) -> str:
    names = {"DriveAddress": "drive", "UsbAddress": "usb", "PciAddress": "pci", "CcwAddress": "ccw"}
    return names.get(type(address).__name__, getattr(address, "type", ""))


def _read_input(path: str) -> bytes:
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
    """Write ``text`` in the encoding its XML declaration names (UTF-8 without one)."""
    data = _encode(text)
    if path is None or path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".stable-rescue-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            # mkstemp makes the file 0600; keep the mode a plain open() would have given.
            os.chmod(temporary, _output_mode(path))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise UnwritableOutput(
            f"cannot write '{path}' ({error.strerror}); expected a writable path", path=path
        ) from None


def _output_mode(path: str) -> int:
    """The replaced file's mode, or 0666 less the umask for a new file."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _encode(text: str) -> bytes:
    encoding = declared_encoding(text) or "utf-8"
    try:
        return text.encode(encoding, errors="xmlcharrefreplace")
    except LookupError:
        return text.encode("utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
