"""The golden cases against a real libvirt and QEMU (``virsh -c $STABLE_RESCUE_LIBVIRT_URI``).

Skipped with the reason when virsh is absent or libvirt does not answer, unless
``STABLE_RESCUE_REQUIRE_LIBVIRT=1`` (CI sets it after ``scripts/libvirt-test-host.sh``), which
turns the skip into a failure. Domains are called ``srtest-<pid>-<case>``, defined one at a time
and always undefined again.
"""

from __future__ import annotations

import difflib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import stable_rescue
from tests import boot_media
from tests.golden_cases import GoldenCase, golden_cases
from tests.libvirt_host import (
    RESCUE_ALIAS,
    DeviceKey,
    Virsh,
    VirshError,
    added_aliases,
    as_libvirt_9_dump,
    attributes,
    boot_indexes,
    boot_orders,
    by_alias,
    client_or_skip,
    defined,
    device_keys,
    for_test,
    libvirt_label,
    os_boot_devs,
    qemu_devices,
    qmp,
    without_addresses,
    without_hostdevs,
)
from tests.strategies import LIBVIRT_SAMPLES, libvirt_samples

pytestmark = pytest.mark.libvirt


def error_code(case: GoldenCase) -> str:
    """The ``code`` of a golden error case."""
    code = json.loads(case.expected_error_path.read_text(encoding="utf-8"))["code"]
    assert isinstance(code, str)
    return code


class Refusal(NamedTuple):
    """The disk a golden error case asks for, as libvirt would be given it without an address."""

    target: str
    source: str  # "file" or "block"
    error: str  # a regular expression for libvirt's message
    driver_type: str = "raw"  # the case's source_format where that is what libvirt refuses
    readonly: bool = False  # media that can only be read (an RBD snapshot) is <readonly/>
    # A controller added with the disk: the one the case refuses to add (its hw_scsi_model).
    controller: str = ""
    # libvirt defines it, and QEMU refuses it at start: test_qemu_refuses_at_start proves it.
    at_start: bool = False


