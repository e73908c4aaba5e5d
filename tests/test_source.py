"""The rescue media's source: a path or URI -> RescueSource, and its format."""

from __future__ import annotations

import pytest

from stable_rescue.errors import RescueError
from stable_rescue.model import NetworkHost, RescueSource, SourceType
from stable_rescue.source import parse_source, resolve_format

SECRET = "2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a"

PARSED = [
    pytest.param(
        "/var/lib/libvirt/images/rescue.img",
        None,
        RescueSource(type=SourceType.FILE, path="/var/lib/libvirt/images/rescue.img"),
        id="file",
    ),
    pytest.param(
        "/dev/mapper/rescue",
        None,
        RescueSource(type=SourceType.BLOCK, path="/dev/mapper/rescue"),
        id="block-under-dev",
    ),
    pytest.param(
        "/devices/rescue.img",
        None,
        RescueSource(type=SourceType.FILE, path="/devices/rescue.img"),
        id="dev-prefix-without-slash-is-a-file",
    ),
    pytest.param(
        "/srv/with space\tand-tab.img",
        None,
        RescueSource(type=SourceType.FILE, path="/srv/with space\tand-tab.img"),
        id="space-and-tab-allowed",
    ),
    pytest.param(
        "/dev/sdb",
        "file",
        RescueSource(type=SourceType.FILE, path="/dev/sdb"),
        id="override-block-to-file",
    ),
    pytest.param(
        "/srv/rescue.lv",
        "block",
        RescueSource(type=SourceType.BLOCK, path="/srv/rescue.lv"),
        id="override-file-to-block",
    ),
    pytest.param(
        "rbd://mon1/pool/image",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="pool/image",
            hosts=(NetworkHost(name="mon1", port=6789),),
        ),
        id="rbd-default-port",
    ),
    pytest.param(
        "rbd://mon1/pool/image",
        "network",
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="pool/image",
            hosts=(NetworkHost(name="mon1", port=6789),),
        ),
        id="rbd-explicit-network",
    ),
    pytest.param(
        f"rbd://cinder@10.0.0.1:6790,10.0.0.2,[2001:db8::3]:6791/images/rescue-img?secret={SECRET}",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="images/rescue-img",
            hosts=(
                NetworkHost(name="10.0.0.1", port=6790),
                NetworkHost(name="10.0.0.2", port=6789),
                NetworkHost(name="2001:db8::3", port=6791),
            ),
            auth_username="cinder",
            secret_uuid=SECRET,
            secret_type="ceph",
        ),
        id="rbd-user-secret-several-monitors",
    ),
    pytest.param(
        f"rbd://client%40x@mon/p/i?secret={SECRET.upper()}",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="p/i",
            hosts=(NetworkHost(name="mon", port=6789),),
            auth_username="client@x",
            secret_uuid=SECRET,
            secret_type="ceph",
        ),
        id="rbd-quoted-user-uppercase-uuid",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.openstack:volume-rescue/1",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="iscsi",
            name="iqn.2010-10.org.openstack:volume-rescue/1",
            hosts=(NetworkHost(name="192.0.2.10", port=3260),),
        ),
        id="iscsi-default-port",
    ),
    pytest.param(
        "iscsi://target.example:3261/iqn.2010-10.org.example:rescue/0",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="iscsi",
            name="iqn.2010-10.org.example:rescue/0",
            hosts=(NetworkHost(name="target.example", port=3261),),
        ),
        id="iscsi-port-lun0",
    ),
    pytest.param(
        f"iscsi://chap@192.0.2.10/iqn.2010-10.org.example:rescue/2?secret={SECRET}",
        None,
        RescueSource(
            type=SourceType.NETWORK,
            protocol="iscsi",
            name="iqn.2010-10.org.example:rescue/2",
            hosts=(NetworkHost(name="192.0.2.10", port=3260),),
            auth_username="chap",
            secret_uuid=SECRET,
            secret_type="iscsi",
        ),
        id="iscsi-chap-secret",
    ),
]


@pytest.mark.parametrize(("source", "source_type", "expected"), PARSED)
def test_parse_source(source: str, source_type: str | None, expected: RescueSource) -> None:
    """/dev/ paths are block devices, other absolute paths files, URIs network disks."""
    assert parse_source(source, source_type) == expected


def test_parse_source_passes_value_objects_through() -> None:
    """A RescueSource given by the caller is used as it is."""
    source = RescueSource(type=SourceType.BLOCK, path="/dev/vg/rescue")
    assert parse_source(source) is source


