"""Frozen value objects for a domain, a rescue request and a rescue plan. Knows no XML.

Enum values are the XML strings themselves, so there is no mapping table to drift.
"""

from __future__ import annotations

import enum

import attrs


class Bus(enum.Enum):
    """A disk bus, as ``<target bus>`` and ``hw_rescue_bus`` spell it."""

    VIRTIO = "virtio"
    SCSI = "scsi"
    SATA = "sata"
    IDE = "ide"
    USB = "usb"
    FDC = "fdc"


class DeviceType(enum.Enum):
    """A disk device type, as ``<disk device>`` and ``hw_rescue_device`` spell it."""

    DISK = "disk"
    CDROM = "cdrom"
    FLOPPY = "floppy"
    LUN = "lun"


class SourceType(enum.Enum):
    """How the rescue media is reached, as ``<disk type>`` spells it."""

    FILE = "file"
    BLOCK = "block"
    NETWORK = "network"


class MachineFamily(enum.Enum):
    """The machine classes whose device topology differs."""

    I440FX = "i440fx"
    Q35 = "q35"
    ARM_VIRT = "virt"
    PSERIES = "pseries"
    S390_CCW = "s390-ccw-virtio"
    OTHER = "other"


class Mode(enum.Enum):
    """Stable device rescue, or Nova's historic layout."""

    STABLE = "stable"
    LEGACY = "legacy"


# --- addresses ---------------------------------------------------------------------------------


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen(kw_only=True, order=True)
class DriveAddress:
    """``<address type='drive'>``: a unit on an ide, sata, scsi or fdc controller."""

    controller: int = attrs.field(validator=_non_negative)
    bus: int = attrs.field(default=0, validator=_non_negative)
    target: int = attrs.field(default=0, validator=_non_negative)
    unit: int = attrs.field(validator=_non_negative)


@attrs.frozen(kw_only=True, order=True)
class UsbAddress:
    """``<address type='usb'>``: a port on a USB controller, dotted through hubs (``(1, 3)``)."""

    bus: int = attrs.field(validator=_non_negative)
    port: tuple[int, ...]

    @property
    def port_text(self) -> str:
        """The port as libvirt writes it: ``1.3``."""
        return ".".join(str(p) for p in self.port)


@attrs.frozen(kw_only=True, order=True)
class PciAddress:
    """``<address type='pci'>``."""

    domain: int = attrs.field(default=0, validator=_non_negative)
    bus: int = attrs.field(validator=_non_negative)
    slot: int = attrs.field(validator=_non_negative)
    function: int = attrs.field(default=0, validator=_non_negative)
    multifunction: bool = attrs.field(default=False, eq=False, order=False)


@attrs.frozen(kw_only=True, order=True)
class CcwAddress:
    """``<address type='ccw'>`` (s390x channel I/O)."""

    cssid: int = attrs.field(validator=_non_negative)
    ssid: int = attrs.field(validator=_non_negative)
    devno: int = attrs.field(validator=_non_negative)


@attrs.frozen(kw_only=True, order=True)
class SpaprVioAddress:
    """``<address type='spapr-vio' reg>`` (pseries' virtual I/O bus: ibmvscsi, spapr-vty)."""

    reg: int = attrs.field(validator=_non_negative)


@attrs.frozen(kw_only=True)
class OtherAddress:
    """Any address type the planner does not place devices on (``virtio-serial``, ``isa``, ...)."""

    type: str


Address = DriveAddress | UsbAddress | PciAddress | CcwAddress | SpaprVioAddress | OtherAddress


# --- the domain as parsed ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Device:
    """Any child of ``<devices>``: what the planner must know to keep it where it is.

    ``xpath`` locates the element in the input; ``key`` names it in a way that survives libvirt
    re-sorting devices (a disk's target, an interface's MAC), for the rescue record.
    """

    tag: str
    xpath: str
    key: str
    address: Address | None
    boot_order: int | None = None
    needs_address: bool = False
    is_usb_hub: bool = False
    # Its ``<alias name>`` (``None``: no alias); the ``ua-stable-rescue-`` ones are reserved.
    alias: str | None = None


@attrs.frozen(kw_only=True)
class Disk:
    """A ``<disk>``: its device type, bus and target name."""

    device: Device
    device_type: str
    bus: str
    target: str
    readonly: bool = False
    # The file, block device or network name behind it (``None``: an empty drive).
    source: str | None = None


@attrs.frozen(kw_only=True)
class Controller:
    """A ``<controller>``: type, index and model, plus a PCI controller's port numbering."""

    device: Device
    type: str
    index: int
    model: str | None
    ports: int | None = None
    chassis: int | None = None
    port: int | None = None
    # A pseries PHB's ``<target index>``: the guest's PCI domain number.
    target_index: int | None = None


@attrs.frozen(kw_only=True)
class Machine:
    """The domain's ``<type arch machine>``, which every bus rule depends on."""

    arch: str
    machine: str
    family: MachineFamily


@attrs.frozen(kw_only=True)
class Firmware:
    """What the guest boots with: BIOS, UEFI, secure boot, direct kernel boot."""

    efi: bool = False
    secure_boot: bool = False
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None