CASES = golden_cases()
RESCUES = [case for case in CASES if case.is_rescue and case.expected_xml_path.exists()]
# libvirt's dumps of rescued domains, and the golden case whose input was rescued.
DUMPS = [case for case in CASES if not case.is_rescue and "original" in case.props]
# The golden errors that claim "libvirt would refuse this too".
REFUSED_CODES = frozenset(
    {
        "bus-full",
        "unsupported-device-for-bus",
        "bus-unavailable",
        "unsupported-source-format",
        "unsupported-scsi-model",
    }
)
REFUSED = [
    case
    for case in CASES
    if case.expected_error_path.exists() and error_code(case) in REFUSED_CODES
]
SCSI_BUSLOGIC = "<controller type='scsi' index='0' model='buslogic'/>"
SCSI_LSILOGIC = "<controller type='scsi' index='0' model='lsilogic'/>"
# Device and bus come from each case's props.json; the target is the name the next disk of that
# bus would get.
REFUSALS = {
    "pc-ide-full": Refusal("hde", "file", r"Only 1 IDE controller is supported"),
    "pc-fdc-full": Refusal("fdc", "file", r"Only 1 fdc controller is supported"),
    "pc-usb-full": Refusal("sdb", "file", r"No free USB ports"),
    "pc-usb-none": Refusal("sda", "file", r"USB is disabled for this domain"),
    "pc-floppy-on-ide-refused": Refusal("hda", "file", r"Invalid bus type 'ide' for floppy"),
    # A block source, so that the bus is the only reason left (a file lun is refused anyway).
    "pc-lun-on-sata-refused": Refusal("sda", "block", r"device='lun' is not supported for bus"),
    "q35-ide-refused": Refusal("hda", "file", r"IDE controllers are unsupported"),
    "q35-virtio-cdrom-refused": Refusal("vdb", "file", r"does not support ejectable media"),
    # libvirt 9.0 tries to add a pci-bridge with nowhere to plug it and fails on that.
    "error-unknown-source-format": Refusal(
        "sda", "file", r"unknown driver format value 'vhdx'", driver_type="vhdx"
    ),
    "error-luks-source-format": Refusal(
        "vdb", "file", r"unknown driver format value 'luks'", driver_type="luks"
    ),
    "pc-lun-qcow2-refused": Refusal(
        "sdb", "block", r"disk device 'lun' must use 'raw' format", driver_type="qcow2"
    ),
    # The case's source is an RBD snapshot, which needs <readonly/>; a file stands in for it.
    "q35-sata-rbd-snapshot-disk-refused": Refusal(
        "sdb", "file", r"readonly sata disks are not supported", readonly=True
    ),
    "pc-virtio-pci-full": Refusal(
        "vdp", "file", r"No more available PCI slots|index must be larger than bus"
    ),
    # arm virt and pseries have no IDE; arm virt gets no USB controller by default, so a USB
    # disk there needs one written in the domain (libvirt's "USB is disabled" without one).
    "aarch64-ide-refused": Refusal("hda", "file", r"IDE controllers are unsupported"),
    "aarch64-usb-no-controller": Refusal("sda", "file", r"USB is disabled for this domain"),
    "aarch64-usb-none": Refusal("sda", "file", r"USB is disabled for this domain"),
    "pseries-ide-refused": Refusal("hda", "file", r"IDE controllers are unsupported"),
    # Defined by libvirt 9.0 and 11.3 alike: qemu-system-aarch64 has no floppy device, and
    # libvirt refuses a pseries floppy only when it builds the QEMU command line.
    "aarch64-fdc-refused": Refusal(
        "fda", "file", r"'floppy' is not a valid device model name", at_start=True
    ),
    "pseries-fdc-refused": Refusal(
        "fda", "file", r"PowerPC pseries machines do not support floppy device", at_start=True
    ),
    "error-unknown-scsi-model": Refusal(
        "sda", "file", r"Unsupported controller model: buslogic", controller=SCSI_BUSLOGIC
    ),
    "s390x-usb-refused": Refusal("sda", "file", r"USB is disabled for this domain"),
    "s390x-sata-refused": Refusal("sda", "file", r"SATA is not supported with this QEMU binary"),
    "s390x-scsi-lsilogic-refused": Refusal(
        "sda", "file", r"This QEMU doesn't support the LSI 53C895A", controller=SCSI_LSILOGIC
    ),
    # Defined by libvirt 9.0 and 11.3 alike; qemu-system-s390x has no floppy device.
    "s390x-fdc-refused": Refusal(
        "fda", "file", r"'floppy' is not a valid device model name", at_start=True
    ),
}
# A case without an entry fails in test_libvirt_refuses_too, which asks for one.
REFUSED_AT_START = [
    case for case in REFUSED if case.name in REFUSALS and REFUSALS[case.name].at_start
]
REFUSED_AT_DEFINE = [case for case in REFUSED if case not in REFUSED_AT_START]


# The daemon's version names every test that uses it: test_x[libvirt-9.0.0-...].
@pytest.fixture(scope="module", params=[libvirt_label()])
def virsh() -> Iterator[Virsh]:
    """The virsh client on the test URI; skip, or fail when libvirt is required, if it is mute.

    At the end no domain of this run may be left defined (any that is gets undefined first).
    """
    client = client_or_skip()
    yield client
    leftovers = client.undefine_leftovers()
    assert not leftovers, f"domains left defined by the tests: {leftovers}"


def moved_devices(original: str, rescued: str, exempt: set[DeviceKey]) -> list[str]:
    """Each device of the original dump whose address or target differs in the rescued dump.

    ``exempt`` devices are left out: unaddressed ones, and in legacy mode the root and the
    detached disks, which the plan moves or takes out.
    """
    problems = []
    rescued_devices = device_keys(rescued)
    for key, before in device_keys(original).items():
        if key in exempt:
            continue
        after = rescued_devices.get(key)
        if after is None:
            problems.append(f"{key}: missing from the rescued dump")
            continue
        for part in ("address", "target"):
            old, new = attributes(before.find(part)), attributes(after.find(part))
            if old != new:
                problems.append(f"{key}: <{part}> {old} became {new}")
    return problems


