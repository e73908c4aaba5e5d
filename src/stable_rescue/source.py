"""The rescue media's source: a path or URI (as ``--source`` takes it) -> ``RescueSource``.

A path under ``/dev/`` is a block device, another absolute path a file (``file:///PATH`` names
one too), a URI a network disk: ``rbd://[USER@]MON[:PORT][,MON...]/POOL/IMAGE[?secret=UUID]``,
a Glance location ``rbd://[USER@]FSID/POOL/IMAGE/SNAP[?secret=UUID]`` (an RBD snapshot, reached
through the host's Ceph configuration) and ``iscsi://[USER@]HOST[:PORT]/IQN/LUN[?secret=UUID]``.
The format is never probed from the media's content (libvirt stopped doing that because a guest
could then choose it); only the name may settle it.
"""

from __future__ import annotations

import ipaddress
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

# Matched whole (``fullmatch``): ``$`` would let a trailing newline through. ASCII only.
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
# ``[0-9]``, not ``\d``: that also matches other scripts' digits, which int() reads ('\u0661').
_HOST = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]+))?"
)
# What a host name may be made of: a DNS name (with '_', which some resolvers take) or an IPv4
# literal; an IPv6 literal is checked by ``ipaddress``.
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")
_DIGITS = re.compile(r"[0-9]+")
# Characters XML 1.0 cannot carry at all (outside its Char production): C0 controls but tab,
# LF and CR; U+FFFE and U+FFFF; lone surrogates, which is what ``os.fsdecode`` and the CLI's
# ``sys.argv`` make of bytes that are not UTF-8. Escaping cannot help: ``&#1;`` is no better.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Characters no path or URI needs, refused in a source: those, and DEL, LF and CR (tab stays).
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\ufffe\uffff]")
# Lone surrogates: what Python makes of bytes that are not UTF-8 (``os.fsdecode``); no XML
# document can carry them.
_SURROGATES = re.compile("[\ud800-\udfff]")
_DEFAULT_PORTS = {"rbd": 6789, "iscsi": 3260}
# The network protocols the library writes, each with the ``<secret type>`` its ``<auth>``
# takes (libvirt: a Ceph secret for rbd, an iSCSI CHAP secret for iscsi).
SECRET_TYPES = {"rbd": "ceph", "iscsi": "iscsi"}
# The most digits a port (1 to 65535) has, leading zeros aside; longer is refused before int(),
# which raises ValueError past 4300 digits.
_PORT_DIGITS = 5
# How much of a value a message quotes: a message stays one short line whatever the input.
MESSAGE_LIMIT = 100
_SHOWN_HEAD = 60
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


def shown(text: str) -> str:
    """``text`` as a message quotes it: on one line, and at most ``MESSAGE_LIMIT`` characters.

    Messages are one line, and a 5,000-digit port or a megabyte path must not make them huge. A
    long value keeps its start and its end (a URI's query), joined by ``...``.
    """
    if len(text) > MESSAGE_LIMIT:
        text = f"{text[:_SHOWN_HEAD]}...{text[_SHOWN_HEAD + 3 - MESSAGE_LIMIT :]}"
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def found(value: object) -> str:
    """A value of any type as a message names it: ``int 3``, ``NoneType None``, ``str ''``."""
    return f"{type(value).__name__} {shown(repr(value))}"


