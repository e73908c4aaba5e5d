"""Domain XML -> model. lxml lives here and in ``render``; nothing from lxml leaves them.

Parsing is safe by construction: no DTD, no entity expansion, no network (libvirt's own parser
refuses the same things).
"""

from __future__ import annotations

import codecs
import re

import attrs
from lxml import etree

from stable_rescue.errors import (
    InvalidDomain,
    InvalidDomainXML,
    UnsupportedHypervisor,
    UnsupportedMachine,
)
from stable_rescue.machine import classify_machine
from stable_rescue.model import (
    Address,
    CcwAddress,
    Controller,
    Device,
    Disk,
    Domain,
    DriveAddress,
    Firmware,
    OtherAddress,
    PciAddress,
    SpaprVioAddress,
    UsbAddress,
)
from stable_rescue.xmltext import ElementSpan, check_spans, scan

SUPPORTED_HYPERVISORS = ("kvm", "qemu")
RECORD_NAMESPACE = "http://stable-rescue.org/xmlns/rescue/1"
RECORD_NAMESPACE_PREFIX = "http://stable-rescue.org/xmlns/rescue/"

# The XML declaration's encoding pseudo-attribute, after an optional byte order mark.
_ENCODING = re.compile(
    r"""\ufeff?<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"'>]*)\1"""
)
_BOM = "\ufeff"
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})
# The encodings libxml2 reads (and so libvirt), by Python codec name. Only ones whose Python
# codec is a plain text encoding that round-trips: codecs such as idna, punycode, rot13 or
# unicode_escape are no XML encoding, and libvirt refuses a document that declares them.
_ACCEPTED_ENCODINGS = frozenset(
    {
        "utf-8",
        *_UTF16,
        "ascii",
        *(f"iso8859-{number}" for number in (*range(1, 12), *range(13, 17))),
        *(f"cp{number}" for number in range(1250, 1259)),
        "koi8-r",
        "koi8-u",
    }
)
# An XML EncName (XML 1.0, production 81).
_ENCODING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
# Whitespace as XML writes it; only these are safe between elements the rescue splices around.
_XML_SPACE = " \t\r\n"
# A line's indentation before a ``<``: what ``xmltext.indentation`` takes for an indent.
_INDENT = re.compile(r"\n([ \t\r]*[^\S \t\r\n][^\S\n]*)<")


@attrs.frozen(kw_only=True, eq=False)
class Document:
    """The input text, its parsed tree and each element's offsets in the text."""

    text: str
    root: etree._Element
    spans: dict[etree._Element, ElementSpan]
    # ``(start, end)`` of each comment and processing instruction inside the root element.
    other_spans: dict[etree._Element, tuple[int, int]]
    # Each device's xpath, built on the first ``find``: one XPath query per device is O(n²).
    _by_path: dict[str, etree._Element] = attrs.field(factory=dict, init=False)
    _indexed: set[etree._Element] = attrs.field(factory=set, init=False)

    def span(self, element: etree._Element) -> ElementSpan:
        """The offsets of ``element`` in ``text``."""
        return self.spans[element]

    def end_of(self, node: etree._Element) -> int:
        """Where ``node`` (an element, comment or processing instruction) ends in ``text``."""
        if isinstance(node.tag, str):
            return self.spans[node].end
        return self.other_spans[node][1]

    def index_paths(self, parent: etree._Element, paths: dict[etree._Element, str]) -> None:
        """Let ``find`` look up ``parent``'s children by xpath (``paths``: ``child_paths``)."""
        self._indexed.add(parent)
        self._by_path.update((path, element) for element, path in paths.items())

    def find(self, xpath: str) -> etree._Element:
        """The single element at ``xpath`` (as ``getpath`` wrote it)."""
        if xpath not in self._by_path:
            for child in self.root:
                if isinstance(child.tag, str) and child not in self._indexed:
                    self.index_paths(child, child_paths(child))
        if xpath in self._by_path:
            return self._by_path[xpath]
        found = self.root.getroottree().xpath(xpath)
        # Paths come from getpath on this very text, so exactly one element matches.
        assert isinstance(found, list)
        assert len(found) == 1
        element = found[0]
        assert isinstance(element, etree._Element)
        return element


