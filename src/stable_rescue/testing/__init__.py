"""Hypothesis strategies and an assertion for testing rescues in other projects' CI.

``domains()`` draws libvirt domain XML as ``virsh dumpxml --inactive`` prints it, for every
machine the library supports; ``rescue_requests()`` draws the image properties, source and
options of a rescue call (a ``RescueCall``, whose ``rescue(xml)`` makes the call);
``assert_stable_rescue(original, rescued)`` fails with ``verify``'s findings unless the pair is a
stable rescue, whoever made it. docs/testing.md shows them testing a driver's rescue path.

Needs Hypothesis: ``pip install 'stable-rescue[testing]'``. The core (``import stable_rescue``)
never imports this module or Hypothesis.
"""

try:
    import hypothesis  # noqa: F401  (only to say what is missing)
except ImportError as missing:  # pragma: no cover - run in a subprocess by the suite
    raise ImportError(
        "stable_rescue.testing needs Hypothesis: pip install 'stable-rescue[testing]'"
    ) from missing

from stable_rescue.testing._assert import assert_stable_rescue
from stable_rescue.testing._devices import FAMILIES as MACHINES
from stable_rescue.testing._rendering import GeneratedDomain
from stable_rescue.testing._requests import RescueCall
from stable_rescue.testing._strategies import domains, generated_domains, rescue_requests

__all__ = [
    "MACHINES",
    "GeneratedDomain",
    "RescueCall",
    "assert_stable_rescue",
    "domains",
    "generated_domains",
    "rescue_requests",
]
