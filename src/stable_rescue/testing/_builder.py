"""``DomainBuilder``: the controllers, disks and other devices of one generated domain.

It draws where each device goes (``_pci`` lays out the PCI buses underneath)
and names the disks; ``_rendering`` turns it into XML.
"""

from __future__ import annotations

from hypothesis import strategies as st

from stable_rescue.testing._devices import (
    ARM,
    MACHINE_SCSI_MODELS,
    PC,
    PREFIX,
    PSERIES,
    Q35,
    S390,
    Dev,
    DiskDev,
    DiskSpec,
    Line,
    Pci,
    ccw_address,
    drive_address,
    pci_address,
    suffix,
    usb_address,
    zpci_address,
)
from stable_rescue.testing._draw import BOOLEANS, chance, ints, pick, sampled
from stable_rescue.testing._pci import PciBuilder


class DomainBuilder(PciBuilder):
    """Collects the devices of one generated domain."""

    def __init__(self, draw: st.DrawFn, family: str) -> None:
        super().__init__(draw, family)
        self.controllers: list[Dev] = []
        self.disks: list[DiskDev] = []
        self.interfaces: list[Dev] = []
        self.inputs: list[Dev] = []
        self.hostdevs: list[Dev] = []
        self.hubs: list[Dev] = []
        self.others: list[Dev] = []  # memballoon, rng: after hubs
        self.video: list[Dev] = []
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
        # s390x: CCW device numbers taken (css 0xfe, ssid 0), zPCI devices so far.
        self.ccw_taken: set[int] = set()
        self.zpci = 0
        # arm virt: virtio disks and NICs on virtio-mmio rather than PCIe (rule M1's shape).
        self.mmio = False
        self.ibmvscsi = 0

    # addresses ---------------------------------------------------------------------------

    def take_ccw(self, dense: bool) -> int:
        """A free devno: the lowest, or any of the first few (gaps, as after hot-unplugs)."""
        if dense:
            devno = min(set(range(len(self.ccw_taken) + 1)) - self.ccw_taken)
        else:
            devno = pick(self.draw, sorted(set(range(24)) - self.ccw_taken))
        self.ccw_taken.add(devno)
        return devno

    def device_address(
        self, pcie: bool, dense: bool | None = None, virtio_style: bool = False
    ) -> list[Line] | None:
        """The address lines of a new device, or None when there is no room.

        PCI on pc, q35, arm virt and pseries; on s390x CCW, or zPCI now and then for a
        ``virtio_style`` device (disk, NIC); on an arm virt domain in virtio-mmio style,
        virtio-mmio for those.
        """
        draw = self.draw
        if dense is None:
            dense = draw(BOOLEANS)
        if self.family == S390:
            if virtio_style and draw(chance(4)):
                place = self.pci.take(draw, pcie=False, dense=dense)
                if place is not None:
                    self.zpci += 1
                    self.labels.append("s390x-zpci")
                    return zpci_address(place[1], self.zpci, self.zpci - 1)
            return [(1, ccw_address(self.take_ccw(dense)))]
        if self.mmio and virtio_style:
            return [(1, "<address type='virtio-mmio'/>")]
        address = self.endpoint(pcie=pcie, dense=dense)
        return None if address is None else [(1, pci_address(address))]

    # controllers -------------------------------------------------------------------------

    def add_drive_controller(self, bus: str, model: str | None = None) -> int | None:
        """A new SCSI or SATA controller on a free PCI slot (None: no room)."""
        existing = self.drive_controllers[bus]
        index = max(existing, default=-1) + 1
        address: list[Line] | None
        if bus == "scsi":
            model = model or self.draw(sampled(*MACHINE_SCSI_MODELS[self.family]))
            if model == "ibmvscsi":
                # pseries: on the spapr-vio bus, at libvirt's regs 0x2000, 0x3000, ...
                reg = 0x2000 + 0x1000 * self.ibmvscsi
                self.ibmvscsi += 1
                address = [(1, f"<address type='spapr-vio' reg='{reg:#010x}'/>")]
            else:
                address = self.device_address(pcie=model == "virtio-scsi")
            opening = f"<controller type='scsi' index='{index}' model='{model}'>"
            self.scsi_models[index] = model
        else:
            address = self.device_address(pcie=False)
            opening = f"<controller type='sata' index='{index}'>"
        if address is None:
            return None
        self.controllers.append(Dev(tag="controller", open=opening, tail=address))
        units = 7 if bus == "scsi" else 6
        existing[index] = [(0, 0, unit) for unit in range(units)]
        return index

    def usb_controllers(self) -> None:
        draw = self.draw
        if self.family == S390:
            self.usb_none = True  # no USB on s390x (rule C4): libvirt lists no controller
            return
        kinds = {
            # arm virt: USB only with an explicit controller (rule V3).
            ARM: ("absent", "none", "qemu-xhci", "qemu-xhci"),
            PSERIES: ("none", "qemu-xhci", "qemu-xhci", "pci-ohci"),
        }.get(
            self.family, ("default", "default", "default", "none", "ich9", "nec-xhci", "qemu-xhci")
        )
        kind = draw(sampled(*kinds))
        if kind == "absent":
            self.usb_none = True
            self.labels.append("usb-absent")
            return
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
        extra = {ARM: ("qemu-xhci",), PSERIES: ("qemu-xhci", "pci-ohci")}.get(
            self.family, ("piix3-uhci", "piix4-uhci", "pci-ohci", "ehci", "nec-xhci", "qemu-xhci")
        )
        for index in range(1, 1 + draw(ints(0, 2))):
            model = draw(sampled(*extra))
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
            place = self.device_address(pcie=True, dense=spec.dense, virtio_style=True)
            if place is None:
                return
            self._disk(spec, place, None)
        elif bus == "usb":
            usb = self.take_usb(spec.dense)
            if usb is None:
                return
            self._disk(spec, [(1, usb_address(*usb))], None)
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
            self._disk(spec, [(1, drive_address(controller, dbus, target, unit))], derived)

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

    def _disk(self, spec: DiskSpec, address: list[Line], derived: int | None) -> None:
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
        # An empty drive, except on USB: libvirt 11 refuses "'usb' disk must not be empty" (9.0
        # accepts it); the generator makes only domains every supported libvirt accepts.
        # libvirt dumps an empty drive of any type as type='file'.
        if device == "cdrom" and spec.empty_cdrom and spec.bus != "usb":
            source, source_type = [], "file"
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
                tail=disk.address,
                bootable=True,
            )

    # other devices -----------------------------------------------------------------------

    def mac(self) -> str:
        self.macs += 1
        return f"52:54:00:5a:{self.macs // 256:02x}:{self.macs % 256:02x}"

    def interface(self, dense: bool | None = None, pci_only: bool = False) -> bool:
        other = {PC: "e1000", Q35: "e1000e"}.get(self.family, "virtio")
        model = self.draw(sampled("virtio", "virtio", other))
        address = self.device_address(pcie=True, dense=dense, virtio_style=not pci_only)
        if address is None:
            return False
        self.interfaces.append(
            Dev(
                tag="interface",
                open="<interface type='ethernet'>",
                body=[(1, f"<mac address='{self.mac()}'/>"), (1, f"<model type='{model}'/>")],
                tail=address,
                bootable=True,
            )
        )
        return True

    def virtio_serial(self, dense: bool | None = None) -> bool:
        index = sum(1 for dev in self.controllers if "virtio-serial" in dev.open)
        address = self.device_address(pcie=True, dense=dense)
        if address is None:
            return False
        self.controllers.append(
            Dev(
                tag="controller",
                open=f"<controller type='virtio-serial' index='{index}'>",
                tail=address,
            )
        )
        return True

    def fill(self, spare: int) -> None:
        """Fill the PCI topology until ``spare`` places are left (crowded domains)."""
        draw = self.draw
        # Dense fills leave the last places free; sparse ones any (an empty port that is not
        # last in firmware order, rule E6).
        dense = draw(BOOLEANS)
        if self.family == S390:
            return  # CCW has 65536 device numbers: nothing to crowd
        while True:
            if self.family in (PC, PSERIES):
                free = len(self.pci.free_conventional())
            else:
                free = len(self.pci.free_ports()) + len(self.pci.free_root())
            if free <= spare:
                return
            if not (
                self.interface(dense=dense, pci_only=True)
                if draw(BOOLEANS)
                else self.virtio_serial(dense=dense)
            ):
                return
