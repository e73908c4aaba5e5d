"""Image properties from ``--image-json``: what ``openstack image show -f json IMAGE`` prints.

Pure: text in, a mapping of property names to strings out. Three shapes are read:

- The modern client's (openstacksdk-based): the properties nested under ``"properties"`` as a
  JSON object, with the values openstacksdk types typed (``hw_qemu_guest_agent`` a boolean,
  ``hw_cpu_cores`` a number, ``os_hidden`` a boolean, ``locations`` a list of objects).
- Older clients' (glanceclient-based): ``"properties"`` as one string made by osc-lib's
  ``format_dict`` (:func:`parse_format_dict`).
- A flat object of properties: Glance's own ``GET /v2/images/{id}`` body, or a hand-written map.

Only the keys the library reads (``request.KNOWN_PROPERTIES``) are checked: a value there that is
not a string is an error. Every other key is kept when its value is a string and dropped
otherwise. Keys are kept exactly as written (a near-miss such as ``'hw_rescue_bus '`` must reach
the check that points it out).
"""

from __future__ import annotations

import json
import string
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import TypeAlias

from stable_rescue.errors import InvalidImageJSON, InvalidProperties
from stable_rescue.request import KNOWN_PROPERTIES
from stable_rescue.source import shown

# What a key in format_dict text may be made of. Glance keys are in practice letters, digits and
# ``_ . : -`` (``owner_specified.openstack.md5``, ``trait:CUSTOM_X``); the space is there so that a
# near-miss such as ``'hw_rescue_bus '`` still reads as a key of its own.
KEY_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_.:- ")

# How format_dict joins items.
_SEPARATOR = ", "
# Longest piece of text quoted in a message.
_SNIPPET = 60
# JSON's names for what a document can be, for messages.
_JSON_TYPES = {
    bool: "boolean",
    float: "number",
    int: "number",
    list: "list",
    str: "string",
    type(None): "null",
}


def properties_from_image_json(data: str | bytes, name: str) -> dict[str, str]:
    """The string-valued image properties in an ``--image-json`` document.

    ``name`` (the file's name) is for messages only. The document must be a JSON object; when it
    has ``"properties"`` that is an object, that object is the property map; when that is a
    string, it is read as format_dict text (:func:`parse_format_dict`); otherwise the document
    itself is the (flat) property map.

    Raises ``InvalidImageJSON`` for a document that is not a JSON object or format_dict text that
    cannot be read, and ``InvalidProperties`` for a key the library reads whose value is not a
    string.
    """
    document = _load(data, name)
    nested = document.get("properties")
    source: Mapping[str, object]
    if isinstance(nested, dict):
        source = nested
    elif isinstance(nested, str):
        source = parse_format_dict(nested, name)
    else:
        source = document
    return _string_properties(source)


def parse_format_dict(text: str, name: str) -> dict[str, str | None]:
    """The items of text made by osc-lib's ``format_dict``, in their order; ``None`` for ``KEY=``.

    ``format_dict`` (``osc_lib/utils/__init__.py``) writes a dict's keys in sorted order as
    ``KEY='VALUE'`` (``str()`` of the value, nothing escaped), ``KEY=`` for ``None``, and a nested
    dict's items under the dotted key ``KEY.SUBKEY`` (an empty nested dict leaves an empty item),
    all joined by ``', '``. Since nothing is escaped, a value may itself hold ``', KEY='``, and
    the same text then comes from two different dicts. The reading taken:

    1. An item starts at the start of the text or right after ``', '``, and ends at the end of
       the text or right before ``', '``. It is empty, ``KEY=`` (``None``; ``KEY=None`` is read
       the same way, though format_dict never writes it), or ``KEY='VALUE'`` with any VALUE.
       KEY is one or more of ``A-Z a-z 0-9 _ . : -`` and space.
    2. Each key can follow the one before it in format_dict's order: it differs from it, and
       sorts above the part of it before its first dot (for keys without dots: plain sorted
       order; a dot may be nesting, so ``a.z`` may come before ``a.b``: from ``{'a': {'z': ..},
       'a.b': ..}``).
    3. Of all readings that keep 1 and 2, the one with the most items; of those, the one whose
       values end earliest.

    Text from format_dict is read back exactly, unless a value holds ``', `` and then (after any
    number of further ``', '``) ``KEY=`` where KEY could follow that value's own key: then the
    value is read as more than one item. That is the one ambiguity, and it is format_dict's own
    (the text is the same for both dicts). Where it touches a key the library reads (such a key
    stands inside another item's value and has no item of its own, or its own value holds such
    text), ``InvalidImageJSON`` is raised rather than a guess made; so it is for text that no
    reading fits, and for a key given twice. Other limits: a key made of other characters is not
    recognised, and a nested dict under the empty key (which format_dict writes without a
    prefix) or a dotted key that equals a nested one cannot be told apart.
    """
    grammar = _Grammar(text)
    reading = _read(grammar, ordered=True)
    if reading is None:
        raise _unreadable(grammar, name)
    items: dict[str, str | None] = {}
    where: dict[str, int] = {}
    for start, key, value in reading:
        if key in items:
            raise InvalidImageJSON(
                f"--image-json '{shown(name)}' properties key {shown(repr(key))} appears twice "
                f"(characters {where[key]} and {start}); expected each key once"
            )
        items[key] = value
        where[key] = start
    _check_watched(grammar, reading, set(items), name)
    return items


