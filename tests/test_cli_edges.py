"""The installed ``stable-rescue`` script at the edges a careless user reaches (issue 9).

Each test runs the console script that the package installs, in a subprocess, as a user's
shell would: output files that are devices, FIFOs or links; misspelt properties; legacy mode
without asking; warnings and ``--strict``; live dumps; ``--version``; usage errors; ``status``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import stat
import subprocess
import sysconfig
import threading
from pathlib import Path

import pytest

import stable_rescue
from stable_rescue.cli import build_parser
from stable_rescue.source import SOURCE_FORMATS
from tests.golden_cases import GOLDEN

SCRIPT = Path(sysconfig.get_path("scripts")) / "stable-rescue"
SOURCE = "/var/lib/libvirt/images/rescue.iso"
USB = ["--property", "hw_rescue_bus=usb", "--source", SOURCE]
FIXTURES = Path(__file__).parent / "fixtures"
# `virsh dumpxml` (without --inactive) of golden case pc-virtio-disk's input, running under
# libvirt 9.0 / QEMU 7.2 (TCG), its root disk moved to a scratch directory.
LIVE_DUMP = FIXTURES / "live-dump" / "pc-running.xml"
IS_ROOT = os.geteuid() == 0


def run(*argv: str, feed: bytes | None = b"", **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The installed script with ``argv``, fed ``feed`` on stdin (else ``kwargs['stdin']``)."""
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (pip install -e .)"
    completed = subprocess.run(  # type: ignore[call-overload]
        [str(SCRIPT), *argv],
        input=feed.decode() if feed is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed  # type: ignore[no-any-return]


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    """A copy of golden input pc-virtio-disk (pc, virtio root, piix3-uhci) in tmp_path."""
    path = tmp_path / "domain.xml"
    path.write_bytes((GOLDEN / "pc-virtio-disk" / "input.xml").read_bytes())
    return path


def rescued_text(domain: Path) -> str:
    """The library's USB rescue of ``domain``: what the script must write."""
    text = domain.read_text(encoding="utf-8")
    return stable_rescue.rescue(text, {"hw_rescue_bus": "usb"}, SOURCE).xml


# --- -o onto what is not a regular file --------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="mknod of a device node needs root (CI runs as root)")
def test_output_onto_character_device_keeps_the_device(domain: Path, tmp_path: Path) -> None:
    """-o onto a character device writes into it; the device node is never replaced.

    The node is a copy of /dev/null (1:3) made in tmp_path: a rename over it, as an atomic
    write does, would turn it into a regular file (this once broke a machine's /dev/null).
    """
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    completed = run("rescue", str(domain), *USB, "-o", str(null))
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "", "")
    assert stat.S_ISCHR(null.stat().st_mode)
    assert null.stat().st_rdev == os.makedev(1, 3)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml", "null"]


@pytest.mark.skipif(not IS_ROOT, reason="mknod of a device node needs root (CI runs as root)")
def test_output_onto_block_device_refused(domain: Path, tmp_path: Path) -> None:
    """-o onto a block device is refused before it is opened: XML written there kills a disk.

    The node (loop device major 7, a minor no loop device uses) is never opened.
    """
    disk = tmp_path / "disk"
    os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(7, 250))
    completed = run("rescue", str(domain), *USB, "-o", str(disk))
    assert completed.returncode == 1
    assert completed.stderr == (
        f"stable-rescue: error[unwritable-output]: cannot write '{disk}' (it is a block "
        "device); expected a regular file, a character device or a FIFO\n"
    )
    assert stat.S_ISBLK(disk.stat().st_mode)


