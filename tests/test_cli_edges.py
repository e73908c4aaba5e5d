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
import resource
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

import stable_rescue
from stable_rescue.cli import MAX_INPUT_ENV, build_parser
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
# The copy of the package these tests imported (src/ of this tree, or an installed wheel). The
# script is run with it first on PYTHONPATH: an editable install may point at another checkout.
PACKAGE_ROOT = str(Path(stable_rescue.__file__).resolve().parent.parent)


def script_env(**extra: str) -> dict[str, str]:
    """The environment for the script: this test run's package copy first on the path."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT + (os.pathsep + path if path else "")}
    env.pop(MAX_INPUT_ENV, None)
    return {**env, **extra}


def run(*argv: str, feed: bytes | None = b"", **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The installed script with ``argv``, fed ``feed`` on stdin (else ``kwargs['stdin']``)."""
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (pip install -e .)"
    kwargs.setdefault("env", script_env())
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


def run_to(stdout: int | IO[bytes], *argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The script with its stdout given (a file, /dev/full); stderr captured, stdin empty."""
    kwargs.setdefault("env", script_env())
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    completed = subprocess.run(
        [str(SCRIPT), *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


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
    # Rule R1: a domain rescued by 0.1.0, its record under the provisional namespace.
    current = rescued_text(domain)
    assert "'urn:stable-rescue:rescue:1'" in current
    provisional = tmp_path / "provisional.xml"
    provisional.write_text(
        current.replace("urn:stable-rescue:rescue:1", "http://stable-rescue.org/xmlns/rescue/1"),
        encoding="utf-8",
    )
    assert run("status", str(provisional)).stdout == "rescued: stable mode, rescue disk sda (usb)\n"
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


# --- hostile I/O: closed streams, full disks, broken pipes, endless input (issue 12) ----------


def big_domain(domain: Path, tmp_path: Path) -> Path:
    """``domain`` with a 300 kB description: output larger than a pipe's 64 kB buffer."""
    path = tmp_path / "big.xml"
    text = domain.read_text(encoding="utf-8")
    description = "<description>" + "x" * 300_000 + "</description>\n  <uuid>"
    path.write_text(text.replace("<uuid>", description, 1), encoding="utf-8")
    return path


def test_stdin_closed(domain: Path) -> None:
    """`stable-rescue rescue ... <&-`: exit 1 with unreadable-input.

    Before: AttributeError traceback ('NoneType' object has no attribute 'isatty').
    """
    completed = run("rescue", *USB, feed=None, preexec_fn=lambda: os.close(0))
    assert (completed.returncode, completed.stdout) == (1, "")
    assert completed.stderr == (
        "stable-rescue: error[unreadable-input]: cannot read stdin (it is closed); expected a "
        "file name, or XML piped in\n"
    )


@pytest.mark.parametrize(
    "argv",
    [["rescue", "{domain}", *USB], ["status", "{domain}"], ["--version"]],
    ids=["rescue", "status", "version"],
)
def test_stdout_closed(argv: list[str], domain: Path) -> None:
    """`>&-`: exit 1 with unwritable-output, whatever the command prints.

    Before: rescue gave an AttributeError traceback; status and --version exited 0 having
    printed nothing (--version printed to stderr instead).
    """
    argv = [arg.format(domain=domain) for arg in argv]
    completed = run_to(subprocess.DEVNULL, *argv, preexec_fn=lambda: os.close(1))
    assert completed.returncode == 1
    assert completed.stderr == (
        "stable-rescue: error[unwritable-output]: cannot write stdout (it is closed); expected "
        "an open stdout, or -o FILE\n"
    )


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "argv",
    [["rescue", "{domain}", *USB], ["status", "{domain}"], ["--version"], ["plan", "-h"]],
    ids=["rescue", "status", "version", "help"],
)
def test_stdout_full(argv: list[str], unbuffered: bool, domain: Path) -> None:
    """Stdout on /dev/full: exit 1 with unwritable-output (ENOSPC), one line, no traceback.

    Before: an OSError traceback from rescue; status, --version and -h exited 0.
    """
    argv = [arg.format(domain=domain) for arg in argv]
    env = script_env(**({"PYTHONUNBUFFERED": "1"} if unbuffered else {}))
    with open("/dev/full", "wb") as full:  # only ever a subprocess's stdout
        completed = run_to(full, *argv, env=env)
    assert completed.returncode == 1
    assert completed.stderr == (
        "stable-rescue: error[unwritable-output]: cannot write stdout (No space left on "
        "device); expected room for the whole output\n"
    )


