"""The rescue record is untrusted input (docs/security.md): unrescue undoes only a rescue.

Each test edits a rescued domain the way someone who can write the record could, and checks
that unrescue writes back nothing the rescue could not have removed and removes nothing it did
not add (rules R3, R5, R8 to R10 and N2, N5, N7 in docs/policy.md). Also here: the names the
rescue reserves (rule O6), an empty ``<devices/>``, and escaping of every value render writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from lxml import etree

import stable_rescue
from stable_rescue import plan as plan_module
from stable_rescue import record as record_module
from tests.golden_cases import GOLDEN, GoldenCase, golden_cases
from tests.test_plan import IMG, golden_input

STABLE = {"hw_rescue_bus": "virtio", "hw_rescue_device": "disk"}
PC = "pc-virtio-disk"
NOVA = "legacy-pc-nova-layout"
RECORD_START = "<stable-rescue:rescue "
ADDED_DISK = "<stable-rescue:added alias='ua-stable-rescue-disk'/>"
BINDING = re.compile(r" name='[^']*'(?: uuid='[^']*')? added-sha256='[0-9a-f]{64}'")
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
RECORD_NAMESPACE = "urn:stable-rescue:rescue:1"
PROVISIONAL_NAMESPACE = "http://stable-rescue.org/xmlns/rescue/1"


def rescued(case: str = PC, properties: dict[str, str] | None = None) -> str:
    """The rescued XML of a golden input (stable mode unless ``properties`` is ``{}``)."""
    props = STABLE if properties is None else properties
    return stable_rescue.rescue(golden_input(case), props, IMG, source_format="raw").xml


def with_record_attribute(xml: str, attribute: str) -> str:
    """``xml`` with ``attribute`` (``name='value'``) added to its record element."""
    assert xml.count(RECORD_START) == 1
    return xml.replace(RECORD_START, f"{RECORD_START}{attribute} ")


def with_record_child(xml: str, child: str) -> str:
    """``xml`` with ``child`` (one record child element) added after the added disk."""
    assert xml.count(ADDED_DISK) == 1
    return xml.replace(ADDED_DISK, f"{ADDED_DISK}\n      {child}")


def removed(parent: str, text: str, extra: str = "") -> str:
    """A ``removed`` record entry for ``text`` (escaped as rescue writes it)."""
    body = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "&#10;")
    )
    return f"<stable-rescue:removed parent='{parent}'{extra}>{body}</stable-rescue:removed>"


def old_format(xml: str) -> str:
    """The record as the previous release wrote it: no name, uuid or added-sha256."""
    assert len(BINDING.findall(xml)) == 1
    return BINDING.sub("", xml)


def refused(xml: str, *words: str) -> str:
    """The ``invalid-rescue-record`` message unrescue gives for ``xml``."""
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.unrescue(xml)
    assert caught.value.code == "invalid-rescue-record", caught.value.message
    for word in words:
        assert word in caught.value.message
    return caught.value.message


# --- rule R6: metadata-text ---------------------------------------------------------------------


def test_forged_metadata_text_cannot_write_qemu_commandline() -> None:
    """metadata-text is put back only when it is an empty <metadata/> (rule R6).

    Before: unrescue wrote the attribute's text verbatim in place of <metadata>, so a record
    with metadata-text='<qemu:commandline>...' gave the guest QEMU arguments of one's choosing.
    """
    forged = (
        f'<qemu:commandline xmlns:qemu="{QEMU_NS}"><qemu:arg value="-evil"/></qemu:commandline>'
    )
    xml = rescued().replace(
        "metadata='created'",
        "metadata-text='" + forged.replace("<", "&lt;").replace('"', "&quot;") + "'",
    )
    refused(xml, "metadata-text")


def test_metadata_text_of_an_empty_metadata_is_put_back() -> None:
    """The legitimate case: <metadata/> and <metadata /> come back byte for byte.

    Rules R2 and R6.
    """
    for empty in ("<metadata/>", "<metadata />"):
        original = golden_input(PC, (("</uuid>", f"</uuid>\n  {empty}"),))
        xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
        assert stable_rescue.unrescue(xml) == original


def test_forged_metadata_created_keeps_other_tools_metadata() -> None:
    """metadata='created' removes <metadata> only when the record is all it holds (rule N5).

    Before: a forged flag on a record inside Nova's <metadata> made unrescue delete Nova's
    <nova:instance> with it.
    """
    original = golden_input("pc-metadata-comments")
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    assert "metadata='created'" not in xml
    assert stable_rescue.unrescue(with_record_attribute(xml, "metadata='created'")) == original


# --- rule R5: removed chunks --------------------------------------------------------------------


def test_stable_record_cannot_add_a_disk() -> None:
    """A stable-mode rescue never removes a disk, so its record cannot put one back (rule R5).

    Before: a forged <devices> chunk attached a host file (here /etc/shadow) as a guest disk.
    """
    disk = (
        "\n    <disk type='file' device='disk'>\n      <source file='/etc/shadow'/>\n"
        "      <target dev='vdz' bus='virtio'/>\n    </disk>"
    )
    xml = with_record_child(rescued(), removed("devices", disk))
    refused(xml, "stable rescue record puts back a <devices> child")


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param("\n    <boot dev='hd'><x/></boot>", id="element-in-boot"),
        pytest.param(
            f"\n    <boot dev='hd' xmlns:qemu='{QEMU_NS}'><qemu:commandline/></boot>",
            id="qemu-in-boot",
        ),
        pytest.param("\n    <kernel>/k<initrd>/i</initrd></kernel>", id="element-in-kernel"),
        pytest.param("\n    <kernel a='1'>/k</kernel>", id="attribute-on-kernel"),
        pytest.param("\n    <boot dev='hd' extra='1'/>", id="attribute-on-boot"),
        pytest.param("\n    <boot dev='floppy'/>", id="unknown-boot-dev"),
        pytest.param("\n    <!-- c --><boot dev='hd'/>", id="comment-before"),
        pytest.param("\n    <boot dev='hd'/><?pi x?>", id="pi-after"),
        pytest.param("\n    <boot dev='hd'/>\n", id="space-after"),
        pytest.param("\n    <boot dev='hd'/><boot dev='cdrom'/>", id="two-elements"),
        pytest.param("x<boot dev='hd'/>", id="text-before"),
        pytest.param("\n    <loader>/evil</loader>", id="other-os-child"),
    ],
)
def test_os_chunk_is_one_element_as_rescue_removes_it(chunk: str) -> None:
    """An <os> chunk is whitespace and one <boot dev/>, <kernel>, <initrd> or <cmdline>, alone.

    Before: only the first element of the stripped text was checked, so elements nested in it,
    comments and processing instructions beside it went back into the domain.
    """
    refused(with_record_child(rescued(), removed("os", chunk)))


def test_namespaced_content_in_a_legacy_disk_chunk_is_refused() -> None:
    """A legacy <devices> chunk is one <disk> with nothing namespaced or PI in it (rule R5)."""
    xml = rescued(NOVA, {})
    disk = f"\n    <disk type='file' device='disk' xmlns:q='{QEMU_NS}'><q:arg/></disk>"
    refused(with_record_child(xml, removed("devices", disk)), "namespaced")
    disk = "\n    <disk type='file' device='disk'><?evil?><target dev='vdz'/></disk>"
    refused(with_record_child(xml, removed("devices", disk)), "namespaced")


def test_duplicated_chunk_is_refused() -> None:
    """A copied removed entry starts a second run at the same place (rule R8).

    Before: a copied <removed> line gave the domain two <boot dev='hd'/>.
    """
    xml = rescued()
    line = re.search(r"<stable-rescue:removed parent='os'[^\n]*</stable-rescue:removed>", xml)
    assert line is not None
    refused(with_record_child(xml, line.group(0)), "twice")


def test_first_removed_entry_cannot_follow_another() -> None:
    """A parent's first removed element starts a run; 'follows' there is damage (rule R8)."""
    xml = rescued().replace("after-nth='1'>", "after-nth='1' follows='removed'>")
    refused(xml, "follows another")


