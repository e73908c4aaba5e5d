"""Children taken out of ``<os>`` or ``<devices>``, and put back where they were.

The two halves of one contract, side by side: ``remove_children`` (rescue) records each removed
element as a ``RemovedChunk`` that says where it stood (rule R5), and ``restore_children``
(unrescue) puts it back there, even after libvirt reformatted the document (rule N4).
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from stable_rescue.errors import InvalidRescueRecord
from stable_rescue.record import RemovedChunk, RescueRecord
from stable_rescue.writer import Writer


def remove_children(
    writer: Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    doomed: Callable[[etree._Element], bool],
) -> tuple[RemovedChunk, ...]:
    """Remove ``parent``'s doomed children; each chunk says where it goes back.

    A chunk goes back after the nearest kept sibling (by key, and which of that key), past the
    comments and processing instructions that followed it, or right after the chunk before it.

    Rule R5 (and rule L4's detached disks in ``<devices>``).
    """
    chunks = []
    kept: list[str] = []
    skip = 0
    previous_removed = False
    for node in parent:
        if not isinstance(node.tag, str):
            skip += 1
            previous_removed = False
            continue
        if not doomed(node):
            kept.append(keys[node])
            skip = 0
            previous_removed = False
            continue
        after = kept[-1] if kept else None
        chunks.append(
            RemovedChunk(
                parent=str(parent.tag),
                after=after,
                after_nth=kept.count(after) if after is not None else 0,
                skip=0 if previous_removed else skip,
                follows_removed=previous_removed,
                text=writer.remove(node),
            )
        )
        previous_removed = True
    return tuple(chunks)


def restore_children(
    writer: Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    record: RescueRecord,
    parent_name: str,
) -> None:
    """Put back the record's chunks of ``parent``, each where ``remove_children`` took it.

    Rule N4.
    """
    offset = writer.span(parent).start_tag_end
    for order, chunk in enumerate(record.removed, start=1):
        if chunk.parent != parent_name:
            continue
        # A chunk that followed another removed one goes back right after it: same offset.
        if not chunk.follows_removed:
            offset = _restore_offset(writer, parent, keys, chunk)
        writer.replace(offset, offset, chunk.text, order)


def _disk_offset(writer: Writer, devices: etree._Element, keys: dict[etree._Element, str]) -> int:
    """After the last kept disk, else after ``<emulator>``, else first in ``<devices>``.

    Rule N4: libvirt sorts the disks again on define.
    """
    kept = [element for element in keys if element.tag == "disk"]
    emulator = devices.find("emulator")
    if kept:
        return writer.span(kept[-1]).end
    if emulator is not None:
        return writer.span(emulator).end
    return writer.span(devices).start_tag_end


def _restore_offset(
    writer: Writer,
    parent: etree._Element,
    keys: dict[etree._Element, str],
    chunk: RemovedChunk,
) -> int:
    """Where ``chunk`` goes back: after its anchor and the comments that followed it."""
    if chunk.after is None:
        anchor = None
        offset = writer.span(parent).start_tag_end
    else:
        matches = [element for element, key in keys.items() if key == chunk.after]
        if len(matches) < chunk.after_nth and chunk.parent == "devices":
            # libvirt renumbered the anchor away (a key from a device's position): a detached
            # disk goes among the disks instead, which libvirt sorts on define anyway.
            return _disk_offset(writer, parent, keys)
        if len(matches) < chunk.after_nth:
            raise InvalidRescueRecord(
                f"rescue record restores a <{chunk.parent}> child after '{chunk.after}' "
                f"#{chunk.after_nth}; the domain has {len(matches)}"
            )
        anchor = matches[chunk.after_nth - 1]
        offset = writer.span(anchor).end
    # Past the comments and PIs that followed the anchor (libvirt drops them; then none).
    following = anchor.itersiblings() if anchor is not None else iter(parent)
    skipped = 0
    for node in following:
        if skipped == chunk.skip:
            break
        if isinstance(node.tag, str):
            if node in keys:  # a kept element: the chunk went before it
                break
            continue  # an element the rescue added: it was not there
        offset = writer.document.end_of(node)
        skipped += 1
    return offset
