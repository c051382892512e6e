from xml.etree import ElementTree

from node.projects.feeds import xml_text


def test_xml_text_removes_what_xml_cannot_carry() -> None:
    raw = "Soup\x00 night\x01\x1f in\tthe\nhall\r \ud800done"
    cleaned = xml_text(raw)
    assert cleaned == "Soup night in\tthe\nhall\r done"
    ElementTree.fromstring(f"<t>{cleaned}</t>")
