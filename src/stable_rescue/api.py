"""The public functions: text in, frozen values and text out. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

from stable_rescue.document import Document, read_document
from stable_rescue.errors import RescueError
from stable_rescue.model import Plan, RescueSource
from stable_rescue.parse import parse_domain
from stable_rescue.plan import make_plan
from stable_rescue.record import find_record
from stable_rescue.render import render_rescue
from stable_rescue.request import build_request
from stable_rescue.source import FsPath
from stable_rescue.undo import undo_rescue

# The values ``source_type`` takes: ``SourceType``'s, overriding the guess from ``source``.
SourceTypeName = Literal["file", "block", "network"]
# A path or URI as ``--source`` reads it (also bytes, as UTF-8, or any ``os.PathLike``), or a
# ``RescueSource``.
Source = str | bytes | FsPath | RescueSource


@attrs.frozen(kw_only=True)
class RescueResult:
    """The rescued domain XML and the plan that produced it."""

    xml: str
    plan: Plan


def plan_rescue(
    domain_xml: str | bytes,
    properties: Mapping[str, str],
    source: Source,
    *,
    source_format: str | None = None,
    source_type: SourceTypeName | None = None,
    allow_unaddressed: bool = False,
    kernel: str | None = None,
    initrd: str | None = None,
    cmdline: str | None = None,
) -> Plan:
    """The rescue plan for ``domain_xml`` alone, without rendering XML.

    Arguments as ``rescue``. Raises a ``RescueError`` subclass for every input it cannot plan.
    """
    plan, _ = _plan_document(
        domain_xml,
        properties,
        source,
        source_format=source_format,
        source_type=source_type,
        allow_unaddressed=allow_unaddressed,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
    )
    return plan


def rescue(
    domain_xml: str | bytes,
    properties: Mapping[str, str],
    source: Source,
    *,
    source_format: str | None = None,
    source_type: SourceTypeName | None = None,
    allow_unaddressed: bool = False,
    kernel: str | None = None,
    initrd: str | None = None,
    cmdline: str | None = None,
) -> RescueResult:
    """The rescue-mode twin of ``domain_xml``: every device where it was, the rescue media added.

    ``properties`` are the rescue image's properties as Glance stores them (strings; unrelated
    keys are ignored). ``source`` is a path or URI as ``--source`` reads it, or a
    ``RescueSource``. ``source_format`` is required unless the name settles it (``.qcow2``,
    ``.raw``, ``.iso``). ``allow_unaddressed`` accepts input whose devices lack addresses, at
    the cost of the guarantees the plan's warnings name. ``kernel``, ``initrd`` and
    ``cmdline`` replace a direct kernel boot for the rescue; without them it is taken out.
    """
    plan, document = _plan_document(
        domain_xml,
        properties,
        source,
        source_format=source_format,
        source_type=source_type,
        allow_unaddressed=allow_unaddressed,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
    )
    return RescueResult(xml=render_rescue(document, plan), plan=plan)


def unrescue(rescued_xml: str | bytes) -> str:
    """The domain as it was before ``rescue``, from the record in its ``<metadata>`` alone."""
    return undo_rescue(read_document(rescued_xml))


def is_rescued(xml: str | bytes) -> bool:
    """Whether ``xml`` carries a rescue record, so that ``unrescue`` applies to it.

    Raises ``InvalidDomainXML`` for input that is not a domain document.
    """
    return find_record(read_document(xml).root) is not None


def _plan_document(
    domain_xml: str | bytes,
    properties: Mapping[str, str],
    source: Source,
    *,
    source_format: str | None,
    source_type: SourceTypeName | None,
    allow_unaddressed: bool,
    kernel: str | None,
    initrd: str | None,
    cmdline: str | None,
) -> tuple[Plan, Document]:
    document = read_document(domain_xml)
    domain = parse_domain(document)
    request = build_request(
        properties,
        source,
        source_format=source_format,
        source_type=source_type,
        allow_unaddressed=allow_unaddressed,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
    )
    return make_plan(domain, request), document


__all__ = [
    "RescueError",
    "RescueResult",
    "Source",
    "SourceTypeName",
    "is_rescued",
    "plan_rescue",
    "rescue",
    "unrescue",
]