def safe_parser() -> etree.XMLParser:
    """A parser for untrusted UTF-8: no entities, DTD or network, comments and blanks kept.

    A new one per document: lxml parsers must not be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        encoding="utf-8",
    )


def read_document(xml: str | bytes) -> Document:
    """Parse ``xml`` safely and locate every element in its text.

    Raises ``InvalidDomainXML`` for anything that is not a well-formed ``<domain>`` document.
    A byte order mark stays at the start of ``text``, so that the output keeps it.
    """
    text = _decode(xml)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidDomainXML(
            f"input has a lone surrogate U+{ord(text[error.start]):04X} at offset {error.start}; "
            "expected Unicode text that UTF-8 can encode"
        ) from None
    try:
        tree = etree.fromstring(encoded, safe_parser())
    except etree.XMLSyntaxError as error:
        message = str(error.msg).splitlines()[0] if error.msg else "malformed XML"
        raise InvalidDomainXML(
            f"input is not well-formed XML ({message}, line {error.lineno})",
            line=error.lineno,
        ) from None
    if tree.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise InvalidDomainXML("input has a DOCTYPE; expected a plain libvirt domain document")
    if tree.tag != "domain":
        raise InvalidDomainXML(f"root element is <{_local(tree.tag)}>; expected <domain>")
    for entity in tree.iter(etree.Entity):
        name = entity.name if isinstance(entity, etree._Entity) else "?"
        raise InvalidDomainXML(f"input uses entity '&{name};'; expected none")
    # Filtered by lxml in C, each in document order (as ``scan`` lists them).
    elements = list(tree.iter(etree.Element))
    others = list(tree.iter(etree.Comment, etree.ProcessingInstruction))
    spans, other_spans = scan(text)
    root_span = spans[0] if spans else None
    # Comments and PIs before or after the root element are not in tree.iter().
    inner = [
        span
        for span in other_spans
        if root_span is not None and root_span.start < span[0] < root_span.end
    ]
    # Offsets are trusted only where the scanner and lxml read the same elements (and comments
    # and PIs) in the same order: anything else is refused, never spliced.
    check_spans(text, spans, [_qualified(element) for element in elements])
    if len(inner) != len(others):
        raise InvalidDomainXML(
            f"text scanner found {len(inner)} comments and PIs where the parser found "
            f"{len(others)}; expected the same",
        )
    return Document(
        text=text,
        root=tree,
        spans=dict(zip(elements, spans, strict=True)),
        other_spans=dict(zip(others, inner, strict=True)),
    )


def _qualified(element: etree._Element) -> str:
    """An element's name as written: ``prefix:local``, or ``local``."""
    tag = element.tag
    if isinstance(tag, str) and not tag.startswith("{"):
        return tag  # no namespace: the tag is the name (the common case, made cheap)
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def declared_encoding(text: str) -> str | None:
    """The encoding an XML declaration at the start of ``text`` names, if any."""
    match = _ENCODING.match(text)
    return match.group(2) if match else None


def _decode(xml: str | bytes) -> str:
    """``xml`` as text, decoded as libxml2 would: by its byte order mark or its declaration.

    A UTF-8 byte order mark stays in the text (as U+FEFF), as the UTF-8 codec writes it back;
    a UTF-16 one is part of that encoding, and its codec writes it back.
    """
    if isinstance(xml, str):
        text = xml
        detected = None
    elif isinstance(xml, bytes):
        detected = _detect_encoding(xml)
        try:
            text = xml.decode(detected)
        except UnicodeError as error:
            raise InvalidDomainXML(
                f"input is not valid {detected} ({error.__class__.__name__}); "
                "expected text in its declared encoding (UTF-8 when none is declared)"
            ) from None
    else:
        raise InvalidDomainXML(
            f"input is a {type(xml).__name__}; expected the domain XML as str or bytes"
        )
    _check_encoding(text, detected)
    # lxml refuses str input that declares an encoding; the text is already decoded.
    return text


