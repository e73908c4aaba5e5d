"""Image properties and source -> ``RescueRequest``, with Nova's mode rule.

Stable mode when the rescue image has ``hw_rescue_bus`` or ``hw_rescue_device`` (the key's
presence counts, as in Nova's ``_requires_stable_device_rescue``); legacy mode otherwise. The bus
default depends on the domain's machine, so ``plan`` settles it, not this module.
"""

from __future__ import annotations

from collections.abc import Mapping

from stable_rescue.errors import (
    InvalidBootOptions,
    InvalidProperties,
    UnsupportedRescueBus,
    UnsupportedRescueDevice,
)
from stable_rescue.model import Bus, DeviceType, Mode, RescueRequest, RescueSource
from stable_rescue.source import parse_source, resolve_format

RESCUE_BUS = "hw_rescue_bus"
RESCUE_DEVICE = "hw_rescue_device"

# The image properties the planner reads; the rest of the mapping is ignored.
KNOWN_PROPERTIES = (
    RESCUE_BUS,
    RESCUE_DEVICE,
    "hw_disk_bus",
    "hw_cdrom_bus",
    "hw_floppy_bus",
    "hw_scsi_model",
)


def build_request(
    properties: Mapping[str, str],
    source: str | RescueSource,
    *,
    source_format: str | None = None,
    source_type: str | None = None,
    allow_unaddressed: bool = False,
    kernel: str | None = None,
    initrd: str | None = None,
    cmdline: str | None = None,
) -> RescueRequest:
    """The request that ``properties`` and ``source`` describe."""
    if not isinstance(properties, Mapping):
        raise InvalidProperties(
            f"properties is a {type(properties).__name__}; expected a mapping of name to string"
        )
    relevant: dict[str, str] = {}
    for name in KNOWN_PROPERTIES:
        if name in properties:
            value = properties[name]
            if not isinstance(value, str):
                raise InvalidProperties(
                    f"property {name} is {type(value).__name__} {value!r}; expected a string",
                    property=name,
                )
            relevant[name] = value
    mode = Mode.STABLE if (RESCUE_BUS in relevant or RESCUE_DEVICE in relevant) else Mode.LEGACY
    device_type = _device_type(relevant.get(RESCUE_DEVICE, DeviceType.DISK.value))
    bus = parse_bus(relevant[RESCUE_BUS], RESCUE_BUS) if RESCUE_BUS in relevant else None
    parsed_source = parse_source(source, source_type)
    for option, given in (("kernel", kernel), ("initrd", initrd), ("cmdline", cmdline)):
        if given is not None and (not isinstance(given, str) or not given):
            raise InvalidBootOptions(f"{option} is {given!r}; expected a non-empty string")
    if (initrd is not None or cmdline is not None) and kernel is None:
        raise InvalidBootOptions("initrd or cmdline given without kernel; expected a kernel too")
    return RescueRequest(
        mode=mode,
        device_type=device_type,
        bus=bus,
        image_properties=tuple(sorted(relevant.items())),
        source=parsed_source,
        source_format=resolve_format(parsed_source, source_format),
        allow_unaddressed=bool(allow_unaddressed),
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
    )


def _device_type(value: str) -> DeviceType:
    try:
        return DeviceType(value)
    except ValueError:
        choices = ", ".join(device.value for device in DeviceType)
        raise UnsupportedRescueDevice(
            f"{RESCUE_DEVICE} '{value}'; expected one of {choices}", device=value
        ) from None


def parse_bus(value: str, property_name: str) -> Bus:
    """The ``Bus`` that the image property ``property_name`` names."""
    try:
        return Bus(value)
    except ValueError:
        choices = ", ".join(bus.value for bus in Bus)
        raise UnsupportedRescueBus(
            f"{property_name} '{value}'; expected one of {choices}", bus=value
        ) from None
