"""Hypothesis strategies: libvirt domains as ``virsh dumpxml --inactive`` prints them, and requests.

``domains()`` builds pc (``pc-i440fx-7.2``) and q35 (``pc-q35-7.2``) x86_64 guests of type qemu
or kvm the way libvirt 9.0 dumps them (tests/golden/*/input.xml show the shapes): every
addressable device has an explicit address, controllers are listed, and only what libvirt accepts
at ``virsh define`` is generated (``test_properties.test_libvirt_accepts_generated_domains``
checks a sample with a real libvirt). Within that, it draws what makes placement interesting:
disks on every bus with gaps in names and addresses and names that do not match their addresses,
several SCSI, SATA and USB controllers of different models, USB hubs, SCSI hostdevs, crowded and
empty PCI topologies, NICs and other PCI devices, either ``<os><boot dev>`` entries or per-device
``<boot order>`` (never both), direct kernel boot, comments and foreign ``<metadata>``.

``rescue_requests()`` draws the image properties, source and options of a rescue, valid or not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stable_rescue

T = TypeVar("T")

PC = "pc"
Q35 = "q35"
FAMILIES = (PC, Q35)
MACHINES = {PC: "pc-i440fx-7.2", Q35: "pc-q35-7.2"}
BUSES = ("virtio", "scsi", "sata", "ide", "usb", "fdc")
DEVICE_TYPES = ("disk", "cdrom", "floppy", "lun")
# SCSI controller models qemu-system-x86_64 7.2 has, by their libvirt names.
SCSI_MODELS = (
    "virtio-scsi",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
SOURCE_FORMATS = ("raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc", "luks")
# (bus, device) pairs that docs/properties.md's "Device on bus" table allows.
FITS = frozenset(
    [(bus, "disk") for bus in ("virtio", "scsi", "sata", "ide", "usb")]
    + [(bus, "cdrom") for bus in ("scsi", "sata", "ide", "usb")]
    + [("fdc", "floppy"), ("scsi", "lun")]
)
# Legacy mode (neither hw_rescue_bus nor hw_rescue_device; docs/policy.md rules L1 to L7).
# rescue_requests() draws legacy requests too while this is on; rescue_requests(legacy=False)
# draws stable-mode requests only, for the properties of stable mode.
LEGACY_REQUESTS = True

Line = tuple[int, str]  # (depth below the element's own line, text)
Pci = tuple[int, int, int]  # (bus, slot, function) in PCI domain 0


BOOLEANS = st.booleans()
_PICK = st.integers(0, 1 << 10)


@functools.cache
def sampled(*options: Any) -> st.SearchStrategy[Any]:
    """One of ``options``, about uniformly; shrinks to the first.

    Built once (building strategies per draw is slow). Unlike ``st.sampled_from``, whose
    choices in a long composite draw cluster on the first and last options, this spreads them.
    """
    return _PICK.map(lambda value: options[value % len(options)])


@functools.cache
def ints(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers(low, high)``, built once."""
    return st.integers(low, high)


def pick(draw: st.DrawFn, options: list[T]) -> T:
    """One of ``options`` (shrinks to the first); cheaper than building a strategy per call."""
    return options[draw(_PICK) % len(options)]


def pci_address(address: Pci, multifunction: bool = False) -> str:
    """An ``<address type='pci'>`` as libvirt formats it."""
    bus, slot, function = address
    extra = " multifunction='on'" if multifunction else ""
    return (
        f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='{slot:#04x}' "
        f"function='{function:#x}'{extra}/>"
    )


def drive_address(controller: int, bus: int, target: int, unit: int) -> str:
    """An ``<address type='drive'>``."""
    return (
        f"<address type='drive' controller='{controller}' bus='{bus}' target='{target}' "
        f"unit='{unit}'/>"
    )


def usb_address(bus: int, port: tuple[int, ...]) -> str:
    """An ``<address type='usb'>``, the port dotted through hubs."""
    return f"<address type='usb' bus='{bus}' port='{'.'.join(str(p) for p in port)}'/>"


def suffix(index: int) -> str:
    """Bijective base 26: 0 -> a, 25 -> z, 26 -> aa."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


PREFIX = {"virtio": "vd", "ide": "hd", "scsi": "sd", "sata": "sd", "usb": "sd", "fdc": "fd"}


# --- devices -----------------------------------------------------------------------------------


@attrs.define
class Dev:
    """One child of ``<devices>`` under construction; ``boot`` goes before ``tail``."""

    tag: str
    open: str
    body: list[Line] = attrs.Factory(list)
    tail: list[Line] = attrs.Factory(list)
    bootable: bool = False
    boot: int | None = None

    def lines(self) -> list[Line]:
        """The element's lines, depth 0 being its own."""
        if self.open.endswith("/>"):
            return [(0, self.open)]
        boot = [(1, f"<boot order='{self.boot}'/>")] if self.boot is not None else []
        return [(0, self.open), *self.body, *boot, *self.tail, (0, f"</{self.tag}>")]


@attrs.define
class DiskDev:
    """A disk: bus, device type and source now; its name once every disk is placed."""

    bus: str
    device: str
    source_lines: list[Line]
    opening: str
    address: str
    derived_index: int | None
    name_style: str
    wanted_index: int
    dev: Dev | None = None
    target: str = ""


@attrs.frozen(kw_only=True)
class DiskSpec:
    """What ``disks()`` draws: one disk before it is placed in a domain."""

    bus: str
    device: str
    source_type: str
    name_style: str  # "derived": the name libvirt would give its address; "random": any free one
    wanted_index: int
    dense: bool  # take the first free unit (as libvirt would) rather than any free one
    empty_cdrom: bool = False


@attrs.frozen(kw_only=True)
class GeneratedDomain:
    """A generated domain XML and what the properties want to know about it."""

    xml: str
    family: str
    boot_style: str  # "os", "orders" or "none"
    labels: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # The XML itself, so a failing example prints something to paste into a file.
        head = f"GeneratedDomain(family={self.family!r}, boot_style={self.boot_style!r}"
        return f"{head}, xml=\n{self.xml})"


