"""Element offsets as ``Document.span`` gives them, on either of its two ways of finding them.

A text of tags only (what ``virsh dumpxml`` prints) has its elements located on demand from
the start of each start tag (``xmltext.tag_starts`` and ``locate_element``); any other text is
scanned whole (``xmltext.scan``). Both must give expat's offsets for every element, asked for
in any order, and a text that is not as the parser read it must be refused, never located.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from stable_rescue.document import Document, read_document
from stable_rescue.errors import InvalidDomainXML
from stable_rescue.xmltext import ElementSpan, locate_element, scan, tag_starts
from tests.golden_cases import golden_cases
from tests.test_xmltext import ATTRIBUTE_NAMES, ELEMENT_NAMES, attribute, element, expat_scan, texts

FIXTURES = Path(__file__).parent / "fixtures"
DECLARATIONS = ["", "<?xml version='1.0'?>\n", '<?xml version="1.0" encoding="UTF-8"?>']


@st.composite
def tags_only_element(draw: st.DrawFn, depth: int = 0) -> str:
    """An element whose content is character data and elements only: no comment, PI or CDATA."""
    name = draw(st.sampled_from(ELEMENT_NAMES))
    names = draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), max_size=3, unique=True))
    attributes = "".join(draw(attribute(attribute_name)) for attribute_name in names)
    space = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    if depth >= 3 or draw(st.booleans()):
        return f"<{name}{attributes}{space}/>"
    parts = st.one_of(texts, tags_only_element(depth=depth + 1))
    content = "".join(draw(st.lists(parts, max_size=4)))
    return f"<{name}{attributes}{space}>{content}</{name}{space}>"


def domain_text(bom: str, declaration: str, content: str, tail: str = "\n") -> str:
    """A ``<domain>`` document around ``content``, as read_document takes it."""
    return f"{bom}{declaration}<domain xmlns:r='urn:r'>{content}</domain>{tail}"


tags_only_domains = st.builds(
    domain_text,
    st.sampled_from(["", "\ufeff"]),
    st.sampled_from(DECLARATIONS),
    st.lists(tags_only_element(), max_size=4).map("".join),
    st.sampled_from(["", "\n", " \r\n"]),
)
# The same with comments, PIs and CDATA sections anywhere inside: scanned whole.
any_domains = st.builds(
    domain_text,
    st.sampled_from(["", "\ufeff"]),
    st.sampled_from(DECLARATIONS),
    st.lists(element(), max_size=4).map("".join),
)


def assert_offsets(text: str, order: list[int] | None = None) -> Document:
    """Every element's span, asked for in ``order`` (document order by default), is expat's."""
    document = read_document(text)
    elements = list(document.root.iter(etree.Element))
    expected, _ = expat_scan(text)
    assert len(elements) == len(expected)
    for index in order if order is not None else range(len(elements)):
        assert document.span(elements[index]) == expected[index]
    assert document.element_starts() == {span.start for span in expected}
    return document


@given(tags_only_domains, st.data())
@example("<domain/>", None)
@example("<domain><a/><b><c></c></b></domain>", None)
@example("\ufeff<?xml version='1.0'?>\r\n<domain\r\n a = '/>'\r\n><x y=\"a>b\"/></domain >", None)
@example("<domain><a><a><a/></a></a><a>t</a></domain>", None)
def test_tags_only_text_is_located_on_demand_as_expat_reads_it(
    text: str, data: st.DataObject | None
) -> None:
    """Elements found one at a time, in any order, sit exactly where expat says."""
    assert tag_starts(text) is not None
    count = len(expat_scan(text)[0])
    order = data.draw(st.permutations(range(count))) if data is not None else None
    document = assert_offsets(text, order)
    assert document.other_spans == {}


@given(any_domains)
def test_any_text_is_located_as_expat_reads_it(text: str) -> None:
    """With comments, PIs or CDATA (scanned) or without them (located), the same offsets."""
    assert_offsets(text)


def _domain_files() -> list[Path]:
    golden = [
        path
        for case in golden_cases()
        for path in (case.directory / "input.xml", case.directory / "expected.xml")
        if path.exists()
    ]
    return sorted(golden + list(FIXTURES.rglob("*.xml")))


@pytest.mark.parametrize(
    "path", _domain_files(), ids=lambda path: f"{path.parent.name}/{path.name}"
)
def test_golden_and_fixture_files_are_located_as_scanned(path: Path) -> None:
    """On every domain the tests hold, each element is where the grammar scanner puts it."""
    text = path.read_text(encoding="utf-8")
    try:
        document = read_document(text)
    except InvalidDomainXML:
        # Not well-formed (the golden case error-invalid-domain-xml): the scanner refuses it too.
        with pytest.raises(InvalidDomainXML):
            scan(text)
        return
    spans, _ = scan(text)
    elements = list(document.root.iter(etree.Element))
    # Last element first: every end is then found through the chain of last children.
    for element_, span in reversed(list(zip(elements, spans, strict=True))):
        assert document.span(element_) == span


def test_libvirt_dumps_are_located_on_demand() -> None:
    """What virsh dumpxml prints takes the cheap way: every golden input is tags only."""
    texts = [(case.directory / "input.xml").read_text(encoding="utf-8") for case in golden_cases()]
    scanned = [text for text in texts if tag_starts(text) is None]
    # Only cases written with comments in them (legacy-pc-comments, pc-metadata-comments).
    assert all("<!--" in text for text in scanned)
    assert len(scanned) < len(texts) / 10


@pytest.mark.parametrize(
    "text",
    [
        "<domain><!-- x --></domain>",
        "<domain><a><![CDATA[x]]></a></domain>",
        "<!DOCTYPE domain><domain/>",
        "<domain><?pi x?></domain>",
        "<?xml version='1.0'?><?pi x?><domain/>",
        "\n<?xml version='1.0'?><domain/>",
        "<?xml-stylesheet href='x'?><domain/>",
        "<?XML version='1.0'?><domain/>",
    ],
)
def test_other_markup_is_scanned_whole(text: str) -> None:
    """Comments, CDATA, a DOCTYPE or a PI (or a declaration not first): no on-demand offsets."""
    assert tag_starts(text) is None


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        ("<domain><a/></domain>", [0, 8]),
        ("<?xml version='1.0'?><domain><a></a></domain>", [21, 29]),
        ("\ufeff<?xml version='1.0'?>\n<domain/>", [23]),
    ],
)
def test_tag_starts(text: str, starts: list[int]) -> None:
    """The offset of each start tag's '<': not of the declaration, nor of end tags."""
    assert tag_starts(text) == starts


