"""Boot proof: QEMU boots the rescue media first, and the guest sees every PCI device unmoved.

For pc and q35 and each bus and device the machine has, a golden input domain is made bootable
(every disk gets tiny media from ``boot_media`` that prints its own marker on COM1, the serial
port goes to a file, the network to QEMU's user mode) and defined in libvirt. It is started as it
is: the disk its boot configuration names first prints its marker. Then libvirt's own dump of it
is rescued with ``stable_rescue.rescue``, the result defined in its place and started: the rescue
media's marker appears, no other. Both runs list the guest's PCI functions (QMP ``query-pci``,
bus numbers as the firmware programmed them); every function of the normal run must be at the
same bus, slot and function, with the same ids, in the rescue run. One more pair does the same
under UEFI (OVMF), where the media carry an EFI application instead of a boot sector, and one on
aarch64 ``virt`` under AAVMF, whose EFI application prints on the PL011 UART. On pseries and
s390x no media here hold a boot program their firmware would run; there the firmware's own
console names the device it tries first (SLOF's "Trying to load: from: <path>", the s390-ccw
BIOS's "Using virtio-scsi."), and the devices are compared by PCI function or CCW devno.

Domain type ``qemu`` (TCG), so no KVM is needed. Skipped with the reason when libvirt or a build
tool is missing, unless ``STABLE_RESCUE_REQUIRE_LIBVIRT=1`` turns that into a failure. Domains are
called ``srtest-<pid>-boot-<combination>``; each is destroyed and undefined when its test ends,
however it ends.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import stable_rescue
from tests import boot_media
from tests.golden_cases import GoldenCase, golden_cases
from tests.libvirt_host import (
    REQUIRE_VARIABLE,
    PciFunction,
    Virsh,
    VirshError,
    client_or_skip,
    defined,
    destroy_leftovers,
    for_test,
    is_active,
    libvirt_label,
    libvirt_required,
    qmp,
    query_pci,
)

pytestmark = pytest.mark.libvirt

BIOS_BOOT_SECONDS = 30.0
UEFI_BOOT_SECONDS = 60.0
POLL_SECONDS = 0.1
RESCUE = "rescue"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# Debian's qemu-efi-aarch64, named by the golden aarch64 inputs; its VARS template enrolls no
# Secure Boot keys, so the unsigned EFI applications of ``boot_media`` run.
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
# An AAVMF boot to the marker takes about 7 s under TCG; the wait ends at the marker.
AARCH64_UEFI_BOOT_SECONDS = 90.0
# The aarch64 pair: a virt domain with every root port used, rescued with a CD-ROM on the
# machine's default bus (scsi: a new root port and a virtio-scsi controller are added).
AARCH64_UEFI_CASE = "aarch64-scsi-cdrom-default"

CASES = {case.name: case for case in golden_cases()}


class Combination(NamedTuple):
    """A rescue device to boot from: machine, bus and device, added to a golden input."""

    machine: str
    bus: str
    device: str
    case: str  # the golden case whose input.xml is the domain

    @property
    def name(self) -> str:
        return f"{self.machine}-{self.bus}-{self.device}"


# Every bus and device each machine has (the list; docs/properties.md, Machines), each
# on the golden input whose layout asks the most of the placement: no controller of the bus yet,
# a full one, no free PCI slot or root port, per-device boot orders.
COMBINATIONS = [
    Combination("pc", "virtio", "disk", "pc-virtio-one-free-slot"),  # one free pci-root slot
    Combination("pc", "scsi", "disk", "pc-scsi-no-controller"),
    Combination("pc", "scsi", "cdrom", "pc-scsi-virtio-scsi"),  # disks on virtio-scsi already
    Combination("pc", "sata", "disk", "pc-sata-no-controller"),
    Combination("pc", "sata", "cdrom", "pc-sata-ahci-full"),  # root disk on a full AHCI
    Combination("pc", "usb", "disk", "pc-boot-orders"),  # per-device boot orders
    Combination("pc", "ide", "disk", "pc-ide-disk"),  # root disk on ide
    Combination("pc", "ide", "cdrom", "pc-ide-cdrom-default"),
    Combination("q35", "virtio", "disk", "q35-virtio-new-root-port"),  # every root port used
    Combination("q35", "scsi", "disk", "q35-scsi-no-controller"),
    Combination("q35", "scsi", "cdrom", "q35-scsi-virtio-scsi"),
    Combination("q35", "sata", "disk", "q35-sata-full"),  # root disk on the full built-in AHCI
    Combination("q35", "sata", "cdrom", "q35-sata-cdrom-default"),
    Combination("q35", "usb", "disk", "q35-usb-nec-xhci"),  # three of four ports used
]
BUSES_AND_DEVICES = [
    ("virtio", "disk"),
    ("scsi", "disk"),
    ("scsi", "cdrom"),
    ("sata", "disk"),
    ("sata", "cdrom"),
    ("usb", "disk"),
    ("ide", "disk"),
    ("ide", "cdrom"),
]
MACHINE_TYPES = {"pc": "pc-i440fx-", "q35": "pc-q35-"}
# The UEFI pair: the golden UEFI domain with Secure Boot off (the media are not signed), rescued
# with a CD-ROM on the machine's default bus (sata on q35: no hw_rescue_bus).
UEFI_CASE = "q35-uefi-secure-boot"


class PciMoved(AssertionError):
    """A PCI function of the normal run is elsewhere, or another, in the rescue run."""


class Run(NamedTuple):
    """What one boot of a domain showed."""

    markers: list[str]
    pci: list[PciFunction]
    log: str

    def tail(self) -> str:
        """The end of the serial log, for failure messages."""
        return self.log[-800:]


# The daemon's version names every test that uses it: test_x[libvirt-9.0.0-...].
@pytest.fixture(scope="module", params=[libvirt_label()])
def virsh() -> Iterator[Virsh]:
    """The virsh client; skip (or fail, where required) without libvirt or the build tools.

    At the end no domain of this run may be left running or defined.
    """
    missing = boot_media.missing_tools()
    client = client_or_skip(
        f"missing {', '.join(missing)} (install them; scripts/libvirt-test-host.sh)"
        if missing
        else None
    )
    yield client
    leftovers = destroy_leftovers(client) + client.undefine_leftovers()
    assert not leftovers, f"domains left running or defined by the tests: {leftovers}"


def wait_for_log(log: Path, seconds: float, done: Callable[[str], object]) -> str:
    """The serial log once ``done`` holds for it, or as it is after ``seconds``."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        if log.exists():
            text = log.read_text(encoding="latin-1")
            if done(text):
                return text
        time.sleep(POLL_SECONDS)
    return text


