"""Target-name arithmetic: ``vda`` <-> index 0, bijective base 26, as libvirt's virDiskNameToIndex.

Every index here is 0-based and says so in its name.
"""

from __future__ import annotations

import re

from stable_rescue.model import Bus

PREFIX_BY_BUS: dict[Bus, str] = {
    Bus.VIRTIO: "vd",
    Bus.IDE: "hd",
    Bus.SCSI: "sd",
    Bus.SATA: "sd",
    Bus.USB: "sd",
    Bus.FDC: "fd",
}

# libvirt's virDiskNameParse accepts these prefixes; the index ignores which one it is.
_TARGET = re.compile(r"^(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)(\d*)$")


def suffix_for_index(index: int) -> str:
    """The letters for a 0-based disk index: 0 -> ``a``, 25 -> ``z``, 26 -> ``aa``.

    Rule T2.
    """
    if index < 0:
        raise ValueError(f"disk index must be >= 0, got {index}")
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


def index_for_suffix(letters: str) -> int:
    """The 0-based disk index of ``letters``: ``a`` -> 0, ``aa`` -> 26."""
    number = 0
    for letter in letters:
        number = number * 26 + (ord(letter) - ord("a") + 1)
    return number - 1


def target_for_index(bus: Bus, index: int) -> str:
    """The target name of the 0-based ``index`` on ``bus``: (VIRTIO, 1) -> ``vdb``.

    The prefix comes from the bus (rule T1); the letters are bijective base 26 (rule T2).
    """
    return PREFIX_BY_BUS[bus] + suffix_for_index(index)


def index_of_target(target: str) -> int | None:
    """The 0-based index of a whole-disk target name, or ``None``.

    Partition-style names (``vdc1``) and unknown prefixes have no index: they block no name.

    Rule T2: the index does not depend on the prefix.
    """
    match = _TARGET.match(target)
    if match is None or match.group(2):
        return None
    return index_for_suffix(match.group(1))
