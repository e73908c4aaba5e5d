"""The rescue media's source: a path or URI (as ``--source`` takes it) -> ``RescueSource``.

A path under ``/dev/`` is a block device, another absolute path a file (``file:///PATH`` names
one too), a URI a network disk: ``rbd://[USER@]MON[:PORT][,MON...]/POOL/IMAGE[?secret=UUID]``,
a Glance location ``rbd://[USER@]FSID/POOL/IMAGE/SNAP[?secret=UUID]`` (an RBD snapshot, reached
through the host's Ceph configuration) and ``iscsi://[USER@]HOST[:PORT]/IQN/LUN[?secret=UUID]``.
The format is never probed from the media's content (libvirt stopped doing that because a guest
could then choose it); only the name may settle it.
"""

from __future__ import annotations

import re
from typing import Protocol
from urllib.parse import parse_qs, unquote

from stable_rescue.errors import InvalidSource, SourceFormatRequired, UnsupportedSourceFormat
from stable_rescue.model import NetworkHost, RescueSource, SourceType

# Formats libvirt's QEMU driver takes for a disk's <driver type>, each defined in libvirt 9.0
# ('vhdx', 'parallels' and 'luks' are "unknown driver format value" there).
SOURCE_FORMATS = (
    "raw",
    "qcow2",
    "qcow",
    "qed",
    "vmdk",
    "vdi",
    "vpc",
    "bochs",
    "cloop",
    "dmg",
)

# Suffixes that leave no doubt about the format (an ISO 9660 image is raw to QEMU).
_FORMAT_BY_SUFFIX = {".qcow2": "qcow2", ".raw": "raw", ".iso": "raw"}

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HOST = re.compile(
    r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$"
)
# Characters XML 1.0 cannot carry, and which no path or URI needs.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
# Lone surrogates: what Python makes of bytes that are not UTF-8 (``os.fsdecode``); no XML
# document can carry them.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_DEFAULT_PORTS = {"rbd": 6789, "iscsi": 3260}
# A drive letter (``C:\x``, ``C:/x``, ``C:x``): no URI scheme has one letter.
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# The same inside a file URI: file:///C:/x (RFC 8089, appendix E.2).
_WINDOWS_FILE_URI_PATH = re.compile(r"^/[A-Za-z]:(?:[/\\]|$)")
# QEMU's legacy filenames, PROTOCOL:REST without '//' (QEMU's bdrv_find_protocol reads the
# PROTOCOL before the first ':'), or a URI that lost its '//'.
_SCHEME_WITHOUT_SLASHES = re.compile(r"^(?P<word>[A-Za-z][A-Za-z0-9+._-]+):(?!//)")
# Block protocols whose QEMU filenames start PROTOCOL: (block/*.c protocol_name); 'rbd', 'iscsi'
# and 'file' have messages of their own.
_QEMU_PROTOCOLS = frozenset(
    {
        "fat",
        "ftp",
        "ftps",
        "gluster",
        "host_cdrom",
        "host_device",
        "http",
        "https",
        "json",
        "nbd",
        "nfs",
        "sheepdog",
        "ssh",
        "vxhs",
    }
)
_FILE_URI = "file://"


class FsPath(Protocol):
    """What ``os.fspath`` takes besides ``str`` and ``bytes``: a path object (``pathlib.Path``)."""

    def __fspath__(self) -> str | bytes: ...


