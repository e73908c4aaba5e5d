"""PCI, PCIe and CCW placement for a new device, growing the topology where libvirt would.

Conventional PCI (i440fx ``pc``): a slot with no function in use on pci-root or a pci-bridge.
libvirt keeps one spare slot for a future bridge (qemuDomainAssignPCIAddresses reserves "1 extra
slot for a (potential) bridge"): with two or more free slots the device takes the lowest; with
exactly one, a pci-bridge goes there and the device behind it; with none, nothing fits. pseries
grows by a new PHB instead, which needs no slot.

PCIe (q35, arm ``virt``): endpoints never sit on pcie-root. The device takes slot 0 of the
lowest-index empty pcie-root-port or pcie-switch-downstream-port; else a new pcie-root-port is
added, on a free function of a root-port slot that is already multifunction, or on the first
completely free slot. Never on a free function of a slot whose function 0 lacks
``multifunction='on'``: libvirt would set it on that existing device and so change its address.

A new bridge or port makes a new bus, and firmware numbers buses depth first in slot order: one
that comes before an existing bridge would shift the guest-visible bus number of every bus
after it (``/dev/disk/by-path``, ``enpXsY``), though libvirt's addresses stay. So a new bus goes
after every existing one in that order when any place allows it; else the plan warns.
"""

from __future__ import annotations

import attrs

from stable_rescue.errors import BusFull, UnsupportedMachine
from stable_rescue.machine import is_pcie
from stable_rescue.model import (
    AddedController,
    CcwAddress,
    Controller,
    Domain,
    MachineFamily,
    PciAddress,
    SpaprVioAddress,
)

SLOTS_PER_BUS = 32
FUNCTIONS_PER_SLOT = 8
# pci-bridge and pcie-to-pci-bridge keep slot 0 for their SHPC; pci-root's slot 0 is the host.
_CONVENTIONAL_BUS_MODELS = ("pci-root", "pci-bridge", "pcie-to-pci-bridge")
_ENDPOINT_PORT_MODELS = ("pcie-root-port", "pcie-switch-downstream-port")
# q35's chipset: 00:1f.0 LPC, 00:1f.2 SATA 0, 00:1f.3 SMBus (qemuDomainValidateDevicePCISlotsQ35).
_Q35_RESERVED_SLOTS = frozenset({0x1F})
# i440fx's chipset: PIIX3 at 00:01.0 to 00:01.3 (qemuDomainValidateDevicePCISlotsPIIX3).
_I440FX_RESERVED_SLOTS = frozenset({1})
# A PHB's target index is 0 to 30: libvirt refuses 31 ("PCI controller target index '31' out
# of range - must be 0-30").
SPAPR_MAX_PHBS = 31
# libvirt's first reg for a spapr-vio SCSI controller, and its step (qemuDomainAssignSpaprVIO...).
SPAPR_VIO_SCSI_REG = 0x2000
SPAPR_VIO_REG_STEP = 0x1000
CCW_CSSID = 0xFE
CCW_MAX_DEVNO = 0xFFFF


@attrs.frozen(kw_only=True)
class PciPlacement:
    """Where the new device goes, the controllers added to make room for it, and warnings."""

    address: PciAddress
    controllers_added: tuple[AddedController, ...] = ()
    warnings: tuple[str, ...] = ()


# A bus's place in firmware enumeration: the (slot, function) steps to its bridge from a root.
BusPath = tuple[tuple[int, int], ...]


def _bus_paths(domain: Domain) -> dict[int, BusPath]:
    """Every PCI controller's bus, keyed by index, with its path; root buses have ``()``.

    Firmware numbers buses depth first, in slot and function order: sorting paths gives the
    order of the bus numbers the guest sees.
    """
    by_index = {controller.index: controller for controller in _pci_controllers(domain)}
    paths: dict[int, BusPath] = {}

    def path(index: int, seen: frozenset[int]) -> BusPath:
        if index in paths:
            return paths[index]
        controller = by_index.get(index)
        address = controller.device.address if controller is not None else None
        if index in seen or not isinstance(address, PciAddress):
            found: BusPath = ()  # a root bus (or a loop libvirt would refuse)
        else:
            found = (*path(address.bus, seen | {index}), (address.slot, address.function))
        paths[index] = found
        return found

    for index in by_index:
        path(index, frozenset())
    return paths


def _keeps_bus_numbers(domain: Domain, parent_bus: int, slot: int, function: int = 0) -> bool:
    """Whether a new bus at ``parent_bus``:``slot``.``function`` comes after every existing one.

    Rule E6.
    """
    paths = _bus_paths(domain)
    new = (*paths.get(parent_bus, ()), (slot, function))
    return all(new > existing for existing in paths.values() if existing)


