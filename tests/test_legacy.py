"""Legacy mode: which disk is root, what stays, and the exact undo (docs/policy.md, L1 to L7)."""

from __future__ import annotations

import pytest

import stable_rescue
from stable_rescue.model import Bus, DriveAddress, Mode, PciAddress
from tests.test_plan import IMG, golden_input

NOVA = "legacy-pc-nova-layout"  # vda root, vdb ephemeral, vdc volume, hdd config drive
Q35_SATA = "legacy-q35-sata-boot-orders"  # sda root (order 2), sdb cdrom (1), sdc config drive
PC = "pc-virtio-disk"


def legacy_plan(case: str, edits: tuple[tuple[str, str], ...] = ()) -> stable_rescue.Plan:
    return stable_rescue.plan_rescue(golden_input(case, edits), {}, IMG, source_format="raw")


def legacy_round_trip(case: str, edits: tuple[tuple[str, str], ...] = ()) -> str:
    """The rescued XML, after checking that unrescue gives the input back byte for byte."""
    original = golden_input(case, edits)
    rescued = stable_rescue.rescue(original, {}, IMG, source_format="raw").xml
    assert stable_rescue.unrescue(rescued) == original
    return rescued


def test_legacy_mode_without_rescue_properties() -> None:
    """No hw_rescue_* key: legacy; image properties such as hw_disk_bus do not change the bus."""
    plan = stable_rescue.plan_rescue(
        golden_input(NOVA), {"hw_disk_bus": "scsi"}, IMG, source_format="raw"
    )
    assert plan.mode is Mode.LEGACY
    assert plan.bus is Bus.VIRTIO


def test_rescue_disk_takes_root_place_and_root_moves() -> None:
    """The rescue disk gets vda and its address; the root takes the next free name.

    Rules L3 and L5.
    """
    plan = legacy_plan(NOVA)
    assert (plan.target, plan.address, plan.boot_order) == (
        "vda",
        PciAddress(bus=0, slot=4),
        1,
    )
    moved = plan.root_moved
    assert moved is not None
    assert (moved.old_target, moved.target, moved.boot_order) == ("vda", "vdb", 2)
    # vdb's old slot is free once vdb is detached; nothing else holds 00:05.0.
    assert moved.address == PciAddress(bus=0, slot=5)
    assert moved.alias == "ua-stable-rescue-root"


def test_other_disks_detached_config_drive_kept() -> None:
    """Every disk but root and the config drive (disk.config) is detached, with a warning.

    Rules L2 and L4.
    """
    plan = legacy_plan(NOVA)
    assert [disk.key for disk in plan.detached] == ["disk:vdb", "disk:vdc"]
    assert any("detaches 2 disk(s)" in warning for warning in plan.warnings)
    rescued = legacy_round_trip(NOVA)
    assert "disk.eph0" not in rescued.split("</metadata>")[1]
    assert "disk.config'/>" in rescued.split("</metadata>")[1]


def test_root_is_first_disk_of_boot_sequence() -> None:
    """With per-device orders, root is the first device='disk' in boot order.

    A cdrom booting first is not root. The detached cdrom leaves the sequence and the gap
    closes (rule B2): root 2, and the NIC keeps its 3, so it is not touched.

    Rules L1 and L6.
    """
    plan = legacy_plan(Q35_SATA)
    moved = plan.root_moved
    assert moved is not None
    assert (plan.target, moved.old_target, moved.target) == ("sda", "sda", "sdb")
    assert moved.address == DriveAddress(controller=0, unit=1)
    assert moved.boot_order == 2
    assert plan.boot_changes == ()


def test_root_falls_back_to_first_disk_in_libvirt_order() -> None:
    """A guest booting from the network only: root is the first disk libvirt would list."""
    plan = legacy_plan(NOVA, (("<boot dev='hd'/>", "<boot dev='network'/>"),))
    assert plan.root_moved is not None
    assert plan.root_moved.old_target == "vda"
    assert plan.root_moved.boot_order is None
    legacy_round_trip(NOVA, (("<boot dev='hd'/>", "<boot dev='network'/>"),))


