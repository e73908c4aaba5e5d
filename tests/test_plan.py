"""Planning through the public API: default buses, refusals, warnings.

The rules are those of docs/properties.md and docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import stable_rescue
from stable_rescue.model import (
    AddedController,
    Address,
    Bus,
    CcwAddress,
    DeviceType,
    DriveAddress,
    Mode,
    OtherAddress,
    PciAddress,
    SpaprVioAddress,
    UsbAddress,
)
from tests.golden_cases import GOLDEN

# pc-i440fx-7.2: pci-root slots 1 (chipset), 2 (video), 3 (net), 4 (vda), 5 (balloon) in use;
# a piix3-uhci USB controller; no ide, sata, scsi or fdc controller element; boot dev='hd'.
PC = "pc-virtio-disk"
# pc-q35-7.2: built-in SATA 0 at 00:1f.2, root ports 1-4 in use and root port 5 (bus 5) empty.
Q35 = "q35-sata-cdrom-default"
IMG = "/var/lib/libvirt/images/rescue.img"
ISO = "/var/lib/libvirt/images/rescue.iso"
BLOCK = "/dev/mapper/rescue"

Edits = Sequence[tuple[str, str]]

NO_USB_CONTROLLER = (
    "    <controller type='usb' index='0' model='piix3-uhci'>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>\n"
    "    </controller>\n",
    "",
)


def golden_input(case: str, edits: Edits = ()) -> str:
    """The golden input of ``case``, with each (old, new) edit applied to its one occurrence."""
    text = (GOLDEN / case / "input.xml").read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} is not in {case} exactly once"
        text = text.replace(old, new)
    return text


def machine(name: str) -> tuple[str, str]:
    """An edit that gives the pc golden input another machine type."""
    return ("machine='pc-i440fx-7.2'", f"machine='{name}'")


def plan(
    case: str,
    properties: dict[str, str],
    source: str = IMG,
    *,
    edits: Edits = (),
    source_type: stable_rescue.SourceTypeName | None = None,
    allow_unaddressed: bool = False,
) -> stable_rescue.Plan:
    """plan_rescue on an edited golden input; raw unless the name settles the format."""
    return stable_rescue.plan_rescue(
        golden_input(case, edits),
        properties,
        source,
        source_format=None if source.endswith(".iso") else "raw",
        source_type=source_type,
        allow_unaddressed=allow_unaddressed,
    )


def controller_summary(
    controllers: tuple[AddedController, ...],
) -> list[tuple[str, int, str | None, PciAddress | CcwAddress | SpaprVioAddress | None]]:
    """Type, index, model and address of each added controller."""
    return [(c.type, c.index, c.model, c.address) for c in controllers]


DRIVE_0 = DriveAddress(controller=0, bus=0, target=0, unit=0)

DEFAULT_BUSES = [
    pytest.param(
        PC,
        {"hw_rescue_device": "disk"},
        IMG,
        Bus.VIRTIO,
        "vdb",
        PciAddress(bus=0, slot=6),
        [],
        id="disk-default-virtio-lowest-free-slot",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "virtio"},
        IMG,
        Bus.VIRTIO,
        "vdb",
        PciAddress(bus=0, slot=6),
        [],
        id="bus-only-device-defaults-to-disk",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "disk", "hw_disk_bus": "sata"},
        IMG,
        Bus.SATA,
        "sda",
        DRIVE_0,
        [("sata", 0, None, PciAddress(bus=0, slot=6))],
        id="disk-hw_disk_bus-sata-adds-ahci",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "disk", "hw_disk_bus": "usb"},
        IMG,
        Bus.USB,
        "sda",
        UsbAddress(bus=0, port=(1,)),
        [],
        id="disk-hw_disk_bus-usb",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "disk", "hw_disk_bus": "sata", "hw_rescue_bus": "usb"},
        IMG,
        Bus.USB,
        "sda",
        UsbAddress(bus=0, port=(1,)),
        [],
        id="hw_rescue_bus-wins-over-hw_disk_bus",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_device": "disk", "hw_disk_bus": "scsi"},
        IMG,
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", PciAddress(bus=5, slot=0))],
        id="disk-hw_disk_bus-scsi-virtio-scsi-on-empty-root-port",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "cdrom"},
        ISO,
        Bus.IDE,
        "hda",
        DRIVE_0,
        [("ide", 0, None, PciAddress(bus=0, slot=1, function=1))],
        id="cdrom-default-ide-on-pc",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_device": "cdrom"},
        ISO,
        Bus.SATA,
        "sda",
        DRIVE_0,
        [],
        id="cdrom-default-sata-on-q35-builtin-ahci",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "usb"},
        ISO,
        Bus.USB,
        "sda",
        UsbAddress(bus=0, port=(1,)),
        [],
        id="cdrom-hw_cdrom_bus-usb",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "scsi"},
        ISO,
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", PciAddress(bus=5, slot=0))],
        id="cdrom-hw_cdrom_bus-scsi",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "cdrom", "hw_disk_bus": "usb"},
        ISO,
        Bus.IDE,
        "hda",
        DRIVE_0,
        [("ide", 0, None, PciAddress(bus=0, slot=1, function=1))],
        id="cdrom-ignores-hw_disk_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "floppy"},
        IMG,
        Bus.FDC,
        "fda",
        DRIVE_0,
        [("fdc", 0, None, None)],
        id="floppy-default-fdc-pc",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_device": "floppy"},
        IMG,
        Bus.FDC,
        "fda",
        DRIVE_0,
        [("fdc", 0, None, None)],
        id="floppy-default-fdc-q35",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "lun"},
        BLOCK,
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", PciAddress(bus=0, slot=6))],
        id="lun-default-scsi",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "lun", "hw_disk_bus": "sata"},
        BLOCK,
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", PciAddress(bus=0, slot=6))],
        id="lun-ignores-hw_disk_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "lun", "hw_scsi_model": "lsilogic"},
        "iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/1",
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "lsilogic", PciAddress(bus=0, slot=6))],
        id="lun-network-hw_scsi_model",
    ),
]


@pytest.mark.parametrize(
    ("case", "properties", "source", "bus", "target", "address", "controllers"), DEFAULT_BUSES
)
def test_default_bus(
    case: str,
    properties: dict[str, str],
    source: str,
    bus: Bus,
    target: str,
    address: Address,
    controllers: list[tuple[str, int, str | None, PciAddress | None]],
) -> None:
    """Without hw_rescue_bus, the device type's default bus from the image decides.

    disk -> hw_disk_bus else virtio; cdrom -> hw_cdrom_bus else sata on q35, ide on pc;
    floppy -> fdc; lun -> scsi. The device takes the first free unit or slot.
    """
    result = plan(case, properties, source)
    assert result.bus is bus
    assert result.target == target
    assert result.address == address
    assert controller_summary(result.controllers_added) == controllers


MACHINE_DECIDES = [
    pytest.param(Q35, {"hw_machine_type": "pc"}, (), Bus.SATA, id="q35-domain-image-says-pc"),
    pytest.param(
        Q35, {"hw_architecture": "aarch64"}, (), Bus.SATA, id="q35-domain-image-says-aarch64"
    ),
    pytest.param(PC, {"hw_machine_type": "q35"}, (), Bus.IDE, id="pc-domain-image-says-q35"),
    pytest.param(PC, {}, (machine("pc"),), Bus.IDE, id="machine-pc"),
    pytest.param(PC, {}, (machine("rhel7.6.0"),), Bus.IDE, id="machine-rhel-i440fx"),
    pytest.param(PC, {}, (machine("pc-1.3"),), Bus.IDE, id="machine-pc-1.x"),
    pytest.param(PC, {}, (machine("q35"),), Bus.SATA, id="machine-q35"),
    pytest.param(PC, {}, (machine("pc-q35-rhel8.6.0"),), Bus.SATA, id="machine-rhel-q35"),
]


@pytest.mark.parametrize(("case", "extra", "edits", "bus"), MACHINE_DECIDES)
def test_domain_machine_decides_cdrom_bus(
    case: str, extra: dict[str, str], edits: Edits, bus: Bus
) -> None:
    """The cdrom default follows the domain's <type machine>, never the image's.

    Neither hw_machine_type nor hw_architecture counts (Nova's use of them picks ide on q35).
    """
    result = plan(case, {"hw_rescue_device": "cdrom", **extra}, ISO, edits=edits)
    assert result.bus is bus
    assert result.device_type is DeviceType.CDROM


REFUSED = [
    pytest.param(
        Q35,
        {"hw_rescue_bus": "virtio", "hw_rescue_device": "cdrom"},
        ISO,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'cdrom' on bus 'virtio' (virtio has no ejectable media); "
        "expected scsi, sata, ide or usb",
        id="cdrom-on-virtio",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "virtio"},
        ISO,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'cdrom' on bus 'virtio' (virtio has no ejectable media); "
        "expected scsi, sata, ide or usb",
        id="cdrom-on-virtio-by-hw_cdrom_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "ide", "hw_rescue_device": "floppy"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'floppy' on bus 'ide'; expected bus 'fdc'",
        id="floppy-on-ide",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "usb", "hw_rescue_device": "floppy"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'floppy' on bus 'usb'; expected bus 'fdc'",
        id="floppy-on-usb",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_bus": "sata", "hw_rescue_device": "floppy"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'floppy' on bus 'sata'; expected bus 'fdc'",
        id="floppy-on-sata",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "virtio", "hw_rescue_device": "floppy"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'floppy' on bus 'virtio'; expected bus 'fdc'",
        id="floppy-on-virtio",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "floppy", "hw_floppy_bus": "scsi"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'floppy' on bus 'scsi'; expected bus 'fdc'",
        id="floppy-on-scsi-by-hw_floppy_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "fdc"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'disk' on bus 'fdc'; expected device 'floppy'",
        id="disk-on-fdc",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_bus": "fdc", "hw_rescue_device": "cdrom"},
        ISO,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'cdrom' on bus 'fdc'; expected device 'floppy'",
        id="cdrom-on-fdc",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "disk", "hw_disk_bus": "fdc"},
        IMG,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'disk' on bus 'fdc'; expected device 'floppy'",
        id="disk-on-fdc-by-hw_disk_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "sata", "hw_rescue_device": "lun"},
        BLOCK,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'lun' on bus 'sata'; expected bus 'scsi'",
        id="lun-on-sata",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "virtio", "hw_rescue_device": "lun"},
        BLOCK,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'lun' on bus 'virtio'; expected bus 'scsi'",
        id="lun-on-virtio",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "usb", "hw_rescue_device": "lun"},
        BLOCK,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'lun' on bus 'usb'; expected bus 'scsi'",
        id="lun-on-usb",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "ide", "hw_rescue_device": "lun"},
        BLOCK,
        (),
        None,
        "unsupported-device-for-bus",
        "device 'lun' on bus 'ide'; expected bus 'scsi'",
        id="lun-on-ide",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "scsi", "hw_rescue_device": "lun"},
        IMG,
        (),
        None,
        "unsupported-source-for-device",
        f"device 'lun' with source '{IMG}'; expected a block device or an iscsi LUN",
        id="lun-with-file-source",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "lun"},
        "/dev/sdz",
        (),
        "file",
        "unsupported-source-for-device",
        "device 'lun' with source '/dev/sdz'; expected a block device or an iscsi LUN",
        id="lun-with-source-forced-to-file",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_bus": "ide"},
        IMG,
        (),
        None,
        "bus-unavailable",
        "bus 'ide' exists only on i440fx machines, not on 'pc-q35-7.2'",
        id="ide-disk-on-q35",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_bus": "ide", "hw_rescue_device": "cdrom"},
        ISO,
        (),
        None,
        "bus-unavailable",
        "bus 'ide' exists only on i440fx machines, not on 'pc-q35-7.2'",
        id="ide-cdrom-on-q35",
    ),
    pytest.param(
        Q35,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "ide"},
        ISO,
        (),
        None,
        "bus-unavailable",
        "bus 'ide' exists only on i440fx machines, not on 'pc-q35-7.2'",
        id="ide-on-q35-by-hw_cdrom_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "ide"},
        IMG,
        (machine("pc-q35-rhel8.6.0"),),
        None,
        "bus-unavailable",
        "bus 'ide' exists only on i440fx machines, not on 'pc-q35-rhel8.6.0'",
        id="ide-on-rhel-q35",
    ),
    pytest.param(
        "pc-usb-none",
        {"hw_rescue_bus": "usb"},
        IMG,
        (),
        None,
        "bus-unavailable",
        "usb controller model is 'none' (USB disabled); expected a USB controller",
        id="usb-model-none",
    ),
    pytest.param(
        "pc-usb-none",
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "usb"},
        ISO,
        (),
        None,
        "bus-unavailable",
        "usb controller model is 'none' (USB disabled); expected a USB controller",
        id="usb-model-none-cdrom",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "usb"},
        IMG,
        (NO_USB_CONTROLLER,),
        None,
        "bus-unavailable",
        "domain has no USB controller; expected one for bus 'usb'",
        id="usb-without-controller",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "disk", "hw_disk_bus": "nvme"},
        IMG,
        (),
        None,
        "unsupported-rescue-bus",
        "hw_disk_bus 'nvme'; expected one of virtio, scsi, sata, ide, usb, fdc",
        id="unknown-hw_disk_bus",
    ),
    pytest.param(
        PC,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "SATA"},
        ISO,
        (),
        None,
        "unsupported-rescue-bus",
        "hw_cdrom_bus 'SATA'; expected one of virtio, scsi, sata, ide, usb, fdc",
        id="hw_cdrom_bus-case-sensitive",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "scsi", "hw_scsi_model": "buslogic"},
        IMG,
        (),
        None,
        "unsupported-scsi-model",
        "hw_scsi_model 'buslogic' on machine 'pc-i440fx-7.2'; expected one of virtio-scsi, "
        "lsilogic, lsisas1068, lsisas1078, vmpvscsi, am53c974, dc390",
        id="unknown-hw_scsi_model",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "nvme"},
        "relative.img",
        (("type='qemu'", "type='lxc'"),),
        None,
        "unsupported-hypervisor",
        "domain type 'lxc'; expected kvm or qemu",
        id="lxc-before-anything-else",
    ),
    pytest.param(
        PC,
        {"hw_rescue_bus": "virtio"},
        IMG,
        (("type='qemu'", "type='xen'"),),
        None,
        "unsupported-hypervisor",
        "domain type 'xen'; expected kvm or qemu",
        id="xen",
    ),
    pytest.param(
        PC,
        {},
        IMG,
        (("device='disk'", "device='cdrom'"),),
        None,
        "no-root-disk",
        "domain has no disk with device='disk' to rescue in legacy mode; expected a root disk, "
        "or hw_rescue_bus/hw_rescue_device on the image for a stable-device rescue",
        id="legacy-without-root-disk",
    ),
    pytest.param(
        PC,
        {},
        IMG,
        (("bus='virtio'/>", "bus='xen'/>"),),
        None,
        "unsupported-rescue-bus",
        "root disk 'vda' is on bus 'xen'; legacy mode puts the rescue disk on the root's bus, "
        "expected one of virtio, scsi, sata, ide, usb, fdc",
        id="legacy-root-on-unknown-bus",
    ),
]


@pytest.mark.parametrize(
    ("case", "properties", "source", "edits", "source_type", "code", "message"), REFUSED
)
def test_refused(
    case: str,
    properties: dict[str, str],
    source: str,
    edits: Edits,
    source_type: stable_rescue.SourceTypeName | None,
    code: str,
    message: str,
) -> None:
    """What libvirt or QEMU would refuse for device x bus x machine x source is refused first."""
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(case, properties, source, edits=edits, source_type=source_type)
    assert caught.value.code == code
    assert caught.value.message == message


def test_rescue_of_a_rescue_is_refused() -> None:
    """Rescuing the output of a rescue raises already-rescued, whatever the properties."""
    rescued = stable_rescue.rescue(
        golden_input(PC), {"hw_rescue_bus": "usb"}, IMG, source_format="raw"
    )
    for properties in ({"hw_rescue_bus": "usb"}, {"hw_rescue_bus": "virtio"}, {}):
        with pytest.raises(stable_rescue.RescueError) as caught:
            stable_rescue.plan_rescue(rescued.xml, properties, IMG, source_format="raw")
        assert caught.value.code == "already-rescued"
        assert caught.value.message == ("domain already carries a rescue record; unrescue it first")


def test_rescue_after_unrescue_is_allowed() -> None:
    """Unrescuing removes the record, so the domain can be rescued again, the same way."""
    original = golden_input(PC)
    first = stable_rescue.rescue(original, {"hw_rescue_bus": "usb"}, IMG, source_format="raw")
    again = stable_rescue.rescue(
        stable_rescue.unrescue(first.xml), {"hw_rescue_bus": "usb"}, IMG, source_format="raw"
    )
    assert again == first


UNADDRESSED = "disk:vda, interface:52:54:00:5a:00:01"


def test_unaddressed_devices_refused() -> None:
    """Devices without addresses are refused by default, naming them.

    Rules A1 and A2: a disk and an interface are addressable.
    """
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan("pc-unaddressed", {"hw_rescue_bus": "virtio"})
    assert caught.value.code == "unaddressed-devices"
    assert caught.value.message == (
        f"2 device(s) without an address ({UNADDRESSED}); expected explicit addresses, "
        "as virsh dumpxml --inactive prints them"
    )


def test_unaddressed_devices_allowed_with_warning() -> None:
    """allow_unaddressed proceeds, and the plan says which guarantee is lost.

    Rule A3.
    """
    result = plan("pc-unaddressed", {"hw_rescue_bus": "virtio"}, allow_unaddressed=True)
    assert result.warnings == (
        f"devices without an address ({UNADDRESSED}) will be placed by libvirt after the rescue "
        "device: their addresses may differ from a define without it",
    )
    assert result.target == "vdb"


# A virtio disk on PCI bus 12 and a SCSI disk on controller 1, neither controller in the XML:
# libvirt adds both at define, at addresses it picks (seen with libvirt 9.0: pcie-root-ports 5 to
# 12 on free functions of 00:02 and 00:03).
IMPLIED_BUS = (
    "    <controller type='pci' index='4'",
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/var/lib/libvirt/images/bus12.img'/>\n"
    "      <target dev='vdz' bus='virtio'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x0c' slot='0x00' function='0x0'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/var/lib/libvirt/images/scsi1.img'/>\n"
    "      <target dev='sdz' bus='scsi'/>\n"
    "      <address type='drive' controller='1' bus='0' target='0' unit='0'/>\n"
    "    </disk>\n"
    "    <controller type='pci' index='4'",
)


def test_implied_controllers_are_unaddressed_devices() -> None:
    """Controllers the XML omits but devices use are placed by libvirt: refused (rule G2)."""
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan("q35-virtio-new-root-port", {"hw_rescue_bus": "virtio"}, edits=(IMPLIED_BUS,))
    assert caught.value.code == "unaddressed-devices"
    assert "controller:pci:12, controller:scsi:1" in caught.value.message


def test_new_root_port_skips_an_implied_bus_number() -> None:
    """Allowed, the new root port takes index 13: bus 12 is the implied controller's."""
    result = plan(
        "q35-virtio-new-root-port",
        {"hw_rescue_bus": "virtio"},
        edits=(IMPLIED_BUS,),
        allow_unaddressed=True,
    )
    [port] = result.controllers_added
    assert port.index == 13
    assert result.address == PciAddress(bus=13, slot=0)
    assert "controller:pci:12" in result.warnings[0]


def test_addressed_domain_has_no_warnings() -> None:
    """A domain dumped by libvirt (every device addressed, no secure boot) plans cleanly."""
    result = plan(PC, {"hw_rescue_bus": "virtio"}, allow_unaddressed=True)
    assert result.warnings == ()


SECURE_BOOT = (
    "secure boot is on: the rescue media must be signed for this firmware, "
    "or the guest falls back to its previous boot devices"
)
FIRMWARE_FEATURE = "<firmware>\n      <feature enabled='yes' name='secure-boot'/>\n    </firmware>"

SECURE_BOOT_CASES = [
    pytest.param((), (SECURE_BOOT,), id="loader-secure-yes"),
    pytest.param((("<loader secure='yes'/>", "<loader secure='no'/>"),), (), id="loader-secure-no"),
    pytest.param((("<loader secure='yes'/>", FIRMWARE_FEATURE),), (SECURE_BOOT,), id="feature"),
]


@pytest.mark.parametrize(("edits", "warnings"), SECURE_BOOT_CASES)
def test_secure_boot_warning(edits: Edits, warnings: tuple[str, ...]) -> None:
    """UEFI with secure boot on warns that the rescue media must be signed.

    Rule S2.
    """
    result = plan("q35-uefi-secure-boot", {"hw_rescue_bus": "virtio"}, edits=edits)
    assert result.warnings == warnings


@pytest.mark.parametrize(
    ("properties", "source", "device", "readonly"),
    [
        ({"hw_rescue_bus": "usb"}, IMG, DeviceType.DISK, False),
        ({"hw_rescue_device": "cdrom"}, ISO, DeviceType.CDROM, True),
        ({"hw_rescue_device": "floppy"}, IMG, DeviceType.FLOPPY, False),
    ],
    ids=["usb-disk", "ide-cdrom", "floppy"],
)
def test_plan_basics(
    properties: dict[str, str], source: str, device: DeviceType, readonly: bool
) -> None:
    """A stable plan boots the rescue device first, under its alias; only a cdrom is read-only."""
    result = plan(PC, properties, source)
    assert result.mode is Mode.STABLE
    assert result.device_type is device
    assert result.boot_order == 1
    assert result.alias == "ua-stable-rescue-disk"
    assert result.readonly is readonly
    assert result.source_format == "raw"
    assert result.os_boot_removed == ("hd",)


def test_lun_with_rbd_source_is_refused() -> None:
    """A lun needs a block device or an iSCSI LUN; an RBD image is not a SCSI LUN."""
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(PC, {"hw_rescue_device": "lun"}, "rbd://mon/pool/image")
    assert caught.value.code == "unsupported-source-for-device"


def test_pseries_scsi_model_on_pc_is_refused() -> None:
    """A SCSI controller model the machine cannot have is refused before libvirt or QEMU."""
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(PC, {"hw_rescue_bus": "scsi", "hw_scsi_model": "ibmvscsi"})
    assert caught.value.code == "unsupported-scsi-model"


# q35-virtio-root-ports-not-multifunction: root ports 1-4 at 00:02.0, 03.0, 04.0, 05.0, all used.
PORTS = "q35-virtio-root-ports-not-multifunction"
PORT_4 = "bus='0x00' slot='0x05' function='0x0'"
BUS_SHIFT = "comes before existing PCI bridges in firmware order"


def test_new_root_port_goes_after_the_last_bus() -> None:
    """Rule E6: with port 4 moved to 00:07.0, the new port goes to 00:08.0, not to 00:05.0.

    Firmware numbers buses depth first in slot order; a port at 00:05.0 would take guest bus 4
    and move everything behind port 4 to bus 5 (seen booted, in test_qemu_boot_proof.py).
    """
    moved = (PORT_4, "bus='0x00' slot='0x07' function='0x0'")
    result = plan(PORTS, {"hw_rescue_bus": "virtio"}, edits=(moved,))
    assert controller_summary(result.controllers_added) == [
        ("pci", 5, "pcie-root-port", PciAddress(bus=0, slot=8))
    ]
    assert not any(BUS_SHIFT in warning for warning in result.warnings)


def test_new_root_port_before_a_bus_when_nothing_is_after_it_warns() -> None:
    """Rule E6: with no place after the last bus, the first free slot, and a warning.

    Port 4 at 00:1e.0 leaves no slot after it (00:1f is the chipset's): the new port takes the
    first free slot, and the plan says the guest's bus numbers shift.
    """
    moved = (PORT_4, "bus='0x00' slot='0x1e' function='0x0'")
    result = plan(PORTS, {"hw_rescue_bus": "virtio"}, edits=(moved,))
    assert controller_summary(result.controllers_added) == [
        ("pci", 5, "pcie-root-port", PciAddress(bus=0, slot=5))
    ]
    assert [warning for warning in result.warnings if BUS_SHIFT in warning] == [
        "the new pcie-root-port at 00:05.0 comes before existing PCI bridges in firmware order: "
        "during the rescue the guest sees the buses behind them one number higher "
        "(libvirt's addresses do not change)"
    ]


SPARE_PORT_FIRST = (
    # q35-sata-full with its spare root port (index 4) at 00:02.0 and port 1 at 00:02.3.
    (
        "bus='0x00' slot='0x02' function='0x0' multifunction='on'/>",
        "bus='0x00' slot='0x02' function='0x3'/>",
    ),
    (
        "bus='0x00' slot='0x02' function='0x3'/>\n    </controller>",
        "bus='0x00' slot='0x02' function='0x0' multifunction='on'/>\n    </controller>",
    ),
)


def spare_port_first(extra_devices: str = "") -> str:
    """q35-sata-full edited as SPARE_PORT_FIRST says, with ``extra_devices`` at the end."""
    text = golden_input("q35-sata-full")
    assert all(text.count(old) == 1 for old, _ in SPARE_PORT_FIRST)
    # Both swaps in one pass, so that the second does not match the first's result.
    (port_1, port_1_new), (port_4, port_4_new) = SPARE_PORT_FIRST
    text = text.replace(port_1, "@@PORT1@@").replace(port_4, port_4_new)
    text = text.replace("@@PORT1@@", port_1_new)
    return text.replace("  </devices>", extra_devices + "  </devices>")


def test_bridge_skips_a_spare_port_that_comes_first() -> None:
    """Rule E6: a bridge does not go behind a spare root port that comes first in slot order.

    Behind it, the bridge's bus would be numbered before the used ports' buses; a new root port
    after them is used instead.
    """
    result = stable_rescue.plan_rescue(
        spare_port_first(), {"hw_rescue_bus": "sata"}, IMG, source_format="raw"
    )
    assert controller_summary(result.controllers_added) == [
        ("pci", 5, "pcie-root-port", PciAddress(bus=0, slot=2, function=4)),
        ("pci", 6, "pcie-to-pci-bridge", PciAddress(bus=5, slot=0)),
        ("sata", 1, None, PciAddress(bus=6, slot=1)),
    ]
    assert not any(BUS_SHIFT in warning for warning in result.warnings)


def test_bridge_behind_a_spare_port_that_comes_first_when_pcie_root_is_full() -> None:
    """Rule E6: with no place for a new root port, the spare port after all, and a warning.

    Every free slot and function of pcie-root is filled (00:02.4 to 00:02.7 and 00:03.0 to
    00:1e.0), so the first empty port is the only place left for the bridge.
    """
    fillers = [(2, function) for function in range(4, 8)] + [(slot, 0) for slot in range(3, 0x1F)]
    extra = "".join(
        "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n"
        f"      <address type='pci' domain='0x0000' bus='0x00' slot='{slot:#04x}' "
        f"function='{function:#x}'/>\n    </rng>\n"
        for slot, function in fillers
    )
    result = stable_rescue.plan_rescue(
        spare_port_first(extra), {"hw_rescue_bus": "sata"}, IMG, source_format="raw"
    )
    assert controller_summary(result.controllers_added) == [
        ("pci", 5, "pcie-to-pci-bridge", PciAddress(bus=4, slot=0)),
        ("sata", 1, None, PciAddress(bus=5, slot=1)),
    ]
    assert [warning for warning in result.warnings if BUS_SHIFT in warning] == [
        "the new pcie-to-pci-bridge at 04:00.0 comes before existing PCI bridges in firmware "
        "order: during the rescue the guest sees the buses behind them one number higher "
        "(libvirt's addresses do not change)"
    ]


def test_only_free_slot_before_a_bridge_warns() -> None:
    """Rule E6 on pc: the pci-bridge of rule P3 before an existing bridge gets a warning.

    pc-virtio-one-free-slot (00:10.0 its only free slot) with the balloon at 00:1f.0 replaced
    by a pci-bridge whose 31 slots are all used: the new bridge can only go to 00:10.0, ahead of
    the existing one in firmware order.
    """
    balloon = (
        "    <memballoon model='virtio'>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x0'/>\n"
        "    </memballoon>\n"
    )
    bridge = (
        "    <controller type='pci' index='1' model='pci-bridge'>\n"
        "      <model name='pci-bridge'/>\n"
        "      <target chassisNr='1'/>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x0'/>\n"
        "    </controller>\n"
    )
    rngs = "".join(
        "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n"
        f"      <address type='pci' domain='0x0000' bus='0x01' slot='{slot:#04x}'"
        " function='0x0'/>\n    </rng>\n"
        for slot in range(1, 32)
    )
    result = plan(
        "pc-virtio-one-free-slot", {"hw_rescue_bus": "virtio"}, edits=((balloon, bridge + rngs),)
    )
    assert controller_summary(result.controllers_added) == [
        ("pci", 2, "pci-bridge", PciAddress(bus=0, slot=0x10))
    ]
    assert result.address == PciAddress(bus=2, slot=1)
    assert [warning for warning in result.warnings if BUS_SHIFT in warning] == [
        "the new pci-bridge at 00:10.0 comes before existing PCI bridges in firmware order: "
        "during the rescue the guest sees the buses behind them one number higher "
        "(libvirt's addresses do not change)"
    ]


# --- s390x (rules C1 to C3 in docs/policy.md) ----------------------------------------------------

# s390-ccw-virtio-7.2: vda 0xfe.0.0000, vdb 0001, the interface 0002, the balloon 0003; no SCSI
# controller; libvirt's sclp console; boot dev='hd'.
S390X = "s390x-scsi-cdrom-no-controller"
# vda 0000, the interface 0001, virtio-scsi controller 0 at 0002 with sda and sdb on units 0 and
# 1, the balloon 0003.
S390X_SCSI = "s390x-scsi-virtio-scsi"
# vda 0000, the balloon 0001; vdb and the interface on zPCI (uid 1 and 2).
S390X_ZPCI = "s390x-virtio-zpci"
SDB_UNIT_1 = (
    "<target dev='sdb' bus='scsi'/>\n"
    "      <address type='drive' controller='0' bus='0' target='0' unit='1'/>\n"
    "    </disk>\n"
)


def ccw(devno: int) -> CcwAddress:
    """``0xfe.0.<devno>``: where libvirt puts virtio devices on s390x."""
    return CcwAddress(cssid=0xFE, ssid=0, devno=devno)


def scsi_disks(units: range) -> str:
    """SCSI disks ``sd<unit letter>`` on controller 0 at each of ``units``."""
    return "".join(
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='raw'/>\n"
        f"      <source file='/var/lib/libvirt/images/unit{unit}.img'/>\n"
        f"      <target dev='sd{chr(ord('a') + unit)}' bus='scsi'/>\n"
        f"      <address type='drive' controller='0' bus='0' target='0' unit='{unit}'/>\n"
        "    </disk>\n"
        for unit in units
    )


# Controller 0 of S390X_SCSI with every unit (0 to 6) taken.
SCSI_0_FULL = (SDB_UNIT_1, SDB_UNIT_1 + scsi_disks(range(2, 7)))

S390X_PLACEMENTS = [
    pytest.param(
        S390X,
        {"hw_rescue_device": "cdrom"},
        ISO,
        (),
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", ccw(4))],
        id="cdrom-default-scsi-adds-virtio-scsi-on-ccw",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "scsi", "hw_scsi_model": "virtio-scsi"},
        IMG,
        (),
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", ccw(4))],
        id="hw_scsi_model-virtio-scsi",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "virtio"},
        IMG,
        (),
        Bus.VIRTIO,
        "vdc",
        ccw(4),
        [],
        id="virtio-lowest-free-devno",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "virtio"},
        IMG,
        (("devno='0x0001'", "devno='0x0009'"),),
        Bus.VIRTIO,
        "vdc",
        ccw(1),
        [],
        id="virtio-fills-a-devno-gap",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "virtio"},
        IMG,
        (("ssid='0x0' devno='0x0001'", "ssid='0x1' devno='0x0001'"),),
        Bus.VIRTIO,
        "vdc",
        ccw(1),
        [],
        id="virtio-devno-of-another-subchannel-set-is-free",
    ),
    pytest.param(
        S390X_SCSI,
        {"hw_rescue_bus": "scsi"},
        IMG,
        (),
        Bus.SCSI,
        "sdc",
        DriveAddress(controller=0, bus=0, target=0, unit=2),
        [],
        id="existing-virtio-scsi-first-free-unit",
    ),
    pytest.param(
        S390X_SCSI,
        {"hw_rescue_bus": "scsi", "hw_scsi_model": "lsilogic"},
        IMG,
        (),
        Bus.SCSI,
        "sdc",
        DriveAddress(controller=0, bus=0, target=0, unit=2),
        [],
        id="hw_scsi_model-unread-when-a-controller-has-room",
    ),
    pytest.param(
        S390X_SCSI,
        {"hw_rescue_device": "cdrom"},
        ISO,
        (SCSI_0_FULL,),
        Bus.SCSI,
        "sdh",
        DriveAddress(controller=1, bus=0, target=0, unit=0),
        [("scsi", 1, "virtio-scsi", ccw(4))],
        id="virtio-scsi-full-adds-controller-1-on-ccw",
    ),
    pytest.param(
        S390X_ZPCI,
        {"hw_rescue_bus": "virtio"},
        IMG,
        (),
        Bus.VIRTIO,
        "vdc",
        ccw(2),
        [],
        id="zpci-domain-virtio-on-ccw",
    ),
    pytest.param(
        S390X_ZPCI,
        {"hw_rescue_device": "cdrom"},
        ISO,
        (),
        Bus.SCSI,
        "sda",
        DRIVE_0,
        [("scsi", 0, "virtio-scsi", ccw(2))],
        id="zpci-domain-virtio-scsi-on-ccw",
    ),
]


