"""Stable device rescue for libvirt domains: add rescue media without moving any device.

``rescue`` turns a domain XML into its rescue-mode twin, ``unrescue`` undoes it exactly, and
``plan_rescue`` gives the plan alone; ``is_rescued`` tells which a domain is; ``verify`` checks
any rescue, whoever made it, device by device. Every failure the
caller can cause is a ``RescueError`` with a stable ``code``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stable_rescue.api import (
        RescueResult,
        Source,
        SourceTypeName,
        is_rescued,
        plan_rescue,
        rescue,
        unrescue,
    )
    from stable_rescue.errors import (
        AlreadyRescued,
        BusFull,
        BusUnavailable,
        InvalidBootOptions,
        InvalidDomain,
        InvalidDomainXML,
        InvalidImageJSON,
        InvalidPlan,
        InvalidProperties,
        InvalidRescueRecord,
        InvalidSource,
        LegacyNotRequested,
        MisspeltProperty,
        ModeConflict,
        NoRootDisk,
        NotRescued,
        RescueError,
        SourceFormatRequired,
        StrictWarnings,
        UnaddressedDevices,
        UnreadableInput,
        UnsupportedDeviceForBus,
        UnsupportedHypervisor,
        UnsupportedMachine,
        UnsupportedRescueBus,
        UnsupportedRescueDevice,
        UnsupportedScsiModel,
        UnsupportedSourceForDevice,
        UnsupportedSourceFormat,
        UnwritableOutput,
    )
    from stable_rescue.model import (
        AddedController,
        BootOrderChange,
        Bus,
        CcwAddress,
        DetachedDisk,
        DeviceType,
        DriveAddress,
        Mode,
        MovedDisk,
        NetworkHost,
        OtherAddress,
        PciAddress,
        Plan,
        RescueSource,
        SourceType,
        SpaprVioAddress,
        UsbAddress,
    )
    from stable_rescue.serialize import plan_from_dict, plan_to_dict
    from stable_rescue.verification import Finding, RescueDevice, VerifyReport, verify
    from stable_rescue.version import __version__

# Each public name and the module that defines it. They are imported on first use (PEP 562), so
# that ``stable-rescue`` loads only what its command needs: a CLI start is mostly imports.
_DEFINED_IN = {
    "AddedController": "model",
    "AlreadyRescued": "errors",
    "BootOrderChange": "model",
    "Bus": "model",
    "BusFull": "errors",
    "BusUnavailable": "errors",
    "CcwAddress": "model",
    "DetachedDisk": "model",
    "DeviceType": "model",
    "DriveAddress": "model",
    "Finding": "verification",
    "InvalidBootOptions": "errors",
    "InvalidDomain": "errors",
    "InvalidDomainXML": "errors",
    "InvalidImageJSON": "errors",
    "InvalidPlan": "errors",
    "InvalidProperties": "errors",
    "InvalidRescueRecord": "errors",
    "InvalidSource": "errors",
    "LegacyNotRequested": "errors",
    "MisspeltProperty": "errors",
    "Mode": "model",
    "ModeConflict": "errors",
    "MovedDisk": "model",
    "NetworkHost": "model",
    "NoRootDisk": "errors",
    "NotRescued": "errors",
    "OtherAddress": "model",
    "PciAddress": "model",
    "Plan": "model",
    "RescueDevice": "verification",
    "RescueError": "errors",
    "RescueResult": "api",
    "RescueSource": "model",
    "Source": "api",
    "SourceFormatRequired": "errors",
    "SourceType": "model",
    "SourceTypeName": "api",
    "SpaprVioAddress": "model",
    "StrictWarnings": "errors",
    "UnaddressedDevices": "errors",
    "UnreadableInput": "errors",
    "UnsupportedDeviceForBus": "errors",
    "UnsupportedHypervisor": "errors",
    "UnsupportedMachine": "errors",
    "UnsupportedRescueBus": "errors",
    "UnsupportedRescueDevice": "errors",
    "UnsupportedScsiModel": "errors",
    "UnsupportedSourceForDevice": "errors",
    "UnsupportedSourceFormat": "errors",
    "UnwritableOutput": "errors",
    "UsbAddress": "model",
    "VerifyReport": "verification",
    "__version__": "version",
    "is_rescued": "api",
    "plan_from_dict": "serialize",
    "plan_rescue": "api",
    "plan_to_dict": "serialize",
    "rescue": "api",
    "unrescue": "api",
    "verify": "verification",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module 'stable_rescue' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stable_rescue.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_DEFINED_IN])


__all__ = [
    "AddedController",
    "AlreadyRescued",
    "BootOrderChange",
    "Bus",
    "BusFull",
    "BusUnavailable",
    "CcwAddress",
    "DetachedDisk",
    "DeviceType",
    "DriveAddress",
    "Finding",
    "InvalidBootOptions",
    "InvalidDomain",
    "InvalidDomainXML",
    "InvalidImageJSON",
    "InvalidPlan",
    "InvalidProperties",
    "InvalidRescueRecord",
    "InvalidSource",
    "LegacyNotRequested",
    "MisspeltProperty",
    "Mode",
    "ModeConflict",
    "MovedDisk",
    "NetworkHost",
    "NoRootDisk",
    "NotRescued",
    "OtherAddress",
    "PciAddress",
    "Plan",
    "RescueDevice",
    "RescueError",
    "RescueResult",
    "RescueSource",
    "Source",
    "SourceFormatRequired",
    "SourceType",
    "SourceTypeName",
    "SpaprVioAddress",
    "StrictWarnings",
    "UnaddressedDevices",
    "UnreadableInput",
    "UnsupportedDeviceForBus",
    "UnsupportedHypervisor",
    "UnsupportedMachine",
    "UnsupportedRescueBus",
    "UnsupportedRescueDevice",
    "UnsupportedScsiModel",
    "UnsupportedSourceForDevice",
    "UnsupportedSourceFormat",
    "UnwritableOutput",
    "UsbAddress",
    "VerifyReport",
    "__version__",
    "is_rescued",
    "plan_from_dict",
    "plan_rescue",
    "plan_to_dict",
    "rescue",
    "unrescue",
    "verify",
]
