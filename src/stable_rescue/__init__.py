"""Stable device rescue for libvirt domains: add rescue media without moving any device.

``rescue`` turns a domain XML into its rescue-mode twin, ``unrescue`` undoes it exactly, and
``plan_rescue`` gives the plan alone. Every failure the caller can cause is a ``RescueError``
with a stable ``code``.
"""

from stable_rescue.api import RescueResult, plan_rescue, rescue, unrescue
from stable_rescue.errors import RescueError
from stable_rescue.model import Bus, DeviceType, Plan, RescueSource, SourceType

__all__ = [
    "Bus",
    "DeviceType",
    "Plan",
    "RescueError",
    "RescueResult",
    "RescueSource",
    "SourceType",
    "plan_rescue",
    "rescue",
    "unrescue",
]