def parse_source(
    source: str | bytes | FsPath | RescueSource, source_type: str | None = None
) -> RescueSource:
    """The ``RescueSource`` for ``source``, with ``source_type`` overriding the guess.

    ``source`` is read as ``os.fspath`` reads a path (a path object's ``__fspath__``; bytes as
    UTF-8); a ``RescueSource`` is taken as it is. Anything else is ``InvalidSource``.
    """
    if isinstance(source, RescueSource):
        return source
    text = _source_text(source)
    if not text:
        raise InvalidSource(
            f"source is {source!r}; expected a path or URI of the rescue media", source=str(source)
        )
    _check_characters(text)
    kind = _source_type(source_type)
    if not text.startswith("/"):
        _refuse_foreign_syntax(text)
    if text.startswith(_FILE_URI):
        if kind is SourceType.NETWORK:
            raise InvalidSource(
                f"source '{text}' is a file:// URI; a network source needs rbd:// or iscsi://",
                source=text,
            )
        path = _file_uri_path(text)
        return RescueSource(type=kind or _path_type(path), path=path)
    # An absolute path stays a path even if it contains '://'.
    is_uri = not text.startswith("/") and "://" in text
    if kind is None:
        kind = SourceType.NETWORK if is_uri else _path_type(text)
    if kind is SourceType.NETWORK:
        if not is_uri:
            raise InvalidSource(
                f"source '{text}' is not a URI; a network source needs rbd:// or iscsi://",
                source=text,
            )
        return _network_source(text)
    if is_uri:
        raise InvalidSource(
            f"source '{text}' is a URI; source type '{kind.value}' needs an absolute path",
            source=text,
        )
    if not text.startswith("/"):
        raise InvalidSource(
            f"source path '{text}' is relative; expected an absolute path on the host",
            source=text,
        )
    return RescueSource(type=kind, path=text)


def _source_text(source: object) -> str:
    """``source`` as text, by ``os.fspath``'s rules (the core imports no ``os``)."""
    value = source
    if not isinstance(value, (str, bytes)):
        # os.fspath looks __fspath__ up on the type, as here.
        fspath = getattr(type(value), "__fspath__", None)
        if not callable(fspath):
            raise InvalidSource(
                f"source is {source!r}; expected a path or URI of the rescue media",
                source=repr(source),
            )
        value = fspath(value)
        if not isinstance(value, (str, bytes)):
            raise InvalidSource(
                f"source {source!r} gives a {type(value).__name__} for its path; "
                "expected str or bytes",
                source=repr(source),
            )
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSource(
                f"source {value!r} is not UTF-8; expected a path libvirt's XML can carry",
                source=repr(value),
            ) from None
    return value


def _check_characters(text: str) -> None:
    if _FORBIDDEN.search(text) or "\n" in text or "\r" in text:
        raise InvalidSource(
            "source contains control characters; expected a plain path or URI", source=text
        )
    if _SURROGATES.search(text):
        raise InvalidSource(
            f"source {text!r} holds bytes that are not UTF-8; expected a path libvirt's XML "
            "can carry",
            source=repr(text),
        )


def _path_type(path: str) -> SourceType:
    return SourceType.BLOCK if path.startswith("/dev/") else SourceType.FILE


def _refuse_foreign_syntax(text: str) -> None:
    """Refuse, by name, what is no POSIX path: Windows and UNC paths, QEMU's legacy filenames."""
    if text.startswith("\\\\"):
        raise InvalidSource(
            f"source '{text}' is a Windows UNC path; expected an absolute POSIX path on the host",
            source=text,
        )
    if _WINDOWS_DRIVE.match(text):
        raise InvalidSource(
            f"source '{text}' is a Windows path; expected an absolute POSIX path on the host",
            source=text,
        )
    match = _SCHEME_WITHOUT_SLASHES.match(text)
    if match is None:
        return
    word = match.group("word")
    if word == "rbd":
        raise InvalidSource(
            f"source '{text}' is QEMU's rbd:POOL/IMAGE syntax; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
            source=text,
        )
    if word in ("iscsi", "file"):
        form = "iscsi://HOST/IQN/LUN" if word == "iscsi" else "file:///PATH or an absolute path"
        raise InvalidSource(
            f"source '{text}' has no '//' after '{word}:'; expected {form}", source=text
        )
    if word.partition("+")[0] in _QEMU_PROTOCOLS:
        raise InvalidSource(
            f"source '{text}' is QEMU's {word}: syntax; expected an absolute path on the host "
            "or an rbd:// or iscsi:// URI",
            source=text,
        )


