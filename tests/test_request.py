"""Image properties and source -> RescueRequest: Nova's mode rule and input checks."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest

from stable_rescue.errors import RescueError
from stable_rescue.model import Bus, DeviceType, Mode, RescueSource, SourceType
from stable_rescue.request import build_request, edit_distance

SOURCE = "/var/lib/libvirt/images/rescue.img"

MODES = [
    pytest.param({}, Mode.LEGACY, DeviceType.DISK, None, id="no-properties-legacy"),
    pytest.param(
        {"hw_disk_bus": "scsi", "hw_cdrom_bus": "sata", "hw_scsi_model": "lsilogic"},
        Mode.LEGACY,
        DeviceType.DISK,
        None,
        id="default-bus-properties-alone-legacy",
    ),
    pytest.param({"hw_rescue_bus": "usb"}, Mode.STABLE, DeviceType.DISK, Bus.USB, id="bus-only"),
    pytest.param(
        {"hw_rescue_device": "cdrom"}, Mode.STABLE, DeviceType.CDROM, None, id="device-only"
    ),
    pytest.param(
        {"hw_rescue_bus": "scsi", "hw_rescue_device": "lun"},
        Mode.STABLE,
        DeviceType.LUN,
        Bus.SCSI,
        id="both",
    ),
    pytest.param(
        {"hw_rescue_bus": "fdc", "hw_rescue_device": "floppy"},
        Mode.STABLE,
        DeviceType.FLOPPY,
        Bus.FDC,
        id="floppy-fdc",
    ),
]


@pytest.mark.parametrize(("properties", "mode", "device", "bus"), MODES)
def test_mode_rule(
    properties: dict[str, str], mode: Mode, device: DeviceType, bus: Bus | None
) -> None:
    """Stable mode exactly when hw_rescue_bus or hw_rescue_device is present (keys count).

    The device defaults to disk; the bus stays unset unless asked for (plan settles it).
    """
    request = build_request(properties, SOURCE, source_format="raw")
    assert request.mode is mode
    assert request.device_type is device
    assert request.bus is bus


def test_request_fields() -> None:
    """The request carries the source, its format and the options as given."""
    request = build_request(
        {"hw_rescue_bus": "virtio"},
        "/dev/vg/rescue",
        source_format="qcow2",
        allow_unaddressed=True,
        kernel="/boot/rescue-vmlinuz",
        initrd="/boot/rescue-initrd",
        cmdline="console=ttyS0 single",
    )
    assert request.source == RescueSource(type=SourceType.BLOCK, path="/dev/vg/rescue")
    assert request.source_format == "qcow2"
    assert request.allow_unaddressed is True
    assert request.kernel == "/boot/rescue-vmlinuz"
    assert request.initrd == "/boot/rescue-initrd"
    assert request.cmdline == "console=ttyS0 single"


def test_unrelated_keys_ignored() -> None:
    """Keys the planner does not read are dropped, whatever their value's type."""
    properties: dict[str, Any] = {
        "hw_rescue_bus": "sata",
        "hw_machine_type": "pc",
        "hw_architecture": "aarch64",
        "os_hidden": False,
        "min_disk": 0,
        "hw_rescue_bus_extra": None,
        "stores": ["ceph"],
    }
    request = build_request(properties, SOURCE, source_format="raw")
    assert request.image_properties == (("hw_rescue_bus", "sata"),)
    assert request.image_property("hw_machine_type") is None


def test_known_properties_kept_sorted() -> None:
    """The properties the planner reads are kept, sorted by name, so the request is stable."""
    request = build_request(
        {
            "hw_scsi_model": "lsilogic",
            "hw_rescue_device": "cdrom",
            "hw_floppy_bus": "fdc",
            "hw_cdrom_bus": "scsi",
            "hw_disk_bus": "sata",
        },
        SOURCE,
        source_format="raw",
    )
    assert request.image_properties == (
        ("hw_cdrom_bus", "scsi"),
        ("hw_disk_bus", "sata"),
        ("hw_floppy_bus", "fdc"),
        ("hw_rescue_device", "cdrom"),
        ("hw_scsi_model", "lsilogic"),
    )


