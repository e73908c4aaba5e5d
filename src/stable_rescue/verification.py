"""Check any rescue, whoever made it: what moved between a domain and its rescue-mode twin.

A textual diff cannot say it: libvirt re-quotes, reorders devices and writes numbers in hex or
decimal. So both domains are read into devices matched by identity (a disk by its source, a
controller by type and index, an interface by MAC, any other device by its place among devices
of its kind), and compared by meaning: attribute order, quoting, whitespace, comments, number
bases and the ``<address>`` attributes libvirt fills in with defaults do not count, nor does this
library's own rescue record in ``<metadata>``, nor q35's built-in iTCO watchdog, which newer
libvirts add to every q35 dump.

A pair is a stable rescue (``ok``) when every device of the original is in the rescued domain at
the same address, with the same target and content apart from its ``<boot>``; exactly one disk
was added and it boots first; anything else added is a controller that disk needs; and the
previous boot sequence still follows. Everything else is a ``Finding``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Iterator

import attrs
from lxml import etree

from stable_rescue.boot import plan_boot
from stable_rescue.document import Document, child_paths, read_document
from stable_rescue.model import Address, Device, MachineFamily, Mode
from stable_rescue.parse import parse_domain
from stable_rescue.record import is_record_element

# Finding kinds (kebab-case, part of the API).
ADDED = "added"
REMOVED = "removed"
MOVED = "moved"
RETARGETED = "retargeted"
CHANGED = "changed"
BOOT_NOT_FIRST = "boot-not-first"
BOOT_ORDER_CHANGED = "boot-order-changed"
OS_BOOT_CHANGED = "os-boot-changed"
NO_RESCUE_DEVICE = "no-rescue-device"
FINDING_KINDS = (
    ADDED,
    REMOVED,
    MOVED,
    RETARGETED,
    CHANGED,
    BOOT_NOT_FIRST,
    BOOT_ORDER_CHANGED,
    OS_BOOT_CHANGED,
    NO_RESCUE_DEVICE,
)
# Children of a device compared on their own, not as content.
_NOT_CONTENT = ("boot", "address")
# Devices keyed by what they are (target, type and index, MAC), not by their place.
_KEYED_TAGS = ("disk", "controller", "interface")
# Disk buses whose address names a controller of the same type (its index: drive controller,
# USB bus).
_CONTROLLER_BUSES = frozenset({"scsi", "sata", "ide", "fdc", "usb"})


@attrs.frozen(kw_only=True)
class Finding:
    """One difference that keeps a pair from being a stable rescue."""

    kind: str
    # A stable key: ``disk:vda``, ``controller:scsi:0``, ``interface:52:54:00:...``, ``video:0``.
    device: str
    detail: str

    def __str__(self) -> str:
        """The finding on one line, as ``stable-rescue verify`` prints it."""
        return f"{self.kind} {self.device}: {self.detail}"


@attrs.frozen(kw_only=True)
class RescueDevice:
    """The disk the rescue added: its target, bus, device type and address."""

    target: str
    bus: str
    device: str
    address: Address | None


@attrs.frozen(kw_only=True)
class VerifyReport:
    """What ``verify`` found: ``ok`` exactly when there are no findings."""

    ok: bool
    # STABLE when every original device is kept; LEGACY when the added disk took the name of one
    # that was there before (Nova's historic layout), as far as the pair shows.
    mode: Mode
    rescue_device: RescueDevice | None
    findings: tuple[Finding, ...]


@attrs.frozen(kw_only=True)
class _Item:
    """One device of one domain, as compared here."""

    key: str
    element: etree._Element
    device: Device

    @property
    def address(self) -> Address | None:
        return self.device.address


def verify(original_xml: str | bytes, rescued_xml: str | bytes) -> VerifyReport:
    """Compare a domain with its rescue-mode twin, device by device.

    Raises a ``RescueError`` when either input is not a domain this library can read (the same
    errors as ``rescue``); every difference between two readable domains is a finding instead.
    """
    original = _Side(read_document(original_xml))
    rescued = _Side(read_document(rescued_xml))
    pairs, removed, added = _match(original.items, rescued.items)
    findings: list[Finding] = []
    for old, new in pairs:
        findings.extend(_device_findings(old, new))
    findings.extend(
        Finding(kind=REMOVED, device=item.key, detail=f"{_describe(item)} is not in the rescue")
        for item in removed
    )
    added_disks = [item for item in added if item.element.tag == "disk"]
    rescue = _rescue_disk(added_disks, rescued)
    if rescue is None:
        findings.append(Finding(kind=NO_RESCUE_DEVICE, device="domain", detail="no disk was added"))
    needed = _needed_controllers(rescue, rescued) if rescue is not None else set()
    for item in added:
        if item is rescue or item.key in needed or _chipset_watchdog(item, original):
            continue
        what = _NOT_NEEDED.get(str(item.element.tag), "a device a rescue does not add")
        described = _describe(item)
        detail = what if described == item.key else f"{described}: {what}"
        findings.append(Finding(kind=ADDED, device=item.key, detail=detail))
    findings.extend(_boot_findings(original, rescued, pairs, rescue))
    findings.extend(_domain_findings(original.document.root, rescued.document.root))
    legacy = rescue is not None and any(
        item.element.tag == "disk" and item.key == rescue.key for item in original.items
    )
    return VerifyReport(
        ok=not findings,
        mode=Mode.LEGACY if legacy else Mode.STABLE,
        rescue_device=None if rescue is None else _rescue_device(rescue),
        findings=tuple(findings),
    )


class _Side:
    """One domain: its document, model and devices with their keys."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.domain = parse_domain(document)
        by_xpath = {device.xpath: device for device in self.domain.devices}
        # One pass over the children, not getpath per device: that is O(n²) for n devices.
        paths = {
            element: path
            for devices in document.root.iterchildren("devices")
            for element, path in child_paths(devices).items()
        }
        self.items = [
            _Item(key=key, element=element, device=by_xpath[paths[element]])
            for element, key in _keyed(_device_elements(document.root))
        ]
        self.by_xpath = {item.device.xpath: item for item in self.items}