def test_broken_pipe_is_quiet_and_fails(domain: Path, tmp_path: Path) -> None:
    """`| head -c 10` on output larger than the pipe: exit 141, as SIGPIPE would, and quiet.

    Before: exit 0, though most of the XML was never written (a partial write, ignored).
    """
    process = subprocess.Popen(
        [str(SCRIPT), "rescue", str(big_domain(domain, tmp_path)), *USB],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=script_env(),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.read(10) == b"<domain ty"
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert (process.wait(timeout=60), stderr) == (141, b"")


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_short_write_fails(unbuffered: bool, domain: Path, tmp_path: Path) -> None:
    """A write that takes only part of the output (a file size limit here) is not success.

    RLIMIT_FSIZE makes write() take the bytes up to the limit and return that count; the next
    write fails with EFBIG. Before: exit 0 with the output cut at 1000 bytes (unbuffered), or an
    OSError traceback (buffered).
    """

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    env = script_env(
        PYTHONDONTWRITEBYTECODE="1", **({"PYTHONUNBUFFERED": "1"} if unbuffered else {})
    )
    output = tmp_path / "stdout.xml"
    with output.open("wb") as handle:
        completed = run_to(handle, "rescue", str(domain), *USB, env=env, preexec_fn=limit_file_size)
    assert completed.returncode == 1
    assert completed.stderr == (
        "stable-rescue: error[unwritable-output]: cannot write stdout (File too large); "
        "expected room for the whole output\n"
    )


def test_whole_output_through_a_slow_pipe(domain: Path, tmp_path: Path) -> None:
    """Output larger than the pipe, read slowly: every byte arrives, exit 0."""
    big = big_domain(domain, tmp_path)
    process = subprocess.Popen(
        [str(SCRIPT), "rescue", str(big), *USB],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=script_env(PYTHONUNBUFFERED="1"),
    )
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (0, b"")
    assert stdout == rescued_text(big).encode()


# --- endless and oversized input ---------------------------------------------------------------

TOO_LARGE = (
    "stable-rescue: error[unreadable-input]: cannot read '{name}' (larger than {limit} bytes); "
    "expected a domain XML or image JSON within the limit (--max-input-bytes or "
    "$STABLE_RESCUE_MAX_INPUT_BYTES)\n"
)


def test_endless_input_file() -> None:
    """/dev/zero as INPUT stops at the 16 MiB limit. Before: read until memory ran out."""
    completed = run("rescue", "/dev/zero", *USB)
    assert completed.returncode == 1
    assert completed.stderr == TOO_LARGE.format(name="/dev/zero", limit=16 * 1024 * 1024)


def test_endless_stdin() -> None:
    """/dev/zero on stdin, with the limit from the option (suffix M: MiB)."""
    with open("/dev/zero", "rb") as zero:
        completed = run("rescue", *USB, "--max-input-bytes", "1M", feed=None, stdin=zero)
    assert completed.returncode == 1
    assert completed.stderr == TOO_LARGE.format(name="stdin", limit=1024 * 1024)


def test_input_limit_from_environment(domain: Path, tmp_path: Path) -> None:
    """$STABLE_RESCUE_MAX_INPUT_BYTES sets the limit, for INPUT and --image-json alike."""
    size = domain.stat().st_size
    env = script_env(**{MAX_INPUT_ENV: str(size - 1)})
    completed = run("rescue", str(domain), *USB, env=env)
    assert completed.stderr == TOO_LARGE.format(name=domain, limit=size - 1)
    env = script_env(**{MAX_INPUT_ENV: str(size)})
    assert run("rescue", str(domain), *USB, env=env).returncode == 0
    image = tmp_path / "image.json"
    image.write_text(json.dumps({"hw_rescue_bus": "usb", "pad": "x" * size}), encoding="utf-8")
    completed = run("plan", str(domain), "--image-json", str(image), "--source", SOURCE, env=env)
    assert completed.stderr == TOO_LARGE.format(name=image, limit=size)
    # The option wins over the environment.
    completed = run("rescue", str(domain), *USB, "--max-input-bytes", "1", env=env)
    assert completed.stderr == TOO_LARGE.format(name=domain, limit=1)


@pytest.mark.parametrize("value", ["0", "lots", "-5", "1T"])
def test_bad_input_limit(value: str, domain: Path) -> None:
    """A limit that is not a positive byte count is a usage error, from option or environment."""
    completed = run("rescue", str(domain), *USB, "--max-input-bytes", value)
    assert completed.returncode == 2
    assert completed.stderr.endswith(
        f"stable-rescue: usage error: argument --max-input-bytes: {value!r}; expected a positive "
        "number of bytes, such as 16777216 or 16M\n"
    )
    completed = run("rescue", str(domain), *USB, env=script_env(**{MAX_INPUT_ENV: value}))
    assert (completed.returncode, completed.stderr) == (
        2,
        f"stable-rescue: usage error: ${MAX_INPUT_ENV} {value!r}; expected a positive number "
        "of bytes, such as 16777216 or 16M\n",
    )


def test_deeply_nested_image_json(domain: Path, tmp_path: Path) -> None:
    """--image-json nested 100,000 deep: invalid-image-json. Before: a RecursionError traceback."""
    image = tmp_path / "deep.json"
    image.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    completed = run("plan", str(domain), "--image-json", str(image), "--source", SOURCE)
    assert completed.returncode == 1
    assert completed.stderr.startswith(
        f"stable-rescue: error[invalid-image-json]: --image-json '{image}' nests lists or objects "
        "too deeply to read"
    )


# --- never write over an input; file names that cannot be meant -------------------------------


def test_output_onto_the_input_refused(domain: Path, tmp_path: Path) -> None:
    """-o naming the input (itself, through a link, or the file on stdin) is refused.

    Before: the input file was replaced by the rescued XML.
    """
    original = domain.read_bytes()
    link = tmp_path / "link.xml"
    link.symlink_to(domain)
    for output in (domain, link):
        completed = run("rescue", str(domain), *USB, "-o", str(output))
        assert completed.returncode == 1
        assert completed.stderr == (
            f"stable-rescue: error[unwritable-output]: cannot write '{output}' (it is the input "
            f"file '{domain}'); expected a different file\n"
        )
    with domain.open("rb") as stdin:
        completed = run("rescue", "-", *USB, "-o", str(domain), feed=None, stdin=stdin)
    assert completed.stderr.endswith("(it is the input file 'stdin'); expected a different file\n")
    image = tmp_path / "image.json"
    image.write_text('{"hw_rescue_bus": "usb"}', encoding="utf-8")
    argv = ["rescue", str(domain), "--image-json", str(image), "--source", SOURCE]
    completed = run(*argv, "--plan-json", str(image))
    assert completed.returncode == 1
    # Nothing is written when one output is an input, not even the other output.
    completed = run(*argv, "--plan-json", str(tmp_path / "plan.json"), "-o", str(domain))
    assert completed.returncode == 1
    assert image.read_text(encoding="utf-8") == '{"hw_rescue_bus": "usb"}'
    assert domain.read_bytes() == original
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "domain.xml",
        "image.json",
        "link.xml",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", ""], "-o is an empty file name; expected a file name, or -"),
        (["--image-json", ""], "--image-json is an empty file name; expected a file name, or -"),
        (
            ["-o", "{tmp}/out.xml", "--plan-json", "{tmp}/./out.xml"],
            "--plan-json and -o both name '{tmp}/./out.xml'; expected two different files",
        ),
        (
            ["--plan-json", "-"],
            "--plan-json - and the result both go to stdout; expected a file name",
        ),
        (
            ["--property", "hw_rescue_bus=virtio"],
            "--property 'hw_rescue_bus' given twice, as 'usb' and 'virtio'; expected one value",
        ),
        (
            ["--source", "/srv/other.iso"],
            f"argument --source: given twice, as '{SOURCE}' and '/srv/other.iso'; expected one "
            "value",
        ),
        (
            ["-o", "{tmp}/a.xml", "--output", "{tmp}/b.xml"],
            "argument -o/--output: given twice, as '{tmp}/a.xml' and '{tmp}/b.xml'; expected "
            "one value",
        ),
    ],
    ids=[
        "empty-output",
        "empty-image-json",
        "plan-json-is-output",
        "plan-json-on-stdout",
        "property-twice",
        "source-twice",
        "output-twice",
    ],
)
def test_contradictory_arguments(
    argv: list[str], message: str, domain: Path, tmp_path: Path
) -> None:
    """Arguments that cannot mean what was wanted: usage errors, nothing written.

    Before: -o '' tried to rename over the current directory; --image-json '' was silently
    ignored; --plan-json onto -o was overwritten by the XML; the last --property, --source or
    -o won.
    """
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    completed = run("rescue", str(domain), *USB, *argv)
    assert (completed.returncode, completed.stdout) == (2, "")
    last = completed.stderr.splitlines()[-1]
    assert last == f"stable-rescue: usage error: {message.format(tmp=tmp_path)}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["domain.xml"]