def _detect_encoding(xml: bytes) -> str:
    """The codec for ``xml`` (XML 1.0 appendix F): a byte order mark, else the declaration."""
    if xml.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if xml.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if xml.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    end = xml.find(b"?>") if xml.startswith(b"<?xml") else -1
    # The declaration is ASCII in every encoding it may name, so latin-1 reads it.
    name = declared_encoding(xml[: end + 2].decode("latin-1")) if end != -1 else None
    if name is None:
        return "utf-8"
    codec = _accepted_codec(name)
    if codec is None:
        raise _unread_encoding(name)
    # UTF-16 declared in bytes that are not: _check_encoding refuses it, naming both.
    return "utf-8" if codec in _UTF16 else codec


def _check_encoding(text: str, detected: str | None) -> None:
    """Refuse a declared encoding libvirt does not read, or one the bytes contradict."""
    name = declared_encoding(text)
    codec = _accepted_codec(name) if name is not None else None
    if name is not None and codec is None:
        raise _unread_encoding(name)
    family = "utf-16" if codec in _UTF16 else codec
    if detected is not None:
        found = "utf-16" if detected in _UTF16 else detected
        if codec is not None and family != found:
            raise InvalidDomainXML(
                f"input declares encoding '{name}' but is written in {found}; "
                "expected the declaration to name the encoding of the bytes",
                encoding=name,
            )
    if text.startswith(_BOM) and codec not in (None, "utf-8"):
        raise InvalidDomainXML(
            f"input starts with a byte order mark but declares encoding '{name}'; "
            "expected UTF-8 with a byte order mark, or no byte order mark",
            encoding=name,
        )


def _unread_encoding(name: str) -> InvalidDomainXML:
    return InvalidDomainXML(
        f"input declares encoding '{_shown(name[:40])}'; expected one libvirt reads, "
        "such as UTF-8, UTF-16, ISO-8859-1 or US-ASCII",
        encoding=name,
    )


def _accepted_codec(name: str) -> str | None:
    """The Python codec for the declared encoding ``name``, if libvirt reads that encoding."""
    if _ENCODING_NAME.fullmatch(name) is None:
        return None
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return codec if codec in _ACCEPTED_ENCODINGS else None


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else str(tag)


# --- the model ---------------------------------------------------------------------------------


def parse_domain(document: Document) -> Domain:
    """The planner's view of the domain in ``document``."""
    root = document.root
    hypervisor = root.get("type", "")
    # Checked before anything about devices: other drivers' domains follow other rules.
    if hypervisor not in SUPPORTED_HYPERVISORS:
        raise UnsupportedHypervisor(
            f"domain type '{hypervisor}'; expected kvm or qemu", hypervisor=hypervisor
        )
    _check_single(root, "os")
    _check_single(root, "devices")
    os_element = root.find("os")
    type_element = os_element.find("type") if os_element is not None else None
    arch = type_element.get("arch") if type_element is not None else None
    machine_name = type_element.get("machine") if type_element is not None else None
    if not arch or not machine_name:
        raise UnsupportedMachine(
            "domain has no <os><type arch machine>; expected both, as virsh dumpxml prints them"
        )
    machine = classify_machine(arch, machine_name)
    devices_element = root.find("devices")
    if devices_element is None:
        raise InvalidDomain("domain has no <devices>; expected them as virsh dumpxml prints them")
    for container in (root, os_element, devices_element):
        _check_no_text(document, container)
    _check_indentation(document)
    devices: list[Device] = []
    disks: list[Disk] = []
    controllers: list[Controller] = []
    paths = child_paths(devices_element)
    document.index_paths(devices_element, paths)
    elements = list(paths)
    children = [_first_children(element) for element in elements]
    keys = _device_keys(elements, paths, children)
    for element, kids, key in zip(elements, children, keys, strict=True):
        device = _device(element, kids, key, paths[element])
        devices.append(device)
        if element.tag == "disk":
            disks.append(_disk(element, kids, device))
        elif element.tag == "controller":
            controllers.append(_controller(element, kids, device))
    _check_unique_targets(disks)
    _check_unique_addresses(devices, disks)
    return Domain(
        hypervisor=hypervisor,
        machine=machine,
        firmware=_firmware(os_element),
        devices=tuple(devices),
        disks=tuple(disks),
        controllers=tuple(controllers),
        os_boot_devs=tuple(
            boot.get("dev", "")
            for boot in (os_element.findall("boot") if os_element is not None else [])
        ),
        interfaces=tuple(device for device in devices if device.tag == "interface"),
        rescued=find_record(root) is not None,
        live_signs=live_state_signs(root),
    )