def test_any_mapping_is_accepted() -> None:
    """Any Mapping serves as the properties, not only a dict."""
    properties: Mapping[str, str] = MappingProxyType({"hw_rescue_bus": "ide"})
    assert build_request(properties, SOURCE, source_format="raw").bus is Bus.IDE


BUSES = "virtio, scsi, sata, ide, usb, fdc"
DEVICES = "disk, cdrom, floppy, lun"

REFUSED_VALUES = [
    pytest.param(
        {"hw_rescue_bus": "USB"},
        "unsupported-rescue-bus",
        f"hw_rescue_bus 'USB'; expected one of {BUSES}",
        id="bus-upper-case",
    ),
    pytest.param(
        {"hw_rescue_bus": "Virtio"},
        "unsupported-rescue-bus",
        f"hw_rescue_bus 'Virtio'; expected one of {BUSES}",
        id="bus-title-case",
    ),
    pytest.param(
        {"hw_rescue_bus": "nvme"},
        "unsupported-rescue-bus",
        f"hw_rescue_bus 'nvme'; expected one of {BUSES}",
        id="bus-unknown",
    ),
    pytest.param(
        {"hw_rescue_bus": ""},
        "unsupported-rescue-bus",
        f"hw_rescue_bus ''; expected one of {BUSES}",
        id="bus-empty",
    ),
    pytest.param(
        {"hw_rescue_bus": " usb"},
        "unsupported-rescue-bus",
        f"hw_rescue_bus ' usb'; expected one of {BUSES}",
        id="bus-leading-space",
    ),
    pytest.param(
        {"hw_rescue_device": "CDROM"},
        "unsupported-rescue-device",
        f"hw_rescue_device 'CDROM'; expected one of {DEVICES}",
        id="device-upper-case",
    ),
    pytest.param(
        {"hw_rescue_device": "tape"},
        "unsupported-rescue-device",
        f"hw_rescue_device 'tape'; expected one of {DEVICES}",
        id="device-unknown",
    ),
    pytest.param(
        {"hw_rescue_device": "tape", "hw_rescue_bus": "nvme"},
        "unsupported-rescue-device",
        f"hw_rescue_device 'tape'; expected one of {DEVICES}",
        id="device-reported-before-bus",
    ),
]


@pytest.mark.parametrize(("properties", "code", "message"), REFUSED_VALUES)
def test_property_values_refused(properties: dict[str, str], code: str, message: str) -> None:
    """Values are case-sensitive; unknown buses and devices are errors, listing the choices."""
    with pytest.raises(RescueError) as caught:
        build_request(properties, SOURCE, source_format="raw")
    assert caught.value.code == code
    assert caught.value.message == message


NOT_MAPPINGS = [
    pytest.param([("hw_rescue_bus", "usb")], "list", id="list-of-pairs"),
    pytest.param("hw_rescue_bus=usb", "str", id="string"),
    pytest.param(None, "NoneType", id="none"),
    pytest.param({"hw_rescue_bus"}, "set", id="set"),
]


@pytest.mark.parametrize(("properties", "type_name"), NOT_MAPPINGS)
def test_properties_not_a_mapping(properties: object, type_name: str) -> None:
    """Properties that are not a mapping raise invalid-properties."""
    with pytest.raises(RescueError) as caught:
        build_request(properties, SOURCE, source_format="raw")  # type: ignore[arg-type]
    assert caught.value.code == "invalid-properties"
    assert caught.value.message == (
        f"properties is a {type_name}; expected a mapping of name to string"
    )


NON_STRING_VALUES = [
    pytest.param(
        "hw_rescue_bus", 1, "property hw_rescue_bus is int 1; expected a string", id="int"
    ),
    pytest.param(
        "hw_rescue_device",
        None,
        "property hw_rescue_device is NoneType None; expected a string",
        id="none",
    ),
    pytest.param(
        "hw_disk_bus",
        True,
        "property hw_disk_bus is bool True; expected a string",
        id="bool-default-bus",
    ),
    pytest.param(
        "hw_scsi_model",
        ["virtio-scsi"],
        "property hw_scsi_model is list ['virtio-scsi']; expected a string",
        id="list",
    ),
    pytest.param(
        "hw_cdrom_bus",
        b"sata",
        "property hw_cdrom_bus is bytes b'sata'; expected a string",
        id="bytes",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), NON_STRING_VALUES)
