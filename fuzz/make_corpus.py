"""Write the fuzz seed corpus: every golden and fixture domain XML, under each API mode.

Usage: ``python3 fuzz/make_corpus.py [DIR]`` (default ``/var/tmp/stable-rescue-fuzz/corpus``).
The corpus lives outside the repository: atheris adds to it as it finds new coverage.

It also writes ``DIR/../xml.dict``, a libFuzzer dictionary of the tags, attribute names and
values the same files use (``-dict=`` that file), so mutations insert libvirt words whole.

Each seed is ``fuzz_rescue.encode(xml, ...)``: the golden case's own properties, source and
options where the harness's tables hold them, so the seeds start on the paths the golden cases
cover rather than on the first error.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fuzz_rescue  # found through the path set just above

DEFAULT = pathlib.Path("/var/tmp/stable-rescue-fuzz/corpus")


def _index(table: tuple[object, ...], value: object, default: int = 0) -> int:
    # Compare with == on the value and its type, so {"x": 7} is not taken for {"x": "7"}.
    for i, entry in enumerate(table):
        if type(entry) is type(value) and entry == value:
            return i
    return default


def _source(case: pathlib.Path) -> bytes | None:
    """The source ``case``'s props.json names, as text, if it names one."""
    props_file = case / "props.json"
    if not props_file.is_file():
        return None
    source = json.loads(props_file.read_text(encoding="utf-8")).get("source")
    return source.encode() if isinstance(source, str) else None


def _choices(case: pathlib.Path) -> dict[str, Any]:
    """The table indices that replay ``case``'s props.json, as far as the tables go."""
    props_file = case / "props.json"
    if not props_file.is_file():  # a fixture: the one default that does not stop at the format
        return {"source_format": fuzz_rescue.SOURCE_FORMATS.index("raw")}
    props = json.loads(props_file.read_text(encoding="utf-8"))
    options = props.get("options") or {}
    boot = (options.get("kernel"), options.get("initrd"), options.get("cmdline"))
    boot_index = 0 if boot == (None, None, None) else 2 if boot[0] is None else 1
    return {
        "properties": _index(fuzz_rescue.PROPERTIES, props.get("properties", {})),
        "source": _index(fuzz_rescue.SOURCES, props.get("source")),
        "source_format": _index(fuzz_rescue.SOURCE_FORMATS, props.get("source_format")),
        "boot": boot_index,
        "allow_unaddressed": bool(options.get("allow_unaddressed")),
    }


def seeds(root: pathlib.Path) -> dict[str, bytes]:
    """Name -> seed bytes for every XML file under tests/golden and tests/fixtures."""
    out: dict[str, bytes] = {}
    xml_files = sorted((root / "tests" / "golden").glob("*/*.xml"))
    xml_files += sorted((root / "tests" / "fixtures").rglob("*.xml"))
    for path in xml_files:
        xml = path.read_bytes()
        # expected.xml takes its case's choices too: rescuing it again must say already-rescued.
        choices = _choices(path.parent)
        for mode in fuzz_rescue.MODE_NAMES:
            data = fuzz_rescue.encode(xml, mode=mode, **choices)
            # Content-named like libFuzzer's own corpus files, so reruns do not duplicate.
            out[hashlib.sha1(data).hexdigest()] = data
        if path.name == "input.xml":
            # Each hand-built source once, spread over the cases.
            hand_built = {**choices, "source": len(out) % len(fuzz_rescue.RESCUE_SOURCES)}
            hand_built["source_type"] = fuzz_rescue.HAND_BUILT_SOURCE
            data = fuzz_rescue.encode(xml, mode="rescue", **hand_built)
            out[hashlib.sha1(data).hexdigest()] = data
        source = _source(path.parent)
        if path.name == "input.xml" and source is not None:
            # The same call with the source as text in the input, for the source parsers.
            data = fuzz_rescue.encode(xml, mode="rescue", source_text=source, **choices)
            out[hashlib.sha1(data).hexdigest()] = data
    return out


_TOKENS = (
    (re.compile(rb"<([\w:.-]+)"), (b"<%s", b"</%s>")),
    (re.compile(rb"\s([\w:.-]+)="), (b" %s=",)),
    (re.compile(rb"=(?:'([^'<]{1,40})'|\"([^\"<]{1,40})\")"), (b"'%s'",)),
)


# Words of the source URIs and paths, for the inputs that carry their source as text.
_SOURCE_WORDS: tuple[bytes, ...] = (
    b"rbd://",
    b"iscsi://",
    b"nbd://",
    b"file://",
    b"?secret=",
    b"&",
    b":6789",
)
_SOURCE_WORDS += (b":3260", b"[::1]", b"%2F", b"%", b"@", b",", b"/dev/", b".qcow2", b".iso")


def dictionary(xml_files: list[bytes]) -> list[bytes]:
    """The libFuzzer dictionary lines for the words of ``xml_files``, each quoted and escaped."""
    words: set[bytes] = set(_SOURCE_WORDS)
    for xml in xml_files:
        for pattern, forms in _TOKENS:
            for match in pattern.finditer(xml):
                word = next(group for group in match.groups() if group is not None)
                words.update(form % word for form in forms)
    escaped = (
        "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in word)
        for word in sorted(words)
    )
    return [f'"{text}"'.encode() for text in escaped]


def main() -> None:
    """Write the seeds into the directory given (created if missing)."""
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    target.mkdir(parents=True, exist_ok=True)
    written = seeds(fuzz_rescue.ROOT)
    for name, data in written.items():
        (target / name).write_bytes(data)
    xml = [data[fuzz_rescue.HEADER_SIZE :] for data in written.values()]
    words = dictionary(xml)
    (target.parent / "xml.dict").write_bytes(b"\n".join(words) + b"\n")
    print(f"{len(written)} seeds in {target}, {len(words)} words in {target.parent / 'xml.dict'}")


if __name__ == "__main__":
    main()