REFUSED = [
    pytest.param("", None, "source is ''; expected a path or URI of the rescue media", id="empty"),
    pytest.param(
        "images/rescue.img",
        None,
        "source path 'images/rescue.img' is relative; expected an absolute path on the host",
        id="relative",
    ),
    pytest.param(
        "/srv/a\x00b.img",
        None,
        "source contains control characters; expected a plain path or URI",
        id="nul",
    ),
    pytest.param(
        "/srv/a\nb.img",
        None,
        "source contains control characters; expected a plain path or URI",
        id="newline",
    ),
    pytest.param(
        "/srv/a\rb.img",
        None,
        "source contains control characters; expected a plain path or URI",
        id="carriage-return",
    ),
    pytest.param(
        "/srv/a\x1bb.img",
        None,
        "source contains control characters; expected a plain path or URI",
        id="escape",
    ),
    pytest.param(
        "/srv/a\x7fb.img",
        None,
        "source contains control characters; expected a plain path or URI",
        id="delete",
    ),
    pytest.param(
        "http://example.org/rescue.iso",
        None,
        "source scheme 'http'; expected rbd:// or iscsi://",
        id="unknown-scheme",
    ),
    pytest.param(
        "RBD://mon/pool/image",
        None,
        "source scheme 'RBD'; expected rbd:// or iscsi://",
        id="scheme-case-sensitive",
    ),
    pytest.param(
        "/srv/rescue.img",
        "network",
        "source '/srv/rescue.img' is not a URI; a network source needs rbd:// or iscsi://",
        id="network-type-on-path",
    ),
    pytest.param(
        "rbd://mon/pool/image",
        "file",
        "source 'rbd://mon/pool/image' is a URI; source type 'file' needs an absolute path",
        id="file-type-on-uri",
    ),
    pytest.param(
        "rbd://mon/pool/image",
        "block",
        "source 'rbd://mon/pool/image' is a URI; source type 'block' needs an absolute path",
        id="block-type-on-uri",
    ),
    pytest.param(
        "/srv/rescue.img",
        "nbd",
        "source type 'nbd'; expected one of file, block, network",
        id="unknown-type",
    ),
    pytest.param(
        "/srv/rescue.img",
        "FILE",
        "source type 'FILE'; expected one of file, block, network",
        id="type-case-sensitive",
    ),
    pytest.param(
        "rbd://mon",
        None,
        "source 'rbd://mon' has no path after the host",
        id="rbd-no-path",
    ),
    pytest.param(
        "rbd://mon/",
        None,
        "source 'rbd://mon/' has no path after the host",
        id="rbd-empty-path",
    ),
    pytest.param(
        "rbd://mon/pool",
        None,
        "rbd source 'rbd://mon/pool'; expected rbd://MON/POOL/IMAGE",
        id="rbd-no-image",
    ),
    pytest.param(
        "rbd://mon/pool/",
        None,
        "rbd source 'rbd://mon/pool/'; expected rbd://MON/POOL/IMAGE",
        id="rbd-empty-image",
    ),
    pytest.param(
        "rbd://mon//image",
        None,
        "rbd source 'rbd://mon//image'; expected rbd://MON/POOL/IMAGE",
        id="rbd-no-pool",
    ),
    pytest.param(
        "rbd://cinder@mon/pool/image",
        None,
        "source 'rbd://cinder@mon/pool/image' has a user but no secret; expected both or neither",
        id="user-without-secret",
    ),
    pytest.param(
        f"rbd://mon/pool/image?secret={SECRET}",
        None,
        f"source 'rbd://mon/pool/image?secret={SECRET}' has a secret but no user; "
        "expected both or neither",
        id="secret-without-user",
    ),
    pytest.param(
        f"rbd://@mon/pool/image?secret={SECRET}",
        None,
        f"source 'rbd://@mon/pool/image?secret={SECRET}' has an empty user name",
        id="empty-user",
    ),
    pytest.param(
        "rbd://u@mon/pool/image?secret=not-a-uuid",
        None,
        "secret 'not-a-uuid' in source 'rbd://u@mon/pool/image?secret=not-a-uuid'; expected a UUID",
        id="secret-not-uuid",
    ),
    pytest.param(
        f"rbd://u@mon/pool/image?secret={SECRET}&conf=/etc/ceph.conf",
        None,
        f"query of source 'rbd://u@mon/pool/image?secret={SECRET}&conf=/etc/ceph.conf'; "
        "expected only secret=UUID",
        id="unknown-query-key",
    ),
    pytest.param(
        f"rbd://u@mon/pool/image?secret={SECRET}&secret={SECRET}",
        None,
        f"query of source 'rbd://u@mon/pool/image?secret={SECRET}&secret={SECRET}'; "
        "expected only secret=UUID",
        id="secret-twice",
    ),
    pytest.param(
        "rbd://mon:0/pool/image",
        None,
        "port 0 in source 'rbd://mon:0/pool/image'; expected 1 to 65535",
        id="port-zero",
    ),
    pytest.param(
        "rbd://mon:65536/pool/image",
        None,
        "port 65536 in source 'rbd://mon:65536/pool/image'; expected 1 to 65535",
        id="port-too-big",
    ),
    pytest.param(
        "rbd://mon:/pool/image",
        None,
        "host 'mon:' in source 'rbd://mon:/pool/image'; expected HOST[:PORT]",
        id="empty-port",
    ),
    pytest.param(
        "rbd://mon1,,mon2/pool/image",
        None,
        "host '' in source 'rbd://mon1,,mon2/pool/image'; expected HOST[:PORT]",
        id="empty-monitor",
    ),
    pytest.param(
        "rbd://mon:abc/pool/image",
        None,
        "host 'mon:abc' in source 'rbd://mon:abc/pool/image'; expected HOST[:PORT]",
        id="port-not-a-number",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.example:rescue",
        None,
        "iscsi source 'iscsi://192.0.2.10/iqn.2010-10.org.example:rescue'; "
        "expected iscsi://HOST/IQN/LUN",
        id="iscsi-no-lun",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/first",
        None,
        "iscsi source 'iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/first'; "
        "expected iscsi://HOST/IQN/LUN",
        id="iscsi-lun-not-a-number",
    ),
    pytest.param(
        "iscsi://h1,h2/iqn.2010-10.org.example:rescue/1",
        None,
        "iscsi source 'iscsi://h1,h2/iqn.2010-10.org.example:rescue/1' names 2 hosts; expected one",
        id="iscsi-two-hosts",
    ),
]


