"""The cost of a rescue as a ratio to reading the same XML once with lxml (issue 14).

``python3 bench/bench_rescue.py [--quick] [--json FILE]`` (or ``nox -s bench -- [ARGS]``).

For every golden rescue input (tests/golden/*/ with expected.xml) and for synthetic q35 domains
of 5 to 10,000 disks (bench/synthetic.py), one run times, interleaved per repetition:

(a) ``etree.tostring(etree.fromstring(data))``, the baseline;
(b) ``rescue()``; (c) ``unrescue()`` of its output; (d) ``plan_rescue()``;
(e) ``verify(original, rescued)``; (f) this design's floor: an lxml parse, every device's
address read, every tag located with a regular expression and one element spliced in, with no
checks; (g) a lean floor: an lxml parse, each address's bus and slot and each disk's target
read, one element spliced in before the last ``</devices>``, with no checks;

and prints the medians with each as a ratio to (a); the tracemalloc peak of (b) and (c) as a
ratio to that of (a); for synthetic domains of 500 disks or more, the peak resident memory of
(b) and (c) as a ratio to the parsed tree's (bench/resident.py); the whole-process time of the
CLI against a bare ``python3 -c "import lxml.etree, attrs"``, the largest imports of
``stable_rescue.cli``, and the budgets of issue 14 marked MET or NOT MET. Ratios, not times,
compare across machines. A missed budget never changes the exit status: CI is to run
``--quick`` (a few repetitions, synthetic domains up to 500 disks) only to keep the script
working. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

import synthetic  # bench/ is sys.path[0] when this file runs as a script
from lxml import etree

import stable_rescue

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SIZES = (5, 50, 500, 1000, 5000, 10000)
QUICK_SIZES = (5, 50, 500)
# Resident memory is measured where the parsed tree is megabytes: below that, pages and the
# allocator's reuse of freed memory are coarser than what is measured.
RESIDENT_MIN_DISKS = 500
RESCUE_ISO = synthetic.RESCUE_ISO
# Every synthetic domain must take both; the virtio one is timed.
SYNTHETIC_PROPERTIES = (
    synthetic.VIRTIO_RESCUE,
    {"hw_rescue_bus": "scsi", "hw_rescue_device": "cdrom"},
)
OPERATIONS = ("parse", "rescue", "unrescue", "plan", "verify", "floor", "lean")
# (f) and (g): two floors with none of the checks. (f) does what this design does for every
# element (read each device, locate each tag); (g) reads only what a virtio placement needs.
_TAG = re.compile(r"<[^>]*>")
ADDRESSES = "devices/*/address"
RESIDENT_OPERATIONS = ("tree", "rescue", "unrescue")
# The linearity budget: these two sizes, each sample a fresh process (bench/growth.py).
GROWTH_SIZES = (1000, 10000)
QUICK_GROWTH_SIZES = (50, 500)
GROWTH_OPERATIONS = ("parse", "rescue", "unrescue", "verify")
BARE_IMPORT = "import lxml.etree, attrs"


@dataclass(frozen=True)
class Case:
    """One input and the rescue request made of it."""

    name: str
    xml: str
    properties: dict[str, str]
    source: str
    options: dict[str, Any] = field(default_factory=dict)

    def rescue(self) -> stable_rescue.RescueResult:
        """The rescue this case asks for."""
        return stable_rescue.rescue(self.xml, self.properties, self.source, **self.options)

    def plan(self) -> stable_rescue.Plan:
        """The plan of that rescue."""
        return stable_rescue.plan_rescue(self.xml, self.properties, self.source, **self.options)


@dataclass(frozen=True)
class Figures:
    """Median seconds per call and peak memory per operation, for one case."""

    name: str
    size: int
    seconds: dict[str, float]
    peak: dict[str, int]  # tracemalloc: Python's own allocations
    resident: dict[str, int] | None = None  # bench/resident.py, where the input is large enough

    def ratio(self, operation: str) -> float:
        """The operation's time as a multiple of the lxml parse and serialise."""
        return self.seconds[operation] / self.seconds["parse"]

    def memory_ratio(self, operation: str) -> float:
        """The operation's peak traced memory as a multiple of the parse's."""
        return self.peak[operation] / self.peak["parse"]

    def resident_ratio(self, operation: str) -> float | None:
        """The operation's peak resident growth as a multiple of the parsed tree's."""
        if self.resident is None:
            return None
        return self.resident[operation] / self.resident["tree"]

    def as_dict(self) -> dict[str, Any]:
        """The figures for ``--json``."""
        return {
            "name": self.name,
            "bytes": self.size,
            "seconds": self.seconds,
            "ratio": {op: self.ratio(op) for op in OPERATIONS},
            "peak_bytes": self.peak,
            "peak_ratio": {op: self.memory_ratio(op) for op in ("rescue", "unrescue")},
            "resident_bytes": self.resident,
            "resident_ratio": {op: self.resident_ratio(op) for op in ("rescue", "unrescue")},
        }


