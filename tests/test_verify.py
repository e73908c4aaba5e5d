"""verify: every golden rescue is a stable rescue; every kind of damage to one is found.

The damage is done here with ElementTree on the rescued text (never through the library), one
change at a time, to a device Hypothesis picks: its address moved, its target renamed, the
device dropped or duplicated, its content changed, the rescue disk's boot order taken away.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stable_rescue
from stable_rescue.model import Mode
from stable_rescue.verification import FINDING_KINDS, VerifyReport, verify
from tests.golden_cases import GoldenCase, golden_cases

RESCUES = [c for c in golden_cases() if c.is_rescue and c.expected_xml_path.exists()]
LEGACY = [c for c in RESCUES if c.run().plan.mode is Mode.LEGACY]
# A rescue with a kernel boots the kernel, not the rescue disk: <os> changes, a finding.
KERNEL = [
    c
    for c in RESCUES
    if c not in LEGACY
    and (
        c.run().plan.kernel is not None
        or c.run().plan.kernel_removed
        or c.run().plan.kernel_replaced
    )
]
STABLE = [c for c in RESCUES if c not in LEGACY and c not in KERNEL]
RESCUE_ALIAS = "ua-stable-rescue-disk"


def expected(case: GoldenCase) -> str:
    return case.expected_xml_path.read_text(encoding="utf-8")


def kinds(report: VerifyReport) -> list[tuple[str, str]]:
    return [(finding.kind, finding.device) for finding in report.findings]


@pytest.mark.parametrize("case", STABLE, ids=[c.name for c in STABLE])
def test_golden_stable_rescue_is_ok(case: GoldenCase) -> None:
    """Each golden stable rescue pair is ok, and names the disk the plan added."""
    report = verify(case.input_xml, expected(case))
    assert report.findings == ()
    assert report.ok
    assert report.mode is Mode.STABLE
    plan = case.run().plan
    assert report.rescue_device is not None
    assert (report.rescue_device.target, report.rescue_device.bus) == (plan.target, plan.bus.value)
    assert report.rescue_device.address == plan.address


def test_record_under_either_name_does_not_count() -> None:
    """Our record is no finding, under its name or 0.1.0's (rule R1); other metadata is one."""
    case = next(c for c in STABLE if c.name == "pc-virtio-disk")
    rescued = expected(case)
    assert rescued.count("'urn:stable-rescue:rescue:1'") == 1
    provisional = rescued.replace(
        "urn:stable-rescue:rescue:1", "http://stable-rescue.org/xmlns/rescue/1"
    )
    assert verify(case.input_xml, provisional).ok
    other = rescued.replace("urn:stable-rescue:rescue:1", "urn:example:other-tool:1")
    assert kinds(verify(case.input_xml, other)) == [("changed", "domain:metadata")]


@pytest.mark.parametrize("case", LEGACY, ids=[c.name for c in LEGACY])
def test_legacy_rescue_is_not_ok_and_says_why(case: GoldenCase) -> None:
    """Nova's layout: the root is retargeted and moved, the other disks removed."""
    report = verify(case.input_xml, expected(case))
    plan = case.run().plan
    assert not report.ok
    assert report.mode is Mode.LEGACY
    assert plan.root_moved is not None
    root = f"disk:{plan.root_moved.old_target}"
    assert (("retargeted", root)) in kinds(report)
    assert (("moved", root)) in kinds(report)
    removed = sorted(disk.key for disk in plan.detached)
    assert sorted(device for kind, device in kinds(report) if kind == "removed") == removed


@pytest.mark.parametrize("case", KERNEL, ids=[c.name for c in KERNEL])
def test_kernel_rescue_changes_os(case: GoldenCase) -> None:
    """A direct-kernel rescue changes what boots: one finding, os-boot-changed."""
    report = verify(case.input_xml, expected(case))
    assert kinds(report) == [("os-boot-changed", "os")]


def test_meaning_not_text() -> None:
    """Quoting, attribute order, whitespace, comments and number bases do not count."""
    case = next(c for c in STABLE if c.name == "q35-scsi-virtio-scsi")
    tree = ET.fromstring(expected(case))
    for address in tree.iter("address"):
        for name in ("bus", "slot", "unit", "controller"):
            value = address.get(name)
            if value is not None:
                address.set(name, str(int(value, 0)))  # hex to decimal
        if address.get("type") == "pci" and address.get("domain") == "0x0000":
            del address.attrib["domain"]  # libvirt's default
    rewritten = ET.tostring(tree, encoding="unicode").replace("><", ">\n<")
    report = verify(case.input_xml, "<!-- re-dumped -->\n" + rewritten)
    assert report.ok, report.findings


