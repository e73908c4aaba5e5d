"""Rescue throughput over the golden inputs, as a ratio to lxml parsing measured in the same run.

The ratio, not the absolute time, is the number to compare across machines:
``python bench/bench_rescue.py [ROUNDS]``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lxml import etree

import stable_rescue

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    cases = []
    for directory in sorted(GOLDEN.iterdir()):
        if (directory / "expected.xml").exists():
            props = json.loads((directory / "props.json").read_text())
            if props.get("command", "rescue") == "rescue":
                cases.append(((directory / "input.xml").read_text(), props))
    start = time.perf_counter()
    for _ in range(rounds):
        for xml, _props in cases:
            etree.fromstring(xml.encode())
    parse_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        for xml, props in cases:
            result = stable_rescue.rescue(
                xml,
                props["properties"],
                props["source"],
                source_format=props.get("source_format"),
                source_type=props.get("source_type"),
                **props.get("options", {}),
            )
            stable_rescue.unrescue(result.xml)
    rescue_seconds = time.perf_counter() - start
    count = rounds * len(cases)
    print(f"{count} rescue+unrescue round trips: {rescue_seconds / count * 1e3:.3f} ms each")
    print(f"{count} lxml parses:                  {parse_seconds / count * 1e3:.3f} ms each")
    print(f"ratio rescue+unrescue / parse: {rescue_seconds / parse_seconds:.1f}")


if __name__ == "__main__":
    main()
