"""An independent reading of docs/policy.md for the property tests: what a rescue must do.

Nothing here imports ``stable_rescue`` when it runs (a type, for the checker, only): the domain
is read with the standard library's ElementTree, and placement is a brute-force search. Every
place a rescue device (or a controller added for it) could go is enumerated, the ones the policy
forbids are thrown out, and the rest are ranked by the policy's preference. An empty list means
the request must be refused; otherwise the first entry is where the rescue must go.

Only the machines ``stable_rescue.testing`` generates (pc, q35, aarch64 virt, ppc64 pseries, s390x
s390-ccw-virtio) and well-formed, fully addressed domains are modelled.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from stable_rescue.testing import RescueCall

PCI_SLOTS = range(1, 32)
DRIVE_BUSES = ("ide", "sata", "scsi", "fdc")
# (buses per controller, units per bus, how many controllers QEMU offers) -- rules D3, D4.
DRIVE_GEOMETRY = {"ide": (2, 2, 1), "sata": (1, 6, None), "scsi": (1, 7, None), "fdc": (1, 2, 1)}
PREFIXES = {"virtio": "vd", "ide": "hd", "scsi": "sd", "sata": "sd", "usb": "sd", "fdc": "fd"}
USB_PORTS = {
    "piix3-uhci": 2,
    "piix4-uhci": 2,
    "vt82c686b-uhci": 2,
    "ehci": 6,
    "ich9-ehci1": 6,
    "pci-ohci": 3,
}
SCSI_MODELS = (
    "virtio-scsi",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
FORMATS = (
    "raw",
    "qcow2",
    "qcow",
    "qed",
    "vmdk",
    "vdi",
    "vpc",
    "bochs",
    "cloop",
    "dmg",
)
BUS_NAMES = ("virtio", "scsi", "sata", "ide", "usb", "fdc")
# Buses a machine lacks: bus-unavailable (docs/policy.md: D5, V2, V6, C4).
ABSENT_BUSES = {
    "pc": (),
    "q35": ("ide",),
    "virt": ("ide", "fdc"),
    "pseries": ("ide", "fdc"),
    "s390x": ("ide", "fdc", "usb", "sata"),
}
DEVICE_NAMES = ("disk", "cdrom", "floppy", "lun")

Address = tuple[
    object, ...
]  # ("pci", bus, slot, function) / ("drive", c, b, t, u) / ("usb", b, "p")


def number(text: str | None) -> int:
    """An attribute as libvirt reads numbers (``0x1f``, ``31``)."""
    assert text is not None
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)


def address_of(element: ET.Element | None) -> Address | None:
    """The ``<address>`` child of a device as a comparable tuple."""
    found = None if element is None else element.find("address")
    if found is None:
        return None
    kind = found.get("type")
    if kind == "pci":
        return (
            "pci",
            number(found.get("bus")),
            number(found.get("slot")),
            number(found.get("function")),
        )
    if kind == "drive":
        return (
            "drive",
            *(number(found.get(name, "0")) for name in ("controller", "bus", "target", "unit")),
        )
    if kind == "usb":
        return ("usb", number(found.get("bus")), found.get("port", ""))
    if kind == "ccw":
        return ("ccw", *(number(found.get(name)) for name in ("cssid", "ssid", "devno")))
    if kind == "spapr-vio" and found.get("reg"):
        return ("spapr-vio", number(found.get("reg")))
    return (str(kind),)


def phb_target_index(element: ET.Element) -> int | None:
    """A controller's ``<target index>`` (a pseries PHB's), if it has one."""
    target = element.find("target")
    if target is None or target.get("index") is None:
        return None
    return number(target.get("index"))


def disk_index(name: str) -> int | None:
    """The 0-based index of ``vdX``-style names (bijective base 26); None for ``vdc1``."""
    match = re.fullmatch(r"(?:fd|hd|vd|sd)([a-z]+)", name)
    if match is None:
        return None
    value = 0
    for letter in match.group(1):
        value = value * 26 + ord(letter) - ord("a") + 1
    return value - 1


def name_for(prefix: str, index: int) -> str:
    """``prefix`` and the letters of ``index``: (``sd``, 27) -> ``sdab``."""
    letters = ""
    value = index + 1
    while value:
        value, rest = divmod(value - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return prefix + letters


def derived_address(bus: str, index: int) -> Address:
    """The drive address libvirt derives from a name's index (rule T4)."""
    if bus == "ide":
        return ("drive", index // 4, (index % 4) // 2, 0, index % 2)
    if bus == "sata":
        return ("drive", index // 6, 0, 0, index % 6)
    if bus == "scsi":
        return ("drive", index // 7, 0, 0, index % 7)
    return ("drive", 0, 0, 0, index)


# --- the domain, read independently ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Controller:
    """A ``<controller>``."""

    type: str
    index: int
    model: str | None
    ports: int | None
    address: Address | None
    multifunction: bool
    target_index: int | None = None  # a pseries PHB's <target index>


@attrs.frozen(kw_only=True)
class Disk:
    """A ``<disk>``."""

    bus: str
    target: str
    device: str
    address: Address | None


class DomainView:
    """What the policy looks at in a domain, read with ElementTree."""

    def __init__(self, xml: str) -> None:
        root = ET.fromstring(xml)
        type_element = root.find("os/type")
        assert type_element is not None
        machine = type_element.get("machine", "")
        arch = type_element.get("arch", "")
        families = {"aarch64": "virt", "ppc64": "pseries", "s390x": "s390x"}
        self.family = families.get(arch, "q35" if "q35" in machine else "pc")
        devices = root.find("devices")
        assert devices is not None
        self.devices = list(devices)
        self.disks = [
            Disk(
                bus=target.get("bus", ""),
                target=target.get("dev", ""),
                device=element.get("device", "disk"),
                address=address_of(element),
            )
            for element in devices.iter("disk")
            if (target := element.find("target")) is not None
        ]
        self.controllers = []
        for element in devices.iter("controller"):
            found = element.find("address")
            self.controllers.append(
                Controller(
                    type=element.get("type", ""),
                    index=number(element.get("index", "0")),
                    model=element.get("model"),
                    ports=number(element.get("ports")) if element.get("ports") else None,
                    address=address_of(element),
                    multifunction=found is not None and found.get("multifunction") == "on",
                    target_index=phb_target_index(element),
                )
            )
        self.addresses = [address_of(element) for element in self.devices]
        self.pci_used = {
            (address[1], address[2], address[3])
            for address in self.addresses
            if address is not None and address[0] == "pci"
        }
        self.os_boot = [boot.get("dev", "") for boot in root.findall("os/boot")]

    def controllers_of(self, kind: str) -> list[Controller]:
        return sorted(
            (c for c in self.controllers if c.type == kind), key=lambda controller: controller.index
        )

    def pci_index_after(self) -> int:
        return max((c.index for c in self.controllers if c.type == "pci"), default=0) + 1


# --- expected outcomes -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Added:
    """A controller the rescue must add."""

    type: str
    index: int
    model: str | None
    address: Address | None


@attrs.frozen(kw_only=True)
class Expected:
    """What ``rescue`` must do: refuse with ``code``, or place the device as described."""

    code: str | None = None
    why: str = ""
    bus: str = ""
    device: str = ""
    target: str = ""
    address: Address | None = None
    added: tuple[Added, ...] = ()


class Refused(Exception):
    """The policy refuses the request."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


def expected_outcome(xml: str, request: RescueCall) -> Expected:
    """The outcome docs/properties.md and docs/policy.md prescribe for a generated domain."""
    try:
        return _expected(DomainView(xml), request)
    except Refused as refusal:
        return Expected(code=refusal.code, why=refusal.why)


def _expected(domain: DomainView, request: RescueCall) -> Expected:
    properties = dict(request.properties)
    # The order of the checks is docs/properties.md's "Order of the checks".
    device = properties.get("hw_rescue_device", "disk")
    if device not in DEVICE_NAMES:
        raise Refused("unsupported-rescue-device", device)
    if "hw_rescue_bus" in properties and properties["hw_rescue_bus"] not in BUS_NAMES:
        raise Refused("unsupported-rescue-bus", properties["hw_rescue_bus"])
    source_type, source_name = _source(request.source)
    if (request.initrd is not None or request.cmdline is not None) and request.kernel is None:
        raise Refused("invalid-boot-options", "initrd or cmdline without kernel")
    if request.source_format is not None:
        if request.source_format not in FORMATS:
            raise Refused("unsupported-source-format", request.source_format)
    elif not source_name.lower().endswith((".qcow2", ".raw", ".iso")):
        raise Refused("source-format-required", source_name)
    # Legacy mode (rules L1 to L7) is not modelled: properties of stable mode only.
    assert "hw_rescue_bus" in properties or "hw_rescue_device" in properties
    bus = _bus(domain, properties, device)
    if bus in ABSENT_BUSES[domain.family]:
        raise Refused("bus-unavailable", f"no {bus} on {domain.family}")
    if device == "cdrom" and bus == "virtio":
        raise Refused("unsupported-device-for-bus", "cdrom on virtio")
    if (device == "floppy") != (bus == "fdc"):
        raise Refused("unsupported-device-for-bus", f"{device} on {bus}")
    # docs/errors.md: "a format other than raw for a lun" (libvirt: "disk device 'lun' must
    # use 'raw' format"); properties.md's order of the checks does not place it: it comes
    # where rescue() checks it, before the lun's bus and source.
    if device == "lun" and request.source_format not in (None, "raw"):
        raise Refused("unsupported-source-format", f"lun in {request.source_format}")
    if device == "lun" and source_name.lower().endswith(".qcow2") and not request.source_format:
        raise Refused("unsupported-source-format", "lun in qcow2 (from the name)")
    if device == "lun" and bus != "scsi":
        raise Refused("unsupported-device-for-bus", f"lun on {bus}")
    if device == "lun" and (source_type == "file" or request.source.startswith("rbd://")):
        raise Refused("unsupported-source-for-device", f"lun on {source_type}")
    address, added = placements(domain, bus, properties.get("hw_scsi_model"))
    target = target_name(domain, bus)
    return Expected(bus=bus, device=device, target=target, address=address, added=added)


def _source(source: str) -> tuple[str, str]:
    """(source type, the name whose suffix may settle the format) of a generated source."""
    if "://" in source and not source.startswith("/"):
        scheme, _, rest = source.partition("://")
        if scheme not in ("rbd", "iscsi"):
            raise Refused("invalid-source", source)
        return "network", rest.partition("?")[0].partition("/")[2]
    if not source.startswith("/"):
        raise Refused("invalid-source", source)
    return ("block" if source.startswith("/dev/") else "file"), source


def _bus(domain: DomainView, properties: dict[str, str], device: str) -> str:
    if "hw_rescue_bus" in properties:
        return properties["hw_rescue_bus"]
    if device == "lun":
        return "scsi"
    name = {"disk": "hw_disk_bus", "cdrom": "hw_cdrom_bus", "floppy": "hw_floppy_bus"}[device]
    if name in properties:
        if properties[name] not in BUS_NAMES:
            raise Refused("unsupported-rescue-bus", f"{name}={properties[name]}")
        return properties[name]
    if device == "cdrom":
        return {"pc": "ide", "q35": "sata"}.get(domain.family, "scsi")
    return {"disk": "virtio", "floppy": "fdc"}[device]


# --- placement ---------------------------------------------------------------------------------


def placements(
    domain: DomainView, bus: str, scsi_model: str | None
) -> tuple[Address, tuple[Added, ...]]:
    """The first legal place for the rescue device, and the controllers it needs added."""
    if bus == "virtio":
        if domain.family == "s390x":
            return ccw_place(domain), ()  # C1
        if domain.family == "virt" and any(
            disk.bus == "virtio" and disk.address == ("virtio-mmio",) for disk in domain.disks
        ):
            return ("virtio-mmio",), ()  # M1
        return pci_place(domain, conventional=False)
    if bus == "usb":
        candidates = list(usb_candidates(domain))
        if not candidates:
            raise Refused("bus-full", "no free USB port")
        return candidates[0], ()
    free = list(drive_candidates(domain, bus))
    if free:
        return free[0], ()
    return new_drive_controller(domain, bus, scsi_model)


def drive_taken(domain: DomainView, bus: str) -> set[Address]:
    """Rule D1: explicit addresses on the bus (and, on scsi, every hostdev's drive address)."""
    taken = {disk.address for disk in domain.disks if disk.bus == bus and disk.address}
    for disk in domain.disks:
        if (
            disk.bus == bus
            and disk.address is None
            and (index := disk_index(disk.target)) is not None
        ):
            taken.add(derived_address(bus, index))
    if bus == "scsi":
        for element, address in zip(domain.devices, domain.addresses, strict=True):
            if element.tag == "hostdev" and address is not None and address[0] == "drive":
                taken.add(address)
    return taken


def drive_controllers(domain: DomainView, bus: str) -> list[int]:
    """Rule D2: the bus's controllers by index; q35's SATA 0 exists whatever the XML says."""
    indexes = {controller.index for controller in domain.controllers_of(bus)}
    if bus == "sata" and domain.family == "q35":
        indexes.add(0)
    return sorted(indexes)


def drive_candidates(domain: DomainView, bus: str) -> Iterator[Address]:
    """Rule D3: every unit of every existing controller, in the order they are filled."""
    buses, units, _ = DRIVE_GEOMETRY[bus]
    taken = drive_taken(domain, bus)
    if bus == "ide" and domain.family != "pc":
        return
    for controller in drive_controllers(domain, bus):
        for drive_bus in range(buses):
            for unit in range(units):
                address: Address = ("drive", controller, drive_bus, 0, unit)
                if address not in taken:
                    yield address


def new_drive_controller(
    domain: DomainView, bus: str, scsi_model: str | None
) -> tuple[Address, tuple[Added, ...]]:
    """Rules D4, D5: a new controller one above the highest, the device on its first unit."""
    existing = drive_controllers(domain, bus)
    index = max(existing) + 1 if existing else 0
    limit = DRIVE_GEOMETRY[bus][2]
    if limit is not None and index >= limit:
        raise Refused("bus-full", f"{bus} controller 0 full and the only one")
    address: Address = ("drive", index, 0, 0, 0)
    if bus == "ide":
        return address, (Added(type="ide", index=index, model=None, address=("pci", 0, 1, 1)),)
    if bus == "fdc":
        return address, (Added(type="fdc", index=index, model=None, address=None),)
    model = None
    conventional = True
    if bus == "scsi":
        model = scsi_model or "virtio-scsi"
        if domain.family == "s390x":
            if model != "virtio-scsi":
                raise Refused("unsupported-scsi-model", f"{model} on s390x (C3)")
            return address, (Added(type=bus, index=index, model=model, address=ccw_place(domain)),)
        if model == "ibmvscsi" and domain.family == "pseries":
            return address, (Added(type=bus, index=index, model=model, address=vio_place(domain)),)
        if model not in SCSI_MODELS:
            raise Refused("unsupported-scsi-model", model)
        conventional = model != "virtio-scsi"
    place, added = pci_place(domain, conventional=conventional)
    return address, (*added, Added(type=bus, index=index, model=model, address=place))


def ccw_place(domain: DomainView) -> Address:
    """Rule C1: the lowest devno in css 0xfe, subchannel set 0 that no device holds."""
    used = {
        a[3] for a in domain.addresses if a is not None and a[0] == "ccw" and a[1:3] == (0xFE, 0)
    }
    devno = next(devno for devno in range(0x10000) if devno not in used)
    return ("ccw", 0xFE, 0, devno)


def vio_place(domain: DomainView) -> Address:
    """Rule V7: the first spapr-vio reg from 0x2000 in steps of 0x1000 that no device holds."""
    used = {a[1] for a in domain.addresses if a is not None and a[0] == "spapr-vio"}
    reg = next(reg for reg in range(0x2000, 1 << 32, 0x1000) if reg not in used)
    return ("spapr-vio", reg)


def pci_free_slots(domain: DomainView, include_root: bool) -> list[Address]:
    """Rules P1, P2: slots with no function in use on pci-root and the PCI bridges.

    pseries' pci-roots are its PHBs (rule V5), each a bus with slots 1 to 31.
    """
    buses = [0] if include_root and domain.family == "pc" else []
    # In index order, as libvirt searches its buses (PHBs and bridges alike on pseries).
    buses += [
        c.index
        for c in domain.controllers_of("pci")
        if c.model in ("pci-bridge", "pcie-to-pci-bridge")
        or (c.model == "pci-root" and include_root and domain.family == "pseries")
    ]
    free: list[Address] = []
    for bus in buses:
        for slot in PCI_SLOTS:
            if bus == 0 and domain.family == "pc" and slot == 1:
                continue  # the PIIX3 chipset
            if all((bus, slot, function) not in domain.pci_used for function in range(8)):
                free.append(("pci", bus, slot, 0))
    return free


def pci_place(domain: DomainView, conventional: bool) -> tuple[Address, tuple[Added, ...]]:
    """Where one new PCI device goes (P3 on pc, pseries; E1 to E6 on q35, virt), and additions."""
    if domain.family in ("pc", "pseries"):
        free = pci_free_slots(domain, include_root=True)
        if len(free) >= 2:
            return free[0], ()
        if domain.family == "pseries":
            # V5: a new PHB (pci-root), which takes no slot; the device in its slot 1.
            index = domain.pci_index_after()
            return ("pci", index, 1, 0), (
                Added(type="pci", index=index, model="pci-root", address=None),
            )
        if len(free) == 1:
            # E6 asks for a warning only: the bridge has no other place to go.
            index = domain.pci_index_after()
            bridge = Added(type="pci", index=index, model="pci-bridge", address=free[0])
            return ("pci", index, 1, 0), (bridge,)
        raise Refused("bus-full", "no free PCI slot")
    if not conventional:
        empty = empty_ports(domain)
        if empty:
            return ("pci", empty[0], 0, 0), ()
        return new_root_port(domain)
    free = pci_free_slots(domain, include_root=False)
    if free:
        return free[0], ()
    # E5 and E6: the new pcie-to-pci-bridge goes where its bus is last in firmware order.
    empty = empty_ports(domain)
    last = [port for port in empty if comes_last(domain, (port, 0, 0))]
    added: tuple[Added, ...] = ()
    if last:
        port_address: Address = ("pci", last[0], 0, 0)
    else:
        places = root_port_places(domain)
        keeping = [place for place in places if comes_last(domain, (0, *place))]
        if keeping or not empty:
            port_address, added = new_root_port(domain)
        else:
            port_address = ("pci", empty[0], 0, 0)
    index = max([domain.pci_index_after()] + [a.index + 1 for a in added])
    bridge = Added(type="pci", index=index, model="pcie-to-pci-bridge", address=port_address)
    return ("pci", index, 1, 0), (*added, bridge)


def empty_ports(domain: DomainView) -> list[int]:
    """Rule E1: root and downstream ports with no device behind them, lowest index first."""
    occupied = {bus for bus, _, _ in domain.pci_used}
    ports = ("pcie-root-port", "pcie-switch-downstream-port")
    return [
        c.index
        for c in domain.controllers_of("pci")
        if c.model in ports and c.index not in occupied
    ]


def root_port_places(domain: DomainView) -> list[tuple[int, int]]:
    """Rules E3, E4: every (slot, function) of pcie-root a new root port may take, in order."""
    root_ports_mf = {
        c.address[2]
        for c in domain.controllers
        if c.model == "pcie-root-port"
        and c.address is not None
        and c.address[1] == 0
        and c.address[3] == 0
        and c.multifunction
    }
    candidates: list[tuple[int, int, int]] = []  # (rank, slot, function)
    for slot in PCI_SLOTS:
        if slot == 0x1F and domain.family == "q35":
            continue
        slot_empty = all((0, slot, f) not in domain.pci_used for f in range(8))
        for function in range(8):
            if (0, slot, function) in domain.pci_used:
                continue
            if function > 0 and slot in root_ports_mf:
                candidates.append((0, slot, function))
            elif function == 0 and slot_empty:
                candidates.append((1, slot, function))
    return [(slot, function) for _, slot, function in sorted(candidates)]


def new_root_port(domain: DomainView) -> tuple[Address, tuple[Added, ...]]:
    """Rules E2, E3, E6: the first place whose bus comes last in firmware order, else the first."""
    places = root_port_places(domain)
    if not places:
        raise Refused("bus-full", "no place on pcie-root for a root port")
    keeping = [place for place in places if comes_last(domain, (0, *place))]
    slot, function = (keeping or places)[0]
    index = domain.pci_index_after()
    port = Added(
        type="pci", index=index, model="pcie-root-port", address=("pci", 0, slot, function)
    )
    return ("pci", index, 0, 0), (port,)


NEW_BUS = -1


def firmware_order(buses: dict[int, tuple[int, int, int]]) -> list[int]:
    """Rule E6: bus indexes as firmware numbers them, depth first in slot and function order.

    ``buses`` maps each bus a controller provides to (parent bus, slot, function).
    """
    order: list[int] = []

    def visit(bus: int) -> None:
        for child in sorted(
            (place[1:], index) for index, place in buses.items() if place[0] == bus
        ):
            order.append(child[1])
            visit(child[1])

    visit(0)
    return order


def comes_last(domain: DomainView, place: tuple[int, int, int]) -> bool:
    """Whether a new bus at (parent bus, slot, function) would be numbered after every other."""
    buses = {
        c.index: (int(str(c.address[1])), int(str(c.address[2])), int(str(c.address[3])))
        for c in domain.controllers
        if c.type == "pci" and c.address is not None and c.address[0] == "pci"
    }
    return firmware_order({**buses, NEW_BUS: place})[-1] == NEW_BUS


def usb_candidates(domain: DomainView) -> Iterator[Address]:
    """Rules U1 to U4: root ports by controller index, then hub ports by hub address."""
    controllers = domain.controllers_of("usb")
    if not controllers or any(c.model == "none" for c in controllers):
        raise Refused("bus-unavailable", "no USB controller, or USB disabled")
    taken = {address for address in domain.addresses if address is not None and address[0] == "usb"}
    ports: list[Address] = []
    for controller in controllers:
        model = controller.model or ("piix3-uhci" if domain.family == "pc" else "qemu-xhci")
        if model in ("nec-xhci", "qemu-xhci"):
            count = min(controller.ports or 4, 15)
        else:
            count = USB_PORTS.get(model, 0)
        ports.extend(("usb", controller.index, str(port)) for port in range(1, count + 1))
    hubs = sorted(
        (address[1], tuple(int(p) for p in str(address[2]).split(".")))
        for element, address in zip(domain.devices, domain.addresses, strict=True)
        if element.tag == "hub" and address is not None and address[0] == "usb"
    )
    for hub_bus, hub_port in hubs:
        for port in range(1, 9):
            ports.append(("usb", hub_bus, ".".join(str(p) for p in (*hub_port, port))))
    seen: set[Address] = set()
    for port_address in ports:
        if port_address not in taken and port_address not in seen:
            seen.add(port_address)
            yield port_address


def target_name(domain: DomainView, bus: str) -> str:
    """Rules T1 to T6: the lowest index whose name is free, by brute force over indexes."""
    prefix = PREFIXES[bus]
    names = {disk.target for disk in domain.disks}
    same_bus = {disk_index(d.target) for d in domain.disks if d.bus == bus}
    taken = drive_taken(domain, bus) if bus in DRIVE_BUSES else set()
    limit = {"ide": 4, "fdc": 2}.get(bus, 1000)
    for index in range(limit):
        name = name_for(prefix, index)
        if name in names:
            continue
        if bus in ("virtio", "usb") and index in same_bus:
            continue
        if bus in DRIVE_BUSES and derived_address(bus, index) in taken:
            continue
        return name
    raise Refused("bus-full", f"no free name on {bus}")


# --- boot --------------------------------------------------------------------------------------


def boot_sequence(xml: str) -> list[int]:
    """Rules B3 to B6: the positions (among ``<devices>`` children) of the old boot sequence."""
    domain = DomainView(xml)
    ordered = [
        (number(boot.get("order")), position)
        for position, element in enumerate(domain.devices)
        if (boot := element.find("boot")) is not None
    ]
    if ordered:
        return [position for _, position in sorted(ordered)]
    disks = [
        (position, element)
        for position, element in enumerate(domain.devices)
        if element.tag == "disk"
    ]
    groups: dict[str, int] = {}
    for _, element in disks:
        target = element.find("target")
        groups.setdefault("" if target is None else target.get("bus", ""), len(groups))

    def libvirt_order(item: tuple[int, ET.Element]) -> tuple[int, int, int]:
        position, element = item
        target = element.find("target")
        assert target is not None
        index = disk_index(target.get("dev", ""))
        return (groups[target.get("bus", "")], 1 << 30 if index is None else index, position)

    disks.sort(key=libvirt_order)
    wanted = {"hd": ("disk", "lun"), "cdrom": ("cdrom",), "fd": ("floppy",)}
    sequence: list[int] = []
    for dev in domain.os_boot or ["hd"]:
        if dev == "network":
            found = next(
                (p for p, element in enumerate(domain.devices) if element.tag == "interface"), None
            )
        else:
            found = next(
                (p for p, element in disks if element.get("device", "disk") in wanted[dev]), None
            )
        if found is not None and found not in sequence:
            sequence.append(found)
    return sequence
