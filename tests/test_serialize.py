"""plan_to_dict and plan_from_dict: the plan as JSON data, and back, exactly.

The dict must be what ``stable-rescue plan`` printed before serialize.py existed (the reference
below is that code, kept verbatim so the check stays meaningful once cli.py uses plan_to_dict),
and plan_from_dict its exact inverse for every plan: the planner's, over the golden cases and
generated domains, and any ``Plan`` at all drawn from the model's own type hints.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import stable_rescue
from stable_rescue import cli
from stable_rescue.errors import InvalidPlan
from stable_rescue.model import (
    CcwAddress,
    DriveAddress,
    MovedDisk,
    OtherAddress,
    PciAddress,
    Plan,
    SpaprVioAddress,
    UsbAddress,
)
from stable_rescue.serialize import ADDRESS_TYPES, plan_from_dict, plan_to_dict
from tests.golden_cases import GoldenCase, golden_cases
from tests.strategies import GeneratedDomain, RescueCall, all_requests, generated_domains

# --- the reference: cli.plan_json as it was before serialize.py --------------------------------


def reference_plan_json(plan: Plan) -> str:
    """The plan as JSON, exactly as ``cli.plan_json`` made it before plan_to_dict existed."""
    return (
        json.dumps(attrs.asdict(plan, value_serializer=_serialize), indent=2, sort_keys=True) + "\n"
    )


def _serialize(_: object, __: object, value: object) -> object:
    if hasattr(value, "value") and type(value).__module__ == "stable_rescue.model":
        return value.value
    if attrs.has(type(value)):
        data = attrs.asdict(value, value_serializer=_serialize)  # type: ignore[arg-type]
        return {"type": _address_type(value), **data} if "Address" in type(value).__name__ else data
    return value


def _address_type(address: object) -> str:
    names = {
        "DriveAddress": "drive",
        "UsbAddress": "usb",
        "PciAddress": "pci",
        "CcwAddress": "ccw",
        "SpaprVioAddress": "spapr-vio",
    }
    return names.get(type(address).__name__, getattr(address, "type", ""))


# --- helpers -----------------------------------------------------------------------------------


def assert_round_trip(plan: Plan) -> None:
    """plan_to_dict is JSON-stable, matches the reference, and plan_from_dict undoes it exactly."""
    data = plan_to_dict(plan)
    assert json.loads(json.dumps(data)) == data
    assert data == json.loads(reference_plan_json(plan))
    back = plan_from_dict(data)
    assert back == plan
    # attrs.asdict sees the fields == ignores (PciAddress.multifunction has eq=False).
    assert attrs.asdict(back) == attrs.asdict(plan)
    assert plan_to_dict(back) == data


RESCUED = [case for case in golden_cases() if case.is_rescue and case.expected_xml_path.exists()]
GOLDEN_PLANS = {case.name: case.run().plan for case in RESCUED}


def golden_dict(name: str) -> dict[str, Any]:
    """A fresh plan_to_dict of a golden case's plan, for a test to change."""
    return plan_to_dict(GOLDEN_PLANS[name])


# --- (1) the golden cases ----------------------------------------------------------------------


@pytest.mark.parametrize("case", RESCUED, ids=[case.name for case in RESCUED])
def test_golden_plans_serialize_as_plan_json_did(case: GoldenCase) -> None:
    """plan_to_dict gives what cli.plan_json printed, and plan_from_dict gives the plan back.

    docs/cli.md: ``plan`` prints "the rescue plan as JSON"; switching cli.py to
    plan_to_dict must not change one byte of it.
    """
    plan = GOLDEN_PLANS[case.name]
    data = plan_to_dict(plan)
    assert data == json.loads(reference_plan_json(plan))
    assert json.dumps(data, indent=2, sort_keys=True) + "\n" == cli.plan_json(plan)
    assert_round_trip(plan)


def test_golden_cases_cover_every_placed_address_type() -> None:
    """The golden plans hold drive, usb and pci addresses, a moved root and a network source.

    Without them the golden comparison above would say little about addresses.
    """
    kinds = {type(plan.address) for plan in GOLDEN_PLANS.values()}
    assert {DriveAddress, UsbAddress, PciAddress} <= kinds
    assert any(plan.root_moved is not None for plan in GOLDEN_PLANS.values())
    assert any(plan.source.hosts for plan in GOLDEN_PLANS.values())
    assert any(plan.controllers_added for plan in GOLDEN_PLANS.values())


