"""No input writes anything into the domain XML but the rescue disk it asks for (issue 12).

For arbitrary text in each string a caller controls (source path, rbd pool, image and snapshot,
host, user, secret, kernel, initrd, cmdline, the ``hw_*`` values, and every field of a
``RescueSource`` built by hand), ``rescue`` either raises a ``RescueError`` or returns XML that
lxml parses, whose only new elements are the rescue disk, added controllers, the kernel boot
elements and the rescue record, and whose rescue disk carries exactly the given string where it
belongs. So a value can neither break the document (a NUL, a lone surrogate from ``sys.argv``)
nor add an element or attribute (``'/><evil/>``), and escaping loses nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

import stable_rescue
from stable_rescue import NetworkHost, RescueError, RescueSource, SourceType

DOMAIN = (Path(__file__).parent / "golden" / "pc-virtio-disk" / "input.xml").read_text(
    encoding="utf-8"
)
STABLE = {"hw_rescue_bus": "virtio"}
FILE = "/var/lib/libvirt/images/rescue.iso"
SECRET = "2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a"
FSID = "b0f3b6a4-5c1e-4e0a-9a7d-3f1c2e4d5a6b"
RECORD_NAMESPACE = "urn:stable-rescue:rescue:1"
DISK_ALIAS = "ua-stable-rescue-disk"
ADDED_PREFIX = "ua-stable-rescue-"

# Pieces that break XML or a URI, or try to: quotes, markup, entities, every class of character
# XML 1.0 refuses (C0 controls, U+FFFE/U+FFFF, lone surrogates as sys.argv holds undecodable
# bytes), the ones it normalises in attributes (tab, LF, CR), and URI delimiters.
NASTY = [
    "'",
    '"',
    "<",
    ">",
    "&",
    "&amp;",
    "&#0;",
    "]]>",
    "<evil/>",
    "'/><evil a='",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udcff",
    "%",
    "%00",
    "%0A",
    "%27",
    "/",
    "@",
    "?",
    "#",
    ":",
    ",",
    "[",
    "]",
    " ",
    "\u00e9",
    "\u0661",
    "\U0001f600",
]
texts = st.lists(
    st.one_of(
        st.sampled_from(NASTY),
        # Any code point, surrogates too (works with every Hypothesis the project allows).
        st.text(st.integers(min_value=0, max_value=0x10FFFF).map(chr), max_size=4),
        st.text("abcxyz019.-_", min_size=1, max_size=8),
    ),
    max_size=8,
).map("".join)
# What a URI authority cannot hold without changing which part is the host.
_AUTHORITY_DELIMITERS = frozenset("/?#@,:[]")
host_texts = texts.filter(lambda text: not _AUTHORITY_DELIMITERS & set(text))
# Anything at all, for a field of a RescueSource built by hand.
anything = st.one_of(
    texts,
    st.none(),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.lists(texts, max_size=2),
    st.sampled_from(list(SourceType)),
)

# The rescue disk's elements, the attributes each may have and the children it may hold.
DISK_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "disk": frozenset({"type", "device"}),
    "driver": frozenset({"name", "type"}),
    "source": frozenset({"file", "dev", "protocol", "name"}),
    "host": frozenset({"name", "port"}),
    "snapshot": frozenset({"name"}),
    "auth": frozenset({"username"}),
    "secret": frozenset({"type", "uuid"}),
    "target": frozenset({"dev", "bus"}),
    "readonly": frozenset(),
    "boot": frozenset({"order"}),
    "alias": frozenset({"name"}),
}
DISK_CHILDREN: Mapping[str, frozenset[str]] = {
    "disk": frozenset(
        {"driver", "source", "target", "readonly", "boot", "alias", "address"},
    ),
    "source": frozenset({"host", "snapshot", "auth"}),
    "auth": frozenset({"secret"}),
}
SOURCE_ATTRIBUTE_SETS = [{"file"}, {"dev"}, {"protocol", "name"}]
CONTROLLER_ATTRIBUTES = frozenset({"type", "index", "model"})
CONTROLLER_CHILDREN = frozenset({"model", "target", "alias", "address"})
KERNEL_TAGS = ("kernel", "initrd", "cmdline")


def _paths(root: etree._Element) -> Counter[tuple[str, ...]]:
    """Each element's tags from the root down, counted (attributes and text aside)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for element in root.iter(etree.Element):
        ancestors = [str(node.tag) for node in element.iterancestors()]
        path = (*reversed(ancestors), str(element.tag))
        counts[path] += 1
    return counts