def _file_uri_path(uri: str) -> str:
    """The absolute path a ``file:`` URI names: ``file:///PATH`` or ``file://localhost/PATH``."""
    rest = uri[len(_FILE_URI) :]
    if "?" in rest or "#" in rest:
        raise InvalidSource(
            f"source '{uri}' has a query or fragment; expected file:///PATH "
            "(a '?' or '#' in a name is written %3F or %23)",
            source=uri,
        )
    host, slash, path = rest.partition("/")
    # RFC 8089: an empty host and 'localhost' both mean this machine; any other is remote.
    if host and host.lower() != "localhost":
        raise InvalidSource(
            f"source '{uri}' names host '{host}'; expected a local file:///PATH", source=uri
        )
    if not slash:
        raise InvalidSource(f"source '{uri}' has no path; expected file:///PATH", source=uri)
    decoded = "/" + _decode(path, uri)
    if _WINDOWS_FILE_URI_PATH.match(decoded):
        raise InvalidSource(
            f"source '{uri}' is a Windows file URI; expected an absolute POSIX path on the host",
            source=uri,
        )
    return decoded


def _decode(text: str, uri: str) -> str:
    """``text`` percent-decoded as UTF-8, refusing what XML cannot carry."""
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidSource(
            f"source '{uri}' percent-decodes to bytes that are not UTF-8; expected UTF-8 names",
            source=uri,
        ) from None
    if _FORBIDDEN.search(decoded) or "\n" in decoded or "\r" in decoded:
        raise InvalidSource(
            f"source '{uri}' percent-decodes to control characters; expected plain names",
            source=uri,
        )
    return decoded


def _source_type(source_type: str | None) -> SourceType | None:
    if source_type is None:
        return None
    try:
        return SourceType(source_type)
    except ValueError:
        raise InvalidSource(
            f"source type '{source_type}'; expected one of file, block, network",
            source_type=source_type,
        ) from None


def _network_source(uri: str) -> RescueSource:
    scheme, _, rest = uri.partition("://")
    if scheme not in ("rbd", "iscsi"):
        raise InvalidSource(
            f"source scheme '{scheme}'; expected rbd://, iscsi:// or file://", source=uri
        )
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if not slash or not path:
        raise InvalidSource(f"source '{uri}' has no path after the host", source=uri)
    user = None
    if "@" in authority:
        user, _, authority = authority.rpartition("@")
        user = _decode(user, uri)
        if not user:
            raise InvalidSource(f"source '{uri}' has an empty user name", source=uri)
    if scheme == "rbd":
        return _rbd_source(uri, user, authority, path, query)
    hosts = tuple(_host(part, scheme, uri) for part in authority.split(","))
    secret = _secret(query, uri)
    _check_user_and_secret(uri, user, secret)
    if len(hosts) != 1:
        raise InvalidSource(
            f"iscsi source '{uri}' names {len(hosts)} hosts; expected one", source=uri
        )
    name = _decode(path, uri)
    iqn, _, lun = name.rpartition("/")
    if not iqn or not lun.isdigit():
        raise InvalidSource(f"iscsi source '{uri}'; expected iscsi://HOST/IQN/LUN", source=uri)
    return RescueSource(
        type=SourceType.NETWORK,
        protocol=scheme,
        name=name,
        hosts=hosts,
        auth_username=user,
        secret_uuid=secret,
        secret_type="iscsi" if secret else None,
    )