def test_config_drive_on_rbd_is_kept() -> None:
    """An RBD image named <uuid>_disk.config is a config drive too.

    Rule L2.
    """
    plan = stable_rescue.plan_rescue(
        golden_input("legacy-q35-scsi-kernel"), {}, IMG, source_format="raw"
    )
    assert [disk.key for disk in plan.detached] == ["disk:sdc"]


def test_unaddressed_root_refused_even_when_allowed() -> None:
    """The rescue disk takes the root's address, so the root must have one.

    Rule L3.
    """
    edits = (
        ("      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>\n", ""),
    )
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.plan_rescue(
            golden_input(PC, edits), {}, IMG, source_format="raw", allow_unaddressed=True
        )
    assert caught.value.code == "unaddressed-devices"
    assert "root disk 'vda' has no address" in caught.value.message


def test_root_alias_is_replaced_and_restored() -> None:
    """A root with a user alias: the copy carries ours, unrescue gives the user's back.

    Rule L5.
    """
    edits = (
        (
            "      <target dev='vda' bus='virtio'/>\n",
            "      <target dev='vda' bus='virtio'/>\n      <alias name='ua-root'/>\n",
        ),
    )
    rescued = legacy_round_trip(PC, edits)
    assert "ua-root" not in rescued.split("</metadata>")[1]
    assert rescued.count("<alias name='ua-stable-rescue-root'/>") == 1


def test_root_with_boot_order_keeps_element() -> None:
    """A root with <boot order> gets its new order in the same element."""
    rescued = legacy_round_trip(Q35_SATA)
    devices = rescued.split("<devices>")[1]
    root = devices[devices.index("legacy-q35-root.qcow2") :]
    assert root.index("<boot order='2'/>") < root.index("ua-stable-rescue-root")


def test_comments_between_detached_disks_come_back_in_place() -> None:
    """Comments and PIs around detached disks stay; unrescue puts each disk back among them.

    Rules R5 and N4.
    """
    rescued = legacy_round_trip("legacy-pc-comments")
    assert "<!-- ephemeral disk --><?nova eph0?>" in rescued


def test_legacy_rescue_of_rescued_domain_refused() -> None:
    """A legacy-rescued domain cannot be rescued again, in either mode."""
    rescued = legacy_round_trip(NOVA)
    for properties in ({}, {"hw_rescue_bus": "usb"}):
        with pytest.raises(stable_rescue.RescueError) as caught:
            stable_rescue.rescue(rescued, properties, IMG, source_format="raw")
        assert caught.value.code == "already-rescued"


def test_detached_disk_anchor_lost_after_reformat_goes_among_disks() -> None:
    """An anchor key libvirt renumbered away: the disks come back after the last kept disk.

    libvirt sorts disks on define, so their place among the devices carries no meaning; what
    must not happen is an error or a lost disk.

    Rule N4.
    """
    original = golden_input(NOVA)
    rescued = stable_rescue.rescue(original, {}, IMG, source_format="raw").xml
    anchor = "after='emulator:/domain/devices/emulator'"
    assert rescued.count(anchor) == 3
    restored = stable_rescue.unrescue(
        rescued.replace(anchor, "after='input:/domain/devices/input[7]'")
    )
    assert restored != original

    def disks(text: str) -> list[str]:
        return sorted(part.split("</disk>")[0] for part in text.split("<disk ")[1:])

    assert disks(restored) == disks(original)
    assert restored.index("disk.config'") < restored.index("6a3e-uuid/disk'")


def test_detached_disks_with_no_devices_left_is_a_damaged_record() -> None:
    """A record that would put disks back into a domain with no <devices>: refused (rule N1).

    Dropping them silently would lose the guest's disks.
    """
    rescued = stable_rescue.rescue(golden_input(NOVA), {}, IMG, source_format="raw").xml
    damaged = (
        rescued[: rescued.index("  <devices>")] + rescued[rescued.index("</devices>\n") + 11 :]
    )
    for alias in ("ua-stable-rescue-disk", "ua-stable-rescue-root"):
        damaged = damaged.replace(f"      <stable-rescue:added alias='{alias}'/>\n", "")
    assert "<devices>" not in damaged
    assert "stable-rescue:added" not in damaged
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.unrescue(damaged)
    assert caught.value.code == "invalid-rescue-record"
    assert "detached disks" in caught.value.message
