"""Mutations of valid documents, for totality properties: a few things broken at random.

Shared by ``test_totality`` (mutated golden inputs) and ``test_properties`` (mutated generated
and rescued domains).
"""

from __future__ import annotations

import copy

from hypothesis import strategies as st
from lxml import etree

from stable_rescue.testing._draw import pick, sampled

MUTATION_VALUES = ["0x1f", "0", "-1", "7", "abc", "", "1.2", "99999999999", "0x", "1.2.3", "sda"]
MUTATION_TEXTS = ["hd", "cdrom", "1", "", "<x>", "vda"]
MUTATION_ACTIONS = ["remove", "empty", "duplicate", "move", "attribute", "text"]
MARKUP = ["<", ">", "&", "'", '"', "/", "\x00", "é", "<!--", "\r\n"]


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[str]) -> str:
    """A document with a few elements or attributes broken, or its text cut or sprinkled.

    Tree mutations remove, empty, duplicate or move elements, or change attribute values and
    text; text mutations cut or double a slice, or insert a markup character.
    """
    xml = draw(documents)
    if draw(st.booleans()):
        root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(remove_comments=False))
        for _ in range(draw(st.integers(1, 4))):
            elements = [n for n in root.iter() if isinstance(n.tag, str) and n is not root]
            # Half the time, an element of the rescue record or one the rescue added.
            focus = [n for n in elements if "stable-rescue" in str(n.tag) + str(n.get("name"))]
            focused = draw(st.booleans())
            element = pick(draw, focus if focus and focused else elements)
            parent = element.getparent()
            assert parent is not None
            action = draw(sampled(*MUTATION_ACTIONS))
            if action == "remove":
                parent.remove(element)
            elif action == "empty":
                for child in list(element):
                    element.remove(child)
            elif action == "duplicate":
                parent.append(copy.deepcopy(element))  # its tail may hold text: no re-parse
            elif action == "move":
                inside = set(element.iter())
                others = [node for node in elements if node not in inside]
                if others:
                    pick(draw, others).append(element)
            elif action == "text":
                element.text = draw(sampled(*MUTATION_TEXTS))
            elif element.attrib:
                name = pick(draw, sorted(str(key) for key in element.attrib))
                element.set(name, draw(sampled(*MUTATION_VALUES)))
        return str(etree.tostring(root, encoding="unicode"))
    start = draw(st.integers(0, len(xml)))
    end = draw(st.integers(start, min(len(xml), start + 40)))
    how = draw(sampled("cut", "double", "insert"))
    if how == "cut":
        return xml[:start] + xml[end:]
    if how == "double":
        return xml[:end] + xml[start:end] + xml[end:]
    markup: str = draw(sampled(*MARKUP))
    return xml[:start] + markup + xml[start:]
