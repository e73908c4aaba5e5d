"""The input document: decoded and parsed safely, each element located in the text, and named.

Parsing is safe by construction: no DTD, no entity expansion, no network (libvirt's own parser
refuses the same things). A ``Document`` keeps the text, its tree and each element's offsets,
so that ``render`` and ``undo`` splice the text and never re-serialise it (rule O1). An
element is named by its xpath (which libvirt's re-sorting changes) or, for a device, by its key
(which survives it: rule R4).
"""

from __future__ import annotations

import codecs
import re

import attrs
from lxml import etree

from stable_rescue.errors import InvalidDomainXML
from stable_rescue.xmltext import ElementSpan, check_spans, locate_element, scan, tag_starts

# The XML declaration's encoding pseudo-attribute, after an optional byte order mark.
_ENCODING = re.compile(
    r"""\ufeff?<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*(["'])([^"'>]*)\1"""
)
_BOM = "\ufeff"
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})
# The encodings libxml2 reads (and so libvirt), by Python codec name. Only ones whose Python
# codec is a plain text encoding that round-trips: codecs such as idna, punycode, rot13 or
# unicode_escape are no XML encoding, and libvirt refuses a document that declares them.
_ACCEPTED_ENCODINGS = frozenset(
    {
        "utf-8",
        *_UTF16,
        "ascii",
        *(f"iso8859-{number}" for number in (*range(1, 12), *range(13, 17))),
        *(f"cp{number}" for number in range(1250, 1259)),
        "koi8-r",
        "koi8-u",
    }
)
# An XML EncName (XML 1.0, production 81).
_ENCODING_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")

# libvirt reads <boot order> in base 10 (virDomainDeviceBootParseXML: virXMLPropUInt with base
# 10, so strtoul's leading blanks and '+' pass and '0x1f' does not), unlike addresses (base 0).
BOOT_ORDER = re.compile(r"[ \t\n\r]*\+?([0-9]+)")


@attrs.frozen(kw_only=True, eq=False)
class Document:
    """The input text, its parsed tree and each element's offsets in the text.

    Offsets come one of two ways. A text whose only markup is tags (what ``virsh dumpxml``
    prints) has each element's start located up front, cheaply, and the rest of its offsets
    found when ``span`` is first asked for them: a rescue edits a few elements of hundreds. Any
    other text is scanned whole by the XML grammar (``xmltext.scan``), every element at once.
    """

    text: str
    root: etree._Element
    # Each element's offsets: all of them after a scan, else those ``span`` has found so far.
    spans: dict[etree._Element, ElementSpan]
    # ``(start, end)`` of each comment and processing instruction inside the root element.
    other_spans: dict[etree._Element, tuple[int, int]]
    # Where each element's start tag begins, for a text of tags only; None after a scan.
    _starts: dict[etree._Element, int] | None = None
    # Each device's xpath, built on the first ``find``: one XPath query per device is O(n²).
    _by_path: dict[str, etree._Element] = attrs.field(factory=dict, init=False)
    _indexed: set[etree._Element] = attrs.field(factory=set, init=False)

    def span(self, element: etree._Element) -> ElementSpan:
        """The offsets of ``element`` in ``text``."""
        found = self.spans.get(element)
        return found if found is not None else self._locate(element)

    def tails_are_literal(self) -> bool:
        """Whether lxml's ``text`` and ``tail`` hold white space exactly where the text does.

        So in a text of tags only (no CDATA) without character references (``&#10;`` reads as a
        newline): there, character data differs from what lxml gives only by line ends (CR LF
        and CR read as LF) and the five predefined entities, none of them white space. A caller
        that only asks whether text between elements is white space may then ask lxml, and
        locate nothing.
        """
        return self._starts is not None and "&#" not in self.text

    def element_starts(self) -> set[int]:
        """Where every element's start tag begins."""
        if self._starts is not None:
            return set(self._starts.values())
        return {span.start for span in self.spans.values()}

    def end_of(self, node: etree._Element) -> int:
        """Where ``node`` (an element, comment or processing instruction) ends in ``text``."""
        if isinstance(node.tag, str):
            return self.span(node).end
        return self.other_spans[node][1]

    def _locate(self, element: etree._Element) -> ElementSpan:
        """Find ``element``'s offsets in a text of tags only, and keep them.

        An element's end tag follows the end of its last child, so the last children down to a
        leaf (or to one already found) are located first, deepest first; no recursion, however
        deep the document. The text holds no comments or PIs, so ``[-1]`` is an element.
        """
        if self._starts is None:
            raise KeyError(element)  # a scan found every element: this one is not of the text
        chain = []
        node = element
        while node not in self.spans:
            chain.append(node)
            if len(node) == 0:
                break
            node = node[-1]
        for node in reversed(chain):
            content_end = self.spans[node[-1]].end if len(node) else None
            self.spans[node] = locate_element(
                self.text, self._starts[node], _qualified(node), content_end
            )
        return self.spans[element]

    def index_paths(self, parent: etree._Element, paths: dict[etree._Element, str]) -> None:
        """Let ``find`` look up ``parent``'s children by xpath (``paths``: ``child_paths``)."""
        self._indexed.add(parent)
        self._by_path.update((path, element) for element, path in paths.items())

    def find(self, xpath: str) -> etree._Element:
        """The single element at ``xpath`` (as ``getpath`` wrote it)."""
        if xpath not in self._by_path:
            for child in self.root:
                if isinstance(child.tag, str) and child not in self._indexed:
                    self.index_paths(child, child_paths(child))
        if xpath in self._by_path:
            return self._by_path[xpath]
        found = self.root.getroottree().xpath(xpath)
        # Paths come from getpath on this very text, so exactly one element matches.
        assert isinstance(found, list)
        assert len(found) == 1
        element = found[0]
        assert isinstance(element, etree._Element)
        return element


