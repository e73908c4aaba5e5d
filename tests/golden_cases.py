"""Loading and running the golden cases under ``tests/golden/<case>/``.

A case is ``input.xml`` and ``props.json`` (``properties``, ``source``, optional
``source_format``, ``source_type`` and ``options``), and exactly one of ``expected.xml`` or
``expected-error.json`` (``{"code": ..., "message": ...}``).

An unrescue case has ``"command": "unrescue"`` in ``props.json`` instead; when its input is
libvirt's dump of a rescued domain, ``"original"`` names the golden case whose input was rescued.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

import stable_rescue

GOLDEN = Path(__file__).parent / "golden"


@attrs.frozen(kw_only=True)
class GoldenCase:
    """One directory of ``tests/golden``."""

    name: str
    directory: Path
    input_xml: str
    props: dict[str, Any]

    @property
    def expected_xml_path(self) -> Path:
        return self.directory / "expected.xml"

    @property
    def expected_error_path(self) -> Path:
        return self.directory / "expected-error.json"

    @property
    def is_rescue(self) -> bool:
        """Whether the case runs ``rescue`` (else ``unrescue``)."""
        return bool(self.props.get("command", "rescue") == "rescue")

    def output(self) -> str:
        """The XML the case's command gives (raises what the command raises)."""
        if self.is_rescue:
            return self.run().xml
        return stable_rescue.unrescue(self.input_xml)

    def run(self) -> stable_rescue.RescueResult:
        """The rescue this case describes (raises what ``rescue`` raises)."""
        assert self.is_rescue, f"{self.name} is an unrescue case"
        props = self.props
        return stable_rescue.rescue(
            self.input_xml,
            props["properties"],
            props["source"],
            source_format=props.get("source_format"),
            source_type=props.get("source_type"),
            **props.get("options", {}),
        )


def golden_cases() -> list[GoldenCase]:
    """Every case, sorted by name."""
    cases = []
    for directory in sorted(path for path in GOLDEN.iterdir() if path.is_dir()):
        cases.append(
            GoldenCase(
                name=directory.name,
                directory=directory,
                input_xml=(directory / "input.xml").read_text(encoding="utf-8"),
                props=json.loads((directory / "props.json").read_text(encoding="utf-8")),
            )
        )
    return cases
