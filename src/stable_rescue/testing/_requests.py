"""``RescueCall``, one generated ``rescue`` call, and the values requests draw from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

import stable_rescue

DEVICE_TYPES = ("disk", "cdrom", "floppy", "lun")
# The formats a rescue source may have, and one it may not (luks: an encrypted image).
VALID_FORMATS = ("raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vpc")
SOURCE_FORMATS = (*VALID_FORMATS, "luks")
# (bus, device) pairs that docs/properties.md's "Device on bus" table allows.
FITS = frozenset(
    [(bus, "disk") for bus in ("virtio", "scsi", "sata", "ide", "usb")]
    + [(bus, "cdrom") for bus in ("scsi", "sata", "ide", "usb")]
    + [("fdc", "floppy"), ("scsi", "lun")]
)


@attrs.frozen(kw_only=True)
class RescueCall:
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
