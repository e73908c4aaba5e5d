"""Time rescue, unrescue and verify of one very large domain: 100,000 devices by default.

Issue 12 asks that a 100,000-device domain be rescued in under 10 s. ``synthetic.domain`` cannot
reach that many (each of its virtio disks needs a PCI slot of its own, and there are 255 buses),
so this takes its 10,000-disk domain and adds SCSI disks on its first virtio-scsi controller, at
targets 1 and up (16,384 units a target), which libvirt allows.

``python3 bench/scale.py [--disks N] [--runs R]`` prints each run's times, and checks that
``unrescue(rescue(x)) == x`` and that ``verify`` calls the rescue ok. It asserts no time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # the directory is put on the path just above
from lxml import etree

import stable_rescue

BASE_DISKS = 10_000
UNITS_PER_TARGET = 16_384  # virtio-scsi: units 0 to 16383 on each target


def large_domain(disks: int) -> str:
    """``synthetic.domain(10,000)`` with SCSI disks added up to ``disks`` disks in all."""
    base = synthetic.domain(BASE_DISKS, name=f"bench-scale-{disks}")
    first_scsi_name = BASE_DISKS // 2  # the name after synthetic's own SCSI disks (half of them)
    extra = []
    for index in range(disks - BASE_DISKS):
        target, unit = divmod(index, UNITS_PER_TARGET)
        name = synthetic.disk_name("sd", first_scsi_name + index)
        extra.append(
            "    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='raw'/>\n"
            f"      <source file='/var/lib/libvirt/images/scale-{index}.img'/>\n"
            f"      <target dev='{name}' bus='scsi'/>\n"
            f"      <address type='drive' controller='0' bus='0' target='{target + 1}' "
            f"unit='{unit}'/>\n"
            "    </disk>\n"
        )
    return base.replace("  </devices>", "".join(extra) + "  </devices>", 1)


def main() -> None:
    """Build the domain once, then time each operation ``--runs`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", type=int, default=100_000, help="at least 10,000")
    parser.add_argument("--runs", type=int, default=2)
    arguments = parser.parse_args()
    if arguments.disks < BASE_DISKS:
        parser.error(f"--disks must be at least {BASE_DISKS}")
    xml = large_domain(arguments.disks)
    devices = len(etree.fromstring(xml.encode()).findall("devices/*")) - 1  # not <emulator>
    print(f"{len(xml.encode()) / 1e6:.1f} MB, {xml.count('<disk ')} disks, {devices} devices")
    for run in range(1, arguments.runs + 1):
        start = time.perf_counter()
        rescued = stable_rescue.rescue(xml, synthetic.VIRTIO_RESCUE, synthetic.RESCUE_ISO).xml
        rescue_done = time.perf_counter()
        restored = stable_rescue.unrescue(rescued)
        unrescue_done = time.perf_counter()
        report = stable_rescue.verify(xml, rescued)
        verify_done = time.perf_counter()
        print(
            f"run {run}: rescue {rescue_done - start:.2f} s, "
            f"unrescue {unrescue_done - rescue_done:.2f} s, "
            f"verify {verify_done - unrescue_done:.2f} s; "
            f"exact inverse {restored == xml}, verify ok {report.ok}"
        )
        if restored != xml or not report.ok:
            sys.exit("the rescue of the large domain is wrong")


if __name__ == "__main__":
    main()
