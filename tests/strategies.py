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

The building blocks live beside this module: ``draw_helpers`` (cheap draws), ``generated_devices``
(device values and XML fragments), ``generated_pci`` (PCI topology), ``domain_builder`` (where
devices go), ``domain_rendering`` (the XML) and ``generated_requests`` (``RescueRequestSpec``).
"""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stable_rescue
from tests.domain_builder import DomainBuilder
from tests.domain_rendering import GeneratedDomain, render_domain
from tests.draw_helpers import BOOLEANS, T, chance, ints, pick, sampled
from tests.generated_devices import (
    ARM,
    BUSES,
    FAMILIES,
    MACHINE_BUSES,
    MACHINE_SCSI_MODELS,
    PC,
    PSERIES,
    Q35,
    S390,
    SCSI_MODELS,
    X86,
    Dev,
    DiskSpec,
    drive_address,
    pci_address,
)
from tests.generated_requests import (
    DEVICE_TYPES,
    FITS,
    INVALID_SOURCES,
    SOURCE_FORMATS,
    SOURCES,
    RescueRequestSpec,
)

__all__ = [
    "ARM",
    "FAMILIES",
    "LEGACY_REQUESTS",
    "LIBVIRT_SAMPLES",
    "PC",
    "PSERIES",
    "Q35",
    "S390",
    "DiskSpec",
    "GeneratedDomain",
    "RescueRequestSpec",
    "chance",
    "disks",
    "domains",
    "libvirt_samples",
    "pick",
    "rescue_requests",
    "sample",
    "sampled",
]

# Legacy mode (neither hw_rescue_bus nor hw_rescue_device; docs/policy.md rules L1 to L7).
# rescue_requests() draws legacy requests too while this is on; rescue_requests(legacy=False)
# draws stable-mode requests only, for the properties of stable mode.
LEGACY_REQUESTS = True


# --- domains -----------------------------------------------------------------------------------


@functools.cache
def disks(family: str = PC) -> st.SearchStrategy[DiskSpec]:
    """One disk of any bus the machine has, any device type that bus takes."""
    buses = MACHINE_BUSES[family]
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


@functools.cache
def _scsi_controller_models(family: str) -> st.SearchStrategy[list[str]]:
    return st.lists(sampled(*MACHINE_SCSI_MODELS[family]), max_size=2)


# pc and q35 twice as often as each newer machine: they have the most shapes.
FAMILY_WEIGHTS = (PC, Q35, PC, Q35, ARM, PSERIES, S390)


@st.composite
def domains(draw: st.DrawFn, families: tuple[str, ...] = FAMILIES) -> GeneratedDomain:
    """A domain as ``virsh dumpxml --inactive`` prints it (see the module docstring)."""
    family = draw(sampled(*[f for f in FAMILY_WEIGHTS if f in families]))
    builder = DomainBuilder(draw, family)
    labels = builder.labels
    labels.append(family)
    if family == ARM and draw(chance(4)):
        builder.mmio = True
        labels.append("virtio-mmio")
    # No video on the other machines (libvirt adds none without graphics).
    video = draw(sampled("vga", "vga", "virtio", "none")) if family in X86 else None
    if video is None:
        pass
    elif video != "none":
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
    for model in draw(_scsi_controller_models(family)):
        builder.add_drive_controller("scsi", model)
    if family in (PC, ARM, PSERIES) and draw(chance(4)):
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
    if fill_bus is not None and fill_bus in MACHINE_BUSES[family]:
        _fill_drive_bus(builder, fill_bus)
        labels.append(f"{fill_bus}-filled")
    _scsi_hostdevs(builder)
    if draw(BOOLEANS):
        place = builder.device_address(pcie=True)
        if place is not None:
            builder.others.append(
                Dev(tag="memballoon", open="<memballoon model='virtio'>", tail=place)
            )
    else:
        builder.others.append(Dev(tag="memballoon", open="<memballoon model='none'/>"))
    if draw(chance(4)):
        place = builder.device_address(pcie=True)
        if place is not None:
            builder.others.append(
                Dev(
                    tag="rng",
                    open="<rng model='virtio'>",
                    body=[(1, "<backend model='random'>/dev/urandom</backend>")],
                    tail=place,
                )
            )
    for _ in range(draw(ints(0, 2))):
        builder.virtio_serial()
    crowd = draw(sampled(None, None, None, 0, 1, 2, 3))
    if crowd is not None and family != S390:
        builder.fill(crowd)
        labels.append(f"pci-crowded-{crowd}")
    builder.name_disks()
    return render_domain(draw, builder)


@functools.cache
def _disk_lists(family: str) -> st.SearchStrategy[list[DiskSpec]]:
    return st.lists(disks(family), max_size=7)


# --- requests ----------------------------------------------------------------------------------


# Bus values, known or not (case matters: 'Virtio' is no bus).
ANY_BUS_VALUE = sampled(*BUSES, "Virtio", "nvme", "")


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
            ("hw_scsi_model", draw(_mostly(sampled(*SCSI_MODELS, "ibmvscsi"), sampled("buslogic"))))
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
def _mostly(usual: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` nine times in ten, else ``rare``."""
    return chance(10).flatmap(lambda rarely: rare if rarely else usual)


# --- fixed samples -------------------------------------------------------------------------------


def sample(
    count: int,
    *,
    rescued_only: bool = False,
    tries: int | None = None,
    families: tuple[str, ...] = FAMILIES,
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
    @given(domain=domains(families), request=rescue_requests())
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
    """``LIBVIRT_SAMPLES`` (domain, request) pairs that ``rescue`` accepts, the same every run.

    An equal share from each machine, so that every machine is defined in a real libvirt.
    """
    share = LIBVIRT_SAMPLES // len(FAMILIES)
    return tuple(
        pair
        for family in FAMILIES
        for pair in sample(share, rescued_only=True, tries=8 * share, families=(family,))
    )
