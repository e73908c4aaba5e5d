"""The rescue media's source: a path or URI -> RescueSource, and its format."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from stable_rescue.errors import RescueError
from stable_rescue.model import NetworkHost, RescueSource, SourceType
from stable_rescue.source import check_source, parse_source, resolve_format

SECRET = "2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a"
# A Ceph cluster's FSID, as a Glance location names it.
FSID = "b0f3b6a4-5c1e-4e0a-9a7d-3f1c2e4d5a6b"
IMAGE_ID = "6a1b9a8e-0f0e-4f53-9a43-25b7c0a1d9e2"

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
        "source '/srv/a\\x00b.img' holds U+0000 (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="nul",
    ),
    pytest.param(
        "/srv/a\nb.img",
        None,
        "source '/srv/a\\nb.img' holds U+000A (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="newline",
    ),
    pytest.param(
        "/srv/a\rb.img",
        None,
        "source '/srv/a\\rb.img' holds U+000D (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="carriage-return",
    ),
    pytest.param(
        "/srv/a\x1bb.img",
        None,
        "source '/srv/a\\x1bb.img' holds U+001B (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="escape",
    ),
    pytest.param(
        "/srv/a\x7fb.img",
        None,
        "source '/srv/a\\x7fb.img' holds U+007F (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="delete",
    ),
    pytest.param(
        "http://example.org/rescue.iso",
        None,
        "source scheme 'http'; expected rbd://, iscsi:// or file://",
        id="unknown-scheme",
    ),
    pytest.param(
        "RBD://mon/pool/image",
        None,
        "source scheme 'RBD'; expected rbd://, iscsi:// or file://",
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
        # 110 characters: the message keeps the first 60 and the last 37 (values are cut).
        "query of source 'rbd://u@mon/pool/image?secret=2a5b08e2-2ab4-4ec1-9e3c-bd6a8c"
        "...=2a5b08e2-2ab4-4ec1-9e3c-bd6a8c4dbe1a'; "
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
        # libvirt cuts IQN/LUN at the first slash, so this would reach QEMU as target 'iqn.x:a'.
        "iscsi://192.0.2.10/iqn.2010-10.org.example:a/b/1",
        None,
        "iscsi source 'iscsi://192.0.2.10/iqn.2010-10.org.example:a/b/1'; "
        "expected iscsi://HOST/IQN/LUN",
        id="iscsi-slash-in-iqn",
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


GLANCE_PARSED = [
    pytest.param(
        f"rbd://{FSID}/images/{IMAGE_ID}/snap",
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name=f"images/{IMAGE_ID}",
            snapshot="snap",
        ),
        id="glance-location",
    ),
    pytest.param(
        f"rbd://cinder@{FSID}/images/{IMAGE_ID}/snap?secret={SECRET}",
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name=f"images/{IMAGE_ID}",
            auth_username="cinder",
            secret_uuid=SECRET,
            secret_type="ceph",
            snapshot="snap",
        ),
        id="glance-location-user-secret",
    ),
    pytest.param(
        f"rbd://{FSID.upper()}/rescue%20pool/rescue%2Bimage/snap%201",
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="rescue pool/rescue+image",
            snapshot="snap 1",
        ),
        id="glance-location-parts-decoded-one-by-one",
    ),
]


@pytest.mark.parametrize(("source", "expected"), GLANCE_PARSED)
def test_parse_glance_location(source: str, expected: RescueSource) -> None:
    """rbd://FSID/POOL/IMAGE/SNAP (Glance's direct_url) is a snapshot with no monitor hosts.

    Three path parts tell it from rbd://MON/POOL/IMAGE; libvirt then takes the monitors from
    the host's Ceph configuration. Each part is percent-decoded on its own, as Glance encodes it.
    """
    assert parse_source(source) == expected


FILE_URIS = [
    pytest.param(
        "file:///var/lib/libvirt/images/rescue.iso",
        None,
        RescueSource(type=SourceType.FILE, path="/var/lib/libvirt/images/rescue.iso"),
        id="file-uri",
    ),
    pytest.param(
        "file:///srv/with%20space%3F%23%25.iso",
        None,
        RescueSource(type=SourceType.FILE, path="/srv/with space?#%.iso"),
        id="file-uri-percent-decoded",
    ),
    pytest.param(
        "file:///srv/r%C3%A9scue.iso",
        None,
        RescueSource(type=SourceType.FILE, path="/srv/r\u00e9scue.iso"),
        id="file-uri-utf8",
    ),
    pytest.param(
        "file://localhost/srv/rescue.iso",
        None,
        RescueSource(type=SourceType.FILE, path="/srv/rescue.iso"),
        id="file-uri-localhost",
    ),
    pytest.param(
        "file://LocalHost/srv/rescue.iso",
        None,
        RescueSource(type=SourceType.FILE, path="/srv/rescue.iso"),
        id="file-uri-localhost-any-case",
    ),
    pytest.param(
        "file:///dev/mapper/rescue",
        None,
        RescueSource(type=SourceType.BLOCK, path="/dev/mapper/rescue"),
        id="file-uri-under-dev-is-block",
    ),
    pytest.param(
        "file:///dev/sdb",
        "file",
        RescueSource(type=SourceType.FILE, path="/dev/sdb"),
        id="file-uri-override-to-file",
    ),
    pytest.param(
        "file:///srv/rescue.lv",
        "block",
        RescueSource(type=SourceType.BLOCK, path="/srv/rescue.lv"),
        id="file-uri-override-to-block",
    ),
]


@pytest.mark.parametrize(("source", "source_type", "expected"), FILE_URIS)
def test_parse_file_uri(source: str, source_type: str | None, expected: RescueSource) -> None:
    """file:///PATH (or file://localhost/PATH) names the percent-decoded path, read as a path."""
    assert parse_source(source, source_type) == expected