def misplaced_additions(expected: str, rescued: str) -> list[str]:
    """Each added device (rescue disk, controllers) that libvirt did not keep as written.

    The address must be exactly expected.xml's; the target keeps at least what expected.xml says
    (libvirt may fill in more).
    """
    aliases = added_aliases(expected)
    if not aliases or aliases[0] != RESCUE_ALIAS:
        return [f"expected.xml has no device with alias {RESCUE_ALIAS}"]
    problems = []
    for alias in aliases:
        written, dumped = by_alias(expected, alias), by_alias(rescued, alias)
        assert written is not None
        if dumped is None:
            problems.append(f"{alias}: missing from the rescued dump")
            continue
        address, kept = attributes(written.find("address")), attributes(dumped.find("address"))
        # Only a controller may lack an address: an fdc sits on the ISA bus, which has none.
        if address != kept or (address is None and alias == RESCUE_ALIAS):
            problems.append(f"{alias}: address {address} in expected.xml, libvirt has {kept}")
        target = attributes(written.find("target")) or {}
        kept_target = attributes(dumped.find("target")) or {}
        if any(kept_target.get(name) != value for name, value in target.items()):
            problems.append(f"{alias}: target {target} in expected.xml, libvirt has {kept_target}")
    return problems


def boot_problems(rescued: str) -> list[str]:
    """What is wrong with the boot configuration libvirt kept for the rescued domain."""
    problems = []
    if os_boot_devs(rescued):
        problems.append(f"<os><boot dev> left: {os_boot_devs(rescued)}")
    orders = boot_orders(rescued)
    if len(set(orders.values())) != len(orders):
        problems.append(f"boot orders not unique: {orders}")
    rescue_disk = by_alias(rescued, RESCUE_ALIAS)
    rescue_boot = None if rescue_disk is None else rescue_disk.find("boot")
    if rescue_boot is None or rescue_boot.get("order") != "1":
        problems.append(f"rescue disk boot order is not 1: {orders}")
    return problems


def qemu_boot_problems(virsh: Virsh, expected: str) -> list[str]:
    """What is wrong with the QEMU boot indexes libvirt would give the rescued domain."""
    # Host devices are left out: libvirt resolves them on the host even for this command. Their
    # boot orders are covered by boot_problems (unique, and 1 is the rescue disk's).
    with virsh.secrets(without_hostdevs(expected)) as native_xml:
        argv = virsh.qemu_argv(native_xml)
    if not any(device.get("id") == RESCUE_ALIAS for device in qemu_devices(argv)):
        return [f"no -device with id {RESCUE_ALIAS} in the QEMU command line"]
    indexes = boot_indexes(argv)
    rescue = [index for name, index in indexes if name == RESCUE_ALIAS]
    others = [(name, index) for name, index in indexes if name != RESCUE_ALIAS]
    problems = []
    if rescue != [1]:
        problems.append(f"QEMU bootindex of the rescue disk is {rescue}, expected [1]")
    problems.extend(
        f"QEMU device {name} has bootindex {index}, expected > 1"
        for name, index in others
        if index <= 1
    )
    return problems


def unrescue_problems(
    virsh: Virsh, rescued: str, original: str, unaddressed: set[DeviceKey]
) -> list[str]:
    """How libvirt's dump of unrescue(rescued dump) differs from its dump of the original.

    The addresses of ``unaddressed`` devices are left out of the comparison: libvirt chose them
    once with and once without the rescue disk present.
    """
    try:
        restored_xml = stable_rescue.unrescue(rescued)
    except stable_rescue.RescueError as error:
        return [f"unrescue of the rescued dump fails: {error.code}: {error.message}"]
    try:
        restored = virsh.define_and_dump(restored_xml)
    except VirshError as error:
        return [f"libvirt refuses unrescue of the rescued dump: {error}"]
    if unaddressed:
        original, restored = (
            without_addresses(original, unaddressed),
            without_addresses(restored, unaddressed),
        )
    if restored == original:
        return []
    diff = "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            restored.splitlines(keepends=True),
            fromfile="original dump",
            tofile="unrescued dump",
        )
    )
    return [f"unrescue of the rescued dump, defined and dumped, differs:\n{diff}"]


