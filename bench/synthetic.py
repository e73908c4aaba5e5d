"""Deterministic q35 domains with many disks, shaped as ``virsh dumpxml --inactive`` prints them.

Half the disks are virtio-scsi units (``sda`` ...), seven to a virtio-scsi controller (units 0
to 6, bus 0, target 0: the geometry of docs/policy.md rule D3), half are virtio disks
(``vda`` ...). Every PCI endpoint (the disks, the SCSI controllers, USB, network, balloon) has
a ``pcie-root-port`` of its own while bus 0 has room for them; past that, the rest sit 31 to a
``pci-bridge``, 31 bridges behind a ``pcie-to-pci-bridge`` on a root port of its own, with as
many endpoints kept on root ports as the 255 PCI bus numbers allow. One empty root port comes
last on bus 0, as libvirt leaves one spare, so a virtio rescue has a port to take.

``python3 bench/synthetic.py DISKS [--name NAME] > domain.xml`` prints one; the libvirt check
in docs/performance.md defines such a file with ``virsh define``.
"""

from __future__ import annotations

import argparse
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

SCSI_UNITS = 7  # policy rule D3: units 0 to 6 of bus 0, target 0
ROOT_SLOTS = range(2, 0x1F)  # 00:01.0 is the VGA; slot 0x1f is the q35 chipset (rule E3)
ROOT_PORTS = len(ROOT_SLOTS) * 8  # functions 0 to 7 of each slot
BRIDGE_SLOTS = range(1, 32)  # slot 0 of a bridge is its hot-plug controller (rule P1)
MAX_BUSES = 255  # bus numbers are 8 bits; bus 0 is pcie-root
# The rescue the benchmarks time on these domains: a virtio disk, from this ISO.
VIRTIO_RESCUE = {"hw_rescue_bus": "virtio", "hw_rescue_device": "disk"}
RESCUE_ISO = "/var/lib/libvirt/images/rescue.iso"


@dataclass(frozen=True)
class Pci:
    """A PCI address; ``multifunction`` is printed on function 0 of a slot with more functions."""

    bus: int
    slot: int
    function: int = 0
    multifunction: bool = False

    def xml(self) -> str:
        """The ``<address>`` element as libvirt prints it."""
        extra = " multifunction='on'" if self.multifunction else ""
        return (
            f"<address type='pci' domain='0x0000' bus='0x{self.bus:02x}' "
            f"slot='0x{self.slot:02x}' function='0x{self.function:x}'{extra}/>"
        )


def disk_name(prefix: str, index: int) -> str:
    """``prefix`` and the bijective base-26 letters of ``index`` (policy rule T2: 0 is ``a``)."""
    letters = ""
    index += 1
    while index:
        index, digit = divmod(index - 1, 26)
        letters = chr(ord("a") + digit) + letters
    return prefix + letters


def _split(endpoints: int) -> tuple[int, int]:
    """How many endpoints get a root port of their own, and how many bridge trees hold the rest."""
    if endpoints + 1 <= ROOT_PORTS:
        return endpoints, 0
    for direct in range(ROOT_PORTS - 1, -1, -1):
        bridges = math.ceil((endpoints - direct) / len(BRIDGE_SLOTS))
        trees = math.ceil(bridges / len(BRIDGE_SLOTS))
        ports = direct + trees + 1
        # Each tree is a root port, a pcie-to-pci-bridge and its pci-bridges: one bus each.
        if ports <= ROOT_PORTS and ports + trees + bridges <= MAX_BUSES:
            return direct, trees
    raise ValueError(f"{endpoints} PCI endpoints do not fit in {MAX_BUSES} PCI buses")