def safe_parser() -> etree.XMLParser:
    """A parser for untrusted UTF-8: no entities, DTD or network, comments and blanks kept.

    A new one per document: lxml parsers must not be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        encoding="utf-8",
    )


def read_document(xml: str | bytes) -> Document:
    """Parse ``xml`` safely and locate every element in its text.

    Raises ``InvalidDomainXML`` for anything that is not a well-formed ``<domain>`` document.
    A byte order mark stays at the start of ``text``, so that the output keeps it.
    """
    text = _decode(xml)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidDomainXML(
            f"input has a lone surrogate U+{ord(text[error.start]):04X} at offset {error.start}; "
            "expected Unicode text that UTF-8 can encode"
        ) from None
    try:
        tree = etree.fromstring(encoded, safe_parser())
    except etree.XMLSyntaxError as error:
        message = str(error.msg).splitlines()[0] if error.msg else "malformed XML"
        raise InvalidDomainXML(
            f"input is not well-formed XML ({message}, line {error.lineno})",
            line=error.lineno,
        ) from None
    if tree.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise InvalidDomainXML("input has a DOCTYPE; expected a plain libvirt domain document")
    if tree.tag != "domain":
        raise InvalidDomainXML(f"root element is <{_local(tree.tag)}>; expected <domain>")
    for entity in tree.iter(etree.Entity):
        name = entity.name if isinstance(entity, etree._Entity) else "?"
        raise InvalidDomainXML(f"input uses entity '&{name};'; expected none")
    # Filtered by lxml in C, each in document order (as ``scan`` lists them).
    elements = list(tree.iter(etree.Element))
    starts = tag_starts(text)
    if starts is not None and len(starts) == len(elements):
        # Each element's start is the n-th start tag's; its other offsets are checked against
        # the parser's name and children when ``span`` finds them.
        return Document(
            text=text,
            root=tree,
            spans={},
            other_spans={},
            starts=dict(zip(elements, starts, strict=True)),
        )
    others = list(tree.iter(etree.Comment, etree.ProcessingInstruction))
    spans, other_spans = scan(text)
    root_span = spans[0] if spans else None
    # Comments and PIs before or after the root element are not in tree.iter().
    inner = [
        span
        for span in other_spans
        if root_span is not None and root_span.start < span[0] < root_span.end
    ]
    # Offsets are trusted only where the scanner and lxml read the same elements (and comments
    # and PIs) in the same order: anything else is refused, never spliced.
    check_spans(text, spans, [_qualified(element) for element in elements])
    if len(inner) != len(others):
        raise InvalidDomainXML(
            f"text scanner found {len(inner)} comments and PIs where the parser found "
            f"{len(others)}; expected the same",
        )
    return Document(
        text=text,
        root=tree,
        spans=dict(zip(elements, spans, strict=True)),
        other_spans=dict(zip(others, inner, strict=True)),
    )


def _qualified(element: etree._Element) -> str:
    """An element's name as written: ``prefix:local``, or ``local``."""
    tag = element.tag
    if isinstance(tag, str) and not tag.startswith("{"):
        return tag  # no namespace: the tag is the name (the common case, made cheap)
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def declared_encoding(text: str) -> str | None:
    """The encoding an XML declaration at the start of ``text`` names, if any."""
    match = _ENCODING.match(text)
    return match.group(2) if match else None


