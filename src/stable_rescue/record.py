"""The rescue record: what ``rescue`` changed, kept in the domain's own ``<metadata>``.

``unrescue`` needs no file outside the XML (Nova's host-side ``unrescue.xml`` blocked live
migration of rescued guests). The namespace carries the format's version; a reader refuses a
version it does not know rather than undo half of it.
"""

from __future__ import annotations

import attrs
from lxml import etree

from stable_rescue.errors import InvalidRescueRecord
from stable_rescue.model import Mode
from stable_rescue.parse import BOOT_ORDER, RECORD_NAMESPACE, find_record
from stable_rescue.xmltext import escape_attribute, escape_text

RECORD_VERSION = "1"
# The elements whose children a rescue may take out: boot and kernel entries, detached disks.
REMOVED_PARENTS = {"os": ("boot", "kernel", "initrd", "cmdline"), "devices": ("disk",)}
PREFIX = "stable-rescue"


@attrs.frozen(kw_only=True)
class RemovedChunk:
    """Text taken out of ``parent`` (``os``): its leading whitespace and the element itself.

    ``after`` and ``after_nth`` name the kept sibling element it followed (``None``: first
    child; an ``<os>`` child by tag, a device by key), ``skip`` counts the comments and
    processing instructions between them, and ``follows_removed`` says it came right after
    the chunk before it. So it goes back in the same place, even after libvirt reformatted the
    document.
    """

    parent: str
    after: str | None
    after_nth: int
    follows_removed: bool
    text: str
    skip: int = 0


@attrs.frozen(kw_only=True)
class BootRecord:
    """A device's boot order before the rescue and during it.

    ``old`` is the ``order`` attribute's exact text in the input (``None``: no ``<boot>``), so
    that unrescue gives back ``010`` as ``010``, not as libvirt's ``10``.
    """

    key: str
    old: str | None
    new: int


@attrs.frozen(kw_only=True)
class RescueRecord:
    """Everything ``unrescue`` puts back."""

    mode: Mode
    added_aliases: tuple[str, ...]
    boot: tuple[BootRecord, ...] = ()
    removed: tuple[RemovedChunk, ...] = ()
    kernel_added: bool = False
    metadata_created: bool = False
    # The text of an empty ``<metadata/>`` the record replaced, to put back verbatim.
    metadata_text: str | None = None


def record_text(record: RescueRecord, indent: str, unit: str, newline: str) -> str:
    """The record element, indented to sit at ``indent``."""
    inner = indent + unit
    lines = [
        f"<{PREFIX}:rescue xmlns:{PREFIX}='{RECORD_NAMESPACE}' version='{RECORD_VERSION}' "
        f"mode='{record.mode.value}'"
        + (" metadata='created'" if record.metadata_created else "")
        + (" kernel='added'" if record.kernel_added else "")
        + (
            f" metadata-text='{escape_attribute(record.metadata_text)}'"
            if record.metadata_text is not None
            else ""
        )
        + ">"
    ]
    for alias in record.added_aliases:
        lines.append(f"{inner}<{PREFIX}:added alias='{escape_attribute(alias)}'/>")
    for boot in record.boot:
        old = f" old='{escape_attribute(boot.old)}'" if boot.old is not None else ""
        lines.append(
            f"{inner}<{PREFIX}:boot key='{escape_attribute(boot.key)}'{old} new='{boot.new}'/>"
        )
    for chunk in record.removed:
        after = (
            f" after='{escape_attribute(chunk.after)}' after-nth='{chunk.after_nth}'"
            if chunk.after is not None
            else ""
        )
        if chunk.follows_removed:
            after += " follows='removed'"
        if chunk.skip:
            after += f" skip='{chunk.skip}'"
        lines.append(
            f"{inner}<{PREFIX}:removed parent='{chunk.parent}'{after}>"
            f"{escape_text(chunk.text).replace(chr(10), '&#10;')}</{PREFIX}:removed>"
        )
    lines.append(f"{indent}</{PREFIX}:rescue>")
    return newline.join(lines)