@pytest.mark.parametrize(
    ("case", "properties", "source", "edits", "bus", "target", "address", "controllers"),
    S390X_PLACEMENTS,
)
def test_s390x_placement(
    case: str,
    properties: dict[str, str],
    source: str,
    edits: Edits,
    bus: Bus,
    target: str,
    address: Address,
    controllers: list[tuple[str, int, str | None, CcwAddress | None]],
) -> None:
    """Virtio disks and new virtio-scsi controllers take the lowest free devno in 0xfe.0.

    zPCI devices take none. A SCSI rescue uses the first free unit of an existing controller,
    else adds a virtio-scsi controller on CCW (hw_scsi_model is read only then).
    """
    result = plan(case, properties, source, edits=edits)
    assert result.bus is bus
    assert result.target == target
    assert result.address == address
    assert controller_summary(result.controllers_added) == controllers


S390X_MACHINE = "bus '{bus}' does not exist on 's390-ccw-virtio-7.2' (s390x)"
S390X_SCSI_MODEL = (
    "hw_scsi_model '{model}' on machine 's390-ccw-virtio-7.2' (s390x), whose only SCSI "
    "controller is virtio-scsi; expected virtio-scsi"
)

S390X_REFUSED = [
    pytest.param(
        S390X,
        {"hw_rescue_bus": "usb"},
        IMG,
        (),
        "bus-unavailable",
        S390X_MACHINE.format(bus="usb"),
        id="usb",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_device": "cdrom", "hw_cdrom_bus": "sata"},
        ISO,
        (),
        "bus-unavailable",
        S390X_MACHINE.format(bus="sata"),
        id="sata-by-hw_cdrom_bus",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "ide", "hw_rescue_device": "cdrom"},
        ISO,
        (),
        "bus-unavailable",
        "bus 'ide' exists only on i440fx machines, not on 's390-ccw-virtio-7.2'",
        id="ide",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_device": "floppy"},
        IMG,
        (),
        "bus-unavailable",
        "bus 'fdc' does not exist on 's390-ccw-virtio-7.2' (s390x): libvirt defines a floppy "
        "there, but QEMU does not start it ('floppy' is not a valid device model name)",
        id="floppy-default-fdc",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_bus": "scsi", "hw_scsi_model": "lsilogic"},
        IMG,
        (),
        "unsupported-scsi-model",
        S390X_SCSI_MODEL.format(model="lsilogic"),
        id="lsilogic-controller",
    ),
    pytest.param(
        S390X,
        {"hw_rescue_device": "cdrom", "hw_scsi_model": "buslogic"},
        ISO,
        (),
        "unsupported-scsi-model",
        S390X_SCSI_MODEL.format(model="buslogic"),
        id="unknown-model-controller",
    ),
    pytest.param(
        S390X_SCSI,
        {"hw_rescue_bus": "scsi", "hw_scsi_model": "vmpvscsi"},
        IMG,
        (SCSI_0_FULL,),
        "unsupported-scsi-model",
        S390X_SCSI_MODEL.format(model="vmpvscsi"),
        id="vmpvscsi-when-virtio-scsi-is-full",
    ),
]


