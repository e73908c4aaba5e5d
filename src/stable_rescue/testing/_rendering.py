"""A built domain as ``virsh dumpxml --inactive`` prints it, and ``GeneratedDomain``."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from stable_rescue.testing._builder import DomainBuilder
from stable_rescue.testing._devices import (
    ARCHES,
    ARM,
    MACHINES,
    PC,
    PSERIES,
    Q35,
    S390,
    X86,
    Dev,
    DiskDev,
    Line,
)
from stable_rescue.testing._draw import BOOLEANS, chance, sampled

# Per machine, as libvirt dumps them (tests/golden/aarch64-*, pseries-*, s390x-*).
CPU_MODELS = {
    PC: "<model fallback='forbid'>qemu64</model>",
    Q35: "<model fallback='forbid'>qemu64</model>",
    ARM: "<model fallback='allow'>cortex-a57</model>",
    PSERIES: "<model fallback='forbid'>POWER9</model>",
    S390: "<model fallback='forbid'>qemu</model>",
}
SERIALS: dict[str, tuple[str, str, list[Line]]] = {
    # (target type, model name, address lines)
    PC: ("isa-serial", "isa-serial", []),
    Q35: ("isa-serial", "isa-serial", []),
    ARM: ("system-serial", "pl011", []),
    PSERIES: (
        "spapr-vio-serial",
        "spapr-vty",
        [(1, "<address type='spapr-vio' reg='0x30000000'/>")],
    ),
    S390: ("sclp-serial", "sclpconsole", []),
}


@attrs.frozen(kw_only=True)
class GeneratedDomain:
    """A generated domain XML and what the properties want to know about it."""

    xml: str
    family: str
    boot_style: str  # "os", "orders" or "none"
    labels: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # The XML itself, so a failing example prints something to paste into a file.
        head = f"GeneratedDomain(family={self.family!r}, boot_style={self.boot_style!r}"
        return f"{head}, xml=\n{self.xml})"


def _comment(draw: st.DrawFn) -> str:
    text = draw(sampled("managed by nova", "root volume: do not detach", "x", "a < b & c"))
    return f"<!-- {text.replace('<', '&lt;').replace('&', 'and')} -->"


METADATA = [
    (1, "<metadata>"),
    (2, '<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">'),
    (3, '<nova:package version="27.1.0"/>'),
    (3, "<nova:name>rescue-me</nova:name>"),
    (3, '<nova:root type="image" uuid="0f8a6c2e-3b1d-4e5f-9a7c-6d5e4f3a2b10"/>'),
    (2, "</nova:instance>"),
    (1, "</metadata>"),
]


def _libvirt_disk_order(disks: list[DiskDev]) -> list[DiskDev]:
    """Grouped by bus in order of first appearance, by name index within a group."""
    groups: dict[str, int] = {}
    for disk in disks:
        groups.setdefault(disk.bus, len(groups))

    def index(name: str) -> int:
        letters = name[2:]
        number = 0
        for letter in letters:
            number = number * 26 + ord(letter) - ord("a") + 1
        return number

    return sorted(disks, key=lambda disk: (groups[disk.bus], index(disk.target)))


def render_domain(draw: st.DrawFn, builder: DomainBuilder, kernel_boot: bool) -> GeneratedDomain:
    """The domain XML of ``builder``; draws the boot style, metadata, layout and comments.

    ``kernel_boot``: a direct kernel boot in ``<os>`` now and then.
    """
    family = builder.family
    labels = builder.labels
    disks_in_order = _libvirt_disk_order(builder.disks)
    if draw(chance(4)):
        # libvirt re-sorts disks on define; a hand-edited file has them in any order.
        disks_in_order = draw(st.permutations(disks_in_order))
        labels.append("disks-unsorted")
    disk_devs = [disk.dev for disk in disks_in_order if disk.dev is not None]
    bootable = [*disk_devs, *builder.interfaces, *builder.hostdevs]
    boot_style = draw(sampled("os", "os", "orders", "orders", "none"))
    boot_devs: list[str] = []
    if boot_style == "orders" and bootable:
        positions = draw(
            st.lists(st.integers(0, len(bootable) - 1), unique=True, min_size=1, max_size=5)
        )
        orders = sorted(
            draw(
                st.lists(
                    st.integers(1, 12),
                    unique=True,
                    min_size=len(positions),
                    max_size=len(positions),
                )
            )
        )
        for position, order in zip(positions, orders, strict=True):
            bootable[position].boot = order
    elif boot_style == "orders":
        boot_style = "os"
    if boot_style == "os":
        boot_devs = draw(st.lists(sampled("hd", "cdrom", "fd", "network"), min_size=1, max_size=4))
    unit = draw(sampled("  ", "  ", "  ", "    "))
    newline = "\r\n" if draw(chance(16)) else "\n"
    lines: list[Line] = []
    # kvm only where the host runs the guest's architecture natively.
    hypervisor = draw(sampled("qemu", "kvm")) if family in X86 else "qemu"
    number = draw(st.integers(0, 0xFFFF))
    lines.append((0, f"<domain type='{hypervisor}'>"))
    lines.append((1, f"<name>gen-{number}</name>"))
    lines.append((1, f"<uuid>5ca1ab1e-0000-4000-8000-{number:012x}</uuid>"))
    if draw(chance(5)):
        lines.append((1, "<title>generated &amp; rescued</title>"))
    metadata = draw(sampled("none", "none", "nova", "empty"))
    if metadata == "nova":
        lines.extend(METADATA)
        labels.append("metadata-foreign")
    elif metadata == "empty":
        lines.append((1, "<metadata/>"))
        labels.append("metadata-empty")
    memory = 524288 if family == PSERIES else 262144
    lines.append((1, f"<memory unit='KiB'>{memory}</memory>"))
    lines.append((1, f"<currentMemory unit='KiB'>{memory}</currentMemory>"))
    lines.append((1, "<vcpu placement='static'>1</vcpu>"))
    efi = family in (Q35, ARM) and draw(chance(5))
    lines.append((1, "<os firmware='efi'>" if efi else "<os>"))
    lines.append((2, f"<type arch='{ARCHES[family]}' machine='{MACHINES[family]}'>hvm</type>"))
    if efi and family == ARM:
        labels.append("efi")
    elif efi:
        # libvirt 9.0 refuses secure='no' with firmware autoselection; no <loader> means no.
        if draw(BOOLEANS):
            lines.append((2, "<loader secure='yes'/>"))
        labels.append("efi")
    if kernel_boot and draw(chance(5)):
        labels.append("kernel-boot")
        lines.append((2, "<kernel>/var/lib/libvirt/boot/vmlinuz</kernel>"))
        if draw(BOOLEANS):
            lines.append((2, "<initrd>/var/lib/libvirt/boot/initrd.img</initrd>"))
        if draw(BOOLEANS):
            lines.append((2, "<cmdline>root=/dev/vda1 console=ttyS0</cmdline>"))
    comment_in_os = draw(chance(6))
    if boot_devs and comment_in_os:
        lines.append((2, _comment(draw)))
        labels.append("comment-in-os")
    lines.extend((2, f"<boot dev='{dev}'/>") for dev in boot_devs)
    lines.append((1, "</os>"))
    if family in X86:
        lines.append((1, "<features>"))
        lines.append((2, "<acpi/>"))
        lines.append((2, "<apic/>"))
        if efi:
            lines.append((2, "<smm state='on'/>"))
        lines.append((1, "</features>"))
    elif family == ARM:
        lines.extend([(1, "<features>"), (2, "<gic version='2'/>"), (1, "</features>")])
    lines.extend(
        [
            (1, "<cpu mode='custom' match='exact' check='none'>"),
            (2, CPU_MODELS[family]),
            (1, "</cpu>"),
            (1, "<clock offset='utc'/>"),
            (1, "<on_poweroff>destroy</on_poweroff>"),
            (1, "<on_reboot>restart</on_reboot>"),
            (1, "<on_crash>destroy</on_crash>"),
        ]
    )
    if draw(chance(6)):
        lines.append((1, _comment(draw)))
        labels.append("comment-top")
    lines.append((1, "<devices>"))
    devices: list[Dev] = list(disk_devs)
    controllers = [*builder.controllers, *builder.pci_controllers]
    if family == PSERIES:
        root = Dev(
            tag="controller",
            open="<controller type='pci' index='0' model='pci-root'>",
            body=[(1, "<model name='spapr-pci-host-bridge'/>"), (1, "<target index='0'/>")],
        )
    elif family in (PC, S390):
        root = Dev(tag="controller", open="<controller type='pci' index='0' model='pci-root'/>")
    else:
        root = Dev(tag="controller", open="<controller type='pci' index='0' model='pcie-root'/>")
    controllers.insert(len(builder.controllers), root)
    devices.extend(controllers)
    devices.extend(builder.interfaces)
    serial_type, serial_model, serial_address = SERIALS[family]
    serial = Dev(
        tag="serial",
        open="<serial type='pty'>",
        body=[
            (1, f"<target type='{serial_type}' port='0'>"),
            (2, f"<model name='{serial_model}'/>"),
            (1, "</target>"),
            *serial_address,
        ],
    )
    console = Dev(
        tag="console",
        open="<console type='pty'>",
        body=[(1, "<target type='serial' port='0'/>"), *serial_address],
    )
    devices.extend([serial, console, *builder.inputs])
    if family in X86:
        devices.append(Dev(tag="input", open="<input type='mouse' bus='ps2'/>"))
        devices.append(Dev(tag="input", open="<input type='keyboard' bus='ps2'/>"))
    devices.append(Dev(tag="audio", open="<audio id='1' type='none'/>"))
    devices.extend(builder.video)
    devices.extend(builder.hostdevs)
    devices.extend(builder.hubs)
    devices.extend(builder.others)
    if family in (PSERIES, S390):
        model = "pseries" if family == PSERIES else "s390"
        devices.append(Dev(tag="panic", open=f"<panic model='{model}'/>"))
    emulator = {ARM: "aarch64", PSERIES: "ppc64", S390: "s390x"}.get(family, "x86_64")
    device_lines: list[Line] = [(2, f"<emulator>/usr/bin/qemu-system-{emulator}</emulator>")]
    comment_at = draw(st.integers(0, 3 * len(devices))) if devices else 0
    for position, device in enumerate(devices):
        if position == comment_at:
            device_lines.append((2, _comment(draw)))
            labels.append("comment-in-devices")
        device_lines.extend((2 + depth, text) for depth, text in device.lines())
    lines.extend(device_lines)
    lines.append((1, "</devices>"))
    lines.append((0, "</domain>"))
    xml = newline.join(unit * depth + text for depth, text in lines) + newline
    return GeneratedDomain(xml=xml, family=family, boot_style=boot_style, labels=tuple(labels))