def test_stdin_for_input_and_image_json(domain: Path) -> None:
    """INPUT and --image-json both '-': a usage error. Before: the second read found nothing."""
    completed = run("plan", "-", "--image-json", "-", "--source", SOURCE, feed=domain.read_bytes())
    assert (completed.returncode, completed.stderr) == (
        2,
        "stable-rescue: usage error: INPUT and --image-json both read stdin; expected a file for "
        "one\n",
    )


def test_same_property_twice_with_one_value(domain: Path) -> None:
    """The same KEY=VALUE twice is no contradiction: accepted."""
    completed = run("rescue", str(domain), *USB, "--property", "hw_rescue_bus=usb")
    assert (completed.returncode, completed.stdout) == (0, rescued_text(domain))


@pytest.mark.parametrize(
    ("output", "reason"),
    [("missing/out.xml", "No such file or directory"), ("domain.xml/out.xml", "Not a directory")],
    ids=["no-directory", "parent-is-a-file"],
)
def test_output_directory_unusable(output: str, reason: str, domain: Path, tmp_path: Path) -> None:
    """-o into a directory that is not there: unwritable-output, nothing created."""
    path = tmp_path / output
    completed = run("rescue", str(domain), *USB, "-o", str(path))
    assert completed.stderr == (
        f"stable-rescue: error[unwritable-output]: cannot write '{path}' ({reason}); expected a "
        "writable path\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domain.xml"]


