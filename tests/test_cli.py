"""The stable-rescue command line, run in-process: files, stdin, stdout, exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stable_rescue
from stable_rescue import cli
from stable_rescue.cli import main
from tests.golden_cases import GOLDEN

CASE = "pc-virtio-disk"
SOURCE = "/var/lib/libvirt/images/rescue.img"
USB = ["--property", "hw_rescue_bus=usb", "--source", SOURCE, "--source-format", "raw"]


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    """A copy of a golden input (pc, virtio root disk, piix3-uhci USB) in tmp_path."""
    path = tmp_path / "domain.xml"
    path.write_bytes((GOLDEN / CASE / "input.xml").read_bytes())
    return path


def expected_xml(domain: Path, properties: dict[str, str]) -> str:
    """What the library gives for the same rescue."""
    text = domain.read_text(encoding="utf-8")
    return stable_rescue.rescue(text, properties, SOURCE, source_format="raw").xml


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line on stderr (fails unless there is exactly one, and stdout is empty)."""
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    return lines[0]


def test_rescue_to_stdout(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rescue command prints exactly the library's rescued XML on stdout, and exits 0."""
    assert main(["rescue", str(domain), *USB]) == 0
    captured = capsys.readouterr()
    assert captured.out == expected_xml(domain, {"hw_rescue_bus": "usb"})
    assert captured.err == ""
    assert "<target dev='sda' bus='usb'/>" in captured.out


def test_rescue_to_file(domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o writes the rescued XML to the file and nothing to stdout; no temporary file is left."""
    output = tmp_path / "rescued.xml"
    assert main(["rescue", str(domain), *USB, "-o", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == expected_xml(domain, {"hw_rescue_bus": "usb"})
    assert capsys.readouterr().out == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml", "rescued.xml"]


def test_failing_rescue_writes_no_file(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rescue that fails leaves no output file and no temporary file behind."""
    output = tmp_path / "rescued.xml"
    argv = ["rescue", str(domain), "--property", "hw_rescue_bus=nvme", "--source", SOURCE]
    assert main([*argv, "--source-format", "raw", "-o", str(output)]) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["domain.xml"]
    assert error_line(capsys) == (
        "stable-rescue: error[unsupported-rescue-bus]: hw_rescue_bus 'nvme'; "
        "expected one of virtio, scsi, sata, ide, usb, fdc"
    )


def test_failing_rescue_keeps_existing_output(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing rescue leaves an existing output file as it was."""
    output = tmp_path / "rescued.xml"
    output.write_text("previous\n", encoding="utf-8")
    assert (
        main(
            [
                "rescue",
                str(domain),
                "--property",
                "hw_rescue_bus=fdc",
                "-o",
                str(output),
                "--source",
                SOURCE,
                "--source-format",
                "raw",
            ]
        )
        == 1
    )
    assert output.read_text(encoding="utf-8") == "previous\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml", "rescued.xml"]
    assert error_line(capsys) == (
        "stable-rescue: error[unsupported-device-for-bus]: device 'disk' on bus 'fdc'; "
        "expected device 'floppy'"
    )


def test_unwritable_output_leaves_no_temporary_file(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory as the output is refused before anything is written; nothing is left."""
    output = tmp_path / "taken"
    output.mkdir()
    assert main(["rescue", str(domain), *USB, "-o", str(output)]) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml", "taken"]
    assert list(output.iterdir()) == []
    assert error_line(capsys) == (
        f"stable-rescue: error[unwritable-output]: cannot write '{output}' (it is a directory); "
        "expected a regular file, a character device or a FIFO"
    )


def test_plan_prints_json(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The plan command prints the plan as JSON: target, bus, typed address, boot order."""
    assert main(["plan", str(domain), *USB]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["target"] == "sda"
    assert plan["bus"] == "usb"
    assert plan["device_type"] == "disk"
    assert plan["address"] == {"type": "usb", "bus": 0, "port": [1]}
    assert plan["boot_order"] == 1
    assert plan["mode"] == "stable"
    assert plan["source"]["path"] == SOURCE


def test_plan_json_pci_address(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A PCI address is labelled with its type: pci-root slots 1-5 are used, so slot 6."""
    argv = ["plan", str(domain), "--property", "hw_rescue_bus=virtio", "--source", SOURCE]
    assert main([*argv, "--source-format", "raw"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["target"] == "vdb"
    assert plan["address"] == {
        "type": "pci",
        "domain": 0,
        "bus": 0,
        "slot": 6,
        "function": 0,
        "multifunction": False,
    }


def test_rescue_plan_json_file(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plan-json writes the same plan as the plan command, besides the XML on stdout."""
    plan_file = tmp_path / "plan.json"
    assert main(["rescue", str(domain), *USB, "--plan-json", str(plan_file)]) == 0
    rescued = capsys.readouterr().out
    assert rescued == expected_xml(domain, {"hw_rescue_bus": "usb"})
    assert main(["plan", str(domain), *USB]) == 0
    assert plan_file.read_text(encoding="utf-8") == capsys.readouterr().out


def test_rescue_diff(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--diff prints a unified diff from the input to the rescued XML instead of the XML."""
    assert main(["rescue", str(domain), *USB, "--diff"]) == 0
    diff = capsys.readouterr().out
    assert diff.startswith(f"--- {domain}\n+++ rescued\n@@ ")
    assert "\n+    <disk type='file' device='disk'>\n" in diff
    assert "\n+      <target dev='sda' bus='usb'/>\n" in diff
    assert "\n-    <boot dev='hd'/>\n" in diff


def test_unrescue_round_trip_via_files(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running rescue -o, then unrescue -o, gives back the input file byte for byte."""
    rescued = tmp_path / "rescued.xml"
    restored = tmp_path / "restored.xml"
    assert main(["rescue", str(domain), *USB, "-o", str(rescued)]) == 0
    assert rescued.read_bytes() != domain.read_bytes()
    assert main(["unrescue", str(rescued), "-o", str(restored)]) == 0
    assert restored.read_bytes() == domain.read_bytes()
    assert capsys.readouterr() == ("", "")


def test_round_trip_keeps_declared_encoding(tmp_path: Path) -> None:
    """A file in its declared encoding comes back byte for byte through rescue and unrescue."""
    text = (GOLDEN / CASE / "input.xml").read_text(encoding="utf-8")
    text = "<?xml version='1.0' encoding='ISO-8859-1'?>\n" + text.replace(
        "<uuid>", "<description>caf\u00e9</description>\n  <uuid>"
    )
    original = tmp_path / "latin1.xml"
    original.write_bytes(text.encode("latin-1"))
    rescued, restored = tmp_path / "rescued.xml", tmp_path / "restored.xml"
    assert main(["rescue", str(original), *USB, "-o", str(rescued)]) == 0
    assert main(["unrescue", str(rescued), "-o", str(restored)]) == 0
    assert restored.read_bytes() == original.read_bytes()


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("argv", [["rescue", "-"], ["rescue"]], ids=["dash", "default"])
def test_rescue_from_stdin(
    argv: list[str],
    domain: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """'-' (the default) reads the domain XML from stdin."""
    _stdin(monkeypatch, domain.read_bytes())
    assert main([*argv, *USB]) == 0
    assert capsys.readouterr().out == expected_xml(domain, {"hw_rescue_bus": "usb"})


def test_unrescue_from_stdin(
    domain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unrescue command reads stdin and prints the original domain."""
    _stdin(monkeypatch, expected_xml(domain, {"hw_rescue_bus": "usb"}).encode("utf-8"))
    assert main(["unrescue", "-"]) == 0
    assert capsys.readouterr().out == domain.read_text(encoding="utf-8")


def test_diff_from_stdin_names_stdin(
    domain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The diff of stdin input is labelled 'stdin'."""
    _stdin(monkeypatch, domain.read_bytes())
    assert main(["rescue", "-", *USB, "--diff"]) == 0
    assert capsys.readouterr().out.startswith("--- stdin\n+++ rescued\n")


OPENSTACK_IMAGE_SHOW: dict[str, Any] = {
    "checksum": "0f3b5e6c9f1c4f3c2d0f9a1e7b6d5c4a",
    "container_format": "bare",
    "disk_format": "raw",
    "id": "7c7e2a3f-2f8a-4cbe-bb5e-0b1a4d9c6a11",
    "min_disk": 0,
    "name": "rescue",
    "properties": {
        "hw_rescue_bus": "usb",
        "hw_rescue_device": "disk",
        "os_hash_algo": "sha512",
        "os_hidden": False,
        "stores": "ceph",
    },
    "protected": False,
    "size": 1048576,
    "status": "active",
    "tags": [],
}


@pytest.mark.parametrize(
    "document",
    [OPENSTACK_IMAGE_SHOW, {"hw_rescue_bus": "usb", "hw_rescue_device": "disk"}],
    ids=["openstack-image-show", "flat"],
)
def test_image_json(
    document: dict[str, Any],
    domain: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--image-json reads properties nested under 'properties', or a flat object."""
    image = tmp_path / "image.json"
    image.write_text(json.dumps(document), encoding="utf-8")
    argv = ["plan", str(domain), "--image-json", str(image), "--source", SOURCE]
    assert main([*argv, "--source-format", "raw"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["bus"], plan["device_type"], plan["target"]) == ("usb", "disk", "sda")


def test_property_overrides_image_json(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--property given on the command line wins over the same key from --image-json."""
    image = tmp_path / "image.json"
    image.write_text(json.dumps(OPENSTACK_IMAGE_SHOW), encoding="utf-8")
    argv = ["plan", str(domain), "--image-json", str(image), "--property", "hw_rescue_bus=sata"]
    assert main([*argv, "--source", SOURCE, "--source-format", "raw"]) == 0
    assert json.loads(capsys.readouterr().out)["bus"] == "sata"


IMAGE_JSON_REFUSED = [
    pytest.param(
        "{not json",
        "invalid-image-json",
        "--image-json '{path}' is not JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)); expected an object",
        id="not-json",
    ),
    pytest.param(
        "",
        "invalid-image-json",
        "--image-json '{path}' is not JSON (Expecting value: line 1 column 1 (char 0)); "
        "expected an object",
        id="empty",
    ),
    pytest.param(
        '["hw_rescue_bus"]',
        "invalid-image-json",
        "--image-json '{path}' holds a list; expected an object",
        id="list",
    ),
    pytest.param(
        '{"properties": {"hw_rescue_bus": 5}}',
        "invalid-properties",
        "image property hw_rescue_bus is int 5; expected a string",
        id="non-string-hw-property",
    ),
]


@pytest.mark.parametrize(("content", "code", "message"), IMAGE_JSON_REFUSED)
def test_image_json_refused(
    content: str,
    code: str,
    message: str,
    domain: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad --image-json exits 1 with its code and one stderr line."""
    image = tmp_path / "image.json"
    image.write_text(content, encoding="utf-8")
    argv = ["plan", str(domain), "--image-json", str(image), "--source", SOURCE]
    assert main([*argv, "--source-format", "raw"]) == 1
    assert error_line(capsys) == f"stable-rescue: error[{code}]: {message.format(path=image)}"


def test_error_line(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A RescueError exits 1 with exactly one line 'stable-rescue: error[CODE]: message'."""
    assert main(["rescue", str(domain), "--property", "hw_rescue_bus=usb", "--source", SOURCE]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"stable-rescue: error[source-format-required]: format of source '{SOURCE}' is not "
        "given; expected --source-format (it is never probed from the content)\n"
    )


@pytest.mark.parametrize(
    "position", ["before-command", "after-command"], ids=["global", "subcommand"]
)
def test_json_errors(position: str, domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json-errors prints one JSON object with code and message instead of the text line."""
    argv = ["rescue", str(domain), "--property", "hw_rescue_bus=usb", "--source", SOURCE]
    argv = ["--json-errors", *argv] if position == "before-command" else [*argv, "--json-errors"]
    assert main(argv) == 1
    error = json.loads(error_line(capsys))
    assert error["code"] == "source-format-required"
    assert error["message"] == (
        f"format of source '{SOURCE}' is not given; expected --source-format "
        "(it is never probed from the content)"
    )


def test_unrescue_not_rescued(domain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unrescuing a domain that was never rescued exits 1 with not-rescued."""
    assert main(["unrescue", str(domain)]) == 1
    assert error_line(capsys) == (
        "stable-rescue: error[not-rescued]: domain carries no rescue record; "
        "expected one written by rescue"
    )


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input file that cannot be read exits 1 with unreadable-input."""
    missing = tmp_path / "absent.xml"
    assert main(["rescue", str(missing), *USB]) == 1
    assert error_line(capsys) == (
        f"stable-rescue: error[unreadable-input]: cannot read '{missing}' "
        "(No such file or directory); expected a readable file"
    )


def test_missing_image_json_file(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing --image-json file is unreadable-input too."""
    missing = tmp_path / "image.json"
    assert main(["plan", str(domain), "--image-json", str(missing), "--source", SOURCE]) == 1
    assert error_line(capsys) == (
        f"stable-rescue: error[unreadable-input]: cannot read '{missing}' "
        "(No such file or directory); expected a readable file"
    )


# (argv, the message after "stable-rescue: usage error: ", whether it is the whole line).
# argparse's own wording differs between Python versions, so only its stable start is checked.
USAGE_ERRORS = [
    pytest.param(
        ["rescue", "{domain}", "--property", "hw_rescue_bus=usb"],
        "the following arguments are required: --source",
        True,
        id="missing-source",
    ),
    pytest.param(
        ["rescue", "{domain}", "--property", "hw_rescue_bus", "--source", SOURCE],
        "--property 'hw_rescue_bus'; expected KEY=VALUE",
        True,
        id="property-without-equals",
    ),
    pytest.param(
        ["rescue", "{domain}", "--property", "=usb", "--source", SOURCE],
        "--property '=usb'; expected KEY=VALUE",
        True,
        id="property-without-key",
    ),
    pytest.param([], "the following arguments are required: command", True, id="no-command"),
    pytest.param(
        ["rescue", "{domain}", "--source", SOURCE, "--source-type", "nbd"],
        "argument --source-type: invalid choice: ",
        False,
        id="bad-source-type",
    ),
    pytest.param(["frobnicate"], "argument command: invalid choice: ", False, id="unknown-command"),
]


@pytest.mark.parametrize(("argv", "message", "whole"), USAGE_ERRORS)
def test_usage_errors(
    argv: list[str],
    message: str,
    whole: bool,
    domain: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad usage exits 2 with a 'usage error' line last on stderr and nothing on stdout."""
    assert main([arg.format(domain=domain) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    last = captured.err.splitlines()[-1]
    if whole:
        assert last == f"stable-rescue: usage error: {message}"
    else:
        assert last.startswith(f"stable-rescue: usage error: {message}")


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["plan", "{domain}", *USB], 0),
        (["plan", "{domain}", "--property", "hw_rescue_bus=nvme", "--source", SOURCE], 1),
        (["plan", "{domain}"], 2),
    ],
    ids=["ok", "rescue-error", "usage"],
)
def test_module_entry_point(argv: list[str], code: int, domain: Path, tmp_path: Path) -> None:
    """The module entry point (python -m stable_rescue) exits with the command's code."""
    completed = subprocess.run(
        [sys.executable, "-m", "stable_rescue", *(arg.format(domain=domain) for arg in argv)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert completed.returncode == code, completed.stderr
    assert "Traceback" not in completed.stderr
    if code == 0:
        assert json.loads(completed.stdout)["target"] == "sda"
    else:
        assert completed.stdout == ""


def test_legacy_rescue_and_unrescue_through_files(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --property and --legacy: legacy mode; the plan says so, and unrescue gives the input."""
    rescued, plan_file = tmp_path / "rescued.xml", tmp_path / "plan.json"
    argv = ["rescue", str(domain), "--legacy", "--source", SOURCE, "--source-format", "raw"]
    assert main([*argv, "-o", str(rescued), "--plan-json", str(plan_file)]) == 0
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    assert (plan["mode"], plan["target"], plan["root_moved"]["target"]) == ("legacy", "vda", "vdb")
    assert rescued.read_text(encoding="utf-8") == expected_xml(domain, {})
    assert main(["unrescue", str(rescued)]) == 0
    assert capsys.readouterr().out == domain.read_text(encoding="utf-8")


def test_unrescue_of_damaged_record_fails_cleanly(
    domain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record whose removed text is not a disk: exit 1, invalid-rescue-record, no output."""
    rescued = tmp_path / "rescued.xml"
    rescued.write_text(
        expected_xml(domain, {}).replace("&lt;disk type", "&lt;disc type", 1), encoding="utf-8"
    )
    output = tmp_path / "restored.xml"
    assert main(["unrescue", str(rescued), "-o", str(output)]) == 1
    assert error_line(capsys).startswith("stable-rescue: error[invalid-rescue-record]: ")
    assert not output.exists()


def test_interrupt_exits_130(
    domain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C exits 130, as a shell reports SIGINT, without a traceback (before: one)."""

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    assert main(["rescue", str(domain), *USB]) == 130
    assert capsys.readouterr() == ("", "")


def test_interrupt_leaves_no_temporary_file(
    domain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while -o is written: the output is left as it was, the temporary file removed."""
    output = tmp_path / "rescued.xml"
    output.write_text("previous\n", encoding="utf-8")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    assert main(["rescue", str(domain), *USB, "-o", str(output)]) == 130
    assert output.read_text(encoding="utf-8") == "previous\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml", "rescued.xml"]


LONG = "v" * 1000
CUT = "v" * 200 + "... (1000 characters)"


@pytest.mark.parametrize(
    ("message", "context", "expected"),
    [
        pytest.param("short 'value'", [], "short 'value'", id="short"),
        pytest.param(f"bus '{LONG}'; expected", [], f"bus '{CUT}'; expected", id="quoted"),
        pytest.param(f'bus "{LONG}"; expected', [], f'bus "{CUT}"; expected', id="double"),
        pytest.param(f"bus {LONG}; expected", [LONG], f"bus {CUT}; expected", id="context"),
        pytest.param(
            f"a '{LONG}' and '{LONG}' end", [LONG], f"a '{CUT}' and '{CUT}' end", id="twice"
        ),
        pytest.param("it's 'x' and isn't", [], "it's 'x' and isn't", id="apostrophes"),
    ],
)
def test_long_values_capped(message: str, context: list[object], expected: str) -> None:
    """Every long value in a message is cut to 200 characters with its length; text stays."""
    assert cli._capped(message, context) == expected


def test_long_line_keeps_start_and_end() -> None:
    """A line still over 2000 characters (a long unquoted run) keeps its start and its end."""
    line = cli._capped("start " + "w " * 5000 + "end")
    assert line.startswith("start w w ")
    assert line.endswith(" w w end")
    assert "(10009 characters in all)" in line
    assert len(line) < 2100
