"""Machine and architecture classification, and which buses exist on which machine.

The rules are libvirt's (qemu_validate.c, qemu_domain_address.c) for libvirt 9 to 11: a bus that
is refused here would be refused by ``virsh define`` or by QEMU at start.
"""

from __future__ import annotations

import re

from stable_rescue.model import Bus, Machine, MachineFamily

_I440FX = re.compile(r"^(pc|pc-i440fx-.*|pc-0\..*|pc-1\..*|rhel.*)$")
_Q35 = re.compile(r"^(q35|pc-q35-.*)$")


def classify_machine(arch: str, machine: str) -> Machine:
    """The machine family of ``<type arch machine>``.

    ``rhel*`` machine names are RHEL's i440fx types (``rhel6.6.0``); RHEL's q35 types are
    ``pc-q35-rhel*`` and match q35 first.
    """
    family = MachineFamily.OTHER
    if arch in ("x86_64", "i686"):
        if _Q35.match(machine):
            family = MachineFamily.Q35
        elif _I440FX.match(machine):
            family = MachineFamily.I440FX
    elif arch in ("aarch64", "armv7l") and (machine == "virt" or machine.startswith("virt-")):
        family = MachineFamily.ARM_VIRT
    elif arch in ("ppc64", "ppc64le") and (machine == "pseries" or machine.startswith("pseries-")):
        family = MachineFamily.PSERIES
    elif arch == "s390x" and machine.startswith("s390-ccw-virtio"):
        family = MachineFamily.S390_CCW
    return Machine(arch=arch, machine=machine, family=family)


def is_pcie(machine: Machine) -> bool:
    """Whether endpoints go behind PCIe root ports (q35, arm ``virt``) rather than on pci-root.

    arm virt is a PCIe machine like q35 (rule V1).
    """
    return machine.family in (MachineFamily.Q35, MachineFamily.ARM_VIRT)


def bus_absence_reason(machine: Machine, bus: Bus) -> str | None:
    """Why ``bus`` does not exist on ``machine``, or ``None`` when it does.

    Rules V2, V3, V6 and C4.
    """
    family = machine.family
    if bus is Bus.IDE and family is not MachineFamily.I440FX:
        return f"bus 'ide' exists only on i440fx machines, not on '{machine.machine}'"
    if bus is Bus.FDC and family is MachineFamily.S390_CCW:
        # libvirt 9.0 and 11.3 define it; QEMU then fails at start (checked with a paused start).
        return (
            f"bus 'fdc' does not exist on '{machine.machine}' ({machine.arch}): libvirt defines "
            "a floppy there, but QEMU does not start it ('floppy' is not a valid device model "
            "name)"
        )
    if bus is Bus.FDC and family in (MachineFamily.PSERIES, MachineFamily.ARM_VIRT):
        return f"bus 'fdc' does not exist on '{machine.machine}' ({machine.arch})"
    if bus in (Bus.USB, Bus.SATA) and family is MachineFamily.S390_CCW:
        return f"bus '{bus.value}' does not exist on '{machine.machine}' ({machine.arch})"
    return None


def default_cdrom_bus(machine: Machine) -> Bus:
    """Nova's cdrom default, taken from the domain's own machine, never from the image's.

    A cdrom defaults to bus ``scsi`` on aarch64 and s390x (rules V4, C2).
    """
    if machine.arch in ("aarch64", "ppc64", "ppc64le", "s390x"):
        return Bus.SCSI
    if machine.family is MachineFamily.Q35:
        return Bus.SATA
    return Bus.IDE
