"""Target-name arithmetic: bijective base 26, 0-based, independent of the prefix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stable_rescue.model import Bus
from stable_rescue.names import (
    index_for_suffix,
    index_of_target,
    suffix_for_index,
    target_for_index,
)

# (index, letters): the edges of each length, where an off-by-one shows first.
SUFFIXES = [
    (0, "a"),
    (1, "b"),
    (2, "c"),
    (25, "z"),
    (26, "aa"),
    (27, "ab"),
    (51, "az"),
    (52, "ba"),
    (701, "zz"),
    (702, "aaa"),
    (703, "aab"),
    (18277, "zzz"),
    (18278, "aaaa"),
]


@pytest.mark.parametrize(("index", "letters"), SUFFIXES, ids=[s for _, s in SUFFIXES])
def test_suffix_for_index(index: int, letters: str) -> None:
    """Index i has the letters of bijective base 26: a=0, z=25, aa=26, zz=701, aaa=702."""
    assert suffix_for_index(index) == letters


@pytest.mark.parametrize(("index", "letters"), SUFFIXES, ids=[s for _, s in SUFFIXES])
def test_index_for_suffix(index: int, letters: str) -> None:
    """The letters give back their 0-based index."""
    assert index_for_suffix(letters) == index


def test_suffix_for_negative_index_is_a_bug() -> None:
    """A negative index is a programming error, not a caller's input: a plain ValueError."""
    with pytest.raises(ValueError, match=r"^disk index must be >= 0, got -1$"):
        suffix_for_index(-1)


TARGETS = [
    (Bus.VIRTIO, 0, "vda"),
    (Bus.VIRTIO, 1, "vdb"),
    (Bus.IDE, 3, "hdd"),
    (Bus.SCSI, 2, "sdc"),
    (Bus.SATA, 25, "sdz"),
    (Bus.USB, 26, "sdaa"),
    (Bus.FDC, 1, "fdb"),
    (Bus.VIRTIO, 702, "vdaaa"),
]


@pytest.mark.parametrize(
    ("bus", "index", "target"), TARGETS, ids=[target for _, _, target in TARGETS]
)
def test_target_for_index(bus: Bus, index: int, target: str) -> None:
    """Prefix by bus (vd, hd, sd for scsi/sata/usb, fd), then the letters of the index."""
    assert target_for_index(bus, index) == target


INDEXED = [
    ("vda", 0),
    ("vdc", 2),
    ("sdc", 2),
    ("hdd", 3),
    ("fdb", 1),
    ("xvdb", 1),
    ("ubda", 0),
    ("vdaa", 26),
    ("sdzz", 701),
    ("vdaaa", 702),
]


@pytest.mark.parametrize(("target", "index"), INDEXED, ids=[target for target, _ in INDEXED])
def test_index_of_target(target: str, index: int) -> None:
    """A whole-disk name has the index of its letters, whatever the prefix (sdc and vdc are 2)."""
    assert index_of_target(target) == index


NO_INDEX = [
    "vdc1",
    "sda10",
    "vda0",
    "vd",
    "",
    "VDA",
    "nvme0n1",
    "da",
    "vd1",
    "vdA",
    "mmcblk0",
]


@pytest.mark.parametrize("target", NO_INDEX, ids=[t or "empty" for t in NO_INDEX])
def test_index_of_target_none(target: str) -> None:
    """Partitions (vdc1), unknown prefixes and names without letters have no index."""
    assert index_of_target(target) is None


@given(st.integers(min_value=0, max_value=20000))
def test_suffix_round_trip(index: int) -> None:
    """The letters are a bijection: index -> letters -> the same index."""
    assert index_for_suffix(suffix_for_index(index)) == index


@given(st.integers(min_value=0, max_value=20000), st.sampled_from(list(Bus)))
def test_target_round_trip(index: int, bus: Bus) -> None:
    """A generated target name gives back its index, on every bus."""
    assert index_of_target(target_for_index(bus, index)) == index


@given(st.integers(min_value=0, max_value=20000))
def test_suffix_order(index: int) -> None:
    """The next index has a longer name, or a name of the same length that sorts after it."""
    this, following = suffix_for_index(index), suffix_for_index(index + 1)
    assert (len(this), this) < (len(following), following)
    assert set(this) <= set("abcdefghijklmnopqrstuvwxyz")