def _rbd_source(uri: str, user: str | None, authority: str, path: str, query: str) -> RescueSource:
    """An RBD image behind monitors, or a Glance location: a snapshot in the host's cluster.

    Glance (glance_store's rbd StoreLocation) writes ``rbd://FSID/POOL/IMAGE/SNAP``, each part
    percent-encoded on its own; three path parts tell it from ``rbd://MON/POOL/IMAGE``. libvirt
    has no place for the FSID: without ``<host>`` the monitors come from the host's Ceph
    configuration, and the FSID is not checked against it.
    """
    parts = path.split("/")
    if len(parts) > 3:
        raise InvalidSource(
            f"rbd source '{uri}' has {len(parts)} path parts; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
            source=uri,
        )
    snapshot_form = len(parts) == 3
    if snapshot_form and not _UUID.match(authority):
        raise InvalidSource(
            f"rbd source '{uri}' has a snapshot but '{authority}' is not a cluster FSID; "
            "expected rbd://FSID/POOL/IMAGE/SNAP (a Glance location) or rbd://MON/POOL/IMAGE",
            source=uri,
        )
    if not snapshot_form and _UUID.match(authority):
        raise InvalidSource(
            f"rbd source '{uri}' names cluster FSID '{authority}' where monitors go; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP (a Glance location)",
            source=uri,
        )
    hosts = () if snapshot_form else tuple(_host(part, "rbd", uri) for part in authority.split(","))
    secret = _secret(query, uri)
    _check_user_and_secret(uri, user, secret)
    names = [_decode(part, uri) for part in parts]
    if len(names) < 2 or not all(names):
        form = "rbd://FSID/POOL/IMAGE/SNAP" if snapshot_form else "rbd://MON/POOL/IMAGE"
        raise InvalidSource(f"rbd source '{uri}'; expected {form}", source=uri)
    if any("/" in name for name in names):
        raise InvalidSource(
            f"rbd source '{uri}' has an encoded '/' in a pool, image or snapshot name; "
            "expected names without '/'",
            source=uri,
        )
    return RescueSource(
        type=SourceType.NETWORK,
        protocol="rbd",
        name=f"{names[0]}/{names[1]}",
        hosts=hosts,
        auth_username=user,
        secret_uuid=secret,
        secret_type="ceph" if secret else None,
        snapshot=names[2] if snapshot_form else None,
    )


def _check_user_and_secret(uri: str, user: str | None, secret: str | None) -> None:
    if (user is None) != (secret is None):
        raise InvalidSource(
            f"source '{uri}' has {'a user but no' if secret is None else 'a secret but no'} "
            f"{'secret' if secret is None else 'user'}; expected both or neither",
            source=uri,
        )


def _host(text: str, scheme: str, uri: str) -> NetworkHost:
    match = _HOST.match(text)
    if match is None:
        raise InvalidSource(f"host '{text}' in source '{uri}'; expected HOST[:PORT]", source=uri)
    port = int(match.group("port")) if match.group("port") else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise InvalidSource(f"port {port} in source '{uri}'; expected 1 to 65535", source=uri)
    return NetworkHost(name=match.group("ipv6") or match.group("name"), port=port)


def _secret(query: str, uri: str) -> str | None:
    if not query:
        return None
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"secret"})
    if unknown or len(fields.get("secret", [])) != 1:
        raise InvalidSource(f"query of source '{uri}'; expected only secret=UUID", source=uri)
    secret = fields["secret"][0]
    if not _UUID.match(secret):
        raise InvalidSource(f"secret '{secret}' in source '{uri}'; expected a UUID", source=uri)
    return secret.lower()


def resolve_format(source: RescueSource, source_format: str | None) -> str:
    """The ``<driver type>`` for the media: the one given, else the one its name settles."""
    if source_format is not None:
        if source_format not in SOURCE_FORMATS:
            raise UnsupportedSourceFormat(
                f"source format '{source_format}'; expected one of {', '.join(SOURCE_FORMATS)}",
                source_format=source_format,
            )
        return source_format
    name = (source.name or "") if source.type is SourceType.NETWORK else source.path
    for suffix, fmt in _FORMAT_BY_SUFFIX.items():
        if name.lower().endswith(suffix):
            return fmt
    raise SourceFormatRequired(
        f"format of source '{source.display}' is not given; expected --source-format "
        "(it is never probed from the content)",
        source=source.display,
    )