class BytesPath:
    """A path object whose ``__fspath__`` gives bytes, as ``os.fspath`` allows."""

    def __init__(self, path: bytes) -> None:
        self.path = path

    def __fspath__(self) -> bytes:
        return self.path

    def __repr__(self) -> str:
        return f"BytesPath({self.path!r})"


class IntPath:
    """A broken path object: its ``__fspath__`` gives neither str nor bytes."""

    def __fspath__(self) -> int:
        return 42

    def __repr__(self) -> str:
        return "IntPath()"


PATH_OBJECTS = [
    pytest.param(
        PurePosixPath("/srv/rescue.iso"),
        RescueSource(type=SourceType.FILE, path="/srv/rescue.iso"),
        id="pathlib",
    ),
    pytest.param(
        PurePosixPath("/dev/sdb"),
        RescueSource(type=SourceType.BLOCK, path="/dev/sdb"),
        id="pathlib-under-dev-is-block",
    ),
    pytest.param(
        BytesPath(b"/srv/r\xc3\xa9scue.iso"),
        RescueSource(type=SourceType.FILE, path="/srv/r\u00e9scue.iso"),
        id="bytes-path-object-utf8",
    ),
    pytest.param(
        b"/srv/rescue.iso",
        RescueSource(type=SourceType.FILE, path="/srv/rescue.iso"),
        id="bytes",
    ),
    pytest.param(
        BytesPath(b"rbd://mon/images/rescue"),
        RescueSource(
            type=SourceType.NETWORK,
            protocol="rbd",
            name="images/rescue",
            hosts=(NetworkHost(name="mon", port=6789),),
        ),
        id="bytes-path-object-uri",
    ),
]


@pytest.mark.parametrize(("source", "expected"), PATH_OBJECTS)
def test_parse_path_objects(
    source: bytes | PurePosixPath | BytesPath, expected: RescueSource
) -> None:
    """Any path os.fspath takes is read as its text: a path object's str or UTF-8 bytes."""
    assert parse_source(source) == expected


NOT_PATHS = [
    pytest.param(
        BytesPath(b"/srv/\xff.iso"),
        "source b'/srv/\\xff.iso' is not UTF-8; expected a path libvirt's XML can carry",
        id="bytes-path-object-not-utf8",
    ),
    pytest.param(
        b"/srv/\xff.iso",
        "source b'/srv/\\xff.iso' is not UTF-8; expected a path libvirt's XML can carry",
        id="bytes-not-utf8",
    ),
    pytest.param(
        # What pathlib makes of a name that is not UTF-8 (os.fsdecode's surrogateescape).
        PurePosixPath("/srv/\udcff.iso"),
        "source '/srv/\\udcff.iso' holds bytes that are not UTF-8; "
        "expected a path libvirt's XML can carry",
        id="pathlib-lone-surrogate",
    ),
    pytest.param(
        IntPath(),
        "source IntPath() gives a int for its path; expected str or bytes",
        id="fspath-gives-int",
    ),
    # Junk stays junk (these three were refused so before path objects were taken).
    pytest.param(42, "source is 42; expected a path or URI of the rescue media", id="int"),
    pytest.param(None, "source is None; expected a path or URI of the rescue media", id="none"),
    pytest.param(
        ["/srv/rescue.iso"],
        "source is ['/srv/rescue.iso']; expected a path or URI of the rescue media",
        id="list",
    ),
]