def _decode(xml: str | bytes) -> str:
    """``xml`` as text, decoded as libxml2 would: by its byte order mark or its declaration.

    A UTF-8 byte order mark stays in the text (as U+FEFF), as the UTF-8 codec writes it back;
    a UTF-16 one is part of that encoding, and its codec writes it back.
    """
    if isinstance(xml, str):
        text = xml
        detected = None
    elif isinstance(xml, bytes):
        detected = _detect_encoding(xml)
        try:
            text = xml.decode(detected)
        except UnicodeError as error:
            raise InvalidDomainXML(
                f"input is not valid {detected} ({error.__class__.__name__}); "
                "expected text in its declared encoding (UTF-8 when none is declared)"
            ) from None
    else:
        raise InvalidDomainXML(
            f"input is a {type(xml).__name__}; expected the domain XML as str or bytes"
        )
    _check_encoding(text, detected)
    # lxml refuses str input that declares an encoding; the text is already decoded.
    return text


def _detect_encoding(xml: bytes) -> str:
    """The codec for ``xml`` (XML 1.0 appendix F): a byte order mark, else the declaration."""
    if xml.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if xml.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if xml.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if xml.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    end = xml.find(b"?>") if xml.startswith(b"<?xml") else -1
    # The declaration is ASCII in every encoding it may name, so latin-1 reads it.
    name = declared_encoding(xml[: end + 2].decode("latin-1")) if end != -1 else None
    if name is None:
        return "utf-8"
    codec = _accepted_codec(name)
    if codec is None:
        raise _unread_encoding(name)
    # UTF-16 declared in bytes that are not: _check_encoding refuses it, naming both.
    return "utf-8" if codec in _UTF16 else codec


def _check_encoding(text: str, detected: str | None) -> None:
    """Refuse a declared encoding libvirt does not read, or one the bytes contradict."""
    name = declared_encoding(text)
    codec = _accepted_codec(name) if name is not None else None
    if name is not None and codec is None:
        raise _unread_encoding(name)
    family = "utf-16" if codec in _UTF16 else codec
    if detected is not None:
        found = "utf-16" if detected in _UTF16 else detected
        if codec is not None and family != found:
            raise InvalidDomainXML(
                f"input declares encoding '{name}' but is written in {found}; "
                "expected the declaration to name the encoding of the bytes",
                encoding=name,
            )
    if text.startswith(_BOM) and codec not in (None, "utf-8"):
        raise InvalidDomainXML(
            f"input starts with a byte order mark but declares encoding '{name}'; "
            "expected UTF-8 with a byte order mark, or no byte order mark",
            encoding=name,
        )


def _unread_encoding(name: str) -> InvalidDomainXML:
    return InvalidDomainXML(
        f"input declares encoding '{brief(name[:40])}'; expected one libvirt reads, "
        "such as UTF-8, UTF-16, ISO-8859-1 or US-ASCII",
        encoding=name,
    )


def _accepted_codec(name: str) -> str | None:
    """The Python codec for the declared encoding ``name``, if libvirt reads that encoding."""
    if _ENCODING_NAME.fullmatch(name) is None:
        return None
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return codec if codec in _ACCEPTED_ENCODINGS else None


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else str(tag)


def brief(text: str) -> str:
    """At most 20 characters of ``text`` for a one-line message, unprintables escaped."""
    return "".join(
        char
        if char.isprintable() and (char == " " or not char.isspace())
        else f"\\u{ord(char):04x}"
        for char in text[:20]
    )


# --- naming elements ---------------------------------------------------------------------------


def element_path(element: etree._Element) -> str:
    return str(element.getroottree().getpath(element))