@pytest.mark.parametrize(("source", "source_type", "message"), REFUSED)
def test_parse_source_refused(source: str, source_type: str | None, message: str) -> None:
    """Unusable sources raise invalid-source, naming what was found and what was expected."""
    with pytest.raises(RescueError) as caught:
        parse_source(source, source_type)
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message
    assert isinstance(caught.value, ValueError)


def test_absolute_path_with_scheme_separator_is_a_file() -> None:
    """An absolute path is a path even when a directory name contains '://'."""
    assert parse_source("/srv/http://mirror/rescue.iso") == RescueSource(
        type=SourceType.FILE, path="/srv/http://mirror/rescue.iso"
    )


FILE = RescueSource(type=SourceType.FILE, path="/srv/rescue.img")

FORMATS = [
    pytest.param("/srv/rescue.qcow2", None, "qcow2", id="qcow2-suffix"),
    pytest.param("/srv/rescue.raw", None, "raw", id="raw-suffix"),
    pytest.param("/srv/rescue.iso", None, "raw", id="iso-is-raw"),
    pytest.param("/srv/RESCUE.ISO", None, "raw", id="suffix-any-case"),
    pytest.param("/srv/rescue.iso", "qcow2", "qcow2", id="given-wins-over-suffix"),
    pytest.param("/srv/rescue.img", "raw", "raw", id="given-raw"),
    pytest.param("/srv/rescue.img", "qcow2", "qcow2", id="given-qcow2"),
    pytest.param("/srv/rescue.img", "vmdk", "vmdk", id="given-vmdk"),
    pytest.param("/srv/rescue.img", "dmg", "dmg", id="given-dmg"),
]


@pytest.mark.parametrize(("path", "given", "expected"), FORMATS)
def test_resolve_format(path: str, given: str | None, expected: str) -> None:
    """The given format, else the one the suffix settles (.qcow2, .raw, .iso is raw)."""
    source = RescueSource(type=SourceType.FILE, path=path)
    assert resolve_format(source, given) == expected


def test_resolve_format_from_network_name() -> None:
    """A network source's name settles the format as a path does."""
    source = parse_source("rbd://mon/images/rescue.qcow2")
    assert resolve_format(source, None) == "qcow2"


FORMAT_REQUIRED = [
    pytest.param("/srv/rescue.img", "/srv/rescue.img", id="img"),
    pytest.param("/srv/rescue", "/srv/rescue", id="no-suffix"),
    pytest.param("/srv/rescue.qcow2.part", "/srv/rescue.qcow2.part", id="suffix-not-last"),
    pytest.param("/dev/sdb", "/dev/sdb", id="block"),
    pytest.param("rbd://mon/images/rescue-img", "rbd:images/rescue-img", id="rbd"),
    pytest.param(
        "iscsi://h/iqn.2010-10.org.example:rescue/1",
        "iscsi:iqn.2010-10.org.example:rescue/1",
        id="iscsi",
    ),
]


@pytest.mark.parametrize(("source", "display"), FORMAT_REQUIRED)
def test_resolve_format_required(source: str, display: str) -> None:
    """Without a format and a telling suffix: source-format-required (never probed)."""
    with pytest.raises(RescueError) as caught:
        resolve_format(parse_source(source), None)
    assert caught.value.code == "source-format-required"
    assert caught.value.message == (
        f"format of source '{display}' is not given; expected --source-format "
        "(it is never probed from the content)"
    )


KNOWN = "raw, qcow2, qcow, qed, vmdk, vdi, vpc, bochs, cloop, dmg"


UNSUPPORTED_FORMATS = ["iso", "RAW", "", "auto", "qcow3", "vhdx", "parallels"]


@pytest.mark.parametrize(
    "given", UNSUPPORTED_FORMATS, ids=[f or "empty" for f in UNSUPPORTED_FORMATS]
)
def test_resolve_format_unsupported(given: str) -> None:
    """A format libvirt's QEMU driver does not take is unsupported-source-format.

    vhdx and parallels are QEMU's names; libvirt 9's <driver type> (storageFormat in
    domaincommon.rng) has neither.
    """
    with pytest.raises(RescueError) as caught:
        resolve_format(FILE, given)
    assert caught.value.code == "unsupported-source-format"
    assert caught.value.message == f"source format '{given}'; expected one of {KNOWN}"