def _bus_shift_warning(model: str, address: PciAddress) -> str:
    return (
        f"the new {model} at {address.bus:02x}:{address.slot:02x}.{address.function:x} comes "
        "before existing PCI bridges in firmware order: during the rescue the guest sees the "
        "buses behind them one number higher (libvirt's addresses do not change)"
    )


def _pci_controllers(domain: Domain) -> tuple[Controller, ...]:
    return tuple(
        sorted(
            (c for c in domain.controllers if c.type == "pci"),
            key=lambda controller: controller.index,
        )
    )


def _used_functions(domain: Domain) -> frozenset[tuple[int, int, int]]:
    """(bus, slot, function) of every device with a PCI address in domain 0."""
    return frozenset(
        (device.address.bus, device.address.slot, device.address.function)
        for device in domain.devices
        if isinstance(device.address, PciAddress) and device.address.domain == 0
    )


def _next_controller_index(domain: Domain) -> int:
    """One above every PCI controller index, declared or implied by a device's bus number."""
    indexes = [controller.index for controller in _pci_controllers(domain)]
    indexes.extend(bus for bus, _, _ in _used_functions(domain))
    return max(indexes, default=0) + 1


def implied_pci_controllers(domain: Domain) -> tuple[str, ...]:
    """Keys of the PCI controllers devices use but the XML omits (bus 0 is always there).

    libvirt adds each at define, at an address of its own choosing, which a rescue device with
    an explicit address could change: they are unaddressed devices (rule G2).
    """
    declared = {controller.index for controller in _pci_controllers(domain)}
    buses = {bus for bus, _, _ in _used_functions(domain)} - declared - {0}
    return tuple(f"controller:pci:{bus}" for bus in sorted(buses))


def place_pci_device(domain: Domain, alias_prefix: str, *, conventional: bool) -> PciPlacement:
    """A PCI address for a new device on the domain's machine.

    ``conventional`` devices (AHCI, lsilogic) are plain PCI: on a PCIe machine libvirt puts them
    behind a pcie-to-pci-bridge, not on a root port. virtio devices are PCIe endpoints there.
    """
    family = domain.machine.family
    if is_pcie(domain.machine):
        if conventional:
            return _place_conventional_on_pcie(domain, alias_prefix)
        return _place_pcie(domain, alias_prefix)
    if family in (MachineFamily.I440FX, MachineFamily.PSERIES):
        return _place_conventional(domain, alias_prefix)
    raise UnsupportedMachine(
        f"PCI placement on machine '{domain.machine.machine}' ({domain.machine.arch}); "
        "expected pc, q35, arm virt or pseries",
        machine=domain.machine.machine,
    )


# --- conventional PCI --------------------------------------------------------------------------


def _conventional_buses(domain: Domain, *, include_root: bool) -> list[tuple[int, range]]:
    """(bus index, usable slots) of every bus a conventional PCI device may sit on.

    Rule P2.
    """
    buses: list[tuple[int, range]] = []
    controllers = _pci_controllers(domain)
    if include_root and not any(controller.index == 0 for controller in controllers):
        buses.append((0, range(1, SLOTS_PER_BUS)))
    for controller in controllers:
        if controller.model == "pci-root" and not include_root:
            continue
        if controller.model in _CONVENTIONAL_BUS_MODELS:
            buses.append((controller.index, range(1, SLOTS_PER_BUS)))
    return buses


def _free_conventional_slots(domain: Domain, *, include_root: bool = True) -> list[PciAddress]:
    """Every free conventional slot, lowest bus index then lowest slot first.

    Rule P1: slot 0, and i440fx's PIIX3 slot 1 of bus 0, are never free.
    """
    used = _used_functions(domain)
    used_slots = {(bus, slot) for bus, slot, _ in used}
    reserved = (
        _I440FX_RESERVED_SLOTS if domain.machine.family is MachineFamily.I440FX else frozenset()
    )
    free: list[PciAddress] = []
    for bus, slots in _conventional_buses(domain, include_root=include_root):
        for slot in slots:
            if bus == 0 and slot in reserved:
                continue
            if (bus, slot) not in used_slots:
                free.append(PciAddress(bus=bus, slot=slot))
    return free


