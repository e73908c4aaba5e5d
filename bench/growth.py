"""One sample of the linearity budget: each operation once, on one size, in a fresh process.

``python3 bench/growth.py DISKS`` prints a JSON object: the seconds that (a) (lxml's parse and
serialise), ``rescue()``, ``unrescue()`` and ``verify()`` each took once on the synthetic q35
domain of DISKS disks (bench/synthetic.py).

bench_rescue.py runs this alternately for 1,000 and 10,000 disks and compares the medians. In
one long-lived process the two sizes disturb each other: whichever runs after a 10,000-disk
domain pays for the memory that domain freed being handed back and faulted in again, so the
ratio depended on the order of the measurements. Here each sample starts alike: a process
warmed up on a 5-disk domain (imports, compiled regular expressions), with nothing else in it.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import synthetic  # bench/ is sys.path[0] when this file runs as a script
from lxml import etree

import stable_rescue

_T = TypeVar("_T")


def _seconds(call: Callable[[], _T]) -> tuple[float, _T]:
    """How long ``call`` took, and what it returned."""
    gc.collect()
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> None:
    """Time each operation once on the domain of ``sys.argv[1]`` disks; print the seconds."""
    disks = int(sys.argv[1])
    properties, source = synthetic.VIRTIO_RESCUE, synthetic.RESCUE_ISO
    small = synthetic.domain(5)
    small_rescued = stable_rescue.rescue(small, properties, source).xml
    stable_rescue.verify(small, small_rescued)
    stable_rescue.unrescue(small_rescued)
    xml = synthetic.domain(disks)
    data = xml.encode()
    seconds = {}
    seconds["parse"], _ = _seconds(lambda: etree.tostring(etree.fromstring(data)))
    seconds["rescue"], result = _seconds(lambda: stable_rescue.rescue(xml, properties, source))
    seconds["unrescue"], restored = _seconds(lambda: stable_rescue.unrescue(result.xml))
    seconds["verify"], report = _seconds(lambda: stable_rescue.verify(xml, result.xml))
    # A figure of a broken rescue would be no figure at all.
    if restored != xml or not report.ok:
        sys.exit(f"{disks} disks: the rescue did not round-trip or verify")
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
