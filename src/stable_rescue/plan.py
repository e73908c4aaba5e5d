"""Composes the rules into a ``Plan``: mode, bus, checks, target, address, boot.

The only module that calls the others' planners; every check runs before anything is placed, in
the order a user would want to hear about problems: hypervisor, then the request, then the domain.
"""

from __future__ import annotations

from typing import TypedDict

import attrs

from stable_rescue.allocate import (
    DRIVE_BUSES,
    choose_target,
    implied_drive_controllers,
    place_on_drive_bus,
    place_on_usb,
)
from stable_rescue.boot import RESCUE_BOOT_ORDER, plan_boot
from stable_rescue.errors import (
    AlreadyRescued,
    BusUnavailable,
    InvalidDomain,
    UnaddressedDevices,
    UnsupportedDeviceForBus,
    UnsupportedRescueBus,
    UnsupportedScsiModel,
    UnsupportedSourceForDevice,
    UnsupportedSourceFormat,
)
from stable_rescue.legacy import detached_disks, domain_during_rescue, find_root
from stable_rescue.machine import bus_absence_reason, default_cdrom_bus
from stable_rescue.model import (
    AddedController,
    Address,
    Bus,
    DetachedDisk,
    DeviceType,
    Disk,
    Domain,
    MachineFamily,
    Mode,
    MovedDisk,
    OtherAddress,
    PciAddress,
    Plan,
    RescueRequest,
    SourceType,
)
from stable_rescue.names import index_of_target
from stable_rescue.pci import (
    SPAPR_VIO_SCSI_REG,
    implied_pci_controllers,
    place_ccw_device,
    place_pci_device,
    place_spapr_vio_device,
)
from stable_rescue.request import parse_bus
from stable_rescue.source import shown

