"""The Hypothesis strategies: libvirt domains as libvirt dumps them, and rescue calls.

``generated_domains()`` builds pc (``pc-i440fx-7.2``), q35 (``pc-q35-7.2``), aarch64 ``virt``,
ppc64 ``pseries`` and s390x ``s390-ccw-virtio`` guests the way libvirt 9.0 dumps them (the golden
inputs of the project's test suite show the shapes): every addressable device has an explicit
address, controllers are listed, and only what libvirt accepts at ``virsh define`` is generated
(the project's suite defines a sample of them in a real libvirt). Within that, it draws what makes
placement interesting: disks on every bus with gaps in names and addresses and names that do not
match their addresses, several SCSI, SATA and USB controllers of different models, USB hubs, SCSI
hostdevs, crowded and empty PCI topologies, NICs and other PCI devices, either ``<os><boot dev>``
entries or per-device ``<boot order>`` (never both), direct kernel boot, comments and foreign
``<metadata>``. ``domains()`` is the same strategy giving the XML alone.

``rescue_requests()`` draws the image properties, source and options of a rescue call.

The building blocks live beside this module: ``_draw`` (cheap draws), ``_devices`` (device values
and XML fragments), ``_pci`` (PCI topology), ``_builder`` (where devices go), ``_rendering`` (the
XML) and ``_requests`` (``RescueCall``).
"""

from __future__ import annotations

import functools