def live_state_signs(root: etree._Element) -> tuple[str, ...]:
    """What marks ``root`` as a running domain's live XML rather than its persistent config.

    ``virsh dumpxml`` without ``--inactive`` adds ``<domain id>``, an ``<alias>`` that libvirt
    chose (not ``ua-``) on devices, and ``<source index>`` on disks; defining such a dump makes
    the live configuration persistent.
    """
    signs = []
    if root.get("id") is not None:
        signs.append(f"<domain id='{root.get('id')}'>")
    found = _CHOSEN_ALIASES(root)
    aliases = [
        alias.get("name", "")
        for alias in (found if isinstance(found, list) else [])
        if isinstance(alias, etree._Element)
    ]
    if aliases:
        signs.append(f"{len(aliases)} alias(es) libvirt chose, such as '{aliases[0]}'")
    if _SOURCE_INDEX(root):
        signs.append("<source index>")
    return tuple(signs)


# Compiled once, evaluated in C: Python's ElementPath would make a proxy for every alias.
_CHOSEN_ALIASES = etree.XPath("devices/*/alias[not(starts-with(@name, 'ua-'))]")
_SOURCE_INDEX = etree.XPath("boolean(devices/disk/source[@index])")


def _check_single(root: etree._Element, tag: str) -> None:
    """Refuse a second ``<os>`` or ``<devices>``.

    libvirt reads the children of all of them as one (virsh dumpxml then writes one), but the
    rescue edits, and unrescue restores, the first only: a device in the second would keep its
    PCI slot unseen, and an ``<os><boot dev>`` there would survive the rescue.
    """
    found = root.findall(tag)
    if len(found) > 1:
        raise InvalidDomain(
            f"domain has {len(found)} <{tag}> elements; expected one, as virsh dumpxml prints it",
            xpath=f"/domain/{tag}[2]",
        )


def _check_no_text(document: Document, container: etree._Element | None) -> None:
    """Refuse character data between the children of ``container``, as libvirt's schema does.

    The rescue inserts and removes children there, each with the whitespace before it; unrescue
    puts a child back after its neighbour. So only whitespace written as such (space, tab, CR,
    LF) may be there: not a character reference (``&#10;``), CDATA, or a Unicode space such as
    U+00A0 or U+2028, which lxml reads as whitespace but a splice would move.
    """
    if container is None:
        return
    text = document.text
    span = document.span(container)
    position = span.start_tag_end
    before: etree._Element | None = None
    for child in container:
        if isinstance(child.tag, str):
            child_span = document.span(child)
            start, end = child_span.start, child_span.end
        else:
            start, end = document.other_spans[child]
        if text[position:start].strip(_XML_SPACE):
            _refuse_text(container, before, text[position:start])
        position = end
        before = child
    if not span.self_closing and text[position : span.end_tag_start].strip(_XML_SPACE):
        _refuse_text(container, before, text[position : span.end_tag_start])


def _refuse_text(container: etree._Element, before: etree._Element | None, raw: str) -> None:
    """Refuse the text ``raw`` that follows ``before`` (or opens ``container``)."""
    parsed = container.text if before is None else before.tail
    if parsed is not None and parsed.strip():
        raise InvalidDomain(
            f"text '{_shown(parsed.strip(_XML_SPACE))}' among the children of "
            f"<{container.tag}>; expected only elements there, as libvirt's schema allows",
            xpath=_path(container),
        )
    raise InvalidDomain(
        f"'{_shown(raw.strip(_XML_SPACE))}' among the children of <{container.tag}>; "
        "expected only spaces, tabs and newlines written as such between them",
        xpath=_path(container),
    )