def element_children(parent: etree._Element) -> list[etree._Element]:
    """``parent``'s child elements, without its comments and processing instructions."""
    return [child for child in parent if isinstance(child.tag, str)]


def child_paths(parent: etree._Element) -> dict[etree._Element, str]:
    """The xpath of each element child of ``parent``, exactly as ``getpath`` writes it.

    One pass for all children: ``getpath`` counts the siblings of each element anew, which is
    O(n²) for n devices. libxml2's xmlGetNodePath: an element in a namespace with a prefix is
    ``prefix:name``, one in a default namespace ``*``; ``[i]`` appears when a sibling shares the
    name and namespace (any element sibling, for ``*``), and counts those.
    """
    base = element_path(parent)
    children = element_children(parent)
    keys = [_path_key(child) for child in children]
    totals: dict[tuple[str, str | None, bool] | None, int] = {}
    for key in keys:
        totals[key] = totals.get(key, 0) + 1
    seen: dict[tuple[str, str | None, bool] | None, int] = {}
    paths = {}
    for position, (child, key) in enumerate(zip(children, keys, strict=True), start=1):
        seen[key] = seen.get(key, 0) + 1
        if key is None:
            step = "*" if len(children) == 1 else f"*[{position}]"
        else:
            name = f"{key[1]}:{key[0]}" if key[1] is not None else key[0]
            step = name if totals[key] == 1 else f"{name}[{seen[key]}]"
        paths[child] = f"{base}/{step}"
    return paths


def _path_key(element: etree._Element) -> tuple[str, str | None, bool] | None:
    """Which siblings ``getpath`` counts together: ``None`` for a default namespace (``*``)."""
    tag = str(element.tag)
    if not tag.startswith("{"):
        return (tag, None, False)
    qname = etree.QName(element)
    if qname.namespace is None:
        return (qname.localname, None, False)
    if element.prefix is None:
        return None
    return (qname.localname, element.prefix, True)


def device_key(
    element: etree._Element,
    path: str | None = None,
    kids: dict[str, etree._Element] | None = None,
) -> str:
    """A name for the device that survives libvirt re-sorting ``<devices>``.

    ``path`` and ``kids`` (``first_children``) spare the work when the caller has them.

    Rule R4.
    """
    tag = str(element.tag)
    if kids is None:
        kids = first_children(element)
    if tag == "disk":
        target = kids.get("target")
        if target is not None and target.get("dev"):
            return f"disk:{target.get('dev')}"
    elif tag == "interface":
        mac = kids.get("mac")
        if mac is not None and mac.get("address"):
            return f"interface:{mac.get('address', '').lower()}"
    alias = kids.get("alias")
    if alias is not None and alias.get("name"):
        return f"{tag}:alias:{alias.get('name')}"
    source = kids.get("source")
    if source is not None:
        parts = [f"{key!s}={value!s}" for key, value in sorted(source.attrib.items())]
        for child in source:
            if isinstance(child.tag, str):
                parts.extend(f"{child.tag}.{k!s}={v!s}" for k, v in sorted(child.attrib.items()))
        if parts:
            return f"{tag}:" + ",".join(parts)
    return f"{tag}:{path if path is not None else element_path(element)}"


def device_keys(elements: list[etree._Element]) -> list[str]:
    """Each device's key, made unique in document order (``#2`` for the second alike).

    Rule R4.
    """
    paths: dict[etree._Element, str] = {}
    for parent in {id(element.getparent()): element.getparent() for element in elements}.values():
        if parent is not None:
            paths.update(child_paths(parent))
    return unique_keys(elements, paths, [first_children(element) for element in elements])


def unique_keys(
    elements: list[etree._Element],
    paths: dict[etree._Element, str],
    children: list[dict[str, etree._Element]],
) -> list[str]:
    counts: dict[str, int] = {}
    keys = []
    for element, kids in zip(elements, children, strict=True):
        key = device_key(element, paths.get(element), kids)
        counts[key] = counts.get(key, 0) + 1
        keys.append(key if counts[key] == 1 else f"{key}#{counts[key]}")
    return keys


def first_children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each tag: what ``find(tag)`` returns, in one pass."""
    kids: dict[str, etree._Element] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in kids:
            kids[tag] = child
    return kids