def wait_for_marker(log: Path, seconds: float) -> str:
    """The serial log once a complete marker line is in it, or as it is after ``seconds``."""
    return wait_for_log(log, seconds, boot_media.markers_in)


def boot(virsh: Virsh, name: str, log: Path, seconds: float) -> Run:
    """Start ``name``, wait for a marker on its serial log, list its PCI functions, destroy it.

    The log is removed first, so what is read was printed by this run. The boot media halt the
    CPU after their marker, so a log holds at most one, whatever the waiting time.
    """
    log.unlink(missing_ok=True)
    virsh.run("start", name)
    try:
        text = wait_for_marker(log, seconds)
        pci = query_pci(virsh, name)
    finally:
        virsh.run("destroy", name)
    return Run(boot_media.markers_in(text), pci, text)


MediaMaker = Callable[[str, Path, str], Path]


def bootable(domain_xml: str, directory: Path, disk: MediaMaker, cdrom: MediaMaker) -> str:
    """``domain_xml`` made to boot here; every device keeps its kind, model and address.

    Each disk's source becomes media made by ``disk`` (or ``cdrom``) in ``directory``, in the
    disk's own format, printing ``orig-<target>``; the first serial port writes to
    ``directory/serial.log`` (the console follows it, so the ``<console>`` copy is dropped);
    interfaces use QEMU's user-mode network instead of host devices. The domain becomes a
    ``qemu`` (TCG) one.
    """
    root = ET.fromstring(domain_xml)
    root.set("type", "qemu")
    devices = root.find("devices")
    assert devices is not None
    assert devices.find("hostdev") is None, "host devices cannot be started here"
    for element in devices.findall("disk"):
        source, target = element.find("source"), element.find("target")
        assert target is not None
        if source is None:
            continue  # an empty CD-ROM drive
        assert element.get("type") == "file", f"{target.get('dev')}: not a file disk"
        driver = element.find("driver")
        disk_format = "raw" if driver is None else driver.get("type", "raw")
        name = f"orig-{target.get('dev')}"
        make = cdrom if element.get("device") == "cdrom" else disk
        source.set("file", str(make(name, directory, disk_format)))
    serial = devices.find("serial")
    if serial is None:
        serial = ET.SubElement(devices, "serial")
    serial.attrib.clear()
    serial.set("type", "file")
    for old in serial.findall("source"):
        serial.remove(old)
    source = ET.Element("source", {"path": str(directory / "serial.log")})
    serial.insert(0, source)
    for console in devices.findall("console"):
        devices.remove(console)
    for interface in devices.findall("interface"):
        interface.set("type", "user")
        for host_side in interface.findall("target") + interface.findall("source"):
            interface.remove(host_side)
    return ET.tostring(root, encoding="unicode")


