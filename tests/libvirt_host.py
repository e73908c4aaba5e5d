"""Talking to a real libvirt for ``test_libvirt.py``: virsh, throwaway domains, XML facts.

Everything goes through the ``virsh`` client in a subprocess with a timeout, XML is fed through
temporary files, and every domain defined here is undefined again before the helper returns.
Domain names start with ``srtest-<pid>-`` so that parallel runs and other users of the host never
meet.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

URI_VARIABLE = "STABLE_RESCUE_LIBVIRT_URI"
REQUIRE_VARIABLE = "STABLE_RESCUE_REQUIRE_LIBVIRT"
WORKDIR_VARIABLE = "STABLE_RESCUE_LIBVIRT_WORKDIR"
DEFAULT_URI = "qemu:///system"
TIMEOUT_SECONDS = 60.0
PREFIX = f"srtest-{os.getpid()}-"
# A fixed namespace, so the uuid of a test domain follows from its name alone.
UUID_NAMESPACE = uuid.UUID("5d0c36a4-6f3e-4f7a-9a57-9d2b7b0c1e2f")
RESCUE_ALIAS = "ua-stable-rescue-disk"
ADDED_ALIAS_PREFIX = "ua-stable-rescue-"


class VirshError(Exception):
    """A virsh command that exited non-zero (or did not finish in time)."""

    def __init__(self, args: list[str], returncode: int | None, stderr: str) -> None:
        message = "; ".join(line.strip() for line in stderr.splitlines() if line.strip())
        super().__init__(f"{shlex.join(args)} failed ({returncode}): {message}")
        self.returncode = returncode
        self.stderr = stderr


class Virsh:
    """The ``virsh`` client bound to one connection URI."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def run(self, *args: str) -> str:
        """Stdout of ``virsh -c URI ARGS``; raise ``VirshError`` when it fails or hangs."""
        argv = ["virsh", "-q", "-c", self.uri, *args]
        # The C locale keeps libvirt's error messages in English for the assertions on them.
        env = {**os.environ, "LC_ALL": "C"}
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise VirshError(argv, None, f"timed out after {TIMEOUT_SECONDS}s") from error
        if done.returncode != 0:
            raise VirshError(argv, done.returncode, done.stderr)
        return done.stdout

    def run_with_file(self, command: list[str], content: str) -> str:
        """``run(*command, FILE)`` with ``content`` written to a temporary FILE."""
        with tempfile.TemporaryDirectory(prefix=PREFIX) as directory:
            path = Path(directory) / "input.xml"
            path.write_text(content, encoding="utf-8")
            return self.run(*command, str(path))

    def define_and_dump(self, domain_xml: str) -> str:
        """Define ``domain_xml``, return ``dumpxml --inactive`` of it, and undefine it again.

        The domain is undefined (with its NVRAM) even when dumping fails. A failed define raises
        ``VirshError`` and leaves nothing behind.
        """
        name = domain_name(domain_xml)
        assert name.startswith(PREFIX), f"refusing to define {name!r}: not a test domain"
        self.run_with_file(["define"], domain_xml)
        try:
            return self.run("dumpxml", "--inactive", name)
        finally:
            self.run("undefine", "--nvram", name)

    def undefine_leftovers(self) -> list[str]:
        """Undefine every domain of this run that is still defined; return their names."""
        names = [name for name in self.run("list", "--all", "--name").split() if name]
        leftovers = [name for name in names if name.startswith(PREFIX)]
        for name in leftovers:
            self.run("undefine", "--nvram", name)
        return leftovers

    def qemu_argv(self, domain_xml: str) -> list[str]:
        """The QEMU command line libvirt would run for ``domain_xml``, split into words."""
        native = self.run_with_file(["domxml-to-native", "qemu-argv", "--xml"], domain_xml)
        return shlex.split(native)

    @contextlib.contextmanager
    def secrets(self, domain_xml: str) -> Iterator[str]:
        """Define throwaway secrets for the ``<secret uuid>`` the XML names; yield the XML.

        ``domxml-to-native`` looks secrets up (and their values). Each uuid is replaced by one of
        this run's own (so nothing of the host or of a parallel run is touched); the secrets are
        undefined on exit.
        """
        defined: list[str] = []
        try:
            for old in sorted(set(re.findall(r"<secret [^>]*uuid='([0-9a-f-]+)'", domain_xml))):
                new = str(uuid.uuid5(UUID_NAMESPACE, f"{PREFIX}secret-{old}"))
                usage = re.search(rf"<secret type='(\w+)'[^>]*uuid='{old}'", domain_xml)
                usage_type = usage.group(1) if usage else "ceph"
                usage_element = "target" if usage_type == "iscsi" else "name"
                secret_xml = (
                    f"<secret ephemeral='yes' private='yes'><uuid>{new}</uuid>"
                    f"<usage type='{usage_type}'><{usage_element}>{PREFIX}{new}"
                    f"</{usage_element}></usage></secret>"
                )
                self.run_with_file(["secret-define"], secret_xml)
                defined.append(new)
                with tempfile.TemporaryDirectory(prefix=PREFIX) as directory:
                    value = Path(directory) / "value"
                    value.write_text("not-a-real-key", encoding="utf-8")
                    self.run("secret-set-value", new, "--file", str(value), "--plain")
                domain_xml = domain_xml.replace(f"uuid='{old}'", f"uuid='{new}'")
            yield domain_xml
        finally:
            for secret in defined:
                self.run("secret-undefine", secret)