def test_multifunction_survives_the_round_trip() -> None:
    """PciAddress.multifunction, which == ignores (eq=False), comes back as it went."""
    plan = GOLDEN_PLANS["q35-virtio-new-root-port"]
    assert isinstance(plan.address, PciAddress)
    plan = attrs.evolve(plan, address=attrs.evolve(plan.address, multifunction=True))
    data = plan_to_dict(plan)
    assert data["address"]["multifunction"] is True
    back = plan_from_dict(data)
    assert isinstance(back.address, PciAddress)
    assert back.address.multifunction is True
    assert_round_trip(plan)


def test_other_address_with_a_placed_type_is_refused() -> None:
    """plan_to_dict refuses OtherAddress(type='pci'): its dict would read back as a PciAddress."""
    plan = attrs.evolve(GOLDEN_PLANS["pc-virtio-disk"], address=OtherAddress(type="pci"))
    with pytest.raises(InvalidPlan, match=r"^plan\.address is an OtherAddress of type 'pci'; "):
        plan_to_dict(plan)


# --- (2) properties ----------------------------------------------------------------------------

# Each example builds a whole domain (about 20 ms): slow and large by design, not by accident.
generated = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@generated
@given(domain=generated_domains(), request=all_requests())
def test_planner_plans_round_trip(domain: GeneratedDomain, request: RescueCall) -> None:
    """Every plan plan_rescue makes, stable or legacy, survives plan_to_dict and plan_from_dict.

    docs/usage.md (``plan_to_dict`` and ``plan_from_dict``): the two are an inverse pair, and the
    dict is what ``stable-rescue plan`` prints.
    """
    try:
        plan = request.plan(domain.xml)
    except stable_rescue.RescueError as error:
        event(f"refused: {error.code}")
        return
    event(f"{plan.mode.value} on {type(plan.address).__name__}")
    assert_round_trip(plan)


# OtherAddress types as libvirt names them, and any text that is not a placed type.
OTHER_ADDRESS_TYPES = st.one_of(
    st.sampled_from(["virtio-mmio", "virtio-serial", "isa", "ccid", "spapr-vio", ""]),
    st.text(max_size=12),
).filter(lambda kind: kind not in ADDRESS_TYPES)
ADDRESS_CLASSES = (*ADDRESS_TYPES.values(), OtherAddress)


def values(hint: Any, *, non_negative: bool = False) -> st.SearchStrategy[Any]:
    """Any value of the type ``hint``, read from the model's type hints (new fields included).

    Addresses get non-negative integers (their validators' invariant).
    """
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(
            [values(member, non_negative=non_negative) for member in typing.get_args(hint)]
        )
    if origin is tuple:
        arguments = typing.get_args(hint)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return st.lists(values(arguments[0], non_negative=non_negative), max_size=3).map(tuple)
        return st.tuples(*(values(argument, non_negative=non_negative) for argument in arguments))
    if hint is OtherAddress:
        return st.builds(OtherAddress, type=OTHER_ADDRESS_TYPES)
    if attrs.has(hint):
        return instances(hint)
    if hint is int and non_negative:
        return st.integers(min_value=0)
    return st.from_type(hint)