def test_non_string_value_of_known_key(name: str, value: object, message: str) -> None:
    """A known key whose value is not a string raises invalid-properties naming the key."""
    properties: dict[str, Any] = {"hw_rescue_bus": "virtio", name: value}
    with pytest.raises(RescueError) as caught:
        build_request(properties, SOURCE, source_format="raw")
    assert caught.value.code == "invalid-properties"
    assert caught.value.message == message


BOOT_OPTIONS_REFUSED = [
    pytest.param(
        {"initrd": "/boot/initrd"},
        "initrd or cmdline given without kernel; expected a kernel too",
        id="initrd-without-kernel",
    ),
    pytest.param(
        {"cmdline": "single"},
        "initrd or cmdline given without kernel; expected a kernel too",
        id="cmdline-without-kernel",
    ),
    pytest.param({"kernel": ""}, "kernel is ''; expected a non-empty string", id="empty-kernel"),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "initrd": ""},
        "initrd is ''; expected a non-empty string",
        id="empty-initrd",
    ),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "cmdline": ""},
        "cmdline is ''; expected a non-empty string",
        id="empty-cmdline",
    ),
    pytest.param(
        {"kernel": 7}, "kernel is 7; expected a non-empty string", id="kernel-not-a-string"
    ),
]


@pytest.mark.parametrize(("options", "message"), BOOT_OPTIONS_REFUSED)
def test_boot_options_refused(options: dict[str, Any], message: str) -> None:
    """An initrd or cmdline needs a kernel; each option given is a non-empty string.

    Rule K4.
    """
    with pytest.raises(RescueError) as caught:
        build_request({"hw_rescue_bus": "virtio"}, SOURCE, source_format="raw", **options)
    assert caught.value.code == "invalid-boot-options"
    assert caught.value.message == message


@pytest.mark.parametrize(
    "options",
    [
        {"kernel": "/boot/vmlinuz"},
        {"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd"},
        {"kernel": "/boot/vmlinuz", "cmdline": "console=ttyS0"},
    ],
    ids=["kernel", "kernel-initrd", "kernel-cmdline"],
)
def test_boot_options_accepted(options: dict[str, Any]) -> None:
    """A kernel alone, or with an initrd or a command line, is a valid replacement."""
    request = build_request({"hw_rescue_bus": "virtio"}, SOURCE, source_format="raw", **options)
    assert request.kernel == "/boot/vmlinuz"
    assert request.initrd == options.get("initrd")
    assert request.cmdline == options.get("cmdline")


def test_source_errors_come_through() -> None:
    """The source is parsed as --source is, and its errors are the request's."""
    with pytest.raises(RescueError) as caught:
        build_request({"hw_rescue_bus": "virtio"}, "rescue.img", source_format="raw")
    assert caught.value.code == "invalid-source"
    assert caught.value.message == (
        "source path 'rescue.img' is relative; expected an absolute path on the host"
    )


def test_format_required_without_suffix() -> None:
    """A request with no format for an unsuffixed file fails with source-format-required."""
    with pytest.raises(RescueError) as caught:
        build_request({"hw_rescue_bus": "virtio"}, SOURCE)
    assert caught.value.code == "source-format-required"
    assert caught.value.message == (
        f"format of source '{SOURCE}' is not given; expected --source-format "
        "(it is never probed from the content)"
    )


