"""Undoes a rescue from the record in the domain's ``<metadata>`` alone.

The record is untrusted (docs/security.md): it is read as a list of things a rescue could have
done (``record``), each part is found again in the domain, and the result must be a domain
``rescue`` would accept (rule N7). So ``unrescue(rescue(x)) == x`` (rule N6), and a damaged or
forged record gives ``invalid-rescue-record``, never a domain undone by halves.
"""

from __future__ import annotations

from lxml import etree

from stable_rescue.document import Document, device_keys, element_children, read_document
from stable_rescue.errors import InvalidRescueRecord, NotRescued, RescueError
from stable_rescue.parse import parse_domain
from stable_rescue.record import (
    KERNEL_TAGS,
    RescueRecord,
    check_binding,
    find_added,
    find_record,
    read_record,
    rescued_elements,
)
from stable_rescue.removal import restore_children
from stable_rescue.writer import Writer
from stable_rescue.xmltext import OverlappingEdits


def undo_rescue(document: Document) -> str:
    """The domain as it was before ``rescue``, from its record alone.

    The record is untrusted (docs/security.md): ``read_record``, ``find_added`` and
    ``check_binding`` refuse one that asks for more than its rescue changed (rules N1, N2, R8
    to R10), and the result must be a domain rescue would accept (rule N7).

    ``unrescue(rescue(x).xml) == x`` (rule N6).
    """
    restored = _undone_text(document)
    # The rescued tree is freed before the result is read again: one tree at a time, not two
    # (peak memory, docs/performance.md).
    del document
    check_restored(restored)
    return restored


def _undone_text(document: Document) -> str:
    """The text with every recorded change undone; not yet checked (rule N7)."""
    root = document.root
    record_element = find_record(root)
    if record_element is None:
        raise NotRescued("domain carries no rescue record; expected one written by rescue")
    record = read_record(record_element)
    added = find_added(root, record.added_aliases)
    writer = Writer(document)
    _remove_added(writer, root, record, added)
    # One set of keys for both: each is a pass over every device (rule R4).
    kept = _kept_devices(root, set(added))
    _restore_boot(writer, root, record, kept)
    _restore_devices(writer, root, record, kept)
    _restore_os(writer, root, record)
    # After the checks above, which say more precisely what no longer matches.
    check_binding(record, root, rescued_elements(root, added, record.kernel_added))
    _remove_record(writer, record_element, record)
    try:
        return writer.result()
    except OverlappingEdits:
        raise InvalidRescueRecord(
            "rescue record asks to change one part of the domain twice; the record is damaged"
        ) from None


def _remove_added(
    writer: Writer, root: etree._Element, record: RescueRecord, added: tuple[etree._Element, ...]
) -> None:
    """Rule N2; and an empty ``<devices/>`` the rescue expanded goes back as it was (rule R6)."""
    devices = root.find("devices")
    if (
        record.devices_expanded
        and devices is not None
        and all(node in added for node in devices)
        and not "".join([devices.text or "", *(node.tail or "" for node in devices)]).strip()
    ):
        span = writer.span(devices)
        writer.replace(span.start_tag_end - 1, span.end, "/>")
        return
    for element in added:
        writer.remove(element)


def _remove_record(writer: Writer, record_element: etree._Element, record: RescueRecord) -> None:
    """Rule N5: the record goes, and <metadata> as the rescue found it, if nothing else is in it.

    What other tools wrote into that ``<metadata>`` since the rescue stays.
    """
    metadata = record_element.getparent()
    assert metadata is not None  # find_record looks inside <metadata>
    alone = (
        list(metadata) == [record_element]
        and not ((metadata.text or "") + (record_element.tail or "")).strip()
    )
    if alone and record.metadata_text is not None:
        span = writer.span(metadata)
        writer.replace(span.start, span.end, record.metadata_text)
    elif alone and record.metadata_created:
        writer.remove(metadata)
    else:
        writer.remove(record_element)


def _kept_devices(root: etree._Element, added: set[etree._Element]) -> dict[etree._Element, str]:
    """Each device the rescue did not add, with its key (rule R4); none without ``<devices>``."""
    devices = root.find("devices")
    if devices is None:
        return {}
    elements = [child for child in element_children(devices) if child not in added]
    return dict(zip(elements, device_keys(elements), strict=True))


def _restore_boot(
    writer: Writer, root: etree._Element, record: RescueRecord, kept: dict[etree._Element, str]
) -> None:
    """Give each recorded device its old boot order back, or take its ``<boot>`` out.

    Rule N3.
    """
    devices = root.find("devices")
    if not record.boot:
        return
    if devices is None:
        raise InvalidRescueRecord("rescue record restores boot orders; the domain has no <devices>")
    by_key = {key: element for element, key in kept.items()}
    for boot in record.boot:
        device = by_key.get(boot.key)
        element = device.find("boot") if device is not None else None
        if device is None or element is None or element.get("order") != str(boot.new):
            raise InvalidRescueRecord(
                f"rescue record gives device '{boot.key}' boot order {boot.new}; "
                "expected the domain to still have it",
                key=boot.key,
            )
        if boot.old is None:
            writer.remove(element)
        else:
            writer.set_attribute(element, "order", boot.old)


def _restore_os(writer: Writer, root: etree._Element, record: RescueRecord) -> None:
    """Take the rescue kernel out of ``<os>``, and put back what the rescue took out.

    Rules N4 and K5.
    """
    os_element = root.find("os")
    if os_element is None:
        if any(chunk.parent == "os" for chunk in record.removed) or record.kernel_added:
            raise InvalidRescueRecord(
                "rescue record restores <os> children; the domain has no <os>"
            )
        return
    elements = element_children(os_element)
    if record.kernel_added:
        for child in elements:
            if child.tag in KERNEL_TAGS:
                writer.remove(child)
        elements = [child for child in elements if child.tag not in KERNEL_TAGS]
    restore_children(
        writer, os_element, {element: str(element.tag) for element in elements}, record, "os"
    )


def _restore_devices(
    writer: Writer, root: etree._Element, record: RescueRecord, kept: dict[etree._Element, str]
) -> None:
    """Put back the disks legacy mode detached.

    Rule N4 (legacy mode's detached disks, rule L4).
    """
    devices = root.find("devices")
    if devices is None:
        if any(chunk.parent == "devices" for chunk in record.removed):
            raise InvalidRescueRecord(
                "rescue record restores detached disks; the domain has no <devices>"
            )
        return
    restore_children(writer, devices, kept, record, "devices")


def check_restored(text: str) -> None:
    """Rule N7: refuse what a damaged record made of the domain.

    Malformed, still rescued, or a domain that rescue itself would refuse (a disk put back
    twice, two devices on one address).

    Rule N7.
    """
    try:
        document = read_document(text)
        parse_domain(document)
    except RescueError as error:
        raise InvalidRescueRecord(
            f"undoing the rescue record gives a domain that is not valid ({error.code}: "
            f"{error.message}); the record is damaged"
        ) from None
    if find_record(document.root) is not None:
        raise InvalidRescueRecord(
            "undoing the rescue record leaves a rescue record; expected only one per domain"
        )