def instances(cls: type, **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Instances of the attrs class ``cls``, each field drawn by its type (or ``overrides``)."""
    hints = typing.get_type_hints(cls)
    drawn = {
        field.alias: overrides[field.name]
        if field.name in overrides
        else values(hints[field.name], non_negative=cls in ADDRESS_CLASSES)
        for field in attrs.fields(cls)
    }
    return st.builds(cls, **drawn)


@given(plan=instances(Plan))
def test_any_plan_round_trips(plan: Plan) -> None:
    """Any Plan at all, every optional field present or not, survives the round trip exactly."""
    event(f"address {type(plan.address).__name__}")
    event(f"root_moved {'set' if plan.root_moved is not None else 'None'}")
    assert_round_trip(plan)


@pytest.mark.parametrize("cls", ADDRESS_CLASSES, ids=[cls.__name__ for cls in ADDRESS_CLASSES])
@given(data=st.data())
def test_every_address_type_round_trips(cls: type, data: st.DataObject) -> None:
    """Plans whose address (and moved root's address) is each address class round-trip."""
    root = instances(MovedDisk, address=values(cls))
    plan = data.draw(instances(Plan, address=values(cls), root_moved=root))
    assert type(plan.address) is cls
    assert_round_trip(plan)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
KeyPath = tuple[str | int, ...]


def paths(data: object, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every path to a value inside JSON ``data``, the root's ``()`` first."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


@given(name=st.sampled_from(sorted(GOLDEN_PLANS)), data=st.data())
def test_plan_from_dict_accepts_only_what_plan_to_dict_makes(
    name: str, data: st.DataObject
) -> None:
    """A damaged plan dict gives a Plan that serializes back to it, or a one-line ValueError.

    docs/errors.md: "Any input gives either a result or one of these errors"; and the dict a
    plan is read from is exactly the one it would print.
    """
    document: Any = golden_dict(name)
    path = data.draw(st.sampled_from(paths(document)))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    change = data.draw(st.sampled_from(["replace", "delete", "add"] if path else ["replace"]))
    if change == "replace" and not path:
        document = data.draw(JSON_VALUES)
    elif change == "replace":
        parent[path[-1]] = data.draw(JSON_VALUES)
    elif change == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif change == "delete":
        parent.pop(path[-1])
    else:
        target = parent[path[-1]]
        if isinstance(target, dict):
            target[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
        elif isinstance(target, list):
            target.append(data.draw(JSON_VALUES))
    event(change)
    result = read_back(document)
    if isinstance(result, str):
        event("refused")
        assert result.startswith("plan")
        assert "\n" not in result
    else:
        assert plan_to_dict(result) == document


def read_back(document: Any) -> Plan | str:
    """plan_from_dict's Plan, or the message of the InvalidPlan it raised."""
    try:
        return plan_from_dict(document)
    except InvalidPlan as error:
        return error.message


# --- (3) refusals ------------------------------------------------------------------------------

DELETE = object()


def changed(name: str, path: KeyPath, value: object) -> Callable[[], object]:
    """The golden case ``name``'s plan dict with the value at ``path`` set (or DELETEd)."""

    def make() -> object:
        document: Any = golden_dict(name)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(value)
        return document

    return make


def with_key(key: object) -> dict[object, object]:
    """A golden plan dict with one more key, of any type (JSON has only strings)."""
    document: dict[object, object] = {}
    document.update(golden_dict(PCI))
    document[key] = None
    return document


PCI = "q35-virtio-new-root-port"  # a pci address and an added pcie-root-port
LEGACY = "legacy-q35-scsi-kernel"  # a drive address, a moved root, an iSCSI source, a detached disk
USB = "pc-usb-hub"  # a usb address
LONG = "x" * 100

REFUSED = [
    pytest.param(lambda: [], "plan is array; expected object", id="not-an-object"),
    pytest.param(
        changed(PCI, ("boot_order",), DELETE),
        "plan has no key 'boot_order'; expected every field of Plan",
        id="missing-key",
    ),
    pytest.param(
        changed(LEGACY, ("source", "hosts", 0, "port"), DELETE),
        "plan.source.hosts[0] has no key 'port'; expected every field of NetworkHost",
        id="missing-nested-key",
    ),
    pytest.param(
        changed(PCI, ("snapshots",), []),
        "plan has unknown key 'snapshots'; expected only the fields of Plan",
        id="extra-key",
    ),
    pytest.param(
        lambda: with_key(1),
        "plan has unknown key 1; expected only the fields of Plan",
        id="extra-non-string-key",
    ),
    pytest.param(
        changed(PCI, ("address", "lun"), 0),
        "plan.address has unknown key 'lun'; expected only the fields of PciAddress",
        id="extra-address-key",
    ),
    pytest.param(
        changed(PCI, ("boot_order",), "1"),
        "plan.boot_order is string '1'; expected integer",
        id="string-for-integer",
    ),
    pytest.param(
        changed(PCI, ("boot_order",), True),
        "plan.boot_order is boolean True; expected integer",
        id="boolean-for-integer",
    ),
    pytest.param(
        changed(PCI, ("address", "slot"), 1.0),
        "plan.address.slot is number 1.0; expected integer",
        id="number-for-integer",
    ),
    pytest.param(
        changed(PCI, ("readonly",), 0),
        "plan.readonly is integer 0; expected boolean",
        id="integer-for-boolean",
    ),
    pytest.param(
        changed(PCI, ("kernel",), 3),
        "plan.kernel is integer 3; expected string or null",
        id="wrong-optional",
    ),
    pytest.param(
        changed(PCI, ("target",), None),
        "plan.target is null; expected string",
        id="null-for-string",
    ),
    pytest.param(
        changed(PCI, ("boot_order",), LONG),
        f"plan.boot_order is string '{'x' * 36}...; expected integer",
        id="long-value-cut",
    ),
    pytest.param(
        changed(PCI, ("warnings",), "x"),
        "plan.warnings is string 'x'; expected array",
        id="string-for-array",
    ),
    pytest.param(
        changed(PCI, ("warnings",), [1]),
        "plan.warnings[0] is integer 1; expected string",
        id="wrong-item",
    ),
    pytest.param(
        changed(PCI, ("source",), "file"),
        "plan.source is string 'file'; expected object",
        id="string-for-object",
    ),
    pytest.param(
        changed(PCI, ("root_moved",), []),
        "plan.root_moved is array; expected object or null",
        id="array-for-optional-object",
    ),
    pytest.param(
        changed(PCI, ("bus",), "nvme"),
        "plan.bus is string 'nvme'; expected one of 'virtio', 'scsi', 'sata', 'ide', 'usb', 'fdc'",
        id="unknown-enum-value",
    ),
    pytest.param(
        changed(PCI, ("mode",), "Stable"),
        "plan.mode is string 'Stable'; expected one of 'stable', 'legacy'",
        id="enum-case-matters",
    ),
    pytest.param(
        changed(PCI, ("source", "type"), 1),
        "plan.source.type is integer 1; expected one of 'file', 'block', 'network'",
        id="integer-for-enum",
    ),
    pytest.param(
        changed(PCI, ("address",), None),
        "plan.address is null; expected object",
        id="null-address",
    ),
    pytest.param(
        changed(PCI, ("address", "type"), DELETE),
        "plan.address has no key 'type'; expected an address type",
        id="address-without-type",
    ),
    pytest.param(
        changed(PCI, ("address", "type"), 3),
        "plan.address.type is integer 3; expected string",
        id="address-type-not-string",
    ),
    pytest.param(
        changed(PCI, ("address", "type"), "nvme"),
        "plan.address has unknown address type 'nvme'; "
        "expected one of 'drive', 'usb', 'pci', 'ccw', 'spapr-vio', or only 'type'",
        id="unknown-address-type",
    ),
    pytest.param(
        changed(PCI, ("address", "slot"), DELETE),
        "plan.address has no key 'slot'; expected every field of PciAddress",
        id="address-missing-field",
    ),
    pytest.param(
        changed(LEGACY, ("address", "type"), "pci"),
        "plan.address has no key 'domain'; expected every field of PciAddress",
        id="address-type-of-other-fields",
    ),
    pytest.param(
        changed(
            PCI,
            ("controllers_added", 0, "address"),
            {"type": "drive", "controller": 0, "bus": 0, "target": 0, "unit": 0},
        ),
        "plan.controllers_added[0].address has address type 'drive'; "
        "expected 'pci', 'ccw', 'spapr-vio'",
        id="address-type-not-allowed-here",
    ),
    pytest.param(
        changed(PCI, ("controllers_added", 0, "address"), {"type": "isa"}),
        "plan.controllers_added[0].address has address type 'isa'; "
        "expected 'pci', 'ccw', 'spapr-vio'",
        id="other-address-not-allowed-here",
    ),
    pytest.param(
        changed(LEGACY, ("root_moved", "address", "unit"), -1),
        "plan.root_moved.address: unit must be >= 0, got -1",
        id="model-invariant",
    ),
    pytest.param(
        changed(USB, ("address", "port"), "1.3"),
        "plan.address.port is string '1.3'; expected array",
        id="usb-port-as-text",
    ),
]


@pytest.mark.parametrize(("make", "message"), REFUSED)
def test_plan_from_dict_refuses(make: Callable[[], object], message: str) -> None:
    """Bad plan data raises InvalidPlan with one line: the key's path, found, and expected."""
    with pytest.raises(InvalidPlan, match=f"^{re.escape(message)}$") as caught:
        plan_from_dict(make())  # type: ignore[arg-type]
    assert caught.value.code == "invalid-plan"
    assert caught.value.message == message


def test_every_placed_address_type_is_in_the_table() -> None:
    """ADDRESS_TYPES maps each placed address class from the tag its dict carries."""
    assert dict(ADDRESS_TYPES) == {
        "drive": DriveAddress,
        "usb": UsbAddress,
        "pci": PciAddress,
        "ccw": CcwAddress,
        "spapr-vio": SpaprVioAddress,
    }