@pytest.mark.parametrize(("source", "message"), NOT_PATHS)
def test_parse_source_refuses_what_is_no_path(source: object, message: str) -> None:
    """A path that is not UTF-8 text, or a value that is no path, is invalid-source."""
    with pytest.raises(RescueError) as caught:
        parse_source(source)  # type: ignore[arg-type]
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message


FOREIGN = [
    pytest.param(
        "C:\\images\\rescue.iso",
        None,
        "source 'C:\\images\\rescue.iso' is a Windows path; "
        "expected an absolute POSIX path on the host",
        id="windows-backslashes",
    ),
    pytest.param(
        "C:/images/rescue.iso",
        None,
        "source 'C:/images/rescue.iso' is a Windows path; "
        "expected an absolute POSIX path on the host",
        id="windows-slashes",
    ),
    pytest.param(
        "d:rescue.iso",
        None,
        "source 'd:rescue.iso' is a Windows path; expected an absolute POSIX path on the host",
        id="windows-drive-relative",
    ),
    pytest.param(
        "C://images/rescue.iso",
        None,
        "source 'C://images/rescue.iso' is a Windows path; "
        "expected an absolute POSIX path on the host",
        id="windows-not-a-uri",
    ),
    pytest.param(
        "C:\\rescue.iso",
        "network",
        "source 'C:\\rescue.iso' is a Windows path; expected an absolute POSIX path on the host",
        id="windows-with-network-type",
    ),
    pytest.param(
        "\\\\server\\share\\rescue.iso",
        None,
        "source '\\\\server\\share\\rescue.iso' is a Windows UNC path; "
        "expected an absolute POSIX path on the host",
        id="windows-unc",
    ),
    pytest.param(
        "rbd:images/rescue",
        None,
        "source 'rbd:images/rescue' is QEMU's rbd:POOL/IMAGE syntax; "
        "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
        id="qemu-rbd",
    ),
    pytest.param(
        "rbd:images/rescue@snap:id=cinder:conf=/etc/ceph/ceph.conf",
        "network",
        "source 'rbd:images/rescue@snap:id=cinder:conf=/etc/ceph/ceph.conf' is QEMU's "
        "rbd:POOL/IMAGE syntax; expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
        id="qemu-rbd-options-network-type",
    ),
    pytest.param(
        "nbd:192.0.2.1:10809:exportname=rescue",
        None,
        "source 'nbd:192.0.2.1:10809:exportname=rescue' is QEMU's nbd: syntax; "
        "expected an absolute path on the host or an rbd:// or iscsi:// URI",
        id="qemu-nbd",
    ),
    pytest.param(
        "gluster+tcp:server/volume/rescue.iso",
        None,
        "source 'gluster+tcp:server/volume/rescue.iso' is QEMU's gluster+tcp: syntax; "
        "expected an absolute path on the host or an rbd:// or iscsi:// URI",
        id="qemu-gluster-transport",
    ),
    pytest.param(
        "sheepdog:rescue",
        "file",
        "source 'sheepdog:rescue' is QEMU's sheepdog: syntax; "
        "expected an absolute path on the host or an rbd:// or iscsi:// URI",
        id="qemu-sheepdog-file-type",
    ),
    pytest.param(
        'json:{"driver":"raw"}',
        None,
        'source \'json:{"driver":"raw"}\' is QEMU\'s json: syntax; '
        "expected an absolute path on the host or an rbd:// or iscsi:// URI",
        id="qemu-json",
    ),
    pytest.param(
        "iscsi:192.0.2.10/iqn.2010-10.org.example:rescue/1",
        None,
        "source 'iscsi:192.0.2.10/iqn.2010-10.org.example:rescue/1' has no '//' after 'iscsi:'; "
        "expected iscsi://HOST/IQN/LUN",
        id="iscsi-without-slashes",
    ),
    pytest.param(
        "file:/srv/rescue.iso",
        None,
        "source 'file:/srv/rescue.iso' has no '//' after 'file:'; "
        "expected file:///PATH or an absolute path",
        id="file-without-slashes",
    ),
]


@pytest.mark.parametrize(("source", "source_type", "message"), FOREIGN)
def test_parse_source_names_foreign_syntax(
    source: str, source_type: str | None, message: str
) -> None:
    """Windows and UNC paths and QEMU's PROTOCOL:REST filenames are named, not called relative."""
    with pytest.raises(RescueError) as caught:
        parse_source(source, source_type)
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message