def _check_indentation(document: Document) -> None:
    """Refuse an element indented with a Unicode space other than space and tab.

    ``render`` indents what it inserts like the neighbours and removes it with the literal
    whitespace before it; an indentation of U+00A0 or U+3000 would be copied, and left behind.
    """
    starts: set[int] = set()
    for match in _INDENT.finditer(document.text):
        indent = match.group(1)
        starts = starts or {span.start for span in document.spans.values()}
        if match.end() - 1 in starts:
            raise InvalidDomain(
                f"indentation '{_shown(indent)}' at offset {match.start(1)}; "
                "expected only spaces and tabs before an element on its line",
                offset=match.start(1),
            )


def _shown(text: str) -> str:
    """At most 20 characters of ``text`` for a one-line message, unprintables escaped."""
    return "".join(
        char
        if char.isprintable() and (char == " " or not char.isspace())
        else f"\\u{ord(char):04x}"
        for char in text[:20]
    )


def find_record(root: etree._Element) -> etree._Element | None:
    """The rescue record in ``<metadata>``, of any version, if the domain has one.

    libvirt reads only the first ``<metadata>``; a record in any of them counts here, so that a
    second one is never rescued over or left behind by unrescue.
    """
    for metadata in root.findall("metadata"):
        for child in metadata:
            if isinstance(child.tag, str) and etree.QName(child).namespace is not None:
                namespace = etree.QName(child).namespace or ""
                if namespace.startswith(RECORD_NAMESPACE_PREFIX):
                    return child
    return None


def _check_unique_targets(disks: list[Disk]) -> None:
    seen: set[str] = set()
    for disk in disks:
        if disk.target in seen:
            raise InvalidDomain(
                f"disk target '{disk.target}' used twice; libvirt refuses duplicate targets",
                target=disk.target,
            )
        seen.add(disk.target)


def _check_unique_addresses(devices: list[Device], disks: list[Disk]) -> None:
    """Refuse two devices on one PCI function, USB port or drive unit, as libvirt does."""
    bus_of = {id(disk.device): disk.bus for disk in disks}
    seen: dict[tuple[object, ...], str] = {}
    for device in devices:
        address = device.address
        # Plain tuples: the addresses' own (attrs) hash costs a Python call per device.
        key: tuple[object, ...]
        if isinstance(address, PciAddress):
            key = ("pci", address.domain, address.bus, address.slot, address.function)
        elif isinstance(address, DriveAddress):
            bus = bus_of.get(id(device), device.tag)
            key = ("drive", bus, address.controller, address.bus, address.target, address.unit)
        elif isinstance(address, UsbAddress):
            key = ("usb", address.bus, address.port)
        elif isinstance(address, CcwAddress):
            key = ("ccw", address.cssid, address.ssid, address.devno)
        else:
            continue
        if key in seen:
            raise InvalidDomain(
                f"{device.xpath} has the address of {seen[key]}; libvirt refuses duplicates",
                xpath=device.xpath,
            )
        seen[key] = device.xpath


def device_keys(elements: list[etree._Element]) -> list[str]:
    """Each device's key, made unique in document order (``#2`` for the second alike)."""
    paths: dict[etree._Element, str] = {}
    for parent in {id(element.getparent()): element.getparent() for element in elements}.values():
        if parent is not None:
            paths.update(child_paths(parent))
    return _device_keys(elements, paths, [_first_children(element) for element in elements])


def _device_keys(
    elements: list[etree._Element],
    paths: dict[etree._Element, str],
    children: list[dict[str, etree._Element]],
) -> list[str]:
    counts: dict[str, int] = {}
    keys = []
    for element, kids in zip(elements, children, strict=True):
        key = device_key(element, paths.get(element), kids)
        counts[key] = counts.get(key, 0) + 1
        keys.append(key if counts[key] == 1 else f"{key}#{counts[key]}")
    return keys


