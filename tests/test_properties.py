"""Hypothesis properties over generated domains: docs/policy.md's rules hold for any of them.

Domains and requests come from ``tests/strategies.py``. Expected placements and refusals come
from ``tests/brute_force.py``, an independent brute-force reading of the policy that never calls
the library's parser or allocator. Each property's docstring quotes the rule it enforces. The
``ci`` profile (conftest.py) runs each property 500 times and prints a reproducing blob on
failure.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from lxml import etree

import stable_rescue
from stable_rescue.errors import ALL_ERRORS
from stable_rescue.testing import assert_stable_rescue
from tests import brute_force
from tests.libvirt_host import (
    Virsh,
    VirshError,
    attributes,
    by_alias,
    client_or_skip,
    for_test,
    libvirt_label,
)
from tests.mutations import mutated
from tests.strategies import (
    GeneratedDomain,
    RescueCall,
    all_requests,
    generated_domains,
    libvirt_samples,
    sample,
)

RECORD_NAMESPACE_PREFIX = "urn:stable-rescue:rescue:"
RECORD_NAMESPACE = "urn:stable-rescue:rescue:1"
PROVISIONAL_RECORD_NAMESPACE = "http://stable-rescue.org/xmlns/rescue/1"
ADDED_PREFIX = "ua-stable-rescue-"
RESCUE_ALIAS = "ua-stable-rescue-disk"
ERROR_CODES = frozenset(error.code for error in ALL_ERRORS)

# Each example builds a whole domain (about 20 ms): slow and large by design, not by accident.
generated = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Stable mode only: legacy mode moves the root disk and detaches others, by design (rule G1).
stable_requests = all_requests(legacy=False)

Outcome = tuple[stable_rescue.RescueResult | None, stable_rescue.RescueError | None]


def attempt(domain: GeneratedDomain, request: RescueCall) -> Outcome:
    """The rescue's result, or the RescueError it raised (anything else propagates)."""
    note(f"request: {request!r}")
    try:
        return request.rescue(domain.xml), None
    except stable_rescue.RescueError as error:
        note(f"refused: {error.code}: {error}")
        return None, error


def parse(xml: str) -> etree._Element:
    """``xml`` as an lxml tree, comments kept."""
    return etree.fromstring(xml.encode("utf-8"), etree.XMLParser(remove_comments=False))


def added_aliases(result: stable_rescue.RescueResult) -> list[str]:
    """The aliases of everything the plan says it added, the rescue disk first."""
    return [result.plan.alias, *(added.alias for added in result.plan.controllers_added)]


def device_children(root: etree._Element) -> list[etree._Element]:
    """The element children of ``<devices>``."""
    devices = root.find("devices")
    assert devices is not None
    return [child for child in devices if isinstance(child.tag, str)]


def alias_of(element: etree._Element) -> str | None:
    """The ``<alias name>`` of a device."""
    found = element.find("alias")
    return None if found is None else found.get("name")


def split_added(
    root: etree._Element, aliases: list[str]
) -> tuple[list[etree._Element], dict[str, etree._Element]]:
    """(the devices that were there before, the added ones by alias)."""
    kept: list[etree._Element] = []
    added: dict[str, etree._Element] = {}
    for element in device_children(root):
        alias = alias_of(element)
        if alias is not None and alias in aliases:
            assert alias not in added, f"two devices with alias {alias}"
            added[alias] = element
        else:
            kept.append(element)
    assert sorted(added) == sorted(aliases), f"added {sorted(added)}, the plan says {aliases}"
    return kept, added


def boot_order(element: etree._Element) -> int | None:
    """A device's ``<boot order>``, if it has one."""
    boot = element.find("boot")
    return None if boot is None else int(boot.get("order", "0"))


def address_tuple(element: etree._Element) -> brute_force.Address | None:
    """An lxml element's ``<address>`` as brute_force's tuples."""
    return brute_force.address_of(ET.fromstring(etree.tostring(element)))


# --- totality ----------------------------------------------------------------------------------


