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
    MisspeltProperty,
    UnsupportedRescueBus,
    UnsupportedRescueDevice,
)
from stable_rescue.model import Bus, DeviceType, Mode, RescueRequest, RescueSource
from stable_rescue.source import (
    FsPath,
    found,
    parse_source,
    resolve_format,
    shown,
    xml_text_problem,
)

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
# How far a name may be from a rescue key and still be taken for a typo of it. Two edits catch
# 'hw_resuce_bus', 'hw-rescue-bus' and 'hw_rescue_dev'; no property Nova or Glance defines is
# that close (tests/test_request.py checks Nova's list).
_TYPO_DISTANCE = 2


def select_mode(properties: Mapping[str, object]) -> tuple[Mode, str]:
    """The rescue mode ``properties`` ask for, and why, by Nova's rule (the keys' presence).

    Refuses with ``MisspeltProperty`` a key that is close to a key the library reads, because
    the mode would otherwise change silently: a misspelt ``hw_rescue_bus`` means legacy mode,
    which moves the root disk.
    """
    if not isinstance(properties, Mapping):
        raise InvalidProperties(
            f"properties is a {type(properties).__name__}; expected a mapping of name to string"
        )
    for key in properties:
        if not isinstance(key, str):
            raise InvalidProperties(
                f"property name {shown(repr(key))} is a {type(key).__name__}; expected a string"
            )
        if key not in KNOWN_PROPERTIES:
            meant = _meant(key)
            if meant is not None:
                raise MisspeltProperty(
                    f"image property {shown(repr(key))} is not one this tool reads; "
                    f"did you mean {meant!r}?",
                    property=key,
                    suggestion=meant,
                )
    given = [name for name in (RESCUE_BUS, RESCUE_DEVICE) if name in properties]
    if given:
        return Mode.STABLE, f"the image sets {' and '.join(given)}"
    return Mode.LEGACY, (
        f"the image sets neither {RESCUE_BUS} nor {RESCUE_DEVICE} (Nova's rule: either key "
        "chooses stable mode)"
    )


def _meant(key: str) -> str | None:
    """The property ``key`` is a near miss of: case or surrounding space, or a typo."""
    folded = key.strip().lower()
    for known in KNOWN_PROPERTIES:
        if folded == known:
            return known
    for known in (RESCUE_BUS, RESCUE_DEVICE):
        if edit_distance(folded, known) <= _TYPO_DISTANCE:
            return known
    return None


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``.

    The optimal string alignment distance: a swapped pair ('resuce') is one typo, not two.
    """
    if abs(len(a) - len(b)) > _TYPO_DISTANCE:
        return abs(len(a) - len(b))  # at least this far; long keys need no table
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char_a != char_b),
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def build_request(
    properties: Mapping[str, str],
    source: str | bytes | FsPath | RescueSource,
    *,
    source_format: str | None = None,
    source_type: str | None = None,
    allow_unaddressed: bool = False,
    kernel: str | None = None,
    initrd: str | None = None,
    cmdline: str | None = None,
) -> RescueRequest:
    """The request that ``properties`` and ``source`` describe.

    ``initrd`` or ``cmdline`` without ``kernel``, or an empty value, is refused (rule K4).
    """
    mode, mode_reason = select_mode(properties)
    relevant: dict[str, str] = {}
    for name in KNOWN_PROPERTIES:
        if name in properties:
            value = properties[name]
            if not isinstance(value, str):
                raise InvalidProperties(
                    f"property {name} is {found(value)}; expected a string", property=name
                )
            problem = xml_text_problem(value)
            if problem is not None:
                # Every value read is checked against a list later, but this way a lone
                # surrogate (an undecodable byte from the CLI) is named as what it is.
                raise InvalidProperties(
                    f"property {name} {problem}; expected text XML can carry", property=name
                )
            relevant[name] = value
    device_type = _device_type(relevant.get(RESCUE_DEVICE, DeviceType.DISK.value))
    bus = parse_bus(relevant[RESCUE_BUS], RESCUE_BUS) if RESCUE_BUS in relevant else None
    parsed_source = parse_source(source, source_type)
    for option, given in (("kernel", kernel), ("initrd", initrd), ("cmdline", cmdline)):
        if given is None:
            continue
        if not isinstance(given, str) or not given:
            raise InvalidBootOptions(
                f"{option} is {shown(repr(given))}; expected a non-empty string", option=option
            )
        # Written as <kernel>, <initrd>, <cmdline> text: escaping makes '<' and '&' safe, but
        # no escape makes a NUL, an ESC or a lone surrogate XML.
        problem = xml_text_problem(given)
        if problem is not None:
            raise InvalidBootOptions(
                f"{option} {problem}; expected text XML can carry (no control characters but "
                "tab, newline and carriage return)",
                option=option,
            )
    if (initrd is not None or cmdline is not None) and kernel is None:
        raise InvalidBootOptions("initrd or cmdline given without kernel; expected a kernel too")
    return RescueRequest(
        mode=mode,
        mode_reason=mode_reason,
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
            f"{RESCUE_DEVICE} '{shown(value)}'; expected one of {choices}", device=value
        ) from None


def parse_bus(value: str, property_name: str) -> Bus:
    """The ``Bus`` that the image property ``property_name`` names."""
    try:
        return Bus(value)
    except ValueError:
        choices = ", ".join(bus.value for bus in Bus)
        raise UnsupportedRescueBus(
            f"{property_name} '{shown(value)}'; expected one of {choices}", bus=value
        ) from None
