"""``--image-json`` reading: ``openstack image show -f json`` (modern and old clients), flat maps.

The fixtures in ``tests/fixtures/image-json/`` follow what the clients print: the modern one
python-openstackclient's ``_format_image`` over openstacksdk (``properties`` an object with typed
values), the old one its glanceclient-era ``_format_image`` (``properties`` one string made by
osc-lib's ``format_dict``), the flat one Glance's own ``GET /v2/images/{id}`` body.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stable_rescue.errors import InvalidImageJSON, InvalidProperties, RescueError
from stable_rescue.image import KEY_CHARACTERS, parse_format_dict, properties_from_image_json
from stable_rescue.request import KNOWN_PROPERTIES, build_request

FIXTURES = Path(__file__).parent / "fixtures" / "image-json"
NAME = "image.json"

MD5 = "b647b60a650af39248520f4b9b509b1a"
SHA512 = (
    "175cc6e191d2db2420ffb00222eb819f0246e945a4be88d682ec997979ae3329"
    "189e2e992df8f562331da86fbf3cf29c9de64735c26904be6e8ab32d2ce8b9fe"
)
FSID = "2e6b4c7a-91d3-4f0e-8a55-c3b1d9e07f42"
OWNER = "8f1c2d3e4b5a46978a1b2c3d4e5f6a7b"
MODERN_ID = "3f9d2c1e-7b6a-4e58-9d0c-a1b2c3d4e5f6"
OLD_ID = "6c1e0b2a-5d4f-4a3b-8c7d-0e9f8a7b6c5d"
FLAT_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"

FIXTURE_CASES = [
    pytest.param(
        "openstack-image-show.json",
        {
            "os_hash_algo": "sha512",
            "os_hash_value": SHA512,
            "os_glance_importing_to_stores": "",
            "os_glance_failed_import": "",
            "hw_rescue_bus": "usb",
            "hw_rescue_device": "disk",
            "owner_specified.openstack.md5": "",
            "owner_specified.openstack.object": "images/rescue-sysrescue-11",
            "owner_specified.openstack.sha256": "",
            "stores": "ceph",
            "direct_url": f"rbd://{FSID}/images/{MODERN_ID}/snap",
            "os_distro": "debian",
        },
        id="modern-client",
    ),
    pytest.param(
        "openstack-image-show-old.json",
        {
            "direct_url": f"rbd://{FSID}/images/{OLD_ID}/snap",
            "hw_cpu_cores": "2",
            "hw_qemu_guest_agent": "yes",
            "hw_rescue_bus": "sata",
            "hw_rescue_device": "cdrom",
            "locations": (
                f"[{{'url': 'rbd://{FSID}/images/{OLD_ID}/snap', 'metadata': {{}}}}, "
                f"{{'url': 'rbd://{FSID}/images-dr/{OLD_ID}/snap', 'metadata': {{}}}}]"
            ),
            "os_hidden": "False",
            "self": f"/v2/images/{OLD_ID}",
            "x_ops.approved": "ops='night shift'",
            "x_ops.ticket": "INC-4711, INC-4712",
        },
        id="old-client",
    ),
    pytest.param(
        "flat.json",
        {
            "hw_rescue_bus": "virtio",
            "hw_rescue_device": "disk",
            "hw_qemu_guest_agent": "yes",
            "hw_cpu_cores": "2",
            "owner_specified.openstack.md5": "",
            "owner_specified.openstack.object": "images/rescue-virtio",
            "owner_specified.openstack.sha256": "",
            "stores": "ceph",
            "name": "rescue-virtio",
            "disk_format": "raw",
            "container_format": "bare",
            "visibility": "public",
            "status": "active",
            "checksum": MD5,
            "owner": OWNER,
            "os_hash_algo": "sha512",
            "os_hash_value": SHA512,
            "id": FLAT_ID,
            "created_at": "2024-06-11T08:01:12Z",
            "updated_at": "2024-06-11T08:01:40Z",
            "direct_url": f"rbd://{FSID}/images/{FLAT_ID}/snap",
            "self": f"/v2/images/{FLAT_ID}",
            "file": f"/v2/images/{FLAT_ID}/file",
            "schema": "/v2/schemas/image",
        },
        id="flat-glance-api",
    ),
]


@pytest.mark.parametrize(("fixture", "expected"), FIXTURE_CASES)
def test_fixtures(fixture: str, expected: dict[str, str]) -> None:
    """Each shape the clients print gives exactly its string-valued properties.

    Typed values of keys the library does not read (``os_hidden`` false, ``hw_cpu_cores`` 2,
    ``hw_qemu_guest_agent`` true, ``locations`` a list) are dropped; ``None`` in format_dict text
    (``os_hash_algo=``) is dropped; nested-dict items come back under dotted keys.
    """
    assert properties_from_image_json((FIXTURES / fixture).read_bytes(), NAME) == expected


DOCUMENT_CASES = [
    pytest.param('{"properties": {"hw_rescue_bus": "usb"}}', {"hw_rescue_bus": "usb"}, id="nested"),
    pytest.param(
        '{"name": "rescue", "properties": {"hw_rescue_bus": "usb"}}',
        {"hw_rescue_bus": "usb"},
        id="nested-only-when-nested",
    ),
    pytest.param(
        '{"properties": {"a": true, "b": 2, "c": null, "d": [1], "e": {"f": "g"}, "h": "i"}}',
        {"h": "i"},
        id="non-strings-dropped",
    ),
    pytest.param('{"hw_rescue_bus": "usb", "min_disk": 0}', {"hw_rescue_bus": "usb"}, id="flat"),
    pytest.param(
        '{"properties": null, "hw_rescue_bus": "usb"}',
        {"hw_rescue_bus": "usb"},
        id="null-properties",
    ),
    pytest.param(
        '{"properties": ["x"], "hw_rescue_bus": "usb"}',
        {"hw_rescue_bus": "usb"},
        id="list-properties",
    ),
    pytest.param(
        "{\"properties\": \"hw_rescue_bus='usb', hw_rescue_device='cdrom'\"}",
        {"hw_rescue_bus": "usb", "hw_rescue_device": "cdrom"},
        id="format-dict-string",
    ),
    pytest.param(
        '{"properties": {"hw_rescue_bus ": "usb", " HW_RESCUE_DEVICE": "disk"}}',
        {"hw_rescue_bus ": "usb", " HW_RESCUE_DEVICE": "disk"},
        id="near-miss-keys-verbatim",
    ),
    pytest.param(
        '{"properties": "hw_rescue_bus =\'usb\'"}',
        {"hw_rescue_bus ": "usb"},
        id="near-miss-key-verbatim-in-string",
    ),
    pytest.param('{"properties": {"hw_rescue_bus ": 5}}', {}, id="near-miss-key-not-checked"),
    pytest.param('{"hw_rescue_bus": ""}', {"hw_rescue_bus": ""}, id="empty-string-kept"),
    pytest.param('{"properties": ""}', {}, id="empty-string-properties"),
    pytest.param("{}", {}, id="empty-object"),
    pytest.param('\ufeff{"a": "b"}', {"a": "b"}, id="str-with-byte-order-mark"),
    pytest.param('{"a": "\\u00e9t\\u00e9"}', {"a": "été"}, id="unicode"),
]


@pytest.mark.parametrize(("document", "expected"), DOCUMENT_CASES)
def test_documents(document: str, expected: dict[str, str]) -> None:
    """'properties' as an object or string is the map, else the document is; strings only.

    Keys stay exactly as written, so a near-miss key reaches the check that reports it; only the
    keys the library reads are checked, so a near miss with any value passes through here.
    """
    assert properties_from_image_json(document, NAME) == expected


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32"]


@pytest.mark.parametrize("encoding", ENCODINGS, ids=ENCODINGS)
def test_bytes(encoding: str) -> None:
    """Bytes are read as json.loads reads them: UTF-8, -16 or -32, byte order mark or not."""
    document = '{"properties": {"hw_rescue_bus": "usb", "note": "\u00e9"}}'
    result = properties_from_image_json(document.encode(encoding), NAME)
    assert result == {"hw_rescue_bus": "usb", "note": "\u00e9"}


FORMAT_DICT_CASES = [
    pytest.param("", {}, id="empty"),
    pytest.param("a='x'", {"a": "x"}, id="one"),
    pytest.param("a='x, y', b='z'", {"a": "x, y", "b": "z"}, id="comma-space"),
    pytest.param("a='it's', b='z'", {"a": "it's", "b": "z"}, id="quote"),
    pytest.param("a='x'', b='y'", {"a": "x'", "b": "y"}, id="ends-in-quote"),
    pytest.param("a=''', b='y'", {"a": "'", "b": "y"}, id="only-a-quote"),
    pytest.param("a='', b=''", {"a": "", "b": ""}, id="empty-values"),
    pytest.param("a='k=v', b='='", {"a": "k=v", "b": "="}, id="equals"),
    pytest.param("a=, b='y'", {"a": None, "b": "y"}, id="none"),
    pytest.param("a='x', b=", {"a": "x", "b": None}, id="none-last"),
    pytest.param("a=None, b='None'", {"a": None, "b": "None"}, id="none-spelt-out"),
    pytest.param("a='x\ny', b='z'", {"a": "x\ny", "b": "z"}, id="newline"),
    pytest.param(
        "locations='[{'url': 'rbd://f/images/i/snap', 'metadata': {}}]', os_hidden='False'",
        {"locations": "[{'url': 'rbd://f/images/i/snap', 'metadata': {}}]", "os_hidden": "False"},
        id="list-of-dicts",
    ),
    pytest.param("a.b='1', a.c=, b='2'", {"a.b": "1", "a.c": None, "b": "2"}, id="nested-dotted"),
    pytest.param("a.x='1', a-b='2'", {"a.x": "1", "a-b": "2"}, id="nested-then-dash-key"),
    pytest.param("a.z='1', a.b='2'", {"a.z": "1", "a.b": "2"}, id="nested-then-dotted-key"),
    pytest.param(", b='y'", {"b": "y"}, id="empty-nested-first"),
    pytest.param("a='x', , b='y'", {"a": "x", "b": "y"}, id="empty-nested-middle"),
    pytest.param("a='x', ", {"a": "x"}, id="empty-nested-last"),
    pytest.param(", ", {}, id="empty-nested-only"),
    pytest.param("a='x', b='y'", {"a": "x", "b": "y"}, id="most-items"),
    pytest.param("a='x', a='y'", {"a": "x', a='y"}, id="own-key-in-value"),
    pytest.param("b='x', a='y', c='z'", {"b": "x', a='y", "c": "z"}, id="lower-key-in-value"),
    pytest.param("a=', x='1'", {"a": ", x='1"}, id="value-starts-with-separator"),
    pytest.param(
        "description='set hw_rescue_bus='usb', hw_rescue_device='disk'', hw_rescue_bus='usb', "
        "hw_rescue_device='disk'",
        {
            "description": "set hw_rescue_bus='usb', hw_rescue_device='disk'",
            "hw_rescue_bus": "usb",
            "hw_rescue_device": "disk",
        },
        id="known-keys-quoted-in-a-value",
    ),
    pytest.param(
        "owner_specified.openstack.md5='', trait:CUSTOM_RESCUE='required'",
        {"owner_specified.openstack.md5": "", "trait:CUSTOM_RESCUE": "required"},
        id="key-characters",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FORMAT_DICT_CASES)
def test_parse_format_dict(text: str, expected: dict[str, str | None]) -> None:
    """format_dict text reads back item by item, in order; a value may hold ', ', quotes, '='.

    Where two readings fit, the one with more items wins (most-items); a key that cannot
    follow (itself, or a lower key) stays inside the value (own-key-in-value,
    lower-key-in-value); an empty nested dict leaves an empty item, which is skipped.
    """
    result = parse_format_dict(text, NAME)
    assert list(result.items()) == list(expected.items())


LARGE_TEXTS = [
    pytest.param(", ".join(f"k{i:06d}='v, x'" for i in range(20_000)), 20_000, id="sorted"),
    pytest.param(", ".join(f"k{i:06d}='v'" for i in reversed(range(20_000))), 1, id="reversed"),
    pytest.param(", ".join(["a=''"] * 20_000), 1, id="one-key-repeated"),
    pytest.param("a='" + "', b='" * 20_000 + "'", 2, id="look-alikes"),
]


@pytest.mark.parametrize(("text", "items"), LARGE_TEXTS)
def test_large_text(text: str, items: int) -> None:
    """Long text reads in well under a second: the reading is O(n log n), never quadratic.

    Quadratic work here would take minutes; out-of-order keys are absorbed into one value.
    """
    assert len(parse_format_dict(text, NAME)) == items


def _json(properties: str) -> str:
    return json.dumps({"properties": properties})


ERROR_CASES = [
    pytest.param(
        "{not json",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' is not JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)); expected an object",
        id="not-json",
    ),
    pytest.param(
        "",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' is not JSON (Expecting value: line 1 column 1 (char 0)); "
        "expected an object",
        id="empty",
    ),
    pytest.param(
        b"\xff",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' is not JSON ('utf-8' codec can't decode byte 0xff in position "
        "0: invalid start byte); expected an object",
        id="not-utf-8",
    ),
    pytest.param(
        "[" * 100_000,
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' nests lists or objects too deeply to read; expected an object",
        id="too-deep",
    ),
    pytest.param(
        '["hw_rescue_bus"]',
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' holds a list; expected an object",
        id="list",
    ),
    pytest.param(
        '"hw_rescue_bus=usb"',
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' holds a string; expected an object",
        id="string",
    ),
    pytest.param(
        "null",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' holds a null; expected an object",
        id="null",
    ),
    pytest.param(
        "5",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' holds a number; expected an object",
        id="number",
    ),
    pytest.param(
        "true",
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' holds a boolean; expected an object",
        id="boolean",
    ),
    pytest.param(
        '{"properties": {"hw_rescue_bus": 5}}',
        InvalidProperties,
        "invalid-properties",
        "image property hw_rescue_bus is int 5; expected a string",
        id="known-key-number",
    ),
    pytest.param(
        '{"hw_rescue_device": true}',
        InvalidProperties,
        "invalid-properties",
        "image property hw_rescue_device is bool True; expected a string",
        id="known-key-boolean-flat",
    ),
    pytest.param(
        '{"properties": {"hw_disk_bus": null}}',
        InvalidProperties,
        "invalid-properties",
        "image property hw_disk_bus is NoneType None; expected a string",
        id="known-key-null",
    ),
    pytest.param(
        '{"hw_scsi_model": ["virtio-scsi"]}',
        InvalidProperties,
        "invalid-properties",
        "image property hw_scsi_model is list ['virtio-scsi']; expected a string",
        id="known-key-list",
    ),
    pytest.param(
        '{"properties": {"hw_cdrom_bus": {"x": "y"}}}',
        InvalidProperties,
        "invalid-properties",
        "image property hw_cdrom_bus is dict {'x': 'y'}; expected a string",
        id="known-key-object",
    ),
    pytest.param(
        _json("hw_floppy_bus=, hw_rescue_bus='usb'"),
        InvalidProperties,
        "invalid-properties",
        "image property hw_floppy_bus is NoneType None; expected a string",
        id="known-key-none-in-string",
    ),
    pytest.param(
        _json("hw_rescue_bus=usb"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties item 'hw_rescue_bus=usb' at character 0; "
        "expected key='value' or key= items joined by ', '",
        id="unquoted-value",
    ),
    pytest.param(
        _json("a='x', broken"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties item 'broken' at character 7; "
        "expected key='value' or key= items joined by ', '",
        id="item-without-equals",
    ),
    pytest.param(
        _json("a='x', b='y"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties item \"b='y\" at character 7; "
        "expected key='value' or key= items joined by ', '",
        id="unterminated-quote",
    ),
    pytest.param(
        _json("hw rescue\tbus='y', a='x'"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties item \"hw rescue\\tbus='y'\" at character 0; "
        "expected key='value' or key= items joined by ', '",
        id="key-character",
    ),
    pytest.param(
        _json("a='" + "x" * 80),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties item \"a='" + "x" * 54 + '..." at character 0; '
        "expected key='value' or key= items joined by ', '",
        id="long-item-cut-short",
    ),
    pytest.param(
        _json("b=, a='2'"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties key 'a' at character 4 comes after 'b'; "
        "expected keys sorted as the openstack client prints them, each once",
        id="out-of-order",
    ),
    pytest.param(
        _json("a=, a="),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties key 'a' at character 4 comes after 'a'; "
        "expected keys sorted as the openstack client prints them, each once",
        id="repeated-key",
    ),
    pytest.param(
        _json("a.b='1', a-c='2', a.b='3'"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties key 'a.b' appears twice (characters 0 and 18); "
        "expected each key once",
        id="dotted-key-twice",
    ),
    pytest.param(
        _json("hw_rescue_device='cdrom', hw_rescue_bus='sata'"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties text \"hw_rescue_bus='sata'\" at character 26 is "
        "read as part of the value of 'hw_rescue_device'; expected keys sorted as the openstack "
        "client prints them",
        id="known-key-value-in-doubt",
    ),
    pytest.param(
        _json("zz='1', hw_rescue_bus='usb'"),
        InvalidImageJSON,
        "invalid-image-json",
        "--image-json 'image.json' properties text \"hw_rescue_bus='usb'\" at character 8 is "
        "read as part of the value of 'zz'; expected keys sorted as the openstack client prints "
        "them",
        id="known-key-swallowed",
    ),
]


@pytest.mark.parametrize(("document", "error", "code", "message"), ERROR_CASES)
def test_refused(document: str | bytes, error: type[RescueError], code: str, message: str) -> None:
    """What cannot be read raises its error, with its code and a one-line found/expected message.

    A document that is not a JSON object, or format_dict text no reading fits (malformed item,
    keys out of order or repeated), or text whose reading is in doubt about a key the library
    reads: invalid-image-json. A key the library reads with a value that is not a string:
    invalid-properties, naming the property.
    """
    with pytest.raises(error) as caught:
        properties_from_image_json(document, NAME)
    assert caught.value.code == code
    assert str(caught.value) == caught.value.message == message
    if error is InvalidProperties:
        assert caught.value.context == {"property": message.split()[2]}


# Hypothesis: format_dict output over generated property dicts reads back exactly.


def format_dict(data: dict[str, Any], prefix: str | None = None) -> str:
    """osc-lib's ``format_dict`` (``osc_lib/utils/__init__.py``), statement for statement.

    Sorted keys; a nested dict's items under ``prefix.key`` (only the separator added at this
    level); ``key='str(value)'``; ``key=`` for ``None``; the last ``', '`` cut off. Its
    ``if data is None: return None`` guard is left out (the top level here is always a dict).
    python-openstackclient 3.x printed image properties with it (``_format_image`` in
    ``openstackclient/image/v2/image.py``); glanceclient-era releases of that file had a copy of
    the same function in ``openstackclient/common/utils.py``.
    """
    output = ""
    for s in sorted(data):
        key_str = ".".join([prefix, s]) if prefix else s
        if isinstance(data[s], dict):
            output = output + format_dict(data[s], prefix=key_str) + ", "
        elif data[s] is not None:
            output = output + key_str + "='" + str(data[s]) + "', "
        else:
            output = output + key_str + "=, "
    return output[:-2]


def flatten(data: dict[str, Any], prefix: str | None = None) -> list[tuple[str, str | None]]:
    """The (dotted key, printed value) items format_dict writes for ``data``, in its order."""
    items: list[tuple[str, str | None]] = []
    for key in sorted(data):
        dotted = f"{prefix}.{key}" if prefix else key
        value = data[key]
        if isinstance(value, dict):
            items.extend(flatten(value, dotted))
        else:
            items.append((dotted, None if value is None else str(value)))
    return items


# A place where an item could start inside a value: "', " (then any number of ", ") then KEY=.
_KEY_CLASS = "[" + re.escape("".join(sorted(KEY_CHARACTERS))) + "]"
LOOKALIKE = re.compile("', (?:, )*" + _KEY_CLASS + "+=")

REALISTIC_KEYS = [
    *KNOWN_PROPERTIES,
    "hw_rescue_bus ",
    "hw_qemu_guest_agent",
    "os_hash_value",
    "locations",
    "stores",
    "owner_specified.openstack.md5",
    "trait:CUSTOM_X",
    "a",
    "a.b",
    "a-b",
]
keys = st.one_of(
    st.sampled_from(REALISTIC_KEYS),
    st.text(alphabet="abz_.:- AZ09", min_size=1, max_size=8),
)
texts = st.text(alphabet="ab', =\"[]{}:.\n\u00e9", max_size=12)
leaves = st.one_of(
    st.none(),
    texts,
    st.integers(),
    st.booleans(),
    st.lists(texts, max_size=3),
    st.lists(st.dictionaries(texts, texts, max_size=2), max_size=2),
)
property_dicts = st.recursive(
    st.dictionaries(keys, leaves, max_size=5),
    lambda children: st.dictionaries(keys, st.one_of(leaves, children), max_size=4),
    max_leaves=16,
)


@given(property_dicts)
def test_format_dict_reads_back(data: dict[str, Any]) -> None:
    """format_dict output of any property dict reads back as its flat dotted items, in order.

    stable_rescue.image.parse_format_dict: "Text from format_dict is read back exactly, unless
    a value holds ', and then (after any number of further ', ') KEY= where KEY could follow
    that value's own key" (that ambiguity is left out here, as are dicts whose items format_dict
    writes under one key twice). Through properties_from_image_json the string values come out,
    or invalid-properties when a key the library reads is None.
    """
    items = flatten(data)
    assume(len({key for key, _ in items}) == len(items))
    assume(not any(value is not None and LOOKALIKE.search(value) for _, value in items))
    text = format_dict(data)
    assert list(parse_format_dict(text, NAME).items()) == items
    document = json.dumps({"properties": text})
    if any(key in KNOWN_PROPERTIES and value is None for key, value in items):
        with pytest.raises(InvalidProperties):
            properties_from_image_json(document, NAME)
    else:
        expected = {key: value for key, value in items if value is not None}
        assert properties_from_image_json(document, NAME) == expected


plain_texts = st.text(alphabet="ab, =[]{}:.", max_size=8)  # no quote: no look-alike of its own
other_keys = keys.filter(lambda key: key not in KNOWN_PROPERTIES)


@given(st.dictionaries(other_keys, st.tuples(plain_texts, plain_texts, st.booleans()), max_size=6))
def test_own_key_in_value_reads_back(data: dict[str, tuple[str, str, bool]]) -> None:
    """A value that quotes its own key as ``', KEY='`` still reads back: a key never follows itself.

    stable_rescue.image.parse_format_dict, rule 2: "Each key can follow the one before it in
    format_dict's order: it differs from it, ...".
    """
    properties = {
        key: f"{head}', {key}='{tail}" if quoted else head
        for key, (head, tail, quoted) in data.items()
    }
    # Only the quoted own key looks like an item start (a tail ", b=" would add a second one).
    assume(all(len(LOOKALIKE.findall(value)) <= 1 for value in properties.values()))
    expected = sorted(properties.items())
    assert list(parse_format_dict(format_dict(properties), NAME).items()) == expected


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(REALISTIC_KEYS), children)
    ),
    max_leaves=10,
)


@given(st.one_of(st.text(alphabet="ab', =.\n", max_size=40), st.text(max_size=40)))
def test_any_properties_text(text: str) -> None:
    """Any 'properties' string gives string properties or a RescueError, nothing else (totality).

    docs/errors.md: "Any input gives either a result or one of these errors."
    """
    _result_or_error(_json(text))


@given(st.one_of(json_values, st.dictionaries(st.sampled_from(["properties"]), json_values)))
def test_any_json(document: Any) -> None:
    """Any JSON document gives string properties or a RescueError, nothing else (totality)."""
    _result_or_error(json.dumps(document))


def _result_or_error(document: str) -> None:
    caught: RescueError | None = None
    try:
        result = properties_from_image_json(document, NAME)
    except RescueError as error:
        caught = error
    if caught is not None:
        assert caught.code in {"invalid-image-json", "invalid-properties"}
        assert "\n" not in caught.message
        return
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in result.items())


def test_key_characters() -> None:
    """Keys in format_dict text are letters, digits, '_ . : -' and space (for near-miss keys)."""
    assert set(string.ascii_letters + string.digits + "_.:- ") == KEY_CHARACTERS


def test_messages_cut_huge_values() -> None:
    """A huge value, key or file name is cut in a message, which stays one short line."""
    huge = "x" * 100_000
    documents = [
        (json.dumps({"hw_rescue_bus": [huge]}), NAME),
        (json.dumps({"properties": f"z{huge}=, a{huge}="}), NAME),
        (json.dumps({"properties": f"a{huge}=, a{huge}="}), NAME),
        ("[]", "/tmp/" + huge + "\n.json"),
    ]
    for document, name in documents:
        with pytest.raises(RescueError) as caught:
            properties_from_image_json(document, name)
        assert "\n" not in caught.value.message
        assert len(caught.value.message) < 400, caught.value.message[:500]


def test_lone_surrogate_in_a_value_is_kept_for_the_request_to_refuse() -> None:
    """JSON can spell a lone surrogate; the request refuses it in a key it reads."""
    properties = properties_from_image_json('{"hw_rescue_bus": "virtio\\udcff"}', NAME)
    assert properties == {"hw_rescue_bus": "virtio\udcff"}
    with pytest.raises(InvalidProperties) as caught:
        build_request(properties, "/srv/rescue.iso")
    assert caught.value.message == (
        "property hw_rescue_bus holds U+DCFF (a lone surrogate: a byte that is not UTF-8) at "
        "index 6; expected text XML can carry"
    )