@generated
@given(domain=generated_domains(), request=all_requests())
def test_generated_requests_give_a_result_or_a_rescue_error(
    domain: GeneratedDomain, request: RescueCall
) -> None:
    """Totality over generated domains and requests, and plan_rescue agrees with rescue.

    docs/errors.md: "Any input gives either a result or one of these errors; anything else
    escaping is a bug." A RescueError has a listed code and a one-line message.
    """
    for label in domain.labels:
        event(label)
    result, error = attempt(domain, request)
    if error is not None:
        event(f"refused: {error.code}")
        assert error.code in ERROR_CODES
        assert "\n" not in str(error)
        with pytest.raises(stable_rescue.RescueError) as again:
            request.plan(domain.xml)
        assert again.value.code == error.code
        return
    assert result is not None
    event(f"rescued on {result.plan.bus.value}")
    assert isinstance(result.xml, str)
    assert request.plan(domain.xml) == result.plan


@generated
@given(
    xml=mutated(generated_domains().map(lambda domain: domain.xml)),
    request=all_requests(),
    allow_unaddressed=st.booleans(),
)
def test_mutated_domains_give_a_result_or_a_rescue_error(
    xml: str, request: RescueCall, allow_unaddressed: bool
) -> None:
    """Totality over mutations of generated XML, and N6 whenever a mutant is rescued.

    docs/errors.md: "Any input gives either a result or one of these errors." **N6**
    "unrescue(rescue(x).xml) == x, byte for byte".
    """
    request = attrs.evolve(request, allow_unaddressed=allow_unaddressed)
    try:
        result = request.rescue(xml)
    except stable_rescue.RescueError as error:
        code = error.code
        event(f"refused: {code}")
        assert code in ERROR_CODES
        return
    event("rescued")
    assert stable_rescue.unrescue(result.xml) == xml


@st.composite
def rescued_documents(draw: st.DrawFn) -> str:
    """The rescued XML of a generated domain (the domain itself when the rescue is refused)."""
    domain = draw(generated_domains())
    request = draw(all_requests())
    try:
        return request.rescue(domain.xml).xml
    except stable_rescue.RescueError:
        return domain.xml


@generated
@given(xml=mutated(rescued_documents()))
def test_mutated_rescued_domains_unrescue_or_raise(xml: str) -> None:
    """Totality of unrescue over damaged rescued domains.

    docs/errors.md: anything but a result or a RescueError escaping is a bug; **N1** a damaged
    record is ``invalid-rescue-record`` ("nothing is undone by halves"), none ``not-rescued``.
    """
    try:
        restored = stable_rescue.unrescue(xml)
    except stable_rescue.RescueError as error:
        code = error.code
        event(f"refused: {code}")
        assert code in ERROR_CODES
        return
    event("unrescued")
    assert isinstance(restored, str)


# --- G1: nothing else changes ------------------------------------------------------------------