def bios_disk(name: str, directory: Path, disk_format: str) -> Path:
    """A disk whose boot sector prints ``name``'s marker."""
    return boot_media.bios_disk(name, directory, disk_format)


def bios_cdrom(name: str, directory: Path, disk_format: str) -> Path:
    """A CD-ROM whose El Torito boot image prints ``name``'s marker."""
    assert disk_format == "raw", f"{name}: a CD-ROM image is raw, not {disk_format}"
    return boot_media.bios_iso(name, directory)


def efi_disk(name: str, directory: Path, disk_format: str) -> Path:
    r"""A disk whose ``\EFI\BOOT\BOOTX64.EFI`` prints ``name``'s marker."""
    return boot_media.efi_disk(name, directory, disk_format)


def efi_cdrom(name: str, directory: Path, disk_format: str) -> Path:
    """A CD-ROM whose El Torito EFI image prints ``name``'s marker."""
    assert disk_format == "raw", f"{name}: a CD-ROM image is raw, not {disk_format}"
    return boot_media.efi_iso(name, directory)


def aa64_disk(name: str, directory: Path, disk_format: str) -> Path:
    r"""A disk whose ``\EFI\BOOT\BOOTAA64.EFI`` prints ``name``'s marker on the PL011."""
    return boot_media.efi_disk(name, directory, disk_format, arch="aa64")


def aa64_cdrom(name: str, directory: Path, disk_format: str) -> Path:
    """A CD-ROM whose El Torito EFI image (AArch64) prints ``name``'s marker."""
    assert disk_format == "raw", f"{name}: a CD-ROM image is raw, not {disk_format}"
    return boot_media.efi_iso(name, directory, arch="aa64")


def first_boot_disk(domain_xml: str) -> str:
    """The target of the disk firmware should boot first in libvirt's dump of a domain.

    The device with the lowest ``<boot order>`` if there are any, else the first disk of the
    kind the first ``<os><boot dev>`` names (rules B4 and B6 of docs/policy.md: libvirt's order,
    which is the order of its dump).
    """
    root = ET.fromstring(domain_xml)
    disks = root.findall("devices/disk")
    ordered = [
        (int(boot.get("order", "0")), disk)
        for disk in root.findall("devices/*")
        if (boot := disk.find("boot")) is not None
    ]
    if ordered:
        first = min(ordered, key=lambda pair: pair[0])[1]
        assert first.tag == "disk", f"the lowest boot order is a <{first.tag}>'s, not a disk's"
    else:
        kinds = {"hd": ("disk", "lun"), "cdrom": ("cdrom",), "fd": ("floppy",)}
        dev = root.find("os/boot")
        wanted = kinds["hd" if dev is None else dev.get("dev", "hd")]
        first = next(disk for disk in disks if disk.get("device", "disk") in wanted)
    target = first.find("target")
    assert target is not None
    return target.get("dev", "")


