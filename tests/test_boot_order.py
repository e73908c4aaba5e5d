"""Boot orders as libvirt reads them (base 10), and unrescue gives back their exact text."""

from __future__ import annotations

import pytest

import stable_rescue
from tests.test_plan import IMG, golden_input

BOOT_ORDER_TEXTS = [
    pytest.param("010", 10, id="leading-zero-is-decimal"),
    pytest.param(" +7", 7, id="blank-and-plus"),
]


@pytest.mark.parametrize(("text", "order"), BOOT_ORDER_TEXTS)
def test_boot_order_read_in_base_10_and_restored_as_written(text: str, order: int) -> None:
    """Read <boot order> in base 10 as libvirt does (virDomainDeviceBootParseXML): '010' is 10.

    The rescue renumbers it behind the rescue disk, and unrescue gives back the very text the
    input had, not libvirt's canonical form.

    Rules B7 and N3.
    """
    domain_xml = golden_input("pc-boot-orders", [("<boot order='5'/>", f"<boot order='{text}'/>")])
    result = stable_rescue.rescue(domain_xml, {"hw_rescue_bus": "usb"}, IMG, source_format="raw")
    changes = {change.key: change.old for change in result.plan.boot_changes}
    assert order in changes.values()
    assert stable_rescue.unrescue(result.xml) == domain_xml


@pytest.mark.parametrize("text", ["0x1f", "1e1", "5 ", "-3", "٣"], ids=str)
def test_boot_order_not_decimal_refused(text: str) -> None:
    """A boot order libvirt would not read in base 10 is invalid-domain, as libvirt refuses it."""
    domain_xml = golden_input("pc-boot-orders", [("<boot order='5'/>", f"<boot order='{text}'/>")])
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.plan_rescue(domain_xml, {"hw_rescue_bus": "usb"}, IMG, source_format="raw")
    assert caught.value.code == "invalid-domain"
    assert caught.value.message == (
        f"boot order '{text}' at /domain/devices/interface/boot; expected a decimal integer >= 1 "
        "(libvirt reads it in base 10)"
    )


def test_tampered_recorded_order_refused() -> None:
    """A recorded old order that libvirt would not read is a damaged record, never written back.

    Rule N3.
    """
    domain_xml = golden_input("pc-boot-orders", [])
    rescued = stable_rescue.rescue(domain_xml, {"hw_rescue_bus": "usb"}, IMG, source_format="raw")
    assert rescued.xml.count("old='5'") == 1
    with pytest.raises(stable_rescue.RescueError) as caught:
        stable_rescue.unrescue(rescued.xml.replace("old='5'", "old='0x5'"))
    assert caught.value.code == "invalid-rescue-record"
    assert caught.value.message == (
        "rescue record boot order '0x5'; expected the decimal text it replaced"
    )