def canonical_without_rescue(xml: str, aliases: list[str]) -> str:
    """``xml`` canonicalised (C14N, comments kept) without what a rescue may change.

    Taken out: the devices added (by alias), every device's ``<boot>``, ``<os>``'s boot and
    kernel children, the rescue record and a ``<metadata>`` left empty; whitespace-only text.
    One element per line, for a readable diff.
    """
    root = parse(xml)
    devices = root.find("devices")
    assert devices is not None
    for element in device_children(root):
        if alias_of(element) in aliases:
            devices.remove(element)
        for boot in element.findall("boot"):
            element.remove(boot)
    os_element = root.find("os")
    if os_element is not None:
        for child in list(os_element):
            if child.tag in ("boot", "kernel", "initrd", "cmdline"):
                os_element.remove(child)
    metadata = root.find("metadata")
    if metadata is not None:
        for child in list(metadata):
            namespace = etree.QName(child).namespace if isinstance(child.tag, str) else None
            if namespace is not None and namespace.startswith(RECORD_NAMESPACE_PREFIX):
                metadata.remove(child)
        if not any(isinstance(child.tag, str) for child in metadata):
            root.remove(metadata)
    for node in root.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(root, method="c14n", with_comments=True).decode().replace("><", ">\n<")


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_no_existing_device_changes(domain: GeneratedDomain, request: RescueCall) -> None:
    """Everything outside the plan's changes stays as it was (G1, O1).

    **G1** "No existing device changes: its target name, address, controller and every
    attribute stay as they were. The only change to an existing device is its <boot order>."
    **O1** "Every byte the plan does not name comes back unchanged" (here: every element,
    attribute and comment, canonicalised).
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    before = canonical_without_rescue(domain.xml, [])
    after = canonical_without_rescue(result.xml, added_aliases(result))
    diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))
    assert after == before, diff


# --- the rescue device: free, legal, first -----------------------------------------------------


def name_problems(view: brute_force.DomainView, bus: str, name: str) -> list[str]:
    """Why the rescue disk's target name breaks rules T1 to T6, if it does."""
    problems = []
    index = brute_force.disk_index(name)
    if not name.startswith(brute_force.PREFIXES[bus]) or index is None:
        problems.append(f"target {name} lacks the prefix of bus {bus} (T1, T2)")
    if name in {disk.target for disk in view.disks}:
        problems.append(f"target {name} is used already (T3.1)")
    same_bus = {brute_force.disk_index(disk.target) for disk in view.disks if disk.bus == bus}
    if bus in ("virtio", "usb") and index in same_bus:
        problems.append(f"target {name}: index {index} used on {bus} (T3.2)")
    if index is not None and bus in brute_force.DRIVE_BUSES:
        if brute_force.derived_address(bus, index) in brute_force.drive_taken(view, bus):
            problems.append(f"target {name}: its derived address is taken (T3.3)")
        if index >= {"ide": 4, "fdc": 2}.get(bus, 1 << 30):
            problems.append(f"target {name}: not one of the names of {bus} (T6)")
    return problems


def drive_problems(
    view: brute_force.DomainView,
    bus: str,
    address: brute_force.Address,
    added: list[etree._Element],
) -> list[str]:
    """Why a drive address is not a free unit of an existing or added controller (D1-D4)."""
    if address[0] != "drive":
        return [f"address {address} on bus {bus} is not a drive address"]
    buses, units, _ = brute_force.DRIVE_GEOMETRY[bus]
    new = {int(e.get("index", "-1")) for e in added if e.get("type") == bus}
    _, controller, drive_bus, target, unit = address
    problems = []
    if controller not in set(brute_force.drive_controllers(view, bus)) | new:
        problems.append(f"{address}: no {bus} controller {controller} (D2)")
    if not (0 <= int(str(drive_bus)) < buses and target == 0 and 0 <= int(str(unit)) < units):
        problems.append(f"{address}: out of range for {bus} (D3)")
    if address in brute_force.drive_taken(view, bus):
        problems.append(f"{address}: taken (D1)")
    return problems


def pci_problems(
    view: brute_force.DomainView,
    address: brute_force.Address,
    added: list[etree._Element],
    own: etree._Element | None,
) -> list[str]:
    """Why a PCI address is not a free, legal place for a new device (P1-P4, E1-E5).

    ``own`` is the added controller at ``address``; None for the rescue disk (a virtio disk,
    a PCIe endpoint on q35).
    """
    if address[0] != "pci":
        return [f"address {address} is not a PCI address"]
    bus, slot, function = (int(str(part)) for part in address[1:])
    own_model = None if own is None else own.get("model")
    problems = []
    if (bus, slot, function) in view.pci_used:
        problems.append(f"{address}: function in use (P1)")
    if any((bus, slot, f) in view.pci_used for f in range(8)) and not (
        bus == 0 and function > 0 and own_model == "pcie-root-port"
    ):
        problems.append(f"{address}: slot in use (P1)")
    added_models = {
        int(e.get("index", "-1")): e.get("model")
        for e in added
        if e.get("type") == "pci" and e is not own
    }
    models = {c.index: c.model for c in view.controllers if c.type == "pci"} | added_models
    model = models.get(bus, "pci-root" if bus == 0 and view.family == "pc" else None)
    if view.family in ("pc", "pseries"):
        if model not in ("pci-root", "pci-bridge") or not 1 <= slot <= 31 or function != 0:
            problems.append(f"{address}: not a conventional PCI slot (P2)")
        if view.family == "pc" and bus == 0 and slot == 1:
            problems.append(f"{address}: the PIIX3 chipset's slot (P1)")
        free = len(brute_force.pci_free_slots(view, include_root=True))
        if bus not in added_models and own_model != "pci-bridge" and free < 2:
            problems.append(f"{address}: takes the slot kept for a bridge ({free} free) (P3)")
        return problems
    if bus == 0:
        if own_model != "pcie-root-port":
            problems.append(f"{address}: an endpoint on pcie-root (E1)")
        elif slot == 0 or (slot == 0x1F and view.family == "q35"):
            problems.append(f"{address}: a reserved pcie-root slot (E3)")
        elif function > 0 and not any(
            c.address == ("pci", 0, slot, 0) and c.model == "pcie-root-port" and c.multifunction
            for c in view.controllers
        ):
            problems.append(f"{address}: function 0 is no multifunction root port (E4)")
    elif model in ("pcie-root-port", "pcie-switch-downstream-port"):
        if (slot, function) != (0, 0):
            problems.append(f"{address}: a port has slot 0 only (E1)")
        if any(used_bus == bus for used_bus, _, _ in view.pci_used):
            problems.append(f"{address}: the port is not empty (E1)")
    elif model in ("pci-bridge", "pcie-to-pci-bridge"):
        if own is None:
            problems.append(f"{address}: a virtio disk, a PCIe endpoint, on a PCI bridge (E1)")
        if not 1 <= slot <= 31 or function != 0:
            problems.append(f"{address}: not a bridge slot (E5)")
    else:
        problems.append(f"{address}: bus {bus} is no port or bridge but {model}")
    return problems


