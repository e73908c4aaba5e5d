"""The text scanner under render: element offsets, attribute values, and byte splicing.

The scanner is checked against expat (``xml.parsers.expat``), an XML parser independent of both
the scanner and lxml: its byte offsets for every element, comment and PI, on generated
well-formed documents that stress what a hand-written scanner gets wrong.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from typing import Any
from xml.parsers import expat

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

import stable_rescue
from stable_rescue.errors import InvalidDomainXML
from stable_rescue.xmltext import (
    Edit,
    ElementSpan,
    OverlappingEdits,
    apply_edits,
    attribute_value_span,
    check_spans,
    element_spans,
    scan,
)
from tests.golden_cases import golden_cases

TRICKY = [
    pytest.param(
        "<domain type='kvm'><name>x</name></domain>",
        id="plain",
    ),
    pytest.param(
        "<domain><on cmd=\"a > b\" other='x>y'><child/></on></domain>",
        id="gt-in-attributes",
    ),
    pytest.param(
        '<domain><a q=\'say "hi" > there\' d="it\'s"/><b/></domain>',
        id="other-quote-inside-value",
    ),
    pytest.param(
        "<domain><a x='/'/><b y=\"a/\">t</b><c z='/>'/></domain>",
        id="slash-before-gt-in-values",
    ),
    pytest.param(
        "<domain><!-- <disk><target dev='vda'/></disk> --><devices/></domain>",
        id="comment-with-tags",
    ),
    pytest.param(
        "<!-- <before> --><domain><x/></domain><!-- <after/> -->",
        id="comments-outside-root",
    ),
    pytest.param(
        "<domain><cmdline><![CDATA[<not-a-tag> a > b </also-not>]]></cmdline></domain>",
        id="cdata-with-tags",
    ),
    pytest.param(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?style href='x'?><domain><?pi data?>"
        "<a/></domain>",
        id="declaration-and-processing-instructions",
    ),
    pytest.param(
        "<domain><a/><b /><c\t/><d\n/><e></e><f>text</f></domain>",
        id="self-closing-forms",
    ),
    pytest.param(
        "<domain>\r\n  <devices\r\n    x='1'\r\n  >\r\n    <disk/>\r\n"
        "  </devices >\r\n</domain>\r\n",
        id="crlf",
    ),
    pytest.param(
        "<domain>&lt;<a b='&gt;&apos;'>&amp;&gt;</a>&#60;</domain>",
        id="entities-and-references",
    ),
    pytest.param(
        "<domain xmlns:r='urn:r'><metadata><r:rec r:k='v'><r:x/></r:rec></metadata></domain>",
        id="namespace-prefixes",
    ),
    pytest.param(
        "<domain><a><a><a/></a></a><a/></domain>",
        id="nested-same-name",
    ),
    pytest.param(
        "<domain><x>caf\u00e9 \u2603 \U0001f600</x><y/></domain>",
        id="non-ascii-text",
    ),
]


def _elements(text: str) -> list[etree._Element]:
    root = etree.fromstring(text.encode("utf-8"))
    return [node for node in root.iter() if isinstance(node.tag, str)]


def _qualified(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{element.prefix}:{qname.localname}" if element.prefix else qname.localname


@pytest.mark.parametrize("text", TRICKY)
def test_element_spans_match_lxml(text: str) -> None:
    """One span per element, in lxml's document order, with its name, line and start tag.

    The span's text holds exactly that element's subtree: re-parsed, it has the same
    descendants and attributes.
    """
    elements = _elements(text)
    spans = element_spans(text)
    assert [span.name for span in spans] == [_qualified(element) for element in elements]
    for element, span in zip(elements, spans, strict=True):
        # libxml2 numbers an element by the line its start tag ends on.
        line: object = element.sourceline  # lxml-stubs leave it untyped
        assert text.count("\n", 0, span.start_tag_end) + 1 == line
        assert text[span.start] == "<"
        assert text[span.start_tag_end - 1] == ">"
        assert text[span.end - 1] == ">"
        snippet = text[span.start : span.end]
        if span.self_closing:
            assert span.end == span.start_tag_end == span.end_tag_start
            assert text[span.start_tag_end - 2] == "/"
        else:
            assert span.start_tag_end <= span.end_tag_start < span.end
            assert text[span.end_tag_start : span.end].rstrip(" \t\r\n>") == f"</{span.name}"
        # The subtree text, re-parsed, has this element's descendants.
        wrapped = f"<w xmlns:r='urn:r'>{snippet}</w>"
        reparsed = etree.fromstring(wrapped.encode("utf-8"))[0]
        assert [node.tag for node in reparsed.iter() if isinstance(node.tag, str)] == [
            node.tag for node in element.iter() if isinstance(node.tag, str)
        ]
        assert sorted(reparsed.attrib.items()) == sorted(element.attrib.items())


@pytest.mark.parametrize(
    "text",
    ["<domain><?pi a>b<c?><x/></domain>", "<domain><x/><?note 1 > 0 <y/> ?></domain>"],
    ids=["gt-then-lt", "tag-inside"],
)
def test_element_spans_processing_instruction_with_gt(text: str) -> None:
    """A processing instruction ends at '?>', whatever '>' or '<' it holds before."""
    assert [span.name for span in element_spans(text)] == [
        _qualified(element) for element in _elements(text)
    ]


def test_element_spans_offsets() -> None:
    """Offsets of a small document, worked out by hand."""
    text = "<a x='>'><b/>t</a>"
    assert element_spans(text) == [
        ElementSpan(
            name="a", start=0, start_tag_end=9, end=18, end_tag_start=14, self_closing=False
        ),
        ElementSpan(
            name="b", start=9, start_tag_end=13, end=13, end_tag_start=13, self_closing=True
        ),
    ]


ATTRIBUTES = [
    pytest.param("<disk type='file' device='disk'/>", "device", "disk", id="second"),
    pytest.param("<disk type='file' device='disk'/>", "type", "file", id="first"),
    pytest.param('<disk type="file"/>', "type", "file", id="double-quotes"),
    pytest.param("<disk type = 'file' />", "type", "file", id="spaces-around-equals"),
    pytest.param("<disk\r\n  type='file'\r\n/>", "type", "file", id="crlf"),
    pytest.param("<a x='type=\"no\"' type='yes'/>", "type", "yes", id="name-inside-a-value"),
    pytest.param("<a xtype='no' type='yes'/>", "type", "yes", id="longer-name-first"),
    pytest.param("<a b='it\"s' c=\"it's\"/>", "c", "it's", id="other-quote-inside"),
    pytest.param("<a b='x > y'></a>", "b", "x > y", id="gt-inside"),
    pytest.param("<a b=''/>", "b", "", id="empty"),
    pytest.param("<a r:k='v' xmlns:r='urn:r'/>", "r:k", "v", id="prefixed"),
]


@pytest.mark.parametrize(("text", "attribute", "value"), ATTRIBUTES)
def test_attribute_value_span(text: str, attribute: str, value: str) -> None:
    """The offsets of exactly the attribute's value, inside its quotes."""
    span = element_spans(text)[0]
    found = attribute_value_span(text, span, attribute)
    assert found is not None
    start, end = found
    assert text[start:end] == value
    assert text[start - 1] == text[end]
    assert text[end] in "'\""


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ("<disk type='file'/>", "device"),
        ("<disk xtype='file'/>", "type"),
        ("<disk type='file'/>", "typ"),
        ("<disk><x type='file'/></disk>", "type"),
    ],
    ids=["absent", "suffix-only", "prefix-only", "only-on-child"],
)
def test_attribute_value_span_absent(text: str, attribute: str) -> None:
    """An attribute the start tag does not have has no span, even when a child has it."""
    assert attribute_value_span(text, element_spans(text)[0], attribute) is None


