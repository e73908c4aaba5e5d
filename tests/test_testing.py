"""``stable_rescue.testing``: the knobs of the published strategies, and the assertion.

The generator itself is tested by the whole property suite (tests/strategies.py draws from it);
here is what other projects rely on: the knobs do what they say, the default requests draw only
values some domain accepts, ``assert_stable_rescue`` passes a stable rescue and names what moved
in any other, and the core never imports Hypothesis.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import stable_rescue
from stable_rescue.testing import (
    MACHINES,
    GeneratedDomain,
    RescueCall,
    assert_stable_rescue,
    domains,
    generated_domains,
    rescue_requests,
)
from tests import brute_force
from tests.golden_cases import golden_cases
from tests.libvirt_host import (
    Virsh,
    client_or_skip,
    for_test,
    libvirt_label,
    libvirt_version,
)

# The machine types libvirt dumps for each of MACHINES (its own spelling, checked independently).
MACHINE_PREFIXES = {
    "pc": "pc-i440fx-",
    "q35": "pc-q35-",
    "virt": "virt-",
    "pseries": "pseries-",
    "s390-ccw-virtio": "s390-ccw-virtio-",
}
# What a valid request can still meet: a domain whose machine lacks the bus or the SCSI model,
# or whose bus is full.
DOMAIN_REFUSALS = {"bus-unavailable", "bus-full", "unsupported-scsi-model"}
# Values of properties and formats that no domain accepts (an unknown bus, device or format).
NO_DOMAIN_ACCEPTS = {"Virtio", "nvme", "", "tape", "Disk", "buslogic", "vhd", "luks"}
CASES = {case.name: case for case in golden_cases()}
# Few places left on a crowded PCI topology (the knob leaves 0 to 3).
CROWDED_SPARE = 3
# Enough to see a knob ignored; the property suite runs the generator at length.
quick = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def machine_type(xml: str) -> str:
    """The ``machine`` of ``<os><type>``, read with ElementTree."""
    found = ET.fromstring(xml).find("os/type")
    assert found is not None
    return found.get("machine", "")


def disk_count(xml: str) -> int:
    """How many ``<disk>`` elements the domain has."""
    return len(ET.fromstring(xml).findall("devices/disk"))


def test_machines_are_the_five_the_library_supports() -> None:
    """MACHINES names every machine the strategies draw, as the knob takes them."""
    assert set(MACHINES) == set(MACHINE_PREFIXES)


@pytest.mark.parametrize("machine", MACHINES)
def test_domains_draw_only_the_machine_asked_for(machine: str) -> None:
    """``domains((machine,))``: every domain has that machine type."""

    @quick
    @given(xml=domains((machine,)))
    def check(xml: str) -> None:
        assert machine_type(xml).startswith(MACHINE_PREFIXES[machine]), machine_type(xml)

    check()


@quick
@given(
    bounds=st.tuples(st.integers(0, 12), st.integers(0, 12)).map(sorted),
    data=st.data(),
)
def test_disk_count_stays_within_the_bounds(bounds: list[int], data: st.DataObject) -> None:
    """``min_disks <= disks <= max_disks``, filled drive buses and crowding included."""
    low, high = bounds
    crowded = data.draw(st.sampled_from([None, True, False]), label="crowded")
    xml = data.draw(domains(min_disks=low, max_disks=high, crowded=crowded), label="xml")
    assert low <= disk_count(xml) <= high


def free_pci_places(xml: str) -> int:
    """Free places for one more PCI device, counted by tests/brute_force.py (not the generator).

    pc and pseries: free slots of conventional buses; q35 and virt: empty ports and free slots
    of the root bus.
    """
    view = brute_force.DomainView(xml)
    if view.family in ("pc", "pseries"):
        return len(brute_force.pci_free_slots(view, include_root=True))
    root_free = [
        slot
        for slot in brute_force.PCI_SLOTS
        if all((0, slot, function) not in view.pci_used for function in range(8))
    ]
    return len(brute_force.empty_ports(view)) + len(root_free)


@pytest.mark.parametrize("machine", ["pc", "q35", "virt", "pseries"])
def test_crowded_domains_have_few_pci_places_left(machine: str) -> None:
    """``crowded=True``: at most three free places for a PCI device."""

    @quick
    @given(xml=domains((machine,), crowded=True))
    def check(xml: str) -> None:
        assert free_pci_places(xml) <= CROWDED_SPARE

    check()


@quick
@given(domain=generated_domains(crowded=False))
def test_uncrowded_domains_are_not_filled(domain: GeneratedDomain) -> None:
    """``crowded=False``: the generator neither crowds PCI nor fills a drive bus."""
    assert not [label for label in domain.labels if label.startswith("pci-crowded")]
    assert not [label for label in domain.labels if label.endswith("-filled")]


@pytest.mark.parametrize(
    "arguments",
    [
        {"machines": ()},
        {"machines": ("i440fx",)},
        {"min_disks": -1},
        {"min_disks": 33},
        {"min_disks": 3, "max_disks": 2},
    ],
    ids=["no-machine", "unknown-machine", "negative", "too-many", "max-below-min"],
)
def test_bad_knobs_are_refused_at_once(arguments: dict[str, object]) -> None:
    """A knob out of range is Hypothesis's ``InvalidArgument`` when the strategy is built."""
    with pytest.raises(InvalidArgument):
        generated_domains(**arguments)  # type: ignore[arg-type]


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(xml=domains(), call=rescue_requests())
def test_default_requests_are_refused_only_by_the_domain(xml: str, call: RescueCall) -> None:
    """By default: stable mode, no kernel, and only values some domain accepts.

    A refusal is then about the domain met (a bus the machine lacks or that is full); a
    rescue that goes through is a stable rescue.
    """
    assert {"hw_rescue_bus", "hw_rescue_device"} & dict(call.properties).keys()
    assert call.kernel is None
    assert call.initrd is None
    try:
        result = call.rescue(xml)
    except stable_rescue.RescueError as error:
        refusal: stable_rescue.RescueError | None = error
    else:
        refusal = None
        assert_stable_rescue(xml, result.xml)
    if refusal is not None:
        assert refusal.code in DOMAIN_REFUSALS, f"{refusal.code}: {refusal}"


