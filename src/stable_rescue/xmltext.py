"""Where each element sits in the original text, so edits splice bytes instead of re-serialising.

lxml would rewrite every attribute with double quotes and re-escape text; an operator's diff
would then show the whole domain changed. Instead ``render`` edits the input text in place, and
this module maps each element (in document order, as ``root.iter()`` yields them) to its offsets.

The input has already been parsed by lxml, but a scanner that is merely "good enough for
well-formed input" is a hazard: where it reads a construct differently from the XML spec (a
comment opened by ``<!-->`` is *not* closed by its own ``>``), every offset after it is wrong,
and a rescue disk can be spliced into a comment. So ``scan`` follows the spec's grammar for every
construct it steps over (comments, CDATA, PIs, the XML declaration, a DOCTYPE and its internal
subset, start and end tags) and checks the structure it finds (matching end tags, one root,
nothing but markup and whitespace outside it). Anything it cannot match raises
``InvalidDomainXML``: a refusal, never offsets that are wrong. ``check_spans`` lets a caller
that holds lxml's elements confirm the scan found the same ones. Each construct is found with
``str.find`` or one compiled pattern, so a scan stays linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import attrs

from stable_rescue.errors import InvalidDomainXML


# A NamedTuple, not an attrs class: a domain of 100,000 devices has a million of these, and a
# tuple is several times cheaper to make.
class ElementSpan(NamedTuple):
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


# XML's white space is exactly these four; ``\s`` would also take U+0085, U+00A0, ...
_S = "[ \t\r\n]"
# Wider than XML's Name production, which lxml has already enforced: the scanner only needs to
# know where a name stops, and no character below can be part of one.
_NAME = "[^\x00-\x20<>/=?!\"'&;\\[\\]]+"
# A start tag as the spec writes it: values hold no '<' and end at their own quote, so a '>' or
# '/>' inside one is not the tag's end.
_START_TAG = re.compile(f"<({_NAME})(?:{_S}+{_NAME}{_S}*={_S}*(?:\"[^\"<]*\"|'[^'<]*'))*{_S}*(/?)>")
_END_TAG = re.compile(f"</({_NAME}){_S}*>")
# A '<' that opens a start tag, once comments, CDATA, DOCTYPEs and PIs are ruled out.
_OPENING = re.compile("<(?![/?])")
_DECLARATION = re.compile(f"<\\?xml{_S}")
_PI_TARGET = re.compile(f"<\\?({_NAME})(?:\\?>|{_S})")
_DOCTYPE = re.compile(f"<!DOCTYPE{_S}")
_SUBSET_END = re.compile(f"\\]{_S}*>")
# What matters inside a DOCTYPE: literals (which may hold any of the others), the subset's
# brackets, a declaration's '>', and the comments and PIs the subset may hold.
_DOCTYPE_TOKEN = re.compile("[\"'\\[\\]>]|<!--|<\\?")
_BOM = "\ufeff"
_SPACE = " \t\r\n"


def element_spans(text: str) -> list[ElementSpan]:
    """Every element's offsets, in document order of their start tags."""
    return scan(text)[0]


