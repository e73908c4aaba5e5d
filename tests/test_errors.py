"""The error classes: importable from the package, and plain data for JSON."""

from __future__ import annotations

import json

import stable_rescue
from stable_rescue.errors import ALL_ERRORS, RescueError, StrictWarnings


def test_every_error_class_is_exported() -> None:
    """Every error class (and the base) is importable from stable_rescue and in __all__."""
    classes: tuple[type[RescueError], ...] = (RescueError, *ALL_ERRORS)
    for error in classes:
        assert getattr(stable_rescue, error.__name__) is error
        assert error.__name__ in stable_rescue.__all__


def test_public_names_exist() -> None:
    """Everything __all__ names is there, including the values the docs call public."""
    for name in stable_rescue.__all__:
        assert hasattr(stable_rescue, name), name
    assert {
        "Mode",
        "DriveAddress",
        "UsbAddress",
        "PciAddress",
        "CcwAddress",
        "OtherAddress",
    } <= set(stable_rescue.__all__)


def test_json_context_keeps_lists() -> None:
    """Lists and tuples in an error's context stay lists in to_json, their items plain."""
    error = StrictWarnings("m", warnings=("a", "b"), nested=[1, ("x", object)], path=None)
    data = error.to_json()
    assert data["warnings"] == ["a", "b"]
    assert data["nested"] == [1, ["x", str(object)]]
    assert data["path"] is None
    assert json.loads(json.dumps(data)) == data