def _added(root: etree._Element) -> list[etree._Element]:
    """What the rescue may add: its disk, controllers, kernel boot elements and record."""
    added = [
        alias.getparent()
        for alias in root.iterfind("devices/*/alias")
        if alias.get("name", "").startswith(ADDED_PREFIX)
    ]
    added += [element for tag in KERNEL_TAGS for element in root.iterfind(f"os/{tag}")]
    added += root.findall(f"metadata/{{{RECORD_NAMESPACE}}}rescue")
    return [element for element in added if element is not None]


def _check_no_injection(root: etree._Element) -> None:
    """Only the rescue's own elements are new, each with only the attributes it has."""
    disks = [
        alias.getparent()
        for alias in root.iterfind("devices/disk/alias")
        if alias.get("name") == DISK_ALIAS
    ]
    assert len(disks) == 1
    disk = disks[0]
    assert disk is not None
    _check_disk(disk)
    for alias in root.iterfind("devices/controller/alias"):
        if alias.get("name", "").startswith(ADDED_PREFIX):
            controller = alias.getparent()
            assert controller is not None
            assert set(controller.attrib) <= CONTROLLER_ATTRIBUTES
            assert {str(child.tag) for child in controller} <= CONTROLLER_CHILDREN
    for tag in KERNEL_TAGS:
        elements = root.findall(f"os/{tag}")
        assert len(elements) <= 1
        for element in elements:
            assert len(element) == 0
            assert not element.attrib
    # Take the rescue's own elements out: what is left has no element the input lacks, but
    # the <boot order> the rescue gives existing devices and the <metadata> it may create.
    for element in _added(root):
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)
    original = _paths(etree.fromstring(DOMAIN.encode("utf-8")))
    for path in _paths(root) - original:
        if path == ("domain", "metadata"):
            continue
        assert path[:2] == ("domain", "devices"), path
        assert path[-1] == "boot", path
        assert len(path) == 4, path


def _check_disk(disk: etree._Element) -> None:
    for element in disk.iter():
        assert isinstance(element.tag, str), element  # no comment or PI smuggled in
        if element.tag == "address" and element.getparent() is disk:
            continue
        assert element.tag in DISK_ATTRIBUTES, element.tag
        assert set(element.attrib) <= DISK_ATTRIBUTES[element.tag], element.attrib
        children = [str(child.tag) for child in element]
        assert set(children) <= DISK_CHILDREN.get(element.tag, frozenset()), children
        if element.tag in ("disk", "source"):
            assert len(children) == len(set(children) - {"host"}) + children.count("host")
        assert not (element.text or "").strip()
    source = disk.find("source")
    assert source is not None
    assert set(source.attrib) in SOURCE_ATTRIBUTE_SETS


def rescued(properties: Mapping[str, str], source: object, **options: Any) -> etree._Element | None:
    """The rescued domain, parsed and checked for injection; ``None`` when refused."""
    refused: RescueError | None = None
    try:
        result = stable_rescue.rescue(DOMAIN, properties, source, **options)  # type: ignore[arg-type]
    except RescueError as error:
        refused = error
    if refused is not None:
        # The domain is well-formed: this code would mean the output was not, and a check of
        # the rendered text had to catch what the input checks let through.
        assert refused.code != "invalid-domain-xml", refused.message
        return None
    # Strict UTF-8: a lone surrogate in the output is a failure here, not later in libvirt.
    root = etree.fromstring(result.xml.encode("utf-8"))
    _check_no_injection(etree.fromstring(result.xml.encode("utf-8")))
    return root


def rescue_disk(root: etree._Element) -> etree._Element:
    """The rescue disk of a rescued domain."""
    alias = root.find(f"devices/disk/alias[@name='{DISK_ALIAS}']")
    assert alias is not None
    disk = alias.getparent()
    assert disk is not None
    return disk


def attribute(root: etree._Element, path: str, name: str) -> str | None:
    """Attribute ``name`` of the element at ``path`` under the rescue disk."""
    element = rescue_disk(root).find(path)
    assert element is not None, path
    return element.get(name)


def _quoted(text: str) -> str:
    """``text`` percent-encoded as one URI segment (a lone surrogate as its 3 UTF-8 bytes)."""
    return quote(text, safe="", errors="surrogatepass")


# --- sources as the CLI and the API take them --------------------------------------------------