@dataclass(frozen=True)
class Budget:
    """One budget of issue 14 and the worst figure measured against it."""

    name: str
    limit: float
    measured: float | None  # None: not measured in this mode
    where: str

    @property
    def verdict(self) -> str:
        """MET, NOT MET or not measured."""
        if self.measured is None:
            return "not measured"
        return "MET" if self.measured <= self.limit else "NOT MET"


def golden_cases() -> list[Case]:
    """Every golden rescue input: a directory with expected.xml whose command is rescue."""
    cases = []
    for directory in sorted(GOLDEN.iterdir()):
        if not (directory / "expected.xml").exists():
            continue
        props = json.loads((directory / "props.json").read_text())
        if props.get("command", "rescue") != "rescue":
            continue
        options = {
            "source_format": props.get("source_format"),
            "source_type": props.get("source_type"),
            **props.get("options", {}),
        }
        cases.append(
            Case(
                directory.name,
                (directory / "input.xml").read_text(),
                props["properties"],
                props["source"],
                options,
            )
        )
    return cases


def synthetic_cases(sizes: Iterable[int]) -> list[Case]:
    """The synthetic domains, each checked to take a virtio and a scsi rescue that verify ok."""
    cases = []
    for disks in sizes:
        xml = synthetic.domain(disks)
        for properties in SYNTHETIC_PROPERTIES:
            report = stable_rescue.verify(
                xml, stable_rescue.rescue(xml, properties, RESCUE_ISO).xml
            )
            if not report.ok:
                sys.exit(f"synthetic {disks} disks, {properties}: verify found {report.findings}")
        cases.append(Case(f"{disks} disks", xml, SYNTHETIC_PROPERTIES[0], RESCUE_ISO))
    return cases


def calls(case: Case) -> dict[str, Callable[[], object]]:
    """The seven operations on one case, as argument-free calls, in OPERATIONS order."""
    data = case.xml.encode()
    rescued = case.rescue().xml
    text = case.xml

    def floor() -> tuple[str, list[dict[str, str]]]:
        # Read the document, every device's address (placement needs them all), and where each
        # tag is in the text (to splice), then splice one element in; check nothing.
        tree = etree.fromstring(data)
        addresses = [dict(address.attrib) for address in tree.iterfind(ADDRESSES)]
        tags = [match.span() for match in _TAG.finditer(text)]
        end = tags[-2][0]  # before </devices> in a libvirt dump, near enough for a cost
        return text[:end] + "<disk/>" + text[end:], addresses

    def lean() -> tuple[str, list[tuple[str | None, str | None]], list[str | None]]:
        # Only the PCI slots in use and the disk names, and a splice before </devices>.
        tree = etree.fromstring(data)
        used = [(address.get("bus"), address.get("slot")) for address in tree.iterfind(ADDRESSES)]
        names = [target.get("dev") for target in tree.iterfind("devices/disk/target")]
        end = text.rfind("</devices>")
        return text[:end] + "<disk/>" + text[end:], used, names

    return {
        "parse": lambda: etree.tostring(etree.fromstring(data)),
        "rescue": case.rescue,
        "unrescue": lambda: stable_rescue.unrescue(rescued),
        "plan": case.plan,
        "verify": lambda: stable_rescue.verify(case.xml, rescued),
        "floor": floor,
        "lean": lean,
    }


def traced_peak(call: Callable[[], object]) -> int:
    """Peak bytes tracemalloc sees during ``call`` (libxml2's own C heap is invisible to it)."""
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def resident_peaks(case: Case, runs: int) -> dict[str, int]:
    """Median peak resident growth of ``tree``, ``rescue`` and ``unrescue``, each process fresh.

    bench/resident.py measures one operation per process; the runs are interleaved.
    """
    script = Path(__file__).resolve().parent / "resident.py"
    samples: dict[str, list[int]] = {name: [] for name in RESIDENT_OPERATIONS}
    with tempfile.TemporaryDirectory(prefix="stable-rescue-bench-") as name:
        case_file = Path(name) / "case.json"
        request = {"properties": case.properties, "source": case.source, "options": case.options}
        case_file.write_text(json.dumps({"xml": case.xml, **request}))
        for _ in range(runs):
            for operation in RESIDENT_OPERATIONS:
                command = [sys.executable, str(script), operation, str(case_file)]
                completed = subprocess.run(command, check=True, capture_output=True, text=True)
                samples[operation].append(int(completed.stdout))
    return {operation: int(statistics.median(values)) for operation, values in samples.items()}