def test_same_element_twice_in_a_run_still_round_trips() -> None:
    """A domain with <boot dev='hd'/> twice (libvirt accepts it) rescues and unrescues exactly."""
    original = golden_input(PC, (("<boot dev='hd'/>", "<boot dev='hd'/>\n    <boot dev='hd'/>"),))
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    assert stable_rescue.unrescue(xml) == original


def test_legacy_disk_chunk_put_back_twice_is_refused() -> None:
    """A legacy record whose detached disk is listed twice: refused (rules R8, N7)."""
    xml = rescued(NOVA, {})
    line = re.search(r"<stable-rescue:removed parent='devices'[^\n]*vdb[^\n]*removed>", xml)
    assert line is not None
    refused(with_record_child(xml, line.group(0).replace(" follows='removed'", "")))


# --- rule R3: added aliases -----------------------------------------------------------------------


NIC_ALIAS = ("<model type='virtio'/>", "<model type='virtio'/>\n      <alias name='ua-nic0'/>")


def test_forged_added_alias_cannot_remove_a_users_nic() -> None:
    """Only the aliases a rescue gives are taken as added (rule R3).

    Before: <added alias='ua-nic0'/> made unrescue delete the user's interface.
    """
    original = golden_input(PC, (NIC_ALIAS,))
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    refused(with_record_child(xml, "<stable-rescue:added alias='ua-nic0'/>"), "ua-nic0")