def phb_problems(
    view: brute_force.DomainView, added: list[etree._Element], element: etree._Element
) -> list[str]:
    """Why an added pseries PHB is not legal (V5): its target index is its place, not an address."""
    if view.family != "pseries":
        return [f"a PHB added on {view.family}, which has none (V5)"]
    target = element.find("target")
    problems = []
    if element.find("address") is not None:
        problems.append("added PHB with an <address>: a PHB takes no slot (V5)")
    phbs = [c for c in view.controllers_of("pci") if c.model == "pci-root"]
    taken = {c.target_index for c in phbs if c.target_index is not None}
    for c in phbs:  # libvirt numbers the PHBs without one at define, in index order
        if c.target_index is None:
            taken.add(0 if c.index == 0 else min(set(range(len(taken) + 1)) - taken))
    wanted = str(min(set(range(len(taken) + 1)) - taken))
    if target is None or target.get("index") != wanted:
        found = None if target is None else target.get("index")
        problems.append(f"added PHB with target index {found}, expected {wanted} (G2, V5)")
    if any(e is not element and e.get("model") == "pci-root" for e in added):
        problems.append("more than one PHB added (V5)")
    return problems


def controller_problems(
    view: brute_force.DomainView, added: list[etree._Element], element: etree._Element
) -> list[str]:
    """Why an added controller is not legal: address, index, alias, chassis (G2, O6, D5, P4, E2)."""
    alias = alias_of(element) or ""
    kind, index = element.get("type", ""), int(element.get("index", "-1"))
    place = address_tuple(element)
    problems = []
    if not alias.startswith(ADDED_PREFIX):
        problems.append(f"added controller with alias {alias!r} (O6)")
    if index in {c.index for c in view.controllers if c.type == kind}:
        problems.append(f"added controller {kind} {index}: index in use (D4, P4, E2)")
    if kind == "fdc":
        return problems  # an ISA device: no address to write (D5)
    if kind == "pci" and element.get("model") == "pci-root":
        return problems + phb_problems(view, added, element)
    if place is None:
        return [*problems, f"added controller {alias} without an address (G2)"]
    if place[0] == "spapr-vio":
        if element.get("model") != "ibmvscsi" or place in view.addresses:
            problems.append(f"{kind} controller at {place}: not a free spapr-vio reg (V7)")
        return problems
    if place[0] == "ccw":
        if view.family != "s390x" or place in view.addresses:
            problems.append(f"{kind} controller at {place}: not a free CCW address (C1, C2)")
        return problems
    if kind == "ide":
        if place != ("pci", 0, 1, 1):
            problems.append(f"ide controller at {place}, not the PIIX3 IDE function (D5)")
        return problems
    problems.extend(pci_problems(view, place, added, own=element))
    target = element.find("target")
    model = element.get("model")
    if model == "pcie-root-port":
        wanted = {
            "chassis": str(index),
            "port": f"{int(str(place[2])) * 8 + int(str(place[3])):#x}",
        }
        found = {} if target is None else {str(k): str(v) for k, v in target.attrib.items()}
        if found != wanted:
            problems.append(f"root port {index}: target {found}, expected {wanted} (E2)")
    if model == "pci-bridge" and (target is None or target.get("chassisNr") != str(index)):
        problems.append(f"pci-bridge {index} without chassisNr='{index}' (P4)")
    return problems


