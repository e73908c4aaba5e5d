"""The rescue record: what ``rescue`` changed, kept in the domain's own ``<metadata>``.

``unrescue`` needs no file outside the XML (Nova's host-side ``unrescue.xml`` blocked live
migration of rescued guests). The namespace carries the format's version; a reader refuses a
version it does not know rather than undo half of it. The namespace is a permanent contract
(rule R1): records are written under ``urn:stable-rescue:rescue:1``; those 0.1.0 wrote under
its provisional name are read as well, and count as rescued.

The record is untrusted input (docs/security.md): whoever edits it must not gain more than
editing the domain XML gives. So the reader accepts only what the record's own rescue could
have written (rules R3, R5, R8 to R10 in docs/policy.md), and ``check_binding`` ties the record
to the domain it was written into (rule R9).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Sequence
from uuid import UUID

import attrs
from lxml import etree

from stable_rescue.document import BOOT_ORDER, safe_parser
from stable_rescue.errors import InvalidDomain, InvalidRescueRecord
from stable_rescue.model import Mode
from stable_rescue.xmltext import escape_attribute, escape_text, scan

# A URN, not a URL: it names the format and needs no domain that the project could lose.
RECORD_NAMESPACE = "urn:stable-rescue:rescue:1"
# 0.1.0 wrote the same format, version 1, under a URL the project never held (rule R1).
PROVISIONAL_RECORD_NAMESPACE = "http://stable-rescue.org/xmlns/rescue/1"
READABLE_NAMESPACES = (RECORD_NAMESPACE, PROVISIONAL_RECORD_NAMESPACE)
RECORD_VERSION = "1"
# A record in a namespace under either name, of any version, means rescued (rule R7).
_RECORD_NAMESPACE_PREFIXES = tuple(
    namespace.removesuffix(RECORD_VERSION) for namespace in READABLE_NAMESPACES
)
PREFIX = "stable-rescue"
# The elements whose children a rescue may take out, by mode (rule R5): boot and kernel
# entries in both; whole disks from <devices> only in legacy mode, which detaches them.
_OS_KINDS = ("boot", "kernel", "initrd", "cmdline")
REMOVED_KINDS: dict[Mode, dict[str, tuple[str, ...]]] = {
    Mode.STABLE: {"os": _OS_KINDS},
    Mode.LEGACY: {"os": _OS_KINDS, "devices": ("disk",)},
}
KERNEL_TAGS = ("kernel", "initrd", "cmdline")
# The aliases a rescue gives what it adds (rule O6; plan.py and pci.py make them).
ALIAS_PREFIX = "ua-stable-rescue-"
RESCUE_DISK_ALIAS = f"{ALIAS_PREFIX}disk"
MOVED_ROOT_ALIAS = f"{ALIAS_PREFIX}root"
_INDEX = "(0|[1-9][0-9]*)"
_DRIVE_CONTROLLER_ALIAS = re.compile(f"{ALIAS_PREFIX}(scsi|sata|ide|fdc){_INDEX}")
_PCI_CONTROLLER_ALIAS = re.compile(
    f"{ALIAS_PREFIX}(pci-bridge|pcie-root-port|pcie-to-pci-bridge|pci-root){_INDEX}"
)
_BOOT_DEVS = ("hd", "cdrom", "fd", "network")
_SHA256 = re.compile("[0-9a-f]{64}")
_WHITESPACE = " \t\r\n"
# An empty <metadata/>, which the record may keep to put back (rule R6): the tag, namespace
# declarations at most, and nothing inside.
_EMPTY_METADATA = re.compile(
    r"<metadata(?:[ \t\r\n]+xmlns(?::[A-Za-z_][\w.-]*)?[ \t\r\n]*=[ \t\r\n]*"
    r"""(?:'[^'<&]*'|"[^"<&]*"))*[ \t\r\n]*/>"""
)


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
    """Everything ``unrescue`` puts back, and what ties the record to its domain (rule R9)."""

    mode: Mode
    added_aliases: tuple[str, ...]
    boot: tuple[BootRecord, ...] = ()
    removed: tuple[RemovedChunk, ...] = ()
    kernel_added: bool = False
    metadata_created: bool = False
    # The text of an empty ``<metadata/>`` the record replaced, to put back verbatim.
    metadata_text: str | None = None
    # The rescue wrote ``<devices>`` ... ``</devices>`` in place of an empty ``<devices/>``.
    devices_expanded: bool = False
    # The domain's <name> and <uuid> text at rescue time (None: it had none), and the digest
    # of what the rescue added (``added_digest``); all None in a previous release's record.
    domain_name: str | None = None
    domain_uuid: str | None = None
    added_sha256: str | None = None


