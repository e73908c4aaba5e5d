"""The text scanner under render: element offsets, attribute values, and byte splicing."""

from __future__ import annotations

import pytest
from lxml import etree

from stable_rescue.xmltext import (
    Edit,
    ElementSpan,
    OverlappingEdits,
    apply_edits,
    attribute_value_span,
    element_spans,
)

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