ALIAS_PREFIX = "ua-stable-rescue-"
RESCUE_ALIAS = f"{ALIAS_PREFIX}disk"
MOVED_ROOT_ALIAS = f"{ALIAS_PREFIX}root"
# SCSI controller models qemu-system-x86_64, -aarch64 and -ppc64 all have (libvirt's names).
SCSI_MODELS = (
    "virtio-scsi",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
DEFAULT_SCSI_MODEL = "virtio-scsi"
# pseries' own SCSI controller, spapr-vscsi on the spapr-vio bus (rule V7).
IBMVSCSI = "ibmvscsi"
# The PIIX3 IDE function, fixed by the chipset (qemuDomainValidateDevicePCISlotsPIIX3).
PIIX3_IDE_ADDRESS = PciAddress(bus=0, slot=1, function=1)
_DEFAULT_BUS_PROPERTY = {
    DeviceType.DISK: "hw_disk_bus",
    DeviceType.CDROM: "hw_cdrom_bus",
    DeviceType.FLOPPY: "hw_floppy_bus",
}


def make_plan(domain: Domain, request: RescueRequest) -> Plan:
    """The rescue plan for ``domain``; raises a ``RescueError`` when none is legal.

    A domain that carries a record is refused (rule R7).
    """
    if domain.rescued:
        raise AlreadyRescued("domain already carries a rescue record; unrescue it first")
    check_reserved_aliases(domain)
    if request.mode is Mode.LEGACY:
        return _plan_legacy(domain, request)
    return _plan_stable(domain, request)


def check_reserved_aliases(domain: Domain) -> None:
    """Refuse a device that already has an alias the rescue gives what it adds (rule O6).

    The rescue's own names would collide, and unrescue would remove the user's device.

    Rule R7.
    """
    for device in domain.devices:
        alias = device.alias
        if alias is not None and alias.startswith(ALIAS_PREFIX):
            raise InvalidDomain(
                f"<{device.tag}> at {device.xpath} has alias '{alias}'; the '{ALIAS_PREFIX}' "
                "prefix is reserved for the devices a rescue adds, expected another alias",
                alias=alias,
            )


def _plan_stable(domain: Domain, request: RescueRequest) -> Plan:
    """Stable device rescue: every device stays; the rescue device is added, booting first.

    No existing device changes (rule G1): only boot orders are renumbered.
    """
    bus = resolve_bus(domain, request)
    check_device_on_bus(domain, request, bus)
    warnings = check_addresses(domain, request)
    # Placement first: "no free unit" says more than "no free name" when a bus is full.
    placement = place_rescue_device(domain, request, bus)
    target = choose_target(domain, bus)
    boot = plan_boot(domain)
    return Plan(
        mode=Mode.STABLE,
        mode_reason=request.mode_reason,
        target=target,
        bus=bus,
        device_type=request.device_type,
        address=placement.address,
        boot_order=RESCUE_BOOT_ORDER,
        source=request.source,
        source_format=request.source_format,
        readonly=request.device_type is DeviceType.CDROM or request.source.read_only,
        alias=RESCUE_ALIAS,
        controllers_added=placement.controllers_added,
        boot_changes=boot.changes,
        os_boot_removed=boot.os_boot_removed,
        warnings=warnings + placement.warnings + _domain_warnings(domain),
        **_kernel_changes(domain, request),
    )


def _plan_legacy(domain: Domain, request: RescueRequest) -> Plan:
    """Nova's historic layout: the rescue disk in the root's place, the root moved, others out.

    Rules L1, L3 (the root needs an address, even with ``allow_unaddressed``), L4, L5 and L6.
    """
    root = find_root(domain, plan_boot(domain).sequence)
    bus = _root_bus(root)
    check_device_on_bus(domain, request, bus)
    warnings = check_addresses(domain, request)
    if root.device.address is None:
        raise UnaddressedDevices(
            f"root disk '{root.target}' has no address; legacy mode gives its address to the "
            "rescue disk, so it needs one, as virsh dumpxml --inactive prints it",
            devices=root.device.key,
        )
    detached = detached_disks(domain, root)
    boot = plan_boot(domain, leaving=frozenset(disk.device for disk in detached))
    view = domain_during_rescue(domain, root, detached)
    placement = place_rescue_device(view, request, bus)
    moved = MovedDisk(
        xpath=root.device.xpath,
        key=root.device.key,
        old_target=root.target,
        target=choose_target(view, bus),
        address=placement.address,
        boot_order=boot.order_during_rescue(root.device),
        alias=MOVED_ROOT_ALIAS,
    )
    if detached:
        names = ", ".join(disk.target for disk in detached)
        warnings += (
            f"legacy mode detaches {len(detached)} disk(s) for the rescue ({names}); "
            "a stable-device rescue (hw_rescue_bus or hw_rescue_device) keeps them",
        )
    return Plan(
        mode=Mode.LEGACY,
        mode_reason=request.mode_reason,
        target=root.target,
        bus=bus,
        device_type=DeviceType.DISK,
        address=root.device.address,
        boot_order=RESCUE_BOOT_ORDER,
        source=request.source,
        source_format=request.source_format,
        readonly=request.source.read_only,
        alias=RESCUE_ALIAS,
        controllers_added=placement.controllers_added,
        # The root's order is written into its rewritten copy; the record keeps the original.
        boot_changes=tuple(c for c in boot.changes if c.key != root.device.key),
        os_boot_removed=boot.os_boot_removed,
        root_moved=moved,
        detached=tuple(
            DetachedDisk(xpath=disk.device.xpath, key=disk.device.key) for disk in detached
        ),
        warnings=warnings + placement.warnings + _domain_warnings(domain),
        **_kernel_changes(domain, request),
    )


def _root_bus(root: Disk) -> Bus:
    try:
        return Bus(root.bus)
    except ValueError:
        raise UnsupportedRescueBus(
            f"root disk '{root.target}' is on bus '{root.bus}'; legacy mode puts the rescue disk "
            f"on the root's bus, expected one of {', '.join(bus.value for bus in Bus)}",
            bus=root.bus,
        ) from None


def _domain_warnings(domain: Domain) -> tuple[str, ...]:
    """What the plan warns about the domain itself, whatever the rescue.

    Rule S2: secure boot needs signed rescue media.
    """
    warnings = live_dump_warnings(domain.live_signs)
    if domain.firmware.secure_boot:
        warnings += (
            "secure boot is on: the rescue media must be signed for this firmware, "
            "or the guest falls back to its previous boot devices",
        )
    return warnings


def live_dump_warnings(signs: tuple[str, ...]) -> tuple[str, ...]:
    """The warning for input that is a running domain's live XML (``parse.live_state_signs``)."""
    if not signs:
        return ()
    return (
        f"input looks like a live dump ({'; '.join(signs)}): defining the result makes the "
        "running configuration persistent; dump with virsh dumpxml --inactive --security-info",
    )


class _KernelChanges(TypedDict):
    kernel_removed: bool
    kernel_replaced: bool
    kernel: str | None
    initrd: str | None
    cmdline: str | None


def _kernel_changes(domain: Domain, request: RescueRequest) -> _KernelChanges:
    """Direct kernel boot skips the disks: take it out, or replace it with the rescue kernel.

    Rules K1, K2 and K3.
    """
    kernel_kept = domain.firmware.kernel is not None
    return {
        "kernel_removed": kernel_kept and request.kernel is None,
        "kernel_replaced": kernel_kept and request.kernel is not None,
        "kernel": request.kernel,
        "initrd": request.initrd,
        "cmdline": request.cmdline,
    }


def resolve_bus(domain: Domain, request: RescueRequest) -> Bus:
    """``hw_rescue_bus``, else the default for the device type from the rescue image's properties.

    The machine in the cdrom default is the domain's own, never the image's ``hw_machine_type``:
    a rescue does not change the machine (Nova's use of the image's picks ide on q35, which fails).
    """
    if request.bus is not None:
        return request.bus
    device = request.device_type
    if device is DeviceType.LUN:
        return Bus.SCSI
    property_name = _DEFAULT_BUS_PROPERTY[device]
    value = request.image_property(property_name)
    if value is not None:
        return parse_bus(value, property_name)
    if device is DeviceType.CDROM:
        return default_cdrom_bus(domain.machine)
    if device is DeviceType.FLOPPY:
        return Bus.FDC
    return Bus.VIRTIO


def check_device_on_bus(domain: Domain, request: RescueRequest, bus: Bus) -> None:
    """Refuse what libvirt or QEMU would refuse: device x bus x machine x source."""
    reason = bus_absence_reason(domain.machine, bus)
    if reason is not None:
        raise BusUnavailable(reason, bus=bus.value, machine=domain.machine.machine)
    device = request.device_type
    if device is DeviceType.CDROM and bus is Bus.VIRTIO:
        raise UnsupportedDeviceForBus(
            "device 'cdrom' on bus 'virtio' (virtio has no ejectable media); "
            "expected scsi, sata, ide or usb",
            device=device.value,
            bus=bus.value,
        )
    if (device is DeviceType.FLOPPY) != (bus is Bus.FDC):
        expected = "bus 'fdc'" if device is DeviceType.FLOPPY else "device 'floppy'"
        raise UnsupportedDeviceForBus(
            f"device '{device.value}' on bus '{bus.value}'; expected {expected}",
            device=device.value,
            bus=bus.value,
        )
    if device is DeviceType.DISK and bus in (Bus.IDE, Bus.SATA) and request.source.read_only:
        # libvirt (qemuValidateDomainDeviceDefDisk): "readonly ide/sata disks are not supported".
        raise UnsupportedDeviceForBus(
            f"device 'disk' on bus '{bus.value}' with read-only media "
            f"('{request.source.display}', an RBD snapshot); libvirt refuses read-only "
            f"{bus.value} disks, expected bus virtio, scsi or usb, or device cdrom",
            device=device.value,
            bus=bus.value,
        )
    if device is DeviceType.LUN:
        if request.source_format != "raw":
            # libvirt: "disk device 'lun' must use 'raw' format" (SCSI commands pass through).
            raise UnsupportedSourceFormat(
                f"source format '{request.source_format}' for device 'lun'; expected 'raw'",
                source_format=request.source_format,
            )
        if bus is not Bus.SCSI:
            raise UnsupportedDeviceForBus(
                f"device 'lun' on bus '{bus.value}'; expected bus 'scsi'",
                device=device.value,
                bus=bus.value,
            )
        source = request.source
        # libvirt: "disk device='lun' is only valid for block type disk source", and of network
        # protocols it takes only iscsi ("not supported for protocol='rbd'").
        if source.type is SourceType.FILE or (
            source.type is SourceType.NETWORK and source.protocol != "iscsi"
        ):
            raise UnsupportedSourceForDevice(
                f"device 'lun' with source '{source.display}'; "
                "expected a block device or an iscsi LUN",
                device=device.value,
            )


def check_addresses(domain: Domain, request: RescueRequest) -> tuple[str, ...]:
    """Refuse devices without addresses unless the caller accepted the loss of stability.

    Rules A1 and A3; controllers the XML omits count too (rule G2).
    """
    unaddressed = [device.key for device in domain.devices if device.needs_address]
    # Controllers the XML omits but its devices use: libvirt adds and places them at define.
    unaddressed += implied_pci_controllers(domain) + implied_drive_controllers(domain)
    if not unaddressed:
        return ()
    names = ", ".join(unaddressed)
    if not request.allow_unaddressed:
        raise UnaddressedDevices(
            f"{len(unaddressed)} device(s) without an address ({names}); expected explicit "
            "addresses, as virsh dumpxml --inactive prints them",
            devices=names,
        )
    return (
        f"devices without an address ({names}) will be placed by libvirt after the rescue "
        "device: their addresses may differ from a define without it",
    )


@attrs.frozen(kw_only=True)
class Placement:
    """The rescue device's address, the controllers added for it, and what they cost."""

    address: Address
    controllers_added: tuple[AddedController, ...] = ()
    warnings: tuple[str, ...] = ()


def place_rescue_device(domain: Domain, request: RescueRequest, bus: Bus) -> Placement:
    """The rescue device's address, and the controllers added to make room for it.

    On arm virt, a domain whose virtio disks use virtio-mmio gets a virtio-mmio rescue disk (rule
    M1).
    """
    if bus is Bus.VIRTIO:
        if domain.machine.family is MachineFamily.S390_CCW:
            return Placement(address=place_ccw_device(domain))
        if _uses_virtio_mmio(domain):
            return Placement(
                address=OtherAddress(type="virtio-mmio"), warnings=_virtio_mmio_warnings(domain)
            )
        pci = place_pci_device(domain, ALIAS_PREFIX, conventional=False)
        return Placement(
            address=pci.address, controllers_added=pci.controllers_added, warnings=pci.warnings
        )
    if bus is Bus.USB:
        return Placement(address=place_on_usb(domain))
    drive = place_on_drive_bus(domain, bus)
    if drive.new_controller_index is None:
        return Placement(address=drive.address)
    controllers, warnings = _new_drive_controller(domain, request, bus, drive.new_controller_index)
    return Placement(address=drive.address, controllers_added=controllers, warnings=warnings)


def _new_drive_controller(
    domain: Domain, request: RescueRequest, bus: Bus, index: int
) -> tuple[tuple[AddedController, ...], tuple[str, ...]]:
    """The drive controller to add at ``index``, and the PCI controllers it needs.

    Rule D5: ide at the PIIX3 function, fdc without address, sata without model, scsi of
    ``hw_scsi_model`` (virtio-scsi by default, a PCIe endpoint on PCIe machines; rule V4 on arm
    virt).
    """
    controller_type = DRIVE_BUSES[bus].controller_type
    alias = f"{ALIAS_PREFIX}{controller_type}{index}"
    if bus is Bus.IDE:
        ide = AddedController(
            type=controller_type, index=index, model=None, alias=alias, address=PIIX3_IDE_ADDRESS
        )
        return (ide,), ()
    if bus is Bus.FDC:
        return (AddedController(type=controller_type, index=index, model=None, alias=alias),), ()
    model = None
    conventional = True
    if bus is Bus.SCSI:
        requested = request.image_property("hw_scsi_model")
        # Only an absent property means the default: an empty one is a model name, and wrong.
        model = DEFAULT_SCSI_MODEL if requested is None else requested
        if domain.machine.family is MachineFamily.S390_CCW:
            return (_s390x_scsi_controller(domain, model, index, alias),), ()
        if model == IBMVSCSI and domain.machine.family is MachineFamily.PSERIES:
            ibmvscsi = AddedController(
                type="scsi",
                index=index,
                model=model,
                alias=alias,
                address=place_spapr_vio_device(domain, default_reg=SPAPR_VIO_SCSI_REG),
            )
            return (ibmvscsi,), ()
        if model not in SCSI_MODELS:
            pseries = domain.machine.family is MachineFamily.PSERIES
            expected = ", ".join(SCSI_MODELS + ((IBMVSCSI,) if pseries else ()))
            raise UnsupportedScsiModel(
                f"hw_scsi_model '{shown(model)}' on machine '{domain.machine.machine}'; "
                f"expected one of {expected}",
                model=model,
            )
        conventional = model != "virtio-scsi"
    # libvirt 9 has no model name for SATA (it refuses 'ich9-ahci'): the AHCI is implied.
    placement = place_pci_device(domain, ALIAS_PREFIX, conventional=conventional)
    controller = AddedController(
        type=controller_type, index=index, model=model, alias=alias, address=placement.address
    )
    return (*placement.controllers_added, controller), placement.warnings


def _s390x_scsi_controller(domain: Domain, model: str, index: int, alias: str) -> AddedController:
    """A virtio-scsi controller on the channel subsystem (rules C2, C3 in docs/policy.md).

    qemu-system-s390x has no other SCSI controller: libvirt refuses the rest at define ("This
    QEMU doesn't support the LSI 53C895A SCSI controller").
    """
    if model != DEFAULT_SCSI_MODEL:
        raise UnsupportedScsiModel(
            f"hw_scsi_model '{shown(model)}' on machine '{domain.machine.machine}' (s390x), whose "
            f"only SCSI controller is virtio-scsi; expected {DEFAULT_SCSI_MODEL}",
            model=model,
        )
    return AddedController(
        type="scsi", index=index, model=model, alias=alias, address=place_ccw_device(domain)
    )


def _virtio_mmio_warnings(domain: Domain) -> tuple[str, ...]:
    """Rule M2: the virtio-mmio devices that a virtio-mmio rescue disk moves in the guest.

    libvirt writes no position for virtio-mmio, and QEMU plugs each such device into the next
    free transport in command-line order (seen with ``info qtree``). libvirt puts controllers
    before the disks, the disks in its disk order (virtio ones by name index), and every other
    device kind after them (qemuBuildCommandLine). So each virtio-mmio device after the rescue
    disk in that order moves to another transport: another MMIO address in the guest.
    """
    rescue_index = index_of_target(choose_target(domain, Bus.VIRTIO))
    assert rescue_index is not None  # choose_target gives names with an index
    lower_disks = {
        disk.device.key
        for disk in domain.disks
        if disk.bus == Bus.VIRTIO.value
        and (index := index_of_target(disk.target)) is not None
        and index < rescue_index
    }
    moved = [
        device.key
        for device in domain.devices
        if isinstance(device.address, OtherAddress)
        and device.address.type == "virtio-mmio"
        and device.tag != "controller"
        and device.key not in lower_disks
    ]
    if not moved:
        return ()
    return (
        "the rescue disk goes on virtio-mmio, whose transports QEMU hands out in command-line "
        f"order: during the rescue {', '.join(moved)} sit(s) on the next transport, at another "
        "MMIO address in the guest (libvirt's XML has no position to keep)",
    )


def _uses_virtio_mmio(domain: Domain) -> bool:
    if domain.machine.family is not MachineFamily.ARM_VIRT:
        return False
    return any(
        isinstance(disk.device.address, OtherAddress) and disk.device.address.type == "virtio-mmio"
        for disk in domain.disks
        if disk.bus == Bus.VIRTIO.value
    )