def scan(text: str) -> tuple[list[ElementSpan], list[tuple[int, int]]]:
    """Element offsets, and ``(start, end)`` of each comment and PI, both in document order.

    Comments and PIs are listed wherever they are: before or after the root element, and in a
    DOCTYPE's internal subset; the XML declaration is not a PI and is not listed. Raises
    ``InvalidDomainXML`` where the text is not well-formed as far as the scanner looks.
    """
    spans: list[ElementSpan | None] = []
    others: list[tuple[int, int]] = []
    open_elements: list[tuple[int, str, int, int]] = []  # (slot, name, start, start_tag_end)
    prolog = True  # no element yet: a DOCTYPE may still come
    # Outside the root element only markup and white space may stand; ``outside`` is where the
    # text since the last top-level construct began (after a leading byte order mark).
    first = outside = 1 if text.startswith(_BOM) else 0
    position = text.find("<")
    # One character after '<' tells the construct; start and end tags, by far the most common,
    # are tested first.
    start_tag, end_tag = _START_TAG.match, _END_TAG.match
    while position != -1:
        if not open_elements:
            _expect_space(text, outside, position)
        kind = text[position + 1 : position + 2]
        if kind == "/":
            match = end_tag(text, position)
            if match is None:
                raise _malformed(text, position, "malformed end tag")
            if not open_elements:
                raise _malformed(text, position, f"end tag </{match[1]}> with no open element")
            slot, name, start, start_tag_end = open_elements.pop()
            if match[1] != name:
                raise _malformed(text, position, f"end tag </{match[1]}> closing <{name}>")
            end = match.end()
            spans[slot] = ElementSpan(name, start, start_tag_end, end, position, False)
        elif kind == "!" and text.startswith("<!--", position):
            end = _comment_end(text, position)
            others.append((position, end))
        elif kind == "?":
            end, target = _pi_end(text, position)
            if target.lower() != "xml":
                others.append((position, end))
            elif target != "xml" or position != first:
                # 'xml' is reserved: only the declaration, only first in the document, uses it.
                raise _malformed(text, position, f"processing instruction named {target!r}")
        elif kind == "!" and text.startswith("<![CDATA[", position):
            if not open_elements:
                raise _malformed(text, position, "CDATA section outside the root element")
            end = text.find("]]>", position + 9)
            if end == -1:
                raise _malformed(text, position, "CDATA section without ']]>'")
            end += 3
        elif kind == "!":
            if not (prolog and _DOCTYPE.match(text, position)):
                raise _malformed(text, position, "markup declaration outside a DOCTYPE")
            end = _doctype_end(text, position, others)
            prolog = False
        else:
            match = start_tag(text, position)
            if match is None:
                raise _malformed(text, position, "malformed start tag")
            if not open_elements and spans:
                raise _malformed(text, position, f"second root element <{match[1]}>")
            prolog = False
            end = match.end()
            if match[2]:
                spans.append(ElementSpan(match[1], position, end, end, end, True))
            else:
                open_elements.append((len(spans), match[1], position, end))
                spans.append(None)
        if not open_elements:
            outside = end
        position = text.find("<", end)
    if open_elements:
        _, name, start, _ = open_elements[-1]
        raise _malformed(text, start, f"element <{name}> without an end tag")
    if not spans:
        raise _malformed(text, len(text), "no root element")
    _expect_space(text, outside, len(text))
    return [span for span in spans if span is not None], others


def tag_starts(text: str) -> list[int] | None:
    """Where each start tag begins, in document order, when tags are the text's only markup.

    That is what ``virsh dumpxml`` prints: no comment, CDATA section, DOCTYPE or processing
    instruction, only the XML declaration at the start. In such a text, once a parser has found
    it well-formed, every '<' but the declaration's opens a start or an end tag (XML 1.0 allows
    no other '<' in attribute values or character data), so the n-th '<' not followed by '/'
    opens the n-th element. None for any other text: ``scan`` it instead.

    Found with one compiled pattern, without the Python step per construct that ``scan`` takes:
    a rescue then locates only the few elements it edits (``locate_element``), not all of them.
    """
    if text.find("<!") != -1:
        return None
    first = 1 if text.startswith(_BOM) else 0
    declaration = text.find("<?")
    if declaration != -1 and (
        declaration != first
        or not _DECLARATION.match(text, first)
        or text.find("<?", declaration + 2) != -1
    ):
        return None
    return [match.start() for match in _OPENING.finditer(text)]


def locate_element(text: str, start: int, name: str, content_end: int | None) -> ElementSpan:
    """The offsets of the element named ``name`` whose start tag is at ``start``.

    For a text ``tag_starts`` accepts, with ``start`` from it. ``content_end`` is where the
    element's last child element ends, or None when it has none: its end tag is then the first
    thing that follows, as nothing but character data (which holds no '<') may stand between.
    Raises ``InvalidDomainXML`` where the text is not so: offsets that are not proven are never
    used.
    """
    tag = _START_TAG.match(text, start)
    if tag is None or tag[1] != name:
        raise _malformed(text, start, f"element <{name}> not where the parser has it")
    start_tag_end = tag.end()
    if tag[2]:
        if content_end is not None:
            raise _malformed(text, start, f"element <{name}> not where the parser has it")
        return ElementSpan(name, start, start_tag_end, start_tag_end, start_tag_end, True)
    after = start_tag_end if content_end is None else content_end
    end_tag_start = text.find("<", after)
    end_tag = _END_TAG.match(text, end_tag_start) if end_tag_start != -1 else None
    if end_tag is None or end_tag[1] != name:
        raise _malformed(text, start, f"element <{name}> not closed where the parser has it")
    return ElementSpan(name, start, start_tag_end, end_tag.end(), end_tag_start, False)