MISSPELT = [
    pytest.param({"hw_resuce_bus": "usb"}, "hw_resuce_bus", "hw_rescue_bus", id="swapped-letters"),
    pytest.param({"HW_RESCUE_BUS": "usb"}, "HW_RESCUE_BUS", "hw_rescue_bus", id="upper-case"),
    pytest.param({"hw_rescue_bus ": "usb"}, "hw_rescue_bus ", "hw_rescue_bus", id="trailing-space"),
    pytest.param(
        {" hw_rescue_device": "cdrom"}, " hw_rescue_device", "hw_rescue_device", id="lead"
    ),
    pytest.param({"hw-rescue-bus": "usb"}, "hw-rescue-bus", "hw_rescue_bus", id="dashes"),
    pytest.param({"hw_rescue_devce": "cdrom"}, "hw_rescue_devce", "hw_rescue_device", id="missing"),
    pytest.param({"hw_rescue_devices": "cdrom"}, "hw_rescue_devices", "hw_rescue_device", id="s"),
    pytest.param({"hw_rescuebus": "usb"}, "hw_rescuebus", "hw_rescue_bus", id="no-underscore"),
    pytest.param(
        {"hw_rescue_bus": "usb", "hw_rescue_Device": "cdrom"},
        "hw_rescue_Device",
        "hw_rescue_device",
        id="beside-a-correct-key",
    ),
    pytest.param({"HW_DISK_BUS": "sata"}, "HW_DISK_BUS", "hw_disk_bus", id="default-bus-case"),
    pytest.param(
        {"hw_scsi_model ": "lsilogic"}, "hw_scsi_model ", "hw_scsi_model", id="scsi-space"
    ),
]


@pytest.mark.parametrize(("properties", "key", "meant"), MISSPELT)
def test_misspelt_property_refused(properties: dict[str, str], key: str, meant: str) -> None:
    """A key close to one the library reads is refused, not ignored (docs/properties.md).

    Ignored, a misspelt hw_rescue_bus would silently mean legacy mode, which moves the root
    disk; a misspelt hw_rescue_device beside a correct hw_rescue_bus would give a disk instead
    of a cdrom.
    """
    with pytest.raises(RescueError) as caught:
        build_request(properties, SOURCE, source_format="raw")
    assert caught.value.code == "misspelt-property"
    assert caught.value.message == (
        f"image property {key!r} is not one this tool reads; did you mean {meant!r}?"
    )
    assert caught.value.context == {"property": key, "suggestion": meant}


# Image properties Nova (nova/objects/image_meta.py, ImageMetaProps) and Glance define: none
# is a near miss of a key this library reads, so none may be refused as a typo.
NOVA_PROPERTIES = [
    "hw_architecture",
    "hw_auto_disk_config",
    "hw_boot_menu",
    "hw_cdrom_bus",
    "hw_cpu_cores",
    "hw_cpu_max_cores",
    "hw_cpu_max_sockets",
    "hw_cpu_max_threads",
    "hw_cpu_policy",
    "hw_cpu_realtime_mask",
    "hw_cpu_sockets",
    "hw_cpu_thread_policy",
    "hw_cpu_threads",
    "hw_device_id",
    "hw_disk_bus",
    "hw_disk_type",
    "hw_emulation_architecture",
    "hw_ephemeral_encryption",
    "hw_ephemeral_encryption_format",
    "hw_firmware_stateless",
    "hw_firmware_type",
    "hw_floppy_bus",
    "hw_input_bus",
    "hw_ipxe_boot",
    "hw_locked_memory",
    "hw_machine_type",
    "hw_maxphysaddr_bits",
    "hw_maxphysaddr_mode",
    "hw_mem_encryption",
    "hw_mem_page_size",
    "hw_numa_nodes",
    "hw_numa_cpus.0",
    "hw_numa_mem.0",
    "hw_pci_numa_affinity_policy",
    "hw_pmu",
    "hw_pointer_model",
    "hw_qemu_guest_agent",
    "hw_rescue_bus",
    "hw_rescue_device",
    "hw_rng_model",
    "hw_serial_port_count",
    "hw_scsi_model",
    "hw_sound_model",
    "hw_time_hpet",
    "hw_tpm_model",
    "hw_tpm_version",
    "hw_usb_model",
    "hw_video_model",
    "hw_video_ram",
    "hw_viommu_model",
    "hw_virtio_packed_ring",
    "hw_vif_model",
    "hw_vif_multiqueue_enabled",
    "hw_vm_mode",
    "hw_watchdog_action",
    "img_bdm_v2",
    "img_bittorrent",
    "img_block_device_mapping",
    "img_cache_in_nova",
    "img_compression_level",
    "img_config_drive",
    "img_hide_hypervisor_id",
    "img_hv_requested_version",
    "img_hv_type",
    "img_linked_clone",
    "img_mappings",
    "img_owner_id",
    "img_root_device_name",
    "img_signature",
    "img_signature_certificate_uuid",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_use_agent",
    "img_version",
    "os_admin_user",
    "os_command_line",
    "os_distro",
    "os_require_quiesce",
    "os_secure_boot",
    "os_skip_agent_inject_files_at_boot",
    "os_skip_agent_inject_ssh",
    "os_type",
    "trait:CUSTOM_X",
    "architecture",
    "hypervisor_type",
    "vm_mode",
    "kernel_id",
    "ramdisk_id",
    "os_hash_algo",
    "os_hash_value",
    "os_hidden",
    "owner_specified.openstack.md5",
    "owner_specified.openstack.sha256",
    "owner_specified.openstack.object",
    "stores",
    "direct_url",
    "locations",
]