def measure(cases: Sequence[Case], repeats: int, batch_seconds: float) -> list[Figures]:
    """Median time per call of each operation on each case.

    Each repetition goes over every case (of like size) and, within a case, every operation in
    turn: a burst of noise from the rest of the machine then costs one sample of several cases,
    not the median of one, and falls on (a) as much as on the others.
    """
    operations = [calls(case) for case in cases]
    number: list[dict[str, int]] = []
    for calls_of_case in operations:
        number.append({})
        for name, call in calls_of_case.items():
            call()  # warm caches and lazy imports before timing
            start = time.perf_counter()
            call()
            # Short calls run in batches, so that a sample is well above the timer's noise.
            number[-1][name] = max(1, round(batch_seconds / (time.perf_counter() - start)))
    samples: list[dict[str, list[float]]] = [{name: [] for name in OPERATIONS} for _ in cases]
    gc.collect()
    for _ in range(repeats):
        for calls_of_case, count, into in zip(operations, number, samples, strict=True):
            for name, call in calls_of_case.items():
                start = time.perf_counter()
                for _ in range(count[name]):
                    call()
                into[name].append((time.perf_counter() - start) / count[name])
    figures = []
    for case, calls_of_case, into in zip(cases, operations, samples, strict=True):
        peak = {name: traced_peak(calls_of_case[name]) for name in ("parse", "rescue", "unrescue")}
        seconds = {name: statistics.median(values) for name, values in into.items()}
        figures.append(Figures(case.name, len(case.xml.encode()), seconds, peak))
    return figures


def cli_commands(directory: Path, case: Case) -> dict[str, list[str]]:
    """The processes timed: a bare import, then CLI commands on ``case``, output into files."""
    source = directory / "input.xml"
    source.write_text(case.xml)
    rescued = directory / "rescued.xml"
    rescued.write_text(case.rescue().xml)
    python = [sys.executable, "-m", "stable_rescue"]
    rescue = [*python, "rescue", str(source), "-o", str(directory / "out-rescue.xml")]
    rescue += ["--source", case.source]
    for key, value in case.properties.items():
        rescue += ["--property", f"{key}={value}"]
    for option in ("source_format", "source_type"):
        if case.options.get(option):
            rescue += [f"--{option.replace('_', '-')}", case.options[option]]
    return {
        "bare import": [sys.executable, "-c", BARE_IMPORT],
        "--version": [*python, "--version"],
        "rescue": rescue,
        "unrescue": [*python, "unrescue", str(rescued), "-o", str(directory / "out-unrescue.xml")],
    }


def bytecode_env(directory: Path) -> dict[str, str]:
    """The environment with bytecode caches in ``directory``, written and read.

    A process then reads bytecode, as from an installed wheel, even where the environment says
    PYTHONDONTWRITEBYTECODE; the caches stay out of the working tree.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    return env


def measure_cli(case: Case, runs: int) -> dict[str, float]:
    """Median wall time of each whole process, runs interleaved."""
    with tempfile.TemporaryDirectory(prefix="stable-rescue-bench-") as name:
        commands = cli_commands(Path(name), case)
        env = bytecode_env(Path(name))
        samples: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(runs + 1):
            for label, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.PIPE, env=env)
                samples[label].append(time.perf_counter() - start)
    # The first round writes those caches and warms the page cache; it is not counted.
    return {label: statistics.median(values[1:]) for label, values in samples.items()}


def largest_imports(count: int) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of the slowest imports of ``stable_rescue.cli``."""
    command = [sys.executable, "-X", "importtime", "-c", "import stable_rescue.cli"]
    with tempfile.TemporaryDirectory(prefix="stable-rescue-bench-") as name:
        env = bytecode_env(Path(name))
        for _ in range(2):  # the first run compiles; the second is the one read
            completed = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    rows: list[tuple[int, int, str]] = []
    for line in completed.stderr.splitlines():
        own, cumulative, module = line.removeprefix("import time:").split("|")
        if module.strip() == "site":  # the interpreter's own start-up, also in the bare import
            rows.clear()
        elif own.strip().isdigit():  # not the header line
            rows.append((int(cumulative), int(own), module.rstrip()))
    return sorted(rows, reverse=True)[:count]