URI_REFUSED = [
    pytest.param(
        f"rbd://mon1/images/{IMAGE_ID}/snap",
        None,
        f"rbd source 'rbd://mon1/images/{IMAGE_ID}/snap' has a snapshot but 'mon1' is not a "
        "cluster FSID; expected rbd://FSID/POOL/IMAGE/SNAP (a Glance location) "
        "or rbd://MON/POOL/IMAGE",
        id="glance-form-with-monitor",
    ),
    pytest.param(
        f"rbd://{FSID}:6789/images/rescue/snap",
        None,
        f"rbd source 'rbd://{FSID}:6789/images/rescue/snap' has a snapshot but '{FSID}:6789' is "
        "not a cluster FSID; expected rbd://FSID/POOL/IMAGE/SNAP (a Glance location) "
        "or rbd://MON/POOL/IMAGE",
        id="glance-form-fsid-with-port",
    ),
    pytest.param(
        f"rbd://{FSID}/images/rescue",
        None,
        f"rbd source 'rbd://{FSID}/images/rescue' names cluster FSID '{FSID}' where monitors "
        "go; expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP (a Glance location)",
        id="fsid-as-monitor",
    ),
    pytest.param(
        f"rbd://{FSID}/images/rescue/snap/more",
        None,
        f"rbd source 'rbd://{FSID}/images/rescue/snap/more' has 4 path parts; "
        "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
        id="four-path-parts",
    ),
    pytest.param(
        f"rbd://{FSID}/images//snap",
        None,
        f"rbd source 'rbd://{FSID}/images//snap'; expected rbd://FSID/POOL/IMAGE/SNAP",
        id="glance-form-empty-image",
    ),
    pytest.param(
        f"rbd://{FSID}/images/rescue/",
        None,
        f"rbd source 'rbd://{FSID}/images/rescue/'; expected rbd://FSID/POOL/IMAGE/SNAP",
        id="glance-form-empty-snapshot",
    ),
    pytest.param(
        "rbd://mon/images%2Fother/rescue",
        None,
        "rbd source 'rbd://mon/images%2Fother/rescue' has an encoded '/' in a pool, image or "
        "snapshot name; expected names without '/'",
        id="encoded-slash-in-pool",
    ),
    pytest.param(
        "rbd://mon/images/res%00cue",
        None,
        "source 'rbd://mon/images/res%00cue' percent-decodes to U+0000 (a control character); "
        "expected plain names",
        id="encoded-nul-in-image",
    ),
    pytest.param(
        "rbd://mon/images/res%FFcue",
        None,
        "source 'rbd://mon/images/res%FFcue' percent-decodes to bytes that are not UTF-8; "
        "expected UTF-8 names",
        id="encoded-non-utf8-in-image",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.example:res%0Acue/1",
        None,
        "source 'iscsi://192.0.2.10/iqn.2010-10.org.example:res%0Acue/1' percent-decodes to "
        "U+000A (a control character); expected plain names",
        id="encoded-newline-in-iqn",
    ),
    pytest.param(
        "file://fileserver/srv/rescue.iso",
        None,
        "source 'file://fileserver/srv/rescue.iso' names host 'fileserver'; "
        "expected a local file:///PATH",
        id="file-uri-remote-host",
    ),
    pytest.param(
        "file://",
        None,
        "source 'file://' has no path; expected file:///PATH",
        id="file-uri-empty",
    ),
    pytest.param(
        "file://localhost",
        None,
        "source 'file://localhost' has no path; expected file:///PATH",
        id="file-uri-localhost-no-path",
    ),
    pytest.param(
        "file:///srv/rescue.iso?format=raw",
        None,
        "source 'file:///srv/rescue.iso?format=raw' has a query or fragment; expected "
        "file:///PATH (a '?' or '#' in a name is written %3F or %23)",
        id="file-uri-query",
    ),
    pytest.param(
        "file:///srv/rescue.iso#part",
        None,
        "source 'file:///srv/rescue.iso#part' has a query or fragment; expected "
        "file:///PATH (a '?' or '#' in a name is written %3F or %23)",
        id="file-uri-fragment",
    ),
    pytest.param(
        "file:///srv/res%0Acue.iso",
        None,
        "source 'file:///srv/res%0Acue.iso' percent-decodes to U+000A (a control character); "
        "expected plain names",
        id="file-uri-encoded-newline",
    ),
    pytest.param(
        "file:///srv/res%FFcue.iso",
        None,
        "source 'file:///srv/res%FFcue.iso' percent-decodes to bytes that are not UTF-8; "
        "expected UTF-8 names",
        id="file-uri-encoded-non-utf8",
    ),
    pytest.param(
        "file:///C:/images/rescue.iso",
        None,
        "source 'file:///C:/images/rescue.iso' is a Windows file URI; "
        "expected an absolute POSIX path on the host",
        id="file-uri-windows",
    ),
    pytest.param(
        "file:///srv/rescue.iso",
        "network",
        "source 'file:///srv/rescue.iso' is a file:// URI; "
        "a network source needs rbd:// or iscsi://",
        id="file-uri-network-type",
    ),
]


