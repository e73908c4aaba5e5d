"""Golden cases: input XML + properties -> expected XML or expected error, byte for byte."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

import stable_rescue
from tests.golden_cases import GoldenCase, golden_cases

CASES = golden_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_golden(case: GoldenCase, request: pytest.FixtureRequest) -> None:
    """rescue() or unrescue() gives exactly the reviewed expected output (or error)."""
    update = bool(request.config.getoption("--update-golden"))
    try:
        actual = case.output()
    except stable_rescue.RescueError as error:
        actual_error = {"code": error.code, "message": error.message}
        if update:
            case.expected_xml_path.unlink(missing_ok=True)
            case.expected_error_path.write_text(
                json.dumps(actual_error, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            return
        assert not case.expected_xml_path.exists(), f"expected XML, got error {actual_error}"
        assert case.expected_error_path.exists(), f"{case.name}: no expected file (--update-golden)"
        expected_error = json.loads(case.expected_error_path.read_text(encoding="utf-8"))
        assert actual_error == expected_error
        return
    if update:
        case.expected_error_path.unlink(missing_ok=True)
        case.expected_xml_path.write_text(actual, encoding="utf-8")
        return
    assert not case.expected_error_path.exists(), f"expected an error, got XML for {case.name}"
    assert case.expected_xml_path.exists(), f"{case.name}: no expected file (--update-golden)"
    expected = case.expected_xml_path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile="expected.xml",
                tofile="actual",
            )
        )
        pytest.fail(f"{case.name} differs from expected.xml:\n{diff}")


RESCUES = [case for case in CASES if case.is_rescue]


@pytest.mark.parametrize("case", RESCUES, ids=[case.name for case in RESCUES])
def test_golden_unrescue_round_trip(case: GoldenCase) -> None:
    """unrescue(rescue(x).xml) == x, byte for byte, for every golden input that rescues."""
    if case.expected_error_path.exists():
        with pytest.raises(stable_rescue.RescueError):
            case.run()
        return
    assert stable_rescue.unrescue(case.run().xml) == case.input_xml


# Rules of docs/policy.md that golden cases show byte for byte, and the cases that show each: the
# reviewed expected files are the evidence, so these rules need no test of their own.
RULE_CASES = {
    "T5": ("pc-scsi-hostdevs",),  # sdh, whose derived address is free; unit 0 of a new controller
    "V1": ("aarch64-virtio-new-root-port", "aarch64-virtio-spare-root-port"),
    "V3": ("aarch64-usb-no-controller", "aarch64-usb-none"),
    "V4": ("aarch64-sata-disk", "aarch64-scsi-cdrom-default", "aarch64-scsi-virtio-scsi"),
    "K5": ("pc-kernel-boot", "pc-kernel-replaced", "unrescue-pc-kernel-replaced-dump"),
    "S1": ("q35-uefi-secure-boot",),
    "O3": ("pc-virtio-disk", "pc-ide-disk"),
    "O4": ("pc-scsi-no-controller", "q35-virtio-new-root-port", "pc-virtio-one-free-slot"),
    "O5": ("pc-block-source", "pc-rbd-source", "pc-iscsi-source", "pc-ide-cdrom-default"),
    "R1": ("pc-virtio-disk",),
}


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_rule_cases_are_golden_cases(rule: str) -> None:
    """Each case ``RULE_CASES`` names for a rule is a golden case (a renamed case fails here)."""
    names = {case.name for case in CASES}
    assert set(RULE_CASES[rule]) <= names


def test_policy_shows_the_record_of_its_golden_case() -> None:
    """Rule R1's example in docs/policy.md is the record golden case ``pc-virtio-disk`` writes."""
    policy = (Path(__file__).resolve().parent.parent / "docs" / "policy.md").read_text("utf-8")
    case = next(case for case in CASES if case.name == "pc-virtio-disk")
    expected = case.expected_xml_path.read_text(encoding="utf-8")

    def record(text: str) -> list[str]:
        lines = (line.strip() for line in text.splitlines())
        return [line for line in lines if line.startswith(("<stable-rescue:", "</stable-rescue:"))]

    assert record(expected)
    assert record(policy) == record(expected)
