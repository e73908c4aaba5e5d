"""Applies a ``Plan`` to the input text; and undoes it from the record alone.

Edits splice the original text (see ``xmltext``): every byte the plan does not name comes back
unchanged, comments, quoting and foreign ``<metadata>`` included. Each insertion is a newline,
the neighbours' indentation and the new element; each removal takes an element with the
whitespace before it. So undoing an edit is exact, and ``unrescue(rescue(x)) == x``.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from lxml import etree

from stable_rescue.errors import InvalidDomain, InvalidRescueRecord, NotRescued
from stable_rescue.model import (
    AddedController,
    Address,
    CcwAddress,
    DriveAddress,
    Mode,
    MovedDisk,
    OtherAddress,
    PciAddress,
    Plan,
    SourceType,
    SpaprVioAddress,
    UsbAddress,
)
from stable_rescue.parse import Document, device_keys, find_record
from stable_rescue.record import (
    KERNEL_TAGS,
    BootRecord,
    RemovedChunk,
    RescueRecord,
    added_digest,
    check_binding,
    check_no_reserved_aliases,
    check_removed_text,
    check_restored,
    find_added,
    fragment_element,
    read_record,
    record_text,
    rescued_elements,
)
from stable_rescue.xmltext import (
    Edit,
    ElementSpan,
    OverlappingEdits,
    apply_edits,
    attribute_value_span,
    escape_attribute,
    escape_text,
    indentation,
    leading_space_start,
    newline_style,
)

DEFAULT_UNIT = "  "
# libvirt writes <metadata> after these (virDomainDefFormatInternal).
_BEFORE_METADATA = ("name", "uuid", "genid", "title", "description")
# libvirt's <model name> where it differs from the model: a pci-root added is a pseries PHB.
_PCI_MODEL_NAMES = {
    "pcie-to-pci-bridge": "pcie-pci-bridge",
    "pci-root": "spapr-pci-host-bridge",
}


class _Writer:
    """Collects edits against one document, in its indentation and newline style."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.text = document.text
        self.newline = newline_style(self.text)
        self.unit = _indent_unit(document)
        self.edits: list[Edit] = []

    def span(self, element: etree._Element) -> ElementSpan:
        return self.document.span(element)

    def indent_of(self, element: etree._Element) -> str:
        found = indentation(self.text, self.span(element))
        if found is not None:
            return found
        parent = element.getparent()
        return (self.indent_of(parent) + self.unit) if parent is not None else ""

    def child_indent(self, parent: etree._Element) -> str:
        for child in parent:
            if isinstance(child.tag, str):
                return self.indent_of(child)
        return self.indent_of(parent) + self.unit

    def replace(self, start: int, end: int, text: str, order: int = 0) -> None:
        """Replace ``text[start:end]`` (an insert when equal; ``order`` ranks same offsets)."""
        self.edits.append(Edit(start=start, end=end, replacement=text, order=order))

    def _insert_line(self, position: int, lines: str, indent: str, order: int) -> None:
        self.replace(position, position, self.newline + indent + lines, order)

    def insert_after(
        self, element: etree._Element, lines: str, indent: str, order: int = 0
    ) -> None:
        """Put ``lines`` on a new line after ``element``."""
        self._insert_line(self.span(element).end, lines, indent, order)

    def insert_before(
        self, element: etree._Element, lines: str, indent: str, order: int = 0
    ) -> None:
        """Put ``lines`` on a new line before ``element`` (after its predecessor)."""
        self._insert_line(
            leading_space_start(self.text, self.span(element).start), lines, indent, order
        )

    def insert_first(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line just inside ``parent``'s start tag."""
        self._insert_line(self.span(parent).start_tag_end, lines, indent, order)

    def insert_last(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line after ``parent``'s last child (before its end tag)."""
        span = self.span(parent)
        # render expands an empty <devices/> and replaces an empty <metadata/> whole.
        assert not span.self_closing
        self._insert_line(leading_space_start(self.text, span.end_tag_start), lines, indent, order)

    def expand(self, element: etree._Element) -> None:
        """Open an empty ``<x/>`` as ``<x>`` and ``</x>``, so that children can go in."""
        span = self.span(element)
        self.replace(span.end - 2, span.end, ">")
        closing = self.newline + self.indent_of(element) + f"</{span.name}>"
        self.replace(span.end, span.end, closing, order=1_000)

    def remove(self, element: etree._Element) -> str:
        """Remove ``element`` and the whitespace before it; returns the removed text."""
        span = self.span(element)
        start = leading_space_start(self.text, span.start)
        self.replace(start, span.end, "")
        return self.text[start : span.end]

    def set_attribute(self, element: etree._Element, name: str, value: str) -> None:
        found = attribute_value_span(self.text, self.span(element), name)
        assert found is not None  # callers pass attributes lxml has seen
        self.replace(found[0], found[1], escape_attribute(value))

    def result(self) -> str:
        return apply_edits(self.text, self.edits)

    def excerpt(self, span: ElementSpan) -> str:
        """The text of one element with this writer's edits, all of which lie inside it."""
        assert all(span.start <= edit.start <= edit.end <= span.end for edit in self.edits)
        return apply_edits(
            self.text[span.start : span.end],
            (
                attrs.evolve(edit, start=edit.start - span.start, end=edit.end - span.start)
                for edit in self.edits
            ),
        )

    def block(self, lines: list[tuple[int, str]], indent: str) -> str:
        """Nested ``(depth, line)`` pairs as text whose first line starts at ``indent``."""
        return (self.newline).join(
            (indent + self.unit * depth if position else self.unit * depth) + line
            for position, (depth, line) in enumerate(lines)
        )


def _indent_unit(document: Document) -> str:
    """The document's indentation step, from the first nested element (two spaces if none)."""
    root = document.root
    for child in root:
        if isinstance(child.tag, str):
            outer = indentation(document.text, document.span(root)) or ""
            inner = indentation(document.text, document.span(child))
            if inner is not None and inner.startswith(outer) and len(inner) > len(outer):
                return inner[len(outer) :]
            break
    return DEFAULT_UNIT


# --- rescue ------------------------------------------------------------------------------------


def render_rescue(document: Document, plan: Plan) -> str:
    """The rescued domain: ``document``'s text with exactly the plan's changes spliced in."""
    writer = _Writer(document)
    root = document.root
    check_no_reserved_aliases(root)
    devices = root.find("devices")
    assert devices is not None  # the planner placed a device, so the domain has <devices>
    expanded = writer.span(devices).self_closing
    if expanded:
        writer.expand(devices)
    if plan.root_moved is None:
        _insert_disk(writer, devices, plan)
        removed_disks: tuple[RemovedChunk, ...] = ()
    else:
        removed_disks = _replace_disks(writer, document, devices, plan, plan.root_moved)
    _insert_controllers(writer, devices, plan)
    boot_records = _apply_boot_changes(writer, document, plan)
    removed = removed_disks + _remove_os_children(writer, root, plan)
    _check_recordable(plan.mode, removed)
    kernel_added = _add_kernel(writer, root, plan)
    metadata = root.find("metadata")
    empty_metadata = metadata is not None and document.span(metadata).self_closing
    aliases = (
        plan.alias,
        *((plan.root_moved.alias,) if plan.root_moved is not None else ()),
        *(c.alias for c in plan.controllers_added),
    )
    record = RescueRecord(
        mode=plan.mode,
        added_aliases=aliases,
        boot=boot_records,
        removed=removed,
        kernel_added=kernel_added,
        metadata_created=metadata is None,
        metadata_text=document.text[document.span(metadata).start : document.span(metadata).end]
        if metadata is not None and empty_metadata
        else None,
        devices_expanded=expanded,
        domain_name=root.findtext("name"),
        domain_uuid=root.findtext("uuid"),
        # Rule R9. From the added text alone: parsing the whole output again would double the
        # cost of a rescue; unrescue's check (over the elements it finds) keeps the two equal.
        added_sha256=added_digest(
            [fragment_element(text) for text in _added_texts(writer, document, plan)]
        ),
    )
    _write_record(writer, root, record)
    return writer.result()


def _insert_disk(writer: _Writer, devices: etree._Element, plan: Plan) -> None:
    """The rescue disk, after the last existing disk (or first among the devices)."""
    disks = [child for child in devices if child.tag == "disk"]
    indent = writer.child_indent(devices)
    disk_text = writer.block(_disk_lines(plan), indent)
    if disks:
        writer.insert_after(disks[-1], disk_text, indent, order=0)
    else:
        _insert_first_device(writer, devices, disk_text, indent, order=0)


def _insert_controllers(writer: _Writer, devices: etree._Element, plan: Plan) -> None:
    """Added controllers after the last controller, else right after the rescue disk."""
    disks = [child for child in devices if child.tag == "disk"]
    controllers = [child for child in devices if child.tag == "controller"]
    indent = writer.child_indent(devices)
    for position, controller in enumerate(plan.controllers_added, start=1):
        text = writer.block(_controller_lines(controller), indent)
        if controllers:
            writer.insert_after(controllers[-1], text, indent, order=position)
        elif disks and plan.root_moved is None:
            writer.insert_after(disks[-1], text, indent, order=position)
        elif disks:
            # Legacy: the rescue disk sits before the first disk; the controller follows it.
            writer.insert_before(disks[0], text, indent, order=position)
        else:
            # Right after the rescue disk, at the same offset, in plan order.
            _insert_first_device(writer, devices, text, indent, order=position)


def _insert_first_device(
    writer: _Writer, devices: etree._Element, text: str, indent: str, order: int
) -> None:
    emulator = devices.find("emulator")
    if emulator is not None:
        writer.insert_after(emulator, text, indent, order=order)
    else:
        writer.insert_first(devices, text, indent, order=order)


def _replace_disks(
    writer: _Writer, document: Document, devices: etree._Element, plan: Plan, moved: MovedDisk
) -> tuple[RemovedChunk, ...]:
    """Legacy: the rescue disk and the moved root first among the disks; root and others out.

    The root is rewritten as a copy with its new name, address, boot order and alias; the
    original text goes into the record with the detached disks, so unrescue puts back exactly
    what was there.
    """
    root_disk = document.find(moved.xpath)
    first_disk = next(child for child in devices if child.tag == "disk")
    indent = writer.child_indent(devices)
    text = (
        writer.block(_disk_lines(plan), indent)
        + writer.newline
        + indent
        + _moved_root_text(document, root_disk, moved)
    )
    writer.insert_before(first_disk, text, indent)
    doomed = {root_disk} | {document.find(disk.xpath) for disk in plan.detached}
    elements = _element_children(devices)
    return _remove_children(
        writer,
        devices,
        dict(zip(elements, device_keys(elements), strict=True)),
        lambda element: element in doomed,
    )


def _moved_root_text(document: Document, disk: etree._Element, moved: MovedDisk) -> str:
    """The root disk's own text with its new target, address, boot order and alias."""
    copy = _Writer(document)
    target = disk.find("target")
    assert target is not None  # parse requires <target dev> on every disk
    copy.set_attribute(target, "dev", moved.target)
    address = disk.find("address")
    assert address is not None  # the planner refuses an unaddressed root in legacy mode
    span = copy.span(address)
    copy.replace(span.start, span.end, address_text(moved.address))
    boot = disk.find("boot")
    if moved.boot_order is not None:
        if boot is not None:
            copy.set_attribute(boot, "order", str(moved.boot_order))
        else:
            _insert_child(
                copy, disk, f"<boot order='{moved.boot_order}'/>", before=("alias", "address")
            )
    alias = disk.find("alias")
    if alias is not None:
        copy.set_attribute(alias, "name", moved.alias)
    else:
        _insert_child(copy, disk, f"<alias{_attributes(name=moved.alias)}/>", before=("address",))
    return copy.excerpt(copy.span(disk))


def _attributes(**values: object) -> str:
    """`` name='value'`` for each value that is not None, escaped for single quotes."""
    return "".join(
        f" {name}='{escape_attribute(str(value))}'"
        for name, value in values.items()
        if value is not None
    )


def _disk_lines(plan: Plan) -> list[tuple[int, str]]:
    """The rescue disk (rule O5); every value escaped for its quotes, whatever its origin."""
    source = plan.source
    lines: list[tuple[int, str]] = [
        (0, f"<disk{_attributes(type=source.type.value, device=plan.device_type.value)}>"),
        (1, f"<driver{_attributes(name='qemu', type=plan.source_format)}/>"),
    ]
    if source.type is SourceType.FILE:
        lines.append((1, f"<source{_attributes(file=source.path)}/>"))
    elif source.type is SourceType.BLOCK:
        lines.append((1, f"<source{_attributes(dev=source.path)}/>"))
    else:
        name = source.name or ""
        lines.append((1, f"<source{_attributes(protocol=source.protocol, name=name)}>"))
        for host in source.hosts:
            lines.append((2, f"<host{_attributes(name=host.name, port=host.port)}/>"))
        if source.snapshot is not None:
            # An RBD snapshot: <source protocol='rbd'><snapshot name/> (formatdomain, "snapshot"
            # under <source>; domaincommon.rng diskSourceNetworkProtocolRBD), which
            # qemuBlockStorageSourceGetRBDProps passes as the rbd blockdev's "snapshot". After the
            # hosts and before <auth>, as libvirt 9.0's dumpxml writes it.
            lines.append((2, f"<snapshot{_attributes(name=source.snapshot)}/>"))
        if source.auth_username is not None and source.secret_uuid is not None:
            lines.append((2, f"<auth{_attributes(username=source.auth_username)}>"))
            secret = _attributes(type=source.secret_type, uuid=source.secret_uuid)
            lines.append((3, f"<secret{secret}/>"))
            lines.append((2, "</auth>"))
        lines.append((1, "</source>"))
    lines.append((1, f"<target{_attributes(dev=plan.target, bus=plan.bus.value)}/>"))
    if plan.readonly:
        lines.append((1, "<readonly/>"))
    lines.append((1, f"<boot{_attributes(order=plan.boot_order)}/>"))
    lines.append((1, f"<alias{_attributes(name=plan.alias)}/>"))
    lines.append((1, address_text(plan.address)))
    lines.append((0, "</disk>"))
    return lines


def _controller_lines(controller: AddedController) -> list[tuple[int, str]]:
    model = controller.model or None
    lines: list[tuple[int, str]] = [
        (0, f"<controller{_attributes(type=controller.type, index=controller.index, model=model)}>")
    ]
    if controller.type == "pci" and controller.model:
        name = _PCI_MODEL_NAMES.get(controller.model, controller.model)
        lines.append((1, f"<model{_attributes(name=name)}/>"))
    if controller.chassis is not None and controller.port is not None:
        lines.append((1, f"<target chassis='{controller.chassis}' port='{controller.port:#x}'/>"))
    if controller.chassis_nr is not None:
        lines.append((1, f"<target chassisNr='{controller.chassis_nr}'/>"))
    if controller.target_index is not None:
        lines.append((1, f"<target index='{controller.target_index}'/>"))
    lines.append((1, f"<alias{_attributes(name=controller.alias)}/>"))
    if controller.address is not None:
        lines.append((1, address_text(controller.address)))
    lines.append((0, "</controller>"))
    return lines


def address_text(address: Address) -> str:
    """An ``<address>`` element as libvirt formats it."""
    if isinstance(address, PciAddress):
        multifunction = " multifunction='on'" if address.multifunction else ""
        return (
            f"<address type='pci' domain='{address.domain:#06x}' bus='{address.bus:#04x}' "
            f"slot='{address.slot:#04x}' function='{address.function:#x}'{multifunction}/>"
        )
    if isinstance(address, DriveAddress):
        return (
            f"<address type='drive' controller='{address.controller}' bus='{address.bus}' "
            f"target='{address.target}' unit='{address.unit}'/>"
        )
    if isinstance(address, UsbAddress):
        return f"<address type='usb' bus='{address.bus}' port='{address.port_text}'/>"
    if isinstance(address, CcwAddress):
        return (
            f"<address type='ccw' cssid='{address.cssid:#x}' ssid='{address.ssid:#x}' "
            f"devno='{address.devno:#06x}'/>"
        )
    if isinstance(address, SpaprVioAddress):
        return f"<address type='spapr-vio' reg='{address.reg:#010x}'/>"
    assert isinstance(address, OtherAddress)
    return f"<address{_attributes(type=address.type)}/>"  # the domain's own text: escaped


def _apply_boot_changes(writer: _Writer, document: Document, plan: Plan) -> tuple[BootRecord, ...]:
    records = []
    for change in plan.boot_changes:
        device = document.find(change.xpath)
        boot = device.find("boot")
        old = None
        if boot is not None:
            old = boot.get("order")
            writer.set_attribute(boot, "order", str(change.new))
        else:
            _insert_child(
                writer, device, f"<boot order='{change.new}'/>", before=("alias", "address")
            )
        records.append(BootRecord(key=change.key, old=old, new=change.new))
    return tuple(records)


def _insert_child(
    writer: _Writer, parent: etree._Element, text: str, before: tuple[str, ...]
) -> None:
    """Insert ``text`` as a child of ``parent``: before the first ``before`` child, else last."""
    indent = writer.child_indent(parent)
    for child in parent:
        if child.tag in before:
            writer.insert_before(child, text, indent)
            return
    writer.insert_last(parent, text, indent)


def _remove_os_children(
    writer: _Writer, root: etree._Element, plan: Plan
) -> tuple[RemovedChunk, ...]:
    os_element = root.find("os")
    if os_element is None:
        return ()
    doomed = set()
    if plan.os_boot_removed:
        doomed.add("boot")
    if plan.kernel_removed or plan.kernel_replaced:
        doomed.update(KERNEL_TAGS)
    elements = _element_children(os_element)
    return _remove_children(
        writer,
        os_element,
        {element: str(element.tag) for element in elements},
        lambda element: element.tag in doomed,
    )


def _element_children(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _remove_children(
    writer: _Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    doomed: Callable[[etree._Element], bool],
) -> tuple[RemovedChunk, ...]:
    """Remove ``parent``'s doomed children; each chunk says where it goes back.

    A chunk goes back after the nearest kept sibling (by key, and which of that key), past the
    comments and processing instructions that followed it, or right after the chunk before it.
    """
    chunks = []
    kept: list[str] = []
    skip = 0
    previous_removed = False
    for node in parent:
        if not isinstance(node.tag, str):
            skip += 1
            previous_removed = False
            continue
        if not doomed(node):
            kept.append(keys[node])
            skip = 0
            previous_removed = False
            continue
        after = kept[-1] if kept else None
        chunks.append(
            RemovedChunk(
                parent=str(parent.tag),
                after=after,
                after_nth=kept.count(after) if after is not None else 0,
                skip=0 if previous_removed else skip,
                follows_removed=previous_removed,
                text=writer.remove(node),
            )
        )
        previous_removed = True
    return tuple(chunks)


def _check_recordable(mode: Mode, removed: tuple[RemovedChunk, ...]) -> None:
    """Refuse to take out what unrescue would refuse to put back (rule R5).

    An ``<os><boot dev='hd'>hd</boot>`` (libvirt ignores the text) could be recorded, but the
    record's reader accepts only what libvirt's schema allows there: the rescue would not be
    undone.
    """
    for chunk in removed:
        try:
            check_removed_text(mode, chunk.parent, chunk.text)
        except InvalidRescueRecord as error:
            raise InvalidDomain(
                f"the rescue would take out a <{chunk.parent}> child it could not put back "
                f"exactly ({error.message})",
            ) from None


def _added_texts(writer: _Writer, document: Document, plan: Plan) -> list[str]:
    """The text of each element the rescue adds, in the record's order (rule R9).

    The rescue disk, the moved root, the controllers, then ``<kernel>``, ``<initrd>`` and
    ``<cmdline>``: as ``find_added`` and ``rescued_elements`` find them in the rescued domain.
    """
    texts = [writer.block(_disk_lines(plan), "")]
    if plan.root_moved is not None:
        moved = plan.root_moved
        texts.append(_moved_root_text(document, document.find(moved.xpath), moved))
    texts.extend(writer.block(_controller_lines(c), "") for c in plan.controllers_added)
    if plan.kernel is not None:
        texts.extend(_kernel_lines(plan))
    return texts


def _kernel_lines(plan: Plan) -> list[str]:
    """``<kernel>``, and ``<initrd>`` and ``<cmdline>`` when given; text escaped."""
    assert plan.kernel is not None
    # request.py refuses characters XML cannot carry at all.
    lines = [f"<kernel>{escape_text(plan.kernel)}</kernel>"]
    if plan.initrd is not None:
        lines.append(f"<initrd>{escape_text(plan.initrd)}</initrd>")
    if plan.cmdline is not None:
        lines.append(f"<cmdline>{escape_text(plan.cmdline)}</cmdline>")
    return lines


def _add_kernel(writer: _Writer, root: etree._Element, plan: Plan) -> bool:
    if plan.kernel is None:
        return False
    os_element = root.find("os")
    assert os_element is not None  # parse requires <os><type>
    anchor = None
    for child in os_element:
        if child.tag in ("type", "firmware", "loader", "nvram"):
            anchor = child
    assert anchor is not None
    indent = writer.indent_of(anchor)
    lines = _kernel_lines(plan)
    writer.insert_after(anchor, (writer.newline + indent).join(lines), indent, order=1)
    return True


def _write_record(writer: _Writer, root: etree._Element, record: RescueRecord) -> None:
    metadata = root.find("metadata")
    if metadata is not None and not writer.span(metadata).self_closing:
        indent = writer.child_indent(metadata)
        writer.insert_last(
            metadata, record_text(record, indent, writer.unit, writer.newline), indent
        )
        return
    indent = writer.child_indent(root)
    inner = indent + writer.unit
    text = (
        "<metadata>"
        + writer.newline
        + inner
        + record_text(record, inner, writer.unit, writer.newline)
        + writer.newline
        + indent
        + "</metadata>"
    )
    if metadata is not None:
        # An empty <metadata/>: replace it whole; the record keeps its text for unrescue.
        span = writer.span(metadata)
        writer.replace(span.start, span.end, text)
        return
    anchor = None
    for child in root:
        if child.tag in _BEFORE_METADATA:
            anchor = child
    if anchor is not None:
        writer.insert_after(anchor, text, indent, order=9)
    else:
        writer.insert_first(root, text, indent, order=9)


# --- unrescue ----------------------------------------------------------------------------------


def render_unrescue(document: Document) -> str:
    """The domain as it was before ``rescue``, from its record alone.

    The record is untrusted (docs/security.md): ``read_record``, ``find_added`` and
    ``check_binding`` refuse one that asks for more than its rescue changed (rules N1, N2, R8
    to R10), and the result must be a domain rescue would accept (rule N7).
    """
    root = document.root
    record_element = find_record(root)
    if record_element is None:
        raise NotRescued("domain carries no rescue record; expected one written by rescue")
    record = read_record(record_element)
    added = find_added(root, record.added_aliases)
    writer = _Writer(document)
    _remove_added(writer, root, record, added)
    _restore_boot(writer, root, record, set(added))
    _restore_devices(writer, root, record, set(added))
    _restore_os(writer, root, record)
    # After the checks above, which say more precisely what no longer matches.
    check_binding(record, root, rescued_elements(root, added, record.kernel_added))
    _remove_record(writer, record_element, record)
    try:
        restored = writer.result()
    except OverlappingEdits:
        raise InvalidRescueRecord(
            "rescue record asks to change one part of the domain twice; the record is damaged"
        ) from None
    check_restored(restored)
    return restored


def _remove_added(
    writer: _Writer, root: etree._Element, record: RescueRecord, added: tuple[etree._Element, ...]
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


def _remove_record(writer: _Writer, record_element: etree._Element, record: RescueRecord) -> None:
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


def _restore_boot(
    writer: _Writer, root: etree._Element, record: RescueRecord, added: set[etree._Element]
) -> None:
    devices = root.find("devices")
    if not record.boot:
        return
    if devices is None:
        raise InvalidRescueRecord("rescue record restores boot orders; the domain has no <devices>")
    elements = [child for child in _element_children(devices) if child not in added]
    by_key = dict(zip(device_keys(elements), elements, strict=True))
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


def _restore_os(writer: _Writer, root: etree._Element, record: RescueRecord) -> None:
    os_element = root.find("os")
    if os_element is None:
        if any(chunk.parent == "os" for chunk in record.removed) or record.kernel_added:
            raise InvalidRescueRecord(
                "rescue record restores <os> children; the domain has no <os>"
            )
        return
    elements = _element_children(os_element)
    if record.kernel_added:
        for child in elements:
            if child.tag in KERNEL_TAGS:
                writer.remove(child)
        elements = [child for child in elements if child.tag not in KERNEL_TAGS]
    _restore_children(
        writer, os_element, {element: str(element.tag) for element in elements}, record, "os"
    )


def _restore_devices(
    writer: _Writer, root: etree._Element, record: RescueRecord, added: set[etree._Element]
) -> None:
    devices = root.find("devices")
    if devices is None:
        if any(chunk.parent == "devices" for chunk in record.removed):
            raise InvalidRescueRecord(
                "rescue record restores detached disks; the domain has no <devices>"
            )
        return
    elements = [element for element in _element_children(devices) if element not in added]
    keys = dict(zip(elements, device_keys(elements), strict=True))
    _restore_children(writer, devices, keys, record, "devices")


def _restore_children(
    writer: _Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    record: RescueRecord,
    parent_name: str,
) -> None:
    """Put back the record's chunks of ``parent``, each where ``_remove_children`` took it."""
    offset = writer.span(parent).start_tag_end
    for order, chunk in enumerate(record.removed, start=1):
        if chunk.parent != parent_name:
            continue
        # A chunk that followed another removed one goes back right after it: same offset.
        if not chunk.follows_removed:
            offset = _restore_offset(writer, parent, keys, chunk)
        writer.replace(offset, offset, chunk.text, order)


def _disk_offset(writer: _Writer, devices: etree._Element, keys: dict[etree._Element, str]) -> int:
    """After the last kept disk, else after ``<emulator>``, else first in ``<devices>``."""
    kept = [element for element in keys if element.tag == "disk"]
    emulator = devices.find("emulator")
    if kept:
        return writer.span(kept[-1]).end
    if emulator is not None:
        return writer.span(emulator).end
    return writer.span(devices).start_tag_end


def _restore_offset(
    writer: _Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    chunk: RemovedChunk,
) -> int:
    """Where ``chunk`` goes back: after its anchor and the comments that followed it."""
    if chunk.after is None:
        anchor = None
        offset = writer.span(parent).start_tag_end
    else:
        matches = [element for element, key in keys.items() if key == chunk.after]
        if len(matches) < chunk.after_nth and chunk.parent == "devices":
            # libvirt renumbered the anchor away (a key from a device's position): a detached
            # disk goes among the disks instead, which libvirt sorts on define anyway.
            return _disk_offset(writer, parent, keys)
        if len(matches) < chunk.after_nth:
            raise InvalidRescueRecord(
                f"rescue record restores a <{chunk.parent}> child after '{chunk.after}' "
                f"#{chunk.after_nth}; the domain has {len(matches)}"
            )
        anchor = matches[chunk.after_nth - 1]
        offset = writer.span(anchor).end
    # Past the comments and PIs that followed the anchor (libvirt drops them; then none).
    following = anchor.itersiblings() if anchor is not None else iter(parent)
    skipped = 0
    for node in following:
        if skipped == chunk.skip:
            break
        if isinstance(node.tag, str):
            if node in keys:  # a kept element: the chunk went before it
                break
            continue  # an element the rescue added: it was not there
        offset = writer.document.end_of(node)
        skipped += 1
    return offset