def test_apply_edits_in_offset_order() -> None:
    """Edits apply by offset, whatever order they are given in; the rest is kept byte for byte."""
    text = "0123456789"
    edits = [
        Edit(start=8, end=9, replacement="E"),
        Edit(start=0, end=0, replacement="<"),
        Edit(start=2, end=4, replacement=""),
        Edit(start=10, end=10, replacement=">"),
    ]
    assert apply_edits(text, edits) == "<014567E9>"


def test_apply_edits_same_offset_by_order() -> None:
    """Insertions at one offset apply in ascending order, then a replacement starting there."""
    edits = [
        Edit(start=3, end=5, replacement="R"),
        Edit(start=3, end=3, replacement="b", order=2),
        Edit(start=3, end=3, replacement="a", order=1),
    ]
    assert apply_edits("abcdefg", edits) == "abcabRfg"


def test_apply_edits_same_offset_same_order_keeps_given_order() -> None:
    """Insertions with equal offset and order keep the order they were given in."""
    edits = [Edit(start=1, end=1, replacement="x"), Edit(start=1, end=1, replacement="y")]
    assert apply_edits("ab", edits) == "axyb"


def test_apply_edits_adjacent() -> None:
    """A replacement may end where the next begins."""
    edits = [Edit(start=0, end=2, replacement="X"), Edit(start=2, end=4, replacement="Y")]
    assert apply_edits("abcdef", edits) == "XYef"