def legal_problems(
    domain: GeneratedDomain, request: RescueCall, result: stable_rescue.RescueResult
) -> list[str]:
    """Why the rescue device or a controller added for it is not free or not legal."""
    view = brute_force.DomainView(domain.xml)
    _, added = split_added(parse(result.xml), added_aliases(result))
    disk = added.pop(RESCUE_ALIAS)
    controllers = list(added.values())
    target = disk.find("target")
    assert target is not None
    bus = brute_force.expected_outcome(domain.xml, request).bus or result.plan.bus.value
    problems = []
    if target.get("bus") != bus:
        problems.append(f"bus {target.get('bus')}; the properties ask for {bus}")
    device = dict(request.properties).get("hw_rescue_device", "disk")
    if disk.tag != "disk" or disk.get("device") != device:
        problems.append(f"<{disk.tag} device='{disk.get('device')}'>, expected {device}")
    problems.extend(name_problems(view, bus, target.get("dev", "")))
    address = address_tuple(disk)
    if address is None:
        problems.append("rescue disk without an address (G2)")
    elif bus in brute_force.DRIVE_BUSES:
        problems.extend(drive_problems(view, bus, address, controllers))
    elif bus == "usb":
        if address not in set(brute_force.usb_candidates(view)):
            problems.append(f"{address}: not a free port of a controller or hub (U2, U3)")
    elif address[0] == "ccw":
        if view.family != "s390x" or address[1:3] != (0xFE, 0) or address in view.addresses:
            problems.append(f"{address}: not a free CCW address in css 0xfe (C1)")
    elif address == ("virtio-mmio",):
        if view.family != "virt":
            problems.append(f"{address}: virtio-mmio off arm virt (M1)")
    else:
        problems.extend(pci_problems(view, address, controllers, own=None))
    for element in controllers:
        problems.extend(controller_problems(view, controllers, element))
    places = [place for e in [disk, *controllers] if (place := address_tuple(e)) is not None]
    if len(set(places)) != len(places):
        problems.append(f"two added devices share an address: {places}")
    return problems


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_rescue_device_is_free_and_legal(domain: GeneratedDomain, request: RescueCall) -> None:
    """The rescue device's name and address are free and legal for its bus and machine.

    The name: **T1** "The prefix comes from the bus", **T3** "A name is free when ...", **T6**.
    The address: free (**D1**, **U3**, **P1**) and legal for its bus, controller model and
    machine (**D2**, **D3**, **U2**, **P2**, **P3**, **E1**, **E4**, **E5**). **G2** "The rescue
    device, and every controller added for it, carries an explicit address"; **O6** user
    aliases; **D5**, **P4**, **E2** how added controllers are written.
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    problems = legal_problems(domain, request, result)
    assert not problems, problems


def placement_of(
    result: stable_rescue.RescueResult,
) -> tuple[str, brute_force.Address | None, list[brute_force.Added]]:
    """(target, address, added controllers) as written in the rescued XML."""
    _, added = split_added(parse(result.xml), added_aliases(result))
    disk = added.pop(RESCUE_ALIAS)
    target = disk.find("target")
    assert target is not None
    controllers = [
        brute_force.Added(
            type=element.get("type", ""),
            index=int(element.get("index", "-1")),
            model=element.get("model"),
            address=address_tuple(element),
        )
        for element in added.values()
    ]
    return target.get("dev", ""), address_tuple(disk), controllers


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_placement_is_the_first_legal_one(domain: GeneratedDomain, request: RescueCall) -> None:
    """The rescue goes where the brute-force search ranks first (T3, D3, D4, U4, P3, E1-E3, E5).

    **T3** "The rescue disk takes the lowest index whose name is free"; **D3** "the first free
    unit of the lowest-index controller that has one"; **D4** "a controller is added with index
    one above the highest"; **U4** "the first free port in this order"; **P3** "with two or
    more free slots the device takes the first ... with exactly one, a pci-bridge goes into
    that slot"; **E1**-**E3**, **E5** ports, new root ports and bridges.
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    expected = brute_force.expected_outcome(domain.xml, request)
    note(f"expected: {expected}")
    assert expected.code is None, f"rescued; the policy refuses: {expected.code} ({expected.why})"
    target, address, added = placement_of(result)
    event(f"{expected.bus}: {' + '.join(a.model or a.type for a in added) or 'nothing'} added")
    assert (target, address) == (expected.target, expected.address)
    assert sorted(added, key=repr) == sorted(expected.added, key=repr)


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_refusals_are_justified(domain: GeneratedDomain, request: RescueCall) -> None:
    """A refusal is the one the policy prescribes; bus-full only when nothing fits.

    ``bus-full`` only when the brute-force search finds no legal place: **T6** "When none is
    free: bus-full", **D4** "ide and fdc have one controller only", **U5** "No free port
    anywhere: bus-full", **P3** "with none, bus-full", **E3** "No such slot: bus-full".
    ``bus-unavailable`` per **U1** and docs/properties.md's "Bus on machine" table; the other
    codes per its "Device on bus" table and "Order of the checks".
    """
    _, error = attempt(domain, request)
    if error is None:
        return
    expected = brute_force.expected_outcome(domain.xml, request)
    note(f"expected: {expected}")
    assert expected.code is not None, (
        f"refused with {error.code}; the brute-force search places it: "
        f"{expected.target} at {expected.address}, adding {expected.added}"
    )
    event(f"refused: {error.code} ({expected.why})")
    assert error.code == expected.code, f"{error.code}; expected {expected.code} ({expected.why})"