@pytest.mark.parametrize("case", STABLE, ids=[c.name for c in STABLE])
def test_device_order_does_not_count(case: GoldenCase) -> None:
    """Devices regrouped by kind, as libvirt may order them, are matched, not found moved.

    The kinds come in reverse order of their names, each kind keeping its own order (which
    gives ``video:0`` its meaning).
    """
    tree = ET.fromstring(expected(case))
    devices = tree.find("devices")
    assert devices is not None
    children = [child for child in devices if isinstance(child.tag, str)]
    regrouped = sorted(children, key=lambda child: str(child.tag), reverse=True)
    assert len(children) < 3 or regrouped != children
    for child in children:
        devices.remove(child)
    devices.extend(regrouped)
    report = verify(case.input_xml, ET.tostring(tree, encoding="unicode"))
    assert report.ok, report.findings


def test_identity_is_not_a_rescue() -> None:
    """A domain compared with itself: nothing was added."""
    case = STABLE[0]
    report = verify(case.input_xml, case.input_xml)
    assert kinds(report) == [("no-rescue-device", "domain")]


def test_bad_input_is_a_rescue_error() -> None:
    with pytest.raises(stable_rescue.RescueError) as caught:
        verify("<domain", STABLE[0].input_xml)
    assert caught.value.code == "invalid-domain-xml"


# --- damage ---------------------------------------------------------------------------------


Damage = Callable[[ET.Element, ET.Element], str]


def original_devices(root: ET.Element) -> list[ET.Element]:
    """The rescued domain's devices that were in the original (not added by the rescue)."""
    devices = root.find("devices")
    assert devices is not None
    return [
        element
        for element in devices
        if element.tag != "emulator"
        and not (element.findtext("alias") or "").startswith("ua-stable-rescue-")
        and not any(
            (alias.get("name") or "").startswith("ua-stable-rescue-")
            for alias in element.findall("alias")
        )
    ]


def key_of(element: ET.Element, root: ET.Element) -> str:
    """The key verify gives ``element`` (disk target, controller type/index, MAC, ordinal)."""
    if element.tag == "disk":
        target = element.find("target")
        assert target is not None
        return f"disk:{target.get('dev')}"
    if element.tag == "controller":
        return f"controller:{element.get('type')}:{element.get('index', '0')}"
    mac = element.find("mac")
    if element.tag == "interface" and mac is not None:
        return f"interface:{mac.get('address', '').lower()}"
    devices = root.find("devices")
    assert devices is not None
    same = [e for e in devices if e.tag == element.tag]
    return f"{element.tag}:{same.index(element)}"


def normal(attributes: dict[str, str]) -> tuple[tuple[str, object], ...]:
    """Address attributes with numbers as numbers (``0x05`` and ``5`` are one slot)."""

    def value(text: str) -> object:
        try:
            return int(text, 0)
        except ValueError:
            return text

    return tuple(sorted((name, value(text)) for name, text in attributes.items()))


def move(root: ET.Element, device: ET.Element) -> str | None:
    """Give ``device`` another address on the same bus that no device holds."""
    address = device.find("address")
    field = {"pci": "slot", "drive": "unit", "usb": "port", "ccw": "devno"}.get(
        "" if address is None else address.get("type", "")
    )
    if address is None or field is None or address.get(field) is None:
        return None
    used = {normal(other.attrib) for other in root.iter("address") if other is not address}
    values = {
        "slot": ("0x1e", "0x1d", "0x1c"),
        "unit": ("5", "6", "4"),
        "port": ("9", "8", "7"),
        "devno": ("0xfff0", "0xfff1"),
    }
    for value in values[field]:
        candidate = dict(address.attrib)
        candidate[field] = value
        if normal(candidate) not in used and normal(candidate) != normal(address.attrib):
            address.set(field, value)
            return "moved"
    return None


def retarget(root: ET.Element, device: ET.Element) -> str | None:
    target = device.find("target")
    if device.tag != "disk" or target is None:
        return None
    target.set("dev", (target.get("dev") or "x")[:2] + "zz")
    return "retargeted"


def drop(root: ET.Element, device: ET.Element) -> str | None:
    devices = root.find("devices")
    assert devices is not None
    if device.tag == "controller" and device.get("model") in ("pci-root", "pcie-root"):
        return None  # libvirt's implicit root: dropping it is not a domain any more
    devices.remove(device)
    return "removed"


def change(root: ET.Element, device: ET.Element) -> str | None:
    device.set("stable-rescue-test", "changed")
    return "changed"


def unboot(root: ET.Element, rescue: ET.Element) -> str | None:
    boot = rescue.find("boot")
    if boot is None:
        return None
    boot.set("order", "99")
    return "boot-not-first"