def moved_functions(normal: list[PciFunction], rescue: list[PciFunction]) -> list[str]:
    """Each function of the normal run not at the same place, with the same ids, in ``rescue``."""
    problems = []
    placed = {function.location: function for function in rescue}
    for function in normal:
        found = placed.get(function.location)
        if found is None:
            problems.append(f"{function}: nothing there in the rescue run")
        elif found.identity != function.identity:
            problems.append(f"{function}: the rescue run has {found} there instead")
    return problems


def prove(
    virsh: Virsh,
    domain_xml: str,
    directory: Path,
    rescue_media: Path,
    properties: dict[str, str],
    seconds: float,
) -> None:
    """Boot ``domain_xml``, rescue libvirt's dump of it with ``rescue_media``, boot that; check.

    The normal run shows the marker of the disk the boot configuration names first; the rescue
    run shows the rescue media's marker and no other; every PCI function of the normal run is
    where it was, as it was, in the rescue run.
    """
    log = directory / "serial.log"
    with defined(virsh, domain_xml) as name:
        original = virsh.run("dumpxml", "--inactive", name)
        expected = f"orig-{first_boot_disk(original)}"
        normal = boot(virsh, name, log, seconds)
        assert normal.markers == [expected], (
            f"normal run: markers {normal.markers}, expected [{expected!r}]; serial log ends:\n"
            + normal.tail()
        )
        assert normal.pci, "query-pci listed no PCI function in the normal run"
        result = stable_rescue.rescue(original, properties, str(rescue_media))
        try:
            virsh.run_with_file(["define"], result.xml)
        except VirshError as error:
            pytest.fail(f"libvirt refuses the rescued domain: {error}\n{result.xml}")
        rescued = boot(virsh, name, log, seconds)
    assert rescued.markers == [RESCUE], (
        f"rescue run: markers {rescued.markers}, expected [{RESCUE!r}] "
        f"(rescue device {result.plan.target}); serial log ends:\n" + rescued.tail()
    )
    problems = moved_functions(normal.pci, rescued.pci)
    if problems:
        raise PciMoved("PCI functions moved by the rescue:\n" + "\n".join(problems))


@pytest.mark.parametrize("combination", COMBINATIONS, ids=[c.name for c in COMBINATIONS])
def test_rescue_media_boots_first_and_pci_stays(
    combination: Combination, virsh: Virsh, workdir: Path
) -> None:
    """Under SeaBIOS the rescue device boots, not the root disk, and no PCI function moves.

    The golden input, made bootable, boots its own first disk; rescued with the combination's
    bus and device it boots the rescue media; the guest-visible PCI functions of the normal run
    are all at the same bus, slot and function, with the same ids, in the rescue run.
    """
    case = CASES[combination.case]
    domain_xml = for_test(case.input_xml, f"boot-{combination.name}")
    domain_xml = bootable(domain_xml, workdir, bios_disk, bios_cdrom)
    if combination.device == "cdrom":
        media = boot_media.bios_iso(RESCUE, workdir)
    else:
        media = boot_media.bios_disk(RESCUE, workdir)
    properties = {
        **case.props["properties"],
        "hw_rescue_bus": combination.bus,
        "hw_rescue_device": combination.device,
    }
    prove(virsh, domain_xml, workdir, media, properties, BIOS_BOOT_SECONDS)