def check_spans(text: str, spans: Sequence[ElementSpan], names: Sequence[str]) -> None:
    """Raise ``InvalidDomainXML`` unless ``spans`` are one per name, in order, and fit ``text``.

    For a caller that holds the parser's view of the same text (``names`` as ``prefix:local``,
    in ``root.iter()`` order): a count or a name that differs means the scanner and the parser
    read the text differently, and no offset can be trusted. Each span must also open with its
    name's start tag and close with its end tag, in document order; ``scan`` builds them so,
    and checking costs a string comparison each, not a second parse.
    """
    if len(spans) != len(names):
        raise InvalidDomainXML(
            f"text scanner found {len(spans)} elements where the parser found {len(names)}; "
            "expected the same elements",
            scanned=len(spans),
            parsed=len(names),
        )
    previous = -1
    for span, name in zip(spans, names, strict=True):
        fits = (
            span.name == name
            and previous < span.start < span.start_tag_end <= span.end_tag_start <= span.end
            and text.startswith(name, span.start + 1)
            and text[span.start] == "<"
            and (
                span.self_closing
                or (text.startswith(name, span.end_tag_start + 2) and text[span.end - 1] == ">")
            )
        )
        if not fits:
            raise _malformed(text, span.start, f"element <{name}> not where the parser has it")
        previous = span.start


def _expect_space(text: str, start: int, end: int) -> None:
    """Outside the root element, only white space may stand between constructs."""
    if text[start:end].strip(_SPACE):
        raise _malformed(text, start, "text outside the root element")


def _comment_end(text: str, position: int) -> int:
    """Just past the comment at ``position``: its body holds no '--', so the first one ends it.

    The search starts after ``<!--``: in ``<!-->`` and ``<!--->`` the '-' and '>' are body.
    """
    close = text.find("--", position + 4)
    if close == -1 or not text.startswith("-->", close):
        raise _malformed(text, position, "comment not closed by '-->' at its first '--'")
    return close + 3


def _pi_end(text: str, position: int) -> tuple[int, str]:
    """Just past the PI at ``position``, and its target; '?>' is looked for after the target."""
    match = _PI_TARGET.match(text, position)
    if match is None:
        raise _malformed(text, position, "processing instruction without a target")
    if text.startswith("?>", match.end(1)):
        return match.end(1) + 2, match[1]
    close = text.find("?>", match.end())
    if close == -1:
        raise _malformed(text, position, "processing instruction without '?>'")
    return close + 2, match[1]


def _doctype_end(text: str, position: int, others: list[tuple[int, int]]) -> int:
    """Just past the DOCTYPE at ``position``; comments and PIs in its subset go to ``others``.

    A '>' ends it only outside literals and outside the internal subset, where each markup
    declaration ends with its own '>'.
    """
    cursor = position + len("<!DOCTYPE")
    inside = False  # in the internal subset
    while True:
        match = _DOCTYPE_TOKEN.search(text, cursor)
        if match is None:
            break
        token, at = match[0], match.start()
        if token in "'\"":
            close = text.find(token, at + 1)
            if close == -1:
                break
            cursor = close + 1
        elif token == "[" and not inside:
            inside, cursor = True, at + 1
        elif token == "]" and inside:
            end = _SUBSET_END.match(text, at)
            if end is None:
                raise _malformed(text, at, "DOCTYPE subset not followed by '>'")
            return end.end()
        elif token == ">" and inside:
            cursor = at + 1
        elif token == ">":
            return at + 1
        elif token == "<!--" and inside:
            cursor = _comment_end(text, at)
            others.append((at, cursor))
        elif token == "<?" and inside:
            cursor, _ = _pi_end(text, at)
            others.append((at, cursor))
        else:
            raise _malformed(text, at, f"{token!r} misplaced in the DOCTYPE")
    raise _malformed(text, position, "DOCTYPE without its closing '>'")


def _malformed(text: str, position: int, what: str) -> InvalidDomainXML:
    line = text.count("\n", 0, position) + 1
    return InvalidDomainXML(
        f"input is not well-formed XML ({what}, line {line})",
        line=line,
        offset=position,
    )


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