@settings(max_examples=200, deadline=None)
@given(
    case=st.sampled_from(STABLE),
    damage=st.sampled_from([move, retarget, drop, change]),
    pick=st.integers(min_value=0),
)
def test_damage_to_one_device_is_found(
    case: GoldenCase, damage: Callable[[ET.Element, ET.Element], str | None], pick: int
) -> None:
    """One device moved, retargeted, dropped or changed: verify names it, with that kind."""
    root = ET.fromstring(expected(case))
    candidates = original_devices(root)
    device = candidates[pick % len(candidates)]
    key = key_of(device, root)
    kind = damage(root, device)
    if kind is None:
        return
    report = verify(case.input_xml, ET.tostring(root, encoding="unicode"))
    assert not report.ok
    assert (kind, key) in kinds(report), report.findings
    assert all(finding.kind in FINDING_KINDS for finding in report.findings)


@settings(max_examples=50, deadline=None)
@given(case=st.sampled_from(STABLE), pick=st.integers(min_value=0))
def test_a_duplicated_device_is_added(case: GoldenCase, pick: int) -> None:
    """A copy of a device (without its address, a disk under a new name) is an addition."""
    root = ET.fromstring(expected(case))
    candidates = [d for d in original_devices(root) if d.tag not in ("controller",)]
    if not candidates:
        return
    twin = copy.deepcopy(candidates[pick % len(candidates)])
    for element in twin.findall("address") + twin.findall("boot") + twin.findall("alias"):
        twin.remove(element)
    target, mac = twin.find("target"), twin.find("mac")
    if twin.tag == "disk" and target is not None:
        target.set("dev", "vdzz")
    if mac is not None:
        mac.set("address", "52:54:00:ff:ff:ff")
    devices = root.find("devices")
    assert devices is not None
    devices.append(twin)
    report = verify(case.input_xml, ET.tostring(root, encoding="unicode"))
    assert not report.ok
    assert "added" in [finding.kind for finding in report.findings], report.findings


@pytest.mark.parametrize("case", STABLE, ids=[c.name for c in STABLE])
def test_boot_first_taken_away_is_found(case: GoldenCase) -> None:
    root = ET.fromstring(expected(case))
    rescue = next(
        d for d in root.iter("disk") if any(a.get("name") == RESCUE_ALIAS for a in d.iter("alias"))
    )
    assert unboot(root, rescue) == "boot-not-first", "the rescue disk has no <boot order>"
    report = verify(case.input_xml, ET.tostring(root, encoding="unicode"))
    target = rescue.find("target")
    assert target is not None
    assert ("boot-not-first", f"disk:{target.get('dev')}") in kinds(report)


def with_devices(xml: str, text: str) -> str:
    end = xml.index("</devices>")
    return xml[:end] + text + xml[end:]


def test_an_added_device_says_why_it_counts() -> None:
    """Each added device says why it is a finding, without repeating its key."""
    case = next(c for c in STABLE if c.name == "pc-virtio-disk")
    added = (
        "<watchdog model='i6300esb' action='reset'/>"
        "<controller type='scsi' index='7' model='virtio-scsi'/>"
        "<disk type='file' device='disk'><source file='/x.img'/><target dev='vdzz' bus='virtio'/>"
        "</disk>"
    )
    report = verify(case.input_xml, with_devices(expected(case), added))
    assert [str(finding) for finding in report.findings] == [
        "added watchdog:0: a device a rescue does not add",
        "added controller:scsi:7: a controller the rescue disk does not use",
        "added disk:vdzz: disk vdzz: a disk beside the rescue disk",
    ]


ITCO = "<watchdog model='itco' action='reset'/>"


@pytest.mark.parametrize("case", [c for c in STABLE if c.name.startswith("q35-")][:3])
def test_q35_chipset_watchdog_libvirt_adds_does_not_count(case: GoldenCase) -> None:
    """An iTCO watchdog libvirt 11.3 writes into every q35 dump (9.0 does not) is no finding."""
    assert "itco" not in case.input_xml
    assert verify(case.input_xml, with_devices(expected(case), ITCO)).ok


def test_itco_watchdog_counts_where_libvirt_would_not_add_it() -> None:
    """On i440fx, with an address, or beside an iTCO the original had, it is a finding."""
    q35 = next(c for c in STABLE if c.name.startswith("q35-"))
    pc = next(c for c in STABLE if c.name == "pc-virtio-disk")
    addressed = (
        "<watchdog model='itco' action='reset'><address type='isa' iobase='0x400'/></watchdog>"
    )
    with_itco = with_devices(q35.input_xml, ITCO)
    pairs = (
        (pc.input_xml, with_devices(expected(pc), ITCO), "watchdog:0"),
        (q35.input_xml, with_devices(expected(q35), addressed), "watchdog:0"),
        (with_itco, with_devices(with_devices(expected(q35), ITCO), ITCO), "watchdog:1"),
    )
    for original, rescued, key in pairs:
        assert kinds(verify(original, rescued)) == [("added", key)]