def _device_elements(root: etree._Element) -> list[etree._Element]:
    return [
        child
        for devices in root.iterchildren("devices")
        for child in devices
        if isinstance(child.tag, str) and child.tag != "emulator"
    ]


def _keyed(elements: list[etree._Element]) -> Iterator[tuple[etree._Element, str]]:
    """Each device with a key that survives libvirt reordering ``<devices>``."""
    ordinals: dict[str, int] = {}
    for element in elements:
        tag = str(element.tag)
        key = None
        if tag == "disk":
            target = element.find("target")
            key = f"disk:{target.get('dev')}" if target is not None else None
        elif tag == "controller":
            key = f"controller:{element.get('type', '')}:{element.get('index', '0')}"
        elif tag == "interface":
            mac = element.find("mac")
            if mac is not None and mac.get("address"):
                key = f"interface:{mac.get('address', '').lower()}"
        if key is None:
            ordinal = ordinals.get(tag, 0)
            ordinals[tag] = ordinal + 1
            key = f"{tag}:{ordinal}"
        yield element, key


def _match(
    originals: list[_Item], rescued: list[_Item]
) -> tuple[list[tuple[_Item, _Item]], list[_Item], list[_Item]]:
    """(original, rescued) pairs of the same device, the originals gone, the rescued added.

    Disks are the same device when they have the same source (so a disk renamed is found, and
    one renamed onto another's name is not taken for it); devices known by their place among
    their kind (``video:0``) when their content is the same, so that one dropped does not make
    the next look changed; every device, last, when its key is the same. In each of these
    passes an original takes the first rescued device not yet taken with the same identity,
    found through an index, so that matching stays linear however libvirt ordered the devices.
    """
    taken: set[int] = set()
    pairs: list[tuple[_Item, _Item]] = []
    left = list(originals)
    for identity in (_key_and_source, _disk_source, _kind_and_content, _key):
        candidates: dict[Hashable, deque[_Item]] = {}
        for other in rescued:
            if id(other) not in taken and (found := identity(other)) is not None:
                candidates.setdefault(found, deque()).append(other)
        unmatched = []
        for item in left:
            same = candidates.get(wanted) if (wanted := identity(item)) is not None else None
            if same:
                match = same.popleft()
                pairs.append((item, match))
                taken.add(id(match))
            else:
                unmatched.append(item)
        left = unmatched
    order = {id(item): position for position, item in enumerate(originals)}
    pairs.sort(key=lambda pair: order[id(pair[0])])
    return pairs, left, [other for other in rescued if id(other) not in taken]