def _load(data: str | bytes, name: str) -> dict[str, object]:
    """The JSON object in ``data`` (bytes in UTF-8, -16 or -32; a byte order mark is allowed)."""
    if isinstance(data, str) and data.startswith("\ufeff"):
        data = data[1:]  # As json.loads allows for bytes.
    try:
        document = json.loads(data)
    except RecursionError:
        raise InvalidImageJSON(
            f"--image-json '{shown(name)}' nests lists or objects too deeply to read; "
            "expected an object"
        ) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise InvalidImageJSON(
            f"--image-json '{shown(name)}' is not JSON ({error}); expected an object"
        ) from None
    if not isinstance(document, dict):
        kind = _JSON_TYPES.get(type(document), type(document).__name__)
        raise InvalidImageJSON(f"--image-json '{shown(name)}' holds a {kind}; expected an object")
    return document


def _string_properties(source: Mapping[str, object]) -> dict[str, str]:
    """The string-valued items of ``source``, after checking the keys the library reads."""
    for key, value in source.items():
        if key in KNOWN_PROPERTIES and not isinstance(value, str):
            raise InvalidProperties(
                f"image property {key} is {type(value).__name__} {shown(repr(value))}; "
                "expected a string",
                property=key,
            )
    return {key: value for key, value in source.items() if isinstance(value, str)}


# A reading of format_dict text: (start, key, value) of each non-empty item, in order.
_Reading: TypeAlias = list[tuple[int, str, str | None]]
# How good a way to go on is: (items after this one, -where this one ends); more is better.
_Candidate: TypeAlias = tuple[int, int]
_NO_WAY: _Candidate = (-1, 0)