def _first_children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each tag: what ``find(tag)`` returns, in one pass."""
    kids: dict[str, etree._Element] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in kids:
            kids[tag] = child
    return kids


def _device(
    element: etree._Element, kids: dict[str, etree._Element], key: str, path: str
) -> Device:
    if element.tag in _BOOTABLE_TAGS and not kids:
        # A rescue may have to give it a <boot> child; libvirt never dumps these empty.
        raise InvalidDomain(
            f"<{element.tag}> at {path} is empty; expected its children "
            "as virsh dumpxml prints them",
            xpath=path,
        )
    alias = kids.get("alias")
    if alias is not None and alias.get("name") is None:
        # libvirt drops it, so never dumps it; legacy mode renames the root disk's alias.
        raise InvalidDomain(
            f"<alias> without name at {path}; expected <alias name='...'/> "
            "as virsh dumpxml prints it",
            xpath=f"{path}/alias",
        )
    address_element = kids.get("address")
    address = _address(address_element) if address_element is not None else None
    boot = kids.get("boot")
    boot_order = None
    if boot is not None and boot.get("order") is None and element.tag in _BOOTABLE_TAGS:
        # libvirt: "missing boot order attribute"; the rescue could not renumber it either.
        raise InvalidDomain(
            f"<boot> without order at {path}; expected <boot order='N'/>, as libvirt requires",
            xpath=f"{path}/boot",
        )
    if boot is not None and boot.get("order") is not None:
        boot_order = _boot_order(boot)
        if boot_order < 1:
            raise InvalidDomain(
                f"boot order '{boot.get('order')}' at {_path(boot)}; expected an integer >= 1",
                xpath=_path(boot),
            )
    tag = str(element.tag)
    return Device(
        tag=tag,
        xpath=path,
        key=key,
        address=address,
        boot_order=boot_order,
        needs_address=address is None and _needs_address(element),
        is_usb_hub=tag == "hub" and element.get("type") == "usb",
        alias=None if alias is None else alias.get("name"),
    )


def _disk(element: etree._Element, kids: dict[str, etree._Element], device: Device) -> Disk:
    target = kids.get("target")
    if target is None or not target.get("dev"):
        # libvirt: "missing target information for device".
        raise InvalidDomain(
            f"disk at {device.xpath} has no <target dev>; expected one, as libvirt requires",
            xpath=device.xpath,
        )
    return Disk(
        device=device,
        device_type=element.get("device", "disk"),
        bus=target.get("bus", ""),
        target=target.get("dev", ""),
        readonly="readonly" in kids,
        source=_disk_source(kids.get("source")),
    )


def _disk_source(source: etree._Element | None) -> str | None:
    if source is None:
        return None
    for name in ("file", "dev", "name", "dir", "volume"):
        value = source.get(name)
        if value:
            return value
    return None


def _controller(
    element: etree._Element, kids: dict[str, etree._Element], device: Device
) -> Controller:
    target = kids.get("target")
    index = element.get("index")
    return Controller(
        device=device,
        type=element.get("type", ""),
        index=_int(element, "index") if index is not None else 0,
        model=element.get("model"),
        ports=_int(element, "ports") if element.get("ports") is not None else None,
        chassis=_int(target, "chassis") if target is not None and target.get("chassis") else None,
        port=_int(target, "port") if target is not None and target.get("port") else None,
        target_index=(
            _int(target, "index") if target is not None and target.get("index") else None
        ),
    )


def _firmware(os_element: etree._Element | None) -> Firmware:
    if os_element is None:
        return Firmware()
    loader = os_element.find("loader")
    secure = loader is not None and loader.get("secure") == "yes"
    for feature in os_element.iterfind("firmware/feature"):
        if feature.get("name") == "secure-boot" and feature.get("enabled") == "yes":
            secure = True
    efi = os_element.get("firmware") == "efi" or (
        loader is not None and loader.get("type", "pflash") == "pflash"
    )
    return Firmware(
        efi=efi,
        secure_boot=secure,
        kernel=os_element.findtext("kernel"),
        initrd=os_element.findtext("initrd"),
        cmdline=os_element.findtext("cmdline"),
    )


def _address(element: etree._Element) -> Address | None:
    kind = element.get("type", "")
    if kind == "drive":
        return DriveAddress(
            controller=_int(element, "controller", 0),
            bus=_int(element, "bus", 0),
            target=_int(element, "target", 0),
            unit=_int(element, "unit", 0),
        )
    if kind == "pci":
        return PciAddress(
            domain=_int(element, "domain", 0),
            bus=_int(element, "bus", 0),
            slot=_int(element, "slot", 0),
            function=_int(element, "function", 0),
            multifunction=element.get("multifunction") == "on",
        )
    if kind == "usb":
        port = element.get("port")
        try:
            ports = tuple(int(part) for part in port.split(".")) if port else ()
        except ValueError:
            raise InvalidDomain(
                f"usb port '{port}' at {_path(element)}; expected dotted numbers like '1.3'",
                xpath=_path(element),
            ) from None
        return UsbAddress(bus=_int(element, "bus", 0), port=ports)
    if kind == "ccw":
        return CcwAddress(
            cssid=_int(element, "cssid", 0),
            ssid=_int(element, "ssid", 0),
            devno=_int(element, "devno", 0),
        )
    if kind == "spapr-vio":
        # Without a reg, libvirt assigns one at define (qemuDomainAssignSpaprVIOAddress).
        return SpaprVioAddress(reg=_int(element, "reg")) if element.get("reg") else None
    return OtherAddress(type=kind)


def _int(element: etree._Element, name: str, default: int | None = None) -> int:
    """An integer attribute as libvirt reads it (strtol base 0: ``0x1f``, ``017``, ``31``)."""
    raw = element.get(name)
    if raw is None:
        if default is None:
            raise InvalidDomain(f"missing '{name}' at {_path(element)}", xpath=_path(element))
        return default
    number = _NUMBERS.get(raw)
    if number is None:
        number = _number(raw)
        if len(_NUMBERS) < 4096:
            _NUMBERS[raw] = number
    if number < 0:
        raise InvalidDomain(
            f"{name}='{raw}' at {_path(element)}; expected a non-negative integer",
            xpath=_path(element),
        )
    return number


# Each attribute text read so far and its value: a domain repeats a few ('0x0000', '0x00').
_NUMBERS: dict[str, int] = {}


def _number(raw: str) -> int:
    """``raw`` read as strtol base 0 reads it, or -1."""
    value = raw.strip()
    if "_" in value:
        return -1  # Python's int() takes '1_0'; strtol stops at the '_' and libvirt refuses it
    try:
        if value.lower().startswith("0x"):
            return int(value, 16)
        if len(value) > 1 and value.startswith("0"):
            return int(value, 8)
        return int(value, 10)
    except ValueError:
        return -1


# libvirt reads <boot order> in base 10 (virDomainDeviceBootParseXML: virXMLPropUInt with base
# 10, so strtoul's leading blanks and '+' pass and '0x1f' does not), unlike addresses (base 0).
BOOT_ORDER = re.compile(r"[ \t\n\r]*\+?([0-9]+)")


def _boot_order(boot: etree._Element) -> int:
    raw = boot.get("order", "")
    match = BOOT_ORDER.fullmatch(raw)
    if match is None:
        raise InvalidDomain(
            f"boot order '{raw}' at {_path(boot)}; expected a decimal integer >= 1 "
            "(libvirt reads it in base 10)",
            xpath=_path(boot),
        )
    return int(match.group(1))


def _path(element: etree._Element) -> str:
    return str(element.getroottree().getpath(element))


def child_paths(parent: etree._Element) -> dict[etree._Element, str]:
    """The xpath of each element child of ``parent``, exactly as ``getpath`` writes it.

    One pass for all children: ``getpath`` counts the siblings of each element anew, which is
    O(n²) for n devices. libxml2's xmlGetNodePath: an element in a namespace with a prefix is
    ``prefix:name``, one in a default namespace ``*``; ``[i]`` appears when a sibling shares the
    name and namespace (any element sibling, for ``*``), and counts those.
    """
    base = _path(parent)
    children = [child for child in parent if isinstance(child.tag, str)]
    keys = [_path_key(child) for child in children]
    totals: dict[tuple[str, str | None, bool] | None, int] = {}
    for key in keys:
        totals[key] = totals.get(key, 0) + 1
    seen: dict[tuple[str, str | None, bool] | None, int] = {}
    paths = {}
    for position, (child, key) in enumerate(zip(children, keys, strict=True), start=1):
        seen[key] = seen.get(key, 0) + 1
        if key is None:
            step = "*" if len(children) == 1 else f"*[{position}]"
        else:
            name = f"{key[1]}:{key[0]}" if key[1] is not None else key[0]
            step = name if totals[key] == 1 else f"{name}[{seen[key]}]"
        paths[child] = f"{base}/{step}"
    return paths


def _path_key(element: etree._Element) -> tuple[str, str | None, bool] | None:
    """Which siblings ``getpath`` counts together: ``None`` for a default namespace (``*``)."""
    tag = str(element.tag)
    if not tag.startswith("{"):
        return (tag, None, False)
    qname = etree.QName(element)
    if qname.namespace is None:
        return (qname.localname, None, False)
    if element.prefix is None:
        return None
    return (qname.localname, element.prefix, True)


def device_key(
    element: etree._Element,
    path: str | None = None,
    kids: dict[str, etree._Element] | None = None,
) -> str:
    """A name for the device that survives libvirt re-sorting ``<devices>``.

    ``path`` and ``kids`` (``_first_children``) spare the work when the caller has them.
    """
    tag = str(element.tag)
    if kids is None:
        kids = _first_children(element)
    if tag == "disk":
        target = kids.get("target")
        if target is not None and target.get("dev"):
            return f"disk:{target.get('dev')}"
    elif tag == "interface":
        mac = kids.get("mac")
        if mac is not None and mac.get("address"):
            return f"interface:{mac.get('address', '').lower()}"
    alias = kids.get("alias")
    if alias is not None and alias.get("name"):
        return f"{tag}:alias:{alias.get('name')}"
    source = kids.get("source")
    if source is not None:
        parts = [f"{key!s}={value!s}" for key, value in sorted(source.attrib.items())]
        for child in source:
            if isinstance(child.tag, str):
                parts.extend(f"{child.tag}.{k!s}={v!s}" for k, v in sorted(child.attrib.items()))
        if parts:
            return f"{tag}:" + ",".join(parts)
    return f"{tag}:{path if path is not None else _path(element)}"


# Elements that may carry <boot order> (libvirt's domain schema).
_BOOTABLE_TAGS = ("disk", "interface", "hostdev", "redirdev", "filesystem")

# Which devices libvirt gives an address to when they have none (qemu_domain_address.c).
_NO_ADDRESS_CONTROLLERS = {("pci", "pci-root"), ("pci", "pcie-root"), ("usb", "none")}


def _needs_address(element: etree._Element) -> bool:
    tag = element.tag
    if tag in ("disk", "interface", "hostdev", "redirdev", "filesystem", "rng", "vsock", "shmem"):
        return True
    if tag == "controller":
        kind = element.get("type", "")
        model = element.get("model", "")
        return kind not in ("fdc", "xenbus") and (kind, model) not in _NO_ADDRESS_CONTROLLERS
    if tag == "video":
        video_model = element.find("model")
        return video_model is None or video_model.get("type") != "none"
    if tag == "memballoon":
        return element.get("model") != "none"
    if tag == "input":
        return element.get("bus") in ("usb", "virtio")
    if tag == "sound":
        return element.get("model") not in ("pcspk",)
    if tag == "watchdog":
        return element.get("model") in ("i6300esb",)
    return tag == "hub"