# What makes two devices the same in each pass of ``_match``; None: never matched in it. Keys
# start with the element's tag, so equal keys mean the same kind of device.


def _key_and_source(item: _Item) -> Hashable | None:
    if item.element.tag != "disk":
        return None
    return (item.key, _source(item.element))


def _disk_source(item: _Item) -> Hashable | None:
    return _source(item.element) if item.element.tag == "disk" else None


def _kind_and_content(item: _Item) -> Hashable | None:
    """Devices keyed by their place among their kind, with the same content."""
    if item.element.tag in _KEYED_TAGS:
        return None
    return (item.element.tag, _content(item.element))


def _key(item: _Item) -> Hashable:
    return item.key


def _source(disk: etree._Element) -> tuple[object, ...] | None:
    """What a disk's ``<source>`` names, canonically (None: an empty drive)."""
    source = disk.find("source")
    if source is None or not (source.attrib or len(source)):
        return None
    return _canonical(source, ())


def _device_findings(old: _Item, new: _Item) -> Iterator[Finding]:
    if new.key != old.key and old.element.tag in _KEYED_TAGS:
        yield Finding(
            kind=RETARGETED, device=old.key, detail=f"{_describe(old)} is now {_describe(new)}"
        )
    if _address_form(old.element) != _address_form(new.element):
        yield Finding(
            kind=MOVED,
            device=old.key,
            detail=f"{_describe(old)} moved from {_address_text(old)} to {_address_text(new)}",
        )
    if _content(old.element) != _content(new.element):
        yield Finding(
            kind=CHANGED,
            device=old.key,
            detail=f"{_describe(old)} changed: "
            f"{_first_difference(_content(old.element), _content(new.element))}",
        )


def _rescue_disk(added_disks: list[_Item], rescued: _Side) -> _Item | None:
    """The added disk that boots first, else the last added disk."""
    if not added_disks:
        return None
    sequence = _sequence(rescued)
    for item in added_disks:
        if sequence and sequence[0] is item:
            return item
    return added_disks[-1]


def _needed_controllers(rescue: _Item, rescued: _Side) -> set[str]:
    """Keys of the controllers the rescue disk sits behind, through every bus up to a root."""
    controllers = {
        (str(item.element.get("type", "")), _number(item.element.get("index"))): item
        for item in rescued.items
        if item.element.tag == "controller"
    }
    needed: set[str] = set()
    pending = [rescue]
    while pending:
        item = pending.pop()
        for kind, index in _parents(item):
            parent = controllers.get((kind, index))
            if parent is not None and parent.key not in needed:
                needed.add(parent.key)
                pending.append(parent)
    return needed


def _parents(item: _Item) -> Iterable[tuple[str, int]]:
    """The controllers ``item``'s address names: its drive controller, its PCI bus."""
    address = item.element.find("address")
    if address is None:
        return ()
    kind = address.get("type")
    if kind == "drive" and item.element.tag == "disk":
        target = item.element.find("target")
        bus = "" if target is None else target.get("bus", "")
        return ((bus, _number(address.get("controller"))),) if bus in _CONTROLLER_BUSES else ()
    if kind == "usb":
        return (("usb", _number(address.get("bus"))),)
    if kind == "pci":
        return (("pci", _number(address.get("bus"))),)
    return ()


def _sequence(side: _Side) -> list[_Item]:
    """The domain's boot sequence, first device first."""
    return [side.by_xpath[device.xpath] for device in plan_boot(side.domain).sequence]