def connection_uri() -> str:
    """The libvirt URI the tests use: ``$STABLE_RESCUE_LIBVIRT_URI``, else qemu:///system."""
    return os.environ.get(URI_VARIABLE) or DEFAULT_URI


# What libvirt newer than 9.0 (the version whose dumps are the golden dump-shaped inputs) adds to
# every dump of some domains by itself: 11.3 gives each q35 domain its built-in iTCO watchdog.
# docs/policy.md, "libvirt versions", lists each difference.
ADDED_BY_NEWER_LIBVIRT = re.compile(r"^ *<watchdog model='itco' action='reset'/>\n", re.MULTILINE)


def as_libvirt_9_dump(dump: str) -> str:
    """Libvirt's ``dump`` as libvirt 9.0 prints it: without what newer versions add by default."""
    return ADDED_BY_NEWER_LIBVIRT.sub("", dump)


@functools.cache
def libvirt_version() -> tuple[int, ...] | None:
    """The version of the libvirt daemon at the test URI (``(9, 0, 0)``), None if it is mute."""
    try:
        text = Virsh(connection_uri()).run("version", "--daemon")
    except (VirshError, OSError):
        return None
    match = re.search(r"^Running against daemon: (\d+)\.(\d+)\.(\d+)", text, re.MULTILINE)
    return tuple(int(part) for part in match.groups()) if match else None


@functools.cache
def libvirt_label() -> str:
    """The daemon's version as test ids name it (``libvirt-9.0.0``), ``libvirt-none`` if mute."""
    version = libvirt_version()
    return "libvirt-" + (".".join(map(str, version)) if version else "none")


@functools.cache
def libvirt_workdir() -> Path:
    """Where every file libvirt or QEMU must open goes: ``$STABLE_RESCUE_LIBVIRT_WORKDIR``.

    A daemon in another root sees that directory at the same path (scripts/libvirt-other-root.sh
    bind-mounts it); without the variable, a fresh temporary directory.
    """
    given = os.environ.get(WORKDIR_VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="stable-rescue-libvirt-"))
    # Ours alone, so ours to remove when the run ends (a given directory is the caller's).
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def libvirt_required() -> bool:
    """True when a missing libvirt must fail the tests (CI sets the variable to 1)."""
    return os.environ.get(REQUIRE_VARIABLE) == "1"


def unavailable_reason(uri: str) -> str | None:
    """Why libvirt cannot be used at ``uri`` (``virsh version`` fails), or None if it can."""
    if shutil.which("virsh") is None:
        return "virsh is not on PATH (install libvirt-clients; scripts/libvirt-test-host.sh)"
    try:
        Virsh(uri).run("version")
    except VirshError as error:
        return f"libvirt at {uri} does not answer: {error}"
    return None


def client_or_skip(missing: str | None = None) -> Virsh:
    """The virsh client on the test URI, or a skip (a failure where libvirt is required).

    The test cannot run when libvirt does not answer, or when ``missing`` names what else it
    lacks.
    """
    uri = connection_uri()
    reason = unavailable_reason(uri) or missing
    if reason is not None:
        if libvirt_required():
            pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1, so this is a failure)", pytrace=False)
        pytest.skip(reason)
    return Virsh(uri)