@pytest.mark.parametrize(
    ("case", "properties", "source", "edits", "code", "message"), S390X_REFUSED
)
def test_s390x_refused(
    case: str,
    properties: dict[str, str],
    source: str,
    edits: Edits,
    code: str,
    message: str,
) -> None:
    """No usb, sata, ide or floppy on s390x, and no SCSI controller but virtio-scsi.

    libvirt refuses usb, sata, ide and the other SCSI models at define; it defines a floppy,
    which QEMU then refuses to start (tests/test_libvirt.py proves each).
    """
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(case, properties, source, edits=edits)
    assert caught.value.code == code
    assert caught.value.message == message


# aarch64-virtio-mmio: vda and the interface (52:54:00:5a:01:01) on virtio-mmio, no PCI device.
MMIO = "aarch64-virtio-mmio"
MMIO_INTERFACE = (
    "    <interface type='ethernet'>\n"
    "      <mac address='52:54:00:5a:01:01'/>\n"
    "      <model type='virtio'/>\n"
    "      <address type='virtio-mmio'/>\n"
    "    </interface>\n"
)


def test_virtio_mmio_rescue_warns_of_the_devices_it_moves() -> None:
    """Rule M2: a virtio-mmio rescue disk moves the virtio-mmio devices after it in the guest.

    QEMU plugs virtio-mmio devices into transports in command-line order, and libvirt puts the
    disks before the interface: the interface goes to the next transport (seen with
    ``info qtree``: from 0x0a003e00 to 0x0a003c00).
    """
    result = plan(MMIO, {"hw_rescue_bus": "virtio"})
    assert result.address == OtherAddress(type="virtio-mmio")
    assert result.warnings == (
        "the rescue disk goes on virtio-mmio, whose transports QEMU hands out in command-line "
        "order: during the rescue interface:52:54:00:5a:01:01 sit(s) on the next transport, "
        "at another MMIO address in the guest (libvirt's XML has no position to keep)",
    )


