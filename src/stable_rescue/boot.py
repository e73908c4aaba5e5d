"""Boot-order planning: the rescue device first, the previous boot sequence kept after it.

libvirt refuses ``<os><boot dev>`` together with per-device ``<boot order>`` and starts QEMU with
``-boot strict=on``: firmware tries only devices that have a boot index. So the rescue device gets
order 1, and every device that was bootable before keeps its relative order as 2, 3, ...: if the
rescue media fails, the guest falls back to its old boot sequence, as on bare metal.
"""

from __future__ import annotations

import attrs

from stable_rescue.errors import InvalidDomain
from stable_rescue.model import BootOrderChange, Device, Disk, Domain
from stable_rescue.names import index_of_target

RESCUE_BOOT_ORDER = 1
# <boot dev> values and the devices they name (virDomainBootOrder).
_DEVICE_TYPES_BY_BOOT_DEV = {"hd": ("disk", "lun"), "cdrom": ("cdrom",), "fd": ("floppy",)}


@attrs.frozen(kw_only=True)
class BootPlan:
    """The boot changes of a rescue: renumbered devices and the ``<os><boot>`` entries dropped."""

    changes: tuple[BootOrderChange, ...]
    os_boot_removed: tuple[str, ...]
    # The previous boot sequence, first device first.
    sequence: tuple[Device, ...]

    def order_during_rescue(self, device: Device) -> int | None:
        """The order ``device`` boots with during the rescue (``None``: it does not boot)."""
        if device not in self.sequence:
            return None
        return RESCUE_BOOT_ORDER + 1 + self.sequence.index(device)


def plan_boot(domain: Domain, leaving: frozenset[Device] = frozenset()) -> BootPlan:
    """Order 1 for the rescue device; the previous boot sequence as orders 2, 3, ...

    ``leaving`` devices (legacy mode's detached disks) drop out of the sequence after it is
    worked out, so ``<boot dev>`` entries still name the devices they named before.

    Rules B1, B2, B3 and B5; with legacy mode's ``leaving``, rule L6. Firmware plays no part: boot
    orders work the same under UEFI (rule S1).
    """
    ordered = [device for device in domain.devices if device.boot_order is not None]
    if ordered and domain.os_boot_devs:
        raise InvalidDomain(
            "domain has both <os><boot dev> and per-device <boot order>; libvirt accepts only one"
        )
    if ordered:
        _check_unique(ordered)
        sequence = sorted(ordered, key=lambda device: device.boot_order or 0)
        removed: tuple[str, ...] = ()
    else:
        # With neither style, libvirt boots as if <boot dev='hd'/> were given.
        devs = domain.os_boot_devs or ("hd",)
        sequence = _devices_for_boot_devs(domain, devs)
        removed = domain.os_boot_devs
    sequence = [device for device in sequence if device not in leaving]
    plan = BootPlan(changes=(), os_boot_removed=removed, sequence=tuple(sequence))
    changes = []
    for device in sequence:
        new_order = plan.order_during_rescue(device)
        assert new_order is not None
        if device.boot_order != new_order:
            changes.append(
                BootOrderChange(
                    xpath=device.xpath, key=device.key, old=device.boot_order, new=new_order
                )
            )
    return attrs.evolve(plan, changes=tuple(changes))


def _check_unique(devices: list[Device]) -> None:
    """Refuse two devices with the same boot order (rule B8)."""
    seen: dict[int, Device] = {}
    for device in devices:
        order = device.boot_order
        assert order is not None
        if order in seen:
            raise InvalidDomain(
                f"boot order '{order}' used by both {seen[order].xpath} and {device.xpath}; "
                "expected unique orders",
                boot_order=order,
            )
        seen[order] = device


def _devices_for_boot_devs(domain: Domain, devs: tuple[str, ...]) -> list[Device]:
    """The device each ``<boot dev>`` entry names, in entry order, each device once.

    Rule B4.
    """
    disks = disks_in_libvirt_order(domain.disks)
    sequence: list[Device] = []
    for dev in devs:
        device: Device | None
        if dev == "network":
            device = domain.interfaces[0] if domain.interfaces else None
        elif dev in _DEVICE_TYPES_BY_BOOT_DEV:
            wanted = _DEVICE_TYPES_BY_BOOT_DEV[dev]
            device = next((d.device for d in disks if d.device_type in wanted), None)
        else:
            raise InvalidDomain(
                f"<boot dev='{dev}'>; expected one of hd, cdrom, fd, network", boot_dev=dev
            )
        if device is not None and device not in sequence:
            sequence.append(device)
    return sequence


def disks_in_libvirt_order(disks: tuple[Disk, ...]) -> list[Disk]:
    """Disks as libvirt's virDomainDiskInsert keeps them: grouped by bus, by index in a group.

    The groups come in the order of their first disk; unnumbered names keep document order.

    Rule B6.
    """
    group_rank: dict[str, int] = {}
    for disk in disks:
        group_rank.setdefault(disk.bus, len(group_rank))

    def key(item: tuple[int, Disk]) -> tuple[int, int, int]:
        position, disk = item
        index = index_of_target(disk.target)
        return (group_rank[disk.bus], index if index is not None else 1 << 30, position)

    return [disk for _, disk in sorted(enumerate(disks), key=key)]
