"""Golden cases: input XML + properties -> expected XML or expected error, byte for byte."""

from __future__ import annotations

import difflib
import json

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