@pytest.mark.parametrize("case", RESCUES, ids=[case.name for case in RESCUES])
def test_libvirt_keeps_rescue(case: GoldenCase, virsh: Virsh) -> None:
    """Defined in libvirt, expected.xml is kept as written, moves nothing, and unrescue undoes it.

    Defined and dumped: every device of the original keeps its address and target (in legacy
    mode: all but the root, which moves, and the detached disks, which are gone); the rescue
    disk and each added controller keep expected.xml's address; no ``<os><boot dev>``; boot
    orders are unique and the rescue disk's is 1. QEMU would get bootindex 1 for the rescue disk
    and no other index <= 1. unrescue of the rescued dump, defined and dumped, is exactly the
    original's dump.
    """
    plan = case.run().plan
    expected = case.expected_xml_path.read_text(encoding="utf-8")
    if case.props.get("options", {}).get("allow_unaddressed"):
        assert plan.warnings, "allow_unaddressed gave no warning in the plan"
    problems = rescue_problems(virsh, case.name, case.input_xml, expected, plan)
    assert not problems, f"{case.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("number", range(LIBVIRT_SAMPLES))
def test_libvirt_keeps_generated_rescue(number: int, virsh: Virsh) -> None:
    """As test_libvirt_keeps_rescue, for a fixed sample of generated domains and requests.

    tests/strategies.py draws them (derandomized, the same every run) among the rescues that
    succeed, stable and legacy mode alike. (This sample found that libvirt 9.0 refuses a
    'luks' driver format and a 'lun' in any format but raw.)
    """
    domain, request = libvirt_samples()[number]
    result = request.rescue(domain.xml)
    problems = rescue_problems(virsh, f"gen{number}", domain.xml, result.xml, result.plan)
    assert not problems, f"{request!r}\n{domain!r}\n" + "\n".join(problems)


def rescue_problems(
    virsh: Virsh, name: str, input_xml: str, rescued_xml: str, plan: stable_rescue.Plan
) -> list[str]:
    """Everything libvirt shows wrong with ``rescued_xml``, the rescue of ``input_xml``."""
    try:
        original = virsh.define_and_dump(for_test(input_xml, name))
    except VirshError as error:
        return [f"libvirt refuses the input: {error}"]
    expected = for_test(rescued_xml, name)
    try:
        rescued = virsh.define_and_dump(expected)
    except VirshError as error:
        return [f"libvirt refuses the rescued domain: {error}"]
    # libvirt places unaddressed devices at define time: only the plan's warning promises.
    unaddressed = {
        key for key, element in device_keys(input_xml).items() if element.find("address") is None
    }
    legacy_changes: set[DeviceKey] = set()
    problems = []
    if plan.root_moved is not None:
        legacy_changes = {("disk", plan.root_moved.old_target)} | {
            ("disk", disk.key.removeprefix("disk:")) for disk in plan.detached
        }
        problems = legacy_problems(original, rescued, plan)
    return [
        *problems,
        *verify_problems(original, rescued, plan, unaddressed),
        *moved_devices(original, rescued, unaddressed | legacy_changes),
        *misplaced_additions(expected, rescued),
        *boot_problems(rescued),
        *qemu_boot_problems(virsh, expected),
        *unrescue_problems(virsh, rescued, original, unaddressed),
    ]


def verify_problems(
    original: str, rescued: str, plan: stable_rescue.Plan, unaddressed: set[DeviceKey]
) -> list[str]:
    """What ``verify`` says of libvirt's dumps, when it is not what the plan implies.

    A stable rescue of a fully addressed domain is ok. A legacy one is not: the root is
    retargeted, moved and changed (it gains the alias ``ua-stable-rescue-root``), the other
    disks removed. A direct-kernel one changes ``<os>``.
    """
    report = stable_rescue.verify(original, rescued)
    kinds = sorted({finding.kind for finding in report.findings})
    wanted: set[str] = set()
    if plan.mode is stable_rescue.Mode.LEGACY:
        wanted |= {"moved", "retargeted", "changed"} | ({"removed"} if plan.detached else set())
    if plan.kernel is not None or plan.kernel_removed or plan.kernel_replaced:
        wanted.add("os-boot-changed")
    if unaddressed and not wanted:
        return []  # libvirt placed those devices once with the rescue disk and once without
    if kinds != sorted(wanted):
        return [f"verify of the dumps: {kinds}; expected {sorted(wanted)}: {report.findings}"]
    return []