# --- boot order --------------------------------------------------------------------------------


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_rescue_boots_first_then_the_previous_sequence(
    domain: GeneratedDomain, request: RescueCall
) -> None:
    """Boot order 1 for the rescue device, the old sequence as 2, 3, ... (B1-B7, K1-K3).

    **B1** "The rescue device gets <boot order='1'/>"; **B2** "Every device that was bootable
    before keeps its place in the sequence, as orders 2, 3, ... in the old order (gaps are
    closed)"; **B3**, **B4**, **B5** and **B6** what the old sequence is
    (tests/brute_force.py's ``boot_sequence``); no other device gets an order. **K1**-**K3** the
    kernel is taken out, or replaced by the rescue kernel.
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    sequence = brute_force.boot_sequence(domain.xml)
    root = parse(result.xml)
    kept, added = split_added(root, added_aliases(result))
    assert boot_order(added.pop(RESCUE_ALIAS)) == 1
    assert all(element.find("boot") is None for element in added.values())
    actual = [boot_order(element) for element in kept]
    wanted = [sequence.index(p) + 2 if p in sequence else None for p in range(len(kept))]
    assert actual == wanted
    os_element = root.find("os")
    assert os_element is not None
    kernel = [(c.tag, c.text) for c in os_element if c.tag in ("kernel", "initrd", "cmdline")]
    given_kernel = [("kernel", request.kernel), ("initrd", request.initrd)]
    given_kernel.append(("cmdline", request.cmdline))
    wanted_kernel = [(tag, value) for tag, value in given_kernel if value and request.kernel]
    assert kernel == wanted_kernel


@generated
@given(domain=generated_domains(), request=all_requests())
def test_never_both_boot_styles(domain: GeneratedDomain, request: RescueCall) -> None:
    """Only per-device boot orders in a rescued domain, unique and >= 1 (B4, B8).

    **B4** "The <os><boot> elements are removed and recorded, since libvirt accepts only one
    style"; **B8** refused: "<os><boot dev> together with per-device orders; two devices with
    the same order; an order below 1".
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    root = parse(result.xml)
    orders = [o for element in device_children(root) if (o := boot_order(element)) is not None]
    assert orders, "no device has a boot order"
    assert not root.findall("os/boot"), "<os><boot dev> left beside per-device orders"
    assert len(set(orders)) == len(orders), orders
    assert min(orders) >= 1, orders