def test_input_is_a_directory(tmp_path: Path) -> None:
    """A directory as INPUT: unreadable-input."""
    completed = run("rescue", str(tmp_path), *USB)
    assert completed.stderr == (
        f"stable-rescue: error[unreadable-input]: cannot read '{tmp_path}' (Is a directory); "
        "expected a readable file\n"
    )


def test_input_from_a_fifo(domain: Path, tmp_path: Path) -> None:
    """A FIFO as INPUT is read to its end, as from a pipe."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(domain.read_bytes()))
    writer.start()
    completed = run("rescue", str(fifo), *USB)
    writer.join(timeout=60)
    assert (completed.returncode, completed.stdout) == (0, rescued_text(domain))


def test_too_many_arguments(domain: Path) -> None:
    """Thousands of --property: a usage error at once, not minutes in argparse (quadratic).

    Before: 5,000 arguments were parsed (50,000 took 96 s).
    """
    many = [f"--property=k{index}=v" for index in range(5000)]
    completed = run("rescue", str(domain), *USB, *many)
    assert completed.returncode == 2
    assert completed.stderr.endswith(
        "stable-rescue: usage error: 5006 arguments; expected at most 4096 (put image properties "
        "in a file for --image-json)\n"
    )


def test_image_json_list_and_typed_values(domain: Path, tmp_path: Path) -> None:
    """A list, or non-string values of properties the library reads: clear errors, exit 1."""
    image = tmp_path / "image.json"
    image.write_text('[{"hw_rescue_bus": "usb"}]', encoding="utf-8")
    completed = run("plan", str(domain), "--image-json", str(image), "--source", SOURCE)
    assert completed.stderr == (
        f"stable-rescue: error[invalid-image-json]: --image-json '{image}' holds a list; "
        "expected an object\n"
    )
    image.write_text('{"hw_rescue_bus": ["usb"]}', encoding="utf-8")
    completed = run("plan", str(domain), "--image-json", str(image), "--source", SOURCE)
    assert completed.returncode == 1
    assert completed.stderr.startswith("stable-rescue: error[invalid-properties]: ")


# --- long values in messages -------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_long_values_cut_in_errors(as_json: bool, tmp_path: Path) -> None:
    """A 50 kB value in an error is cut to 200 characters, with its length; so in JSON.

    Before: the whole value was printed, in the message and again in the JSON context.
    """
    name = str(tmp_path / ("n" * 50_000))
    flags = ["--json-errors"] if as_json else []
    completed = run(*flags, "rescue", name, *USB)
    assert completed.returncode == 1
    assert len(completed.stderr) < 1000
    assert completed.stderr.count("\n") == 1
    cut = f"{name[:200]}... ({len(name)} characters)"
    message = f"cannot read '{cut}' (File name too long); expected a readable file"
    if as_json:
        error = json.loads(completed.stderr)
        assert (error["code"], error["message"], error["path"]) == (
            "unreadable-input",
            message,
            cut,
        )
    else:
        assert completed.stderr == f"stable-rescue: error[unreadable-input]: {message}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--property", "p" * 100_000],
        ["--source", "/" + "s" * 100_000],
        ["--property", "hw_rescue_device=" + "u" * 100_000],
        ["--image-json", "/" + "i" * 100_000],
    ],
    ids=["usage-error", "source", "property-value", "image-json-name"],
)
def test_no_long_error_lines(argv: list[str], domain: Path) -> None:
    """Whatever long value an error quotes, its line stays short: no quoted run over 200."""
    completed = run(
        "rescue", str(domain), "--property", "hw_rescue_bus=usb", "--source", SOURCE, *argv
    )
    assert completed.returncode in (1, 2)
    last = completed.stderr.splitlines()[-1]
    assert last.startswith("stable-rescue: "), last[:300]
    assert len(last) < 800, last[:300]


# --- temporary files left by a killed run ------------------------------------------------------

KILL_AT_RENAME = """\
import os, signal, sys
from stable_rescue import cli
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # killed before the rename
sys.exit(cli.main(sys.argv[1:]))
"""


def temporaries(directory: Path) -> list[str]:
    """The names of the -o temporary files in ``directory``."""
    return sorted(path.name for path in directory.iterdir() if path.name.startswith(".stable-"))


def test_temporary_file_of_a_killed_run_is_removed_later(domain: Path, tmp_path: Path) -> None:
    """A run killed (SIGKILL) while writing -o leaves its temporary file; a later run removes it.

    Only once the file is ten minutes old and its process gone. Before: it stayed for good.
    """
    out = tmp_path / "out"
    out.mkdir()
    argv = ["rescue", str(domain), *USB, "-o", str(out / "rescued.xml")]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AT_RENAME, *argv],
        capture_output=True,
        env=script_env(),
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    (left,) = temporaries(out)
    assert run(*argv).returncode == 0
    assert temporaries(out) == [left]  # too young to be sure
    hour_ago = time.time() - 3600
    os.utime(out / left, (hour_ago, hour_ago))
    assert run(*argv).returncode == 0
    assert temporaries(out) == []
    assert (out / "rescued.xml").read_text(encoding="utf-8") == rescued_text(domain)


def test_only_stale_temporary_files_removed(domain: Path, tmp_path: Path) -> None:
    """Kept: a live process's file, a young one, a link, another user's, and other names."""
    finished = subprocess.Popen(["true"])  # a pid that has exited
    finished.wait()
    names = {
        "stale": f".stable-rescue-{finished.pid}-abcdefgh.tmp",
        "live": f".stable-rescue-{os.getpid()}-abcdefgh.tmp",
        "young": f".stable-rescue-{finished.pid}-young123.tmp",
        "link": f".stable-rescue-{finished.pid}-linkxxxx.tmp",
        "other": f".stable-rescue-{finished.pid}-otherxxx.tmp",
        "old-style": ".stable-rescue-abcdefgh",
    }
    hour_ago = time.time() - 3600
    for key, name in names.items():
        path = tmp_path / name
        if key == "link":
            path.symlink_to(domain)
        else:
            path.write_text("partial", encoding="utf-8")
        if key == "other" and IS_ROOT:
            os.chown(path, 4242, 4242)
        if key != "young":
            os.utime(path, (hour_ago, hour_ago), follow_symlinks=False)
    completed = run("rescue", str(domain), *USB, "-o", str(tmp_path / "out.xml"))
    assert completed.returncode == 0
    kept = {key for key, name in names.items() if os.path.lexists(tmp_path / name)}
    assert kept == {"live", "young", "link", "old-style"} | ({"other"} if IS_ROOT else set())