def test_knobs_widen_the_draws() -> None:
    """``legacy``, ``kernel`` and ``invalid`` each add requests the defaults never draw."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None)
    @given(call=rescue_requests(legacy=True, kernel=True, invalid=True))
    def collect(call: RescueCall) -> None:
        if call.legacy:
            seen.add("legacy")
        if call.kernel is not None:
            seen.add("kernel")
        if set(dict(call.properties).values()) & NO_DOMAIN_ACCEPTS or (
            call.source.startswith(("relative/", "http://"))
            or call.source_format in NO_DOMAIN_ACCEPTS
        ):
            seen.add("invalid")

    collect()
    assert seen == {"legacy", "kernel", "invalid"}


def test_assert_stable_rescue_passes_a_golden_rescue() -> None:
    """A golden stable rescue is ok; the report names the rescue disk."""
    case = CASES["pc-virtio-disk"]
    report = assert_stable_rescue(case.input_xml, case.expected_xml_path.read_text())
    assert report.rescue_device is not None
    assert report.rescue_device.bus == "virtio"


def test_assert_stable_rescue_fails_with_the_findings_of_a_legacy_rescue() -> None:
    """Nova's legacy layout is no stable rescue: the message lists each finding on a line."""
    case = CASES["legacy-pc-nova-layout"]
    rescued = case.expected_xml_path.read_text()
    report = stable_rescue.verify(case.input_xml, rescued)
    assert not report.ok
    with pytest.raises(AssertionError) as failure:
        assert_stable_rescue(case.input_xml, rescued)
    lines = str(failure.value).splitlines()
    assert lines[0] == "not a stable rescue:"
    assert lines[1:] == [str(finding) for finding in report.findings]
    assert {"moved", "removed"} <= {finding.kind for finding in report.findings}


def python_prints(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (which must exit 0)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_core_never_imports_hypothesis() -> None:
    """``import stable_rescue`` and every core module leave Hypothesis unloaded."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import stable_rescue\n"
        "for module in pkgutil.iter_modules(stable_rescue.__path__):\n"
        "    if module.name not in ('testing', '__main__'):\n"
        "        importlib.import_module('stable_rescue.' + module.name)\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'\n"
        "assert 'stable_rescue.testing' not in sys.modules\n"
        "print(len(list(pkgutil.iter_modules(stable_rescue.__path__))))\n"
    )
    assert int(python_prints(code)) > 10  # the modules were found, so the check above saw them


def test_testing_without_hypothesis_says_what_to_install() -> None:
    """Without Hypothesis, importing ``stable_rescue.testing`` names the extra to install."""
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # as if it were not installed\n"
        "try:\n"
        "    import stable_rescue.testing\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert python_prints(code).strip() == (
        "stable_rescue.testing needs Hypothesis: pip install 'stable-rescue[testing]'"
    )


# --- libvirt agrees: the knobs' domains are real, their rescues stable after define and dump ---

LIBVIRT_PER_MACHINE = 3
# The libvirt whose dumps the strategies draw (docs/testing.md).
DRAWN_AS_DUMPED_BY = (9, 0, 0)


@pytest.fixture(scope="module", params=[libvirt_label()])
def virsh() -> Virsh:
    """The virsh client on the test URI (skip, or fail when libvirt is required, if it is mute)."""
    return client_or_skip()


def crowded_rescues(machine: str) -> list[tuple[str, str]]:
    """(domain, rescued) pairs of crowded domains with 4 to 12 disks: the same every run."""
    found: list[tuple[str, str]] = []

    @settings(
        max_examples=20 * LIBVIRT_PER_MACHINE,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(xml=domains((machine,), min_disks=4, max_disks=12, crowded=True), call=rescue_requests())
    def collect(xml: str, call: RescueCall) -> None:
        if len(found) < LIBVIRT_PER_MACHINE:
            with contextlib.suppress(stable_rescue.RescueError):
                found.append((xml, call.rescue(xml).xml))

    collect()
    assert len(found) == LIBVIRT_PER_MACHINE
    return found


@pytest.mark.libvirt
@pytest.mark.parametrize("machine", MACHINES)
def test_libvirt_keeps_the_rescue_of_crowded_domains_stable(machine: str, virsh: Virsh) -> None:
    """Libvirt defines crowded domains and their rescues; ``verify`` on its dump says ok.

    The dump is libvirt's own re-serialisation (defaults filled in, quoting and order its own),
    so this checks the strategies' domains, the rescue and ``verify`` against libvirt at once.
    """
    for number, (xml, rescued) in enumerate(crowded_rescues(machine)):
        name = f"knobs-{machine}-{number}"
        original = for_test(xml, name)
        dumped_original = virsh.define_and_dump(original)
        dumped_rescue = virsh.define_and_dump(for_test(rescued, name))
        assert_stable_rescue(dumped_original, dumped_rescue)
        if libvirt_version() == DRAWN_AS_DUMPED_BY:
            # The drawn domain is shaped as this libvirt dumps it: it filled in nothing that
            # counts. (11.3 adds q35's watchdog and the features of autoselected UEFI firmware.)
            assert_stable_rescue(original, dumped_rescue)
    assert not virsh.undefine_leftovers()