def _place_conventional(domain: Domain, alias_prefix: str) -> PciPlacement:
    """A conventional PCI slot on i440fx or pseries, growing by a bridge or a PHB.

    Rules P3 and P4: one slot is kept free for a bridge; a ``pci-bridge`` goes into the last one
    (pseries grows by a PHB instead, rule V5).
    """
    free = _free_conventional_slots(domain)
    if len(free) >= 2:
        return PciPlacement(address=free[0])
    if domain.machine.family is MachineFamily.PSERIES:
        return _new_phb(domain, alias_prefix)
    if len(free) == 1:
        index = _next_controller_index(domain)
        bridge = AddedController(
            type="pci",
            index=index,
            model="pci-bridge",
            alias=f"{alias_prefix}pci-bridge{index}",
            address=free[0],
            chassis_nr=index,
        )
        warnings: tuple[str, ...] = ()
        if not _keeps_bus_numbers(domain, free[0].bus, free[0].slot):
            warnings = (_bus_shift_warning("pci-bridge", free[0]),)
        return PciPlacement(
            address=PciAddress(bus=index, slot=1), controllers_added=(bridge,), warnings=warnings
        )
    raise BusFull(
        "no free PCI slot (0 free; expected 1 for the device, or 1 for a pci-bridge)",
        bus="pci",
        limit=0,
    )


def _new_phb(domain: Domain, alias_prefix: str) -> PciPlacement:
    """A new pseries PHB, the device in its slot 1 (rule V5 in docs/policy.md).

    pseries grows by PHBs, not bridges: virDomainPCIAddressSetGrow adds a pci-root when the
    machine has multiple roots. A PHB takes no slot, and the guest sees it as a PCI domain of its
    own, so no existing bus number changes. Its ``<target index>`` is the lowest one unused, as
    libvirt gives a PHB defined without one (checked with libvirt 9.0 and 11.3).
    """
    roots = [
        controller for controller in _pci_controllers(domain) if controller.model == "pci-root"
    ]
    used = {root.target_index for root in roots if root.target_index is not None}
    # PHBs written without a target index get theirs from libvirt, lowest first, before ours.
    for root in roots:
        if root.target_index is None:
            used.add(0 if root.index == 0 else _lowest_unused(used))
    target_index = _lowest_unused(used)
    if target_index >= SPAPR_MAX_PHBS:
        raise BusFull(
            f"no free PCI slot and no free PHB index (QEMU allows {SPAPR_MAX_PHBS} PHBs)",
            bus="pci",
            limit=SPAPR_MAX_PHBS,
        )
    index = _next_controller_index(domain)
    phb = AddedController(
        type="pci",
        index=index,
        model="pci-root",
        alias=f"{alias_prefix}pci-root{index}",
        target_index=target_index,
    )
    return PciPlacement(address=PciAddress(bus=index, slot=1), controllers_added=(phb,))


def _lowest_unused(used: set[int]) -> int:
    return next(number for number in range(len(used) + 1) if number not in used)


# --- PCIe --------------------------------------------------------------------------------------


def _place_pcie(domain: Domain, alias_prefix: str) -> PciPlacement:
    """Slot 0 of an empty port, else of a new pcie-root-port.

    Rules E1 and E2.
    """
    empty = _empty_ports(domain)
    if empty:
        return PciPlacement(address=PciAddress(bus=empty[0], slot=0))
    return _new_root_port(domain, alias_prefix)


def _empty_ports(domain: Domain) -> list[int]:
    """The indexes of root and downstream ports with nothing behind them, lowest first.

    Rule E1.
    """
    occupied_buses = {bus for bus, _, _ in _used_functions(domain)}
    return [
        controller.index
        for controller in _pci_controllers(domain)
        if controller.model in _ENDPOINT_PORT_MODELS and controller.index not in occupied_buses
    ]


def _new_root_port(domain: Domain, alias_prefix: str) -> PciPlacement:
    """A new pcie-root-port after every existing bus, the device at its slot 0.

    Rule E2: chassis equal to its index, port equal to slot x 8 + function.
    """
    port_address, keeps_numbers = _new_root_port_address(domain, _used_functions(domain))
    index = _next_controller_index(domain)
    root_port = AddedController(
        type="pci",
        index=index,
        model="pcie-root-port",
        alias=f"{alias_prefix}pcie-root-port{index}",
        address=port_address,
        chassis=index,
        port=port_address.slot * FUNCTIONS_PER_SLOT + port_address.function,
    )
    return PciPlacement(
        address=PciAddress(bus=index, slot=0),
        controllers_added=(root_port,),
        warnings=() if keeps_numbers else (_bus_shift_warning("pcie-root-port", port_address),),
    )


def _new_root_port_address(
    domain: Domain, used: frozenset[tuple[int, int, int]]
) -> tuple[PciAddress, bool]:
    """The first place for a new root port after every existing bus, else the first at all.

    The second value says whether the guest's bus numbers are kept.

    Rules E3 and E6.
    """
    candidates = _root_port_candidates(domain, used)
    if not candidates:
        raise BusFull(
            "no free slot on pcie-root for a new pcie-root-port (every slot in use)",
            bus="pcie",
            limit=0,
        )
    for candidate in candidates:
        if _keeps_bus_numbers(domain, 0, candidate.slot, candidate.function):
            return candidate, True
    return candidates[0], False