@pytest.mark.parametrize(("source", "source_type", "message"), URI_REFUSED)
def test_parse_uri_refused(source: str, source_type: str | None, message: str) -> None:
    """Glance locations, file:// URIs and percent-encoded names are checked part by part."""
    with pytest.raises(RescueError) as caught:
        parse_source(source, source_type)
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message


READ_ONLY = [
    pytest.param(f"rbd://{FSID}/images/rescue/snap", True, id="rbd-snapshot"),
    pytest.param("rbd://mon/images/rescue", False, id="rbd-image"),
    pytest.param("/srv/rescue.iso", False, id="file"),
    pytest.param("/dev/sdb", False, id="block"),
]


@pytest.mark.parametrize(("source", "read_only"), READ_ONLY)
def test_read_only_media(source: str, read_only: bool) -> None:
    """An RBD snapshot can only be read (Ceph snapshots are immutable); other media can be written.

    The rescue disk gets <readonly/> for it: QEMU opens an rbd snapshot read-only, and a
    read-write disk on it would not start.
    """
    assert parse_source(source).read_only is read_only


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


SETTLED_BY_NAME = [
    pytest.param(f"rbd://{FSID}/images/rescue.iso/snap", "raw", id="rbd-snapshot-image-name"),
    pytest.param("file:///srv/rescue.qcow2", "qcow2", id="file-uri"),
    pytest.param("file:///srv/rescue%2Eiso", "raw", id="file-uri-decoded-first"),
]


@pytest.mark.parametrize(("source", "expected"), SETTLED_BY_NAME)
def test_resolve_format_from_image_or_decoded_path(source: str, expected: str) -> None:
    """The name that settles the format: an RBD snapshot's image, a file:// URI's decoded path.

    A snapshot's own name settles nothing (Glance calls them all 'snap').
    """
    assert resolve_format(parse_source(source), None) == expected