class _Grammar:
    """Where items of one format_dict text can start and end (rule 1 of ``parse_format_dict``).

    Positions are character offsets. ``starts`` are where items can start; an item at a start
    in ``separators`` (or at the end of the text) is empty.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        separators = []
        at = text.find(_SEPARATOR)
        while at >= 0:
            separators.append(at)
            at = text.find(_SEPARATOR, at + 1)
        self.separators = frozenset(separators)
        self.starts = [0, *(at + len(_SEPARATOR) for at in separators)]
        # Where a quoted value can end: just before a separator, or at the end, after a quote.
        self.quote_ends = [
            end for end in [*separators, self.size] if end > 0 and text[end - 1] == "'"
        ]
        self.keys: dict[int, tuple[str, int]] = {}
        # A key holds no comma, so its '=' comes before the next separator.
        for start, bound in zip(self.starts, [*separators, self.size], strict=True):
            equals = text.find("=", start, bound)
            if equals > start and set(text[start:equals]) <= KEY_CHARACTERS:
                self.keys[start] = (text[start:equals], equals)

    def quoted(self, start: int) -> bool:
        """Whether the item at ``start`` is ``KEY='VALUE'`` (if it is well-formed at all)."""
        return self.text.startswith("'", self.keys[start][1] + 1)

    def is_end(self, position: int) -> bool:
        """Whether an item can end at ``position``."""
        return position == self.size or position in self.separators

    def after_empties(self, start: int) -> int:
        """The first start at or after ``start`` whose item is not empty (or the text's end)."""
        while start in self.separators:
            start += len(_SEPARATOR)
        return start

    def ends(self, start: int) -> Iterator[int]:
        """Where the non-empty item at ``start`` can end, earliest first; none if malformed."""
        if start not in self.keys:
            return
        equals = self.keys[start][1]
        if self.quoted(start):
            first = bisect_left(self.quote_ends, equals + 3)
            for index in range(first, len(self.quote_ends)):  # a slice would copy the rest
                yield self.quote_ends[index]
        elif self.is_end(equals + 1):
            yield equals + 1
        elif self.text.startswith("None", equals + 1) and self.is_end(equals + 5):
            yield equals + 5

    def item(self, start: int, end: int) -> tuple[str, str | None]:
        """The key and value of the item from ``start`` to ``end``."""
        key, equals = self.keys[start]
        return key, self.text[equals + 2 : end - 1] if self.quoted(start) else None

    def snippet(self, start: int) -> str:
        """The text of the item that starts at ``start``, cut short for a message."""
        end = self.text.find(_SEPARATOR, start)
        piece = self.text[start : self.size if end < 0 else end]
        return piece if len(piece) <= _SNIPPET else piece[: _SNIPPET - 3] + "..."


def _read(grammar: _Grammar, *, ordered: bool) -> _Reading | None:
    """The reading rule 3 of ``parse_format_dict`` takes, or ``None`` when none fits.

    Dynamic programming from the end: ``best[start]`` is the most items a reading of the text
    from the non-empty item at ``start`` on can have, and ``choice[start]`` where that item ends
    in it; both depend on ``start`` alone, since the key there fixes which keys may follow.
    A quoted item may end at any quote end after its key, so the quote ends it may use go into a
    range-maximum tree over the rank of the key that follows each (rule 2 is a lower bound on
    that key), which keeps the whole O(n log n). With ``ordered`` false, rule 2 is left out (to
    find what breaks it, for the message).
    """
    size = grammar.size
    keys = sorted({key for key, _ in grammar.keys.values()})
    rank = {key: index for index, key in enumerate(keys)}
    ways = _MaxTree(len(keys))
    best: dict[int, int] = {}
    choice: dict[int, int] = {}
    entered = len(grammar.quote_ends)  # quote_ends[entered:] are in ``ways``
    last_end: int | None = None  # the earliest entered end after which nothing follows
    for start in reversed(grammar.starts):
        if start not in grammar.keys:
            continue
        key, equals = grammar.keys[start]
        if not grammar.quoted(start):
            for end in grammar.ends(start):
                rest = _rest(grammar, best, end, key, ordered=ordered)
                if rest >= 0:
                    best[start], choice[start] = rest + 1, end
            continue
        while entered and grammar.quote_ends[entered - 1] >= equals + 3:
            entered -= 1
            end = grammar.quote_ends[entered]
            following = size if end == size else grammar.after_empties(end + len(_SEPARATOR))
            if following == size:
                last_end = end
            elif following in best:
                ways.raise_to(rank[grammar.keys[following][0]], (best[following], -end))
        found = _NO_WAY if last_end is None else (0, -last_end)
        if ordered:
            low, own = bisect_right(keys, key.split(".", 1)[0]), rank[key]
            found = max(found, ways.maximum(low, own), ways.maximum(max(low, own + 1), len(keys)))
        else:
            found = max(found, ways.maximum(0, len(keys)))
        if found != _NO_WAY:
            best[start], choice[start] = found[0] + 1, -found[1]
    start = grammar.after_empties(0)
    if start == size:
        return []
    if start not in best:
        return None
    reading: _Reading = []
    while start < size:
        end = choice[start]
        key, value = grammar.item(start, end)
        reading.append((start, key, value))
        start = size if end == size else grammar.after_empties(end + len(_SEPARATOR))
    return reading


def _rest(grammar: _Grammar, best: dict[int, int], end: int, key: str, *, ordered: bool) -> int:
    """The most items after an item with ``key`` that ends at ``end`` (-1: none fits)."""
    following = size = grammar.size
    if end < size:
        following = grammar.after_empties(end + len(_SEPARATOR))
    if following == size:
        return 0
    if following not in best or (ordered and not _may_follow(key, grammar.keys[following][0])):
        return -1
    return best[following]


class _MaxTree:
    """Range maximum over ``size`` slots whose candidates only ever grow (a segment tree)."""

    def __init__(self, size: int) -> None:
        self.width = 1
        while self.width < size:
            self.width *= 2
        self.nodes = [_NO_WAY] * (2 * self.width)

    def raise_to(self, slot: int, candidate: _Candidate) -> None:
        """Make ``slot`` at least ``candidate``."""
        node = slot + self.width
        while node and self.nodes[node] < candidate:
            self.nodes[node] = candidate
            node //= 2

    def maximum(self, low: int, high: int) -> _Candidate:
        """The largest candidate in slots ``low`` to ``high - 1``."""
        found = _NO_WAY
        low, high = low + self.width, high + self.width
        while low < high:
            if low % 2:
                found = max(found, self.nodes[low])
                low += 1
            if high % 2:
                high -= 1
                found = max(found, self.nodes[high])
            low, high = low // 2, high // 2
        return found


def _may_follow(before: str, after: str) -> bool:
    """Whether format_dict can write key ``after`` right after key ``before`` (rule 2).

    format_dict sorts each dict's keys and writes a nested dict's items under ``KEY.``; a key
    may hold dots itself, so which dots are nesting is not known. ``after`` can follow when, for
    some common prefix of nested components ``P.`` (or none), the next component of ``before``
    sorts below the rest of ``after``. A longer ``P.`` starts with ``before``'s first component
    and a dot, and then so does ``after``, which sorts above that component anyway: testing
    the first component alone is the same test.
    """
    return before != after and before.split(".", 1)[0] < after


def _unreadable(grammar: _Grammar, name: str) -> InvalidImageJSON:
    """The error for text no reading fits: the key out of order, or the item that is malformed."""
    unordered = _read(grammar, ordered=False)
    if unordered is not None:
        for (_, before, _), (start, after, _) in pairwise(unordered):
            if not _may_follow(before, after):
                return InvalidImageJSON(
                    f"--image-json '{shown(name)}' properties key {shown(repr(after))} at "
                    f"character {start} comes after {shown(repr(before))}; expected keys sorted "
                    "as the openstack client prints them, each once"
                )
    start = _furthest_start(grammar)
    return InvalidImageJSON(
        f"--image-json '{shown(name)}' properties item {grammar.snippet(start)!r} at character "
        f"{start}; expected key='value' or key= items joined by ', '"
    )


def _furthest_start(grammar: _Grammar) -> int:
    """The furthest item start that some sequence of well-formed items reaches (rule 2 aside)."""
    reached = {0}
    quote_floor = grammar.size + 1  # every quote end from here on is reached
    furthest = 0
    for start in grammar.starts:
        by_quote = start - 2 >= quote_floor and grammar.text[start - 3] == "'"
        if start not in reached and not by_quote:
            continue
        furthest = start
        if start in grammar.separators:
            reached.add(start + len(_SEPARATOR))
        elif start in grammar.keys and grammar.quoted(start):
            quote_floor = min(quote_floor, grammar.keys[start][1] + 3)
        else:
            reached.update(end + len(_SEPARATOR) for end in grammar.ends(start))
    return furthest


def _check_watched(grammar: _Grammar, reading: _Reading, keys: set[str], name: str) -> None:
    """Refuse a reading that is in doubt about a key the library reads (see parse_format_dict).

    In doubt: a key the library reads could start an item inside another item's value and has
    no item of its own, or the value of such a key holds a place where an item could start.
    """
    for start, owner, value in reading:
        if value is None:
            continue
        equals = grammar.keys[start][1]
        end = equals + 3 + len(value)
        first = bisect_left(grammar.starts, equals + 3)
        for inner in grammar.starts[first : bisect_left(grammar.starts, end, first)]:
            if not _could_start(grammar, inner, equals):
                continue
            key = grammar.keys[inner][0]
            if owner in KNOWN_PROPERTIES or (key in KNOWN_PROPERTIES and key not in keys):
                raise InvalidImageJSON(
                    f"--image-json '{shown(name)}' properties text {grammar.snippet(inner)!r} at "
                    f"character {inner} is read as part of the value of {shown(repr(owner))}; "
                    "expected keys sorted as the openstack client prints them"
                )


def _could_start(grammar: _Grammar, inner: int, equals: int) -> bool:
    """Whether a well-formed item at ``inner`` could follow the value quoted after ``equals``."""
    if next(grammar.ends(inner), None) is None:
        return False
    separator = inner - len(_SEPARATOR)
    while separator in grammar.separators:
        if separator >= equals + 3 and grammar.text[separator - 1] == "'":
            return True
        separator -= len(_SEPARATOR)
    return False