@pytest.mark.parametrize(
    ("alias", "element"),
    [
        pytest.param(
            "ua-stable-rescue-scsi0",
            "<interface type='user'><alias name='ua-stable-rescue-scsi0'/></interface>",
            id="controller-alias-on-nic",
        ),
        pytest.param(
            "ua-stable-rescue-scsi0",
            "<controller type='scsi' index='1'><alias name='ua-stable-rescue-scsi0'/></controller>",
            id="wrong-index",
        ),
        pytest.param(
            "ua-stable-rescue-pcie-root-port3",
            "<controller type='usb' index='3' model='pcie-root-port'>"
            "<alias name='ua-stable-rescue-pcie-root-port3'/></controller>",
            id="pci-alias-on-usb-controller",
        ),
    ],
)
def test_added_alias_must_sit_on_the_kind_rescue_adds(alias: str, element: str) -> None:
    """An added alias names a device of the kind the rescue gives it to (rule N2).

    Before: any device with the alias was removed, whatever it was.
    """
    xml = with_record_child(rescued(), f"<stable-rescue:added alias='{alias}'/>")
    xml = xml.replace("  </devices>", f"    {element}\n  </devices>")
    refused(old_format(xml), alias)


def test_root_alias_only_in_legacy_records() -> None:
    """A stable rescue never moves the root, so ua-stable-rescue-root is not its to remove.

    Before: with a disk of that alias in the domain, unrescue removed it.
    """
    xml = with_record_child(rescued(), "<stable-rescue:added alias='ua-stable-rescue-root'/>")
    disk = "<disk type='file' device='disk'><source file='/x'/><target dev='vdy' bus='virtio'/>"
    disk += "<alias name='ua-stable-rescue-root'/></disk>"
    xml = xml.replace("  </devices>", f"    {disk}\n  </devices>")
    refused(old_format(xml), "ua-stable-rescue-root")


def test_two_devices_with_the_added_alias_are_refused() -> None:
    """Two devices named ua-stable-rescue-disk: unrescue cannot tell which one it added."""
    xml = rescued()
    disk = "<disk type='file' device='disk'><source file='/x'/><target dev='vdy' bus='virtio'/>"
    disk += "<alias name='ua-stable-rescue-disk'/></disk>"
    refused(old_format(xml.replace("  </devices>", f"    {disk}\n  </devices>")))


# --- rule R9: the record is bound to its domain ---------------------------------------------------


def test_record_carries_name_uuid_and_digest() -> None:
    """Rule R9: rescue writes the domain's name, uuid and the digest of what it added."""
    xml = rescued()
    record = etree.fromstring(xml.encode()).find("metadata/{*}rescue")
    assert record is not None
    assert record.get("name") == "sr-pc-virtio-disk"
    assert record.get("uuid") == "11111111-0000-0000-0000-000000000001"
    assert re.fullmatch("[0-9a-f]{64}", record.get("added-sha256", ""))


def test_record_copied_from_another_domain_is_refused() -> None:
    """A record moved to another domain no longer matches its name and uuid (rule R9).

    Before: it was accepted, and undid in this domain what was done to another.
    """
    xml = rescued()
    other = xml.replace("<name>sr-pc-virtio-disk</name>", "<name>other</name>", 1)
    refused(other, "other")
    other = xml.replace(
        "<uuid>11111111-0000-0000-0000-000000000001</uuid>",
        "<uuid>11111111-0000-0000-0000-000000000002</uuid>",
    )
    refused(other, "uuid")