@given(texts)
@example("x'/><evil/><y a='")
@example('a&b<c>"d\t\n\re')
@example("\udcff")
@example("\x1b[31m")
def test_file_path(text: str) -> None:
    """A file path: refused, or written exactly as <source file>."""
    path = f"/srv/{text}.iso"
    root = rescued(STABLE, path)
    if root is not None:
        assert attribute(root, "source", "file") == path


@given(texts)
@example("sdb'/><evil/>")
@example("\udcff")
def test_block_path(text: str) -> None:
    """A block device path: refused, or written exactly as <source dev>."""
    path = f"/dev/{text}"
    root = rescued(STABLE, path, source_format="raw")
    if root is not None:
        assert attribute(root, "source", "dev") == path


@given(
    st.one_of(st.binary(max_size=12), texts.map(lambda text: text.encode("utf-8", "surrogatepass")))
)
@example(b"\xff")
@example(b"\xed\xb3\xbf")
@example(b"'/><evil/>")
def test_path_bytes(raw: bytes) -> None:
    """A path given as bytes, as the CLI may (read as UTF-8): refused, or written exactly."""
    path = b"/srv/" + raw + b".iso"
    root = rescued(STABLE, path)
    if root is not None:
        assert attribute(root, "source", "file") == path.decode("utf-8")


@given(texts, texts)
@example("pool'/><evil/>", "image")
@example("pool", "im%00age")
@example("pool", "im\x01age")
@example("pool", "im\udcffage")
def test_rbd_pool_and_image(pool: str, image: str) -> None:
    """rbd://MON/POOL/IMAGE, each part percent-encoded: refused, or name='POOL/IMAGE' exactly."""
    root = rescued(STABLE, f"rbd://mon/{_quoted(pool)}/{_quoted(image)}", source_format="raw")
    if root is not None:
        assert attribute(root, "source", "name") == f"{pool}/{image}"
        assert attribute(root, "source/host", "name") == "mon"


@given(texts, texts, texts)
@example("pool", "image", "snap'/><evil/>")
@example("pool", "image", "snap\x1b")
def test_rbd_snapshot(pool: str, image: str, snapshot: str) -> None:
    """A Glance location rbd://FSID/POOL/IMAGE/SNAP: refused, or <snapshot name> exactly."""
    uri = f"rbd://{FSID}/{_quoted(pool)}/{_quoted(image)}/{_quoted(snapshot)}"
    root = rescued(STABLE, uri, source_format="raw")
    if root is not None:
        assert attribute(root, "source", "name") == f"{pool}/{image}"
        assert attribute(root, "source/snapshot", "name") == snapshot


@given(host_texts)
@example("mon'/><evil/>")
@example("mon\x00")
def test_rbd_host(host: str) -> None:
    """A monitor in the URI: refused, or <host name> exactly."""
    root = rescued(STABLE, f"rbd://{host}/pool/image", source_format="raw")
    if root is not None:
        assert attribute(root, "source/host", "name") == host
        assert attribute(root, "source/host", "port") == "6789"


@given(texts)
@example("6789'/><evil/>")
@example("9" * 5000)
@example("\u0661\u0662")
@example("1,0")
def test_rbd_port(port: str) -> None:
    """A monitor's port in the URI: refused, or <host port> 1 to 65535."""
    root = rescued(STABLE, f"rbd://mon:{port}/pool/image", source_format="raw")
    if root is not None:
        written = attribute(root, "source/host", "port")
        assert written is not None
        assert 0 < int(written) < 65536
        # A comma starts the next monitor (rbd://mon:1,mon2/...): the first port is this one's.
        assert int(written) == int(port.split(",", 1)[0])


@given(texts, texts)
@example("cinder'/><evil/>", SECRET)
@example("cinder", f"{SECRET}\n")
@example("cinder", f"{SECRET}'/><evil/>")
def test_rbd_user_and_secret(user: str, secret: str) -> None:
    """``USER@`` and ``?secret=``: refused, or <auth username> and <secret uuid> exactly."""
    uri = f"rbd://{_quoted(user)}@mon/pool/image?secret={_quoted(secret)}"
    root = rescued(STABLE, uri, source_format="raw")
    if root is not None:
        assert attribute(root, "source/auth", "username") == user
        # The URI parser writes the UUID in lower case, as libvirt prints it.
        assert attribute(root, "source/auth/secret", "uuid") == secret.lower()
        assert attribute(root, "source/auth/secret", "type") == "ceph"


