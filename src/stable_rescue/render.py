"""Applies a ``Plan`` to the input text; and undoes it from the record alone.

Edits splice the original text (see ``xmltext``): every byte the plan does not name comes back
unchanged, comments, quoting and foreign ``<metadata>`` included. Each insertion is a newline,
the neighbours' indentation and the new element; each removal takes an element with the
whitespace before it. So undoing an edit is exact, and ``unrescue(rescue(x)) == x``.
"""

from __future__ import annotations

from lxml import etree

from stable_rescue.errors import InvalidRescueRecord, NotRescued
from stable_rescue.model import (
    AddedController,
    Address,
    CcwAddress,
    DriveAddress,
    OtherAddress,
    PciAddress,
    Plan,
    SourceType,
    UsbAddress,
)
from stable_rescue.parse import Document, device_keys, find_record
from stable_rescue.record import (
    BootRecord,
    RemovedChunk,
    RescueRecord,
    read_record,
    record_text,
)
from stable_rescue.xmltext import (
    Edit,
    ElementSpan,
    apply_edits,
    attribute_value_span,
    escape_attribute,
    escape_text,
    indentation,
    leading_space_start,
    newline_style,
)

DEFAULT_UNIT = "  "
_KERNEL_TAGS = ("kernel", "initrd", "cmdline")
# libvirt writes <metadata> after these (virDomainDefFormatInternal).
_BEFORE_METADATA = ("name", "uuid", "genid", "title", "description")
_PCI_MODEL_NAMES = {"pcie-to-pci-bridge": "pcie-pci-bridge"}


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

    def insert_before(self, element: etree._Element, lines: str, indent: str) -> None:
        """Put ``lines`` on a new line before ``element`` (after its predecessor)."""
        self._insert_line(
            leading_space_start(self.text, self.span(element).start), lines, indent, 0
        )

    def insert_first(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line just inside ``parent``'s start tag."""
        self._insert_line(self.span(parent).start_tag_end, lines, indent, order)

    def insert_last(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line after ``parent``'s last child (before its end tag)."""
        span = self.span(parent)
        # parse refuses empty devices and render replaces an empty <metadata/> whole.
        assert not span.self_closing
        self._insert_line(leading_space_start(self.text, span.end_tag_start), lines, indent, order)

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
    devices = root.find("devices")
    assert devices is not None  # the planner placed a device, so the domain has <devices>
    _insert_devices(writer, devices, plan)
    boot_records = _apply_boot_changes(writer, document, plan)
    removed = _remove_os_children(writer, root, plan)
    kernel_added = _add_kernel(writer, root, plan)
    metadata = root.find("metadata")
    empty_metadata = metadata is not None and document.span(metadata).self_closing
    record = RescueRecord(
        mode=plan.mode,
        added_aliases=(plan.alias, *(c.alias for c in plan.controllers_added)),
        boot=boot_records,
        removed=removed,
        kernel_added=kernel_added,
        metadata_created=metadata is None,
        metadata_text=document.text[document.span(metadata).start : document.span(metadata).end]
        if metadata is not None and empty_metadata
        else None,
    )
    _write_record(writer, root, record)
    return writer.result()


def _insert_devices(writer: _Writer, devices: etree._Element, plan: Plan) -> None:
    disks = [child for child in devices if child.tag == "disk"]
    controllers = [child for child in devices if child.tag == "controller"]
    indent = writer.child_indent(devices)
    disk_text = writer.block(_disk_lines(plan), indent)
    if disks:
        writer.insert_after(disks[-1], disk_text, indent, order=0)
    else:
        emulator = devices.find("emulator")
        if emulator is not None:
            writer.insert_after(emulator, disk_text, indent, order=0)
        else:
            writer.insert_first(devices, disk_text, indent, order=0)
    for position, controller in enumerate(plan.controllers_added, start=1):
        text = writer.block(_controller_lines(controller), indent)
        if controllers:
            writer.insert_after(controllers[-1], text, indent, order=position)
        elif disks:
            writer.insert_after(disks[-1], text, indent, order=position)
        else:
            # Right after the rescue disk, at the same offset, in plan order.
            emulator = devices.find("emulator")
            if emulator is not None:
                writer.insert_after(emulator, text, indent, order=position)
            else:
                writer.insert_first(devices, text, indent, order=position)


def _disk_lines(plan: Plan) -> list[tuple[int, str]]:
    source = plan.source
    lines: list[tuple[int, str]] = [
        (0, f"<disk type='{source.type.value}' device='{plan.device_type.value}'>"),
        (1, f"<driver name='qemu' type='{plan.source_format}'/>"),
    ]
    if source.type is SourceType.FILE:
        lines.append((1, f"<source file='{escape_attribute(source.path)}'/>"))
    elif source.type is SourceType.BLOCK:
        lines.append((1, f"<source dev='{escape_attribute(source.path)}'/>"))
    else:
        name = escape_attribute(source.name or "")
        lines.append((1, f"<source protocol='{source.protocol}' name='{name}'>"))
        for host in source.hosts:
            port = f" port='{host.port}'" if host.port is not None else ""
            lines.append((2, f"<host name='{escape_attribute(host.name)}'{port}/>"))
        if source.auth_username is not None and source.secret_uuid is not None:
            lines.append((2, f"<auth username='{escape_attribute(source.auth_username)}'>"))
            lines.append((3, f"<secret type='{source.secret_type}' uuid='{source.secret_uuid}'/>"))
            lines.append((2, "</auth>"))
        lines.append((1, "</source>"))
    lines.append((1, f"<target dev='{plan.target}' bus='{plan.bus.value}'/>"))
    if plan.readonly:
        lines.append((1, "<readonly/>"))
    lines.append((1, f"<boot order='{plan.boot_order}'/>"))
    lines.append((1, f"<alias name='{plan.alias}'/>"))
    lines.append((1, address_text(plan.address)))
    lines.append((0, "</disk>"))
    return lines


def _controller_lines(controller: AddedController) -> list[tuple[int, str]]:
    model = f" model='{controller.model}'" if controller.model else ""
    lines: list[tuple[int, str]] = [
        (0, f"<controller type='{controller.type}' index='{controller.index}'{model}>")
    ]
    if controller.type == "pci" and controller.model:
        lines.append(
            (1, f"<model name='{_PCI_MODEL_NAMES.get(controller.model, controller.model)}'/>")
        )
    if controller.chassis is not None and controller.port is not None:
        lines.append((1, f"<target chassis='{controller.chassis}' port='{controller.port:#x}'/>"))
    if controller.chassis_nr is not None:
        lines.append((1, f"<target chassisNr='{controller.chassis_nr}'/>"))
    lines.append((1, f"<alias name='{controller.alias}'/>"))
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
    assert isinstance(address, OtherAddress)
    return f"<address type='{address.type}'/>"


def _apply_boot_changes(writer: _Writer, document: Document, plan: Plan) -> tuple[BootRecord, ...]:
    records = []
    for change in plan.boot_changes:
        device = document.find(change.xpath)
        boot = device.find("boot")
        if boot is not None:
            writer.set_attribute(boot, "order", str(change.new))
        else:
            _insert_child(
                writer, device, f"<boot order='{change.new}'/>", before=("alias", "address")
            )
        records.append(BootRecord(key=change.key, old=change.old, new=change.new))
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
        doomed.update(_KERNEL_TAGS)
    chunks = []
    kept: list[str] = []
    previous_removed = False
    for child in os_element:
        if not isinstance(child.tag, str):
            continue
        if child.tag not in doomed:
            kept.append(str(child.tag))
            previous_removed = False
            continue
        after = kept[-1] if kept else None
        chunks.append(
            RemovedChunk(
                parent="os",
                after=after,
                after_nth=kept.count(after) if after is not None else 0,
                follows_removed=previous_removed,
                text=writer.remove(child),
            )
        )
        previous_removed = True
    return tuple(chunks)


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
    lines = [f"<kernel>{escape_text(plan.kernel)}</kernel>"]
    if plan.initrd is not None:
        lines.append(f"<initrd>{escape_text(plan.initrd)}</initrd>")
    if plan.cmdline is not None:
        lines.append(f"<cmdline>{escape_text(plan.cmdline)}</cmdline>")
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
    """The domain as it was before ``rescue``, from its record alone."""
    root = document.root
    record_element = find_record(root)
    if record_element is None:
        raise NotRescued("domain carries no rescue record; expected one written by rescue")
    record = read_record(record_element)
    writer = _Writer(document)
    _remove_added(writer, root, record)
    _restore_boot(writer, root, record)
    _restore_os(writer, root, record)
    metadata = record_element.getparent()
    assert metadata is not None
    if record.metadata_text is not None:
        span = writer.span(metadata)
        writer.replace(span.start, span.end, record.metadata_text)
    elif record.metadata_created:
        writer.remove(metadata)
    else:
        writer.remove(record_element)
    return writer.result()


def _remove_added(writer: _Writer, root: etree._Element, record: RescueRecord) -> None:
    devices = root.find("devices")
    by_alias: dict[str, etree._Element] = {}
    if devices is not None:
        for child in devices:
            alias_element = child.find("alias")
            if alias_element is not None and alias_element.get("name"):
                by_alias[alias_element.get("name", "")] = child
    for alias in record.added_aliases:
        if alias not in by_alias:
            raise InvalidRescueRecord(
                f"rescue record names added device '{alias}'; expected it in <devices>",
                alias=alias,
            )
        writer.remove(by_alias[alias])


def _restore_boot(writer: _Writer, root: etree._Element, record: RescueRecord) -> None:
    devices = root.find("devices")
    if not record.boot:
        return
    assert devices is not None
    elements = [child for child in devices if isinstance(child.tag, str)]
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
            writer.set_attribute(element, "order", str(boot.old))


def _restore_os(writer: _Writer, root: etree._Element, record: RescueRecord) -> None:
    os_element = root.find("os")
    if os_element is None:
        if record.removed or record.kernel_added:
            raise InvalidRescueRecord(
                "rescue record restores <os> children; the domain has no <os>"
            )
        return
    if record.kernel_added:
        for child in os_element:
            if child.tag in _KERNEL_TAGS:
                writer.remove(child)
    offset = writer.span(os_element).start_tag_end
    for order, chunk in enumerate(record.removed, start=1):
        # A chunk that followed another removed one goes back right after it: same offset.
        if not chunk.follows_removed:
            offset = _restore_offset(writer, os_element, chunk)
        writer.replace(offset, offset, chunk.text, order)


def _restore_offset(writer: _Writer, os_element: etree._Element, chunk: RemovedChunk) -> int:
    if chunk.after is None:
        return writer.span(os_element).start_tag_end
    matches = [child for child in os_element if child.tag == chunk.after]
    if len(matches) < chunk.after_nth:
        raise InvalidRescueRecord(
            f"rescue record restores an <os> child after <{chunk.after}> #{chunk.after_nth}; "
            f"the domain has {len(matches)}"
        )
    return writer.span(matches[chunk.after_nth - 1]).end