@contextlib.contextmanager
def defined(virsh: Virsh, domain_xml: str) -> Iterator[str]:
    """Define ``domain_xml``; yield its name; destroy and undefine it (and its NVRAM) on exit."""
    name = domain_name(domain_xml)
    assert name.startswith(PREFIX), f"refusing to define {name!r}: not a test domain"
    virsh.run_with_file(["define"], domain_xml)
    try:
        yield name
    finally:
        try:
            if is_active(virsh, name):
                virsh.run("destroy", name)
        finally:
            virsh.run("undefine", "--nvram", name)


def for_test(domain_xml: str, case: str) -> str:
    """``domain_xml`` with ``<name>`` and ``<uuid>`` set for this run; every other byte kept.

    The name is ``srtest-<pid>-<case>``, the uuid a uuid5 of that name. Only the text of the two
    elements changes, and the two attributes of a rescue record that bind it to them (a regex on
    the text, never a re-serialisation).
    """
    name = PREFIX + case
    new_uuid = str(uuid.uuid5(UUID_NAMESPACE, name))
    # <name> and <uuid> are the first children of <domain>, before any <metadata> whose foreign
    # elements could be called the same.
    domain_xml, names = re.subn(r"<name>[^<]*</name>", f"<name>{name}</name>", domain_xml, count=1)
    assert names == 1, f"{case}: no <name> element"
    domain_xml, uuids = re.subn(
        r"<uuid>[^<]*</uuid>", f"<uuid>{new_uuid}</uuid>", domain_xml, count=1
    )
    if uuids == 0:
        # Without one libvirt picks a random uuid per define, and the dumps could never match.
        domain_xml = domain_xml.replace("</name>", f"</name>\n  <uuid>{new_uuid}</uuid>", 1)
    # A rescue record is bound to the domain's name and uuid: it follows them.
    # (Either quote: libvirt writes metadata back with double quotes.)
    domain_xml = re.sub(
        r"""(<[\w-]+:rescue [^>]*?\bname=(['"]))[^'"]*(\2[^>]*?\buuid=(['"]))[^'"]*(\4)""",
        rf"\g<1>{name}\g<3>{new_uuid}\g<5>",
        domain_xml,
        count=1,
    )
    assert domain_name(domain_xml) == name
    assert ET.fromstring(domain_xml).findtext("uuid") == new_uuid
    return domain_xml


def domain_name(domain_xml: str) -> str:
    """The text of the domain's ``<name>``."""
    name = ET.fromstring(domain_xml).findtext("name")
    assert name, "domain without <name>"
    return name


def devices(domain_xml: str) -> list[ET.Element]:
    """The children of ``<devices>``, in document order."""
    found = ET.fromstring(domain_xml).find("devices")
    return [] if found is None else list(found)


DeviceKey = tuple[str, ...]


def device_keys(domain_xml: str) -> dict[DeviceKey, ET.Element]:
    """Each device of the domain under a key that survives a define and dump.

    A disk is known by its target dev, a controller by type and index (a USB one by its model
    too: companions share an index), an interface by its MAC, anything else by its tag and
    position among the devices of that tag.
    """
    return keyed_devices(devices(domain_xml))


def keyed_devices(elements: list[ET.Element]) -> dict[DeviceKey, ET.Element]:
    """``elements`` (the children of ``<devices>``) under the keys of ``device_keys``."""
    keyed: dict[DeviceKey, ET.Element] = {}
    positions: dict[str, int] = {}
    for element in elements:
        tag = element.tag
        target = element.find("target")
        mac = element.find("mac")
        if tag == "disk" and target is not None:
            key: DeviceKey = (tag, target.get("dev", ""))
        elif tag == "controller" and element.get("type") == "usb":
            # ich9-ehci1 and its ich9-uhci companions share one index.
            key = (tag, "usb", element.get("index", ""), element.get("model", ""))
        elif tag == "controller":
            key = (tag, element.get("type", ""), element.get("index", ""))
        elif tag == "interface" and mac is not None:
            key = (tag, mac.get("address", "").lower())
        else:
            position = positions.get(tag, 0)
            positions[tag] = position + 1
            key = (tag, str(position))
        assert key not in keyed, f"two devices with key {key}"
        keyed[key] = element
    return keyed


