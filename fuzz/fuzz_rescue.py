#!/usr/bin/env python3
"""Coverage-guided fuzz harness for stable_rescue's public API (issue 12).

Run (see fuzz/README.md)::

    python3 fuzz/make_corpus.py /var/tmp/stable-rescue-fuzz/corpus
    python3 fuzz/fuzz_rescue.py -atheris_runs=1000000 \
        -artifact_prefix=/var/tmp/stable-rescue-fuzz/crashes/ /var/tmp/stable-rescue-fuzz/corpus

An input is ``HEADER_SIZE`` choice bytes followed by the domain XML bytes. The choices pick the
API call (``MODES``), the image properties, the source and the options from fixed tables, so
every crash file replays the same call. A ``RescueError`` is the library doing its job; any
other exception, or a broken invariant (``InvariantBroken``), propagates and is a finding.

Without atheris (it has no wheel for every Python) the same file replays the given inputs, or
runs a plain random-mutation loop over a corpus with ``--mutate``.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import pkgutil
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The working tree's code, whatever copy of the package the environment has installed.
sys.path.insert(0, str(ROOT / "src"))

try:
    import atheris
except ImportError:  # development-only tool: the fallback below still replays and mutates
    atheris = None

if atheris is not None:
    # Instrument only the library: lxml is C and the stdlib would only add noise to coverage.
    # The package imports its modules lazily (a CLI command loads only what it needs), so each
    # one is imported here, inside the block: a module first loaded later is not instrumented.
    with atheris.instrument_imports(include=["stable_rescue"]):
        import stable_rescue

        for _module in pkgutil.iter_modules(stable_rescue.__path__, "stable_rescue."):
            if _module.name not in ("stable_rescue.__main__", "stable_rescue.testing"):
                importlib.import_module(_module.name)
else:
    import stable_rescue

HEADER_SIZE = 4


class InvariantBroken(AssertionError):
    """A documented property of the API does not hold (not a crash, but just as much a bug)."""


# Image properties: every set the golden cases use, then near misses and hostile values. The
# API is typed Mapping[str, str] but promises a RescueError for anything else, so some are not.
PROPERTIES: tuple[object, ...] = (
    {"hw_rescue_bus": "virtio", "hw_rescue_device": "disk"},
    {},
    {"hw_disk_bus": "virtio"},
    {"hw_disk_bus": "virtio", "os_distro": "ubuntu"},
    {"hw_machine_type": "pc", "hw_rescue_device": "cdrom"},
    {"hw_rescue_bus": "fdc", "hw_rescue_device": "floppy"},
    {"hw_rescue_bus": "ide", "hw_rescue_device": "cdrom"},
    {"hw_rescue_bus": "ide", "hw_rescue_device": "disk"},
    {"hw_rescue_bus": "ide", "hw_rescue_device": "floppy"},
    {"hw_rescue_bus": "nvme", "hw_rescue_device": "disk"},
    {"hw_rescue_bus": "sata", "hw_rescue_device": "cdrom"},
    {"hw_rescue_bus": "sata", "hw_rescue_device": "disk"},
    {"hw_rescue_bus": "sata", "hw_rescue_device": "lun"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "cdrom", "hw_scsi_model": "ibmvscsi"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "cdrom", "hw_scsi_model": "lsilogic"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "cdrom"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "disk", "hw_scsi_model": "virtio-scsi"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "disk"},
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "lun"},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": "buslogic"},
    {"hw_rescue_bus": "usb", "hw_rescue_device": "disk"},
    {"hw_rescue_bus": "usb"},
    {"hw_rescue_bus": "virtio", "hw_rescue_device": "cdrom"},
    {"hw_rescue_bus": "virtio", "hw_rescue_device": "tape"},
    {"hw_rescue_device": "cdrom", "hw_scsi_model": "ibmvscsi"},
    {"hw_rescue_device": "cdrom"},
    {"hw_rescue_device": "lun"},
    {"hw_rescue_device": "floppy"},
    {"hw_scsi_model": "virtio-scsi"},
    {"hw_rescue_bus": "xen"},
    {"hw_rescue_bus": "lxc"},
    {"hw_rescue_bus": "sd"},
    {"hw_rescue_bus": "uml"},
    {"hw_rescue_bus": ""},
    {"hw_rescue_bus": "VIRTIO"},
    {"hw_rescue_bus": " virtio "},
    {"hw_rescue_bus": "virtio\x00"},
    {"hw_rescue_device": ""},
    {"hw_rescue_device": "Disk"},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": ""},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": "virtio-blk"},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": "vmpvscsi"},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": "lsisas1068"},
    {"hw_rescue_bus": "scsi", "hw_scsi_model": "am53c974"},
    {"hw_rescue_bus": "usb", "hw_cdrom_bus": "sata", "hw_floppy_bus": "fdc"},
    {"hw_resuce_bus": "virtio"},
    {"hw-rescue-bus": "virtio"},
    {"HW_RESCUE_BUS": "virtio"},
    {" hw_rescue_bus": "virtio"},
    {"hw_rescue_dev": "disk"},
    {"hw_rescue_devices": "disk"},
    {"hw_scsi_modle": "virtio-scsi"},
    {"hw_rescue_bus": "usb", "hw_rescue_device": 7},
    {"hw_rescue_bus": None},
    {"hw_rescue_bus": b"virtio"},
    {7: "virtio"},
    {None: None},
    None,
    [("hw_rescue_bus", "virtio")],
    "hw_rescue_bus=virtio",
)

SOURCES: tuple[object, ...] = (
    "/var/lib/libvirt/images/rescue.img",
    "/var/lib/libvirt/images/rescue.iso",
    "/var/lib/libvirt/images/rescue.qcow2",
    "/var/lib/libvirt/images/rescue.vhdx",
    "/var/lib/libvirt/images/rescue-image",
    "/var/lib/nova/instances/6a3e-uuid/disk.rescue",
    "/dev/mapper/rescue",
    "/dev/sdz",
    "images/rescue.iso",
    "iscsi://192.0.2.10:3260/iqn.2010-10.org.openstack:volume-rescue/1",
    "rbd://nova@192.0.2.21:6789/vms/8c5a-uuid_disk.rescue?secret=8a6c5a2e-3b7f-4f0e-9c1d-2e5b7a9c0d11",
    "rbd://cinder@10.0.0.1:6789,10.0.0.2/images/rescue-img?secret=2a5b08e2",
    "rbd://",
    "rbd://@/",
    "rbd://host:notaport/pool/img",
    "iscsi://host/iqn/notanumber",
    "iscsi://[::1]:3260/iqn.x/0",
    "nbd://host:10809/export",
    "file:///var/lib/libvirt/images/rescue.img",
    "",
    " ",
    "/",
    "/path/with\x00nul.img",
    "/path/with'quote\"and<angle>&amp.img",
    "/path/with\udcff-surrogate.img",
    b"/var/lib/libvirt/images/rescue.img",
    b"/var/lib/\xff\xfe/rescue.img",
    pathlib.PurePosixPath("/var/lib/libvirt/images/rescue.qcow2"),
    None,
    7,
    ["/var/lib/libvirt/images/rescue.img"],
    "/var/lib/libvirt/images/" + "a" * 4000 + ".img",
)
# Any: most of these break the constructors' annotations on purpose (attrs does not check).
_RS: Any = stable_rescue.RescueSource
_HOST: Any = stable_rescue.NetworkHost
_FILE, _BLOCK, _NET = (stable_rescue.SourceType(name) for name in ("file", "block", "network"))
_MON, _UUID = (_HOST(name="192.0.2.21", port=6789),), "8a6c5a2e-3b7f-4f0e-9c1d-2e5b7a9c0d11"
# Hand-built RescueSource values: public, and check_source promises InvalidSource (never a
# TypeError) for every wrong field, so most of these are wrong on purpose.
RESCUE_SOURCES: tuple[Any, ...] = (
    _RS(type=_FILE, path="/var/lib/libvirt/images/rescue.img"),
    _RS(type=_BLOCK, path="/dev/sdz"),
    _RS(
        type=_NET,
        protocol="rbd",
        name="images/rescue",
        hosts=_MON,
        auth_username="nova",
        secret_uuid=_UUID,
        secret_type="ceph",
    ),
    _RS(type=_NET, protocol="rbd", name="images/rescue", snapshot="snap"),
    _RS(
        type=_NET,
        protocol="iscsi",
        name="iqn.2010-10.org.openstack:volume-rescue/1",
        hosts=(_HOST(name="192.0.2.10", port=3260),),
    ),
    _RS(type="file", path="/var/lib/libvirt/images/rescue.img"),
    _RS(type=_FILE, path=7),
    _RS(type=_FILE, path=""),
    _RS(type=_FILE, path="relative.img"),
    _RS(type=_FILE, path="/x\x00.img"),
    _RS(type=_FILE, path="/x'<&\udcff.img"),
    _RS(type=_FILE, path="/x.img", protocol="rbd", name="a/b"),
    _RS(type=_BLOCK, path="/dev/../etc/passwd"),
    _RS(type=_NET, protocol="nbd", name="export", hosts=_MON),
    _RS(type=_NET, protocol=None, name=None),
    _RS(type=_NET, protocol="rbd", name="a/b/c", hosts=_MON),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=list(_MON)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=(_HOST(name="", port=0),)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=(_HOST(name="h", port=70000),)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=(_HOST(name="::1", port=6789),)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=(_HOST(name=7, port="x"),)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=("192.0.2.21",)),
    _RS(type=_NET, protocol="rbd", name="images/rescue", hosts=_MON, auth_username="nova"),
    _RS(
        type=_NET,
        protocol="rbd",
        name="images/rescue",
        hosts=_MON,
        auth_username="nova",
        secret_uuid=_UUID,
        secret_type="iscsi",
    ),
    _RS(
        type=_NET,
        protocol="rbd",
        name="images/rescue",
        hosts=_MON,
        auth_username="a'<b",
        secret_uuid="not-a-uuid",
        secret_type="ceph",
    ),
    _RS(type=_NET, protocol="iscsi", name="iqn.x/1", hosts=_MON, snapshot="snap"),
    _RS(type=_NET, protocol="rbd", name="images/rescue", snapshot=""),
    _RS(type=_NET, protocol="rbd", name="images/\udcff", hosts=_MON),
    _RS(type=_NET, protocol="iscsi", name="iqn.x/notanumber", hosts=_MON),
    _RS(type=None),
)
SOURCE_TYPES: tuple[Any, ...] = (None, None, None, None, "file", "block", "network", "bogus")
# The source_type slot that takes the source from RESCUE_SOURCES instead of SOURCES.
HAND_BUILT_SOURCE = 2
# The source_type slot that instead takes the source text from the input: its first line (the
# XML follows), so the URI and path parsers see mutated text, not just the table above.
FUZZED_SOURCE = 3
SOURCE_FORMATS: tuple[Any, ...] = (None, "raw", "qcow2", "iso", "vhdx", "", "RAW", "luks")
# (kernel, initrd, cmdline): none, the full set, and the combinations the API must refuse.
BOOT_OPTIONS: tuple[tuple[Any, Any, Any], ...] = (
    (None, None, None),
    ("/boot/vmlinuz", "/boot/initrd.img", "console=ttyS0 rescue"),
    (None, "/boot/initrd.img", None),
    ("", None, "quote' \"<&>"),
)
# How the XML reaches the API: str (bad UTF-8 replaced), bytes, and str holding lone
# surrogates (a valid Python str the API must still refuse or accept cleanly).
XML_FORMS = ("str", "bytes", "str", "surrogates")


def _rescue(xml: str | bytes, options: dict[str, Any]) -> None:
    result = stable_rescue.rescue(xml, **options)
    # R7: whatever rescue() returns carries a record.
    if not stable_rescue.is_rescued(result.xml):
        raise InvariantBroken("is_rescued(rescue(x).xml) is False")


def _unrescue(xml: str | bytes, options: dict[str, Any]) -> None:
    stable_rescue.unrescue(xml)


def _round_trip(xml: str | bytes, options: dict[str, Any]) -> None:
    result = stable_rescue.rescue(xml, **options)
    restored = stable_rescue.unrescue(result.xml)
    # N6: byte for byte, but only str input can be compared as text without decoding rules.
    if isinstance(xml, str) and restored != xml:
        raise InvariantBroken(f"unrescue(rescue(x).xml) != x\n--- x\n{xml}\n--- got\n{restored}")


def _is_rescued(xml: str | bytes, options: dict[str, Any]) -> None:
    stable_rescue.is_rescued(xml)


def _plan(xml: str | bytes, options: dict[str, Any]) -> None:
    plan = stable_rescue.plan_rescue(xml, **options)
    # The serialised plan is public too; what plan_to_dict writes plan_from_dict must read.
    if stable_rescue.plan_from_dict(stable_rescue.plan_to_dict(plan)) != plan:
        raise InvariantBroken("plan_from_dict(plan_to_dict(p)) != p")


def _verify(xml: str | bytes, options: dict[str, Any]) -> None:
    stable_rescue.verify(xml, xml)
    result = stable_rescue.rescue(xml, **options)
    report = stable_rescue.verify(xml, result.xml)
    plan = result.plan
    kernel = plan.kernel is not None or plan.kernel_removed or plan.kernel_replaced
    # Our own stable rescue, without a kernel, is what verify calls a stable rescue.
    if plan.mode is stable_rescue.Mode.STABLE and not kernel and not report.ok:
        raise InvariantBroken(f"verify(x, rescue(x).xml) not ok: {report.findings}")


MODES: tuple[tuple[str, Callable[[str | bytes, dict[str, Any]], None]], ...] = (
    ("rescue", _rescue),
    ("unrescue", _unrescue),
    ("round_trip", _round_trip),
    ("is_rescued", _is_rescued),
    ("plan", _plan),
    ("verify", _verify),
)
MODE_NAMES = tuple(name for name, _ in MODES)


def encode(
    xml: bytes,
    *,
    mode: str,
    properties: int = 0,
    source: int = 0,
    source_type: int = 0,
    source_format: int = 0,
    boot: int = 0,
    xml_form: int = 0,
    allow_unaddressed: bool = False,
    source_text: bytes | None = None,
) -> bytes:
    """The fuzz input that makes ``decode`` choose these table indices (for make_corpus.py).

    With ``source_text`` the source is that text, not ``SOURCES[source]``.
    """
    if source_text is not None:
        source_type, xml = FUZZED_SOURCE, source_text + b"\n" + xml
    flags = xml_form | source_format << 2 | boot << 5 | allow_unaddressed << 7
    header = bytes([MODE_NAMES.index(mode), properties, source | source_type << 5, flags])
    return header + xml


def decode(data: bytes) -> tuple[str, str | bytes, dict[str, Any]]:
    """The mode name, XML argument and keyword arguments that the input ``data`` chooses."""
    header = data[:HEADER_SIZE].ljust(HEADER_SIZE, b"\0")
    body = data[HEADER_SIZE:]
    source = SOURCES[(header[2] & 31) % len(SOURCES)]
    if header[2] >> 5 == HAND_BUILT_SOURCE:
        source = RESCUE_SOURCES[(header[2] & 31) % len(RESCUE_SOURCES)]
    if header[2] >> 5 == FUZZED_SOURCE:
        line, _, body = body.partition(b"\n")
        source = line.decode("utf-8", "surrogateescape")
    mode = MODE_NAMES[header[0] % len(MODES)]
    form = XML_FORMS[header[3] & 3]
    xml: str | bytes
    if form == "bytes":
        xml = body
    elif form == "surrogates":
        xml = body.decode("utf-8", "surrogateescape")
    else:
        xml = body.decode("utf-8", "replace")
    kernel, initrd, cmdline = BOOT_OPTIONS[header[3] >> 5 & 3]
    options: dict[str, Any] = {
        "properties": PROPERTIES[header[1] % len(PROPERTIES)],
        "source": source,
        "source_type": SOURCE_TYPES[header[2] >> 5],
        "source_format": SOURCE_FORMATS[header[3] >> 2 & 7],
        "allow_unaddressed": bool(header[3] >> 7),
        "kernel": kernel,
        "initrd": initrd,
        "cmdline": cmdline,
    }
    return mode, xml, options


def describe(data: bytes) -> str:
    """The call ``data`` makes, for a crash report or a regression test."""
    mode, xml, options = decode(data)
    shown = {key: value for key, value in options.items() if value not in (None, False)}
    return f"mode={mode} xml={type(xml).__name__}[{len(xml)}] {shown!r}"


def TestOneInput(data: bytes) -> None:  # the name atheris and libFuzzer expect
    """One fuzz iteration: a RescueError is fine, anything else propagates as a finding."""
    mode, xml, options = decode(data)
    call = dict(MODES)[mode]
    if mode in ("unrescue", "is_rescued"):
        options = {}
    try:
        call(xml, options)
    except stable_rescue.RescueError:
        pass
    except Exception as error:
        if signature(error) not in KNOWN:
            _keep_traceback(data)
            raise


def _keep_traceback(data: bytes) -> None:
    """Append the finding's traceback beside the crash files: fork mode deletes job logs."""
    prefix = next((arg.partition("=")[2] for arg in sys.argv if arg.startswith(ARTIFACTS)), None)
    if prefix:
        with open(f"{prefix}tracebacks.txt", "a", encoding="utf-8") as log:
            log.write(f"--- {describe(data)}\n{traceback.format_exc()}")