def legacy_problems(original: str, rescued: str, plan: stable_rescue.Plan) -> list[str]:
    """What differs from legacy mode's promise in the rescued dump.

    The rescue disk sits where the root was, the root at its new name, the detached disks are
    gone and every other disk is still there.
    """
    moved = plan.root_moved
    assert moved is not None
    problems = []
    before, after = device_keys(original), device_keys(rescued)
    root = before[("disk", moved.old_target)]
    rescue_disk = by_alias(rescued, RESCUE_ALIAS)
    if rescue_disk is None or attributes(rescue_disk.find("address")) != attributes(
        root.find("address")
    ):
        problems.append("the rescue disk does not sit at the root disk's old address")
    if attributes(after[("disk", moved.old_target)].find("address")) != attributes(
        root.find("address")
    ):
        problems.append(f"{moved.old_target} in the rescued dump is not at the root's address")
    moved_root = by_alias(rescued, moved.alias)
    if moved_root is None or (moved_root.find("source") is None) != (root.find("source") is None):
        problems.append("the moved root is missing from the rescued dump")
    detached = {disk.key.removeprefix("disk:") for disk in plan.detached}
    rescued_sources = {source_of(element) for key, element in after.items() if key[0] == "disk"}
    for key, element in before.items():
        if key[0] != "disk" or key[1] == moved.old_target:
            continue
        present = source_of(element) in rescued_sources
        if present == (key[1] in detached):
            problems.append(f"disk {key[1]}: {'still attached' if present else 'lost'}")
    return problems


def source_of(disk: ET.Element) -> str:
    """A disk's ``<source>`` as text, to find the same disk under another name."""
    source = disk.find("source")
    return "" if source is None else ET.tostring(source, encoding="unicode").strip()


# q35 stable rescues whose <os> a newer libvirt leaves alone: no firmware for it to fill in.
Q35_AS_GIVEN = [
    case
    for case in RESCUES
    if case.name.startswith("q35-")
    and "<loader" not in case.input_xml
    and "firmware=" not in case.input_xml
    and case.run().plan.mode is stable_rescue.Mode.STABLE
    and case.run().plan.kernel is None
    and not case.run().plan.kernel_removed
]


@pytest.mark.parametrize("case", Q35_AS_GIVEN, ids=[case.name for case in Q35_AS_GIVEN])
def test_verify_the_original_as_given_against_the_rescue_dump(
    case: GoldenCase, virsh: Virsh
) -> None:
    """The golden input (9.0's dump) verifies against this daemon's dump of the rescue.

    libvirt 11.3 adds q35's built-in iTCO watchdog to every dump, where 9.0 did not: verify does
    not count it, so an original dumped before a libvirt upgrade still verifies.
    """
    name = case.name
    rescued = virsh.define_and_dump(for_test(case.expected_xml_path.read_text("utf-8"), name))
    report = stable_rescue.verify(for_test(case.input_xml, name), rescued)
    assert report.ok, report.findings


@pytest.mark.parametrize("case", DUMPS, ids=[case.name for case in DUMPS])
def test_libvirt_unrescue_of_its_dump(case: GoldenCase, virsh: Virsh) -> None:
    """Unrescue of libvirt's own dump of a rescued domain restores libvirt's original.

    The case's input is libvirt 9.0's dump of a golden rescue output (checked here, on another
    version after removing what it adds by default: docs/policy.md, "libvirt versions"). This
    daemon's own dump, unrescued, and the case's expected unrescue, each defined and dumped,
    are exactly this daemon's dump of the original input.
    """
    original_case = next(other for other in CASES if other.name == case.props["original"])
    name = original_case.name
    rescued_dump = virsh.define_and_dump(
        for_test(original_case.expected_xml_path.read_text(encoding="utf-8"), name)
    )
    assert as_libvirt_9_dump(rescued_dump) == for_test(case.input_xml, name), (
        "input.xml is not libvirt's dump"
    )
    original = virsh.define_and_dump(for_test(original_case.input_xml, name))
    assert virsh.define_and_dump(stable_rescue.unrescue(rescued_dump)) == original
    restored = virsh.define_and_dump(
        for_test(case.expected_xml_path.read_text(encoding="utf-8"), name)
    )
    assert restored == original