def number_or_text(value: str) -> int | str:
    """An attribute value as libvirt means it: ``0x05``, ``5`` and ``05`` are all 5."""
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", value):
        return int(value, 16)
    if re.fullmatch(r"[0-9]+", value):
        return int(value, 10)
    return value


def attributes(element: ET.Element | None) -> dict[str, int | str] | None:
    """The element's attributes with numbers compared as numbers (None for no element)."""
    if element is None:
        return None
    return {name: number_or_text(value) for name, value in element.attrib.items()}


def by_alias(domain_xml: str, alias: str) -> ET.Element | None:
    """The device whose ``<alias name>`` is ``alias``."""
    for element in devices(domain_xml):
        found = element.find("alias")
        if found is not None and found.get("name") == alias:
            return element
    return None


def added_aliases(domain_xml: str) -> list[str]:
    """The user aliases of every device stable_rescue added (the rescue disk first)."""
    aliases = []
    for element in devices(domain_xml):
        found = element.find("alias")
        name = "" if found is None else found.get("name", "")
        if name.startswith(ADDED_ALIAS_PREFIX):
            aliases.append(name)
    return sorted(aliases, key=lambda name: name != RESCUE_ALIAS)


def without_addresses(domain_xml: str, keys: set[DeviceKey]) -> str:
    """``domain_xml`` re-serialised without the ``<address>`` of the devices under ``keys``."""
    root = ET.fromstring(domain_xml)
    found = root.find("devices")
    keyed = keyed_devices([] if found is None else list(found))
    for key in sorted(keys & keyed.keys()):
        for address in keyed[key].findall("address"):
            keyed[key].remove(address)
    return ET.tostring(root, encoding="unicode")


def without_hostdevs(domain_xml: str) -> str:
    """``domain_xml`` without its ``<hostdev>`` elements (every other byte kept).

    ``domxml-to-native`` resolves host devices even though it starts nothing: a PCI hostdev
    needs VFIO on the host, a SCSI hostdev the host's ``/sys/bus/scsi/devices`` entry.
    """
    return re.sub(r"\n *<hostdev\b.*?</hostdev>", "", domain_xml, flags=re.DOTALL)


def boot_orders(domain_xml: str) -> dict[DeviceKey, int]:
    """The ``<boot order>`` of every device that has one, by device key."""
    orders = {}
    for key, element in device_keys(domain_xml).items():
        boot = element.find("boot")
        if boot is not None:
            orders[key] = int(boot.get("order", "0"))
    return orders


def os_boot_devs(domain_xml: str) -> list[str]:
    """The ``dev`` of each ``<os><boot dev>``."""
    return [boot.get("dev", "") for boot in ET.fromstring(domain_xml).findall("os/boot")]


QemuDevice = dict[str, object]


def qemu_devices(argv: list[str]) -> list[QemuDevice]:
    """The properties of each ``-device`` of a QEMU command line.

    libvirt 9 with QEMU 7.2 writes them as JSON; older pairs write ``driver,key=value,...``.
    """
    found: list[QemuDevice] = []
    for option, value in itertools.pairwise(argv):
        if option != "-device":
            continue
        if value.startswith("{"):
            loaded = json.loads(value)
            assert isinstance(loaded, dict)
            found.append(loaded)
        else:
            driver, *pairs = value.split(",")
            properties: QemuDevice = {"driver": driver}
            for pair in pairs:
                key, _, item = pair.partition("=")
                properties[key] = item
            found.append(properties)
    return found


def floppy_boot_indexes(argv: list[str]) -> dict[str, int]:
    """The boot index of each floppy unit (``{"A": 1}``), which QEMU sets on the controller.

    libvirt writes ``-global isa-fdc.bootindexA=1`` on pc and ``-device {"driver":"isa-fdc",
    "bootindexA":1}`` on q35; the ``floppy`` device itself has no bootindex.
    """
    indexes: dict[str, int] = {}
    for option, value in itertools.pairwise(argv):
        if option == "-global":
            match = re.fullmatch(r"isa-fdc\.bootindex([AB])=(\d+)", value)
            if match:
                indexes[match.group(1)] = int(match.group(2))
    for device in qemu_devices(argv):
        if device.get("driver") == "isa-fdc":
            for unit in "AB":
                if f"bootindex{unit}" in device:
                    indexes[unit] = int(str(device[f"bootindex{unit}"]))
    return indexes


