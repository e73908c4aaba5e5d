"""The PCI buses of a generated domain: which places are used, and the controllers behind them."""

from __future__ import annotations

from hypothesis import strategies as st

from stable_rescue.testing._devices import ARM, PC, PSERIES, Q35, S390, Dev, Line, Pci, pci_address
from stable_rescue.testing._draw import BOOLEANS, chance, ints, pick, sampled


class PciTopology:
    """The PCI buses of a domain being built, and which functions are used."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.used: set[Pci] = set()
        self.used_slots: set[tuple[int, int]] = set()
        # Buses with conventional slots 1..31 (pci-root on pc, pseries' PHBs and s390x's zPCI
        # root, pci-bridges, pcie-to-pci-bridges).
        self.conventional: list[int] = [0] if family in (PC, PSERIES, S390) else []
        # PCIe ports (root ports, switch downstream ports): one device, at slot 0.
        self.ports: list[int] = []
        self.next_index = 1
        # pc: the PIIX3 chipset; q35: 00:1f (LPC, SATA 0, SMBus); arm virt has no chipset slot.
        self.reserved_root = {PC: {0, 1}, Q35: {0, 0x1F}}.get(family, {0})

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
        """Free slots directly on pcie-root (q35's integrated devices; none on arm virt)."""
        if self.family != Q35:
            return []
        return [
            (0, slot, 0)
            for slot in range(1, 32)
            if slot not in self.reserved_root and self.slot_free(0, slot)
        ]

    def take(self, draw: st.DrawFn, pcie: bool, dense: bool) -> Pci | None:
        """A free place for one endpoint, or None when the topology is full."""
        if self.family in (PC, PSERIES, S390):
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


class PciBuilder:
    """Lays out the PCI controllers of a domain being built and places its PCI devices.

    ``DomainBuilder`` extends it with every other device.
    """

    def __init__(self, draw: st.DrawFn, family: str) -> None:
        self.draw = draw
        self.family = family
        self.pci = PciTopology(family)
        self.pci_controllers: list[Dev] = []
        self.labels: list[str] = []

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

    def topology(self, crowded: bool | None = None) -> None:
        """The PCI controllers: bridges, PHBs, root ports, switches (``crowded``: see domains)."""
        draw = self.draw
        if self.family == S390:
            return  # CCW; zPCI devices sit on pci-root directly
        if self.family == PSERIES:
            # Further PHBs (pci-root with spapr-pci-host-bridge), each its own bus 1..31.
            for _ in range(draw(ints(0, 1))):
                index = self.pci.index()
                self.pci_controllers.append(
                    Dev(
                        tag="controller",
                        open=f"<controller type='pci' index='{index}' model='pci-root'>",
                        body=[
                            (1, "<model name='spapr-pci-host-bridge'/>"),
                            (1, f"<target index='{index}'/>"),
                        ],
                    )
                )
                self.pci.conventional.append(index)
                self.labels.append("pseries-phb")
        if self.family in (PC, PSERIES):
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
        if crowded:
            # A port in every slot of pcie-root, so that filling the ports crowds the domain.
            layout, crowded_root = "separate", True
        else:
            layout = draw(sampled("multifunction", "multifunction", "separate"))
            crowded_root = crowded is None and draw(chance(10))
        count = 31 if crowded_root and layout == "separate" else draw(ints(0, 12))
        if crowded_root:
            self.labels.append("q35-root-crowded")
            count = 31 if layout == "separate" else draw(ints(12, 24))
        single_mf = draw(BOOLEANS)
        first_slot = 1 if self.family == ARM else 2
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
