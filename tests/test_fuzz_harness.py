"""The fuzz harness (fuzz/fuzz_rescue.py) instruments every module of the library, and replays.

atheris measures coverage only in code imported inside ``atheris.instrument_imports``. The
package loads its modules lazily, so a harness that imports only ``stable_rescue`` there runs
uninstrumented: libFuzzer then sees two edges and the run is blind, though it looks healthy.
A stand-in ``atheris`` records which modules the harness imports inside the block, so this
runs without atheris (which has no wheel for every Python).
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import stable_rescue

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "fuzz" / "fuzz_rescue.py"
# Not fuzzed: the entry point runs the CLI on import; testing needs Hypothesis, and the harness
# never calls it.
NOT_FUZZED = {"stable_rescue.__main__", "stable_rescue.testing"}

FAKE_ATHERIS = """
import contextlib, json, sys

@contextlib.contextmanager
def instrument_imports(include=()):
    before = set(sys.modules)
    yield
    inside = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in include)
    print(json.dumps(inside))

def Setup(argv, callback):
    pass

def Fuzz():
    pass
"""


def test_harness_instruments_every_module(tmp_path: Path) -> None:
    (tmp_path / "atheris.py").write_text(FAKE_ATHERIS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(HARNESS)], env=env, capture_output=True, text=True, check=True
    )
    instrumented = set(json.loads(done.stdout.splitlines()[0]))
    modules = {
        module.name for module in pkgutil.iter_modules(stable_rescue.__path__, "stable_rescue.")
    }
    assert modules - NOT_FUZZED, "no modules found: the check would pass on nothing"
    assert modules - NOT_FUZZED <= instrumented


def test_harness_replays_without_atheris(tmp_path: Path) -> None:
    # Without atheris the harness replays files: every golden input, as a round trip and as a
    # verify of its rescue (the first choice byte picks the call in MODES), raises nothing else.
    (tmp_path / "atheris.py").write_text("raise ImportError('not installed')\n", encoding="utf-8")
    inputs = []
    for number, domain in enumerate(sorted((ROOT / "tests" / "golden").glob("*/input.xml"))):
        for call in (2, 5):
            replay = tmp_path / f"{number}-{call}"
            replay.write_bytes(bytes([call, 0, 0, 0]) + domain.read_bytes())
            inputs.append(str(replay))
    assert len(inputs) > 100
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(HARNESS), *inputs], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("mode=") == len(inputs)