def test_apply_edits_nothing() -> None:
    """No edits give the text back unchanged."""
    assert apply_edits("<domain/>\r\n", []) == "<domain/>\r\n"


@pytest.mark.parametrize(
    "edits",
    [
        [Edit(start=1, end=4, replacement="X"), Edit(start=3, end=6, replacement="Y")],
        [Edit(start=1, end=6, replacement="X"), Edit(start=2, end=3, replacement="Y")],
        [Edit(start=1, end=6, replacement="X"), Edit(start=3, end=3, replacement="Y")],
        [Edit(start=2, end=4, replacement="X"), Edit(start=2, end=5, replacement="Y")],
    ],
    ids=["crossing", "nested", "insertion-inside", "same-start"],
)
def test_apply_edits_overlap(edits: list[Edit]) -> None:
    """Overlapping edits raise OverlappingEdits, a ValueError and not a RescueError.

    unrescue turns it into invalid-rescue-record; in rescue it would be a planner bug.
    """
    with pytest.raises(OverlappingEdits, match=r"^edits overlap at offset \d+$"):
        apply_edits("abcdefgh", edits)


# --- the expat oracle --------------------------------------------------------------------------


def expat_scan(text: str) -> tuple[list[ElementSpan], list[tuple[int, int]]]:
    """What ``scan`` should give, from expat's byte offsets (``ExpatError`` if not well-formed).

    Every construct starts an event of its own (the default handler takes whatever has no
    handler), so a construct ends where the next event starts. expat reports a start tag and an
    end tag at their '<', and the end of an empty element (``<a/>``) just past its '/>'.
    """
    data = text.encode("utf-8")
    parser = expat.ParserCreate("UTF-8")  # the text is encoded so, whatever it declares
    events: list[tuple[int, str, str]] = []  # (byte index, kind, element name)

    def record(kind: str) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            name = args[0] if kind in ("start", "end") else ""
            events.append((parser.CurrentByteIndex, kind, name))

        return handler

    parser.StartElementHandler = record("start")
    parser.EndElementHandler = record("end")
    parser.CommentHandler = record("other")
    parser.ProcessingInstructionHandler = record("other")
    parser.CharacterDataHandler = record("data")
    parser.DefaultHandler = record("data")
    parser.Parse(data, True)
    boundaries = sorted({index for index, _, _ in events} | {len(data)})
    char_at = {
        byte: char
        for char, byte in enumerate(
            itertools.accumulate((len(c.encode("utf-8")) for c in text), initial=0)
        )
    }

    def next_boundary(index: int) -> int:
        return boundaries[bisect.bisect_right(boundaries, index)]

    spans: list[ElementSpan | None] = []
    others: list[tuple[int, int]] = []
    open_elements: list[tuple[int, str, int]] = []
    for index, kind, name in events:
        if kind == "other":
            others.append((char_at[index], char_at[next_boundary(index)]))
        elif kind == "start":
            open_elements.append((len(spans), name, index))
            spans.append(None)
        elif kind == "end":
            slot, name, start = open_elements.pop()
            tag_end = next_boundary(start)
            empty = index == tag_end and data[index - 2 : index] == b"/>"
            end = index if empty else next_boundary(index)
            spans[slot] = ElementSpan(
                name=name,
                start=char_at[start],
                start_tag_end=char_at[tag_end],
                end=char_at[end],
                end_tag_start=char_at[end if empty else index],
                self_closing=empty,
            )
    assert not open_elements
    return [span for span in spans if span is not None], others


