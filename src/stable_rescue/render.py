"""Applies a ``Plan`` to the input text: the rescued domain, and the record that undoes it.

Edits go through a ``Writer`` (see ``writer``), so every byte the plan does not name comes back
unchanged, comments, quoting and foreign ``<metadata>`` included (rule O1). ``unrescue`` undoes
it from the record alone, so ``unrescue(rescue(x)) == x`` (rule N6).
"""

from __future__ import annotations

from lxml import etree

from stable_rescue.document import Document, device_keys, element_children
from stable_rescue.errors import InvalidDomain, InvalidRescueRecord
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
from stable_rescue.record import (
    KERNEL_TAGS,
    BootRecord,
    RemovedChunk,
    RescueRecord,
    added_digest,
    check_no_reserved_aliases,
    check_removed_text,
    fragment_element,
    record_text,
)
from stable_rescue.removal import remove_children
from stable_rescue.writer import Writer
from stable_rescue.xmltext import escape_attribute, escape_text

# libvirt writes <metadata> after these (virDomainDefFormatInternal).
_BEFORE_METADATA = ("name", "uuid", "genid", "title", "description")
# libvirt's <model name> where it differs from the model: a pci-root added is a pseries PHB.
_PCI_MODEL_NAMES = {
    "pcie-to-pci-bridge": "pcie-pci-bridge",
    "pci-root": "spapr-pci-host-bridge",
}


def render_rescue(document: Document, plan: Plan) -> str:
    """The rescued domain: ``document``'s text with exactly the plan's changes spliced in.

    The same document and plan give the same text, whatever the order of sets and dicts (rule O7).
    Everything taken out or added is recorded (rule K5).
    """
    writer = Writer(document)
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


def _insert_disk(writer: Writer, devices: etree._Element, plan: Plan) -> None:
    """The rescue disk, after the last existing disk (or first among the devices).

    Rule O3.
    """
    disks = [child for child in devices if child.tag == "disk"]
    indent = writer.child_indent(devices)
    disk_text = writer.block(_disk_lines(plan), indent)
    if disks:
        writer.insert_after(disks[-1], disk_text, indent, order=0)
    else:
        _insert_first_device(writer, devices, disk_text, indent, order=0)


def _insert_controllers(writer: Writer, devices: etree._Element, plan: Plan) -> None:
    """Added controllers after the last controller, else right after the rescue disk.

    Rule O4; in legacy mode, before the first disk (rule L7).
    """
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
    writer: Writer, devices: etree._Element, text: str, indent: str, order: int
) -> None:
    emulator = devices.find("emulator")
    if emulator is not None:
        writer.insert_after(emulator, text, indent, order=order)
    else:
        writer.insert_first(devices, text, indent, order=order)


def _replace_disks(
    writer: Writer, document: Document, devices: etree._Element, plan: Plan, moved: MovedDisk
) -> tuple[RemovedChunk, ...]:
    """Legacy: the rescue disk and the moved root first among the disks; root and others out.

    The root is rewritten as a copy with its new name, address, boot order and alias; the
    original text goes into the record with the detached disks, so unrescue puts back exactly
    what was there.

    Rules L5 and L7.
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
    elements = element_children(devices)
    return remove_children(
        writer,
        devices,
        dict(zip(elements, device_keys(elements), strict=True)),
        lambda element: element in doomed,
    )


def _moved_root_text(document: Document, disk: etree._Element, moved: MovedDisk) -> str:
    """The root disk's own text with its new target, address, boot order and alias.

    Rule L5.
    """
    copy = Writer(document)
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
            copy.insert_child(
                disk, f"<boot order='{moved.boot_order}'/>", before=("alias", "address")
            )
    alias = disk.find("alias")
    if alias is not None:
        copy.set_attribute(alias, "name", moved.alias)
    else:
        copy.insert_child(disk, f"<alias{_attributes(name=moved.alias)}/>", before=("address",))
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
    """An added controller's lines, as ``(depth, line)`` pairs.

    Rules D5, P4, E2 and V5: each added controller as libvirt writes it.
    """
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


def _apply_boot_changes(writer: Writer, document: Document, plan: Plan) -> tuple[BootRecord, ...]:
    """Renumber the boot sequence as planned; each change is recorded for undo.

    Rule B7: an existing ``<boot order>`` gets its new value, else one goes before ``<alias>`` or
    ``<address>``.
    """
    records = []
    for change in plan.boot_changes:
        device = document.find(change.xpath)
        boot = device.find("boot")
        old = None
        if boot is not None:
            old = boot.get("order")
            writer.set_attribute(boot, "order", str(change.new))
        else:
            writer.insert_child(
                device, f"<boot order='{change.new}'/>", before=("alias", "address")
            )
        records.append(BootRecord(key=change.key, old=old, new=change.new))
    return tuple(records)


def _remove_os_children(
    writer: Writer, root: etree._Element, plan: Plan
) -> tuple[RemovedChunk, ...]:
    """Take out the ``<os>`` children the plan names, recording each.

    Rules B4 and K1: ``<os><boot>`` entries and the kernel are taken out and recorded (rule R5).
    """
    os_element = root.find("os")
    if os_element is None:
        return ()
    doomed = set()
    if plan.os_boot_removed:
        doomed.add("boot")
    if plan.kernel_removed or plan.kernel_replaced:
        doomed.update(KERNEL_TAGS)
    elements = element_children(os_element)
    return remove_children(
        writer,
        os_element,
        {element: str(element.tag) for element in elements},
        lambda element: element.tag in doomed,
    )


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


def _added_texts(writer: Writer, document: Document, plan: Plan) -> list[str]:
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


def _add_kernel(writer: Writer, root: etree._Element, plan: Plan) -> bool:
    """Write the rescue kernel into ``<os>``; whether one was written.

    Rule K2.
    """
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


def _write_record(writer: Writer, root: etree._Element, record: RescueRecord) -> None:
    """The record, last in ``<metadata>``; a new ``<metadata>`` where libvirt writes it.

    Rule R6.
    """
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