def boot_indexes(argv: list[str]) -> list[tuple[str, int]]:
    """``(device id, boot index)`` of every QEMU device that has a boot index.

    A floppy drive gets its unit's index from the controller; an index set for a floppy unit
    without a drive is listed under ``isa-fdc``.
    """
    indexes: list[tuple[str, int]] = []
    floppies = floppy_boot_indexes(argv)
    for device in qemu_devices(argv):
        name = str(device.get("id", device.get("driver", "")))
        if device.get("driver") == "floppy":
            unit = "AB"[int(str(device.get("unit", 0)))]
            if unit in floppies:
                indexes.append((name, floppies.pop(unit)))
        elif "bootindex" in device:
            indexes.append((name, int(str(device["bootindex"]))))
    indexes.extend(("isa-fdc", index) for index in floppies.values())
    return indexes


class PciFunction(NamedTuple):
    """One PCI function as the guest sees it, from QEMU's ``query-pci``.

    ``bus`` is the bus number the firmware programmed into the bridges above the function (0 for
    the root bus), so the triple is the guest-visible location.
    """

    bus: int
    slot: int
    function: int
    vendor: int
    device: int
    subsystem_vendor: int | None
    subsystem: int | None
    class_code: int
    qdev_id: str

    @property
    def location(self) -> tuple[int, int, int]:
        """``(bus, slot, function)``."""
        return (self.bus, self.slot, self.function)

    @property
    def identity(self) -> tuple[int, int, int | None, int | None, int]:
        """What the guest identifies the function by: its vendor, device, subsystem and class."""
        return (self.vendor, self.device, self.subsystem_vendor, self.subsystem, self.class_code)

    def __str__(self) -> str:
        return (
            f"{self.bus:02x}:{self.slot:02x}.{self.function} "
            f"{self.vendor:04x}:{self.device:04x} ({self.qdev_id or 'no id'})"
        )


def pci_functions(reply: object) -> list[PciFunction]:
    """Every function in a ``query-pci`` reply, behind bridges too, in the reply's order."""
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("return"), list), reply
    found: list[PciFunction] = []

    def visit(devices: list[dict[str, Any]]) -> None:
        for device in devices:
            identity = device["id"]
            found.append(
                PciFunction(
                    bus=int(device["bus"]),
                    slot=int(device["slot"]),
                    function=int(device["function"]),
                    vendor=int(identity["vendor"]),
                    device=int(identity["device"]),
                    subsystem_vendor=identity.get("subsystem-vendor"),
                    subsystem=identity.get("subsystem"),
                    class_code=int(device["class_info"]["class"]),
                    qdev_id=str(device.get("qdev_id", "")),
                )
            )
            bridge = device.get("pci_bridge")
            if bridge is not None:
                visit(bridge.get("devices", []))

    for bus in reply["return"]:
        visit(bus["devices"])
    return found


def qmp(virsh: Virsh, name: str, command: str, **arguments: str) -> Any:
    """What QMP ``command`` returns for the running domain ``name``."""
    request: dict[str, object] = {"execute": command}
    if arguments:
        request["arguments"] = arguments
    reply = json.loads(virsh.run("qemu-monitor-command", name, json.dumps(request)))
    assert "return" in reply, f"{command} {arguments}: {reply}"
    return reply["return"]


def query_pci(virsh: Virsh, name: str) -> list[PciFunction]:
    """The PCI functions of the running domain ``name`` (QMP ``query-pci``)."""
    return pci_functions({"return": qmp(virsh, name, "query-pci")})


def is_active(virsh: Virsh, name: str) -> bool:
    """True when the domain ``name`` is running (or paused)."""
    return virsh.run("domstate", name).strip() not in {"shut off", "crashed"}


def destroy_leftovers(virsh: Virsh) -> list[str]:
    """Stop every running domain of this run (``undefine_leftovers`` then removes them)."""
    names = [name for name in virsh.run("list", "--name").split() if name]
    leftovers = [name for name in names if name.startswith(PREFIX)]
    for name in leftovers:
        virsh.run("destroy", name)
    return leftovers