def test_uuid_compares_as_libvirt_reads_it() -> None:
    """The uuid in another form, as libvirt may dump it, is the same uuid."""
    original = golden_input(PC)
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    xml = xml.replace(
        "<uuid>11111111-0000-0000-0000-000000000001</uuid>",
        "<uuid>11111111000000000000000000000001</uuid>",
    )
    assert "11111111000000000000000000000001" in stable_rescue.unrescue(xml)


def test_changed_rescue_disk_is_refused() -> None:
    """The added elements must be what the rescue wrote (rule R9): here its source changed."""
    xml = rescued().replace("<source file='" + IMG + "'/>", "<source file='/etc/shadow'/>")
    assert "/etc/shadow" in xml
    refused(xml, "added-sha256")


def test_changed_rescue_kernel_is_refused() -> None:
    """With kernel='added', the digest covers the kernel the rescue wrote (rule R9).

    Before: unrescue removed every <kernel>, <initrd> and <cmdline>, whatever they were.
    """
    xml = stable_rescue.rescue(
        golden_input("pc-kernel-boot"), STABLE, IMG, source_format="raw", kernel="/boot/rescue"
    ).xml
    assert "kernel='added'" in xml
    refused(xml.replace("<kernel>/boot/rescue</kernel>", "<kernel>/boot/other</kernel>"))


def test_digest_survives_libvirt_reformatting() -> None:
    """Re-quoted and re-indented, as libvirt dumps it (rule N6): the digest does not change."""
    xml = rescued()
    start = xml.index("<disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>")
    end = xml.index("</disk>", start) + len("</disk>")
    disk = xml[start:end]
    reformatted = re.sub(r"\n\s*", "\n  ", disk).replace("'", '"')
    assert reformatted != disk
    stable_rescue.unrescue(xml[:start] + reformatted + xml[end:])


def three_rescues() -> list[tuple[str, str]]:
    """(original, rescued) of a stable, a legacy and a kernel rescue: each kind of record."""
    pairs = []
    for case, properties in ((PC, STABLE), (NOVA, {}), ("pc-kernel-replaced", STABLE)):
        original = golden_input(case)
        kernel = "/boot/rescue-vmlinuz" if case == "pc-kernel-replaced" else None
        xml = stable_rescue.rescue(
            original, properties, IMG, source_format="raw", kernel=kernel
        ).xml
        pairs.append((original, xml))
    return pairs


def test_previous_release_record_still_unrescues() -> None:
    """Rule R10: a record without name, uuid and added-sha256 is read as before."""
    for original, xml in three_rescues():
        assert stable_rescue.unrescue(old_format(xml)) == original


def test_previous_release_record_still_gets_the_structural_checks() -> None:
    """Rule R10: an old record is not bound to its domain, but rules R3, R5, R6, R8 hold."""
    xml = old_format(rescued())
    refused(with_record_child(xml, removed("devices", "\n    <disk type='file'/>")))
    refused(with_record_child(xml, "<stable-rescue:added alias='ua-nic0'/>"))


def test_provisional_namespace_record_still_unrescues() -> None:
    """Rule R1: a record 0.1.0 wrote under its provisional namespace is read as a current one."""
    for original, xml in three_rescues():
        provisional = xml.replace(RECORD_NAMESPACE, PROVISIONAL_NAMESPACE)
        assert provisional != xml
        assert stable_rescue.is_rescued(provisional)
        assert stable_rescue.unrescue(provisional) == original


def test_record_of_two_namespaces_is_refused() -> None:
    """A record's children are in its own namespace; one from the other name is forged."""
    child = f"<old:added xmlns:old='{PROVISIONAL_NAMESPACE}' alias='ua-stable-rescue-scsi0'/>"
    refused(with_record_child(rescued(), child), "unknown element")


def test_future_version_under_either_name_is_refused() -> None:
    """Rule R7 and N1: a later version is rescued, and not undone by halves."""
    xml = rescued()
    for namespace in ("urn:stable-rescue:rescue:2", "http://stable-rescue.org/xmlns/rescue/2"):
        later = xml.replace(RECORD_NAMESPACE, namespace).replace("version='1'", "version='2'")
        assert stable_rescue.is_rescued(later)
        refused(later, namespace, RECORD_NAMESPACE)


