"""The ``verify`` command: whether RESCUED is a stable rescue of ORIGINAL.

Exit 0 for a stable rescue, 1 and every finding for anything else, 2 for a usage error, and the
usual error line for unreadable input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stable_rescue.cli import main
from tests.golden_cases import GOLDEN

STABLE = GOLDEN / "q35-scsi-virtio-scsi"
LEGACY = GOLDEN / "legacy-pc-nova-layout"


def pair(case: Path) -> list[str]:
    return [str(case / "input.xml"), str(case / "expected.xml")]


def test_stable_rescue_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *pair(STABLE)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok: a stable rescue, rescue disk sdb (scsi)\n"
    assert captured.err == ""


def test_legacy_rescue_lists_each_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *pair(LEGACY)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "retargeted disk",
        "moved disk",
        "changed disk",
        "removed disk",
        "removed disk",
    ]
    assert lines[0] == "retargeted disk:vda: disk vda is now disk vdb"


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *pair(LEGACY), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["mode"] == "legacy"
    assert report["rescue_device"]["target"] == "vda"
    assert report["rescue_device"]["address"]["type"] == "pci"
    assert {finding["kind"] for finding in report["findings"]} == {
        "retargeted",
        "moved",
        "changed",
        "removed",
    }


def test_one_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(STABLE / "input.xml")]) == 2
    assert "the following arguments are required: RESCUED" in capsys.readouterr().err


def test_both_from_stdin_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "-", "-"]) == 2
    assert "both read stdin" in capsys.readouterr().err


def test_unreadable_input_is_the_usual_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.xml"
    assert main(["verify", str(missing), str(STABLE / "expected.xml"), "--json-errors"]) == 1
    error = json.loads(capsys.readouterr().err)
    assert error["code"] == "unreadable-input"


def test_not_a_domain_is_the_usual_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<domain>", encoding="utf-8")
    assert main(["verify", str(STABLE / "input.xml"), str(broken)]) == 1
    assert capsys.readouterr().err.startswith("stable-rescue: error[invalid-domain-xml]: ")