def test_new_root_port_keeps_bus_numbers_of_later_ports(virsh: Virsh, workdir: Path) -> None:
    """A root port added before existing ones in slot order leaves the guest's bus numbers alone.

    q35-virtio-root-ports-not-multifunction with its last root port (index 4, behind which the
    USB controller sits) moved from 00:05.0 to 00:07.0. The firmware numbers buses depth first
    in slot order: a new port in the first free slot, 00:05.0, would take guest bus 4 and move
    the USB controller from guest bus 4 to 5, although libvirt's addresses (bus = controller
    index) are all kept. Found by this test; the rescue now puts the port after 00:07.0.
    """
    case = CASES["q35-virtio-root-ports-not-multifunction"]
    slot_5, slot_7 = (f"bus='0x00' slot='0x0{slot}' function='0x0'" for slot in (5, 7))
    assert case.input_xml.count(slot_5) == 1
    assert slot_7 not in case.input_xml
    domain_xml = for_test(case.input_xml.replace(slot_5, slot_7), "boot-q35-port-gap")
    domain_xml = bootable(domain_xml, workdir, bios_disk, bios_cdrom)
    media = boot_media.bios_disk(RESCUE, workdir)
    properties = {"hw_rescue_bus": "virtio", "hw_rescue_device": "disk"}
    prove(virsh, domain_xml, workdir, media, properties, BIOS_BOOT_SECONDS)


def test_legacy_rescue_disk_boots_in_the_root_place(virsh: Virsh, workdir: Path) -> None:
    """Legacy mode: the rescue disk, at the root disk's address and name, boots; PCI stays.

    legacy-pc-virtio-root has one disk, so nothing is detached: every function of the normal
    run is still there (the rescue disk is a virtio-blk at the root's 00:04.0; the root moved to
    a new slot, an extra function in the rescue run).
    """
    case = CASES["legacy-pc-virtio-root"]
    domain_xml = for_test(case.input_xml, "boot-pc-legacy")
    domain_xml = bootable(domain_xml, workdir, bios_disk, bios_cdrom)
    media = boot_media.bios_disk(RESCUE, workdir)
    prove(virsh, domain_xml, workdir, media, {}, BIOS_BOOT_SECONDS)