def test_output_onto_fifo_writes_into_it(domain: Path, tmp_path: Path) -> None:
    """-o onto a FIFO writes the XML into the pipe, as a shell redirect does; it stays a FIFO."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    completed = run("rescue", str(domain), *USB, "-o", str(fifo))
    reader.join(timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert received == [rescued_text(domain).encode()]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_to_dev_stdout(domain: Path) -> None:
    """-o /dev/stdout (a pipe here) gets a plain write: the XML arrives on stdout."""
    completed = run("rescue", str(domain), *USB, "-o", "/dev/stdout")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == rescued_text(domain)


def test_output_through_symlink_keeps_the_link(domain: Path, tmp_path: Path) -> None:
    """-o onto a symbolic link writes its target (atomically), as a shell redirect would.

    The link stays a link, the target keeps its mode, and no temporary file is left.
    """
    target = tmp_path / "real" / "guest.xml"
    target.parent.mkdir()
    target.write_text("previous\n", encoding="utf-8")
    target.chmod(0o640)
    link = tmp_path / "guest.xml"
    link.symlink_to(target)
    completed = run("rescue", str(domain), *USB, "-o", str(link))
    assert completed.returncode == 0, completed.stderr
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") == rescued_text(domain)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(path.name for path in target.parent.iterdir()) == ["guest.xml"]


def test_output_through_dangling_symlink_creates_the_target(domain: Path, tmp_path: Path) -> None:
    """A link to a file that does not exist yet: the file is created, the link kept."""
    target = tmp_path / "new.xml"
    link = tmp_path / "link.xml"
    link.symlink_to(target)
    completed = run("rescue", str(domain), *USB, "-o", str(link))
    assert completed.returncode == 0, completed.stderr
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == rescued_text(domain)


def test_new_output_file_mode_follows_umask(domain: Path, tmp_path: Path) -> None:
    """A new -o file gets 0666 less the umask, as a shell redirect gives (not mkstemp's 0600)."""
    output = tmp_path / "out.xml"
    completed = run(
        "rescue", str(domain), *USB, "-o", str(output), preexec_fn=lambda: os.umask(0o022)
    )
    assert completed.returncode == 0, completed.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o644


# --- misspelt properties and legacy mode -------------------------------------------------------

MISSPELT = [
    pytest.param("hw_resuce_bus=usb", "hw_resuce_bus", "hw_rescue_bus", id="typo"),
    pytest.param("HW_RESCUE_BUS=usb", "HW_RESCUE_BUS", "hw_rescue_bus", id="case"),
    pytest.param("hw_rescue_bus =usb", "hw_rescue_bus ", "hw_rescue_bus", id="space"),
]


@pytest.mark.parametrize(("item", "key", "meant"), MISSPELT)
def test_misspelt_key_refused(
    domain: Path, tmp_path: Path, item: str, key: str, meant: str
) -> None:
    """A near miss of a rescue key exits 1 with "did you mean", and writes nothing.

    Before, it exited 0 with a legacy rescue: the root disk moved to vdb.
    """
    output = tmp_path / "out.xml"
    completed = run(
        "rescue", str(domain), "--property", item, "--source", SOURCE, "-o", str(output)
    )
    assert completed.returncode == 1
    assert completed.stderr == (
        f"stable-rescue: error[misspelt-property]: image property {key!r} is not one this tool "
        f"reads; did you mean {meant!r}?\n"
    )
    assert not output.exists()


def test_legacy_needs_the_flag(domain: Path) -> None:
    """No rescue key and no --legacy: refused, naming the flag; nothing on stdout."""
    completed = run("rescue", str(domain), "--source", SOURCE)
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == (
        "stable-rescue: error[legacy-not-requested]: the image sets neither hw_rescue_bus nor "
        "hw_rescue_device (Nova's rule: either key chooses stable mode), which means legacy mode "
        "(the root disk moves, other disks are detached); expected hw_rescue_bus or "
        "hw_rescue_device, or --legacy to ask for legacy mode\n"
    )


def test_legacy_with_the_flag(domain: Path) -> None:
    """--legacy gives Nova's layout, and the plan says which mode and why."""
    completed = run("plan", str(domain), "--legacy", "--source", SOURCE)
    assert completed.returncode == 0, completed.stderr
    plan = json.loads(completed.stdout)
    assert (plan["mode"], plan["target"], plan["root_moved"]["target"]) == ("legacy", "vda", "vdb")
    assert plan["mode_reason"].startswith("the image sets neither hw_rescue_bus nor")


def test_legacy_flag_with_rescue_key_refused(domain: Path) -> None:
    """--legacy beside hw_rescue_bus asks for two modes: refused."""
    completed = run("rescue", str(domain), "--legacy", *USB)
    assert completed.returncode == 1
    assert completed.stderr == (
        "stable-rescue: error[mode-conflict]: --legacy given but the image sets hw_rescue_bus; "
        "expected one mode, not both\n"
    )


# --- warnings and --strict ---------------------------------------------------------------------


def test_legacy_warning_reaches_stderr(domain: Path, tmp_path: Path) -> None:
    """A plan warning (legacy mode detaching a disk) is printed, one line, and exit stays 0."""
    edited = tmp_path / "two-disks.xml"
    text = domain.read_text(encoding="utf-8")
    data_disk = (
        "<disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
        "      <source file='/var/lib/libvirt/images/data.raw'/>\n"
        "      <target dev='vdb' bus='virtio'/>\n"
        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>\n"
        "    </disk>\n    <controller type='usb'"
    )
    edited.write_text(text.replace("<controller type='usb'", data_disk, 1), encoding="utf-8")
    completed = run("rescue", str(edited), "--legacy", "--source", SOURCE)
    assert completed.returncode == 0
    assert completed.stderr.startswith("stable-rescue: warning: legacy mode detaches 1 disk(s)")
    assert completed.stderr.count("\n") == 1


def test_unaddressed_warning_and_strict(domain: Path, tmp_path: Path) -> None:
    """--allow-unaddressed warns; --strict makes the warning exit 1 and writes nothing."""
    text = domain.read_text(encoding="utf-8")
    start = text.index("<address type='pci' domain='0x0000' bus='0x00' slot='0x03'")
    unaddressed = tmp_path / "unaddressed.xml"
    unaddressed.write_text(text[:start] + text[text.index("\n", start) + 1 :], encoding="utf-8")
    argv = ["rescue", str(unaddressed), *USB, "--allow-unaddressed"]
    completed = run(*argv)
    assert completed.returncode == 0
    warning = (
        "stable-rescue: warning: devices without an address (interface:52:54:00:5a:00:01) will "
        "be placed by libvirt after the rescue device: their addresses may differ from a define "
        "without it\n"
    )
    assert completed.stderr == warning
    output = tmp_path / "out.xml"
    strict = run(*argv, "--strict", "-o", str(output))
    assert strict.returncode == 1
    assert strict.stderr == warning + (
        "stable-rescue: error[strict-warnings]: 1 warning(s) under --strict; expected none, "
        "nothing was written\n"
    )
    assert not output.exists()


def test_warnings_as_json(domain: Path) -> None:
    """Under --json-errors a warning is a JSON object, and the strict error keeps its list."""
    completed = run("--json-errors", "rescue", str(LIVE_DUMP), *USB, "--strict")
    assert completed.returncode == 1
    warning, error = (json.loads(line) for line in completed.stderr.splitlines())
    assert warning["warning"].startswith("input looks like a live dump")
    assert error["code"] == "strict-warnings"
    assert error["warnings"] == [warning["warning"]]


# --- live dumps --------------------------------------------------------------------------------


def test_live_dump_warned(tmp_path: Path) -> None:
    """A live dump (virsh dumpxml without --inactive) is rescued with a warning naming why."""
    completed = run("rescue", str(LIVE_DUMP), *USB)
    assert completed.returncode == 0
    assert completed.stderr == (
        "stable-rescue: warning: input looks like a live dump (<domain id='35'>; 10 alias(es) "
        "libvirt chose, such as 'virtio-disk0'; <source index>): defining the result makes the "
        "running configuration persistent; dump with virsh dumpxml --inactive --security-info\n"
    )
    rescued = tmp_path / "rescued.xml"
    rescued.write_text(completed.stdout, encoding="utf-8")
    undone = run("unrescue", str(rescued), "--strict")
    assert undone.returncode == 1
    assert undone.stderr.startswith("stable-rescue: warning: input looks like a live dump")
    assert undone.stdout == ""


def test_inactive_dump_not_warned(domain: Path) -> None:
    """The golden inputs are inactive dumps: no warning, nothing on stderr."""
    completed = run("rescue", str(domain), *USB, "--strict")
    assert (completed.returncode, completed.stderr) == (0, "")


# --- conventions: --version, abbreviations, usage lines, help, stdin ---------------------------


def test_version() -> None:
    """--version prints the package metadata's version, which __version__ also is."""
    completed = run("--version")
    version = importlib.metadata.version("stable-rescue")
    assert (completed.returncode, completed.stdout) == (0, f"stable-rescue {version}\n")
    assert stable_rescue.__version__ == version


def test_no_abbreviations(domain: Path) -> None:
    """--image (an openstack habit) is not taken as --image-json: a usage error, exit 2."""
    completed = run("rescue", str(domain), "--image", "rescue-image", "--source", SOURCE)
    assert completed.returncode == 2
    assert completed.stderr.startswith("usage: stable-rescue rescue ")
    assert completed.stderr.endswith(
        "stable-rescue: usage error: unrecognized arguments: --image rescue-image\n"
    )


def test_subcommand_usage_line(domain: Path) -> None:
    """A subcommand's usage error shows that subcommand's usage, not the top-level one."""
    completed = run("plan", str(domain))
    assert completed.returncode == 2
    assert completed.stderr.startswith("usage: stable-rescue plan ")
    assert completed.stderr.endswith(
        "stable-rescue: usage error: the following arguments are required: --source\n"
    )


def test_every_option_has_help() -> None:
    """Every option of every command has help text; --source-format lists its values."""
    parser = build_parser()
    for name, command in [("", parser), *parser.commands.items()]:
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        if name:
            assert command.epilog
            assert "stable-rescue " + name in command.epilog
    help_text = parser.commands["rescue"].format_help()
    flat = " ".join(help_text.split())
    assert all(fmt in flat for fmt in SOURCE_FORMATS), help_text


def test_stdin_terminal_refused(domain: Path) -> None:
    """No INPUT and stdin a terminal: exit 2 at once with a message, instead of waiting."""
    controller, terminal = pty.openpty()
    try:
        completed = run("unrescue", feed=None, stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert completed.returncode == 2
    assert completed.stderr == (
        "stable-rescue: usage error: no INPUT file given and stdin is a terminal; expected a "
        "file name, or XML piped in\n"
    )


# --- status ------------------------------------------------------------------------------------


def test_status(domain: Path, tmp_path: Path) -> None:
    """status: exit 0 with mode and rescue disk when rescued, 3 when not, 1 on bad input."""
    rescued = tmp_path / "rescued.xml"
    rescued.write_text(rescued_text(domain), encoding="utf-8")
    assert run("status", str(rescued)).stdout == "rescued: stable mode, rescue disk sda (usb)\n"
    assert run("status", str(rescued)).returncode == 0
    as_json = run("status", "--json", "-", feed=rescued.read_bytes())
    assert json.loads(as_json.stdout) == {
        "rescued": True,
        "mode": "stable",
        "target": "sda",
        "bus": "usb",
    }
    plain = run("status", str(domain))
    assert (plain.returncode, plain.stdout) == (3, "not rescued\n")
    assert json.loads(run("status", "--json", str(domain)).stdout) == {"rescued": False}
    broken = run("status", "-", feed=b"<domain")
    assert broken.returncode == 1
    assert broken.stderr.startswith("stable-rescue: error[invalid-domain-xml]: ")


def test_is_rescued(domain: Path) -> None:
    """is_rescued tells a rescued domain from one that is not."""
    text = domain.read_text(encoding="utf-8")
    assert stable_rescue.is_rescued(text) is False
    assert stable_rescue.is_rescued(rescued_text(domain)) is True


# --- --image-json with what the openstack client really prints --------------------------------

IMAGE_JSON = [
    # Current client: typed values (hw_cpu_cores 2, hw_qemu_guest_agent true, locations a list).
    pytest.param("openstack-image-show.json", ("usb", "disk", "sda"), id="typed-properties"),
    # Old client: properties as one format_dict string whose values hold commas and quotes.
    pytest.param("openstack-image-show-old.json", ("sata", "cdrom", "sda"), id="string-properties"),
    # Glance's own image body: a flat object.
    pytest.param("flat.json", ("virtio", "disk", "vdb"), id="flat"),
]


@pytest.mark.parametrize(("fixture", "expected"), IMAGE_JSON)
def test_image_json_from_the_openstack_client(
    domain: Path, fixture: str, expected: tuple[str, str, str]
) -> None:
    """Real `openstack image show -f json` output is read: keys it does not need are ignored.

    Before, typed values (a bool, an int, a list) were refused, and commas in the old string
    form broke it.
    """
    path = FIXTURES / "image-json" / fixture
    completed = run("plan", str(domain), "--image-json", str(path), "--source", SOURCE)
    assert (completed.returncode, completed.stderr) == (0, "")
    plan = json.loads(completed.stdout)
    assert (plan["bus"], plan["device_type"], plan["target"]) == expected