@attrs.frozen(kw_only=True)
class Domain:
    """What the planner needs of a libvirt domain. Built by ``parse.parse_domain``."""

    hypervisor: str
    machine: Machine
    firmware: Firmware
    devices: tuple[Device, ...]
    disks: tuple[Disk, ...]
    controllers: tuple[Controller, ...]
    os_boot_devs: tuple[str, ...]
    interfaces: tuple[Device, ...]
    rescued: bool = False
    # What shows the XML is a live dump (``parse.live_state_signs``); empty for a config dump.
    live_signs: tuple[str, ...] = ()


# --- the request -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NetworkHost:
    """A ``<host name port>`` of a network disk."""

    name: str
    port: int | None = None


@attrs.frozen(kw_only=True)
class RescueSource:
    """Where the rescue media is: a file, a block device, or a network disk.

    For a network disk, ``protocol`` and ``name`` are libvirt's ``<source protocol name>``;
    ``auth_username`` and ``secret_uuid`` become ``<auth>`` (a Ceph secret for ``rbd``).
    ``snapshot`` names an RBD snapshot of the image (``<source><snapshot name>``); ``hosts`` may
    then be empty, and libvirt leaves the monitors to the host's Ceph configuration.

    Callers may build one; ``source.check_source`` checks every field (and every ``NetworkHost``)
    before a rescue uses it, raising ``InvalidSource``: this module imports no errors, so the
    check cannot run here, at construction.
    """

    type: SourceType
    path: str = ""
    protocol: str | None = None
    name: str | None = None
    hosts: tuple[NetworkHost, ...] = ()
    auth_username: str | None = None
    secret_uuid: str | None = None
    secret_type: str | None = None
    snapshot: str | None = None

    @property
    def display(self) -> str:
        """A short description for messages (an RBD snapshot as ``rbd:POOL/IMAGE@SNAP``)."""
        if self.type is SourceType.NETWORK:
            snapshot = f"@{self.snapshot}" if self.snapshot is not None else ""
            return f"{self.protocol}:{self.name}{snapshot}"
        return self.path

    @property
    def read_only(self) -> bool:
        """Whether the media can only be read, whatever the device: an RBD snapshot.

        Ceph snapshots are immutable, and QEMU opens an rbd node with a snapshot read-only
        (block/rbd.c), so the disk needs ``<readonly/>`` for QEMU to start.
        """
        return self.snapshot is not None


@attrs.frozen(kw_only=True)
class RescueRequest:
    """What the caller asked for, before any domain-specific default is applied."""

    mode: Mode
    # Why this mode: which rescue keys the image sets (Nova's rule), for the plan.
    mode_reason: str
    device_type: DeviceType
    bus: Bus | None
    image_properties: tuple[tuple[str, str], ...]
    source: RescueSource
    source_format: str
    allow_unaddressed: bool = False
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None

    def image_property(self, name: str) -> str | None:
        """The rescue image's property ``name``, if it has it."""
        return dict(self.image_properties).get(name)


# --- the plan ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AddedController:
    """A controller the rescue adds, fully placed, so libvirt has nothing left to choose."""

    type: str
    index: int
    model: str | None
    alias: str
    # PCI; CCW for a virtio-scsi controller on s390x; spapr-vio for an ibmvscsi on pseries;
    # None for an fdc (ISA) or a pseries PHB, which have no address.
    address: PciAddress | CcwAddress | SpaprVioAddress | None = None
    chassis: int | None = None
    port: int | None = None
    chassis_nr: int | None = None
    target_index: int | None = None


@attrs.frozen(kw_only=True)
class BootOrderChange:
    """A device's ``<boot order>`` before (``None``: it had none) and during the rescue."""

    xpath: str
    key: str
    old: int | None
    new: int


@attrs.frozen(kw_only=True)
class MovedDisk:
    """Legacy mode: the root disk under a new name and address, its place taken by the rescue."""

    xpath: str
    key: str
    old_target: str
    target: str
    address: Address
    # Its order in the rescue's boot sequence (``None``: it was not bootable).
    boot_order: int | None
    alias: str


@attrs.frozen(kw_only=True)
class DetachedDisk:
    """Legacy mode: a disk taken out for the rescue; the record keeps its text for unrescue."""

    xpath: str
    key: str


@attrs.frozen(kw_only=True)
class Plan:
    """Everything the rescue changes, as plain data. ``render`` applies it; JSON shows it."""

    mode: Mode
    mode_reason: str
    target: str
    bus: Bus
    device_type: DeviceType
    address: Address
    boot_order: int
    source: RescueSource
    source_format: str
    # A cdrom, or media that can only be read (an RBD snapshot: QEMU opens it read-only, so a
    # read-write format node on top of it would fail to start).
    readonly: bool
    alias: str
    controllers_added: tuple[AddedController, ...] = ()
    boot_changes: tuple[BootOrderChange, ...] = ()
    os_boot_removed: tuple[str, ...] = ()
    kernel_removed: bool = False
    kernel_replaced: bool = False
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    root_moved: MovedDisk | None = None
    detached: tuple[DetachedDisk, ...] = ()
    warnings: tuple[str, ...] = ()