def test_real_properties_are_not_typos() -> None:
    """No property Nova or Glance defines is taken for a misspelt key (and the mode holds)."""
    properties = dict.fromkeys(NOVA_PROPERTIES, "x")
    del properties["hw_rescue_bus"], properties["hw_rescue_device"]
    for name in ("hw_cdrom_bus", "hw_disk_bus", "hw_floppy_bus", "hw_scsi_model"):
        del properties[name]
    assert build_request(properties, SOURCE, source_format="raw").mode is Mode.LEGACY


MODE_REASONS = [
    pytest.param({"hw_rescue_bus": "usb"}, "the image sets hw_rescue_bus", id="bus"),
    pytest.param({"hw_rescue_device": "cdrom"}, "the image sets hw_rescue_device", id="device"),
    pytest.param(
        {"hw_rescue_device": "cdrom", "hw_rescue_bus": "sata"},
        "the image sets hw_rescue_bus and hw_rescue_device",
        id="both",
    ),
    pytest.param(
        {"hw_disk_bus": "virtio"},
        "the image sets neither hw_rescue_bus nor hw_rescue_device (Nova's rule: either key "
        "chooses stable mode)",
        id="neither",
    ),
]


@pytest.mark.parametrize(("properties", "reason"), MODE_REASONS)
def test_mode_reason(properties: dict[str, str], reason: str) -> None:
    """The request (and so the plan) says why it chose its mode."""
    assert build_request(properties, SOURCE, source_format="raw").mode_reason == reason


def test_property_name_not_a_string() -> None:
    """A property name that is not a string is invalid-properties, never a TypeError."""
    with pytest.raises(RescueError) as caught:
        build_request({1: "usb"}, SOURCE, source_format="raw")  # type: ignore[dict-item]
    assert caught.value.code == "invalid-properties"
    assert caught.value.message == "property name 1 is a int; expected a string"


EDIT_DISTANCES = [
    ("hw_rescue_bus", "hw_rescue_bus", 0),
    ("hw_resuce_bus", "hw_rescue_bus", 1),
    ("hw_rescue_bu", "hw_rescue_bus", 1),
    ("hw-rescue-bus", "hw_rescue_bus", 2),
    ("abc", "ca", 3),
    ("", "abc", 3),
    ("hw_disk_bus", "hw_rescue_bus", 5),
]


@pytest.mark.parametrize(("a", "b", "distance"), EDIT_DISTANCES, ids=lambda v: str(v))
def test_edit_distance(a: str, b: str, distance: int) -> None:
    """Insertions, deletions, substitutions and neighbour swaps each count one."""
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


# Issue 12: what XML 1.0 cannot carry, escaped or not (C0 controls but tab, LF, CR; U+FFFE,
# U+FFFF; lone surrogates, as sys.argv holds a byte that is not UTF-8).
BOOT_OPTION_CHARACTERS = [
    pytest.param(
        {"kernel": "/boot/vm\x01linuz"},
        "kernel holds U+0001 (a control character) at index 8",
        id="kernel-control",
    ),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "initrd": "/boot/\udcffinitrd"},
        "initrd holds U+DCFF (a lone surrogate: a byte that is not UTF-8) at index 6",
        id="initrd-surrogate",
    ),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "cmdline": "console=ttyS0 \x1b[31m"},
        "cmdline holds U+001B (a control character) at index 14",
        id="cmdline-escape",
    ),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "cmdline": "a\x00b"},
        "cmdline holds U+0000 (a control character) at index 1",
        id="cmdline-nul",
    ),
    pytest.param(
        {"kernel": "/boot/vmlinuz", "cmdline": "a\ufffeb"},
        "cmdline holds U+FFFE (a noncharacter) at index 1",
        id="cmdline-fffe",
    ),
    pytest.param(
        {"kernel": "/boot/\uffff"},
        "kernel holds U+FFFF (a noncharacter) at index 6",
        id="kernel-ffff",
    ),
]