def test_name_or_uuid_without_digest_is_refused() -> None:
    """A half-stripped binding is damage, not a previous release's record."""
    refused(old_format(rescued()).replace(RECORD_START, f"{RECORD_START}name='x' "), "sha256")


def test_malformed_digest_is_refused() -> None:
    xml = re.sub("added-sha256='[0-9a-f]{64}'", "added-sha256='abc'", rescued())
    refused(xml, "added-sha256")


# --- rule O6: the rescue's names are reserved -----------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "stage"),
    [
        pytest.param(
            (
                "<target dev='vda' bus='virtio'/>",
                "<target dev='vda' bus='virtio'/>\n      <alias name='ua-stable-rescue-disk'/>",
            ),
            "rescue",
            id="disk-named-like-the-rescue-disk",
        ),
        pytest.param(
            (
                "<model type='virtio'/>",
                "<model type='virtio'/>\n      <alias name='ua-stable-rescue-root'/>",
            ),
            "rescue",
            id="nic-named-like-the-moved-root",
        ),
        pytest.param(
            (
                "<memballoon model='virtio'>",
                "<memballoon model='virtio'>\n      <alias name='ua-stable-rescue-scsi0'/>",
            ),
            "plan",
            id="balloon-named-like-a-controller",
        ),
    ],
)
def test_reserved_alias_in_a_domain_not_rescued_is_refused(
    edit: tuple[str, str], stage: str
) -> None:
    """A user device already named ua-stable-rescue-*: rescue refuses (invalid-domain).

    Before: the rescue added a second device with its name, and unrescue then removed the
    user's device, or the rescue's, whichever came last.
    """
    domain = golden_input(PC, (edit,))
    call: Callable[..., object] = (
        stable_rescue.plan_rescue if stage == "plan" else stable_rescue.rescue
    )
    with pytest.raises(stable_rescue.RescueError) as caught:
        call(domain, STABLE, IMG, source_format="raw")
    assert caught.value.code == "invalid-domain"
    assert "ua-stable-rescue-" in caught.value.message


def test_record_and_planner_agree_on_the_alias_prefix() -> None:
    """record.py reads the aliases plan.py and pci.py make: one prefix for both."""
    assert record_module.ALIAS_PREFIX == plan_module.ALIAS_PREFIX
    assert record_module.RESCUE_DISK_ALIAS == plan_module.RESCUE_ALIAS
    assert record_module.MOVED_ROOT_ALIAS == plan_module.MOVED_ROOT_ALIAS


# --- an empty <devices/> ----------------------------------------------------------------------


@pytest.mark.parametrize("empty", ["<devices/>", "<devices />"])
def test_empty_devices_is_expanded_and_restored(empty: str) -> None:
    """The rescue disk goes inside an empty <devices/>, and unrescue gives back its text.

    Before: the disk was written after <devices/>, outside it: a disk libvirt never sees.

    Rules R2 (``devices='expanded'``) and R6.
    """
    original = re.sub(r"<devices>.*</devices>", empty, golden_input(PC), flags=re.S)
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    devices = etree.fromstring(xml.encode()).find("devices")
    assert devices is not None
    assert [child.get("device") for child in devices.iter("disk")] == ["disk"]
    assert "devices='expanded'" in xml
    assert stable_rescue.unrescue(xml) == original


def test_expanded_devices_stays_open_when_libvirt_added_devices() -> None:
    """After libvirt filled in <devices>, unrescue just takes the rescue disk out."""
    original = re.sub(r"<devices>.*</devices>", "<devices/>", golden_input(PC), flags=re.S)
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    emulator = "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
    xml = xml.replace("  <devices>", f"  <devices>\n    {emulator}")
    restored = stable_rescue.unrescue(xml)
    assert f"<devices>\n    {emulator}\n  </devices>" in restored


# --- escaping -------------------------------------------------------------------------------------

ODD_PATH = "/var/lib/libvirt/images/a'b&c<d>.img"


def test_odd_file_path_survives_rescue_and_unrescue() -> None:
    """Quotes, ampersands and angle brackets in a path are escaped for single-quoted values."""
    original = golden_input(PC)
    xml = stable_rescue.rescue(original, STABLE, ODD_PATH, source_format="raw").xml
    files = [source.get("file") for source in etree.fromstring(xml.encode()).iter("source")]
    assert ODD_PATH in files
    assert stable_rescue.unrescue(xml) == original