def print_table(title: str, figures: Sequence[Figures], label: str) -> None:
    """Medians (µs) and ratios to (a) for each case."""
    print(f"\n{title}")
    print(
        f"{label:<42} {'bytes':>8} {'(a) µs':>9} {'rescue':>15} {'unrescue':>15} "
        f"{'plan':>15} {'verify':>15} {'floor':>15} {'lean':>15} {'heap r/u':>11} "
        f"{'resident r/u':>13}"
    )
    for row in figures:
        cells = [f"{row.seconds[op] * 1e6:>8.0f} {row.ratio(op):>5.1f}x" for op in OPERATIONS[1:]]
        memory = f"{row.memory_ratio('rescue'):.1f}/{row.memory_ratio('unrescue'):.1f}x"
        resident = "-"
        if (rescue := row.resident_ratio("rescue")) is not None:
            resident = f"{rescue:.2f}/{row.resident_ratio('unrescue'):.2f}x"
        print(
            f"{row.name:<42} {row.size:>8} {row.seconds['parse'] * 1e6:>9.1f} "
            + " ".join(f"{cell:>15}" for cell in cells)
            + f" {memory:>11} {resident:>13}"
        )


def summarise(figures: Sequence[Figures]) -> dict[str, dict[str, float]]:
    """Worst and median ratio to (a) of each operation over the golden inputs."""
    summary = {}
    for op in OPERATIONS[1:]:
        worst = max(figures, key=methodcaller("ratio", op))
        summary[op] = {
            "worst": worst.ratio(op),
            "median": statistics.median(row.ratio(op) for row in figures),
        }
        print(
            f"  {op:<9} worst {summary[op]['worst']:5.1f}x ({worst.name}), "
            f"median {summary[op]['median']:5.1f}x"
        )
    return summary


def growth(synthetics: Sequence[Figures], op: str) -> float | None:
    """The 10,000-disk time of ``op`` as a multiple of the 1,000-disk time, when both ran."""
    by_name = {row.name: row for row in synthetics}
    if "1000 disks" in by_name and "10000 disks" in by_name:
        return by_name["10000 disks"].seconds[op] / by_name["1000 disks"].seconds[op]
    return None


def measure_growth(pairs: int, sizes: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """Each operation's median seconds at the two ``sizes`` (disks), and the ratio of the two.

    Every sample is a fresh process (bench/growth.py), the two sizes alternating: in one
    process, the size measured after the other paid for the memory the other had freed.
    """
    script = Path(__file__).resolve().parent / "growth.py"
    samples: dict[int, list[dict[str, float]]] = {disks: [] for disks in sizes}
    for _ in range(pairs):
        for disks in sizes:
            command = [sys.executable, str(script), str(disks)]
            completed = subprocess.run(command, check=True, capture_output=True, text=True)
            samples[disks].append(json.loads(completed.stdout))
    result = {}
    for op in GROWTH_OPERATIONS:
        small, large = (
            statistics.median(sample[op] for sample in samples[disks]) for disks in sizes
        )
        result[op] = {
            "seconds": {str(sizes[0]): small, str(sizes[1]): large},
            "ratio": large / small,
        }
    return result


def budgets(
    goldens: Sequence[Figures],
    synthetics: Sequence[Figures],
    growths: dict[str, dict[str, Any]],
    cli: dict[str, float],
) -> list[Budget]:
    """Issue 14's budgets against the worst figure of this run."""
    result = []
    for op in ("rescue", "unrescue"):
        worst = max(goldens, key=methodcaller("ratio", op))
        result.append(
            Budget(f"{op} time / (a), every golden input", 1.5, worst.ratio(op), worst.name)
        )
    for op in ("rescue", "unrescue", "verify"):
        ratio = growths[op]["ratio"] if op in growths else None
        result.append(Budget(f"{op} time, 10,000 / 1,000 disks", 12, ratio, "fresh processes"))
    measured = [row for row in synthetics if row.resident is not None]
    for op in ("rescue", "unrescue"):
        ratios = [(row.resident_ratio(op) or 0.0, row.name) for row in measured]
        worst_ratio, where = max(ratios) if ratios else (None, "not measured")
        result.append(Budget(f"{op} peak resident / tree's", 3, worst_ratio, where))
    command = max((label for label in cli if label != "bare import"), key=cli.__getitem__)
    result.append(
        Budget("CLI process / bare import", 1.3, cli[command] / cli["bare import"], command)
    )
    return result


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "stable_rescue": stable_rescue.__version__,
    }