@pytest.mark.parametrize(("options", "found"), BOOT_OPTION_CHARACTERS)
def test_boot_options_refuse_what_xml_cannot_carry(options: dict[str, Any], found: str) -> None:
    """Kernel, initrd and cmdline go into <os> as text: what XML cannot carry is refused.

    Before issue 12 they were written as they were (a cmdline with an ESC character in
    ``<cmdline>``), and the output was not XML.
    """
    with pytest.raises(RescueError) as caught:
        build_request({"hw_rescue_bus": "virtio"}, SOURCE, source_format="raw", **options)
    assert caught.value.code == "invalid-boot-options"
    assert caught.value.message == (
        f"{found}; expected text XML can carry (no control characters but tab, newline and "
        "carriage return)"
    )


def test_boot_options_keep_what_xml_carries() -> None:
    """Tab, newline, carriage return, quotes, '<' and '&' are text XML carries (escaped)."""
    cmdline = "console=ttyS0\tinit='/bin/sh -c \"a<b && c\"'\r\n\u00e9\U0001f600"
    request = build_request(
        {"hw_rescue_bus": "virtio"},
        SOURCE,
        source_format="raw",
        kernel="/boot/vmlinuz",
        cmdline=cmdline,
    )
    assert request.cmdline == cmdline


PROPERTY_CHARACTERS = [
    pytest.param(
        "hw_rescue_bus", "virtio\x00", "U+0000 (a control character) at index 6", id="nul"
    ),
    pytest.param(
        "hw_scsi_model",
        "virtio-scsi\udcff",
        "U+DCFF (a lone surrogate: a byte that is not UTF-8) at index 11",
        id="surrogate-in-unread-value",
    ),
    pytest.param("hw_disk_bus", "\x1b", "U+001B (a control character) at index 0", id="escape"),
]


@pytest.mark.parametrize(("name", "value", "found"), PROPERTY_CHARACTERS)
def test_property_values_refuse_what_xml_cannot_carry(name: str, value: str, found: str) -> None:
    """A value of a property the library reads that XML cannot carry is invalid-properties.

    The CLI hands on undecodable bytes of ``--property`` as lone surrogates; before issue 12
    ``hw_scsi_model`` kept one unless a controller was added.
    """
    with pytest.raises(RescueError) as caught:
        build_request({"hw_rescue_device": "disk", name: value}, SOURCE, source_format="raw")
    assert caught.value.code == "invalid-properties"
    assert caught.value.message == f"property {name} holds {found}; expected text XML can carry"


def test_messages_cut_huge_values() -> None:
    """A huge value is cut in a message: the message stays one line of bounded length."""
    huge = "x" * 100_000
    cases: list[dict[str, Any]] = [
        {"properties": {"hw_rescue_bus": huge}},
        {"properties": {"hw_rescue_device": huge}},
        {"properties": {"hw_rescue_bus": "virtio", "hw_scsi_model": [huge]}},
        {"properties": {"hw_rescue_bus" + " " * 100_000: "virtio"}},
        {"properties": {"hw_rescue_bus": "virtio"}, "kernel": [huge]},
        {"properties": {"hw_rescue_bus": "virtio"}, "source_format": huge},
        {"properties": {"hw_rescue_bus": "virtio"}, "source": huge},
        {"properties": {"hw_rescue_bus": "virtio"}, "source": "/" + huge, "source_format": None},
        {"properties": {"hw_rescue_bus": "virtio"}, "source": f"rbd://mon:{'9' * 5000}/p/i"},
    ]
    for case in cases:
        options = {"source_format": "raw", **case}
        properties = options.pop("properties")
        source = options.pop("source", SOURCE)
        with pytest.raises(RescueError) as caught:
            build_request(properties, source, **options)
        assert "\n" not in caught.value.message
        assert len(caught.value.message) < 400, caught.value.message[:500]