def _boot_findings(
    original: _Side,
    rescued: _Side,
    pairs: list[tuple[_Item, _Item]],
    rescue: _Item | None,
) -> Iterator[Finding]:
    sequence = _sequence(rescued)
    if rescue is not None and (not sequence or sequence[0] is not rescue):
        first = _describe(sequence[0]) if sequence else "nothing"
        yield Finding(
            kind=BOOT_NOT_FIRST,
            device=rescue.key,
            detail=f"{_describe(rescue)} does not boot first ({first} does)",
        )
    twin = {id(old): new for old, new in pairs}
    before = [twin[id(item)].key for item in _sequence(original) if id(item) in twin]
    after = [item.key for item in sequence if item is not rescue]
    if before != after:
        yield Finding(
            kind=BOOT_ORDER_CHANGED,
            device="domain",
            detail=f"boot sequence after the rescue disk is {after}; expected {before}",
        )


def _domain_findings(original: etree._Element, rescued: etree._Element) -> Iterator[Finding]:
    """Everything outside ``<devices>``: ``<os>`` apart from its ``<boot>``, and the rest."""
    old_os, new_os = original.find("os"), rescued.find("os")
    old_form = () if old_os is None else _canonical(old_os, ("boot",))
    new_form = () if new_os is None else _canonical(new_os, ("boot",))
    if old_form != new_form:
        difference = _first_difference(old_form, new_form) if old_form and new_form else "added"
        yield Finding(kind=OS_BOOT_CHANGED, device="os", detail=f"<os> changed: {difference}")
    olds = _top_level(original)
    news = _top_level(rescued)
    for tag in sorted(set(olds) | set(news)):
        if olds.get(tag) != news.get(tag):
            yield Finding(kind=CHANGED, device=f"domain:{tag}", detail=f"<{tag}> changed")


def _top_level(root: etree._Element) -> dict[str, list[tuple[object, ...]]]:
    """The children of ``<domain>`` but ``<os>`` and ``<devices>``, canonically, by tag."""
    found: dict[str, list[tuple[object, ...]]] = {}
    for child in root:
        if not isinstance(child.tag, str) or child.tag in ("os", "devices"):
            continue
        if child.tag == "metadata":
            form = _canonical_metadata(child)
            if form is None:
                continue
            found.setdefault("metadata", []).append(form)
            continue
        found.setdefault(str(child.tag), []).append(_canonical(child, ()))
    return found


def _canonical_metadata(metadata: etree._Element) -> tuple[object, ...] | None:
    """``<metadata>`` without this library's record; None when nothing else is in it."""
    kept = [
        child for child in metadata if isinstance(child.tag, str) and not is_record_element(child)
    ]
    if not kept:
        return None
    return tuple(_canonical(child, ()) for child in kept)


def _canonical(element: etree._Element, skip: tuple[str, ...]) -> tuple[object, ...]:
    """``element`` by meaning: tag, attributes in any order, trimmed text, children in order.

    Comments, processing instructions and whitespace between elements do not count; the
    direct children named in ``skip`` are left out.
    """
    children = tuple(
        _canonical(child, ())
        for child in element
        if isinstance(child.tag, str) and child.tag not in skip
    )
    text = (element.text or "").strip()
    return (str(element.tag), tuple(sorted(element.attrib.items())), text, children)


def _content(device: etree._Element) -> tuple[object, ...]:
    """A device's content: all but its ``<boot>``, ``<address>`` and a disk's target name.

    The target name is the disk's key, compared on its own (``retargeted``).
    """
    form = _canonical(device, _NOT_CONTENT)
    if device.tag != "disk":
        return form
    tag, attributes, text, children = form
    assert isinstance(children, tuple)
    return (tag, attributes, text, tuple(_without_dev(child) for child in children))


def _without_dev(form: object) -> object:
    assert isinstance(form, tuple)
    if form[0] != "target":
        return form
    attributes = tuple(item for item in form[1] if item[0] != "dev")
    return (form[0], attributes, *form[2:])