def test_virtio_mmio_rescue_after_every_mmio_device_has_no_warning() -> None:
    """Rule M2: with only virtio disks of lower names on virtio-mmio, nothing moves."""
    result = plan(MMIO, {"hw_rescue_bus": "virtio"}, edits=((MMIO_INTERFACE, ""),))
    assert result.address == OtherAddress(type="virtio-mmio")
    assert result.warnings == ()


# --- pseries (rules V5 and V7 in docs/policy.md) ------------------------------------------------

# pseries-7.2, dumped by libvirt 9.0: every slot (1 to 31) of PHB 0 in use, no other PHB; vda
# on virtio at 00:03.0; no SCSI controller.
PSERIES_FULL = "pseries-virtio-no-free-slot"
# An ibmvscsi controller 0 at spapr-vio reg 0x2000 with sda on unit 0.
PSERIES_IBMVSCSI = "pseries-scsi-ibmvscsi"
PHB_0 = "<target index='0'/>\n    </controller>\n"


def full_phb(index: int, target_index: int | None) -> str:
    """A PHB (pci-root) controller ``index``, and a virtio NIC in each of its 31 slots."""
    target = "" if target_index is None else f"\n      <target index='{target_index}'/>"
    nics = "".join(
        "    <interface type='user'>\n"
        f"      <mac address='52:54:00:00:{index:02x}:{slot:02x}'/>\n"
        "      <model type='virtio'/>\n"
        f"      <address type='pci' domain='0x0000' bus='{index:#04x}' slot='{slot:#04x}' "
        "function='0x0'/>\n"
        "    </interface>\n"
        for slot in range(1, 32)
    )
    return (
        f"    <controller type='pci' index='{index}' model='pci-root'>\n"
        f"      <model name='spapr-pci-host-bridge'/>{target}\n"
        "    </controller>\n" + nics
    )