def describe_character(char: str) -> str:
    """What a character XML cannot carry is, for a message: ``U+0000 (a control character)``."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate: a byte that is not UTF-8"
    elif code in (0xFFFE, 0xFFFF):
        kind = "a noncharacter"
    else:
        kind = "a control character"
    return f"U+{code:04X} ({kind})"


def xml_text_problem(text: str) -> str | None:
    """Why ``text`` cannot go into XML 1.0 (``None``: it can), escaped or not."""
    match = XML_FORBIDDEN.search(text)
    if match is None:
        return None
    return f"holds {describe_character(match.group())} at index {match.start()}"


def parse_source(
    source: str | bytes | FsPath | RescueSource, source_type: str | None = None
) -> RescueSource:
    """The ``RescueSource`` for ``source``, with ``source_type`` overriding the guess.

    ``source`` is read as ``os.fspath`` reads a path (a path object's ``__fspath__``; bytes as
    UTF-8); a ``RescueSource`` is taken as it is. Anything else is ``InvalidSource``.
    """
    if isinstance(source, RescueSource):
        kind = _source_type(source_type)
        if kind is not None and source.type is not kind:
            raise InvalidSource(
                f"source type '{kind.value}' given with a RescueSource of type "
                f"{found(source.type)}; expected no source type, or the RescueSource's own",
                source_type=kind.value,
            )
        return check_source(source)
    text = _source_text(source)
    if not text:
        raise InvalidSource(
            f"source is {shown(repr(source))}; expected a path or URI of the rescue media",
            source=str(source),
        )
    _check_characters(text)
    kind = _source_type(source_type)
    if not text.startswith("/"):
        _refuse_foreign_syntax(text)
    if text.startswith(_FILE_URI):
        if kind is SourceType.NETWORK:
            raise InvalidSource(
                f"source '{shown(text)}' is a file:// URI; a network source needs rbd:// or iscsi://",
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
                f"source '{shown(text)}' is not a URI; a network source needs rbd:// or iscsi://",
                source=text,
            )
        return _network_source(text)
    if is_uri:
        raise InvalidSource(
            f"source '{shown(text)}' is a URI; source type '{kind.value}' needs an absolute path",
            source=text,
        )
    if not text.startswith("/"):
        raise InvalidSource(
            f"source path '{shown(text)}' is relative; expected an absolute path on the host",
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
                f"source is {shown(repr(source))}; expected a path or URI of the rescue media",
                source=repr(source),
            )
        value = fspath(value)
        if not isinstance(value, (str, bytes)):
            raise InvalidSource(
                f"source {shown(repr(source))} gives a {type(value).__name__} for its path; "
                "expected str or bytes",
                source=repr(source),
            )
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidSource(
                f"source {shown(repr(value))} is not UTF-8; "
                "expected a path libvirt's XML can carry",
                source=repr(value),
            ) from None
    return value


def _check_characters(text: str, what: str = "source") -> None:
    """Refuse what XML cannot carry, and the control characters no path or URI needs."""
    match = _FORBIDDEN.search(text)
    if match is not None:
        raise InvalidSource(
            f"{what} '{shown(text)}' holds {describe_character(match.group())} at index "
            f"{match.start()}; expected a plain path or URI without control characters",
            source=text,
        )
    if _SURROGATES.search(text):
        raise InvalidSource(
            f"{what} {shown(repr(text))} holds bytes that are not UTF-8; expected a path "
            "libvirt's XML can carry",
            source=repr(text),
        )


def _path_type(path: str) -> SourceType:
    return SourceType.BLOCK if path.startswith("/dev/") else SourceType.FILE


def _refuse_foreign_syntax(text: str) -> None:
    """Refuse, by name, what is no POSIX path: Windows and UNC paths, QEMU's legacy filenames."""
    if text.startswith("\\\\"):
        raise InvalidSource(
            f"source '{shown(text)}' is a Windows UNC path; "
            "expected an absolute POSIX path on the host",
            source=text,
        )
    if _WINDOWS_DRIVE.match(text):
        raise InvalidSource(
            f"source '{shown(text)}' is a Windows path; "
            "expected an absolute POSIX path on the host",
            source=text,
        )
    match = _SCHEME_WITHOUT_SLASHES.match(text)
    if match is None:
        return
    word = match.group("word")
    if word == "rbd":
        raise InvalidSource(
            f"source '{shown(text)}' is QEMU's rbd:POOL/IMAGE syntax; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
            source=text,
        )
    if word in ("iscsi", "file"):
        form = "iscsi://HOST/IQN/LUN" if word == "iscsi" else "file:///PATH or an absolute path"
        raise InvalidSource(
            f"source '{shown(text)}' has no '//' after '{word}:'; expected {form}", source=text
        )
    if word.partition("+")[0] in _QEMU_PROTOCOLS:
        raise InvalidSource(
            f"source '{shown(text)}' is QEMU's {shown(word)}: syntax; "
            "expected an absolute path on the host "
            "or an rbd:// or iscsi:// URI",
            source=text,
        )


def _file_uri_path(uri: str) -> str:
    """The absolute path a ``file:`` URI names: ``file:///PATH`` or ``file://localhost/PATH``."""
    rest = uri[len(_FILE_URI) :]
    if "?" in rest or "#" in rest:
        raise InvalidSource(
            f"source '{shown(uri)}' has a query or fragment; expected file:///PATH "
            "(a '?' or '#' in a name is written %3F or %23)",
            source=uri,
        )
    host, slash, path = rest.partition("/")
    # RFC 8089: an empty host and 'localhost' both mean this machine; any other is remote.
    if host and host.lower() != "localhost":
        raise InvalidSource(
            f"source '{shown(uri)}' names host '{shown(host)}'; expected a local file:///PATH",
            source=uri,
        )
    if not slash:
        raise InvalidSource(f"source '{shown(uri)}' has no path; expected file:///PATH", source=uri)
    decoded = "/" + _decode(path, uri)
    if _WINDOWS_FILE_URI_PATH.match(decoded):
        raise InvalidSource(
            f"source '{shown(uri)}' is a Windows file URI; "
            "expected an absolute POSIX path on the host",
            source=uri,
        )
    return decoded


