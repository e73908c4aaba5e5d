"""Totality over mutated golden inputs: a result or a ``RescueError``, never anything else.

docs/errors.md: "Any input gives either a result or one of these errors." And rule N6 of
docs/policy.md: ``unrescue(rescue(x).xml) == x`` byte for byte, whenever the rescue succeeds.
"""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

import stable_rescue
from tests.golden_cases import golden_cases
from tests.mutations import mutated


def _well_formed(xml: str) -> bool:
    try:
        etree.fromstring(xml.encode())
    except etree.XMLSyntaxError:
        return False
    return True


# The mutations start from well-formed inputs; malformed text has a test of its own below.
INPUTS = [case.input_xml for case in golden_cases() if _well_formed(case.input_xml)]
RESCUED = [
    case.expected_xml_path.read_text(encoding="utf-8")
    for case in golden_cases()
    if case.is_rescue and case.expected_xml_path.exists()
]
RECORD = "{urn:stable-rescue:rescue:1}rescue"
PROVISIONAL_RECORD = "{http://stable-rescue.org/xmlns/rescue/1}rescue"
_RESCUED_PC = next(
    case.expected_xml_path.read_text(encoding="utf-8")
    for case in golden_cases()
    if case.name == "pc-virtio-disk"
)
RESCUED_WITHOUT_DEVICES = (
    _RESCUED_PC[: _RESCUED_PC.index("  <devices>")]
    + _RESCUED_PC[_RESCUED_PC.index("</devices>\n") + len("</devices>\n") :]
)
BUSES = ["virtio", "scsi", "sata", "ide", "usb", "fdc", "nvme", "USB", ""]
DEVICES = ["disk", "cdrom", "floppy", "lun", "tape"]
SOURCES = [
    "/var/lib/libvirt/images/rescue.qcow2",
    "/var/lib/libvirt/images/rescue.iso",
    "/dev/mapper/rescue",
    "rbd://cinder@10.0.0.1:6789,10.0.0.2/images/rescue.raw?secret=2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a",
    "iscsi://192.0.2.10/iqn.2010-10.org.openstack:volume/1",
    "relative/path.raw",
    "http://example.invalid/x.iso",
]
_PC = next(case.input_xml for case in golden_cases() if case.name == "pc-virtio-disk")
_FIRST_DISK = _PC[_PC.index("<disk") : _PC.index("</disk>") + len("</disk>")]
EMPTIED_DISK = _PC.replace(_FIRST_DISK, "<disk/>")
TEXT_AFTER_TYPE = _PC.replace("hvm</type>", "hvm</type>/type>")


def mutated_inputs(inputs: list[str] = INPUTS) -> st.SearchStrategy[str]:
    """A golden input with a few elements or attributes broken, or its text cut or sprinkled."""
    return mutated(st.sampled_from(inputs))


@example(
    # Found by review: an emptied disk, with allow_unaddressed, crashed the boot insertion.
    xml=EMPTIED_DISK,
    bus="usb",
    device=None,
    source=SOURCES[1],
    source_format=None,
    allow_unaddressed=True,
)
@example(
    # Found by a 5,000-example run: text after <type> put the restored <boot> on its wrong side.
    xml=TEXT_AFTER_TYPE,
    bus=None,
    device=None,
    source=SOURCES[0],
    source_format=None,
    allow_unaddressed=False,
)
@given(
    xml=mutated_inputs(),
    bus=st.none() | st.sampled_from(BUSES),
    device=st.none() | st.sampled_from(DEVICES),
    source=st.sampled_from(SOURCES),
    source_format=st.none() | st.sampled_from(["raw", "qcow2", "vhd"]),
    allow_unaddressed=st.booleans(),
)
def test_any_mutation_gives_a_result_or_a_rescue_error(
    xml: str,
    bus: str | None,
    device: str | None,
    source: str,
    source_format: str | None,
    allow_unaddressed: bool,
) -> None:
    """Totality, and the exact inverse whenever a rescue succeeds."""
    properties = {"hw_rescue_bus": bus, "hw_rescue_device": device}
    present = {key: value for key, value in properties.items() if value is not None}
    error: stable_rescue.RescueError | None = None
    try:
        result = stable_rescue.rescue(
            xml,
            present,
            source,
            source_format=source_format,
            allow_unaddressed=allow_unaddressed,
        )
    except stable_rescue.RescueError as caught:
        error = caught
    if error is not None:
        assert error.code
        assert "\n" not in error.message
        return
    assert stable_rescue.unrescue(result.xml) == xml
    # The rescue device is the only one with boot order 1.
    rescued = etree.fromstring(result.xml.encode())
    first = [boot.getparent() for boot in rescued.iterfind("devices/*/boot[@order='1']")]
    assert len(first) == 1
    alias = first[0].find("alias") if first[0] is not None else None
    assert alias is not None
    assert alias.get("name") == result.plan.alias


@given(data=st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_give_a_rescue_error(data: bytes | str) -> None:
    """Any text at all: a result or a RescueError (almost always invalid-domain-xml)."""
    with contextlib.suppress(stable_rescue.RescueError):
        stable_rescue.rescue(data, {"hw_rescue_bus": "usb"}, "/r.iso")
    with contextlib.suppress(stable_rescue.RescueError):
        stable_rescue.unrescue(data)


@example(
    # Found by the shared mutations: boot orders in the record, no <devices> left to hold them.
    xml=RESCUED_WITHOUT_DEVICES,
)
@given(xml=mutated_inputs(RESCUED))
def test_any_mutation_of_a_rescued_domain_unrescues_or_refuses(xml: str) -> None:
    """Unrescue of a damaged rescued domain: a domain without a record, or a RescueError.

    docs/errors.md: totality; rule N7 and issue 3: a damaged record gives a clear error, never a
    partial undo that hands back malformed XML or a domain still marked rescued.
    """
    caught: stable_rescue.RescueError | None = None
    try:
        restored = stable_rescue.unrescue(xml)
    except stable_rescue.RescueError as error:
        caught = error
    if caught is not None:
        assert caught.code
        assert "\n" not in caught.message
        return
    root = etree.fromstring(restored.encode())
    assert root.find(f"metadata/{RECORD}") is None
    assert root.find(f"metadata/{PROVISIONAL_RECORD}") is None