def _address_form(device: etree._Element) -> tuple[object, ...] | None:
    """The device's ``<address>`` with numbers read as libvirt reads them and defaults filled."""
    address = device.find("address")
    if address is None:
        return None
    kind = address.get("type", "")
    defaults = _ADDRESS_DEFAULTS.get(kind, {})
    values: dict[str, object] = {**defaults}
    for name, value in address.attrib.items():
        values[str(name)] = _number_or_text(str(value)) if name != "type" else value
    return tuple(sorted(values.items()))


# What libvirt assumes for an ``<address>`` attribute left out (its dumps always write them).
_ADDRESS_DEFAULTS: dict[str, dict[str, object]] = {
    "pci": {"domain": 0, "function": 0, "multifunction": "off"},
    "drive": {"controller": 0, "bus": 0, "target": 0, "unit": 0},
    "ccw": {"cssid": 0xFE, "ssid": 0},
}


def _number_or_text(value: str) -> object:
    try:
        return _number(value)
    except ValueError:
        return value


def _number(value: str | None) -> int:
    """An address number as libvirt reads it: C's strtol base 0 (``0x1f``, ``017``, ``31``)."""
    text = (value or "0").strip()
    if text.lower().startswith("0x"):
        return int(text, 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)
    return int(text, 10)


def _first_difference(old: object, new: object) -> str:
    """Where two canonical forms (from ``_canonical``) first differ, in a few words."""
    assert isinstance(old, tuple)
    assert isinstance(new, tuple)
    old_tag, old_attributes, old_text, old_children = old
    new_tag, new_attributes, new_text, new_children = new
    if old_tag != new_tag:
        return f"<{old_tag}> became <{new_tag}>"
    if old_attributes != new_attributes:
        olds, news = dict(old_attributes), dict(new_attributes)
        names = sorted(name for name in set(olds) | set(news) if olds.get(name) != news.get(name))
        return f"attribute {', '.join(names)} of <{old_tag}>"
    if old_text != new_text:
        return f"text of <{old_tag}>"
    for old_child, new_child in zip(old_children, new_children, strict=False):
        if old_child != new_child:
            return _first_difference(old_child, new_child)
    extra = new_children[len(old_children) :] or old_children[len(new_children) :]
    verb = "added to" if len(new_children) > len(old_children) else "removed from"
    return f"<{extra[0][0]}> {verb} <{old_tag}>"


def _chipset_watchdog(item: _Item, original: _Side) -> bool:
    """q35's iTCO watchdog, added where the original had none: libvirt's doing, not a change.

    The iTCO is part of the q35 chipset, there whether the XML says so or not (libvirt refuses an
    address on it). libvirt 11.3 writes it into every q35 definition it stores
    (qemuDomainDefAddDefaultDevices) and 9.0 does not, so a domain dumped by 9.0 and its rescue
    dumped by 11.3 differ by it while the guest has not changed.
    """
    element = item.element
    return (
        element.tag == "watchdog"
        and element.get("model") == "itco"
        and element.find("address") is None
        and original.domain.machine.family is MachineFamily.Q35
        and not any(
            other.element.tag == "watchdog" and other.element.get("model") == "itco"
            for other in original.items
        )
    )


# Why an added device other than the rescue disk and its controllers is a finding.
_NOT_NEEDED = {
    "disk": "a disk beside the rescue disk",
    "controller": "a controller the rescue disk does not use",
}


def _describe(item: _Item) -> str:
    if item.element.tag == "disk":
        target = item.element.find("target")
        dev = "?" if target is None else target.get("dev", "?")
        return f"disk {dev}"
    return item.key


def _address_text(item: _Item) -> str:
    address = item.element.find("address")
    if address is None:
        return "no address"
    attributes = " ".join(f"{name!s}='{value!s}'" for name, value in address.attrib.items())
    return f"<address {attributes}>"


def _rescue_device(item: _Item) -> RescueDevice:
    target = item.element.find("target")
    return RescueDevice(
        target="" if target is None else target.get("dev", ""),
        bus="" if target is None else target.get("bus", ""),
        device=item.element.get("device", "disk"),
        address=item.address,
    )