# --- PCI topology ------------------------------------------------------------------------------


class PciTopology:
    """The PCI buses of a domain being built, and which functions are used."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.used: set[Pci] = set()
        self.used_slots: set[tuple[int, int]] = set()
        # Buses with conventional slots 1..31 (pci-root on pc, pci-bridges, pcie-to-pci-bridges).
        self.conventional: list[int] = [0] if family == PC else []
        # PCIe ports (root ports, switch downstream ports): one device, at slot 0.
        self.ports: list[int] = []
        self.next_index = 1
        self.reserved_root = {0, 1} if family == PC else {0, 0x1F}

    def index(self) -> int:
        """The next PCI controller index (a controller's index is above its parent bus)."""
        index = self.next_index
        self.next_index += 1
        return index

    def use(self, address: Pci) -> None:
        """Mark ``address`` used."""
        self.used.add(address)
        self.used_slots.add(address[:2])

    def slot_free(self, bus: int, slot: int) -> bool:
        """No function of ``bus:slot`` used."""
        return (bus, slot) not in self.used_slots

    def free_conventional(self) -> list[Pci]:
        """Free slots on conventional buses, in libvirt's order."""
        return [
            (bus, slot, 0)
            for bus in self.conventional
            for slot in range(1, 32)
            if not (bus == 0 and slot in self.reserved_root) and self.slot_free(bus, slot)
        ]

    def free_ports(self) -> list[Pci]:
        """Slot 0 of every empty PCIe port."""
        return [(bus, 0, 0) for bus in self.ports if self.slot_free(bus, 0)]

    def free_root(self) -> list[Pci]:
        """Free slots directly on pcie-root (q35's integrated devices)."""
        if self.family != Q35:
            return []
        return [
            (0, slot, 0)
            for slot in range(1, 32)
            if slot not in self.reserved_root and self.slot_free(0, slot)
        ]

    def take(self, draw: st.DrawFn, pcie: bool, dense: bool) -> Pci | None:
        """A free place for one endpoint, or None when the topology is full."""
        if self.family == PC:
            options = self.free_conventional()
        elif pcie:
            options = self.free_ports() or self.free_root()
        else:
            options = self.free_conventional() or self.free_ports() or self.free_root()
        if not options:
            return None
        chosen = options[0] if dense else pick(draw, options)
        self.use(chosen)
        return chosen


# --- the domain --------------------------------------------------------------------------------


@functools.cache
def disks(family: str = PC) -> st.SearchStrategy[DiskSpec]:
    """One disk of any bus the machine has, any device type that bus takes."""
    buses = [bus for bus in BUSES if not (bus == "ide" and family != PC)]
    return sampled(*buses).flatmap(lambda bus: _disk_on(bus))


@functools.cache
def _disk_on(bus: str) -> st.SearchStrategy[DiskSpec]:
    devices = {
        "virtio": ["disk"],
        "scsi": ["disk", "cdrom", "lun"],
        "sata": ["disk", "cdrom"],
        "ide": ["disk", "cdrom"],
        "usb": ["disk", "cdrom"],
        "fdc": ["floppy"],
    }[bus]
    return st.builds(
        DiskSpec,
        bus=st.just(bus),
        device=sampled(*devices),
        source_type=sampled("file", "file", "block", "network"),
        name_style=sampled("derived", "random"),
        wanted_index=st.integers(0, 30) | st.integers(26, 60),
        dense=st.booleans(),
        empty_cdrom=st.booleans(),
    )


class DomainBuilder:
    """Collects the devices of one generated domain."""

    def __init__(self, draw: st.DrawFn, family: str) -> None:
        self.draw = draw
        self.family = family
        self.pci = PciTopology(family)
        self.pci_controllers: list[Dev] = []
        self.controllers: list[Dev] = []
        self.disks: list[DiskDev] = []
        self.interfaces: list[Dev] = []
        self.inputs: list[Dev] = []
        self.hostdevs: list[Dev] = []
        self.hubs: list[Dev] = []
        self.others: list[Dev] = []  # memballoon, rng: after hubs
        self.video: list[Dev] = []
        self.labels: list[str] = []
        self.macs = 0
        # Drive buses: controller index -> (bus, target, unit) slots and the taken ones.
        self.drive_controllers: dict[str, dict[int, list[tuple[int, int, int]]]] = {
            "scsi": {},
            "sata": {},
            "ide": {},
            "fdc": {},
        }
        self.drive_taken: dict[str, set[tuple[int, int, int, int]]] = {
            bus: set() for bus in self.drive_controllers
        }
        self.scsi_models: dict[int, str] = {}
        self.usb_root_ports: dict[int, int] = {}
        self.usb_none = False
        self.usb_taken: set[tuple[int, tuple[int, ...]]] = set()
        self.usb_hubs: list[tuple[int, tuple[int, ...]]] = []

    # PCI ---------------------------------------------------------------------------------

    def endpoint(self, pcie: bool, dense: bool | None = None) -> Pci | None:
        if dense is None:
            dense = self.draw(BOOLEANS)
        return self.pci.take(self.draw, pcie, dense)

    def pci_controller(self, model: str, address: Pci, extra: list[Line], mf: bool = False) -> int:
        index = self.pci.index()
        names = {
            "pcie-to-pci-bridge": "pcie-pci-bridge",
            "pcie-switch-upstream-port": "x3130-upstream",
            "pcie-switch-downstream-port": "xio3130-downstream",
        }
        body: list[Line] = [(1, f"<model name='{names.get(model, model)}'/>"), *extra]
        self.pci_controllers.append(
            Dev(
                tag="controller",
                open=f"<controller type='pci' index='{index}' model='{model}'>",
                body=body,
                tail=[(1, pci_address(address, mf))],
            )
        )
        return index

    def topology(self) -> None:
        draw = self.draw
        if self.family == PC:
            for _ in range(draw(ints(0, 2))):
                address = self.endpoint(pcie=False)
                if address is None:
                    break
                index = self.pci.index()
                self.pci_controllers.append(
                    Dev(
                        tag="controller",
                        open=f"<controller type='pci' index='{index}' model='pci-bridge'>",
                        body=[
                            (1, "<model name='pci-bridge'/>"),
                            (1, f"<target chassisNr='{index}'/>"),
                        ],
                        tail=[(1, pci_address(address))],
                    )
                )
                self.pci.conventional.append(index)
                self.labels.append("pci-bridge")
            return
        # q35: root ports as libvirt lays them out (several functions of one multifunction
        # slot) or one per slot; few, many, or (crowded) every slot of pcie-root.
        layout = draw(sampled("multifunction", "multifunction", "separate"))
        crowded = draw(chance(10))
        count = 29 if crowded and layout == "separate" else draw(ints(0, 12))
        if crowded:
            self.labels.append("q35-root-crowded")
            count = 29 if layout == "separate" else draw(ints(12, 24))
        single_mf = draw(BOOLEANS)
        first_slot = 2
        for position in range(count):
            if layout == "separate":
                slot, function = first_slot + position, 0
                if slot in self.pci.reserved_root or slot > 31:
                    break
            else:
                slot, function = first_slot + position // 8, position % 8
            index = self.pci.next_index
            port = slot * 8 + function
            in_slot = count - (position - function) if layout == "multifunction" else 1
            mf = layout == "multifunction" and function == 0 and (in_slot > 1 or single_mf)
            self.pci.use((0, slot, function))
            self.pci_controller(
                "pcie-root-port",
                (0, slot, function),
                [(1, f"<target chassis='{index}' port='{port:#x}'/>")],
                mf=mf,
            )
            self.pci.ports.append(index)
        if draw(chance(4)):
            # A switch: upstream port behind a root port, downstream ports behind it.
            address = self._free_port()
            if address is not None:
                upstream = self.pci_controller("pcie-switch-upstream-port", address, [])
                for slot in range(draw(ints(1, 3))):
                    index = self.pci.next_index
                    self.pci.use((upstream, slot, 0))
                    self.pci_controller(
                        "pcie-switch-downstream-port",
                        (upstream, slot, 0),
                        [(1, f"<target chassis='{index}' port='{slot:#x}'/>")],
                    )
                    self.pci.ports.append(index)
                self.labels.append("pcie-switch")
        if draw(chance(4)):
            address = self._free_port()
            if address is not None:
                bridge = self.pci_controller("pcie-to-pci-bridge", address, [])
                self.pci.conventional.append(bridge)
                self.labels.append("pcie-to-pci-bridge")
                if draw(BOOLEANS):
                    slot = draw(ints(1, 31))
                    self.pci.use((bridge, slot, 0))
                    index = self.pci.next_index
                    self.pci_controller(
                        "pci-bridge", (bridge, slot, 0), [(1, f"<target chassisNr='{index}'/>")]
                    )
                    self.pci.conventional.append(index)
                    self.labels.append("pci-bridge")

    def _free_port(self) -> Pci | None:
        """Slot 0 of the first empty PCIe port, taken (switches and bridges plug only there)."""
        ports = self.pci.free_ports()
        if not ports:
            return None
        self.pci.use(ports[0])
        return ports[0]

    # controllers -------------------------------------------------------------------------

    def add_drive_controller(self, bus: str, model: str | None = None) -> int | None:
        """A new SCSI or SATA controller on a free PCI slot (None: no room)."""
        existing = self.drive_controllers[bus]
        index = max(existing, default=-1) + 1
        if bus == "scsi":
            model = model or self.draw(sampled(*SCSI_MODELS))
            address = self.endpoint(pcie=model == "virtio-scsi")
            opening = f"<controller type='scsi' index='{index}' model='{model}'>"
            self.scsi_models[index] = model
        else:
            address = self.endpoint(pcie=False)
            opening = f"<controller type='sata' index='{index}'>"
        if address is None:
            return None
        self.controllers.append(
            Dev(tag="controller", open=opening, tail=[(1, pci_address(address))])
        )
        units = 7 if bus == "scsi" else 6
        existing[index] = [(0, 0, unit) for unit in range(units)]
        return index

    def usb_controllers(self) -> None:
        draw = self.draw
        kind = draw(
            sampled("default", "default", "default", "none", "ich9", "nec-xhci", "qemu-xhci")
        )
        if kind == "none":
            self.usb_none = True
            self.controllers.append(
                Dev(tag="controller", open="<controller type='usb' index='0' model='none'/>")
            )
            self.labels.append("usb-none")
            return
        if kind == "default" and self.family == PC:
            self.pci.use((0, 1, 2))
            self._usb_controller(0, "piix3-uhci", (0, 1, 2), None)
        elif kind == "ich9" and self._ich9_set():
            pass
        else:
            model = "qemu-xhci" if kind in ("default", "ich9") else kind
            if not self._usb_pci_controller(0, model):
                self.usb_none = True
                self.controllers.append(
                    Dev(tag="controller", open="<controller type='usb' index='0' model='none'/>")
                )
                return
        for index in range(1, 1 + draw(ints(0, 2))):
            model = draw(
                sampled("piix3-uhci", "piix4-uhci", "pci-ohci", "ehci", "nec-xhci", "qemu-xhci")
            )
            if not self._usb_pci_controller(index, model):
                break
            self.labels.append("usb-several")

    def _usb_pci_controller(self, index: int, model: str) -> bool:
        ports = None
        if model in ("nec-xhci", "qemu-xhci"):
            ports = self.draw(sampled(None, None, 4, 2, 8, 15))
        address = self.endpoint(pcie=model in ("nec-xhci", "qemu-xhci"))
        if address is None:
            return False
        self._usb_controller(index, model, address, ports)
        return True

    def _usb_controller(self, index: int, model: str, address: Pci, ports: int | None) -> None:
        ports_attr = f" ports='{ports}'" if ports is not None else ""
        self.controllers.append(
            Dev(
                tag="controller",
                open=f"<controller type='usb' index='{index}' model='{model}'{ports_attr}>",
                tail=[(1, pci_address(address))],
            )
        )
        count = {"piix3-uhci": 2, "piix4-uhci": 2, "pci-ohci": 3, "ehci": 6}.get(model, 4)
        if model in ("nec-xhci", "qemu-xhci"):
            count = ports or 4
        self.usb_root_ports[index] = count

    def _ich9_set(self) -> bool:
        """ich9-ehci1 with its three uhci companions, on one multifunction slot."""
        if self.family == Q35 and self.pci.slot_free(0, 0x1D):
            slot = 0x1D
        else:
            free = [
                address[1]
                for address in (
                    self.pci.free_root() if self.family == Q35 else self.pci.free_conventional()
                )
                if address[0] == 0
            ]
            if not free:
                return False
            slot = free[-1]
        for function in (7, 0, 1, 2):
            self.pci.use((0, slot, function))
        self._usb_controller(0, "ich9-ehci1", (0, slot, 7), None)
        for number, function in ((1, 0), (2, 1), (3, 2)):
            self.controllers.append(
                Dev(
                    tag="controller",
                    open=f"<controller type='usb' index='0' model='ich9-uhci{number}'>",
                    body=[(1, f"<master startport='{2 * (number - 1)}'/>")],
                    tail=[(1, pci_address((0, slot, function), multifunction=function == 0))],
                )
            )
        self.usb_root_ports[0] = 6
        self.labels.append("usb-ich9")
        return True

    # USB devices -------------------------------------------------------------------------

    def free_usb_ports(self) -> list[tuple[int, tuple[int, ...]]]:
        ports: list[tuple[int, tuple[int, ...]]] = [
            (index, (port,))
            for index in sorted(self.usb_root_ports)
            for port in range(1, self.usb_root_ports[index] + 1)
        ]
        for bus, hub in sorted(self.usb_hubs):
            ports.extend((bus, (*hub, port)) for port in range(1, 9))
        return [port for port in ports if port not in self.usb_taken]

    def take_usb(self, dense: bool) -> tuple[int, tuple[int, ...]] | None:
        free = self.free_usb_ports()
        if self.usb_none or not free:
            return None
        chosen = free[0] if dense else pick(self.draw, free)
        self.usb_taken.add(chosen)
        return chosen

    def usb_devices(self) -> None:
        draw = self.draw
        for _ in range(draw(ints(0, 2))):
            place = self.take_usb(dense=True)
            if place is None:
                break
            self.hubs.append(
                Dev(tag="hub", open="<hub type='usb'>", tail=[(1, usb_address(*place))])
            )
            self.usb_hubs.append(place)
            self.labels.append("usb-hub")
        for kind in draw(st.lists(sampled("tablet", "keyboard"), max_size=2, unique=True)):
            place = self.take_usb(dense=draw(BOOLEANS))
            if place is None:
                break
            self.inputs.append(
                Dev(
                    tag="input",
                    open=f"<input type='{kind}' bus='usb'>",
                    tail=[(1, usb_address(*place))],
                )
            )

    # disks -------------------------------------------------------------------------------

    def place_disk(self, spec: DiskSpec) -> None:
        bus = spec.bus
        if bus == "virtio":
            place = self.endpoint(pcie=True, dense=spec.dense)
            if place is None:
                return
            self._disk(spec, pci_address(place), None)
        elif bus == "usb":
            usb = self.take_usb(spec.dense)
            if usb is None:
                return
            self._disk(spec, usb_address(*usb), None)
        else:
            drive = self.take_drive(bus, spec.dense)
            if drive is None:
                return
            controller, dbus, target, unit = drive
            derived = {
                "ide": controller * 4 + dbus * 2 + unit,
                "sata": controller * 6 + unit,
                "scsi": controller * 7 + unit if target == 0 and unit < 7 else None,
                "fdc": unit,
            }[bus]
            self._disk(spec, drive_address(controller, dbus, target, unit), derived)

    def take_drive(self, bus: str, dense: bool) -> tuple[int, int, int, int] | None:
        controllers = self.drive_controllers[bus]
        taken = self.drive_taken[bus]
        free = [
            (index, *slot)
            for index in sorted(controllers)
            for slot in controllers[index]
            if (index, *slot) not in taken
        ]
        if not free:
            if bus in ("ide", "fdc") and not controllers:
                self._fixed_controller(bus)
            elif bus in ("scsi", "sata") and self.add_drive_controller(bus) is not None:
                self.labels.append(f"{bus}-controller-on-demand")
            else:
                return None
            return self.take_drive(bus, dense)
        chosen = free[0] if dense else pick(self.draw, free)
        taken.add(chosen)
        return chosen

    def _fixed_controller(self, bus: str) -> None:
        if bus == "ide":
            self.pci.use((0, 1, 1))
            self.controllers.append(
                Dev(
                    tag="controller",
                    open="<controller type='ide' index='0'>",
                    tail=[(1, pci_address((0, 1, 1)))],
                )
            )
            self.drive_controllers["ide"][0] = [(b, 0, u) for b in (0, 1) for u in (0, 1)]
        else:
            self.controllers.append(
                Dev(tag="controller", open="<controller type='fdc' index='0'/>")
            )
            self.drive_controllers["fdc"][0] = [(0, 0, 0), (0, 0, 1)]

    def _disk(self, spec: DiskSpec, address: str, derived: int | None) -> None:
        number = len(self.disks)
        device = spec.device
        source_type = spec.source_type
        if device == "floppy" or (device == "cdrom" and source_type == "network"):
            source_type = "file"
        if device == "lun":
            source_type = "block"
        if source_type == "file":
            ext = {"floppy": "img", "cdrom": "iso"}.get(device, "qcow2")
            fmt = "qcow2" if ext == "qcow2" else "raw"
            driver = f"<driver name='qemu' type='{fmt}'/>"
            source: list[Line] = [
                (1, f"<source file='/var/lib/libvirt/images/gen-{number}.{ext}'/>")
            ]
        elif source_type == "block":
            driver = "<driver name='qemu' type='raw' cache='none' io='native'/>"
            source = [(1, f"<source dev='/dev/vg0/gen-{number}'/>")]
        else:
            driver = "<driver name='qemu' type='raw'/>"
            source = [
                (1, f"<source protocol='rbd' name='volumes/gen-{number}'>"),
                (2, "<host name='192.0.2.20' port='6789'/>"),
                (1, "</source>"),
            ]
        if device == "cdrom" and spec.empty_cdrom:
            source = []
        self.disks.append(
            DiskDev(
                bus=spec.bus,
                device=device,
                source_lines=[(1, driver), *source],
                opening=f"<disk type='{source_type}' device='{device}'>",
                address=address,
                derived_index=derived,
                name_style=spec.name_style,
                wanted_index=spec.wanted_index,
            )
        )

    def name_disks(self) -> None:
        """Target names: the derived one, or any other, always unique; gaps are allowed."""
        used: set[str] = set()
        virtio_usb = {"virtio": 0, "usb": 0}
        for disk in self.disks:
            prefix = PREFIX[disk.bus]
            limit = {"ide": 4, "fdc": 2}.get(disk.bus, 80)
            if disk.name_style == "derived" and disk.derived_index is not None:
                index = disk.derived_index
            elif disk.name_style == "derived" and disk.bus in virtio_usb:
                index = virtio_usb[disk.bus]
            else:
                index = disk.wanted_index % limit
            if disk.bus in virtio_usb:
                virtio_usb[disk.bus] += 1
            candidates = [index, *range(limit)]
            name = next(
                (prefix + suffix(i) for i in candidates if prefix + suffix(i) not in used), None
            )
            if name is None:
                # Every ide or fdc name is used already: ide and fdc have only four and two.
                disk.target = ""
                continue
            used.add(name)
            disk.target = name
        self.disks = [disk for disk in self.disks if disk.target]
        for disk in self.disks:
            disk.dev = Dev(
                tag="disk",
                open=disk.opening,
                body=[
                    *disk.source_lines,
                    (1, f"<target dev='{disk.target}' bus='{disk.bus}'/>"),
                    *([(1, "<readonly/>")] if disk.device == "cdrom" else []),
                ],
                tail=[(1, disk.address)],
                bootable=True,
            )

    # other devices -----------------------------------------------------------------------

    def mac(self) -> str:
        self.macs += 1
        return f"52:54:00:5a:{self.macs // 256:02x}:{self.macs % 256:02x}"

    def interface(self, dense: bool | None = None) -> bool:
        model = self.draw(sampled("virtio", "virtio", "e1000e" if self.family == Q35 else "e1000"))
        address = self.endpoint(pcie=True, dense=dense)
        if address is None:
            return False
        self.interfaces.append(
            Dev(
                tag="interface",
                open="<interface type='ethernet'>",
                body=[(1, f"<mac address='{self.mac()}'/>"), (1, f"<model type='{model}'/>")],
                tail=[(1, pci_address(address))],
                bootable=True,
            )
        )
        return True

    def virtio_serial(self, dense: bool | None = None) -> bool:
        index = sum(1 for dev in self.controllers if "virtio-serial" in dev.open)
        address = self.endpoint(pcie=True, dense=dense)
        if address is None:
            return False
        self.controllers.append(
            Dev(
                tag="controller",
                open=f"<controller type='virtio-serial' index='{index}'>",
                tail=[(1, pci_address(address))],
            )
        )
        return True

    def fill(self, spare: int) -> None:
        """Fill the PCI topology until ``spare`` places are left (crowded domains)."""
        draw = self.draw
        # Dense fills leave the last places free; sparse ones any (an empty port that is not
        # last in firmware order, rule E6).
        dense = draw(BOOLEANS)
        while True:
            if self.family == PC:
                free = len(self.pci.free_conventional())
            else:
                free = len(self.pci.free_ports()) + len(self.pci.free_root())
            if free <= spare:
                return
            if not (
                self.interface(dense=dense) if draw(BOOLEANS) else self.virtio_serial(dense=dense)
            ):
                return


def _scsi_hostdevs(builder: DomainBuilder) -> None:
    draw = builder.draw
    if not builder.drive_controllers["scsi"]:
        return
    for number in range(draw(ints(0, 3))):
        drive = builder.take_drive("scsi", dense=draw(BOOLEANS))
        if drive is None:
            return
        builder.hostdevs.append(
            Dev(
                tag="hostdev",
                open="<hostdev mode='subsystem' type='scsi' managed='no'>",
                body=[
                    (1, "<source>"),
                    (2, "<adapter name='scsi_host0'/>"),
                    (2, f"<address bus='0' target='0' unit='{number}'/>"),
                    (1, "</source>"),
                ],
                tail=[(1, drive_address(*drive))],
                bootable=True,
            )
        )
        builder.labels.append("scsi-hostdev")


def _fill_drive_bus(builder: DomainBuilder, bus: str) -> None:
    """Every unit of the bus's existing controllers taken (bus-full or a new controller)."""
    draw = builder.draw
    device = "floppy" if bus == "fdc" else "disk"
    for _ in range(16):
        spec = DiskSpec(
            bus=bus,
            device=device,
            source_type="file",
            name_style=draw(sampled("derived", "random")),
            wanted_index=draw(ints(0, 40)),
            dense=True,
        )
        controllers = builder.drive_controllers.get(bus, {})
        if bus == "usb":
            if not builder.free_usb_ports():
                return
        elif controllers and all(
            (index, *slot) in builder.drive_taken[bus]
            for index in controllers
            for slot in controllers[index]
        ):
            return
        before = len(builder.disks)
        builder.place_disk(spec)
        if len(builder.disks) == before:
            return


def _comment(draw: st.DrawFn) -> str:
    text = draw(sampled("managed by nova", "root volume: do not detach", "x", "a < b & c"))
    return f"<!-- {text.replace('<', '&lt;').replace('&', 'and')} -->"


METADATA = [
    (1, "<metadata>"),
    (2, '<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">'),
    (3, '<nova:package version="27.1.0"/>'),
    (3, "<nova:name>rescue-me</nova:name>"),
    (3, '<nova:root type="image" uuid="0f8a6c2e-3b1d-4e5f-9a7c-6d5e4f3a2b10"/>'),
    (2, "</nova:instance>"),
    (1, "</metadata>"),
]


SCSI_CONTROLLER_MODELS = st.lists(sampled(*SCSI_MODELS), max_size=2)


@st.composite
def domains(draw: st.DrawFn, families: tuple[str, ...] = FAMILIES) -> GeneratedDomain:
    """A domain as ``virsh dumpxml --inactive`` prints it (see the module docstring)."""
    family = draw(sampled(*families))
    builder = DomainBuilder(draw, family)
    labels = builder.labels
    labels.append(family)
    video = draw(sampled("vga", "vga", "virtio", "none"))
    if video != "none":
        # libvirt's fixed places: 00:02.0 on pc, 00:01.0 on q35.
        slot = 2 if family == PC else 1
        builder.pci.use((0, slot, 0))
        builder.video.append(
            Dev(
                tag="video",
                open="<video>",
                body=[(1, f"<model type='{video}' heads='1' primary='yes'/>")],
                tail=[(1, pci_address((0, slot, 0)))],
            )
        )
    else:
        builder.video.append(Dev(tag="video", open="<video>", body=[(1, "<model type='none'/>")]))
    builder.topology()
    builder.usb_controllers()
    if family == Q35:
        builder.pci.use((0, 0x1F, 2))
        builder.controllers.append(
            Dev(
                tag="controller",
                open="<controller type='sata' index='0'>",
                tail=[(1, pci_address((0, 0x1F, 2)))],
            )
        )
        builder.drive_controllers["sata"][0] = [(0, 0, unit) for unit in range(6)]
    for model in draw(SCSI_CONTROLLER_MODELS):
        builder.add_drive_controller("scsi", model)
    if family == PC and draw(chance(4)):
        builder.add_drive_controller("sata")
    if family == Q35 and draw(chance(6)):
        builder.add_drive_controller("sata")
        labels.append("sata-second")
    builder.usb_devices()
    for _ in range(draw(ints(0, 2))):
        builder.interface()
    for spec in draw(_disk_lists(family)):
        builder.place_disk(spec)
    fill_bus = draw(sampled(None, None, None, "scsi", "sata", "ide", "usb", "fdc"))
    if fill_bus is not None and not (fill_bus == "ide" and family != PC):
        _fill_drive_bus(builder, fill_bus)
        labels.append(f"{fill_bus}-filled")
    _scsi_hostdevs(builder)
    if draw(BOOLEANS):
        address = builder.endpoint(pcie=True)
        if address is not None:
            builder.others.append(
                Dev(
                    tag="memballoon",
                    open="<memballoon model='virtio'>",
                    tail=[(1, pci_address(address))],
                )
            )
    else:
        builder.others.append(Dev(tag="memballoon", open="<memballoon model='none'/>"))
    if draw(chance(4)):
        address = builder.endpoint(pcie=True)
        if address is not None:
            builder.others.append(
                Dev(
                    tag="rng",
                    open="<rng model='virtio'>",
                    body=[(1, "<backend model='random'>/dev/urandom</backend>")],
                    tail=[(1, pci_address(address))],
                )
            )
    for _ in range(draw(ints(0, 2))):
        builder.virtio_serial()
    crowd = draw(sampled(None, None, None, 0, 1, 2, 3))
    if crowd is not None:
        builder.fill(crowd)
        labels.append(f"pci-crowded-{crowd}")
    builder.name_disks()
    return _render(draw, builder)


@functools.cache
def _disk_lists(family: str) -> st.SearchStrategy[list[DiskSpec]]:
    return st.lists(disks(family), max_size=7)


def _libvirt_disk_order(disks: list[DiskDev]) -> list[DiskDev]:
    """Grouped by bus in order of first appearance, by name index within a group."""
    groups: dict[str, int] = {}
    for disk in disks:
        groups.setdefault(disk.bus, len(groups))

    def index(name: str) -> int:
        letters = name[2:]
        number = 0
        for letter in letters:
            number = number * 26 + ord(letter) - ord("a") + 1
        return number

    return sorted(disks, key=lambda disk: (groups[disk.bus], index(disk.target)))


def _render(draw: st.DrawFn, builder: DomainBuilder) -> GeneratedDomain:
    family = builder.family
    labels = builder.labels
    disks_in_order = _libvirt_disk_order(builder.disks)
    if draw(chance(4)):
        # libvirt re-sorts disks on define; a hand-edited file has them in any order.
        disks_in_order = draw(st.permutations(disks_in_order))
        labels.append("disks-unsorted")
    disk_devs = [disk.dev for disk in disks_in_order if disk.dev is not None]
    bootable = [*disk_devs, *builder.interfaces, *builder.hostdevs]
    boot_style = draw(sampled("os", "os", "orders", "orders", "none"))
    boot_devs: list[str] = []
    if boot_style == "orders" and bootable:
        positions = draw(
            st.lists(st.integers(0, len(bootable) - 1), unique=True, min_size=1, max_size=5)
        )
        orders = sorted(
            draw(
                st.lists(
                    st.integers(1, 12),
                    unique=True,
                    min_size=len(positions),
                    max_size=len(positions),
                )
            )
        )
        for position, order in zip(positions, orders, strict=True):
            bootable[position].boot = order
    elif boot_style == "orders":
        boot_style = "os"
    if boot_style == "os":
        boot_devs = draw(st.lists(sampled("hd", "cdrom", "fd", "network"), min_size=1, max_size=4))
    unit = draw(sampled("  ", "  ", "  ", "    "))
    newline = "\r\n" if draw(chance(16)) else "\n"
    lines: list[Line] = []
    hypervisor = draw(sampled("qemu", "kvm"))
    number = draw(st.integers(0, 0xFFFF))
    lines.append((0, f"<domain type='{hypervisor}'>"))
    lines.append((1, f"<name>gen-{number}</name>"))
    lines.append((1, f"<uuid>5ca1ab1e-0000-4000-8000-{number:012x}</uuid>"))
    if draw(chance(5)):
        lines.append((1, "<title>generated &amp; rescued</title>"))
    metadata = draw(sampled("none", "none", "nova", "empty"))
    if metadata == "nova":
        lines.extend(METADATA)
        labels.append("metadata-foreign")
    elif metadata == "empty":
        lines.append((1, "<metadata/>"))
        labels.append("metadata-empty")
    lines.append((1, "<memory unit='KiB'>262144</memory>"))
    lines.append((1, "<currentMemory unit='KiB'>262144</currentMemory>"))
    lines.append((1, "<vcpu placement='static'>1</vcpu>"))
    efi = family == Q35 and draw(chance(5))
    lines.append((1, "<os firmware='efi'>" if efi else "<os>"))
    lines.append((2, f"<type arch='x86_64' machine='{MACHINES[family]}'>hvm</type>"))
    if efi:
        # libvirt 9.0 refuses secure='no' with firmware autoselection; no <loader> means no.
        if draw(BOOLEANS):
            lines.append((2, "<loader secure='yes'/>"))
        labels.append("efi")
    if draw(chance(5)):
        labels.append("kernel-boot")
        lines.append((2, "<kernel>/var/lib/libvirt/boot/vmlinuz</kernel>"))
        if draw(BOOLEANS):
            lines.append((2, "<initrd>/var/lib/libvirt/boot/initrd.img</initrd>"))
        if draw(BOOLEANS):
            lines.append((2, "<cmdline>root=/dev/vda1 console=ttyS0</cmdline>"))
    comment_in_os = draw(chance(6))
    if boot_devs and comment_in_os:
        lines.append((2, _comment(draw)))
        labels.append("comment-in-os")
    lines.extend((2, f"<boot dev='{dev}'/>") for dev in boot_devs)
    lines.append((1, "</os>"))
    lines.append((1, "<features>"))
    lines.append((2, "<acpi/>"))
    lines.append((2, "<apic/>"))
    if efi:
        lines.append((2, "<smm state='on'/>"))
    lines.append((1, "</features>"))
    lines.extend(
        [
            (1, "<cpu mode='custom' match='exact' check='none'>"),
            (2, "<model fallback='forbid'>qemu64</model>"),
            (1, "</cpu>"),
            (1, "<clock offset='utc'/>"),
            (1, "<on_poweroff>destroy</on_poweroff>"),
            (1, "<on_reboot>restart</on_reboot>"),
            (1, "<on_crash>destroy</on_crash>"),
        ]
    )
    if draw(chance(6)):
        lines.append((1, _comment(draw)))
        labels.append("comment-top")
    lines.append((1, "<devices>"))
    devices: list[Dev] = list(disk_devs)
    controllers = [*builder.controllers, *builder.pci_controllers]
    root = (
        "<controller type='pci' index='0' model='pci-root'/>"
        if family == PC
        else "<controller type='pci' index='0' model='pcie-root'/>"
    )
    controllers.insert(len(builder.controllers), Dev(tag="controller", open=root))
    devices.extend(controllers)
    devices.extend(builder.interfaces)
    serial = Dev(
        tag="serial",
        open="<serial type='pty'>",
        body=[
            (1, "<target type='isa-serial' port='0'>"),
            (2, "<model name='isa-serial'/>"),
            (1, "</target>"),
        ],
    )
    console = Dev(
        tag="console", open="<console type='pty'>", body=[(1, "<target type='serial' port='0'/>")]
    )
    devices.extend([serial, console, *builder.inputs])
    devices.append(Dev(tag="input", open="<input type='mouse' bus='ps2'/>"))
    devices.append(Dev(tag="input", open="<input type='keyboard' bus='ps2'/>"))
    devices.append(Dev(tag="audio", open="<audio id='1' type='none'/>"))
    devices.extend(builder.video)
    devices.extend(builder.hostdevs)
    devices.extend(builder.hubs)
    devices.extend(builder.others)
    device_lines: list[Line] = [(2, "<emulator>/usr/bin/qemu-system-x86_64</emulator>")]
    comment_at = draw(st.integers(0, 3 * len(devices))) if devices else 0
    for position, device in enumerate(devices):
        if position == comment_at:
            device_lines.append((2, _comment(draw)))
            labels.append("comment-in-devices")
        device_lines.extend((2 + depth, text) for depth, text in device.lines())
    lines.extend(device_lines)
    lines.append((1, "</devices>"))
    lines.append((0, "</domain>"))
    xml = newline.join(unit * depth + text for depth, text in lines) + newline
    return GeneratedDomain(xml=xml, family=family, boot_style=boot_style, labels=tuple(labels))


# --- requests ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RescueRequestSpec:
    """The arguments of one ``rescue`` call, properties in the order a caller gave them."""

    properties: tuple[tuple[str, str], ...]
    source: str
    source_format: str | None = None
    source_type: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    allow_unaddressed: bool = False
    legacy: bool = False

    def property_map(
        self, order: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] | None = None
    ) -> dict[str, str]:
        """The properties as a dict, optionally in another insertion order."""
        items = list(self.properties)
        return dict(order(items) if order is not None else items)

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``rescue``."""
        return {
            "source_format": self.source_format,
            "source_type": self.source_type,
            "kernel": self.kernel,
            "initrd": self.initrd,
            "cmdline": self.cmdline,
            "allow_unaddressed": self.allow_unaddressed,
        }

    def rescue(
        self, xml: str | bytes, properties: Mapping[str, str] | None = None
    ) -> stable_rescue.RescueResult:
        """``stable_rescue.rescue`` with these arguments."""
        props = self.property_map() if properties is None else properties
        return stable_rescue.rescue(xml, props, self.source, **self.options())

    def plan(self, xml: str | bytes) -> stable_rescue.Plan:
        """``stable_rescue.plan_rescue`` with these arguments."""
        return stable_rescue.plan_rescue(xml, self.property_map(), self.source, **self.options())


IMAGES = "/var/lib/libvirt/images"
# Bus values, known or not (case matters: 'Virtio' is no bus).
ANY_BUS_VALUE = sampled(*BUSES, "Virtio", "nvme", "")
SECRET = "2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a"
SOURCES: list[tuple[str, bool]] = [
    # (source, whether its name settles the format)
    (f"{IMAGES}/rescue.iso", True),
    (f"{IMAGES}/rescue.qcow2", True),
    (f"{IMAGES}/rescue.raw", True),
    (f"{IMAGES}/rescue.img", False),
    ("/dev/mapper/rescue", False),
    ("/dev/sdz", False),
    (f"rbd://cinder@192.0.2.1:6789,192.0.2.2/images/rescue?secret={SECRET}", False),
    ("rbd://192.0.2.1/images/rescue.raw", True),
    ("iscsi://192.0.2.10:3260/iqn.2010-10.org.openstack:volume-rescue/1", False),
]
INVALID_SOURCES = ["relative/rescue.iso", "http://example.invalid/rescue.iso"]


@st.composite
def rescue_requests(draw: st.DrawFn, legacy: bool | None = None) -> RescueRequestSpec:
    """Image properties, source and options of a rescue: every bus and device, some refused.

    Stable mode (``hw_rescue_bus`` or ``hw_rescue_device`` present) unless ``legacy`` (default
    ``LEGACY_REQUESTS``), which also draws requests with neither.
    """
    if legacy is None:
        legacy = LEGACY_REQUESTS
    shape = draw(sampled("both", "both", "both", "bus", "device", *(["legacy"] if legacy else [])))
    properties: list[tuple[str, str]] = []
    device = draw(_mostly(sampled(*DEVICE_TYPES), sampled("tape", "Disk")))
    if shape in ("both", "bus"):
        # Mostly a bus that takes the device; any bus at all now and then (refused).
        fitting = [bus for bus in BUSES if (bus, device) in FITS] or list(BUSES)
        if "usb" in fitting:
            fitting.append("usb")  # USB's ports run out often: ask for it more
        bus = draw(_mostly(sampled(*fitting), ANY_BUS_VALUE))
        properties.append(("hw_rescue_bus", bus))
    if shape in ("both", "device"):
        properties.append(("hw_rescue_device", device))
    for name in ("hw_disk_bus", "hw_cdrom_bus", "hw_floppy_bus"):
        if draw(chance(4)):
            properties.append((name, draw(_mostly(sampled(*BUSES), ANY_BUS_VALUE))))
    if draw(chance(3)):
        properties.append(
            ("hw_scsi_model", draw(_mostly(sampled(*SCSI_MODELS), sampled("buslogic"))))
        )
    for name, value in draw(
        st.lists(
            sampled(
                ("hw_machine_type", "pc"), ("hw_architecture", "aarch64"), ("os_type", "linux")
            ),
            unique=True,
            max_size=2,
        )
    ):
        properties.append((name, value))
    properties = draw(st.permutations(properties))
    if draw(chance(25)):
        source, settled = draw(sampled(*INVALID_SOURCES)), True
    elif device == "lun" and not draw(chance(4)):
        # A LUN needs a block device or an iSCSI LUN; a file or rbd image now and then (refused).
        source, settled = draw(sampled(SOURCES[4], SOURCES[5], SOURCES[8]))
    else:
        source, settled = draw(sampled(*SOURCES))
    source_format = None
    if not settled or draw(chance(4)):
        source_format = draw(_mostly(sampled(*SOURCE_FORMATS), sampled("vhd", None)))
    kernel = initrd = cmdline = None
    if draw(chance(6)):
        kernel = "/var/lib/libvirt/boot/rescue-vmlinuz"
        initrd = draw(sampled(None, "/var/lib/libvirt/boot/rescue-initrd.img"))
        cmdline = draw(sampled(None, "console=ttyS0 rescue"))
    elif draw(chance(31)):
        initrd = "/var/lib/libvirt/boot/rescue-initrd.img"  # without a kernel: refused
    return RescueRequestSpec(
        properties=tuple(properties),
        source=source,
        source_format=source_format,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
        legacy=shape == "legacy",
    )


@functools.cache
def chance(denominator: int) -> st.SearchStrategy[bool]:
    """True about once in ``denominator`` draws; shrinks to False.

    Hypothesis draws the bounds of an integer range far more often than the middle, so the rare
    case is a value in the middle, not 0.
    """
    return st.integers(0, denominator - 1).map(lambda value: value == denominator // 2)


@functools.cache
def _mostly(usual: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` nine times in ten, else ``rare``."""
    return chance(10).flatmap(lambda rarely: rare if rarely else usual)


# --- fixed samples -------------------------------------------------------------------------------


def sample(
    count: int, *, rescued_only: bool = False, tries: int | None = None
) -> list[tuple[GeneratedDomain, RescueRequestSpec]]:
    """``count`` (domain, request) pairs, the same on every run (derandomized Hypothesis)."""
    found: list[tuple[GeneratedDomain, RescueRequestSpec]] = []

    @settings(
        max_examples=tries or count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(domain=domains(), request=rescue_requests())
    def collect(domain: GeneratedDomain, request: RescueRequestSpec) -> None:
        if len(found) >= count:
            return
        if rescued_only:
            try:
                request.rescue(domain.xml)
            except stable_rescue.RescueError:
                return
        found.append((domain, request))

    collect()
    assert len(found) == count, f"only {len(found)} of {count} samples in {tries} tries"
    return found


LIBVIRT_SAMPLES = 40


@functools.cache
def libvirt_samples() -> tuple[tuple[GeneratedDomain, RescueRequestSpec], ...]:
    """``LIBVIRT_SAMPLES`` (domain, request) pairs that ``rescue`` accepts, the same every run."""
    return tuple(sample(LIBVIRT_SAMPLES, rescued_only=True, tries=4 * LIBVIRT_SAMPLES))