class _Layout:
    """The PCI controllers of the domain and the address each endpoint gets, in endpoint order."""

    def __init__(self, endpoints: int) -> None:
        direct, trees = _split(endpoints)
        ports = direct + trees + 1
        self.controllers: list[str] = ["<controller type='pci' index='0' model='pcie-root'/>"]
        self.addresses: list[Pci] = []
        for index in range(1, ports + 1):
            slot, function = ROOT_SLOTS[(index - 1) // 8], (index - 1) % 8
            shared = function == 0 and index < ports  # another port follows in this slot
            self._controller(
                index,
                "pcie-root-port",
                "pcie-root-port",
                f"<target chassis='{index}' port='0x{slot * 8 + function:x}'/>",
                Pci(0, slot, function, shared),
            )
            if index <= direct:
                self.addresses.append(Pci(index, 0))
        index = ports
        upstream = []
        for tree in range(trees):
            index += 1
            upstream.append(index)
            self._controller(
                index, "pcie-to-pci-bridge", "pcie-pci-bridge", None, Pci(direct + 1 + tree, 0)
            )
        for bridge in range(math.ceil((endpoints - direct) / len(BRIDGE_SLOTS))):
            index += 1
            tree, slot = divmod(bridge, len(BRIDGE_SLOTS))
            self._controller(
                index,
                "pci-bridge",
                "pci-bridge",
                f"<target chassisNr='{index}'/>",
                Pci(upstream[tree], BRIDGE_SLOTS[slot]),
            )
            for slot in BRIDGE_SLOTS:
                if len(self.addresses) < endpoints:
                    self.addresses.append(Pci(index, slot))

    def _controller(
        self, index: int, model: str, name: str, target: str | None, address: Pci
    ) -> None:
        lines = [
            f"<controller type='pci' index='{index}' model='{model}'>",
            f"  <model name='{name}'/>",
            *([f"  {target}"] if target else []),
            f"  {address.xml()}",
            "</controller>",
        ]
        self.controllers.extend(lines)


def _disk(name: str, bus: str, address: str, image: str) -> Iterator[str]:
    yield "<disk type='file' device='disk'>"
    yield "  <driver name='qemu' type='qcow2'/>"
    yield f"  <source file='/var/lib/libvirt/images/{image}-{name}.qcow2'/>"
    yield f"  <target dev='{name}' bus='{bus}'/>"
    yield f"  {address}"
    yield "</disk>"


def domain(disks: int, name: str | None = None) -> str:
    """A q35 domain with ``disks`` disks: ``disks // 2`` SCSI units, the rest virtio disks."""
    name = name or f"bench-synthetic-{disks}"
    scsi_disks = disks // 2
    virtio_disks = disks - scsi_disks
    scsi_controllers = math.ceil(scsi_disks / SCSI_UNITS)
    # Endpoint order: USB, network, balloon, the SCSI controllers, then the virtio disks.
    layout = _Layout(3 + scsi_controllers + virtio_disks)
    usb, net, balloon = layout.addresses[:3]
    scsi_addresses = layout.addresses[3 : 3 + scsi_controllers]
    virtio_addresses = layout.addresses[3 + scsi_controllers :]
    devices = ["<emulator>/usr/bin/qemu-system-x86_64</emulator>"]
    for index, address in enumerate(virtio_addresses):
        devices.extend(_disk(disk_name("vd", index), "virtio", address.xml(), name))
    for index in range(scsi_disks):
        controller, unit = divmod(index, SCSI_UNITS)
        drive = (
            f"<address type='drive' controller='{controller}' bus='0' target='0' unit='{unit}'/>"
        )
        devices.extend(_disk(disk_name("sd", index), "scsi", drive, name))
    for index, address in enumerate(scsi_addresses):
        devices.extend(
            (
                f"<controller type='scsi' index='{index}' model='virtio-scsi'>",
                f"  {address.xml()}",
                "</controller>",
            )
        )
    devices.extend(
        (
            "<controller type='usb' index='0' model='qemu-xhci' ports='15'>",
            f"  {usb.xml()}",
            "</controller>",
            "<controller type='sata' index='0'>",
            f"  {Pci(0, 0x1F, 2).xml()}",
            "</controller>",
            *layout.controllers,
            "<interface type='network'>",
            f"  <mac address='52:54:00:{disks >> 16 & 0xFF:02x}:{disks >> 8 & 0xFF:02x}:"
            f"{disks & 0xFF:02x}'/>",
            "  <source network='default'/>",
            "  <model type='virtio'/>",
            f"  {net.xml()}",
            "</interface>",
            "<serial type='pty'>",
            "  <target type='isa-serial' port='0'>",
            "    <model name='isa-serial'/>",
            "  </target>",
            "</serial>",
            "<console type='pty'>",
            "  <target type='serial' port='0'/>",
            "</console>",
            "<input type='mouse' bus='ps2'/>",
            "<input type='keyboard' bus='ps2'/>",
            "<audio id='1' type='none'/>",
            "<video>",
            "  <model type='vga' vram='16384' heads='1' primary='yes'/>",
            f"  {Pci(0, 1).xml()}",
            "</video>",
            "<memballoon model='virtio'>",
            f"  {balloon.xml()}",
            "</memballoon>",
        )
    )
    body = "\n".join(f"    {line}" for line in devices)
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid.uuid5(uuid.NAMESPACE_URL, f"stable-rescue-bench/{disks}")}</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
{body}
  </devices>
</domain>
"""


def main() -> None:
    """Print one synthetic domain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("disks", type=int)
    parser.add_argument("--name", help="the domain's <name> (default: bench-synthetic-DISKS)")
    arguments = parser.parse_args()
    print(domain(arguments.disks, arguments.name), end="")


if __name__ == "__main__":
    main()