def _decode(text: str, uri: str) -> str:
    """``text`` percent-decoded as UTF-8, refusing what XML cannot carry."""
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise InvalidSource(
            f"source '{shown(uri)}' percent-decodes to bytes that are not UTF-8; "
            "expected UTF-8 names",
            source=uri,
        ) from None
    match = _FORBIDDEN.search(decoded) or _SURROGATES.search(decoded)
    if match is not None:
        raise InvalidSource(
            f"source '{shown(uri)}' percent-decodes to {describe_character(match.group())}; "
            "expected plain names",
            source=uri,
        )
    return decoded


def _source_type(source_type: str | None) -> SourceType | None:
    if source_type is None or isinstance(source_type, SourceType):
        return source_type
    if isinstance(source_type, str):
        for kind in SourceType:
            if kind.value == source_type:
                return kind
        shown_type = f"'{shown(source_type)}'"
    else:
        shown_type = found(source_type)
    raise InvalidSource(
        f"source type {shown_type}; expected one of file, block, network",
        source_type=source_type,
    )


def _network_source(uri: str) -> RescueSource:
    scheme, _, rest = uri.partition("://")
    if scheme not in ("rbd", "iscsi"):
        raise InvalidSource(
            f"source scheme '{shown(scheme)}'; expected rbd://, iscsi:// or file://", source=uri
        )
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if not slash or not path:
        raise InvalidSource(f"source '{shown(uri)}' has no path after the host", source=uri)
    user = None
    if "@" in authority:
        user, _, authority = authority.rpartition("@")
        user = _decode(user, uri)
        if not user:
            raise InvalidSource(f"source '{shown(uri)}' has an empty user name", source=uri)
    if scheme == "rbd":
        return _rbd_source(uri, user, authority, path, query)
    hosts = tuple(_host(part, scheme, uri) for part in authority.split(","))
    secret = _secret(query, uri)
    _check_user_and_secret(uri, user, secret)
    if len(hosts) != 1:
        raise InvalidSource(
            f"iscsi source '{shown(uri)}' names {len(hosts)} hosts; expected one", source=uri
        )
    name = _decode(path, uri)
    if not _is_iqn_and_lun(name):
        raise InvalidSource(
            f"iscsi source '{shown(uri)}'; expected iscsi://HOST/IQN/LUN", source=uri
        )
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
            f"rbd source '{shown(uri)}' has {len(parts)} path parts; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP",
            source=uri,
        )
    snapshot_form = len(parts) == 3
    if snapshot_form and not _UUID.fullmatch(authority):
        raise InvalidSource(
            f"rbd source '{shown(uri)}' has a snapshot but '{shown(authority)}' is not a "
            "cluster FSID; "
            "expected rbd://FSID/POOL/IMAGE/SNAP (a Glance location) or rbd://MON/POOL/IMAGE",
            source=uri,
        )
    if not snapshot_form and _UUID.fullmatch(authority):
        raise InvalidSource(
            f"rbd source '{shown(uri)}' names cluster FSID '{shown(authority)}' where monitors go; "
            "expected rbd://MON/POOL/IMAGE or rbd://FSID/POOL/IMAGE/SNAP (a Glance location)",
            source=uri,
        )
    hosts = () if snapshot_form else tuple(_host(part, "rbd", uri) for part in authority.split(","))
    secret = _secret(query, uri)
    _check_user_and_secret(uri, user, secret)
    names = [_decode(part, uri) for part in parts]
    if len(names) < 2 or not all(names):
        form = "rbd://FSID/POOL/IMAGE/SNAP" if snapshot_form else "rbd://MON/POOL/IMAGE"
        raise InvalidSource(f"rbd source '{shown(uri)}'; expected {form}", source=uri)
    if any("/" in name for name in names):
        raise InvalidSource(
            f"rbd source '{shown(uri)}' has an encoded '/' in a pool, image or snapshot name; "
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
            f"source '{shown(uri)}' has {'a user but no' if secret is None else 'a secret but no'} "
            f"{'secret' if secret is None else 'user'}; expected both or neither",
            source=uri,
        )


