"""Hostile input to the parser: every input gives a result or a ``RescueError`` (issue 12).

Each class of input here once escaped as another exception (``AssertionError``,
``UnicodeEncodeError``, a codec's own error), or gave a rescue that libvirt reads otherwise
than the planner did, or one that ``unrescue`` could not undo byte for byte.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

import stable_rescue
from stable_rescue.document import child_paths, device_keys, read_document
from stable_rescue.errors import InvalidDomain, InvalidDomainXML, RescueError
from stable_rescue.parse import parse_domain
from tests.golden_cases import GOLDEN

BASE = (GOLDEN / "pc-virtio-disk" / "input.xml").read_text(encoding="utf-8")
PROPERTIES = {"hw_rescue_bus": "virtio"}
SOURCE = "/var/lib/libvirt/images/rescue.img"


def _rescue(xml: str | bytes) -> object:
    return stable_rescue.rescue(xml, PROPERTIES, SOURCE, source_format="raw")


def _plan(xml: str | bytes) -> object:
    return stable_rescue.plan_rescue(xml, PROPERTIES, SOURCE, source_format="raw")


def _unrescue(xml: str | bytes) -> object:
    return stable_rescue.unrescue(xml)


API: dict[str, Callable[[str | bytes], object]] = {
    "rescue": _rescue,
    "plan_rescue": _plan,
    "unrescue": _unrescue,
}


def _declared(encoding: str, text: str = BASE) -> str:
    return f"<?xml version='1.0' encoding='{encoding}'?>\n" + text


def _round_trip(xml: str | bytes, text: str) -> None:
    """``xml`` rescues, and unrescue gives back ``text`` (``xml`` as text) exactly."""
    result = stable_rescue.rescue(xml, PROPERTIES, SOURCE, source_format="raw")
    assert stable_rescue.unrescue(result.xml) == text


# --- defect 1: exceptions that are not RescueError ---------------------------------------------


@pytest.mark.parametrize("api", API)
@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(BASE.replace("sr-pc-virtio-disk", "sr-\ud800"), id="name"),
        pytest.param(BASE.replace("<devices>", "<devices><!-- \udfff -->"), id="comment"),
    ],
)
def test_lone_surrogate_is_invalid_domain_xml(api: str, xml: str) -> None:
    """A str UTF-8 cannot encode; was UnicodeEncodeError."""
    with pytest.raises(InvalidDomainXML, match="lone surrogate"):
        API[api](xml)


# Python codecs that libxml2 (and so libvirt) does not read; some are not text encodings at all.
REFUSED_ENCODINGS = [
    "undefined",
    "punycode",
    "idna",
    "unicode_escape",
    "raw_unicode_escape",
    "rot13",
    "base64",
    "hex",
    "zlib",
    "bz2",
    "uu",
    "quopri",
    "utf-7",
    "utf_8_sig",
    "mbcs",
    "palmos",
    "unicode-internal",
    "no-such-encoding",
    "x y",
    "",
]


@pytest.mark.parametrize("api", API)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("encoding", REFUSED_ENCODINGS)
def test_unread_declared_encoding_is_invalid_domain_xml(
    api: str, as_bytes: bool, encoding: str
) -> None:
    """Was UnicodeError (undefined, punycode) or a silent success (idna, rot13 given as str)."""
    xml = _declared(encoding)
    with pytest.raises(InvalidDomainXML, match="encoding"):
        API[api](xml.encode("utf-8") if as_bytes else xml)


@pytest.mark.parametrize(
    "encoding",
    ["UTF-8", "utf8", "US-ASCII", "ISO-8859-1", "latin1", "ISO-8859-15", "windows-1252"],
)
def test_declared_encoding_libvirt_reads(encoding: str) -> None:
    """The encodings libvirt reads rescue and round-trip, given as str or as encoded bytes."""
    text = _declared(encoding, BASE.replace("sr-pc-virtio-disk", "sr-caf\u00e9"))
    if encoding.lower() in ("us-ascii",):
        text = text.replace("\u00e9", "e")
    _round_trip(text, text)
    _round_trip(text.encode(encoding), text)


@pytest.mark.parametrize(
    ("declared", "codec"),
    [("UTF-16", "utf-16"), ("UTF-16", "utf-16-be"), ("UTF-16LE", "utf-16-le")],
)
def test_utf16_bytes(declared: str, codec: str) -> None:
    """UTF-16 is read by its byte order mark or the shape of its declaration, as libxml2 does."""
    text = _declared(declared)
    _round_trip(text.encode(codec), text)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_declared("UTF-16").encode("utf-8"), id="utf-16-declared-utf-8-bytes"),
        pytest.param(_declared("ISO-8859-1").encode("utf-16"), id="latin-1-declared-utf-16"),
        pytest.param(b"\xef\xbb\xbf" + _declared("ISO-8859-1").encode(), id="bom-and-latin-1"),
    ],
)
def test_declaration_contradicting_the_bytes_is_invalid_domain_xml(data: bytes) -> None:
    with pytest.raises(InvalidDomainXML, match="encoding"):
        _rescue(data)


@pytest.mark.parametrize("tag", ["disk", "interface"])
def test_boot_without_order_is_invalid_domain(tag: str) -> None:
    """Refused, as libvirt does ("missing boot order attribute"); was AssertionError in render."""
    device = BASE.index(f"<{tag} ")
    end = BASE.index(f"</{tag}>", device)
    xml = BASE[:end] + "  <boot/>\n    " + BASE[end:]
    for api in ("rescue", "plan_rescue"):
        with pytest.raises(InvalidDomain, match="without order"):
            API[api](xml)


@pytest.mark.parametrize("properties", [{}, PROPERTIES], ids=["legacy", "stable"])
def test_alias_without_name_is_invalid_domain(properties: dict[str, str]) -> None:
    """Refused (libvirt drops it); renaming it in legacy mode was AssertionError in render."""
    xml = BASE.replace(
        "<target dev='vda' bus='virtio'/>", "<target dev='vda' bus='virtio'/><alias/>"
    )
    with pytest.raises(InvalidDomain, match="without name"):
        stable_rescue.rescue(xml, properties, SOURCE, source_format="raw")


def test_integer_with_underscore_is_invalid_domain() -> None:
    """Python's int() reads '1_0' as 10; libvirt's strtol stops at '_' and refuses it."""
    xml = BASE.replace("slot='0x04'", "slot='0x_4'", 1)
    with pytest.raises(InvalidDomain, match="non-negative integer"):
        _rescue(xml)


def _hostile_inputs() -> list[object]:
    """Inputs that once broke the parser, and their neighbours."""
    texts: list[str] = [
        BASE.replace("<boot dev='hd'/>", "<boot dev='hd'/><boot/>"),
        BASE.replace("<target dev='vda' bus='virtio'/>", "<target dev='vda' bus='virtio'/><boot/>"),
        BASE.replace("sr-pc", "sr-\udbff\udbff"),
        BASE.replace("</devices>", "</devices><devices/>"),
        BASE.replace("</os>", "</os><os/>"),
        "\ufeff" + BASE,
        "\ufeff\ufeff" + BASE,
        "\ufeff" + _declared("UTF-16"),
        BASE.replace("<domain", "<?xml version='1.0' encoding='utf-8' standalone='yes'?><domain"),
        BASE.replace("<domain", "<?xml version='1.0' encoding = \"UTF-8\" ?><domain"),
        BASE.replace("<domain", "<?xml version='1.0'?><domain"),
        "",
        "\ufeff",
        "<domain/>",
        "<domain type='kvm'/>",
    ]
    texts += [_declared(name) for name in REFUSED_ENCODINGS]
    data: list[object] = [*texts]
    data += [text.encode("utf-8", "surrogatepass") for text in texts]
    data += [b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"<\x00?\x00", b"\x00<\x00?", b"\x00\x00"]
    data += [BASE.encode("utf-16"), BASE.encode("utf-32"), _declared("UTF-16").encode("utf-32")]
    data += [None, 42, bytearray(b"<domain/>"), memoryview(b"<domain/>")]
    return data


HOSTILE = _hostile_inputs()


@pytest.mark.parametrize("api", API)
@pytest.mark.parametrize("xml", HOSTILE, ids=[f"input{index}" for index in range(len(HOSTILE))])
def test_hostile_input_gives_result_or_rescue_error(api: str, xml: object) -> None:
    with contextlib.suppress(RescueError):
        API[api](xml)  # type: ignore[arg-type]


# --- defect 2: a second <devices> or <os> --------------------------------------------------------


SECOND_DEVICES = BASE.replace(
    "</devices>",
    "</devices>\n  <devices>\n    <interface type='ethernet'>\n"
    "      <mac address='52:54:00:5a:00:02'/>\n      <model type='virtio'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0'/>\n"
    "    </interface>\n  </devices>",
)


@pytest.mark.parametrize(
    "xml",
    [
        # libvirt reads both: the rescue disk took slot 0x06, which the interface holds.
        pytest.param(SECOND_DEVICES, id="devices"),
        pytest.param(BASE.replace("</devices>", "</devices>\n  <devices/>"), id="empty-devices"),
        # libvirt reads both: boot dev='network' would stay next to the rescue's boot order.
        pytest.param(
            BASE.replace("  </os>\n", "  </os>\n  <os>\n    <boot dev='network'/>\n  </os>\n"),
            id="os",
        ),
    ],
)
def test_second_devices_or_os_is_invalid_domain(xml: str) -> None:
    with pytest.raises(InvalidDomain, match="expected one"):
        _rescue(xml)


# --- defect 3: whitespace the splicing does not treat as such ----------------------------------


NOT_LITERAL_SPACE = {
    "nbsp": "\u00a0",
    "line-separator": "\u2028",
    "ideographic-space": "\u3000",
    "next-line": "\u0085",
    "ref-10": "&#10;",
    "ref-32": "&#32;",
    "ref-hex-9": "&#x9;",
    "cdata-space": "<![CDATA[ ]]>",
    "cdata-empty": "<![CDATA[]]>",
}
WHERE = {
    "os": "<boot dev='hd'/>",
    "devices": "<emulator>",
    "devices-end": "</devices>",
    "domain": "<clock",
}


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("space", NOT_LITERAL_SPACE)
def test_space_not_written_literally_among_children_is_invalid_domain(
    space: str, where: str
) -> None:
    """Was accepted, and unrescue(rescue(x)) != x for os and devices."""
    xml = BASE.replace(WHERE[where], NOT_LITERAL_SPACE[space] + WHERE[where], 1)
    with pytest.raises(InvalidDomain, match="among the children"):
        _rescue(xml)


@pytest.mark.parametrize("space", ["\u00a0", "\u2028", "\u3000", "\u0085", "\u2003"])
def test_unicode_space_indenting_a_device_child_is_invalid_domain(space: str) -> None:
    """Refused: render copied that indentation into the <boot> it adds, then left it behind.

    New lines copy the neighbours' indentation (rule O2), so it must be spaces and tabs.
    """
    xml = BASE.replace("      <driver", "      " + space + "<driver", 1)
    with pytest.raises(InvalidDomain, match="indentation"):
        _rescue(xml)


@pytest.mark.parametrize("space", ["&#10;", "<![CDATA[ ]]>", "\u00a0x"])
def test_other_text_inside_a_device_round_trips(space: str) -> None:
    """Inside a device, text that no indentation is taken from stays where it was."""
    xml = BASE.replace("<driver", space + "<driver", 1)
    _round_trip(xml, xml)


def test_visible_text_keeps_its_message() -> None:
    xml = BASE.replace("</type>", "</type>/type>", 1)
    with pytest.raises(InvalidDomain, match="text '/type>' among the children of <os>"):
        _rescue(xml)


# What may stand between two children: literal white space, other spaces, visible text, and
# the predefined entities (character references and CDATA are read by offsets, above).
BETWEEN_PIECES = [" ", "\t", "\r\n", "\n", "\r", "\u00a0", "\u2028", "\u3000", "x", "&amp;", "&gt;"]


@given(
    st.sampled_from(list(WHERE)),
    st.lists(st.sampled_from(BETWEEN_PIECES), min_size=1, max_size=4).map("".join),
    st.booleans(),
)
def test_text_among_children_refused_exactly_when_not_literal_space(
    where: str, between: str, with_comment: bool
) -> None:
    """Text among children is refused unless it is space, tab, CR and LF, read either way.

    From lxml's tails (a dump's tags only), or from offsets (a comment elsewhere makes the
    text scanned whole).
    """
    xml = BASE.replace(WHERE[where], between + WHERE[where], 1)
    if with_comment:
        xml = xml.replace("<name>", "<!-- scanned whole --><name>", 1)
    assert read_document(xml).tails_are_literal() is not with_comment
    if between.strip(" \t\r\n"):
        with pytest.raises(InvalidDomain, match="among the children"):
            _rescue(xml)
    else:
        _round_trip(xml, xml)


@pytest.mark.parametrize("where", WHERE)
def test_literal_whitespace_among_children_round_trips(where: str) -> None:
    xml = BASE.replace(WHERE[where], " \t\r\n " + WHERE[where], 1)
    _round_trip(xml, xml)


# --- defect 4: a byte order mark -----------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param("\ufeff" + BASE, id="str"),
        pytest.param(b"\xef\xbb\xbf" + BASE.encode(), id="bytes"),
        pytest.param(b"\xef\xbb\xbf" + _declared("UTF-8").encode(), id="bytes-declared"),
    ],
)
def test_byte_order_mark_is_kept(xml: str | bytes) -> None:
    """Was dropped from the output, so unrescue(rescue(x)) lacked it."""
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    result = stable_rescue.rescue(xml, PROPERTIES, SOURCE, source_format="raw")
    assert result.xml.startswith("\ufeff<")
    assert stable_rescue.unrescue(result.xml) == text
    assert stable_rescue.unrescue(result.xml.encode("utf-8")) == text


# --- defect 5: xpaths in one pass, as getpath writes them ----------------------------------------


def _crowded_domain(count: int) -> str:
    """``count`` devices of mixed kinds, with namespaced siblings, comments and PIs among them."""
    lines = [
        "<domain type='kvm' xmlns:x='urn:x' xmlns:y='urn:x'>",
        "  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>",
        "  <devices>",
    ]
    kinds = [
        "<disk type='file'><target dev='vd{i}' bus='virtio'/></disk>",
        "<interface type='network'><mac address='52:54:00:00:{hi:02x}:{lo:02x}'/></interface>",
        "<controller type='pci' index='{i}' model='pci-bridge'><model name='pci-bridge'/>"
        "</controller>",
        "<x:disk><target dev='x{i}'/></x:disk>",
        "<y:disk/>",
        "<serial type='pty'/>",
        "<!-- {i} -->",
        "<?pi {i}?>",
        "<input type='tablet' bus='usb'/>",
    ]
    for index in range(count):
        kind = kinds[(index * 7 + index // 9) % len(kinds)]
        lines.append("    " + kind.format(i=index, hi=index >> 8 & 255, lo=index & 255))
    lines.append("    <rng model='virtio' xmlns='urn:default'><backend/></rng>")
    lines += ["  </devices>", "</domain>"]
    return "\n".join(lines)


@pytest.mark.parametrize("count", [0, 1, 2, 3000])
def test_child_paths_equal_getpath(count: int) -> None:
    """``child_paths`` gives each child the xpath ``getpath`` gives it."""
    root = etree.fromstring(_crowded_domain(count))
    tree = root.getroottree()
    for parent in root.iter(etree.Element):
        paths = child_paths(parent)
        children = [child for child in parent if isinstance(child.tag, str)]
        assert list(paths) == children
        assert list(paths.values()) == [tree.getpath(child) for child in children]


def test_parse_domain_paths_equal_getpath() -> None:
    """Each device's xpath is getpath's, and its key is device_keys' (rule R4)."""
    document = read_document(_crowded_domain(3000))
    tree = document.root.getroottree()
    domain = parse_domain(document)
    devices = document.root.find("devices")
    assert devices is not None
    elements = [child for child in devices if isinstance(child.tag, str)]
    assert [device.xpath for device in domain.devices] == [tree.getpath(e) for e in elements]
    assert len({device.xpath for device in domain.devices}) == len(elements)
    for device, element in zip(domain.devices, elements, strict=True):
        assert document.find(device.xpath) is element
    assert device_keys(elements) == [device.key for device in domain.devices]
    # Paths of other elements still resolve (through XPath).
    os_type = document.root.find("os/type")
    assert document.find("/domain/os/type") is os_type