def _lxml_names(text: str) -> list[str]:
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    root = etree.fromstring(text.encode("utf-8"), parser)
    return [_qualified(node) for node in root.iter() if isinstance(node.tag, str)]


def assert_agrees(text: str) -> None:
    """scan() gives expat's offsets and lxml's elements, and passes its own check_spans."""
    spans, others = scan(text)
    assert (spans, others) == expat_scan(text)
    names = _lxml_names(text)
    assert [span.name for span in spans] == names
    check_spans(text, spans, names)


# Pieces of generated documents. Each list only holds what is well-formed where it is used, and
# joining pieces keeps it so: no comment piece ends with '-' or starts with '--', no PI piece
# holds '?>', no CDATA piece holds ']]>'.
COMMENT_PIECES = [
    ">", "->", "-x", "-<", " ", "x", "<disk type='file'>", "</devices>", "<x a=\"", "'", '"',
    "<!", "<!-x", "<?p?>", "?>", "]]>", "<![CDATA[", "/>", "\r\n", "\U0001f600",
]  # fmt: skip
PI_PIECES = [" ", "a", ">", "<", "'", '"', "-->", "? >", "<!--", "</a>", "]]>", "?", "\t"]
CDATA_PIECES = ["<a>", "</a>", "]", "]]", ">", "x", "-->", "<!--", "&amp;", "?>", "\r\n", "["]
TEXT_PIECES = [
    "x", " ", "\r\n", "\n", "\t", ">", "&amp;", "&lt;", "&#60;", "'", '"', "]", "/>", "\u00e9",
    "\U0001f600",
]  # fmt: skip
VALUE_PIECES = [
    "x", " ", ">", "/>", "/", "&lt;!--", "--&gt;", "-->", "]]>", "?>", "'", '"', "=", "&amp;",
    "\t", "&#10;",
]  # fmt: skip
ELEMENT_NAMES = ["a", "disk", "x.y", "a-b", "r:k", "_u", "\u00e9", "\u540d\u524d", "n1", "a.b-c"]
ATTRIBUTE_NAMES = ["a", "b.c", "d-e", "r:f", "\u00e9t\u00e9", "type", "x"]
PI_TARGETS = ["p", "x-y", "xml-stylesheet", "\u00e9", "pi.x"]
space = st.text(alphabet=" \t\r\n", min_size=1, max_size=3)
optional_space = st.text(alphabet=" \t\r\n", max_size=2)


def _joined(pieces: list[str], max_size: int = 6) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


comments = st.builds(lambda body: f"<!--{body}-->", _joined(COMMENT_PIECES))
processing_instructions = st.builds(
    lambda target, separator, data: f"<?{target}{separator}{data}?>",
    st.sampled_from(PI_TARGETS),
    space,
    _joined(PI_PIECES).filter(lambda data: "?>" not in data),
) | st.builds(lambda target: f"<?{target}?>", st.sampled_from(PI_TARGETS))
cdata_sections = st.builds(
    lambda body: f"<![CDATA[{body}]]>",
    _joined(CDATA_PIECES).filter(lambda body: "]]>" not in body),
)
texts = _joined(TEXT_PIECES, max_size=4).filter(lambda text: "]]>" not in text)
miscellany = st.lists(st.one_of(comments, processing_instructions, space), max_size=3).map("".join)


@st.composite
def attribute(draw: st.DrawFn, name: str) -> str:
    """`` name = 'value'`` with the value escaped for its quotes and its white space varied."""
    quote = draw(st.sampled_from("'\""))
    value = draw(_joined(VALUE_PIECES, max_size=4))
    value = value.replace(quote, "&apos;" if quote == "'" else "&quot;")
    return f"{draw(space)}{name}{draw(optional_space)}={draw(optional_space)}{quote}{value}{quote}"