def unaddressed_disk(case: GoldenCase, refusal: Refusal) -> str:
    """The disk the case asks for, without an address, as a ``<disk>`` element."""
    properties = case.props["properties"]
    device, bus = properties.get("hw_rescue_device", "disk"), properties["hw_rescue_bus"]
    if refusal.source == "block":
        opening, source = "type='block'", "<source dev='/dev/sr-rescue'/>"
    else:
        opening, source = "type='file'", f"<source file='{case.props['source']}'/>"
    return (
        f"    <disk {opening} device='{device}'>\n"
        f"      <driver name='qemu' type='{refusal.driver_type}'/>\n"
        f"      {source}\n"
        f"      <target dev='{refusal.target}' bus='{bus}'/>\n"
        + ("      <readonly/>\n" if refusal.readonly else "")
        + "    </disk>\n"
    )


def with_requested_disk(case: GoldenCase, refusal: Refusal) -> str:
    """The case's input as a test domain, with the disk it asks for added without an address.

    The refusal's controller, if any, is added after it, also without an address.
    """
    domain_xml = for_test(case.input_xml, case.name)
    assert domain_xml.count("</devices>") == 1
    added = unaddressed_disk(case, refusal)
    if refusal.controller:
        added += f"    {refusal.controller}\n"
    return domain_xml.replace("  </devices>", f"{added}  </devices>")


@pytest.mark.parametrize("case", REFUSED_AT_DEFINE, ids=[case.name for case in REFUSED_AT_DEFINE])
def test_libvirt_refuses_too(case: GoldenCase, virsh: Virsh) -> None:
    """Where a golden error says the bus or device cannot take the rescue disk, libvirt agrees.

    The input domain with the requested disk added without an address (so libvirt chooses),
    and for a refused ``hw_scsi_model`` a controller of that model, fails ``virsh define``, for
    the reason the case names.
    """
    refusal = REFUSALS.get(case.name)
    assert refusal is not None, f"{case.name} ({error_code(case)}) needs an entry in REFUSALS"
    domain_xml = with_requested_disk(case, refusal)
    try:
        dump = virsh.define_and_dump(domain_xml)
    except VirshError as error:
        refused = error
    else:
        pytest.fail(f"libvirt ACCEPTS what {case.name} refuses ({error_code(case)}):\n{dump}")
    assert re.search(refusal.error, refused.stderr), f"refused for another reason: {refused}"


def startable(domain_xml: str, directory: Path) -> str:
    """``domain_xml`` with what a start needs of the host, nothing else changed.

    Every disk source becomes a blank image in ``directory``, in the disk's format; every
    interface goes on QEMU's user-mode network.
    """
    root = ET.fromstring(domain_xml)
    devices = root.find("devices")
    assert devices is not None
    for disk in devices.findall("disk"):
        source, target = disk.find("source"), disk.find("target")
        if source is None:
            continue
        assert disk.get("type") == "file", "only file disks here"
        assert target is not None
        driver = disk.find("driver")
        disk_format = "raw" if driver is None else driver.get("type", "raw")
        blank = boot_media.blank_disk(str(target.get("dev")), directory, disk_format)
        source.set("file", str(blank))
    for interface in devices.findall("interface"):
        interface.set("type", "user")
        for host_side in interface.findall("target") + interface.findall("source"):
            interface.remove(host_side)
    return ET.tostring(root, encoding="unicode")


def arch_of(domain_xml: str) -> str:
    """The ``<os><type arch>`` of a domain."""
    machine_type = ET.fromstring(domain_xml).find("os/type")
    return "" if machine_type is None else machine_type.get("arch", "")