FORMAT_REQUIRED = [
    pytest.param("/srv/rescue.img", "/srv/rescue.img", id="img"),
    pytest.param("/srv/rescue", "/srv/rescue", id="no-suffix"),
    pytest.param("/srv/rescue.qcow2.part", "/srv/rescue.qcow2.part", id="suffix-not-last"),
    pytest.param("/dev/sdb", "/dev/sdb", id="block"),
    pytest.param("rbd://mon/images/rescue-img", "rbd:images/rescue-img", id="rbd"),
    pytest.param(
        f"rbd://{FSID}/images/{IMAGE_ID}/snap",
        f"rbd:images/{IMAGE_ID}@snap",
        id="rbd-snapshot-shown-with-at",
    ),
    pytest.param(
        f"rbd://{FSID}/images/rescue/snap.iso",
        "rbd:images/rescue@snap.iso",
        id="rbd-snapshot-name-settles-nothing",
    ),
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


# --- issue 12: injection and characters XML cannot carry ---------------------------------------

URI_REFUSED_ISSUE_12 = [
    pytest.param(
        f"rbd://u@mon/pool/image?secret={SECRET}%0A",
        f"secret '{SECRET}\\n' in source 'rbd://u@mon/pool/image?secret={SECRET}%0A'; "
        "expected a UUID",
        id="secret-with-encoded-newline",
    ),
    pytest.param(
        "rbd://mon:\u0661\u0662/pool/image",
        "host 'mon:\u0661\u0662' in source 'rbd://mon:\u0661\u0662/pool/image'; "
        "expected HOST[:PORT]",
        id="port-in-arabic-indic-digits",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/\u00b2",
        "iscsi source 'iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/\u00b2'; "
        "expected iscsi://HOST/IQN/LUN",
        id="lun-superscript-two",
    ),
    pytest.param(
        "iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/\u0661",
        "iscsi source 'iscsi://192.0.2.10/iqn.2010-10.org.example:rescue/\u0661'; "
        "expected iscsi://HOST/IQN/LUN",
        id="lun-arabic-indic-digit",
    ),
    pytest.param(
        "rbd://[::1::2]/pool/image",
        "host '[::1::2]' in source 'rbd://[::1::2]/pool/image'; expected HOST[:PORT]",
        id="ipv6-malformed",
    ),
    pytest.param(
        f"rbd://mon:{'9' * 5000}/pool/image",
        f"port {'9' * 60}...{'9' * 37} in source 'rbd://mon:{'9' * 50}...{'9' * 26}/pool/image'; "
        "expected 1 to 65535",
        id="port-of-5000-digits",
    ),
    pytest.param(
        "rbd://mon:000006789/pool/image%ef%bf%be",
        "source 'rbd://mon:000006789/pool/image%ef%bf%be' percent-decodes to U+FFFE "
        "(a noncharacter); expected plain names",
        id="encoded-fffe",
    ),
]


@pytest.mark.parametrize(("source", "message"), URI_REFUSED_ISSUE_12)
def test_parse_uri_refused_issue_12(source: str, message: str) -> None:
    """What the URI parser let through before issue 12, now invalid-source.

    A secret with a newline after it (the UUID check was anchored with ``$``), other scripts'
    digits as port or LUN (``re``'s digit class, ``str.isdigit``), and a port of 5,000 digits (a
    ValueError from int()).
    """
    with pytest.raises(RescueError) as caught:
        parse_source(source)
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message


def test_port_with_leading_zeros() -> None:
    """Leading zeros do not count towards a port's five digits."""
    parsed = parse_source("rbd://mon:000006789/pool/image")
    assert parsed.hosts == (NetworkHost(name="mon", port=6789),)


def test_undecodable_bytes_in_a_path_string() -> None:
    """sys.argv holds a byte that is not UTF-8 as a lone surrogate: refused, never written."""
    with pytest.raises(RescueError) as caught:
        parse_source("/srv/\udcff.iso")
    assert caught.value.code == "invalid-source"
    assert caught.value.message == (
        "source '/srv/\\udcff.iso' holds bytes that are not UTF-8; "
        "expected a path libvirt's XML can carry"
    )


def _rbd(**fields: Any) -> RescueSource:
    """An rbd RescueSource with one field changed, built as an API caller may."""
    base: dict[str, Any] = {
        "type": SourceType.NETWORK,
        "protocol": "rbd",
        "name": "pool/image",
        "hosts": (NetworkHost(name="mon", port=6789),),
        "auth_username": "cinder",
        "secret_uuid": SECRET,
        "secret_type": "ceph",
    }
    return RescueSource(**{**base, **fields})


def _iscsi(**fields: Any) -> RescueSource:
    base: dict[str, Any] = {
        "type": SourceType.NETWORK,
        "protocol": "iscsi",
        "name": "iqn.2010-10.org.example:rescue/1",
        "hosts": (NetworkHost(name="192.0.2.10", port=3260),),
    }
    return RescueSource(**{**base, **fields})


INJECTION = "x'/><evil/><y a='"

SOURCES_REFUSED = [
    pytest.param(
        RescueSource(type="file", path="/srv/r.iso"),  # type: ignore[arg-type]
        "RescueSource type is str 'file'; expected a SourceType (file, block, network)",
        id="type-a-string",
    ),
    pytest.param(
        RescueSource(type=SourceType.FILE, path=3),  # type: ignore[arg-type]
        "RescueSource path is int 3; expected a non-empty string",
        id="path-an-int",
    ),
    pytest.param(
        RescueSource(type=SourceType.FILE),
        "RescueSource path is str ''; expected a non-empty string",
        id="file-without-path",
    ),
    pytest.param(
        RescueSource(type=SourceType.BLOCK, path="dev/sdb"),
        "RescueSource path 'dev/sdb' is relative; expected an absolute path on the host",
        id="block-relative",
    ),
    pytest.param(
        RescueSource(type=SourceType.FILE, path="/srv/a\x00b.iso"),
        "RescueSource path '/srv/a\\x00b.iso' holds U+0000 (a control character) at index 6; "
        "expected a plain path or URI without control characters",
        id="path-nul",
    ),
    pytest.param(
        RescueSource(type=SourceType.FILE, path="/srv/\udcff.iso"),
        "RescueSource path '/srv/\\udcff.iso' holds bytes that are not UTF-8; "
        "expected a path libvirt's XML can carry",
        id="path-surrogate",
    ),
    pytest.param(
        RescueSource(type=SourceType.FILE, path="/srv/r.iso", protocol="rbd"),
        "RescueSource of type 'file' has protocol; expected only a path (those belong to a "
        "network source)",
        id="file-with-protocol",
    ),
    pytest.param(
        RescueSource(type=SourceType.BLOCK, path="/dev/sdb", hosts=(NetworkHost(name="h"),)),
        "RescueSource of type 'block' has hosts; expected only a path (those belong to a "
        "network source)",
        id="block-with-hosts",
    ),
    pytest.param(
        _rbd(path="/srv/r.iso"),
        "RescueSource of type 'network' has path str '/srv/r.iso'; expected no path (a network "
        "source has protocol, name and hosts)",
        id="network-with-path",
    ),
    pytest.param(
        _rbd(protocol=f"rbd{INJECTION}"),
        f"RescueSource protocol 'rbd{INJECTION}'; expected one of rbd, iscsi",
        id="protocol-injection",
    ),
    pytest.param(
        _rbd(protocol="nbd"),
        "RescueSource protocol 'nbd'; expected one of rbd, iscsi",
        id="protocol-unsupported",
    ),
    pytest.param(
        _rbd(protocol=None),
        "RescueSource protocol NoneType None; expected one of rbd, iscsi",
        id="protocol-missing",
    ),
    pytest.param(
        _rbd(name=None),
        "RescueSource name is NoneType None; expected a non-empty string",
        id="name-missing",
    ),
    pytest.param(
        _rbd(name="pool/image\x1b"),
        "RescueSource name 'pool/image\\x1b' holds U+001B (a control character) at index 10; "
        "expected a plain path or URI without control characters",
        id="name-escape",
    ),
    pytest.param(
        _rbd(name="image"),
        "RescueSource name 'image' for protocol 'rbd'; expected POOL/IMAGE",
        id="rbd-name-without-pool",
    ),
    pytest.param(
        _rbd(snapshot="a/b"),
        "RescueSource snapshot 'a/b'; expected a name without '/'",
        id="rbd-snapshot-with-slash",
    ),
    pytest.param(
        _rbd(snapshot="snap\udcff"),
        "RescueSource snapshot 'snap\\udcff' holds bytes that are not UTF-8; "
        "expected a path libvirt's XML can carry",
        id="rbd-snapshot-surrogate",
    ),
    pytest.param(
        _iscsi(name="iqn.2010-10.org.example:rescue/\u00b2"),
        "RescueSource name 'iqn.2010-10.org.example:rescue/\u00b2' for protocol 'iscsi'; "
        "expected IQN/LUN, the IQN without '/' and the LUN in ASCII digits",
        id="iscsi-lun-not-ascii-digits",
    ),
    pytest.param(
        _iscsi(name="iqn.2010-10.org.example:a/b/1"),
        "RescueSource name 'iqn.2010-10.org.example:a/b/1' for protocol 'iscsi'; "
        "expected IQN/LUN, the IQN without '/' and the LUN in ASCII digits",
        id="iscsi-slash-in-iqn",
    ),
    pytest.param(
        _iscsi(snapshot="s"),
        "RescueSource snapshot 's' for protocol 'iscsi'; expected none (only an rbd image has "
        "snapshots)",
        id="iscsi-snapshot",
    ),
    pytest.param(
        _iscsi(hosts=()),
        "RescueSource for protocol 'iscsi' has 0 hosts; expected one",
        id="iscsi-no-host",
    ),
    pytest.param(
        _rbd(hosts=None),
        "RescueSource hosts is NoneType None; expected a tuple of NetworkHost",
        id="hosts-none",
    ),
    pytest.param(
        _rbd(hosts=[NetworkHost(name="mon")]),
        "RescueSource hosts is list [NetworkHost(name='mon', port=None)]; "
        "expected a tuple of NetworkHost",
        id="hosts-a-list",
    ),
    pytest.param(
        _rbd(hosts=("mon",)),
        "RescueSource hosts is tuple ('mon',); expected a tuple of NetworkHost",
        id="hosts-of-strings",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name=f"mon{INJECTION}"),)),
        f"RescueSource host name 'mon{INJECTION}'; expected a DNS name, an IPv4 address or an "
        "IPv6 address (without brackets)",
        id="host-name-injection",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name="[::1]"),)),
        "RescueSource host name '[::1]'; expected a DNS name, an IPv4 address or an IPv6 "
        "address (without brackets)",
        id="host-name-bracketed",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name=7),)),  # type: ignore[arg-type]
        "RescueSource host name int 7; expected a DNS name, an IPv4 address or an IPv6 address "
        "(without brackets)",
        id="host-name-an-int",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name="mon", port=f"1{INJECTION}"),)),  # type: ignore[arg-type]
        f"RescueSource port str \"1{INJECTION}\" of host 'mon'; expected an integer from 1 to "
        "65535, or None",
        id="port-injection",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name="mon", port=0),)),
        "RescueSource port int 0 of host 'mon'; expected an integer from 1 to 65535, or None",
        id="port-zero",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name="mon", port=65536),)),
        "RescueSource port int 65536 of host 'mon'; expected an integer from 1 to 65535, or None",
        id="port-too-big",
    ),
    pytest.param(
        _rbd(hosts=(NetworkHost(name="mon", port=True),)),
        "RescueSource port bool True of host 'mon'; expected an integer from 1 to 65535, or None",
        id="port-a-bool",
    ),
    pytest.param(
        _rbd(secret_uuid=INJECTION),
        f"RescueSource secret_uuid '{INJECTION}'; expected a UUID",
        id="secret-injection",
    ),
    pytest.param(
        _rbd(secret_uuid=SECRET + "\n"),
        f"RescueSource secret_uuid '{SECRET}\\n'; expected a UUID",
        id="secret-trailing-newline",
    ),
    pytest.param(
        _rbd(secret_type=INJECTION),
        f"RescueSource secret_type '{INJECTION}' for protocol 'rbd'; expected 'ceph'",
        id="secret-type-injection",
    ),
    pytest.param(
        _rbd(secret_type=None),
        "RescueSource secret_type NoneType None for protocol 'rbd'; expected 'ceph'",
        id="secret-type-missing",
    ),
    pytest.param(
        _iscsi(auth_username="chap", secret_uuid=SECRET, secret_type="ceph"),
        "RescueSource secret_type 'ceph' for protocol 'iscsi'; expected 'iscsi'",
        id="secret-type-of-other-protocol",
    ),
    pytest.param(
        _rbd(auth_username=None),
        "RescueSource has a secret but no auth_username; expected both or neither",
        id="secret-without-user",
    ),
    pytest.param(
        _rbd(secret_uuid=None, secret_type=None),
        "RescueSource has a user but no secret_uuid; expected both or neither",
        id="user-without-secret",
    ),
    pytest.param(
        _rbd(auth_username=None, secret_uuid=None),
        "RescueSource secret_type str 'ceph' without a secret_uuid; expected None",
        id="secret-type-alone",
    ),
    pytest.param(
        _rbd(auth_username=""),
        "RescueSource auth_username is str ''; expected a non-empty string",
        id="user-empty",
    ),
]