def firmware_or_skip(paths: tuple[Path, ...], package: str) -> None:
    """Skip when a firmware file is missing (a failure where libvirt is required)."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        reason = f"{package} is not installed: no {', '.join(missing)} (Debian package {package})"
        if libvirt_required():
            pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1, so this is a failure)", pytrace=False)
        pytest.skip(reason)


def uefi_domain(case: GoldenCase) -> str:
    """The golden UEFI domain with Secure Boot off and OVMF given explicitly.

    The loader and NVRAM template are Debian's ``ovmf`` 4 MiB build without Secure Boot, so that
    the unsigned EFI applications of ``boot_media`` may run.
    """
    root = ET.fromstring(for_test(case.input_xml, "boot-q35-uefi"))
    os_element = root.find("os")
    assert os_element is not None
    assert os_element.get("firmware") == "efi", "not a UEFI domain"
    del os_element.attrib["firmware"]
    for old in os_element.findall("loader") + os_element.findall("nvram"):
        os_element.remove(old)
    loader = ET.Element("loader", {"readonly": "yes", "secure": "no", "type": "pflash"})
    loader.text = str(OVMF_CODE)
    nvram = ET.Element("nvram", {"template": str(OVMF_VARS)})
    machine_type = os_element.find("type")
    assert machine_type is not None
    position = list(os_element).index(machine_type) + 1
    os_element[position:position] = [loader, nvram]
    return ET.tostring(root, encoding="unicode")


def test_uefi_rescue_media_boots_first_and_pci_stays(virsh: Virsh, workdir: Path) -> None:
    r"""Under OVMF the rescue CD-ROM (El Torito EFI image) boots, not the root disk; PCI stays.

    The golden UEFI q35 domain (Secure Boot off) boots ``\EFI\BOOT\BOOTX64.EFI`` of its root
    disk; rescued with a CD-ROM on the default bus (sata on q35) it boots the CD-ROM's; the
    guest-visible PCI functions of the normal run are all unmoved in the rescue run.
    """
    firmware_or_skip((OVMF_CODE, OVMF_VARS), "ovmf")
    domain_xml = bootable(uefi_domain(CASES[UEFI_CASE]), workdir, efi_disk, efi_cdrom)
    media = boot_media.efi_iso(RESCUE, workdir)
    prove(virsh, domain_xml, workdir, media, {"hw_rescue_device": "cdrom"}, UEFI_BOOT_SECONDS)


def aarch64_uefi_domain(case: GoldenCase, directory: Path) -> str:
    """The golden aarch64 domain with AAVMF, its NVRAM made from the template in ``directory``.

    Libvirt copies the template to the NVRAM file when the domain first starts; ``undefine
    --nvram`` removes it again.
    """
    root = ET.fromstring(for_test(case.input_xml, "boot-aarch64-uefi"))
    assert root.findtext("os/type") == "hvm"
    loader, nvram = root.find("os/loader"), root.find("os/nvram")
    assert loader is not None, "not an AAVMF domain"
    assert nvram is not None, "not an AAVMF domain"
    assert loader.text == str(AAVMF_CODE), loader.text
    nvram.set("template", str(AAVMF_VARS))
    nvram.text = str(directory / "VARS.fd")
    return ET.tostring(root, encoding="unicode")


def test_aarch64_uefi_rescue_media_boots_first_and_pci_stays(virsh: Virsh, workdir: Path) -> None:
    r"""On aarch64 ``virt`` under AAVMF the rescue CD-ROM boots, not the root disk; PCI stays.

    The golden aarch64 domain whose five root ports are all used (TCG, cortex-a57) boots
    ``\EFI\BOOT\BOOTAA64.EFI`` of its virtio root disk; rescued with a CD-ROM on the default
    bus (scsi: a sixth root port and a virtio-scsi controller are added) it boots the CD-ROM's;
    the guest-visible PCI functions of the normal run are all unmoved in the rescue run.
    """
    firmware_or_skip((AAVMF_CODE, AAVMF_VARS), "qemu-efi-aarch64")
    case = CASES[AARCH64_UEFI_CASE]
    domain_xml = bootable(aarch64_uefi_domain(case, workdir), workdir, aa64_disk, aa64_cdrom)
    media = boot_media.efi_iso(RESCUE, workdir, arch="aa64")
    properties = dict(case.props["properties"])
    prove(virsh, domain_xml, workdir, media, properties, AARCH64_UEFI_BOOT_SECONDS)


def test_combinations_cover_every_bus_and_device() -> None:
    """The table has each bus and device of pc and q35 once, each on a golden input of its machine.

    pc: virtio disk, scsi disk and cdrom, sata disk and cdrom, usb disk, ide disk and cdrom; q35
    the same without ide, which it does not have.
    """
    wanted = {
        (machine, bus, device)
        for machine in ("pc", "q35")
        for bus, device in BUSES_AND_DEVICES
        if not (machine == "q35" and bus == "ide")
    }
    table = [(c.machine, c.bus, c.device) for c in COMBINATIONS]
    assert sorted(table) == sorted(wanted)
    for combination in COMBINATIONS:
        machine = ET.fromstring(CASES[combination.case].input_xml).find("os/type")
        assert machine is not None
        assert machine.get("machine", "").startswith(MACHINE_TYPES[combination.machine])


# SLOF (QEMU's pseries firmware) names the device it tries to boot from on its console:
# "Trying to load:  from: /pci@800000020000001/scsi@1 ...". It tries QEMU's bootindex list in
# order, lowest first; the first line is the device it boots when that device is bootable.
# The path must be followed by whitespace: the log may be read while SLOF is mid-line.
SLOF_FIRST_TRY = re.compile(r"Trying to load: +from: +(\S+)\s")
# SLOF's unit address of the PHB with target index 0; each further PHB's is one more.
SLOF_PHB_BASE = 0x800000020000000
SLOF_SECONDS = 60.0
# Every slot of PHB 0 in use: the rescue adds PHB 1 and puts a virtio disk in its slot 1.
PSERIES_CASE = "pseries-virtio-no-free-slot"


def slof_path(phb_target_index: int, slot: int) -> re.Pattern[str]:
    """SLOF's device path of the PCI function at ``slot`` of a PHB (any node name, function 0)."""
    return re.compile(rf"/pci@{SLOF_PHB_BASE + phb_target_index:x}/[a-z-]+@{slot:x}$")


