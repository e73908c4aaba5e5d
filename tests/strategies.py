"""The suite's draws: ``stable_rescue.testing``'s strategies, every kind of request, samples.

The generator itself is the published one (``stable_rescue.testing``): the suite tests what
other projects use. Here are the suite's defaults over it (requests of every mode, with direct
kernel boots and values no domain accepts) and fixed, derandomized samples for the checks that
run a real libvirt.
"""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stable_rescue
from stable_rescue import testing
from stable_rescue.testing import MACHINES, GeneratedDomain, RescueCall, rescue_requests

__all__ = [
    "LIBVIRT_SAMPLES",
    "GeneratedDomain",
    "RescueCall",
    "all_requests",
    "generated_domains",
    "libvirt_samples",
    "sample",
]


@functools.cache
def generated_domains(
    machines: tuple[str, ...] = MACHINES,
) -> st.SearchStrategy[GeneratedDomain]:
    """Every kind of domain the published generator draws, direct kernel boots too."""
    return testing.generated_domains(machines, kernel_boot=True)


@functools.cache
def all_requests(*, legacy: bool = True) -> st.SearchStrategy[RescueCall]:
    """Every kind of request: legacy mode too (unless ``legacy=False``), kernels, invalid values."""
    return rescue_requests(legacy=legacy, kernel=True, invalid=True)


# --- fixed samples -------------------------------------------------------------------------------


def sample(
    count: int,
    *,
    rescued_only: bool = False,
    tries: int | None = None,
    families: tuple[str, ...] = MACHINES,
) -> list[tuple[GeneratedDomain, RescueCall]]:
    """``count`` (domain, request) pairs, the same on every run (derandomized Hypothesis)."""
    found: list[tuple[GeneratedDomain, RescueCall]] = []

    @settings(
        max_examples=tries or count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(domain=generated_domains(families), request=all_requests())
    def collect(domain: GeneratedDomain, request: RescueCall) -> None:
        if len(found) >= count:
            return
        if rescued_only:
            try:
                request.rescue(domain.xml)
            except stable_rescue.RescueError:
                return
        found.append((domain, request))

    collect()
    assert len(found) == count, f"only {len(found)} of {count} samples in {tries} tries"
    return found


LIBVIRT_SAMPLES = 40


@functools.cache
def libvirt_samples() -> tuple[tuple[GeneratedDomain, RescueCall], ...]:
    """``LIBVIRT_SAMPLES`` (domain, request) pairs that ``rescue`` accepts, the same every run.

    An equal share from each machine, so that every machine is defined in a real libvirt.
    """
    share = LIBVIRT_SAMPLES // len(MACHINES)
    return tuple(
        pair
        for family in MACHINES
        for pair in sample(share, rescued_only=True, tries=8 * share, families=(family,))
    )