@st.composite
def element(draw: st.DrawFn, depth: int = 0, root: bool = False) -> str:
    """An element with varied attributes, white space, content and tag forms."""
    name = draw(st.sampled_from(ELEMENT_NAMES))
    names = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=3, unique=True))
    attributes = "".join(draw(attribute(attribute_name)) for attribute_name in names)
    if root:
        attributes += f"{draw(space)}xmlns:r='urn:r'"
    start = f"<{name}{attributes}{draw(optional_space)}"
    if depth >= 3 or draw(st.booleans()):
        return f"{start}/>"
    parts = st.one_of(
        texts, comments, processing_instructions, cdata_sections, element(depth=depth + 1)
    )
    content = "".join(draw(st.lists(parts, max_size=4)))
    return f"{start}>{content}</{name}{draw(optional_space)}>"


DOCTYPE_DECLARATIONS = [
    '<!ENTITY e "v > ] [ \' <x>">',
    "<!ENTITY f 'a \" ]> b'>",
    "<!ELEMENT a ANY>",
    '<!ATTLIST a b CDATA "x > y ]">',
    '<!NOTATION n SYSTEM "u>">',
    "<!-- ]> <a> -->",
    "<!---->",
    "<?p ]> ?>",
    " ",
    "\r\n",
]


@st.composite
def doctypes(draw: st.DrawFn) -> str:
    """A DOCTYPE, perhaps with an external id and an internal subset full of '>', '[' and ']'."""
    external = draw(st.sampled_from(["", ' SYSTEM "a>b]"', " PUBLIC 'p-/' \"u>[\"", " SYSTEM 's'"]))
    subset = ""
    if draw(st.booleans()):
        declarations = draw(
            st.lists(st.sampled_from(DOCTYPE_DECLARATIONS), max_size=4, unique=True)
        )
        subset = f"{draw(optional_space)}[{''.join(declarations)}]"
    return f"<!DOCTYPE{draw(space)}a{external}{subset}{draw(optional_space)}>"


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A well-formed document: BOM, declaration, miscellany, DOCTYPE, root, miscellany."""
    bom = draw(st.sampled_from(["", "\ufeff"]))
    declaration = draw(
        st.sampled_from(
            [
                "",
                "<?xml version='1.0'?>",
                '<?xml version="1.0" encoding="UTF-8" standalone=\'yes\'?>',
            ]
        )
    )
    doctype = draw(st.one_of(st.just(""), doctypes()))
    return "".join(
        [
            bom,
            declaration,
            draw(miscellany),
            doctype,
            draw(miscellany),
            draw(element(root=True)),
            draw(miscellany),
        ]
    )


@given(documents())
@example("<a><!-->--></a>")
@example("<a><!--->--></a>")
@example("<a><!----></a>")
@example("<a><!---->-><b/></a>")
@example("<!-->--><a><!--->--><b></b><!----></a><!-->-->")
@example("<a><?p?><?p ?>?><?p >?></a>")
@example("<!DOCTYPE a [<!ENTITY e '>'><!-- ] > --><?p ]>?>]><a/>")
@example("\ufeff<?xml version='1.0'?>\r\n<a\r\n\tb = '/>'\r\n/>\r\n")
@example("<a b=\"'>\" c='\">'><![CDATA[<!--]]><b/><!-- ]]> --></a >")
@example('<!DOCTYPE a [<!ENTITY e "<b/>">]><a>&e;<c/></a>')
@example("<a>\U0001f600<!--\U0001f600--><\u540d b='\u00e9'/></a>")
def test_scan_agrees_with_expat(text: str) -> None:
    """On well-formed documents, every offset scan() gives is expat's."""
    assert_agrees(text)


