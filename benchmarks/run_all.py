"""Run every benchmark (``benchmarks/bench_*.py``), each in its own process, and print one table of ratios.

Each benchmark is found by glob, so scripts added later are run too. A script whose source mentions
``--quick`` is passed ``--quick`` (unless ``--full``). A script reports its ratios as lines of its
standard output of the form::

    RATIO<TAB>label<TAB>value<TAB>target<TAB>met | NOT met | (empty)

which this runner gathers; a script without such lines is listed with its exit status and the last
line it printed.

    python benchmarks/run_all.py                 # every benchmark, quick where supported
    python benchmarks/run_all.py --only spikes   # benchmarks whose file name contains "spikes"
    python benchmarks/run_all.py --rst           # also print the table as reStructuredText
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Ratio:
    benchmark: str
    label: str
    value: str
    target: str
    status: str


def parse_ratios(benchmark: str, stdout: str) -> list[Ratio]:
    """The ``RATIO`` lines of a benchmark's output."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("RATIO\t"):
            cells = (line.split("\t")[1:] + [""] * 4)[:4]
            found.append(Ratio(benchmark, *cells))
    return found


def scripts(only: str | None = None) -> list[Path]:
    return [p for p in sorted(HERE.glob("bench_*.py")) if only is None or only in p.name]


def run(path: Path, quick: bool, timeout: float) -> tuple[list[Ratio], str]:
    """Run one benchmark; return its ratios and a note (time, exit status, last line)."""
    command = [sys.executable, str(path)]
    if quick and "--quick" in path.read_text():
        command.append("--quick")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent
        )
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    ratios = parse_ratios(path.stem, out.stdout)
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    note = f"{' '.join(command[1:])}: exit {out.returncode} in {seconds:.0f} s"
    if out.returncode or not ratios:
        note += f"; last line: {lines[-1] if lines else '(none)'}"
    return ratios, note


def table(ratios: list[Ratio]) -> str:
    header = ("benchmark", "ratio", "value", "target", "status")
    rows = [header] + [(r.benchmark, r.label, r.value, r.target, r.status) for r in ratios]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def rst(ratios: list[Ratio]) -> str:
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [("benchmark", "ratio", "value", "target", "status")] + [
        (r.benchmark, r.label, r.value, r.target, r.status or "-") for r in ratios
    ]:
        out.append("   * - " + "\n     - ".join(row))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="run the benchmarks whose file name contains this")
    parser.add_argument("--full", action="store_true", help="do not pass --quick")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    parser.add_argument("--rst", action="store_true", help="also print the table as reStructuredText")
    args = parser.parse_args(argv)
    ratios: list[Ratio] = []
    notes = []
    for path in scripts(args.only):
        print(f"running {path.name} ...", flush=True)
        found, note = run(path, quick=not args.full, timeout=args.timeout)
        ratios += found
        notes.append(note)
        print(f"  {note}", flush=True)
    print()
    print(table(ratios))
    if args.rst:
        print()
        print(rst(ratios))
    failed = [r for r in ratios if r.status.strip().lower().startswith("not")]
    print(f"\n{len(ratios)} ratios, {len(failed)} targets not met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