def slof_first_try(virsh: Virsh, name: str, log: Path) -> tuple[str, list[PciFunction], str]:
    """Start ``name``; the first device SLOF tries to boot, the PCI functions; destroy it."""
    log.unlink(missing_ok=True)
    virsh.run("start", name)
    try:
        text = wait_for_log(log, SLOF_SECONDS, SLOF_FIRST_TRY.search)
        found = SLOF_FIRST_TRY.search(text)
        pci = query_pci(virsh, name)
    finally:
        virsh.run("destroy", name)
    assert found is not None, (
        f"SLOF named no boot device in {SLOF_SECONDS} s; log ends:\n{text[-800:]}"
    )
    return found.group(1), pci, text


def test_pseries_slof_tries_the_rescue_disk_first_and_pci_stays(
    virsh: Virsh, workdir: Path
) -> None:
    """On pseries, SLOF tries the rescue disk on the new PHB first; no PCI function moves.

    pseries-virtio-no-free-slot (every slot of PHB 0 used), made startable. SLOF first tries
    vda (PHB 0, slot 3), its boot disk; rescued with a virtio disk, which goes on a new PHB
    (target index 1, slot 1), SLOF first tries the rescue disk. The media are not pseries boot
    programs, so SLOF goes on to the next device: what is proved is the order, read from the
    firmware's own console. Every PCI function of the normal run is where it was, as it was.
    """
    case = CASES[PSERIES_CASE]
    domain_xml = bootable(for_test(case.input_xml, "boot-pseries"), workdir, bios_disk, bios_cdrom)
    log = workdir / "serial.log"
    with defined(virsh, domain_xml) as name:
        original = virsh.run("dumpxml", "--inactive", name)
        assert first_boot_disk(original) == "vda"
        first, normal_pci, normal_log = slof_first_try(virsh, name, log)
        assert slof_path(0, 3).search(first), (
            f"normal run: SLOF tries {first} first, not vda; log ends:\n" + normal_log[-800:]
        )
        media = boot_media.bios_disk(RESCUE, workdir)
        result = stable_rescue.rescue(original, {"hw_rescue_bus": "virtio"}, str(media))
        assert result.plan.address == stable_rescue.PciAddress(bus=1, slot=1)
        [phb] = result.plan.controllers_added
        assert (phb.model, phb.target_index) == ("pci-root", 1)
        virsh.run_with_file(["define"], result.xml)
        first, rescue_pci, rescue_log = slof_first_try(virsh, name, log)
    assert slof_path(1, 1).search(first), (
        f"rescue run: SLOF tries {first} first, not the rescue disk at PHB 1 slot 1; log ends:\n"
        + rescue_log[-800:]
    )
    assert normal_pci, "query-pci listed no PCI function in the normal run"
    problems = moved_functions(normal_pci, rescue_pci)
    if problems:
        raise PciMoved("PCI functions moved by the rescue:\n" + "\n".join(problems))


# The s390-ccw BIOS names the kind of the device it IPLs from on the console ("Using
# virtio-blk." or "Using virtio-scsi.", then "SCSI CD-ROM detected." for a CD-ROM). It takes the
# device with the lowest bootindex.
S390X_IPL = re.compile(r"Using (virtio-\w+)\.")
S390X_SECONDS = 60.0
# vda and vdb on virtio-blk, no SCSI controller: a CD-ROM rescue adds virtio-scsi on CCW.
S390X_CASE = "s390x-scsi-cdrom-no-controller"