def with_full_phbs(*phbs: tuple[int, int | None]) -> Edits:
    """Edits adding full PHBs after PHB 0 of PSERIES_FULL."""
    return ((PHB_0, PHB_0 + "".join(full_phb(index, target) for index, target in phbs)),)


def phb(index: int, target_index: int) -> tuple[str, int, str | None, None, int]:
    """An added PHB as ``pseries_summary`` gives it."""
    return ("pci", index, "pci-root", None, target_index)


def pseries_summary(
    controllers: tuple[AddedController, ...],
) -> list[tuple[str, int, str | None, object, int | None]]:
    """Type, index, model, address and target index of each added controller."""
    return [(c.type, c.index, c.model, c.address, c.target_index) for c in controllers]


@pytest.mark.parametrize(
    ("edits", "added"),
    [
        pytest.param((), [phb(1, 1)], id="phb-0-full-adds-phb-1"),
        pytest.param(with_full_phbs((1, 3)), [phb(2, 1)], id="lowest-unused-target-index"),
        pytest.param(with_full_phbs((1, 1), (2, 2)), [phb(3, 3)], id="target-indexes-1-and-2-used"),
        # libvirt gives PHB 1 the lowest unused target index (1) at define, before ours.
        pytest.param(with_full_phbs((1, None)), [phb(2, 2)], id="phb-without-target-index"),
    ],
)
def test_pseries_grows_by_a_new_phb(edits: Edits, added: list[object]) -> None:
    """Rule V5: with no free slot (or one), a PHB is added, the device in its slot 1.

    Its target index is the lowest one unused, counting the ones libvirt will give PHBs that
    have none; no pci-bridge is added and no existing bus changes.
    """
    result = plan(PSERIES_FULL, {"hw_rescue_bus": "virtio"}, edits=edits)
    assert pseries_summary(result.controllers_added) == added
    new_index = result.controllers_added[0].index
    assert result.address == PciAddress(bus=new_index, slot=1)
    assert result.warnings == ()


