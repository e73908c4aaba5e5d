"""Nova's historic rescue layout (docs/policy.md, Legacy mode): the root, the disks kept, the view.

In legacy mode the rescue disk takes the root disk's name, bus and address; the root moves to the
next free name; every other disk is detached for the rescue, except a config drive (the guest's
cloud-init may need it to find its network). ``plan`` composes these facts into a ``Plan``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from stable_rescue.boot import disks_in_libvirt_order
from stable_rescue.errors import NoRootDisk
from stable_rescue.model import Device, Disk, Domain

# Nova names a config drive ``disk.config`` (file) or ``<uuid>_disk.config`` (RBD image).
CONFIG_DRIVE_SUFFIX = "disk.config"


def is_config_drive(disk: Disk) -> bool:
    """Whether ``disk`` is Nova's config drive, by the name Nova gives its source.

    Rule L2.
    """
    if disk.source is None:
        return False
    return disk.source.rsplit("/", 1)[-1].endswith(CONFIG_DRIVE_SUFFIX)


def find_root(domain: Domain, boot_sequence: Sequence[Device]) -> Disk:
    """The disk the guest boots from: the first ``device='disk'`` of its boot sequence.

    When no such disk is in the sequence (a guest that boots from the network, say), the first
    ``device='disk'`` in libvirt's disk order: the one ``<boot dev='hd'/>`` would have chosen.

    Rule L1.
    """
    candidates = [
        disk for disk in domain.disks if disk.device_type == "disk" and not is_config_drive(disk)
    ]
    if not candidates:
        raise NoRootDisk(
            "domain has no disk with device='disk' to rescue in legacy mode; expected a root "
            "disk, or hw_rescue_bus/hw_rescue_device on the image for a stable-device rescue"
        )
    by_device = {disk.device: disk for disk in candidates}
    for device in boot_sequence:
        if device in by_device:
            return by_device[device]
    return disks_in_libvirt_order(tuple(candidates))[0]


def detached_disks(domain: Domain, root: Disk) -> tuple[Disk, ...]:
    """Every disk but the root and config drives, in document order.

    Rule L4.
    """
    return tuple(disk for disk in domain.disks if disk is not root and not is_config_drive(disk))


def domain_during_rescue(domain: Domain, root: Disk, detached: Sequence[Disk]) -> Domain:
    """The domain as the moved root disk finds it: detached disks gone, the rescue in root's place.

    The rescue disk keeps the root's target, bus and address, so placing the root again on this
    view gives it a name and address that nothing else holds.

    Rule L5.
    """
    gone = {disk.device for disk in detached} | {root.device}
    rescue_device = attrs.evolve(root.device, xpath="rescue", key="rescue", boot_order=None)
    rescue_disk = attrs.evolve(root, device=rescue_device)
    return attrs.evolve(
        domain,
        devices=(*(device for device in domain.devices if device not in gone), rescue_device),
        disks=(*(disk for disk in domain.disks if disk.device not in gone), rescue_disk),
    )
