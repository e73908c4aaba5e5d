"""Domain XML -> model. lxml lives here and in ``render``; nothing from lxml leaves them.

Parsing is safe by construction: no DTD, no entity expansion, no network (libvirt's own parser
refuses the same things).
"""

from __future__ import annotations

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
from stable_rescue.xmltext import ElementSpan, scan

SUPPORTED_HYPERVISORS = ("kvm", "qemu")
RECORD_NAMESPACE = "http://stable-rescue.org/xmlns/rescue/1"
RECORD_NAMESPACE_PREFIX = "http://stable-rescue.org/xmlns/rescue/"

_ENCODING = re.compile(r"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@attrs.frozen(kw_only=True, eq=False)
class Document:
    """The input text, its parsed tree and each element's offsets in the text."""

    text: str
    root: etree._Element
    spans: dict[etree._Element, ElementSpan]
    # ``(start, end)`` of each comment and processing instruction inside the root element.
    other_spans: dict[etree._Element, tuple[int, int]]

    def span(self, element: etree._Element) -> ElementSpan:
        """The offsets of ``element`` in ``text``."""
        return self.spans[element]

    def end_of(self, node: etree._Element) -> int:
        """Where ``node`` (an element, comment or processing instruction) ends in ``text``."""
        if isinstance(node.tag, str):
            return self.spans[node].end
        return self.other_spans[node][1]

    def find(self, xpath: str) -> etree._Element:
        """The single element at ``xpath`` (as ``getpath`` wrote it)."""
        found = self.root.getroottree().xpath(xpath)
        # Paths come from getpath on this very text, so exactly one element matches.
        assert isinstance(found, list)
        assert len(found) == 1
        element = found[0]
        assert isinstance(element, etree._Element)
        return element


def read_document(xml: str | bytes) -> Document:
    """Parse ``xml`` safely and locate every element in its text.

    Raises ``InvalidDomainXML`` for anything that is not a well-formed ``<domain>`` document.
    """
    text = _decode(xml)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        encoding="utf-8",
    )
    try:
        tree = etree.fromstring(text.encode("utf-8"), parser)
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
    for node in tree.iter():
        if isinstance(node, etree._Entity):
            raise InvalidDomainXML(f"input uses entity '&{node.name};'; expected none")
    elements = [node for node in tree.iter() if isinstance(node.tag, str)]
    others = [node for node in tree.iter() if not isinstance(node.tag, str)]
    spans, other_spans = scan(text)
    root_span = spans[0] if spans else None
    # Comments and PIs before or after the root element are not in tree.iter().
    inner = [
        span
        for span in other_spans
        if root_span is not None and root_span.start < span[0] < root_span.end
    ]
    if len(spans) != len(elements) or len(inner) != len(others):  # pragma: no cover - a bug
        raise AssertionError("element scanner out of step with lxml")
    return Document(
        text=text,
        root=tree,
        spans=dict(zip(elements, spans, strict=True)),
        other_spans=dict(zip(others, inner, strict=True)),
    )


def declared_encoding(text: str) -> str | None:
    """The encoding an XML declaration at the start of ``text`` names, if any."""
    match = _ENCODING.match(text)
    return match.group(1) if match else None