def test_pseries_has_31_phbs_at_most() -> None:
    """A PHB target index above 30 is refused by libvirt: with 31 full PHBs nothing fits."""
    edits = with_full_phbs(*((index, index) for index in range(1, 31)))
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(PSERIES_FULL, {"hw_rescue_bus": "virtio"}, edits=edits)
    assert caught.value.code == "bus-full"


@pytest.mark.parametrize(
    ("case", "edits", "address", "reg"),
    [
        pytest.param(PSERIES_FULL, (), DRIVE_0, 0x2000, id="no-controller-reg-0x2000"),
        pytest.param(
            PSERIES_IBMVSCSI,
            (("unit='0'/>\n    </disk>\n", "unit='0'/>\n    </disk>\n" + scsi_disks(range(1, 7))),),
            DriveAddress(controller=1, bus=0, target=0, unit=0),
            0x3000,
            id="full-ibmvscsi-next-reg",
        ),
        pytest.param(
            PSERIES_IBMVSCSI,
            (
                (
                    "unit='0'/>\n    </disk>\n",
                    "unit='0'/>\n    </disk>\n" + scsi_disks(range(1, 7)),
                ),
                (
                    "    <controller type='usb'",
                    "    <controller type='scsi' index='1' model='ibmvscsi'>\n"
                    "      <address type='spapr-vio' reg='0x00003000'/>\n"
                    "    </controller>\n"
                    "    <controller type='usb'",
                ),
            ),
            DriveAddress(controller=1, bus=0, target=0, unit=0),
            None,
            id="empty-second-ibmvscsi-used",
        ),
    ],
)
def test_pseries_ibmvscsi(case: str, edits: Edits, address: Address, reg: int | None) -> None:
    """Rule V7: hw_scsi_model=ibmvscsi adds spapr-vscsi at the first free reg from 0x2000."""
    properties = {"hw_rescue_bus": "scsi", "hw_scsi_model": "ibmvscsi"}
    result = plan(case, properties, edits=edits)
    assert result.address == address
    if reg is None:
        assert result.controllers_added == ()
    else:
        [added] = result.controllers_added
        assert (added.model, added.address) == ("ibmvscsi", SpaprVioAddress(reg=reg))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            (
                "<target dev='vda' bus='virtio'/>",
                "<target dev='vda' bus='virtio'/>\n      <alias name='ua-stable-rescue-disk'/>",
            ),
            id="disk",
        ),
        pytest.param(
            (
                "<model type='virtio'/>",
                "<model type='virtio'/>\n      <alias name='ua-stable-rescue-root'/>",
            ),
            id="interface",
        ),
    ],
)
def test_reserved_alias_refused_by_the_plan(edit: tuple[str, str]) -> None:
    """Rule O6: a device of the domain already named ua-stable-rescue-* is refused at planning.

    Not only at rendering: plan_rescue alone must not promise a rescue it cannot undo.
    """
    with pytest.raises(stable_rescue.RescueError) as caught:
        plan(PC, {"hw_rescue_bus": "virtio"}, edits=(edit,))
    assert caught.value.code == "invalid-domain"
    assert "reserved" in caught.value.message