def record_text(record: RescueRecord, indent: str, unit: str, newline: str) -> str:
    """The record element, indented to sit at ``indent``.

    Rules R1 and R2.
    """
    inner = indent + unit
    optional = (
        ("metadata", "created" if record.metadata_created else None),
        ("kernel", "added" if record.kernel_added else None),
        ("metadata-text", record.metadata_text),
        ("devices", "expanded" if record.devices_expanded else None),
        ("name", record.domain_name),
        ("uuid", record.domain_uuid),
        ("added-sha256", record.added_sha256),
    )
    lines = [
        f"<{PREFIX}:rescue xmlns:{PREFIX}='{RECORD_NAMESPACE}' version='{RECORD_VERSION}' "
        f"mode='{escape_attribute(record.mode.value)}'"
        + "".join(
            f" {name}='{escape_attribute(value)}'" for name, value in optional if value is not None
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
            f"{inner}<{PREFIX}:removed parent='{escape_attribute(chunk.parent)}'{after}>"
            f"{escape_text(chunk.text).replace(chr(10), '&#10;')}"
            f"</{PREFIX}:removed>"
        )
    lines.append(f"{indent}</{PREFIX}:rescue>")
    return newline.join(lines)


def find_record(root: etree._Element) -> etree._Element | None:
    """The rescue record in ``<metadata>``, of any version, if the domain has one.

    libvirt reads only the first ``<metadata>``; a record in any of them counts here, so that a
    second one is never rescued over or left behind by unrescue.

    Any version counts, so an already rescued domain is refused (rule R7).
    """
    for metadata in root.findall("metadata"):
        for child in metadata:
            if is_record_element(child):
                return child
    return None


def is_record_element(element: etree._Element) -> bool:
    """Whether ``element`` is in a rescue record namespace, of any version (rule R7)."""
    if not isinstance(element.tag, str):
        return False
    namespace = etree.QName(element).namespace
    return namespace is not None and namespace.startswith(_RECORD_NAMESPACE_PREFIXES)


def read_record(element: etree._Element) -> RescueRecord:
    """The record in ``element``; ``InvalidRescueRecord`` when it is damaged, forged or too new.

    This checks what the record says on its own (rules N1, R2, R3, R5, R6, R8, R10);
    ``find_added`` and ``check_binding`` check it against the domain (rules N2, R9).
    """
    namespace = etree.QName(element).namespace
    if namespace not in READABLE_NAMESPACES or element.get("version") != RECORD_VERSION:
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
    metadata_text = element.get("metadata-text")
    metadata_created = _flag(element, "metadata", "created")
    if metadata_text is not None and (
        metadata_created or _EMPTY_METADATA.fullmatch(metadata_text) is None
    ):
        raise InvalidRescueRecord(
            f"rescue record keeps metadata-text {metadata_text[:40]!r}; expected the text of an "
            "empty <metadata/> the rescue replaced, and no metadata='created' with it"
        )
    added: list[str] = []
    boot: list[BootRecord] = []
    removed: list[RemovedChunk] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace != namespace:
            raise InvalidRescueRecord(f"unknown element {child.tag} in the rescue record")
        if name.localname == "added" and child.get("alias"):
            added.append(_added_alias(child.get("alias", ""), mode))
        elif name.localname == "boot" and child.get("key") and child.get("new"):
            boot.append(
                BootRecord(
                    key=child.get("key", ""),
                    old=_order_text(child.get("old")),
                    new=_int(child.get("new")),
                )
            )
        elif name.localname == "removed" and child.get("parent") in REMOVED_KINDS[Mode.LEGACY]:
            parent = child.get("parent", "")
            check_removed_text(mode, parent, child.text or "")
            if _int(child.get("after-nth", "1")) < 1:
                # Counted from 1: the rescue never writes 0 (the anchor's own place).
                raise InvalidRescueRecord(
                    f"rescue record after-nth={child.get('after-nth')!r}; expected 1 or more"
                )
            removed.append(
                RemovedChunk(
                    parent=parent,
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
    _check_unique(added, boot, removed)
    return RescueRecord(
        mode=mode,
        added_aliases=tuple(added),
        boot=tuple(boot),
        removed=tuple(removed),
        kernel_added=_flag(element, "kernel", "added"),
        metadata_created=metadata_created,
        metadata_text=metadata_text,
        devices_expanded=_flag(element, "devices", "expanded"),
        **_binding(element),
    )


def _flag(element: etree._Element, name: str, value: str) -> bool:
    """A flag attribute: absent, or its one value (a record with another is not ours)."""
    found = element.get(name)
    if found is not None and found != value:
        raise InvalidRescueRecord(f"rescue record {name}={found!r}; expected {value!r} or none")
    return found == value


def _binding(element: etree._Element) -> dict[str, str | None]:
    """Rule R9's attributes; a record with a name or uuid but no digest is damaged."""
    digest = element.get("added-sha256")
    name, uuid_text = element.get("name"), element.get("uuid")
    if digest is None and (name is not None or uuid_text is not None):
        raise InvalidRescueRecord(
            "rescue record names its domain but has no added-sha256; the record is damaged"
        )
    if digest is not None and _SHA256.fullmatch(digest) is None:
        raise InvalidRescueRecord(
            f"rescue record added-sha256 {digest[:70]!r}; expected 64 lowercase hex digits"
        )
    return {"domain_name": name, "domain_uuid": uuid_text, "added_sha256": digest}


def _added_alias(alias: str, mode: Mode) -> str:
    """Rule R3: only the aliases a rescue gives what it adds (rule O6)."""
    if (
        alias == RESCUE_DISK_ALIAS
        or (alias == MOVED_ROOT_ALIAS and mode is Mode.LEGACY)
        or _DRIVE_CONTROLLER_ALIAS.fullmatch(alias)
        or _PCI_CONTROLLER_ALIAS.fullmatch(alias)
    ):
        return alias
    raise InvalidRescueRecord(
        f"rescue record names added device '{alias}'; a {mode.value} rescue adds only "
        f"{RESCUE_DISK_ALIAS}"
        + (f", {MOVED_ROOT_ALIAS}" if mode is Mode.LEGACY else "")
        + f" and controllers named {ALIAS_PREFIX}TYPEINDEX",
        alias=alias,
    )


def _check_unique(added: list[str], boot: list[BootRecord], removed: list[RemovedChunk]) -> None:
    """Rule R8: nothing named twice, and each place in a parent starts one run of chunks.

    A rescue starts a run of removed elements after a kept sibling (or a comment after it),
    and each later one in the run ``follows='removed'``: so a copied entry shows as a second
    run at the same place. (A copied entry inside a run cannot be told from a domain that had
    the same element twice; N7 refuses what libvirt would, such as one disk twice.)
    """
    starts = [
        (chunk.parent, chunk.after, chunk.after_nth, chunk.skip)
        for chunk in removed
        if not chunk.follows_removed
    ]
    for what, names in (
        ("added alias", added),
        ("boot key", [entry.key for entry in boot]),
        ("place for removed elements", starts),
    ):
        if len(set(names)) != len(names):
            raise InvalidRescueRecord(
                f"rescue record names one {what} twice; the record is damaged"
            )
    parents: set[str] = set()
    for chunk in removed:
        if chunk.follows_removed and chunk.parent not in parents:
            raise InvalidRescueRecord(
                f"rescue record's first removed <{chunk.parent}> child follows another; "
                "the record is damaged"
            )
        parents.add(chunk.parent)


def check_removed_text(mode: Mode, parent: str, text: str) -> None:
    """Rule R5: whitespace and one element of a kind this mode's rescue takes out, alone.

    No comment, processing instruction or other element beside it, no namespaced element or
    attribute in it, and a ``<boot>``, ``<kernel>``, ``<initrd>`` or ``<cmdline>`` as libvirt's
    schema has them (nothing nested). So a record can give back only what a rescue removed.
    """
    kinds = REMOVED_KINDS[mode].get(parent)
    if kinds is None:
        raise InvalidRescueRecord(
            f"{mode.value} rescue record puts back a <{parent}> child; a {mode.value} rescue "
            f"removes only children of <{'> and <'.join(REMOVED_KINDS[mode])}>"
        )
    element = _one_element(text.lstrip(_WHITESPACE))
    if element is None or element.tag not in kinds:
        raise InvalidRescueRecord(
            f"rescue record keeps a <{parent}> child that is not one element of "
            f"{', '.join(kinds)} and the whitespace before it; the record is damaged"
        )
    for node in element.iter():
        if isinstance(node.tag, str):
            foreign = (
                node.nsmap or etree.QName(node).namespace or any("{" in a for a in node.attrib)
            )
        else:
            # Comments are a disk's own content; processing instructions are never kept.
            foreign = element.tag != "disk" or not isinstance(node, etree._Comment)
        if foreign:
            raise InvalidRescueRecord(
                f"rescue record keeps a <{element.tag}> with namespaced or foreign content; "
                "expected only what libvirt's schema allows there"
            )
    if element.tag == "disk":
        return
    attributes = {"dev"} if element.tag == "boot" else set()
    if (
        set(element.attrib) != attributes
        or len(element)
        or (element.tag == "boot" and (element.text or element.get("dev") not in _BOOT_DEVS))
    ):
        raise InvalidRescueRecord(
            f"rescue record keeps <{element.tag}> with other attributes or content; expected "
            + ("<boot dev='hd|cdrom|fd|network'/>" if element.tag == "boot" else "text only")
        )


def _one_element(body: str) -> etree._Element | None:
    """``body`` parsed when it is exactly one element, with nothing before or after it."""
    if not body.startswith("<") or body[1:2] in ("", "!", "?", "/"):
        return None
    try:
        element = etree.fromstring(body.encode("utf-8"), safe_parser())
        spans = scan(body)[0]
    except (etree.XMLSyntaxError, ValueError):
        return None
    return element if spans and spans[0].start == 0 and spans[0].end == len(body) else None


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


# --- the record against its domain ---------------------------------------------------------


def find_added(root: etree._Element, aliases: Sequence[str]) -> tuple[etree._Element, ...]:
    """The ``<devices>`` children with these aliases, in that order (rules N2, R3).

    Each alias must name exactly one device, of the kind the rescue gives that alias: so a
    record cannot make unrescue remove a device the rescue did not add.
    """
    by_alias: dict[str, list[etree._Element]] = {}
    for alias_element in root.iterfind("devices/*/alias"):
        device = alias_element.getparent()
        if device is not None and alias_element.get("name"):
            by_alias.setdefault(alias_element.get("name", ""), []).append(device)
    found = []
    for alias in aliases:
        matches = by_alias.get(alias, [])
        if not matches:
            raise InvalidRescueRecord(
                f"rescue record names added device '{alias}'; expected it in <devices>",
                alias=alias,
            )
        if len(matches) > 1 or not _added_kind(alias, matches[0]):
            raise InvalidRescueRecord(
                f"rescue record names added device '{alias}', and the domain has "
                f"{len(matches)} device(s) <{matches[0].tag}> with that alias; expected one "
                "of the kind the rescue adds under that name",
                alias=alias,
            )
        found.append(matches[0])
    return tuple(found)


def check_no_reserved_aliases(root: etree._Element) -> None:
    """Refuse a device the user named like the ones a rescue adds (rule O6).

    The rescue's own names would collide, and unrescue would take the user's device for one it
    added, and remove it. (plan.py refuses most of these from the model; a disk's or an
    interface's alias is only in the XML.)
    """
    for alias in root.iterfind("devices/*/alias"):
        name = alias.get("name", "")
        device = alias.getparent()
        if name.startswith(ALIAS_PREFIX) and device is not None:
            raise InvalidDomain(
                f"<{device.tag}> has alias '{name}'; the '{ALIAS_PREFIX}' prefix is reserved "
                "for the devices a rescue adds, expected another alias",
                alias=name,
            )


def _added_kind(alias: str, element: etree._Element) -> bool:
    """Whether the rescue gives ``alias`` to an element like ``element`` (rule O6)."""
    if alias in (RESCUE_DISK_ALIAS, MOVED_ROOT_ALIAS):
        return element.tag == "disk"
    drive = _DRIVE_CONTROLLER_ALIAS.fullmatch(alias)
    pci = _PCI_CONTROLLER_ALIAS.fullmatch(alias)
    kind = ("type", drive.group(1), drive.group(2)) if drive else None
    if pci:
        kind = ("model", pci.group(1), pci.group(2))
    return (
        kind is not None
        and element.tag == "controller"
        and element.get(kind[0]) == kind[1]
        and (kind[0] == "type" or element.get("type") == "pci")
        and element.get("index") == kind[2]
    )


def rescued_elements(
    root: etree._Element, added: Sequence[etree._Element], kernel_added: bool
) -> tuple[etree._Element, ...]:
    """What the digest covers: the added devices and, with ``kernel='added'``, the kernel.

    Rule R9 (with rule K5's kernel).
    """
    os_element = root.find("os")
    if not kernel_added or os_element is None:
        return tuple(added)
    return (*added, *(child for child in os_element if child.tag in KERNEL_TAGS))


def fragment_element(text: str) -> etree._Element:
    """One element the rescue writes, parsed alone (its text is ours: well-formed)."""
    return etree.fromstring(text.encode("utf-8"), safe_parser())


def added_digest(elements: Sequence[etree._Element]) -> str:
    """sha256 (hex) of the elements in canonical form (rule R9).

    Canonical XML without comments, processing instructions and whitespace-only text: libvirt
    re-indents, re-quotes and drops comments when it defines and dumps a domain (rule N6), and
    the digest must survive that; any other change to the elements changes it.
    """
    digest = hashlib.sha256()
    for element in elements:
        tree = copy.deepcopy(element)
        etree.strip_elements(tree, etree.Comment, etree.ProcessingInstruction, with_tail=False)
        for node in tree.iter():
            if node.text is not None and not node.text.strip():
                node.text = None
            if node.tail is not None and not node.tail.strip():
                node.tail = None
        tree.tail = None
        digest.update(etree.tostring(tree, method="c14n", exclusive=True, with_comments=False))
        digest.update(b"\n")
    return digest.hexdigest()


def check_binding(
    record: RescueRecord, root: etree._Element, elements: Sequence[etree._Element]
) -> None:
    """Rule R9: the domain's name and uuid, and the rescued elements, are as recorded.

    A record without ``added-sha256`` was written by a previous release: rule R10.
    """
    if record.added_sha256 is None:
        return
    name = root.findtext("name")
    if record.domain_name is not None and name != record.domain_name:
        raise InvalidRescueRecord(
            f"rescue record was written for domain {record.domain_name[:60]!r}; "
            f"this domain is named {(name or '')[:60]!r}"
        )
    if record.domain_uuid is not None and _uuid_key(root.findtext("uuid")) != _uuid_key(
        record.domain_uuid
    ):
        raise InvalidRescueRecord(
            f"rescue record was written for domain uuid {record.domain_uuid[:40]!r}; "
            f"this domain's is {(root.findtext('uuid') or '')[:40]!r}"
        )
    if added_digest(elements) != record.added_sha256:
        raise InvalidRescueRecord(
            "rescue record's added-sha256 does not match the devices (and kernel) it names as "
            "added; they were changed after the rescue, or the record belongs elsewhere"
        )


def _uuid_key(text: str | None) -> str | None:
    """A uuid as libvirt compares them: with or without dashes, in either case."""
    if text is None:
        return None
    try:
        return UUID(text.strip()).hex
    except ValueError:
        return text.strip().lower()


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