def _root_port_candidates(
    domain: Domain, used: frozenset[tuple[int, int, int]]
) -> list[PciAddress]:
    """Free functions of multifunction root-port slots, then completely free slots.

    Rules E3 and E4: a free function only in a slot whose function 0 is a multifunction root port.
    """
    multifunction_port_slots = sorted(
        controller.device.address.slot
        for controller in _pci_controllers(domain)
        if controller.model == "pcie-root-port"
        and isinstance(controller.device.address, PciAddress)
        and controller.device.address.bus == 0
        and controller.device.address.function == 0
        and controller.device.address.multifunction
    )
    candidates = [
        PciAddress(bus=0, slot=slot, function=function)
        for slot in multifunction_port_slots
        for function in range(1, FUNCTIONS_PER_SLOT)
        if (0, slot, function) not in used
    ]
    used_slots = {slot for bus, slot, _ in used if bus == 0}
    reserved = _Q35_RESERVED_SLOTS if domain.machine.family is MachineFamily.Q35 else frozenset()
    candidates.extend(
        PciAddress(bus=0, slot=slot)
        for slot in range(1, SLOTS_PER_BUS)
        if slot not in used_slots and slot not in reserved
    )
    return candidates


def _place_conventional_on_pcie(domain: Domain, alias_prefix: str) -> PciPlacement:
    """A slot on an existing PCI bridge, else a new pcie-to-pci-bridge on a PCIe port.

    The bridge's bus goes after every existing bus when some port allows it: an empty port
    that is last in firmware order, else a new root port; else the first empty port, with a
    warning.

    Rules E5 and E6; on arm virt too (rule V4).
    """
    free = _free_conventional_slots(domain, include_root=False)
    if free:
        return PciPlacement(address=free[0])
    port = _port_for_bridge(domain, alias_prefix)
    index = max(
        [_next_controller_index(domain)] + [added.index + 1 for added in port.controllers_added]
    )
    bridge = AddedController(
        type="pci",
        index=index,
        model="pcie-to-pci-bridge",
        alias=f"{alias_prefix}pcie-to-pci-bridge{index}",
        address=port.address,
    )
    return PciPlacement(
        address=PciAddress(bus=index, slot=1),
        controllers_added=(*port.controllers_added, bridge),
        warnings=port.warnings,
    )


def _port_for_bridge(domain: Domain, alias_prefix: str) -> PciPlacement:
    """Slot 0 of the port a new pcie-to-pci-bridge goes behind (rule E6 in docs/policy.md)."""
    empty = _empty_ports(domain)
    for index in empty:
        if _keeps_bus_numbers(domain, index, 0):
            return PciPlacement(address=PciAddress(bus=index, slot=0))
    try:
        port = _new_root_port(domain, alias_prefix)
    except BusFull:
        if not empty:
            raise
        port = None
    if port is not None and (not port.warnings or not empty):
        return port
    address = PciAddress(bus=empty[0], slot=0)
    return PciPlacement(
        address=address, warnings=(_bus_shift_warning("pcie-to-pci-bridge", address),)
    )


# --- CCW ---------------------------------------------------------------------------------------


def place_ccw_device(domain: Domain) -> CcwAddress:
    """The lowest free devno in css 0xfe, subchannel set 0 (s390x virtio, rule C1).

    As libvirt's virDomainCCWAddressAssign (domain_addr.c) does: its set starts at 0xfe.0.0000
    (virDomainCCWAddressSetCreate) and steps the devno past every address a device of any kind
    (disk, controller, interface, balloon, ...) holds. Devices on zPCI take no devno.
    """
    used = {
        device.address.devno
        for device in domain.devices
        if isinstance(device.address, CcwAddress)
        and device.address.cssid == CCW_CSSID
        and device.address.ssid == 0
    }
    for devno in range(CCW_MAX_DEVNO + 1):
        if devno not in used:
            return CcwAddress(cssid=CCW_CSSID, ssid=0, devno=devno)
    raise BusFull("no free CCW device number in css 0xfe", bus="ccw", limit=CCW_MAX_DEVNO + 1)


# --- spapr-vio ---------------------------------------------------------------------------------


def place_spapr_vio_device(domain: Domain, *, default_reg: int) -> SpaprVioAddress:
    """The first reg from ``default_reg`` in steps of 0x1000 that no device holds (rule V7).

    As libvirt's qemuDomainAssignSpaprVIOAddress (qemu_domain_address.c) gives a device without
    a reg: the kind's default (0x2000 for SCSI, as QEMU's), stepped past every reg in use.
    """
    used = {
        device.address.reg
        for device in domain.devices
        if isinstance(device.address, SpaprVioAddress)
    }
    reg = default_reg
    while reg in used:
        reg += SPAPR_VIO_REG_STEP
    return SpaprVioAddress(reg=reg)