def main() -> None:
    """Run every measurement, print the tables and budgets, and write ``--json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, up to 500 disks")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure here")
    arguments = parser.parse_args()
    repeats, batch, runs = (3, 0.001, 3) if arguments.quick else (15, 0.005, 20)
    # --quick only checks that bench/growth.py still works: one pair of small domains.
    growth_pairs, growth_sizes = (1, QUICK_GROWTH_SIZES) if arguments.quick else (9, GROWTH_SIZES)
    resident_runs = 1 if arguments.quick else 3
    sizes = QUICK_SIZES if arguments.quick else SIZES
    info = machine()
    print(" ".join(f"{key}={value}" for key, value in info.items()))
    print(f"mode={'quick' if arguments.quick else 'full'} repetitions={repeats} cli_runs={runs}")

    golden_inputs = golden_cases()
    goldens = measure(golden_inputs, repeats, batch)
    print_table("Golden inputs: median µs and ratio to (a)", goldens, "input")
    print(f"Summary over {len(goldens)} golden inputs (ratio to (a)):")
    golden_summary = summarise(goldens)

    # One at a time: after a 10,000-disk domain, freeing and faulting memory back in would
    # weigh on the samples of a 5-disk one.
    synthetics = []
    for disks, case in zip(sizes, synthetic_cases(sizes), strict=True):
        (row,) = measure([case], repeats, batch)
        if disks >= RESIDENT_MIN_DISKS:
            row = dataclasses.replace(row, resident=resident_peaks(case, resident_runs))
        synthetics.append(row)
    print_table("Synthetic q35 domains (virtio rescue)", synthetics, "domain")
    # lxml's own growth beside them: what the memory hierarchy alone adds above 10x.
    for op in GROWTH_OPERATIONS:
        if (factor := growth(synthetics, op)) is not None:
            label = "(a) parse" if op == "parse" else op
            print(f"  {label}: 10,000 disks take {factor:.1f}x the time of 1,000 (this process)")
    growths = measure_growth(growth_pairs, growth_sizes)
    print(f"\nLinearity, median of {growth_pairs} fresh process(es) per size, alternating:")
    for op, figures in growths.items():
        label = "(a) parse" if op == "parse" else op
        small, large = (figures["seconds"][str(disks)] for disks in growth_sizes)
        print(
            f"  {label:<10} {growth_sizes[0]:,} disks {small * 1e3:8.1f} ms  "
            f"{growth_sizes[1]:,} disks {large * 1e3:8.1f} ms  {figures['ratio']:.1f}x"
        )

    # The largest realistic q35 input is the CLI's: a typical VM, the most work of its kind.
    cli_case = max(
        (case for case in golden_inputs if case.name.startswith("q35-")),
        key=lambda case: len(case.xml),
    )
    cli = measure_cli(cli_case, runs)
    print(f"\nWhole process, median of {runs} runs (input {cli_case.name}):")
    for label, seconds in cli.items():
        print(f"  {label:<12} {seconds * 1e3:7.1f} ms  {seconds / cli['bare import']:.2f}x")
    imports = largest_imports(8)
    print("Largest cumulative imports of `import stable_rescue.cli` (µs, cumulative / self):")
    for cumulative, own, module in imports:
        print(f"  {cumulative:>8} {own:>8}  {module}")

    # The budget is about 1,000 and 10,000 disks; --quick's small pair does not count.
    verdicts = budgets(goldens, synthetics, growths if growth_sizes == GROWTH_SIZES else {}, cli)
    print("\nBudgets (issue 14):")
    for budget in verdicts:
        measured = "-" if budget.measured is None else f"{budget.measured:.2f}"
        print(
            f"  {budget.name:<40} <= {budget.limit:<4} measured {measured:>6}  "
            f"{budget.verdict:<12} ({budget.where})"
        )

    if arguments.json:
        figures = {
            "machine": info,
            "mode": "quick" if arguments.quick else "full",
            "repetitions": repeats,
            "golden": [row.as_dict() for row in goldens],
            "golden_summary": golden_summary,
            "synthetic": [row.as_dict() for row in synthetics],
            "growth": {"pairs": growth_pairs, "sizes": growth_sizes, "operations": growths},
            "cli": {"input": cli_case.name, "runs": runs, "seconds": cli},
            "imports": [
                {"module": module.strip(), "cumulative_us": total, "self_us": own}
                for total, own, module in imports
            ],
            "budgets": [
                {
                    "budget": budget.name,
                    "limit": budget.limit,
                    "measured": budget.measured,
                    "verdict": budget.verdict,
                    "where": budget.where,
                }
                for budget in verdicts
            ],
        }
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