def test_odd_domain_name_survives_in_the_record() -> None:
    """The record's name attribute keeps newlines, tabs and quotes through a parse."""
    name = "a'b\"c&d<e>\tf"
    original = golden_input(
        PC,
        (
            (
                "sr-pc-virtio-disk",
                name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            ),
        ),
    )
    xml = stable_rescue.rescue(original, STABLE, IMG, source_format="raw").xml
    record = etree.fromstring(xml.encode()).find("metadata/{*}rescue")
    assert record is not None
    assert record.get("name") == name
    assert stable_rescue.unrescue(xml) == original


def test_legacy_root_address_of_odd_type_is_escaped() -> None:
    """The legacy rescue disk takes the root's address, whose type is the domain's own text.

    Before: <address type='x'&y'/> was written unescaped, and the output was not XML.
    """
    original = golden_input(
        PC,
        (
            (
                "<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>",
                '<address type="x\'&amp;y"/>',
            ),
        ),
    )
    xml = stable_rescue.rescue(original, {}, IMG, source_format="raw").xml
    types = [address.get("type") for address in etree.fromstring(xml.encode()).iter("address")]
    assert "x'&y" in types
    assert stable_rescue.unrescue(xml) == original


def test_kernel_options_escaped_and_control_characters_refused() -> None:
    """Kernel, initrd and cmdline are element text: escaped; what XML cannot carry is refused.

    Before: a control character in the cmdline gave output that was not XML.
    """
    original = golden_input("pc-kernel-boot")
    cmdline = "console=ttyS0 a<b>&c 'd\"\te\nf"
    xml = stable_rescue.rescue(
        original, STABLE, IMG, source_format="raw", kernel="/k'&<", cmdline=cmdline
    ).xml
    os_element = etree.fromstring(xml.encode()).find("os")
    assert os_element is not None
    assert os_element.findtext("cmdline") == cmdline
    assert os_element.findtext("kernel") == "/k'&<"
    assert stable_rescue.unrescue(xml) == original
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.rescue(
            original, STABLE, IMG, source_format="raw", kernel="/k", cmdline="a\x01b"
        )
    assert caught.value.code == "invalid-boot-options"


DUMPS = [case for case in golden_cases() if "original" in case.props]


@pytest.mark.parametrize("dump", DUMPS, ids=[case.name for case in DUMPS])
def test_digest_matches_libvirts_own_dump(dump: GoldenCase) -> None:
    """The binding rescue wrote survives libvirt 9.0's define and dump, and still unrescues.

    The dumps under tests/golden are libvirt's (re-quoted, re-indented, comments dropped): the
    record keeps the rescue's name, uuid and added-sha256, and the digest still matches the
    elements as libvirt wrote them.
    """
    original = next(case for case in golden_cases() if case.name == dump.props["original"])
    binding = BINDING.search(original.run().xml)
    assert binding is not None
    assert binding.group(0).replace("'", '"') in dump.input_xml
    expected = (dump.directory / "expected.xml").read_text(encoding="utf-8")
    assert stable_rescue.unrescue(dump.input_xml) == expected


def test_after_nth_zero_is_refused() -> None:
    """Found by the fuzz harness: after-nth='0' made unrescue fail with IndexError."""
    case = GOLDEN / "pc-virtio-disk"
    rescued = (case / "expected.xml").read_text(encoding="utf-8")
    forged = rescued.replace("after-nth='1'", "after-nth='0'", 1)
    assert forged != rescued
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.unrescue(forged)
    assert caught.value.code == "invalid-rescue-record"


def test_rescue_refuses_what_unrescue_could_not_put_back() -> None:
    """Rescue refuses to take out an <os> child that unrescue would refuse to put back.

    Found by the mutation fuzz: ``<boot dev='hd'>hd</boot>`` was taken out by rescue, and its
    record then refused by unrescue.
    """
    domain = (GOLDEN / "pc-virtio-disk" / "input.xml").read_text(encoding="utf-8")
    odd = domain.replace("<boot dev='hd'/>", "<boot dev='hd'>hd</boot>", 1)
    assert odd != domain
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.rescue(odd, {"hw_rescue_bus": "virtio"}, IMG, source_format="raw")
    assert caught.value.code == "invalid-domain"