@pytest.mark.parametrize(
    ("text", "start", "name", "content_end"),
    [
        pytest.param("<domain><a/></domain>", 8, "b", None, id="another-name"),
        pytest.param("<domain><a/></domain>", 9, "a", None, id="not-at-a-tag"),
        pytest.param("<domain><a/></domain>", 8, "a", 12, id="children-of-an-empty-tag"),
        pytest.param("<domain><a/><b/></domain>", 0, "domain", 12, id="content-goes-on"),
        pytest.param("<domain><a></b></domain>", 8, "a", None, id="end-tag-of-another"),
        pytest.param("<domain><a>", 8, "a", None, id="no-end-tag"),
    ],
)
def test_locate_element_refuses_a_text_not_as_the_parser_read_it(
    text: str, start: int, name: str, content_end: int | None
) -> None:
    """An offset the text does not bear out is refused, never returned."""
    with pytest.raises(InvalidDomainXML, match=r"not (where|closed where) the parser has it"):
        locate_element(text, start, name, content_end)


def test_locate_element() -> None:
    """A start tag with a '>' in a value, its content, and its end tag with white space."""
    text = "<domain><a x='>'>t<b/>u</a ></domain>"
    assert locate_element(text, 8, "a", 22) == ElementSpan("a", 8, 17, 28, 23, False)
    assert locate_element(text, 18, "b", None) == ElementSpan("b", 18, 22, 22, 22, True)


def test_a_document_whose_starts_are_wrong_refuses_every_span() -> None:
    """Offsets out of step with the tree (which read_document never makes) are refused."""
    text = "<domain><a/><b/></domain>"
    real = read_document(text)
    elements = list(real.root.iter(etree.Element))
    shifted = Document(
        text=text,
        root=real.root,
        spans={},
        other_spans={},
        starts=dict(zip(elements, [0, 12, 8], strict=True)),
    )
    with pytest.raises(InvalidDomainXML):
        shifted.span(elements[1])
    with pytest.raises(InvalidDomainXML):
        shifted.span(elements[0])
