"""Target names and unit placement on the drive buses (ide, sata, scsi, fdc) and on USB.

Buses differ mostly in data, so one table (``DRIVE_BUSES``) drives the drive-bus code. PCI
placement has topology of its own and lives in ``pci``.
"""

from __future__ import annotations

import attrs

from stable_rescue.errors import BusFull, BusUnavailable
from stable_rescue.model import (
    Bus,
    Controller,
    Device,
    Domain,
    DriveAddress,
    MachineFamily,
    UsbAddress,
)
from stable_rescue.names import index_of_target, target_for_index


@attrs.frozen(kw_only=True)
class DriveBusFacts:
    """How one drive bus numbers its units (libvirt's virDomainDiskDefAssignAddress)."""

    controller_type: str
    buses_per_controller: int
    units_per_bus: int
    # ``None``: as many controllers as wanted; else the fixed count QEMU offers.
    max_controllers: int | None

    @property
    def units_per_controller(self) -> int:
        """Drive slots on one controller."""
        return self.buses_per_controller * self.units_per_bus

    def derived_address(self, index: int) -> DriveAddress:
        """The address libvirt derives from a 0-based target index when a disk has none.

        Rule T4.
        """
        per_controller = self.units_per_controller
        return DriveAddress(
            controller=index // per_controller,
            bus=(index % per_controller) // self.units_per_bus,
            target=0,
            unit=index % self.units_per_bus,
        )

    def slots(self, controller: int) -> tuple[DriveAddress, ...]:
        """Every drive slot of ``controller``, in the order libvirt fills them.

        Rule D3: bus, then unit.
        """
        return tuple(
            DriveAddress(controller=controller, bus=bus, target=0, unit=unit)
            for bus in range(self.buses_per_controller)
            for unit in range(self.units_per_bus)
        )


# ide: two buses of two units on the single PIIX controller. sata: six AHCI ports.
# scsi: seven units (the controller is id 7), target 0, for every model QEMU has.
# fdc: two drives on the single floppy controller.
DRIVE_BUSES: dict[Bus, DriveBusFacts] = {
    Bus.IDE: DriveBusFacts(
        controller_type="ide", buses_per_controller=2, units_per_bus=2, max_controllers=1
    ),
    Bus.SATA: DriveBusFacts(
        controller_type="sata", buses_per_controller=1, units_per_bus=6, max_controllers=None
    ),
    Bus.SCSI: DriveBusFacts(
        controller_type="scsi", buses_per_controller=1, units_per_bus=7, max_controllers=None
    ),
    Bus.FDC: DriveBusFacts(
        controller_type="fdc", buses_per_controller=1, units_per_bus=2, max_controllers=1
    ),
}


@attrs.frozen(kw_only=True)
class DrivePlacement:
    """A unit for the rescue disk, and the controller to add when none had room."""

    address: DriveAddress
    new_controller_index: int | None = None


# --- target names ------------------------------------------------------------------------------


def choose_target(domain: Domain, bus: Bus) -> str:
    """The lowest free target name for a new disk on ``bus`` (Nova fills gaps).

    Free means: the exact name is used by no disk; on virtio and usb, the index is used by no
    other disk of that bus (QEMU names those devices ``<bus>-disk<index>``); on a drive bus, the
    address libvirt would derive from the name is not taken.

    Rules T1, T3, T5 and T6: the name is chosen apart from the address, and its derived address only
    has to be free; ide's four names and fdc's two are the limit.
    """
    used_names = {disk.target for disk in domain.disks}
    used_indexes = {
        index
        for disk in domain.disks
        if disk.bus == bus.value and (index := index_of_target(disk.target)) is not None
    }
    facts = DRIVE_BUSES.get(bus)
    taken = occupied_drive_addresses(domain, bus) if facts is not None else frozenset()
    # Each index that fails is blocked by a disk name or a taken address: the bound is safe.
    limit = len(domain.disks) + len(taken) + 1
    if facts is not None and facts.max_controllers is not None:
        limit = min(limit, facts.max_controllers * facts.units_per_controller)
    for index in range(limit):
        name = target_for_index(bus, index)
        if name in used_names:
            continue
        if bus in (Bus.VIRTIO, Bus.USB) and index in used_indexes:
            continue
        if facts is not None and facts.derived_address(index) in taken:
            continue
        return name
    raise BusFull(
        f"no free target name on bus '{bus.value}' ({limit} of {limit} used)",
        bus=bus.value,
        limit=limit,
    )


# --- drive buses -------------------------------------------------------------------------------


def occupied_drive_addresses(domain: Domain, bus: Bus) -> frozenset[DriveAddress]:
    """Drive addresses taken on ``bus``: explicit ones, derived ones, SCSI hostdevs' ones.

    Rule D1.
    """
    facts = DRIVE_BUSES[bus]
    taken: set[DriveAddress] = set()
    for disk in domain.disks:
        if disk.bus != bus.value:
            continue
        if isinstance(disk.device.address, DriveAddress):
            taken.add(disk.device.address)
        elif disk.device.address is None and (index := index_of_target(disk.target)) is not None:
            taken.add(facts.derived_address(index))
    if bus is Bus.SCSI:
        taken.update(
            device.address
            for device in domain.devices
            if device.tag == "hostdev" and isinstance(device.address, DriveAddress)
        )
    return frozenset(taken)


def bus_controllers(domain: Domain, controller_type: str) -> tuple[Controller, ...]:
    """The domain's controllers of one type, by index.

    Rule D2.
    """
    return tuple(
        sorted(
            (c for c in domain.controllers if c.type == controller_type),
            key=lambda controller: controller.index,
        )
    )


