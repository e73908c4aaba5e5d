"""``assert_stable_rescue``: ``verify`` as an assertion, for test suites."""

from __future__ import annotations

from stable_rescue import VerifyReport, verify


def assert_stable_rescue(original_xml: str | bytes, rescued_xml: str | bytes) -> VerifyReport:
    """The report of ``verify(original_xml, rescued_xml)``; ``AssertionError`` unless it is ok.

    The error's message lists every finding on its own line, as ``stable-rescue verify`` prints
    them, so a failing property test says what moved.
    """
    report = verify(original_xml, rescued_xml)
    if not report.ok:
        findings = "\n".join(str(finding) for finding in report.findings)
        raise AssertionError(f"not a stable rescue:\n{findings}")
    return report
