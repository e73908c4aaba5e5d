"""What the docs tell operators about ``virsh dumpxml``, checked against a real libvirt.

Skipped, saying why, where libvirt does not answer (a failure under
``STABLE_RESCUE_REQUIRE_LIBVIRT=1``, as in CI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stable_rescue
from stable_rescue.record import RECORD_NAMESPACE
from tests.golden_cases import GOLDEN
from tests.libvirt_host import (
    PREFIX,
    Virsh,
    VirshError,
    client_or_skip,
    domain_name,
    for_test,
    libvirt_label,
)

pytestmark = pytest.mark.libvirt

GRAPHICS = "<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'>"


# The daemon's version names every test that uses it: test_x[libvirt-9.0.0-...].
@pytest.fixture(scope="module", params=[libvirt_label()])
def virsh() -> Iterator[Virsh]:
    """The virsh client on the test URI (skip, or fail when libvirt is required)."""
    client = client_or_skip()
    yield client
    assert not client.undefine_leftovers()


def test_security_info_keeps_graphics_passwords(virsh: Virsh) -> None:
    """Without --security-info libvirt leaves a VNC password out of the dump; with it, it stays.

    So the documented pipeline (dumpxml --inactive --security-info | rescue | define, then
    dumpxml --inactive --security-info | unrescue | define) keeps the password, and the one
    without --security-info would drop it for good.
    """
    text = (GOLDEN / "pc-virtio-disk" / "input.xml").read_text(encoding="utf-8")
    original = for_test(
        text.replace(
            "<video>",
            f"{GRAPHICS}\n      <listen type='address'/>\n    </graphics>\n    <video>",
            1,
        ),
        "security-info",
    )
    rescued = stable_rescue.rescue(
        original, {"hw_rescue_bus": "usb"}, "/var/lib/libvirt/images/rescue.iso"
    ).xml
    name = domain_name(rescued)
    assert name.startswith(PREFIX)
    virsh.run_with_file(["define"], rescued)
    try:
        plain = virsh.run("dumpxml", "--inactive", name)
        secure = virsh.run("dumpxml", "--inactive", "--security-info", name)
    finally:
        virsh.run("undefine", "--nvram", name)
    assert "passwd=" not in plain
    assert "passwd='s3cret'" in secure
    assert "passwd='s3cret'" in stable_rescue.unrescue(secure)
    assert "passwd=" not in stable_rescue.unrescue(plain)


def test_virsh_metadata_tells_rescued(virsh: Virsh) -> None:
    """`virsh metadata DOMAIN --uri NAMESPACE` answers "is it rescued?" as is_rescued does.

    It prints the record of a rescued domain, and fails with "metadata not found" for one that
    is not (docs/cli.md, status).
    """
    original = for_test(
        (GOLDEN / "pc-virtio-disk" / "input.xml").read_text(encoding="utf-8"), "metadata"
    )
    rescued = stable_rescue.rescue(
        original, {"hw_rescue_bus": "usb"}, "/var/lib/libvirt/images/rescue.iso"
    ).xml
    name = domain_name(original)
    answers = []
    for domain_xml in (rescued, original):
        virsh.run_with_file(["define"], domain_xml)
        try:
            answers.append(virsh.run("metadata", name, "--uri", RECORD_NAMESPACE))
        except VirshError as error:
            answers.append(error.stderr)
        finally:
            virsh.run("undefine", "--nvram", name)
    assert stable_rescue.is_rescued(rescued)
    assert answers[0].startswith('<rescue version="1" mode="stable"')
    assert not stable_rescue.is_rescued(original)
    assert "metadata not found" in answers[1]