def place_on_drive_bus(domain: Domain, bus: Bus) -> DrivePlacement:
    """The first free unit on the lowest-index controller of ``bus``; else a new controller.

    Rules D3 and D4.
    """
    facts = DRIVE_BUSES[bus]
    taken = occupied_drive_addresses(domain, bus)
    declared = {controller.index for controller in bus_controllers(domain, facts.controller_type)}
    # A disk addressed to a controller the XML omits implies it: libvirt adds it on define.
    implied = {address.controller for address in taken}
    if _built_in(domain, bus):
        implied.add(0)
    indexes = sorted(declared | implied)
    for index in indexes:
        for address in facts.slots(index):
            if address not in taken:
                return DrivePlacement(address=address)
    new_index = max(indexes) + 1 if indexes else 0
    if facts.max_controllers is not None and new_index >= facts.max_controllers:
        used = len(indexes) * facts.units_per_controller
        raise BusFull(
            f"no free unit on bus '{bus.value}' ({used} of {used} used)",
            bus=bus.value,
            limit=used,
        )
    return DrivePlacement(
        address=facts.slots(new_index)[0],
        new_controller_index=new_index,
    )


def implied_drive_controllers(domain: Domain) -> tuple[str, ...]:
    """Keys of the SATA and SCSI controllers disks use but the XML omits.

    libvirt adds each at define, with a PCI (or CCW) address of its own choosing, which a
    rescue device with an explicit address could change: they are unaddressed devices (rule
    G2). IDE and fdc controllers have fixed places and need no address.
    """
    implied: list[str] = []
    for bus in (Bus.SATA, Bus.SCSI):
        facts = DRIVE_BUSES[bus]
        declared = {c.index for c in bus_controllers(domain, facts.controller_type)}
        if _built_in(domain, bus):
            declared.add(0)
        used = {address.controller for address in occupied_drive_addresses(domain, bus)}
        implied.extend(f"controller:{facts.controller_type}:{i}" for i in sorted(used - declared))
    return tuple(implied)


def _built_in(domain: Domain, bus: Bus) -> bool:
    """Controllers that exist even when the XML omits them.

    q35's SATA 0 (00:1f.2) is part of the chipset. i440fx's IDE and the floppy controller are
    not: libvirt writes ``<controller type='ide'>`` and ``<controller type='fdc'>`` only once a
    disk uses them, so the rescue adds them itself, explicitly.

    Rules D2 and D5.
    """
    return bus is Bus.SATA and domain.machine.family is MachineFamily.Q35


# --- usb ---------------------------------------------------------------------------------------

HUB_PORTS = 8
_PORTS_BY_USB_MODEL = {
    "piix3-uhci": 2,
    "piix4-uhci": 2,
    "vt82c686b-uhci": 2,
    "ehci": 6,
    "ich9-ehci1": 6,
    "ich9-uhci1": 0,
    "ich9-uhci2": 0,
    "ich9-uhci3": 0,
    "pci-ohci": 3,
}
_XHCI_MODELS = ("nec-xhci", "qemu-xhci")
_XHCI_DEFAULT_PORTS = 4
_XHCI_MAX_PORTS = 15


def usb_root_ports(domain: Domain, controller: Controller) -> int:
    """Root ports of a USB controller; companions (``ich9-uhci*``) add none of their own.

    Rule U2.
    """
    model = controller.model
    if model is None:
        # libvirt's default model: piix3-uhci on i440fx, qemu-xhci elsewhere.
        model = "piix3-uhci" if domain.machine.family is MachineFamily.I440FX else "qemu-xhci"
    if model in _XHCI_MODELS:
        return min(controller.ports or _XHCI_DEFAULT_PORTS, _XHCI_MAX_PORTS)
    return _PORTS_BY_USB_MODEL.get(model, 0)


def place_on_usb(domain: Domain) -> UsbAddress:
    """The lowest free root port of the lowest-index controller, then free ports of hubs.

    Existing devices are never moved behind a new hub: that would change their addresses.

    Rules U1, U3, U4 and U5 (U2 in ``usb_root_ports``); on arm virt a missing controller is
    refused, never added (rule V3).
    """
    controllers = bus_controllers(domain, "usb")
    if any(controller.model == "none" for controller in controllers):
        raise BusUnavailable(
            "usb controller model is 'none' (USB disabled); expected a USB controller",
            bus="usb",
        )
    if not controllers:
        raise BusUnavailable("domain has no USB controller; expected one for bus 'usb'", bus="usb")
    taken = {device.address for device in domain.devices if isinstance(device.address, UsbAddress)}
    candidates: list[UsbAddress] = []
    for controller in controllers:
        for port in range(1, usb_root_ports(domain, controller) + 1):
            candidates.append(UsbAddress(bus=controller.index, port=(port,)))
    for hub in sorted(_hubs(domain.devices), key=lambda address: (address.bus, address.port)):
        for port in range(1, HUB_PORTS + 1):
            candidates.append(UsbAddress(bus=hub.bus, port=(*hub.port, port)))
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise BusFull(
        f"no free port on bus 'usb' ({len(candidates)} of {len(candidates)} used)",
        bus="usb",
        limit=len(candidates),
    )


def _hubs(devices: tuple[Device, ...]) -> list[UsbAddress]:
    return [
        device.address
        for device in devices
        if device.is_usb_hub and isinstance(device.address, UsbAddress)
    ]
