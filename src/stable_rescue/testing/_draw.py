"""Cheap, evenly spread Hypothesis draws that the generated domains and requests share.

Each strategy is built once and cached: building strategies on every draw makes generating a
domain slow.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

BOOLEANS = st.booleans()
_PICK = st.integers(0, 1 << 10)


@functools.cache
def sampled(*options: Any) -> st.SearchStrategy[Any]:
    """One of ``options``, about uniformly; shrinks to the first.

    Built once (building strategies per draw is slow). Unlike ``st.sampled_from``, whose
    choices in a long composite draw cluster on the first and last options, this spreads them.
    """
    return _PICK.map(lambda value: options[value % len(options)])


@functools.cache
def ints(low: int, high: int) -> st.SearchStrategy[int]:
    """``st.integers(low, high)``, built once."""
    return st.integers(low, high)


def pick(draw: st.DrawFn, options: list[T]) -> T:
    """One of ``options`` (shrinks to the first); cheaper than building a strategy per call."""
    return options[draw(_PICK) % len(options)]


@functools.cache
def chance(denominator: int) -> st.SearchStrategy[bool]:
    """True about once in ``denominator`` draws; shrinks to False.

    Hypothesis draws the bounds of an integer range far more often than the middle, so the rare
    case is a value in the middle, not 0.
    """
    return st.integers(0, denominator - 1).map(lambda value: value == denominator // 2)