@given(texts, texts)
@example("iqn.2010-10.org.example:r'/><evil/>", "1")
@example("iqn.2010-10.org.example:rescue", "\u00b2")
@example("iqn.2010-10.org.example:res%00cue", "1")
@example("", "\x85/0")
@example("iqn.2010-10.org.example:a/b", "1")
def test_iscsi_name(iqn: str, lun: str) -> None:
    """iscsi://HOST/IQN/LUN: refused, or name='IQN/LUN' exactly, the LUN in ASCII digits."""
    root = rescued(STABLE, f"iscsi://192.0.2.10/{_quoted(iqn)}/{_quoted(lun)}", source_format="raw")
    if root is not None:
        assert attribute(root, "source", "name") == f"{iqn}/{lun}"
        # libvirt splits IQN/LUN at the first slash: an IQN holding one would be cut short.
        assert iqn
        assert "/" not in iqn
        assert lun.isascii()
        assert lun.isdigit()


# --- kernel boot options ----------------------------------------------------------------------


@given(texts, texts, texts)
@example("/boot/vmlinuz", "/boot/initrd", "console=ttyS0 \x1b[31m")
@example("/boot/vm\x01linuz", "/boot/initrd", "x")
@example("/boot/vmlinuz", "/boot/\udcffinitrd", "x")
@example("/boot/vmlinuz", "/boot/initrd", "a\ufffeb")
@example("</kernel><evil/>", "a&b", "]]>\r\n\t'\"")
def test_kernel_initrd_cmdline(kernel: str, initrd: str, cmdline: str) -> None:
    """Kernel, initrd and cmdline: refused, or <os> text exactly.

    Rule K2.
    """
    root = rescued(STABLE, FILE, kernel=kernel, initrd=initrd, cmdline=cmdline)
    if root is not None:
        assert root.findtext("os/kernel") == kernel
        assert root.findtext("os/initrd") == initrd
        assert root.findtext("os/cmdline") == cmdline


# --- image properties -------------------------------------------------------------------------

# (property, the other properties, where the value lands: element path under the domain and
# attribute, and values the library takes, so that accepted values are tried too.)
PROPERTY_CASES = [
    ("hw_rescue_bus", {}, ("target", "bus"), ["virtio", "scsi", "sata", "usb", "ide"]),
    ("hw_rescue_device", {}, (".", "device"), ["disk", "cdrom", "floppy"]),
    ("hw_disk_bus", {"hw_rescue_device": "disk"}, ("target", "bus"), ["scsi", "sata", "usb"]),
    ("hw_cdrom_bus", {"hw_rescue_device": "cdrom"}, ("target", "bus"), ["scsi", "sata", "ide"]),
    ("hw_floppy_bus", {"hw_rescue_device": "floppy"}, ("target", "bus"), ["fdc"]),
]


@pytest.mark.parametrize(
    ("name", "others", "where", "valid"), PROPERTY_CASES, ids=[c[0] for c in PROPERTY_CASES]
)
@given(data=st.data())
def test_property_values(
    name: str,
    others: dict[str, str],
    where: tuple[str, str],
    valid: list[str],
    data: st.DataObject,
) -> None:
    """A value of a property the library reads: refused, or written exactly where it goes."""
    value = data.draw(st.one_of(st.sampled_from(valid), texts), label=name)
    root = rescued({**others, name: value}, FILE)
    if root is not None:
        assert attribute(root, *where) == value


@given(st.one_of(st.sampled_from(["virtio-scsi", "lsilogic", "am53c974"]), texts))
@example("virtio-scsi'/><evil/>")
@example("virtio-scsi\udcff")
@example("")
def test_scsi_model(model: str) -> None:
    """hw_scsi_model, when a SCSI controller is added: refused, or its model exactly."""
    root = rescued({"hw_rescue_bus": "scsi", "hw_scsi_model": model}, FILE)
    if root is not None:
        added = [
            alias.getparent()
            for alias in root.iterfind("devices/controller/alias")
            if alias.get("name", "").startswith(ADDED_PREFIX)
        ]
        models = [c.get("model") for c in added if c is not None and c.get("type") == "scsi"]
        assert models == [model]


# --- a RescueSource built by hand -------------------------------------------------------------


@given(texts)
@example("x'/><evil/>")
@example("/srv/a\x00b.iso")
@example("/srv/\udcff.iso")
def test_hand_built_file_source(path: str) -> None:
    """RescueSource(type=FILE, path=...): refused, or <source file> exactly."""
    root = rescued(STABLE, RescueSource(type=SourceType.FILE, path=path), source_format="raw")
    if root is not None:
        assert attribute(root, "source", "file") == path