def _host(text: str, scheme: str, uri: str) -> NetworkHost:
    match = _HOST.fullmatch(text)
    if match is None or (match.group("ipv6") and not _is_ipv6(match.group("ipv6"))):
        raise InvalidSource(
            f"host '{shown(text)}' in source '{shown(uri)}'; expected HOST[:PORT]", source=uri
        )
    digits = match.group("port")
    port = _DEFAULT_PORTS[scheme]
    if digits:
        # Counted before int(), which refuses more than 4,300 digits with a ValueError.
        if len(digits.lstrip("0")) > _PORT_DIGITS or not 0 < int(digits) < 65536:
            raise InvalidSource(
                f"port {shown(digits)} in source '{shown(uri)}'; expected 1 to 65535", source=uri
            )
        port = int(digits)
    return NetworkHost(name=match.group("ipv6") or match.group("name"), port=port)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _secret(query: str, uri: str) -> str | None:
    if not query:
        return None
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"secret"})
    if unknown or len(fields.get("secret", [])) != 1:
        raise InvalidSource(
            f"query of source '{shown(uri)}'; expected only secret=UUID", source=uri
        )
    secret = fields["secret"][0]
    if not _UUID.fullmatch(secret):
        raise InvalidSource(
            f"secret '{shown(secret)}' in source '{shown(uri)}'; expected a UUID", source=uri
        )
    return secret.lower()


def resolve_format(source: RescueSource, source_format: str | None) -> str:
    """The ``<driver type>`` for the media: the one given, else the one its name settles."""
    if source_format is not None:
        if not isinstance(source_format, str) or source_format not in SOURCE_FORMATS:
            given = (
                f"'{shown(source_format)}'"
                if isinstance(source_format, str)
                else found(source_format)
            )
            raise UnsupportedSourceFormat(
                f"source format {given}; expected one of {', '.join(SOURCE_FORMATS)}",
                source_format=source_format,
            )
        return source_format
    name = (source.name or "") if source.type is SourceType.NETWORK else source.path
    for suffix, fmt in _FORMAT_BY_SUFFIX.items():
        if name.lower().endswith(suffix):
            return fmt
    raise SourceFormatRequired(
        f"format of source '{shown(source.display)}' is not given; expected --source-format "
        "(it is never probed from the content)",
        source=source.display,
    )


def check_source(source: RescueSource) -> RescueSource:
    """``source`` itself, once every field is one the rescue disk can be written with.

    ``RescueSource`` is public, and a caller may build one by hand; the model imports no errors,
    so its fields are checked here, before anything writes them, with the rules that
    ``parse_source`` applies to a path or URI. A wrong type is ``InvalidSource`` too, not a
    ``TypeError`` from deep inside.
    """
    kind = source.type
    if not isinstance(kind, SourceType):
        raise InvalidSource(
            f"RescueSource type is {found(kind)}; expected a SourceType (file, block, network)",
            field="type",
        )
    network_fields = {
        "protocol": source.protocol,
        "name": source.name,
        "auth_username": source.auth_username,
        "secret_uuid": source.secret_uuid,
        "secret_type": source.secret_type,
        "snapshot": source.snapshot,
    }
    if kind is not SourceType.NETWORK:
        path = _field_text("path", source.path)
        _check_characters(path, "RescueSource path")
        if not path.startswith("/"):
            raise InvalidSource(
                f"RescueSource path '{shown(path)}' is relative; expected an absolute path on "
                "the host",
                field="path",
            )
        given = [name for name, value in network_fields.items() if value is not None]
        if source.hosts != ():
            given.append("hosts")
        if given:
            raise InvalidSource(
                f"RescueSource of type '{kind.value}' has {', '.join(given)}; expected only a "
                "path (those belong to a network source)",
                field=given[0],
            )
        return source
    if source.path != "":
        raise InvalidSource(
            f"RescueSource of type 'network' has path {found(source.path)}; expected no path "
            "(a network source has protocol, name and hosts)",
            field="path",
        )
    protocol = source.protocol
    if not isinstance(protocol, str) or protocol not in SECRET_TYPES:
        shown_protocol = f"'{shown(protocol)}'" if isinstance(protocol, str) else found(protocol)
        raise InvalidSource(
            f"RescueSource protocol {shown_protocol}; expected one of {', '.join(SECRET_TYPES)}",
            field="protocol",
        )
    for field in ("name", "auth_username", "snapshot"):
        value = network_fields[field]
        if value is not None or field == "name":
            _check_characters(_field_text(field, value), f"RescueSource {field}")
    _check_network_name(source, protocol)
    _check_hosts(source.hosts, protocol)
    _check_auth(source, protocol)
    return source


