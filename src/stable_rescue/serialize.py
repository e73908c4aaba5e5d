"""A ``Plan`` as plain JSON-ready data, and back: ``plan_to_dict`` and ``plan_from_dict``.

The dict is what ``stable-rescue plan`` prints: attrs fields by name, enums as their values,
tuples as lists, and each address as an object with a ``type`` key (``drive``, ``usb``, ``pci``,
``ccw``, or an ``OtherAddress``'s own type). Both directions walk ``attrs.fields`` and the
resolved type hints, so a field added to the model is carried without a change here.

``plan_from_dict`` is strict: every field present, no other key, each value of its field's JSON
type. It is the exact inverse: ``plan_from_dict(plan_to_dict(plan)) == plan``, fields that
``==`` ignores (``PciAddress.multifunction``) included.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs

from stable_rescue.errors import InvalidPlan
from stable_rescue.model import (
    CcwAddress,
    DriveAddress,
    OtherAddress,
    PciAddress,
    Plan,
    SpaprVioAddress,
    UsbAddress,
)
from stable_rescue.verification import VerifyReport

# The address classes the planner places devices on, by their ``<address type>``. The tag is not
# a field of these classes; any other type is an ``OtherAddress``, whose ``type`` field is its tag.
ADDRESS_TYPES: Mapping[
    str, type[DriveAddress | UsbAddress | PciAddress | CcwAddress | SpaprVioAddress]
] = types.MappingProxyType(
    {
        "drive": DriveAddress,
        "usb": UsbAddress,
        "pci": PciAddress,
        "ccw": CcwAddress,
        "spapr-vio": SpaprVioAddress,
    }
)
_ADDRESS_TAGS: Mapping[type, str] = {cls: tag for tag, cls in ADDRESS_TYPES.items()}
_ADDRESS_CLASSES = frozenset([*ADDRESS_TYPES.values(), OtherAddress])

# How messages name the JSON type a value has or a field wants.
_JSON_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    (int, "integer"),
    (str, "string"),
    (type(None), "null"),
    (float, "number"),
    (Mapping, "object"),
    (list, "array"),
    (tuple, "array"),
)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """``plan`` as JSON-ready data: only dicts, lists, strings, integers, booleans and None.

    ``json.dumps(plan_to_dict(plan), indent=2, sort_keys=True)`` and a newline is exactly what
    ``stable-rescue plan`` prints. Raises ``InvalidPlan`` for an ``OtherAddress`` whose type is
    one of ``ADDRESS_TYPES`` (``drive``, ...): its dict would read back as the other class.
    """
    data = _unstructure(plan, "plan")
    assert isinstance(data, dict)
    return data


def report_to_dict(report: VerifyReport) -> dict[str, Any]:
    """A ``VerifyReport`` as JSON-ready data, addresses tagged as in ``plan_to_dict``.

    ``stable-rescue verify --json`` prints it.
    """
    data = _unstructure(report, "report")
    assert isinstance(data, dict)
    return data


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """The ``Plan`` that ``plan_to_dict`` turned into ``data``.

    Raises ``InvalidPlan`` (a ``ValueError``: one line, naming the key's path such as
    ``plan.address.unit``) for a missing or unknown key, a value of the wrong JSON type, an
    unknown enum value or address type, or a value the model refuses (a negative unit).
    """
    plan = _structure(Plan, data, "plan")
    assert isinstance(plan, Plan)
    return plan


# --- to data -----------------------------------------------------------------------------------


def _unstructure(value: object, path: str) -> Any:
    """``value`` as JSON-ready data, by what it is (the model's values carry their own type)."""
    if isinstance(value, enum.Enum):
        return value.value
    cls = type(value)
    if attrs.has(cls):
        data = {
            field.name: _unstructure(getattr(value, field.name), f"{path}.{field.name}")
            for field in attrs.fields(cls)
        }
        tag = _ADDRESS_TAGS.get(cls)
        if tag is not None:
            return {"type": tag, **data}
        if isinstance(value, OtherAddress) and value.type in ADDRESS_TYPES:
            raise _invalid(
                path,
                f"{path} is an OtherAddress of type {value.type!r}; "
                f"expected a {ADDRESS_TYPES[value.type].__name__}",
            )
        return data
    if isinstance(value, (tuple, list)):
        return [_unstructure(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if value is None or isinstance(value, (str, int)):
        return value
    # A field type this module does not know: a bug, so not a ValueError.
    raise TypeError(f"{path} is a {type(value).__name__}; plan_to_dict has no rule for it")


# --- from data ---------------------------------------------------------------------------------


def _structure(hint: Any, data: object, path: str) -> Any:
    """``data`` as a value of the type ``hint``, checked as strictly as JSON allows."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _structure_union(typing.get_args(hint), data, path)
    if origin is tuple:
        return _structure_tuple(typing.get_args(hint), data, path)
    if hint in _ADDRESS_CLASSES:
        return _structure_address((hint,), data, path)
    if attrs.has(hint):
        return _structure_attrs(hint, data, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _structure_enum(hint, data, path)
    if hint in (str, int, bool, type(None)):
        # ``type(data) is`` keeps True out of an int field and 1 out of a bool one.
        if type(data) is not hint:
            raise _invalid(path, f"{path} is {_found(data)}; expected {_json_name(hint)}")
        return data
    raise TypeError(f"{path} has type {hint!r}; plan_from_dict has no rule for it")


def _structure_union(members: tuple[Any, ...], data: object, path: str) -> Any:
    """An optional value (``X | None``) or an address (``Address``, tagged by ``type``)."""
    if not any(_json_name(member) == _json_type(data) for member in members):
        raise _invalid(path, f"{path} is {_found(data)}; expected {_json_names(members)}")
    if data is None:
        return None
    present = tuple(member for member in members if member is not type(None))
    if len(present) == 1:
        return _structure(present[0], data, path)
    if all(member in _ADDRESS_CLASSES for member in present):
        return _structure_address(present, data, path)
    raise TypeError(f"{path} is a union {members!r}; plan_from_dict has no rule for it")


def _structure_tuple(arguments: tuple[Any, ...], data: object, path: str) -> tuple[Any, ...]:
    """``tuple[X, ...]`` (or a fixed ``tuple[X, Y]``) from a JSON array."""
    if not isinstance(data, (list, tuple)):
        raise _invalid(path, f"{path} is {_found(data)}; expected array")
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        hints = (arguments[0],) * len(data)
    elif len(data) != len(arguments):
        raise _invalid(path, f"{path} has {len(data)} items; expected {len(arguments)}")
    else:
        hints = arguments
    return tuple(
        _structure(hint, item, f"{path}[{index}]")
        for index, (hint, item) in enumerate(zip(hints, data, strict=True))
    )


def _structure_enum(enum_type: type[enum.Enum], data: object, path: str) -> enum.Enum:
    """An enum member from its value (the XML string)."""
    values = [member.value for member in enum_type]
    if type(data) is str:
        for member in enum_type:
            if member.value == data:
                return member
    expected = ", ".join(repr(value) for value in values)
    raise _invalid(path, f"{path} is {_found(data)}; expected one of {expected}")


def _structure_address(allowed: tuple[Any, ...], data: object, path: str) -> object:
    """An address, its class chosen by the ``type`` key through ``ADDRESS_TYPES``."""
    if not isinstance(data, Mapping):
        raise _invalid(path, f"{path} is {_found(data)}; expected object")
    if "type" not in data:
        raise _invalid(path, f"{path} has no key 'type'; expected an address type")
    tag = data["type"]
    if type(tag) is not str:
        raise _invalid(f"{path}.type", f"{path}.type is {_found(tag)}; expected string")
    cls: type = ADDRESS_TYPES.get(tag, OtherAddress)
    if cls is OtherAddress and len(data) > 1:
        # Fields beside the type mean the writer thought it a placed address: say so, rather
        # than reporting each field as unknown to OtherAddress.
        known = ", ".join(repr(name) for name in ADDRESS_TYPES)
        raise _invalid(
            path,
            f"{path} has unknown address type {tag!r}; expected one of {known}, or only 'type'",
        )
    if cls not in allowed:
        expected = ", ".join(repr(_ADDRESS_TAGS.get(member, "other")) for member in allowed)
        raise _invalid(path, f"{path} has address type {tag!r}; expected {expected}")
    if cls is not OtherAddress:
        data = {key: value for key, value in data.items() if key != "type"}
    return _structure_attrs(cls, data, path)


def _structure_attrs(cls: type, data: object, path: str) -> object:
    """An attrs instance: exactly its fields as keys, each value structured by its type hint."""
    if not isinstance(data, Mapping):
        raise _invalid(path, f"{path} is {_found(data)}; expected object")
    fields = attrs.fields(cls)
    for field in fields:
        if field.name not in data:
            raise _invalid(
                path, f"{path} has no key {field.name!r}; expected every field of {cls.__name__}"
            )
    names = {field.name for field in fields}
    unknown = sorted((key for key in data if key not in names), key=repr)
    if unknown:
        raise _invalid(
            path,
            f"{path} has unknown key {unknown[0]!r}; expected only the fields of {cls.__name__}",
        )
    hints = _type_hints(cls)
    arguments = {
        field.alias: _structure(hints[field.name], data[field.name], f"{path}.{field.name}")
        for field in fields
    }
    try:
        return cls(**arguments)
    except ValueError as error:
        # A validator's invariant (``unit >= 0``); its message already says found and expected.
        raise _invalid(path, f"{path}: {error}") from None


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """The class's annotations resolved (model.py's are strings: ``from __future__``)."""
    return typing.get_type_hints(cls)


# --- messages ----------------------------------------------------------------------------------


def _invalid(path: str, message: str) -> InvalidPlan:
    """The error for bad plan data, with the key's path (``plan.address.unit``) as context."""
    return InvalidPlan(message, path=path)


def _json_name(hint: Any) -> str:
    """The JSON type a field of type ``hint`` holds (not a union: see ``_json_names``)."""
    if typing.get_origin(hint) is tuple:
        return "array"
    if attrs.has(hint):
        return "object"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "string"
    for python_type, name in _JSON_NAMES:
        if hint is python_type:
            return name
    return repr(hint)


def _json_names(hints: tuple[Any, ...]) -> str:
    """The JSON types that fields of these types hold, for a message: ``string or null``."""
    names = dict.fromkeys(_json_name(hint) for hint in hints)
    return " or ".join(names)


def _json_type(value: object) -> str:
    """The JSON type of ``value`` (its Python class name if JSON has none)."""
    return next(
        (name for python_type, name in _JSON_NAMES if isinstance(value, python_type)),
        type(value).__name__,
    )


def _found(value: object) -> str:
    """A value for a message: its JSON type, and the value itself when it is short and scalar."""
    name = _json_type(value)
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return name
    text = repr(value)
    # repr() escapes newlines, so the message stays one line; cut it so it stays short.
    return f"{name} {text if len(text) <= 40 else text[:37] + '...'}"