@given(
    protocol=st.one_of(st.sampled_from(["rbd", "iscsi"]), texts),
    name=st.one_of(st.sampled_from(["pool/image", "iqn.2010-10.org.example:r/1"]), texts),
    host=st.one_of(st.sampled_from(["mon", "10.0.0.1", "2001:db8::3"]), texts),
    port=st.one_of(st.none(), st.integers(-1, 70000), st.booleans(), texts, st.floats()),
    user=st.one_of(st.none(), st.just("cinder"), texts),
    secret=st.one_of(st.none(), st.just(SECRET), texts),
    secret_type=st.one_of(st.none(), st.sampled_from(["ceph", "iscsi"]), texts),
    snapshot=st.one_of(st.none(), st.just("snap"), texts),
)
@example(
    protocol="rbd'/><evil/><x a='",
    name="pool/image",
    host="mon",
    port=6789,
    user=None,
    secret=None,
    secret_type=None,
    snapshot=None,
)
@example(
    protocol="rbd",
    name="pool/image",
    host="mon",
    port="1'/><evil/><x a='",
    user=None,
    secret=None,
    secret_type=None,
    snapshot=None,
)
@example(
    protocol="rbd",
    name="pool/image",
    host="mon",
    port=6789,
    user="cinder",
    secret="x'/><evil/><y a='",
    secret_type="ceph",
    snapshot=None,
)
@example(
    protocol="rbd",
    name="pool/image",
    host="mon",
    port=6789,
    user="cinder",
    secret=SECRET,
    secret_type="c'/><evil/><y a='",
    snapshot=None,
)
def test_hand_built_network_source(
    protocol: object,
    name: object,
    host: object,
    port: object,
    user: object,
    secret: object,
    secret_type: object,
    snapshot: object,
) -> None:
    """Every field of a hand-built network source: refused, or written exactly."""
    source = RescueSource(
        type=SourceType.NETWORK,
        protocol=protocol,  # type: ignore[arg-type]
        name=name,  # type: ignore[arg-type]
        hosts=(NetworkHost(name=host, port=port),),  # type: ignore[arg-type]
        auth_username=user,  # type: ignore[arg-type]
        secret_uuid=secret,  # type: ignore[arg-type]
        secret_type=secret_type,  # type: ignore[arg-type]
        snapshot=snapshot,  # type: ignore[arg-type]
    )
    root = rescued(STABLE, source, source_format="raw")
    if root is None:
        return
    assert attribute(root, "source", "protocol") == protocol
    assert attribute(root, "source", "name") == name
    assert attribute(root, "source/host", "name") == host
    assert attribute(root, "source/host", "port") == (None if port is None else str(port))
    if snapshot is not None:
        assert attribute(root, "source/snapshot", "name") == snapshot
    if secret is not None:
        assert attribute(root, "source/auth", "username") == user
        assert attribute(root, "source/auth/secret", "uuid") == secret
        assert attribute(root, "source/auth/secret", "type") == secret_type


@given(
    kind=anything,
    path=anything,
    protocol=anything,
    name=anything,
    hosts=st.one_of(
        anything,
        st.lists(st.builds(NetworkHost, name=anything, port=anything), max_size=2).map(tuple),
    ),
    user=anything,
    secret=anything,
    secret_type=anything,
    snapshot=anything,
)
@example(
    kind=SourceType.FILE,
    path=3,
    protocol=None,
    name=None,
    hosts=(),
    user=None,
    secret=None,
    secret_type=None,
    snapshot=None,
)
@example(
    kind="file",
    path="/srv/rescue.iso",
    protocol=None,
    name=None,
    hosts=(),
    user=None,
    secret=None,
    secret_type=None,
    snapshot=None,
)
def test_hand_built_source_of_any_types(
    kind: object,
    path: object,
    protocol: object,
    name: object,
    hosts: object,
    user: object,
    secret: object,
    secret_type: object,
    snapshot: object,
) -> None:
    """Fields of any type: a RescueError (invalid-source) or a clean result, nothing else."""
    source = RescueSource(
        type=kind,  # type: ignore[arg-type]
        path=path,  # type: ignore[arg-type]
        protocol=protocol,  # type: ignore[arg-type]
        name=name,  # type: ignore[arg-type]
        hosts=hosts,  # type: ignore[arg-type]
        auth_username=user,  # type: ignore[arg-type]
        secret_uuid=secret,  # type: ignore[arg-type]
        secret_type=secret_type,  # type: ignore[arg-type]
        snapshot=snapshot,  # type: ignore[arg-type]
    )
    rescued(STABLE, source, source_format="raw")