# --- determinism and the inverse ---------------------------------------------------------------


@generated
@given(domain=generated_domains(), request=all_requests(), data=st.data())
def test_output_is_deterministic(
    domain: GeneratedDomain, request: RescueCall, data: st.DataObject
) -> None:
    """The same input gives the same bytes, whatever the order of the property dict (O7).

    **O7** "The output is deterministic: the same input gives the same bytes, every time": so
    no set or dict iteration order may reach the output.
    """
    first, error = attempt(domain, request)
    order = data.draw(st.permutations(range(len(request.properties))), label="property order")
    properties = dict(request.properties[position] for position in order)
    if error is not None:
        with pytest.raises(stable_rescue.RescueError) as again:
            request.rescue(domain.xml, properties)
        assert again.value.code == error.code
        return
    assert first is not None
    second = request.rescue(domain.xml)
    reordered = request.rescue(domain.xml, properties)
    assert second.xml == first.xml
    assert reordered.xml == first.xml
    assert reordered.plan == first.plan


@generated
@given(domain=generated_domains(), request=all_requests())
def test_unrescue_is_the_exact_inverse(domain: GeneratedDomain, request: RescueCall) -> None:
    """The input comes back byte for byte; a rescued domain is not rescued twice (N6, R7, N1).

    **N6** "unrescue(rescue(x).xml) == x, byte for byte"; **R7** a rescued domain "is rescued
    already: rescue refuses it with already-rescued"; **N1** "No record: not-rescued".
    """
    with pytest.raises(stable_rescue.RescueError) as not_rescued:
        stable_rescue.unrescue(domain.xml)
    assert not_rescued.value.code == "not-rescued"
    result, _ = attempt(domain, request)
    if result is None:
        return
    assert stable_rescue.unrescue(result.xml) == domain.xml
    with pytest.raises(stable_rescue.RescueError) as twice:
        request.rescue(result.xml)
    assert twice.value.code == "already-rescued"
    # R1: a record 0.1.0 wrote, the same format under the provisional namespace, reads the same.
    assert result.xml.count(RECORD_NAMESPACE) == 1
    provisional = result.xml.replace(RECORD_NAMESPACE, PROVISIONAL_RECORD_NAMESPACE)
    assert stable_rescue.unrescue(provisional) == domain.xml
    with pytest.raises(stable_rescue.RescueError) as provisional_twice:
        request.rescue(provisional)
    assert provisional_twice.value.code == "already-rescued"


# --- samples: other interpreters, a real libvirt -----------------------------------------------


def digest(domain: GeneratedDomain, request: RescueCall) -> str:
    """A hash of the rescued XML, or the error code."""
    try:
        out = request.rescue(domain.xml).xml
    except stable_rescue.RescueError as error:
        out = "error:" + error.code
    return hashlib.sha256(out.encode()).hexdigest()


HASH_SEED_SCRIPT = """
import hashlib, json, sys
import stable_rescue
for case in json.load(sys.stdin):
    try:
        out = stable_rescue.rescue(
            case["xml"], dict(case["properties"]), case["source"], **case["options"]
        ).xml
    except stable_rescue.RescueError as error:
        out = "error:" + error.code
    print(hashlib.sha256(out.encode()).hexdigest())
"""