def startable_firmware(domain_xml: str, directory: Path) -> str:
    """``domain_xml`` with its NVRAM file, if it names one, moved into ``directory``.

    libvirt creates the NVRAM file from its template at the first start; it must be one of ours.
    """
    root = ET.fromstring(domain_xml)
    nvram = root.find("os/nvram")
    if nvram is None or not (nvram.text or "").strip():
        return domain_xml
    nvram.text = str(directory / "VARS.fd")
    return ET.tostring(root, encoding="unicode")


def qom_bootindex(virsh: Virsh, name: str, device_id: str) -> int:
    """The ``bootindex`` QEMU holds for the device ``device_id`` of the running domain ``name``."""
    path = f"/machine/peripheral/{device_id}"
    return int(qmp(virsh, name, "qom-get", path=path, property="bootindex"))


def paused_start_error(virsh: Virsh, domain_xml: str) -> VirshError | None:
    """Why ``virsh start --paused`` fails for ``domain_xml``, or None when it starts.

    The domain is defined for this, and destroyed and undefined again however it ends.
    """
    with defined(virsh, domain_xml) as name:
        try:
            virsh.run("start", "--paused", name)
        except VirshError as error:
            return error
    return None


@pytest.mark.parametrize("case", REFUSED_AT_START, ids=[case.name for case in REFUSED_AT_START])
def test_qemu_refuses_at_start(case: GoldenCase, virsh: Virsh, workdir: Path) -> None:
    """Where libvirt defines what a golden error refuses, QEMU refuses to start it.

    The domain of test_libvirt_refuses_too is defined (libvirt accepts it) and started paused,
    made startable here (``startable``): QEMU fails for the reason the case names. The input
    domain without the requested disk starts, so the refusal is that disk's.
    """
    refusal = REFUSALS[case.name]
    original = startable(for_test(case.input_xml, case.name), workdir)
    assert paused_start_error(virsh, original) is None, f"{case.name}: the input does not start"
    refused = paused_start_error(virsh, startable(with_requested_disk(case, refusal), workdir))
    assert refused is not None, f"QEMU STARTS what {case.name} refuses ({error_code(case)})"
    assert re.search(refusal.error, refused.stderr), f"refused for another reason: {refused}"


# The golden rescues of the machines no boot proof covers with a marker
# (tests/test_qemu_boot_proof.py boots pc, q35 and one aarch64 domain): each is started, paused,
# in QEMU.
OTHER_ARCH_RESCUES = [
    case for case in RESCUES if arch_of(case.input_xml) in ("aarch64", "ppc64", "s390x")
]


@pytest.mark.parametrize("case", OTHER_ARCH_RESCUES, ids=[c.name for c in OTHER_ARCH_RESCUES])
def test_qemu_starts_rescue_with_bootindex_1(case: GoldenCase, virsh: Virsh, workdir: Path) -> None:
    """QEMU starts each aarch64, pseries and s390x golden rescue, the rescue disk at bootindex 1.

    Beyond domxml-to-native (test_libvirt_keeps_rescue): the rescued domain, made startable
    (blank images, user-mode network, NVRAM in the work dir), is started paused, so QEMU itself
    builds every device, the added controllers included, on the buses the plan names; QEMU's
    own ``bootindex`` of the rescue disk (QOM) is 1, which the firmware (SLOF, the s390-ccw
    BIOS, AAVMF) reads as its first boot device.
    """
    expected = case.expected_xml_path.read_text(encoding="utf-8")
    domain_xml = startable(startable_firmware(for_test(expected, case.name), workdir), workdir)
    with defined(virsh, domain_xml) as name:
        try:
            virsh.run("start", "--paused", name)
        except VirshError as error:
            pytest.fail(f"{case.name}: QEMU does not start the rescued domain: {error}")
        assert qom_bootindex(virsh, name, RESCUE_ALIAS) == 1


def test_refusals_table_is_current() -> None:
    """Every REFUSALS entry belongs to a golden error case whose code claims a libvirt refusal."""
    assert sorted(REFUSALS) == sorted(case.name for case in REFUSED)