def ccw_devnos(virsh: Virsh, name: str) -> dict[str, str]:
    """The CCW device number of each device libvirt named (QOM ``devno``), by its id."""
    devnos = {}
    children = qmp(virsh, name, "qom-list", path="/machine/peripheral")
    assert isinstance(children, list)
    for child in children:
        if not child["type"].startswith("child<"):
            continue  # the container's own properties ("type")
        path = f"/machine/peripheral/{child['name']}"
        properties = qmp(virsh, name, "qom-list", path=path)
        assert isinstance(properties, list)
        if any(prop["name"] == "devno" for prop in properties):
            devnos[child["name"]] = str(qmp(virsh, name, "qom-get", path=path, property="devno"))
    return devnos


def s390x_ipl(virsh: Virsh, name: str, log: Path) -> tuple[str, dict[str, str], str]:
    """Start ``name``; the kind of device the BIOS IPLs from, the CCW devnos; stop it.

    The devnos are read before the CPU runs: a failed IPL stops the guest (a disabled wait,
    which QEMU reports as a guest panic and libvirt's ``on_crash`` ends).
    """
    log.unlink(missing_ok=True)
    virsh.run("start", "--paused", name)
    try:
        devnos = ccw_devnos(virsh, name)
        virsh.run("resume", name)
        # The IPL of media that are no IPL image fails and stops the guest: wait for that, so
        # that the log holds everything the BIOS printed.
        deadline = time.monotonic() + S390X_SECONDS
        while is_active(virsh, name) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        text = log.read_text(encoding="latin-1") if log.exists() else ""
        found = S390X_IPL.search(text)
    finally:
        if is_active(virsh, name):
            virsh.run("destroy", name)
    assert found is not None, f"no IPL device named in {S390X_SECONDS} s; log ends:\n{text[-800:]}"
    return found.group(1), devnos, text


def test_s390x_bios_ipls_the_rescue_cdrom_first_and_ccw_stays(virsh: Virsh, workdir: Path) -> None:
    """On s390x, the BIOS IPLs from the rescue CD-ROM (virtio-scsi); no devno changes.

    s390x-scsi-cdrom-no-controller, made startable: the BIOS IPLs from vda (virtio-blk).
    Rescued with a CD-ROM (bus scsi by default; a virtio-scsi controller is added on CCW), it
    IPLs from the rescue CD-ROM, the only SCSI device. The media are no s390x IPL image, so the
    IPL then fails: what is proved is the choice, read from the BIOS's own console. Every
    device of the normal run keeps its CCW device number (QOM ``devno``) in the rescue run.
    """
    case = CASES[S390X_CASE]
    domain_xml = bootable(for_test(case.input_xml, "boot-s390x"), workdir, bios_disk, bios_cdrom)
    log = workdir / "serial.log"
    with defined(virsh, domain_xml) as name:
        original = virsh.run("dumpxml", "--inactive", name)
        assert first_boot_disk(original) == "vda"
        kind, normal_devnos, normal_log = s390x_ipl(virsh, name, log)
        assert kind == "virtio-blk", f"normal run: IPL from {kind}; log ends:\n{normal_log[-800:]}"
        media = boot_media.bios_iso(RESCUE, workdir)
        result = stable_rescue.rescue(original, {"hw_rescue_device": "cdrom"}, str(media))
        assert result.plan.bus is stable_rescue.Bus.SCSI
        virsh.run_with_file(["define"], result.xml)
        kind, rescue_devnos, rescue_log = s390x_ipl(virsh, name, log)
    assert kind == "virtio-scsi", f"rescue run: IPL from {kind}; log ends:\n{rescue_log[-800:]}"
    assert "SCSI CD-ROM detected" in rescue_log, rescue_log[-800:]
    assert normal_devnos, "QOM listed no CCW device in the normal run"
    moved = {
        device: (devno, rescue_devnos.get(device))
        for device, devno in normal_devnos.items()
        if rescue_devnos.get(device) != devno
    }
    assert not moved, f"CCW devices moved by the rescue (before, after): {moved}"