@pytest.mark.parametrize(("source", "message"), SOURCES_REFUSED)
def test_rescue_source_fields_checked(source: RescueSource, message: str) -> None:
    """A RescueSource built by a caller is checked field by field, raising invalid-source.

    Never a TypeError or AttributeError, and never a value written unescaped into the XML.

    Before issue 12 ``parse_source`` passed it through unchecked: ``render`` wrote protocol,
    port, secret type and UUID as they were (``<source protocol='rbd'/><evil/>...``), and a
    wrong type failed deep inside (``'int' object has no attribute 'lower'``).
    """
    with pytest.raises(RescueError) as caught:
        parse_source(source)
    assert caught.value.code == "invalid-source"
    assert caught.value.message == message


SOURCES_ACCEPTED = [
    pytest.param(RescueSource(type=SourceType.FILE, path="/srv/a b\t'c'&<d>.iso"), id="file"),
    pytest.param(RescueSource(type=SourceType.BLOCK, path="/dev/sdb"), id="block"),
    pytest.param(_rbd(), id="rbd-with-secret"),
    pytest.param(_rbd(auth_username=None, secret_uuid=None, secret_type=None), id="rbd"),
    pytest.param(_rbd(hosts=(), snapshot="snap"), id="rbd-snapshot-no-hosts"),
    pytest.param(
        _rbd(
            hosts=(
                NetworkHost(name="2001:db8::3", port=6791),
                NetworkHost(name="10.0.0.1"),
                NetworkHost(name="mon_1.example"),
            )
        ),
        id="rbd-hosts-ipv6-ipv4-name-default-port",
    ),
    pytest.param(_iscsi(), id="iscsi"),
    pytest.param(
        _iscsi(auth_username="chap", secret_uuid=SECRET.upper(), secret_type="iscsi"),
        id="iscsi-chap",
    ),
]


@pytest.mark.parametrize("source", SOURCES_ACCEPTED)
def test_rescue_source_accepted_as_it_is(source: RescueSource) -> None:
    """A RescueSource whose fields are all fine is used as it is (the same object)."""
    assert parse_source(source) is source
    assert parse_source(source, source.type.value) is source


def test_rescue_source_with_other_source_type() -> None:
    """A source_type that contradicts the RescueSource is refused, not silently ignored."""
    with pytest.raises(RescueError) as caught:
        parse_source(RescueSource(type=SourceType.BLOCK, path="/dev/sdb"), "network")
    assert caught.value.code == "invalid-source"
    assert caught.value.message == (
        "source type 'network' given with a RescueSource of type SourceType "
        "<SourceType.BLOCK: 'block'>; expected no source type, or the RescueSource's own"
    )


def test_parsed_sources_pass_the_field_check() -> None:
    """What parse_source makes of a path or URI passes the check that a caller's one gets."""
    for param in PARSED:
        parsed = parse_source(*param.values[:2])  # type: ignore[arg-type]
        assert check_source(parsed) is parsed