ARTIFACTS = "-artifact_prefix="


def signature(error: BaseException) -> str:
    """``Type@file.py:function`` of the innermost frame: what tells one finding from another."""
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}@{pathlib.Path(where.filename).name}:{where.name}"


# Findings already reported, skipped so that a long run finds new ones instead of stopping at
# (or, with -fork, endlessly re-finding) the same one. Comma-separated signature() values.
KNOWN = frozenset(filter(None, os.environ.get("STABLE_RESCUE_FUZZ_KNOWN", "").split(",")))


def _mutate(data: bytes, corpus: list[bytes], rng: random.Random) -> bytes:
    """A few libFuzzer-like byte mutations, for when atheris is not installed."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            at = min(at, len(buf) - 1)
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a byte, biased to XML syntax
            buf[at:at] = bytes(
                [rng.choice(b"<>/='\"&;: \n0x") if rng.random() < 0.5 else rng.randrange(256)]
            )
        elif op == 2 and buf:  # delete a run
            del buf[at : at + rng.randint(1, 16)]
        elif op == 3 and buf:  # duplicate a run elsewhere
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 64)]
        elif op == 4 and corpus:  # splice in a run of another input
            other = rng.choice(corpus)
            start = rng.randrange(len(other) or 1)
            buf[at:at] = other[start : start + rng.randint(1, 128)]
        elif op == 5 and len(buf) >= HEADER_SIZE:  # change a choice
            buf[rng.randrange(HEADER_SIZE)] = rng.randrange(256)
    return bytes(buf)


def _fallback(argv: list[str]) -> int:
    """Replay files (``fuzz_rescue.py FILE...``) or mutate a corpus (``--mutate N DIR...``)."""
    if argv[:1] == ["--mutate"]:
        runs, dirs = int(argv[1]), [pathlib.Path(arg) for arg in argv[2:]]
        corpus = [path.read_bytes() for d in dirs for path in sorted(d.iterdir())]
        crashes = pathlib.Path("/var/tmp/stable-rescue-fuzz/crashes")
        crashes.mkdir(parents=True, exist_ok=True)
        rng, found, start = random.Random(0), set(), time.monotonic()
        for _ in range(runs):
            data = _mutate(rng.choice(corpus), corpus, rng)
            try:
                TestOneInput(data)
            except Exception as error:  # a finding: keep it and go on, one per distinct place
                key = signature(error)
                if key not in found:
                    found.add(key)
                    (crashes / f"fallback-{len(found)}").write_bytes(data)
                    print(f"finding {key}: {describe(data)}", file=sys.stderr)
        rate = runs / (time.monotonic() - start)
        print(f"{runs} runs, {rate:.0f} exec/s, {len(found)} distinct findings", file=sys.stderr)
        return 1 if found else 0
    for arg in argv:
        data = pathlib.Path(arg).read_bytes()
        print(f"{arg}: {describe(data)}", file=sys.stderr)
        TestOneInput(data)
    return 0


def _triage(paths: list[str]) -> None:
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for arg in paths:
        data = pathlib.Path(arg).read_bytes()
        try:
            TestOneInput(data)
            continue
        except Exception as error:
            key = signature(error)
            where = traceback.extract_tb(error.__traceback__)[-1]
            detail = f"{where.filename}:{where.lineno}: {str(error).splitlines()[0][:160]}"
        groups.setdefault(key, []).append((len(data), arg, f"{describe(data)}\n    {detail}"))
    for key, found in sorted(groups.items()):
        found.sort()
        print(f"{key}: {len(found)} file(s); smallest {found[0][1]}\n    {found[0][2]}")


def main() -> None:
    """Run under atheris when it is installed, else the fallback."""
    if sys.argv[1:2] == ["--describe"]:  # the call a crash file makes, for its regression test
        for arg in sys.argv[2:]:
            print(f"{arg}: {describe(pathlib.Path(arg).read_bytes())}")
        return
    if sys.argv[1:2] == ["--triage"]:  # crash files grouped by signature(), smallest first
        _triage(sys.argv[2:])
        return
    if atheris is None:
        sys.exit(_fallback(sys.argv[1:]))
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