def _decode(xml: str | bytes) -> str:
    if isinstance(xml, str):
        text = xml
    elif isinstance(xml, bytes):
        # The declaration is ASCII in every encoding it may name, so latin-1 reads it.
        encoding = declared_encoding(xml[:200].decode("latin-1")) or "utf-8"
        try:
            text = xml.decode(encoding)
        except (LookupError, UnicodeDecodeError) as error:
            raise InvalidDomainXML(
                f"input is not valid {encoding} ({error.__class__.__name__}); expected UTF-8 XML"
            ) from None
    else:
        raise InvalidDomainXML(
            f"input is a {type(xml).__name__}; expected the domain XML as str or bytes"
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    # lxml refuses str input that declares an encoding; the text is already decoded.
    return text


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
        _check_no_text(container)
    devices: list[Device] = []
    disks: list[Disk] = []
    controllers: list[Controller] = []
    elements = [element for element in devices_element if isinstance(element.tag, str)]
    for element, key in zip(elements, device_keys(elements), strict=True):
        device = _device(element, key)
        devices.append(device)
        if element.tag == "disk":
            disks.append(_disk(element, device))
        elif element.tag == "controller":
            controllers.append(_controller(element, device))
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
    aliases = [
        alias.get("name", "")
        for alias in root.iterfind("devices/*/alias")
        if not alias.get("name", "").startswith("ua-")
    ]
    if aliases:
        signs.append(f"{len(aliases)} alias(es) libvirt chose, such as '{aliases[0]}'")
    if any(True for _ in root.iterfind("devices/disk/source[@index]")):
        signs.append("<source index>")
    return tuple(signs)


def _check_no_text(container: etree._Element | None) -> None:
    """Refuse character data between the children of ``container``, as libvirt's schema does.

    The rescue inserts and removes children there; text among them has no place to go back to.
    """
    if container is None:
        return
    texts = [container.text, *(child.tail for child in container)]
    for text in texts:
        if text is not None and text.strip():
            shown = text.strip()[:20]
            raise InvalidDomain(
                f"text '{shown}' among the children of <{container.tag}>; "
                "expected only elements there, as libvirt's schema allows",
                xpath=_path(container),
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
    bus_of = {disk.device.xpath: disk.bus for disk in disks}
    seen: dict[tuple[object, ...], str] = {}
    for device in devices:
        address = device.address
        if isinstance(address, DriveAddress):
            key: tuple[object, ...] = ("drive", bus_of.get(device.xpath, device.tag), address)
        elif isinstance(address, (PciAddress, UsbAddress, CcwAddress)):
            key = (type(address).__name__, address)
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
    counts: dict[str, int] = {}
    keys = []
    for element in elements:
        key = device_key(element)
        counts[key] = counts.get(key, 0) + 1
        keys.append(key if counts[key] == 1 else f"{key}#{counts[key]}")
    return keys


def _device(element: etree._Element, key: str) -> Device:
    if element.tag in _BOOTABLE_TAGS and not any(isinstance(c.tag, str) for c in element):
        # A rescue may have to give it a <boot> child; libvirt never dumps these empty.
        raise InvalidDomain(
            f"<{element.tag}> at {_path(element)} is empty; expected its children "
            "as virsh dumpxml prints them",
            xpath=_path(element),
        )
    address_element = element.find("address")
    address = _address(address_element) if address_element is not None else None
    boot = element.find("boot")
    boot_order = None
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
        xpath=_path(element),
        key=key,
        address=address,
        boot_order=boot_order,
        needs_address=address is None and _needs_address(element),
        is_usb_hub=tag == "hub" and element.get("type") == "usb",
    )


def _disk(element: etree._Element, device: Device) -> Disk:
    target = element.find("target")
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
        readonly=element.find("readonly") is not None,
        source=_disk_source(element),
    )


def _disk_source(element: etree._Element) -> str | None:
    source = element.find("source")
    if source is None:
        return None
    for name in ("file", "dev", "name", "dir", "volume"):
        value = source.get(name)
        if value:
            return value
    return None


def _controller(element: etree._Element, device: Device) -> Controller:
    target = element.find("target")
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
    value = raw.strip()
    try:
        if value.lower().startswith("0x"):
            number = int(value, 16)
        elif len(value) > 1 and value.startswith("0"):
            number = int(value, 8)
        else:
            number = int(value, 10)
    except ValueError:
        number = -1
    if number < 0:
        raise InvalidDomain(
            f"{name}='{raw}' at {_path(element)}; expected a non-negative integer",
            xpath=_path(element),
        )
    return number


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


def device_key(element: etree._Element) -> str:
    """A name for the device that survives libvirt re-sorting ``<devices>``."""
    tag = str(element.tag)
    if tag == "disk":
        target = element.find("target")
        if target is not None and target.get("dev"):
            return f"disk:{target.get('dev')}"
    elif tag == "interface":
        mac = element.find("mac")
        if mac is not None and mac.get("address"):
            return f"interface:{mac.get('address', '').lower()}"
    alias = element.find("alias")
    if alias is not None and alias.get("name"):
        return f"{tag}:alias:{alias.get('name')}"
    source = element.find("source")
    if source is not None:
        parts = [f"{key!s}={value!s}" for key, value in sorted(source.attrib.items())]
        for child in source:
            if isinstance(child.tag, str):
                parts.extend(f"{child.tag}.{k!s}={v!s}" for k, v in sorted(child.attrib.items()))
        if parts:
            return f"{tag}:" + ",".join(parts)
    return f"{tag}:{_path(element)}"


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
