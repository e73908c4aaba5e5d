"""Where each element sits in the original text, so edits splice bytes instead of re-serialising.

lxml would rewrite every attribute with double quotes and re-escape text; an operator's diff
would then show the whole domain changed. Instead ``render`` edits the input text in place, and
this module maps each element (in document order, as ``root.iter()`` yields them) to its offsets.
The input has already been parsed by lxml, so it is well-formed: this scanner only has to find
tag boundaries, not validate.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen(kw_only=True)
class ElementSpan:
    """Offsets of one element: ``start`` is its ``<``; ``end`` is just past its last ``>``."""

    name: str
    start: int
    start_tag_end: int
    end: int
    end_tag_start: int
    self_closing: bool


@attrs.frozen(kw_only=True)
class Edit:
    """Replace ``text[start:end]`` by ``replacement`` (an insertion when ``start == end``)."""

    start: int
    end: int
    replacement: str
    # Insertions at the same offset apply in ascending ``order``.
    order: int = 0


def element_spans(text: str) -> list[ElementSpan]:
    """Every element's offsets, in document order of their start tags."""
    return scan(text)[0]


def scan(text: str) -> tuple[list[ElementSpan], list[tuple[int, int]]]:
    """Element offsets, and ``(start, end)`` of each comment and PI, both in document order."""
    spans: list[ElementSpan | None] = []
    others: list[tuple[int, int]] = []
    open_elements: list[tuple[int, str, int, int]] = []  # (slot, name, start, start_tag_end)
    position = text.find("<")
    while position != -1:
        if text.startswith("<!--", position):
            start, position = position, _skip(text, position, "-->")
            others.append((start, position))
        elif text.startswith("<![CDATA[", position):
            position = _skip(text, position, "]]>")
        elif text.startswith("<?", position):
            start, position = position, _skip(text, position, "?>")
            others.append((start, position))
        elif text.startswith("<!", position):
            # A DOCTYPE; read_document refuses those, so no internal subset needs scanning.
            position = _skip(text, position, ">")
        elif text.startswith("</", position):
            close = text.index(">", position) + 1
            slot, name, start, start_tag_end = open_elements.pop()
            spans[slot] = ElementSpan(
                name=name,
                start=start,
                start_tag_end=start_tag_end,
                end=close,
                end_tag_start=position,
                self_closing=False,
            )
            position = close
        else:
            close = _start_tag_end(text, position)
            name = _tag_name(text, position + 1)
            if text[close - 2] == "/":
                spans.append(
                    ElementSpan(
                        name=name,
                        start=position,
                        start_tag_end=close,
                        end=close,
                        end_tag_start=close,
                        self_closing=True,
                    )
                )
            else:
                open_elements.append((len(spans), name, position, close))
                spans.append(None)
            position = close
        position = text.find("<", position)
    return [span for span in spans if span is not None], others


def _skip(text: str, position: int, terminator: str) -> int:
    return text.index(terminator, position) + len(terminator)


def _start_tag_end(text: str, position: int) -> int:
    """Offset just past the ``>`` closing the start tag at ``position``, minding quoted values."""
    quote = ""
    for offset in range(position + 1, len(text)):
        char = text[offset]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ">":
            return offset + 1
    raise ValueError("unterminated start tag")  # lxml accepted the text, so this cannot happen


def _tag_name(text: str, position: int) -> str:
    end = position
    while end < len(text) and text[end] not in " \t\r\n/>":
        end += 1
    return text[position:end]


def leading_space_start(text: str, position: int) -> int:
    """Where the whitespace run that ends at ``position`` begins (a line's indentation)."""
    while position > 0 and text[position - 1] in " \t\r\n":
        position -= 1
    return position


def indentation(text: str, span: ElementSpan) -> str | None:
    """The element's indentation when it starts its own line, else ``None``."""
    line_start = text.rfind("\n", 0, span.start) + 1
    prefix = text[line_start : span.start]
    return prefix if prefix.strip() == "" else None


def newline_style(text: str) -> str:
    """CRLF when the document uses it, else LF."""
    return "\r\n" if "\r\n" in text else "\n"


def attribute_value_span(text: str, span: ElementSpan, attribute: str) -> tuple[int, int] | None:
    """Offsets of the value of ``attribute`` (inside its quotes) in the element's start tag."""
    position = span.start + 1 + len(span.name)
    stop = span.start_tag_end
    while position < stop:
        while position < stop and text[position] in " \t\r\n":
            position += 1
        name_start = position
        while position < stop and text[position] not in "= \t\r\n/>":
            position += 1
        name = text[name_start:position]
        while position < stop and text[position] in " \t\r\n=":
            position += 1
        if position >= stop or text[position] not in "'\"":
            return None
        quote = text[position]
        value_end = text.index(quote, position + 1)
        if name == attribute:
            return position + 1, value_end
        position = value_end + 1
    return None


class OverlappingEdits(ValueError):
    """Two edits touch the same text: a planner bug, or a record that contradicts its domain."""


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with every edit applied; edits must not overlap."""
    ordered = sorted(edits, key=lambda edit: (edit.start, edit.end, edit.order))
    pieces: list[str] = []
    cursor = 0
    for edit in ordered:
        if edit.start < cursor:
            raise OverlappingEdits(f"edits overlap at offset {edit.start}")
        pieces.append(text[cursor : edit.start])
        pieces.append(edit.replacement)
        cursor = edit.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def escape_attribute(value: str) -> str:
    """``value`` for a single-quoted attribute, as libvirt writes them."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def escape_text(value: str) -> str:
    """``value`` as element text."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )
