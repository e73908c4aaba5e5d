"""The rescue media's source: a path or URI (as ``--source`` takes it) -> ``RescueSource``.

A path under ``/dev/`` is a block device, another absolute path a file, a URI a network disk:
``rbd://[USER@]MON[:PORT][,MON...]/POOL/IMAGE[?secret=UUID]`` and
``iscsi://[USER@]HOST[:PORT]/IQN/LUN[?secret=UUID]``. The format is never probed from the media's
content (libvirt stopped doing that because a guest could then choose it); only the name may
settle it.
"""

from __future__ import annotations

import re
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
_DEFAULT_PORTS = {"rbd": 6789, "iscsi": 3260}


def parse_source(source: str | RescueSource, source_type: str | None = None) -> RescueSource:
    """The ``RescueSource`` for ``source``, with ``source_type`` overriding the guess."""
    if isinstance(source, RescueSource):
        return source
    if not isinstance(source, str) or not source:
        raise InvalidSource(
            f"source is {source!r}; expected a path or URI of the rescue media", source=str(source)
        )
    if _FORBIDDEN.search(source) or "\n" in source or "\r" in source:
        raise InvalidSource(
            "source contains control characters; expected a plain path or URI", source=source
        )
    kind = _source_type(source_type)
    # An absolute path stays a path even if it contains '://'.
    is_uri = not source.startswith("/") and "://" in source
    if kind is None:
        kind = (
            SourceType.NETWORK
            if is_uri
            else (SourceType.BLOCK if source.startswith("/dev/") else SourceType.FILE)
        )
    if kind is SourceType.NETWORK:
        if not is_uri:
            raise InvalidSource(
                f"source '{source}' is not a URI; a network source needs rbd:// or iscsi://",
                source=source,
            )
        return _network_source(source)
    if is_uri:
        raise InvalidSource(
            f"source '{source}' is a URI; source type '{kind.value}' needs an absolute path",
            source=source,
        )
    if not source.startswith("/"):
        raise InvalidSource(
            f"source path '{source}' is relative; expected an absolute path on the host",
            source=source,
        )
    return RescueSource(type=kind, path=source)


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
        raise InvalidSource(f"source scheme '{scheme}'; expected rbd:// or iscsi://", source=uri)
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if not slash or not path:
        raise InvalidSource(f"source '{uri}' has no path after the host", source=uri)
    user = None
    if "@" in authority:
        user, _, authority = authority.rpartition("@")
        user = unquote(user)
        if not user:
            raise InvalidSource(f"source '{uri}' has an empty user name", source=uri)
    hosts = tuple(_host(part, scheme, uri) for part in authority.split(","))
    secret = _secret(query, uri)
    if (user is None) != (secret is None):
        raise InvalidSource(
            f"source '{uri}' has {'a user but no' if secret is None else 'a secret but no'} "
            f"{'secret' if secret is None else 'user'}; expected both or neither",
            source=uri,
        )
    name = unquote(path)
    if scheme == "rbd":
        pool, _, image = name.partition("/")
        if not pool or not image:
            raise InvalidSource(f"rbd source '{uri}'; expected rbd://MON/POOL/IMAGE", source=uri)
        secret_type = "ceph"
    else:
        if len(hosts) != 1:
            raise InvalidSource(
                f"iscsi source '{uri}' names {len(hosts)} hosts; expected one", source=uri
            )
        iqn, _, lun = name.rpartition("/")
        if not iqn or not lun.isdigit():
            raise InvalidSource(f"iscsi source '{uri}'; expected iscsi://HOST/IQN/LUN", source=uri)
        secret_type = "iscsi"
    return RescueSource(
        type=SourceType.NETWORK,
        protocol=scheme,
        name=name,
        hosts=hosts,
        auth_username=user,
        secret_uuid=secret,
        secret_type=secret_type if secret else None,
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