def read_record(element: etree._Element) -> RescueRecord:
    """The record in ``element``; ``InvalidRescueRecord`` when it is damaged or too new."""
    namespace = etree.QName(element).namespace
    if namespace != RECORD_NAMESPACE or element.get("version") != RECORD_VERSION:
        raise InvalidRescueRecord(
            f"rescue record {namespace} version {element.get('version')!r}; "
            f"expected {RECORD_NAMESPACE} version '{RECORD_VERSION}'"
        )
    try:
        mode = Mode(element.get("mode", ""))
    except ValueError:
        raise InvalidRescueRecord(
            f"rescue record mode {element.get('mode')!r}; expected 'stable' or 'legacy'"
        ) from None
    added: list[str] = []
    boot: list[BootRecord] = []
    removed: list[RemovedChunk] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace != RECORD_NAMESPACE:
            raise InvalidRescueRecord(f"unknown element {child.tag} in the rescue record")
        if name.localname == "added" and child.get("alias"):
            added.append(child.get("alias", ""))
        elif name.localname == "boot" and child.get("key") and child.get("new"):
            boot.append(
                BootRecord(
                    key=child.get("key", ""),
                    old=_order_text(child.get("old")),
                    new=_int(child.get("new")),
                )
            )
        elif name.localname == "removed" and child.get("parent") in REMOVED_PARENTS:
            _check_removed_text(child.get("parent", ""), child.text or "")
            removed.append(
                RemovedChunk(
                    parent=child.get("parent", ""),
                    after=child.get("after"),
                    after_nth=_int(child.get("after-nth", "1")),
                    follows_removed=child.get("follows") == "removed",
                    text=child.text or "",
                    skip=_int(child.get("skip", "0")),
                )
            )
        else:
            raise InvalidRescueRecord(
                f"rescue record element <{name.localname}> lacks its attributes"
            )
    for what, names in (("added alias", added), ("boot key", [boot.key for boot in boot])):
        if len(set(names)) != len(names):
            raise InvalidRescueRecord(
                f"rescue record names one {what} twice; the record is damaged"
            )
    return RescueRecord(
        mode=mode,
        added_aliases=tuple(added),
        boot=tuple(boot),
        removed=tuple(removed),
        kernel_added=element.get("kernel") == "added",
        metadata_created=element.get("metadata") == "created",
        metadata_text=element.get("metadata-text"),
    )


def _check_removed_text(parent: str, text: str) -> None:
    """A removed chunk must be one element of a kind the rescue takes out, and whitespace."""
    try:
        element = etree.fromstring(
            text.strip().encode("utf-8"),
            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False),
        )
    except etree.XMLSyntaxError:
        element = None
    if element is None or element.tag not in REMOVED_PARENTS[parent]:
        raise InvalidRescueRecord(
            f"rescue record keeps a <{parent}> child that is not one element of "
            f"{', '.join(REMOVED_PARENTS[parent])}; the record is damaged"
        )


def _order_text(value: str | None) -> str | None:
    """A recorded boot order's text, refused unless libvirt would read it as one."""
    if value is not None and BOOT_ORDER.fullmatch(value) is None:
        raise InvalidRescueRecord(
            f"rescue record boot order {value!r}; expected the decimal text it replaced"
        )
    return value


def _int(value: str | None) -> int:
    try:
        number = int(value or "")
    except ValueError:
        number = -1
    if number < 0:
        raise InvalidRescueRecord(f"rescue record number {value!r}; expected an integer >= 0")
    return number


@attrs.frozen(kw_only=True)
class RescueStatus:
    """What a rescued domain's record says: the mode, and the rescue disk it added."""

    mode: Mode
    # The added disk's ``<target dev>`` and ``bus`` (``None``: the disk is no longer there).
    target: str | None
    bus: str | None


def rescue_status(root: etree._Element) -> RescueStatus | None:
    """The rescue state of the domain ``root``: ``None`` when it carries no record."""
    element = find_record(root)
    if element is None:
        return None
    record = read_record(element)
    aliases = set(record.added_aliases)
    for disk in root.iterfind("devices/disk"):
        alias = disk.find("alias")
        if alias is not None and alias.get("name") in aliases:
            target = disk.find("target")
            if target is not None:
                return RescueStatus(
                    mode=record.mode, target=target.get("dev"), bus=target.get("bus")
                )
    return RescueStatus(mode=record.mode, target=None, bus=None)