def test_output_is_independent_of_the_hash_seed() -> None:
    """40 generated rescues give the same bytes under other PYTHONHASHSEED values (O7).

    **O7** "the same input gives the same bytes, every time, on every machine": so no set or
    dict iteration order may reach the output. String hashing, and so set order, changes with
    the seed.
    """
    cases = sample(40)
    payload = json.dumps(
        [
            {"xml": d.xml, "properties": r.properties, "source": r.source, "options": r.options()}
            for d, r in cases
        ]
    )
    here = [digest(domain, request) for domain, request in cases]
    for seed in ("0", "4242"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": str(Path(stable_rescue.__file__).parent.parent),
        }
        done = subprocess.run(
            [sys.executable, "-c", HASH_SEED_SCRIPT],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        assert done.stdout.split() == here, f"PYTHONHASHSEED={seed} gives other bytes"


# The daemon's version names every test that uses it: test_x[libvirt-9.0.0-...].
@pytest.fixture(scope="module", params=[libvirt_label()])
def virsh() -> Virsh:
    """The virsh client on the test URI (skip, or fail when libvirt is required, if it is mute)."""
    return client_or_skip()


def addressed_devices(xml: str) -> dict[tuple[str, ...], dict[str, int | str] | None]:
    """The address of each device that has one, under a key that survives define and dump.

    A disk by its target, an interface by its MAC, a controller by type, index and model (the
    ich9-uhci companions share their ich9-ehci1's index), anything else by tag and position.
    """
    devices = ET.fromstring(xml).find("devices")
    assert devices is not None
    keyed: dict[tuple[str, ...], dict[str, int | str] | None] = {}
    positions: dict[str, int] = {}
    for element in devices:
        tag = str(element.tag)
        target, mac = element.find("target"), element.find("mac")
        if tag == "disk" and target is not None:
            key: tuple[str, ...] = (tag, target.get("dev", ""))
        elif tag == "controller":
            key = (tag, element.get("type", ""), element.get("index", ""), element.get("model", ""))
        elif tag == "interface" and mac is not None:
            key = (tag, mac.get("address", ""))
        else:
            positions[tag] = positions.get(tag, -1) + 1
            key = (tag, str(positions[tag]))
        if element.find("address") is not None:
            keyed[key] = attributes(element.find("address"))
    return keyed


def libvirt_problems(virsh: Virsh, kind: str) -> list[str]:
    """What libvirt finds wrong with the sample's generated (or rescued) domains."""
    problems = []
    for number, (domain, request) in enumerate(libvirt_samples()):
        xml = domain.xml if kind == "generated" else request.rescue(domain.xml).xml
        name = f"prop{number}-{kind}"
        try:
            dumped = virsh.define_and_dump(for_test(xml, name))
        except VirshError as error:
            problems.append(f"{name}: libvirt refuses it: {error}\n{request!r}\n{xml}")
            continue
        ours, theirs = addressed_devices(xml), addressed_devices(dumped)
        moved = {key: (ours[key], theirs.get(key)) for key in ours if theirs.get(key) != ours[key]}
        if moved:
            problems.append(f"{name}: libvirt changed addresses {moved}\n{xml}")
        if kind == "rescued" and by_alias(dumped, RESCUE_ALIAS) is None:
            problems.append(f"{name}: the rescue disk is missing from libvirt's dump")
    assert not virsh.undefine_leftovers()
    return problems


@pytest.mark.libvirt
def test_libvirt_accepts_generated_domains(virsh: Virsh) -> None:
    """The generator is honest: libvirt 9 defines a fixed sample of 40 generated domains.

    The sample is derandomized (the same every run). libvirt accepts each domain and keeps
    every address the generated XML gave: it had nothing to choose, as for a real
    ``virsh dumpxml --inactive``.
    """
    problems = libvirt_problems(virsh, "generated")
    assert not problems, "\n\n".join(problems)


@generated
@given(domain=generated_domains(), request=stable_requests)
def test_verify_finds_our_stable_rescue_ok(domain: GeneratedDomain, request: RescueCall) -> None:
    """verify, an independent device-by-device reading, calls every stable rescue ok.

    A rescue that adds, replaces or removes a direct kernel changes ``<os>``: its one finding
    is os-boot-changed.
    """
    result, _ = attempt(domain, request)
    if result is None:
        return
    report = stable_rescue.verify(domain.xml, result.xml)
    note(f"findings: {report.findings}")
    plan = result.plan
    if plan.kernel is not None or plan.kernel_removed or plan.kernel_replaced:
        assert [finding.kind for finding in report.findings] == ["os-boot-changed"]
        return
    report = assert_stable_rescue(domain.xml, result.xml)
    assert report.rescue_device is not None
    assert report.rescue_device.target == result.plan.target