def _field_text(field: str, value: object) -> str:
    """``value``, a field of a ``RescueSource``, if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise InvalidSource(
            f"RescueSource {field} is {found(value)}; expected a non-empty string", field=field
        )
    return value


def _is_iqn_and_lun(name: str) -> bool:
    """``IQN/LUN`` as libvirt splits it: at the *first* slash, so the IQN cannot hold one.

    libvirt's ``qemuBlockStorageSourceGetISCSIProps`` cuts the target at ``strchr(path, '/')``
    and reads the rest as a base-10 LUN; ``iqn/x/1`` would reach QEMU as target ``iqn``.
    """
    iqn, _, lun = name.partition("/")
    return bool(iqn) and _DIGITS.fullmatch(lun) is not None


def _check_network_name(source: RescueSource, protocol: str) -> None:
    """rbd: ``POOL/IMAGE`` and maybe a snapshot; iscsi: ``IQN/LUN`` and no snapshot."""
    name = str(source.name)
    if protocol == "rbd":
        parts = name.split("/")
        if len(parts) != 2 or not all(parts):
            raise InvalidSource(
                f"RescueSource name '{shown(name)}' for protocol 'rbd'; expected POOL/IMAGE",
                field="name",
            )
        if source.snapshot is not None and "/" in source.snapshot:
            raise InvalidSource(
                f"RescueSource snapshot '{shown(source.snapshot)}'; expected a name without '/'",
                field="snapshot",
            )
        return
    if not _is_iqn_and_lun(name):
        raise InvalidSource(
            f"RescueSource name '{shown(name)}' for protocol 'iscsi'; expected IQN/LUN, the IQN "
            "without '/' and the LUN in ASCII digits",
            field="name",
        )
    if source.snapshot is not None:
        raise InvalidSource(
            f"RescueSource snapshot '{shown(source.snapshot)}' for protocol 'iscsi'; expected "
            "none (only an rbd image has snapshots)",
            field="snapshot",
        )


def _check_hosts(hosts: object, protocol: str) -> None:
    """A tuple of ``NetworkHost``: names a DNS name or IP literal, ports 1 to 65535."""
    if not isinstance(hosts, tuple) or not all(isinstance(host, NetworkHost) for host in hosts):
        raise InvalidSource(
            f"RescueSource hosts is {found(hosts)}; expected a tuple of NetworkHost",
            field="hosts",
        )
    if protocol == "iscsi" and len(hosts) != 1:
        raise InvalidSource(
            f"RescueSource for protocol 'iscsi' has {len(hosts)} hosts; expected one",
            field="hosts",
        )
    for host in hosts:
        name = host.name
        if not isinstance(name, str) or not (
            _HOST_NAME.fullmatch(name) or (":" in name and _is_ipv6(name))
        ):
            shown_name = f"'{shown(name)}'" if isinstance(name, str) else found(name)
            raise InvalidSource(
                f"RescueSource host name {shown_name}; expected a DNS name, an IPv4 address or "
                "an IPv6 address (without brackets)",
                field="hosts",
            )
        port = host.port
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ):
            raise InvalidSource(
                f"RescueSource port {found(port)} of host '{name}'; expected an integer from 1 "
                "to 65535, or None",
                field="hosts",
            )


def _check_auth(source: RescueSource, protocol: str) -> None:
    """A user and a secret UUID together or neither; the secret of the protocol's type."""
    secret, secret_type = source.secret_uuid, source.secret_type
    if (source.auth_username is None) != (secret is None):
        raise InvalidSource(
            f"RescueSource has {'a user but no' if secret is None else 'a secret but no'} "
            f"{'secret_uuid' if secret is None else 'auth_username'}; expected both or neither",
            field="secret_uuid" if secret is None else "auth_username",
        )
    if secret is None:
        if secret_type is not None:
            raise InvalidSource(
                f"RescueSource secret_type {found(secret_type)} without a secret_uuid; "
                "expected None",
                field="secret_type",
            )
        return
    if not isinstance(secret, str) or not _UUID.fullmatch(secret):
        shown_secret = f"'{shown(secret)}'" if isinstance(secret, str) else found(secret)
        raise InvalidSource(
            f"RescueSource secret_uuid {shown_secret}; expected a UUID", field="secret_uuid"
        )
    expected = SECRET_TYPES[protocol]
    if secret_type != expected:
        shown_type = (
            f"'{shown(secret_type)}'" if isinstance(secret_type, str) else found(secret_type)
        )
        raise InvalidSource(
            f"RescueSource secret_type {shown_type} for protocol '{protocol}'; "
            f"expected '{expected}'",
            field="secret_type",
        )
