"""Peak resident memory of one operation, in a fresh process (issue 14's memory budget).

``python3 bench/resident.py OPERATION CASE.json`` prints one line: the growth of the process's
peak resident set (``VmHWM``) while ``OPERATION`` runs, in bytes. ``CASE.json`` holds a q35
domain's XML and the rescue request: ``{"xml", "properties", "source", "options"}``.

OPERATION is ``tree`` (``etree.fromstring`` of the input's bytes, kept: the parsed tree's
memory, the budget's unit), ``rescue`` (of the input, a ``str``) or ``unrescue`` (of the
rescue's output, a few hundred bytes longer than the input). tracemalloc cannot see libxml2's
C heap, where the tree lives; the resident set holds both.

Each measurement needs a process of its own, warmed up on a small domain, and what the warm-up
freed is handed back to the system (glibc's ``malloc_trim``) before the count starts: memory
the allocator kept would be reused and hide what the operation needs. Linux with glibc only:
the peak is reset through ``/proc/self/clear_refs``.
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys
from pathlib import Path

import synthetic  # bench/ is sys.path[0] when this file runs as a script
from lxml import etree

import stable_rescue


def _status(key: str) -> int:
    """A ``kB`` figure of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(key)


def main() -> None:
    """Measure one operation on one case and print the bytes."""
    operation, case_file = sys.argv[1:]
    case = json.loads(Path(case_file).read_text())
    xml = case["xml"]

    def rescue(domain: str) -> str:
        return stable_rescue.rescue(
            domain, case["properties"], case["source"], **case["options"]
        ).xml

    # Every module and regular expression the operation needs, loaded before the count starts,
    # on a small domain of the same kind: a warm-up on the case itself would leave memory the
    # allocator keeps and the operation reuses unseen.
    stable_rescue.unrescue(rescue(synthetic.domain(5)))
    rescued = rescue(xml) if operation == "unrescue" else ""
    data = xml.encode()
    gc.collect()
    # Give what the warm-up freed back to the system, or the operation would reuse it unseen.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status("VmRSS")
    if operation == "tree":
        kept: object = etree.fromstring(data)
    elif operation == "rescue":
        kept = rescue(xml)
    elif operation == "unrescue":
        kept = stable_rescue.unrescue(rescued)
    else:
        sys.exit(f"unknown operation {operation!r}")
    print(_status("VmHWM") - before)
    del kept


if __name__ == "__main__":
    main()
