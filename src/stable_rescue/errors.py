"""Every failure a caller can cause, each with a stable, machine-readable ``code``.

The ``code`` is the contract (listed in ``docs/errors.md``, never renamed); the message is for
people: one clause, what was found against what was expected.
"""

from __future__ import annotations


class RescueError(Exception):
    """Base of every error that bad input can cause.

    ``code`` is kebab-case and stable. ``context`` holds what the message talks about (``bus``,
    ``limit``, ``xpath``, ...) for tools that want more than the text.
    """

    code: str = "rescue-error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def to_json(self) -> dict[str, object]:
        """The error as plain data, for ``--json-errors``."""
        return {"code": self.code, "message": self.message, **_plain(self.context)}


def _plain(context: dict[str, object]) -> dict[str, object]:
    return {key: _plain_value(value) for key, value in context.items()}


def _plain_value(value: object) -> object:
    """``value`` as JSON can carry it: lists stay lists, anything else unknown is its text."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_value(item) for item in value]
    return str(value)


class InvalidDomainXML(RescueError, ValueError):
    """The input is not a well-formed libvirt ``<domain>`` document."""

    code = "invalid-domain-xml"


class InvalidDomain(RescueError, ValueError):
    """The domain is well-formed XML but libvirt itself would reject it."""

    code = "invalid-domain"


class UnsupportedHypervisor(RescueError):
    """The domain type is not ``kvm`` or ``qemu``."""

    code = "unsupported-hypervisor"


class UnsupportedMachine(RescueError):
    """The domain's architecture or machine type is one this library cannot place devices on."""

    code = "unsupported-machine"


class InvalidProperties(RescueError, ValueError):
    """The image properties are not a mapping of names to strings."""

    code = "invalid-properties"


class MisspeltProperty(RescueError, ValueError):
    """A property name close to one the library reads: a typo that would silently change mode."""

    code = "misspelt-property"


class UnsupportedRescueBus(RescueError, ValueError):
    """``hw_rescue_bus`` (or the default bus property) names no bus we know."""

    code = "unsupported-rescue-bus"


class UnsupportedRescueDevice(RescueError, ValueError):
    """``hw_rescue_device`` names no device type we know."""

    code = "unsupported-rescue-device"


class UnsupportedScsiModel(RescueError, ValueError):
    """``hw_scsi_model`` names a SCSI controller model QEMU does not have."""

    code = "unsupported-scsi-model"


class BusUnavailable(RescueError):
    """The bus does not exist on this machine, or the domain has disabled it."""

    code = "bus-unavailable"


class UnsupportedDeviceForBus(RescueError):
    """The device type cannot sit on the bus (a cdrom on virtio, a floppy off fdc, ...)."""

    code = "unsupported-device-for-bus"


class BusFull(RescueError):
    """No free, legal place for the rescue device on its bus, and none can be added."""

    code = "bus-full"


class UnaddressedDevices(RescueError):
    """Devices without explicit addresses: libvirt assigns them, and a new device may shift them."""

    code = "unaddressed-devices"


class InvalidSource(RescueError, ValueError):
    """The rescue media source is not a usable path or URI."""

    code = "invalid-source"


class SourceFormatRequired(RescueError, ValueError):
    """The source's format cannot be known from its name and was not given."""

    code = "source-format-required"


class UnsupportedSourceFormat(RescueError, ValueError):
    """The given source format is not one libvirt's QEMU driver takes."""

    code = "unsupported-source-format"


class UnsupportedSourceForDevice(RescueError):
    """The source type cannot back this device type (a ``lun`` needs a block or network source)."""

    code = "unsupported-source-for-device"


class InvalidBootOptions(RescueError, ValueError):
    """Rescue kernel options that do not make sense together."""

    code = "invalid-boot-options"


class NoRootDisk(RescueError):
    """Legacy mode needs a root disk to put the rescue disk in place of; the domain has none."""

    code = "no-root-disk"


class LegacyNotRequested(RescueError):
    """The CLI was asked for a rescue that would be legacy mode, without ``--legacy``."""

    code = "legacy-not-requested"


class ModeConflict(RescueError):
    """``--legacy`` was given, but the image properties ask for stable mode."""

    code = "mode-conflict"


class StrictWarnings(RescueError):
    """``--strict`` and the command had warnings: nothing was written."""

    code = "strict-warnings"


class AlreadyRescued(RescueError):
    """The domain already carries a rescue record."""

    code = "already-rescued"


class NotRescued(RescueError):
    """The domain carries no rescue record to undo."""

    code = "not-rescued"


class InvalidRescueRecord(RescueError, ValueError):
    """The rescue record is damaged, from an unknown version, or does not match the domain."""

    code = "invalid-rescue-record"


class InvalidImageJSON(RescueError, ValueError):
    """``--image-json`` is not JSON, or holds no usable property object."""

    code = "invalid-image-json"


class InvalidPlan(RescueError, ValueError):
    """A plan given as data (``plan_from_dict``) is not one ``plan_to_dict`` could have made."""

    code = "invalid-plan"


class UnreadableInput(RescueError, OSError):
    """An input file named on the command line cannot be read."""

    code = "unreadable-input"


class UnwritableOutput(RescueError, OSError):
    """An output file named on the command line cannot be written."""

    code = "unwritable-output"


ALL_ERRORS: tuple[type[RescueError], ...] = (
    InvalidDomainXML,
    InvalidDomain,
    UnsupportedHypervisor,
    UnsupportedMachine,
    InvalidProperties,
    MisspeltProperty,
    UnsupportedRescueBus,
    UnsupportedRescueDevice,
    UnsupportedScsiModel,
    BusUnavailable,
    UnsupportedDeviceForBus,
    BusFull,
    UnaddressedDevices,
    InvalidSource,
    SourceFormatRequired,
    UnsupportedSourceFormat,
    UnsupportedSourceForDevice,
    InvalidBootOptions,
    NoRootDisk,
    LegacyNotRequested,
    ModeConflict,
    StrictWarnings,
    AlreadyRescued,
    NotRescued,
    InvalidRescueRecord,
    InvalidImageJSON,
    InvalidPlan,
    UnreadableInput,
    UnwritableOutput,
)
