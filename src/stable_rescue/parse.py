"""Domain XML -> model: the planner's view of a domain, and what libvirt would refuse in it.

The document is read by ``document``; this module reads the domain in it: devices, disks,
controllers, addresses and boot orders, as libvirt reads them, refusing what libvirt refuses.
"""

from __future__ import annotations

import re

from lxml import etree

from stable_rescue.document import (
    BOOT_ORDER,
    Document,
    brief,
    child_paths,
    element_path,
    first_children,
    unique_keys,
)
from stable_rescue.errors import (
    InvalidDomain,
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
from stable_rescue.record import find_record

SUPPORTED_HYPERVISORS = ("kvm", "qemu")
# Whitespace as XML writes it; only these are safe between elements the rescue splices around.
_XML_SPACE = " \t\r\n"
# A line's indentation before a ``<``: what ``xmltext.indentation`` takes for an indent.
_INDENT = re.compile(r"\n([ \t\r]*[^\S \t\r\n][^\S\n]*)<")


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
    children = [first_children(element) for element in elements]
    keys = unique_keys(elements, paths, children)
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
    U+00A0 or U+2028, which lxml reads as whitespace but a splice would move. Where lxml's
    tails are the text's own characters (``Document.tails_are_literal``) they are read; else
    the text between the children's offsets is.
    """
    if container is None:
        return
    if document.tails_are_literal():
        # lxml's text and tails are the text's own characters here, white space included.
        if container.text is not None and container.text.strip(_XML_SPACE):
            _refuse_text(container, None, container.text)
        for child in container:
            if child.tail is not None and child.tail.strip(_XML_SPACE):
                _refuse_text(container, child, child.tail)
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
            f"text '{brief(parsed.strip(_XML_SPACE))}' among the children of "
            f"<{container.tag}>; expected only elements there, as libvirt's schema allows",
            xpath=element_path(container),
        )
    raise InvalidDomain(
        f"'{brief(raw.strip(_XML_SPACE))}' among the children of <{container.tag}>; "
        "expected only spaces, tabs and newlines written as such between them",
        xpath=element_path(container),
    )


def _check_indentation(document: Document) -> None:
    """Refuse an element indented with a Unicode space other than space and tab.

    ``render`` indents what it inserts like the neighbours and removes it with the literal
    whitespace before it; an indentation of U+00A0 or U+3000 would be copied, and left behind.
    """
    starts: set[int] = set()
    for match in _INDENT.finditer(document.text):
        indent = match.group(1)
        starts = starts or document.element_starts()
        if match.end() - 1 in starts:
            raise InvalidDomain(
                f"indentation '{brief(indent)}' at offset {match.start(1)}; "
                "expected only spaces and tabs before an element on its line",
                offset=match.start(1),
            )


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
    """Refuse two devices on one PCI function, USB port or drive unit, as libvirt does.

    Rule N7 relies on it: a disk put back twice is refused here.
    """
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
                f"boot order '{boot.get('order')}' at {element_path(boot)}; "
                "expected an integer >= 1",
                xpath=element_path(boot),
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
                f"usb port '{port}' at {element_path(element)}; expected dotted numbers like '1.3'",
                xpath=element_path(element),
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
            raise InvalidDomain(
                f"missing '{name}' at {element_path(element)}", xpath=element_path(element)
            )
        return default
    number = _NUMBERS.get(raw)
    if number is None:
        number = _number(raw)
        if len(_NUMBERS) < 4096:
            _NUMBERS[raw] = number
    if number < 0:
        raise InvalidDomain(
            f"{name}='{raw}' at {element_path(element)}; expected a non-negative integer",
            xpath=element_path(element),
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


def _boot_order(boot: etree._Element) -> int:
    """A ``<boot order>`` as libvirt reads it: base 10, leading blanks and '+' allowed.

    An order below 1 is refused by the caller (rule B8).
    """
    raw = boot.get("order", "")
    match = BOOT_ORDER.fullmatch(raw)
    if match is None:
        raise InvalidDomain(
            f"boot order '{raw}' at {element_path(boot)}; expected a decimal integer >= 1 "
            "(libvirt reads it in base 10)",
            xpath=element_path(boot),
        )
    return int(match.group(1))


# Elements that may carry <boot order> (libvirt's domain schema).
_BOOTABLE_TAGS = ("disk", "interface", "hostdev", "redirdev", "filesystem")

# Which devices libvirt gives an address to when they have none (qemu_domain_address.c).
_NO_ADDRESS_CONTROLLERS = {("pci", "pci-root"), ("pci", "pcie-root"), ("usb", "none")}


def _needs_address(element: etree._Element) -> bool:
    """Whether libvirt gives ``element`` an address at define when it has none.

    Rule A2.
    """
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