@pytest.mark.parametrize(
    "path",
    sorted(
        path
        for case in golden_cases()
        for path in (case.directory / "input.xml", case.directory / "expected.xml")
        if path.exists()
    ),
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_scan_agrees_with_expat_on_golden_files(path: Any) -> None:
    """Every golden input and expected output scans as expat reads it (or both refuse it)."""
    text = path.read_text(encoding="utf-8")
    try:
        expat_scan(text)
    except expat.ExpatError:
        with pytest.raises(InvalidDomainXML):
            scan(text)
    else:
        assert_agrees(text)


def _scan_or_refuse(text: str) -> None:
    """scan() either agrees with expat or raises InvalidDomainXML; never anything else."""
    try:
        oracle = expat_scan(text)
    except expat.ExpatError:
        oracle = None
    try:
        found = scan(text)
    except InvalidDomainXML:
        assert oracle is None, "scan() refused a well-formed document"
        return
    if oracle is not None:
        assert found == oracle


@given(documents(), st.data())
def test_scan_of_damaged_documents(text: str, data: st.DataObject) -> None:
    """A document cut short or with a character dropped or added is refused or read right."""
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    damage = data.draw(st.sampled_from(["cut", "drop", "add"]))
    if damage == "cut":
        text = text[:at]
    elif damage == "drop":
        text = text[:at] + text[at + 1 :]
    else:
        text = text[:at] + data.draw(st.sampled_from("<>/-'\"?![]= ")) + text[at:]
    _scan_or_refuse(text)


@given(st.text(alphabet="<>/-!?[]'\"= xa\r\n", max_size=30))
@example("<!-->")
@example("<!--->")
@example("<a><!-->")
@example("<a></b>")
@example("</a>")
@example("<a")
@example("<a b='>")
@example("<?")
@example("<!DOCTYPE a [")
@example("<a/><b/>")
@example("x<a/>")
def test_scan_refuses_or_agrees_on_any_text(text: str) -> None:
    """Arbitrary markup-like text: InvalidDomainXML, or expat's offsets; never a crash."""
    _scan_or_refuse(text)


# --- the comments of issue 12 ------------------------------------------------------------------

COMMENT_OPENINGS = [
    pytest.param("<a><!-->--></a>", [(3, 11)], id="lt-bang-dash-dash-gt"),
    pytest.param("<a><!--->--></a>", [(3, 12)], id="lt-bang-three-dashes-gt"),
    pytest.param("<a><!----></a>", [(3, 10)], id="empty"),
    pytest.param("<a><!---->-></a>", [(3, 10)], id="empty-then-text"),
    pytest.param("<a><!-- x -><b/>--></a>", [(3, 19)], id="dash-gt-in-body"),
]


@pytest.mark.parametrize(("text", "comments"), COMMENT_OPENINGS)
def test_comment_ends_at_first_double_dash(text: str, comments: list[tuple[int, int]]) -> None:
    """'-->' is looked for after '<!--': the '>' of '<!-->' and '<!--->' is the comment's body."""
    spans, others = scan(text)
    assert others == comments
    assert [span.name for span in spans] == _lxml_names(text)
    assert_agrees(text)


@pytest.mark.parametrize(
    "text",
    ["<a><!--></a>", "<a><!---></a>", "<a><!-- x ---></a>", "<a><!-- -- --></a>", "<!-->"],
    ids=["lt-bang-dash-dash-gt", "lt-bang-three-dashes-gt", "dash-before-end", "double-dash",
         "alone"],
)  # fmt: skip
def test_comment_not_closed_is_refused(text: str) -> None:
    """A comment whose first '--' is not '-->' is refused (lxml refuses it too)."""
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(text.encode("utf-8"))
    with pytest.raises(InvalidDomainXML):
        scan(text)


GOLDEN_INPUT = next(case for case in golden_cases() if case.name == "pc-virtio-disk").input_xml
ROOT_DISK = GOLDEN_INPUT[
    GOLDEN_INPUT.index("    <disk type='file'") : GOLDEN_INPUT.index("</disk>") + len("</disk>")
]


def _crafted(before_disk: str, after_disk: str) -> str:
    return GOLDEN_INPUT.replace(ROOT_DISK, f"{before_disk}\n{ROOT_DISK}\n{after_disk}")


CRAFTED = [
    pytest.param(
        # The old scanner ended the first comment at '<!-->', read '<x a="' as a start tag whose
        # value ran to the '"' of the second comment, and so took the root disk and the second
        # comment for one element '<x/>'. The four '<f/>' stood in for the disk's children and
        # '<?p?>' for the second comment, so its counts matched lxml's: rescue exited 0 with the
        # rescue disk and a boot order spliced into the first comment, and '<boot dev>' removed.
        _crafted('    <!--> <?p?> <f/><f/><f/><f/><x a=" -->', '    <!-- " /> -->'),
        id="disk-hidden-by-a-quote",
    ),
    pytest.param(
        # The same, with the closing '"' in an attribute value instead of a second comment: the
        # old scanner took everything from the root disk to the '/>' in <audio>'s value for '<x/>'.
        _crafted(f'    <!--> {"<f/>" * 19}<x a=" -->', "").replace(
            "<audio id='1' type='none'/>", "<audio id='1' type='none' note='\"/>'/>"
        ),
        id="devices-hidden-by-a-quote",
    ),
    pytest.param(
        GOLDEN_INPUT.replace(
            "  </devices>", "  <!--> <disk type='file'> </devices> -->\n  </devices>"
        ),
        id="end-of-devices-in-comment",
    ),
    pytest.param(
        GOLDEN_INPUT.replace("  </devices>", "  <!--> </devices> <devices> -->\n  </devices>"),
        id="devices-reopened-in-comment",
    ),
    pytest.param(
        GOLDEN_INPUT.replace("sr-pc-virtio-disk</name>", "sr-pc-virtio-disk<!--> <x> --></name>"),
        id="element-opened-in-comment",
    ),
    pytest.param(_crafted("    <!-->-->", "    <!--->-->"), id="short-openings"),
    pytest.param(_crafted("    <!---->", "    <!--->  <disk> -->"), id="empty-and-disk"),
    pytest.param(
        GOLDEN_INPUT.replace("<devices>", "<devices><!--> <?x --><!-- ?> </devices> -->"),
        id="pi-across-comments",
    ),
]


def _assert_rescue_in_devices(xml: str) -> None:
    """rescue() refuses, or puts the rescue disk in /domain/devices and unrescue undoes it."""
    try:
        result = stable_rescue.rescue(
            xml, {"hw_rescue_bus": "virtio"}, "/var/lib/libvirt/images/rescue.img",
            source_format="raw",
        )  # fmt: skip
    except stable_rescue.RescueError:
        return
    before = etree.fromstring(xml.encode("utf-8"))
    after = etree.fromstring(result.xml.encode("utf-8"))
    disks = after.xpath("/domain/devices/disk[alias/@name='ua-stable-rescue-disk']")
    assert isinstance(disks, list)
    assert len(disks) == 1, result.xml
    # Every comment comes through as it was: nothing was written into one.
    assert [node.text for node in after.iter(etree.Comment)] == [
        node.text for node in before.iter(etree.Comment)
    ]
    assert stable_rescue.unrescue(result.xml) == xml


@pytest.mark.parametrize("xml", CRAFTED)
def test_rescue_with_crafted_comments(xml: str) -> None:
    """Comments built to fool a scanner never put the rescue disk anywhere but in <devices>."""
    _assert_rescue_in_devices(xml)


GOLDEN_LINES = GOLDEN_INPUT.splitlines(keepends=True)


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=len(GOLDEN_LINES) - 2), comments),
        min_size=1,
        max_size=3,
    )
)
def test_rescue_with_generated_comments(insertions: list[tuple[int, str]]) -> None:
    """Generated comments at line starts inside the domain: the rescue disk is in <devices>."""
    lines = list(GOLDEN_LINES)
    for line, comment in sorted(insertions, reverse=True):
        lines.insert(line, f"  {comment}\n")
    _assert_rescue_in_devices("".join(lines))


def test_check_spans_refuses_a_scan_out_of_step() -> None:
    """check_spans refuses a count, a name or an offset the parser does not have."""
    text = "<a><b/><c></c></a>"
    spans = element_spans(text)
    check_spans(text, spans, ["a", "b", "c"])
    with pytest.raises(InvalidDomainXML):
        check_spans(text, spans, ["a", "b"])
    with pytest.raises(InvalidDomainXML):
        check_spans(text, spans, ["a", "c", "b"])
    shifted = [spans[0], spans[2], spans[1]]
    with pytest.raises(InvalidDomainXML):
        check_spans(text, shifted, ["a", "b", "c"])
