"""Edits against the original text of one document, in its own indentation and newline style.

Both halves of the contract write through a ``Writer``: ``render`` (applying a plan) and
``unrescue`` (undoing it). Every edit splices the original text (see ``xmltext``), so every byte
no edit names comes back unchanged (rule O1). An insertion is a newline, the neighbours'
indentation and the new element (rule O2); a removal takes an element with the whitespace
before it. So undoing an edit is exact.
"""

from __future__ import annotations

import attrs
from lxml import etree

from stable_rescue.document import Document
from stable_rescue.xmltext import (
    Edit,
    ElementSpan,
    apply_edits,
    attribute_value_span,
    escape_attribute,
    indentation,
    leading_space_start,
    newline_style,
)

DEFAULT_UNIT = "  "


class Writer:
    """Collects edits against one document, in its indentation and newline style.

    Every byte no edit names comes back unchanged (rule O1).
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        self.text = document.text
        self.newline = newline_style(self.text)
        self.unit = indent_unit(document)
        self.edits: list[Edit] = []

    def span(self, element: etree._Element) -> ElementSpan:
        return self.document.span(element)

    def indent_of(self, element: etree._Element) -> str:
        """The indentation of ``element``'s line, else its parent's and one step more.

        New lines take the indentation of their neighbours (rule O2).
        """
        found = indentation(self.text, self.span(element))
        if found is not None:
            return found
        parent = element.getparent()
        return (self.indent_of(parent) + self.unit) if parent is not None else ""

    def child_indent(self, parent: etree._Element) -> str:
        for child in parent:
            if isinstance(child.tag, str):
                return self.indent_of(child)
        return self.indent_of(parent) + self.unit

    def replace(self, start: int, end: int, text: str, order: int = 0) -> None:
        """Replace ``text[start:end]`` (an insert when equal; ``order`` ranks same offsets)."""
        self.edits.append(Edit(start=start, end=end, replacement=text, order=order))

    def _insert_line(self, position: int, lines: str, indent: str, order: int) -> None:
        self.replace(position, position, self.newline + indent + lines, order)

    def insert_after(
        self, element: etree._Element, lines: str, indent: str, order: int = 0
    ) -> None:
        """Put ``lines`` on a new line after ``element``."""
        self._insert_line(self.span(element).end, lines, indent, order)

    def insert_before(
        self, element: etree._Element, lines: str, indent: str, order: int = 0
    ) -> None:
        """Put ``lines`` on a new line before ``element`` (after its predecessor)."""
        self._insert_line(
            leading_space_start(self.text, self.span(element).start), lines, indent, order
        )

    def insert_first(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line just inside ``parent``'s start tag."""
        self._insert_line(self.span(parent).start_tag_end, lines, indent, order)

    def insert_last(self, parent: etree._Element, lines: str, indent: str, order: int = 0) -> None:
        """Put ``lines`` on a new line after ``parent``'s last child (before its end tag)."""
        span = self.span(parent)
        # render expands an empty <devices/> and replaces an empty <metadata/> whole.
        assert not span.self_closing
        self._insert_line(leading_space_start(self.text, span.end_tag_start), lines, indent, order)

    def insert_child(self, parent: etree._Element, text: str, before: tuple[str, ...]) -> None:
        """Put ``text`` in ``parent``: before its first child named in ``before``, else last."""
        indent = self.child_indent(parent)
        for child in parent:
            if child.tag in before:
                self.insert_before(child, text, indent)
                return
        self.insert_last(parent, text, indent)

    def expand(self, element: etree._Element) -> None:
        """Open an empty ``<x/>`` as ``<x>`` and ``</x>``, so that children can go in."""
        span = self.span(element)
        self.replace(span.end - 2, span.end, ">")
        closing = self.newline + self.indent_of(element) + f"</{span.name}>"
        self.replace(span.end, span.end, closing, order=1_000)

    def remove(self, element: etree._Element) -> str:
        """Remove ``element`` and the whitespace before it; returns the removed text."""
        span = self.span(element)
        start = leading_space_start(self.text, span.start)
        self.replace(start, span.end, "")
        return self.text[start : span.end]

    def set_attribute(self, element: etree._Element, name: str, value: str) -> None:
        found = attribute_value_span(self.text, self.span(element), name)
        assert found is not None  # callers pass attributes lxml has seen
        self.replace(found[0], found[1], escape_attribute(value))

    def result(self) -> str:
        return apply_edits(self.text, self.edits)

    def excerpt(self, span: ElementSpan) -> str:
        """The text of one element with this writer's edits, all of which lie inside it."""
        assert all(span.start <= edit.start <= edit.end <= span.end for edit in self.edits)
        return apply_edits(
            self.text[span.start : span.end],
            (
                attrs.evolve(edit, start=edit.start - span.start, end=edit.end - span.start)
                for edit in self.edits
            ),
        )

    def block(self, lines: list[tuple[int, str]], indent: str) -> str:
        """Nested ``(depth, line)`` pairs as text whose first line starts at ``indent``."""
        return (self.newline).join(
            (indent + self.unit * depth if position else self.unit * depth) + line
            for position, (depth, line) in enumerate(lines)
        )


def indent_unit(document: Document) -> str:
    """The document's indentation step, from the first nested element (two spaces if none).

    Rule O2.
    """
    root = document.root
    for child in root:
        if isinstance(child.tag, str):
            outer = indentation(document.text, document.span(root)) or ""
            inner = indentation(document.text, document.span(child))
            if inner is not None and inner.startswith(outer) and len(inner) > len(outer):
                return inner[len(outer) :]
            break
    return DEFAULT_UNIT