from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from stable_rescue.testing._builder import DomainBuilder
from stable_rescue.testing._devices import (
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
from stable_rescue.testing._draw import BOOLEANS, T, chance, ints, sampled
from stable_rescue.testing._rendering import GeneratedDomain, render_domain
from stable_rescue.testing._requests import (
    DEVICE_TYPES,
    FITS,
    INVALID_SOURCES,
    SOURCE_FORMATS,
    SOURCES,
    VALID_FORMATS,
    RescueCall,
)

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


def _fill_drive_bus(builder: DomainBuilder, bus: str, max_disks: int | None) -> None:
    """Every unit of the bus's existing controllers taken (bus-full or a new controller).

    Stops at ``max_disks`` disks, full or not.
    """
    draw = builder.draw
    device = "floppy" if bus == "fdc" else "disk"
    for _ in range(16):
        if max_disks is not None and len(builder.disks) >= max_disks:
            return
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


# The disks a domain draws when the caller sets no bound; filling a drive bus adds more.
USUAL_MAX_DISKS = 7
# A larger min_disks than this is refused: no machine fits it on every draw.
MAX_MIN_DISKS = 32


def generated_domains(
    machines: tuple[str, ...] = FAMILIES,
    *,
    min_disks: int = 0,
    max_disks: int | None = None,
    crowded: bool | None = None,
    kernel_boot: bool = False,
) -> st.SearchStrategy[GeneratedDomain]:
    """Domains as ``virsh dumpxml --inactive`` prints them, with what was drawn for them.

    ``machines``: any of ``MACHINES``. ``min_disks``/``max_disks``: bounds on the number of
    ``<disk>`` elements (``max_disks=None``: up to seven, and more when a drive bus is filled).
    ``crowded``: ``True`` fills the PCI topology (up to three places left; s390x has none to
    fill) and adds disks to fill one drive bus's controllers, up to ``max_disks``; ``False``
    never, ``None`` now and then. ``kernel_boot``: some domains boot a kernel directly; their
    rescue removes it, which ``verify`` reports as ``os-boot-changed`` (the guest no longer boots
    that kernel).
    """
    unknown = sorted(set(machines) - set(FAMILIES))
    if not machines or unknown:
        raise InvalidArgument(f"machines must be some of {FAMILIES}, not {list(machines)}")
    if not 0 <= min_disks <= MAX_MIN_DISKS:
        raise InvalidArgument(f"min_disks={min_disks}: must be 0 to {MAX_MIN_DISKS}")
    if max_disks is not None and max_disks < min_disks:
        raise InvalidArgument(f"max_disks={max_disks} is less than min_disks={min_disks}")
    return _domains(tuple(machines), min_disks, max_disks, crowded, kernel_boot)


def domains(
    machines: tuple[str, ...] = FAMILIES,
    *,
    min_disks: int = 0,
    max_disks: int | None = None,
    crowded: bool | None = None,
    kernel_boot: bool = False,
) -> st.SearchStrategy[str]:
    """Domain XML as ``virsh dumpxml --inactive`` prints it; the knobs of ``generated_domains``."""
    strategy = generated_domains(
        machines,
        min_disks=min_disks,
        max_disks=max_disks,
        crowded=crowded,
        kernel_boot=kernel_boot,
    )
    return strategy.map(lambda domain: domain.xml)


@st.composite
def _domains(
    draw: st.DrawFn,
    families: tuple[str, ...],
    min_disks: int,
    max_disks: int | None,
    crowded: bool | None,
    kernel_boot: bool,
) -> GeneratedDomain:
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
        vram = " vram='16384'" if video == "vga" else ""
        builder.pci.use((0, slot, 0))
        builder.video.append(
            Dev(
                tag="video",
                open="<video>",
                # libvirt fills in a VGA's video memory, and no other model's here.
                body=[(1, f"<model type='{video}'{vram} heads='1' primary='yes'/>")],
                tail=[(1, pci_address((0, slot, 0)))],
            )
        )
    else:
        builder.video.append(Dev(tag="video", open="<video>", body=[(1, "<model type='none'/>")]))
    builder.topology(crowded)
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
    limit = USUAL_MAX_DISKS if max_disks is None else max_disks
    for spec in draw(_disk_lists(family, min(min_disks, limit), limit)):
        builder.place_disk(spec)
    # A disk whose bus is full is not placed: top up to min_disks with others.
    for _ in range(4 * min_disks):
        if len(builder.disks) >= min_disks:
            break
        builder.place_disk(draw(disks(family)))
    if len(builder.disks) < min_disks:
        reject()
    buses = [bus for bus in ("scsi", "sata", "ide", "usb", "fdc") if bus in MACHINE_BUSES[family]]
    if crowded is None:
        fill_bus = draw(sampled(None, None, None, "scsi", "sata", "ide", "usb", "fdc"))
    else:
        fill_bus = draw(sampled(*buses)) if crowded else None
    if fill_bus is not None and fill_bus in MACHINE_BUSES[family]:
        _fill_drive_bus(builder, fill_bus, max_disks)
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
    if crowded is None:
        crowd = draw(sampled(None, None, None, 0, 1, 2, 3))
    else:
        crowd = draw(sampled(0, 1, 2, 3)) if crowded else None
    if crowd is not None and family != S390:
        builder.fill(crowd)
        labels.append(f"pci-crowded-{crowd}")
    builder.name_disks()
    return render_domain(draw, builder, kernel_boot)


@functools.cache
def _disk_lists(family: str, low: int, high: int) -> st.SearchStrategy[list[DiskSpec]]:
    return st.lists(disks(family), min_size=low, max_size=high)


# --- requests ----------------------------------------------------------------------------------


# Bus values, known or not (case matters: 'Virtio' is no bus).
ANY_BUS_VALUE = sampled(*BUSES, "Virtio", "nvme", "")


@st.composite
def rescue_requests(
    draw: st.DrawFn, *, legacy: bool = False, kernel: bool = False, invalid: bool = False
) -> RescueCall:
    """The image properties, source and options of one rescue: every bus and device.

    Stable mode (``hw_rescue_bus`` or ``hw_rescue_device`` present); ``legacy=True`` also draws
    requests with neither (Nova's legacy layout, docs/policy.md rules L1 to L7). ``kernel=True``
    also draws direct kernel boots (``verify`` reports ``os-boot-changed`` for those, as it must:
    the guest no longer boots from a disk). ``invalid=True``
    also draws values no domain accepts (an unknown bus or device, a relative or HTTP source, a
    source of unknown format without ``source_format``, an initrd without a kernel). Valid
    values can still be refused by the domain they meet: a bus the machine lacks or that is
    full, for example (a ``RescueError`` with its code).
    """

    def mostly(usual: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
        return _mostly(usual, rare) if invalid else usual

    shape = draw(sampled("both", "both", "both", "bus", "device", *(["legacy"] if legacy else [])))
    properties: list[tuple[str, str]] = []
    device = draw(mostly(sampled(*DEVICE_TYPES), sampled("tape", "Disk")))
    if shape in ("both", "bus"):
        # A bus that takes the device (a disk when hw_rescue_device is absent: docs/properties.md);
        # with invalid, the device's or any bus at all now and then (refused).
        wanted = device if shape == "both" or invalid else "disk"
        fitting = [bus for bus in BUSES if (bus, wanted) in FITS] or list(BUSES)
        if "usb" in fitting:
            fitting.append("usb")  # USB's ports run out often: ask for it more
        bus = draw(mostly(sampled(*fitting), ANY_BUS_VALUE))
        properties.append(("hw_rescue_bus", bus))
    if shape in ("both", "device"):
        properties.append(("hw_rescue_device", device))
    for name, kind in (
        ("hw_disk_bus", "disk"),
        ("hw_cdrom_bus", "cdrom"),
        ("hw_floppy_bus", "floppy"),
    ):
        if draw(chance(4)):
            # A bus that takes the kind; with invalid, any bus now and then.
            usual = sampled(*BUSES) if invalid else _buses_for(kind)
            properties.append((name, draw(mostly(usual, ANY_BUS_VALUE))))
    if draw(chance(3)):
        properties.append(
            ("hw_scsi_model", draw(mostly(sampled(*SCSI_MODELS, "ibmvscsi"), sampled("buslogic"))))
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
    if invalid and draw(chance(25)):
        source, settled = draw(sampled(*INVALID_SOURCES)), True
    elif device == "lun" and (not invalid or not draw(chance(4))):
        # A LUN needs a block device or an iSCSI LUN; with invalid, a file or rbd image now and
        # then (refused).
        source, settled = draw(sampled(SOURCES[4], SOURCES[5], SOURCES[8]))
    else:
        source, settled = draw(sampled(*SOURCES))
    source_format = None
    if not settled or draw(chance(4)):
        # A LUN passes the device through: raw only (with invalid, any format now and then).
        formats = SOURCE_FORMATS if invalid else VALID_FORMATS if device != "lun" else ("raw",)
        source_format = draw(mostly(sampled(*formats), sampled("vhd", None)))
    kernel_path = initrd = cmdline = None
    if kernel and draw(chance(6)):
        kernel_path = "/var/lib/libvirt/boot/rescue-vmlinuz"
        initrd = draw(sampled(None, "/var/lib/libvirt/boot/rescue-initrd.img"))
        cmdline = draw(sampled(None, "console=ttyS0 rescue"))
    elif invalid and draw(chance(31)):
        initrd = "/var/lib/libvirt/boot/rescue-initrd.img"  # without a kernel: refused
    return RescueCall(
        properties=tuple(properties),
        source=source,
        source_format=source_format,
        kernel=kernel_path,
        initrd=initrd,
        cmdline=cmdline,
        legacy=shape == "legacy",
    )


@functools.cache
def _buses_for(kind: str) -> st.SearchStrategy[str]:
    return sampled(*[bus for bus in BUSES if (bus, kind) in FITS])


@functools.cache
def _mostly(usual: st.SearchStrategy[T], rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` nine times in ten, else ``rare``."""
    return chance(10).flatmap(lambda rarely: rare if rarely else usual)
