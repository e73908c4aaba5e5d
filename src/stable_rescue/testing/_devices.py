"""The machines, buses and devices of generated domains, and their XML fragments.

Plain values and formatting only: what to draw lives in ``_pci`` and
``_builder``.
"""

from __future__ import annotations

import attrs

PC = "pc"
Q35 = "q35"
ARM = "virt"  # aarch64 virt
PSERIES = "pseries"  # ppc64 pseries
S390 = "s390-ccw-virtio"  # s390x
FAMILIES = (PC, Q35, ARM, PSERIES, S390)
X86 = (PC, Q35)
# Versioned machine types as libvirt dumps them: the same on QEMU 7.2 (libvirt 9.0) and 10.0.
MACHINES = {
    PC: "pc-i440fx-7.2",
    Q35: "pc-q35-7.2",
    ARM: "virt-7.2",
    PSERIES: "pseries-7.2",
    S390: "s390-ccw-virtio-7.2",
}
ARCHES = {PC: "x86_64", Q35: "x86_64", ARM: "aarch64", PSERIES: "ppc64", S390: "s390x"}
BUSES = ("virtio", "scsi", "sata", "ide", "usb", "fdc")
# The buses each machine has (docs/policy.md rules V2, V3, V6, C4); requests ask for the others too.
MACHINE_BUSES = {
    PC: BUSES,
    Q35: ("virtio", "scsi", "sata", "usb", "fdc"),
    ARM: ("virtio", "scsi", "sata", "usb"),
    PSERIES: ("virtio", "scsi", "sata", "usb"),
    S390: ("virtio", "scsi"),
}
# SCSI controller models qemu-system-x86_64 7.2 has, by their libvirt names.
SCSI_MODELS = (
    "virtio-scsi",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
# SCSI controller models the generated domains of each machine have (libvirt refuses the
# others there, or QEMU lacks them: rule C3); ibmvscsi sits on spapr-vio.
MACHINE_SCSI_MODELS = {
    PC: SCSI_MODELS,
    Q35: SCSI_MODELS,
    ARM: ("virtio-scsi",),
    PSERIES: ("virtio-scsi", "ibmvscsi"),
    S390: ("virtio-scsi",),
}


Line = tuple[int, str]  # (depth below the element's own line, text)
Pci = tuple[int, int, int]  # (bus, slot, function) in PCI domain 0


def pci_address(address: Pci, multifunction: bool = False) -> str:
    """An ``<address type='pci'>`` as libvirt formats it."""
    bus, slot, function = address
    extra = " multifunction='on'" if multifunction else ""
    return (
        f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='{slot:#04x}' "
        f"function='{function:#x}'{extra}/>"
    )


def ccw_address(devno: int) -> str:
    """An ``<address type='ccw'>`` in css 0xfe, subchannel set 0 (s390x)."""
    return f"<address type='ccw' cssid='0xfe' ssid='0x0' devno='{devno:#06x}'/>"


def zpci_address(slot: int, uid: int, fid: int) -> list[Line]:
    """A PCI address on s390x's pci-root with its ``<zpci>`` identifiers."""
    return [
        (
            1,
            f"<address type='pci' domain='0x0000' bus='0x00' slot='{slot:#04x}' function='0x0'>",
        ),
        (2, f"<zpci uid='{uid:#06x}' fid='{fid:#010x}'/>"),
        (1, "</address>"),
    ]


def drive_address(controller: int, bus: int, target: int, unit: int) -> str:
    """An ``<address type='drive'>``."""
    return (
        f"<address type='drive' controller='{controller}' bus='{bus}' target='{target}' "
        f"unit='{unit}'/>"
    )


def usb_address(bus: int, port: tuple[int, ...]) -> str:
    """An ``<address type='usb'>``, the port dotted through hubs."""
    return f"<address type='usb' bus='{bus}' port='{'.'.join(str(p) for p in port)}'/>"


def suffix(index: int) -> str:
    """Bijective base 26: 0 -> a, 25 -> z, 26 -> aa."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


PREFIX = {"virtio": "vd", "ide": "hd", "scsi": "sd", "sata": "sd", "usb": "sd", "fdc": "fd"}


# --- devices -----------------------------------------------------------------------------------


@attrs.define
class Dev:
    """One child of ``<devices>`` under construction; ``boot`` goes before ``tail``."""

    tag: str
    open: str
    body: list[Line] = attrs.Factory(list)
    tail: list[Line] = attrs.Factory(list)
    bootable: bool = False
    boot: int | None = None

    def lines(self) -> list[Line]:
        """The element's lines, depth 0 being its own."""
        if self.open.endswith("/>"):
            return [(0, self.open)]
        boot = [(1, f"<boot order='{self.boot}'/>")] if self.boot is not None else []
        return [(0, self.open), *self.body, *boot, *self.tail, (0, f"</{self.tag}>")]


@attrs.define
class DiskDev:
    """A disk: bus, device type and source now; its name once every disk is placed."""

    bus: str
    device: str
    source_lines: list[Line]
    opening: str
    address: list[Line]
    derived_index: int | None
    name_style: str
    wanted_index: int
    dev: Dev | None = None
    target: str = ""


@attrs.frozen(kw_only=True)
class DiskSpec:
    """What ``disks()`` draws: one disk before it is placed in a domain."""

    bus: str
    device: str
    source_type: str
    name_style: str  # "derived": the name libvirt would give its address; "random": any free one
    wanted_index: int
    dense: bool  # take the first free unit (as libvirt would) rather than any free one
    empty_cdrom: bool = False
