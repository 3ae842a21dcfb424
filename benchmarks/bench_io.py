"""Benchmark: AlfIO.read_block, lazy and eager, on the 20-million-spike, 800-cluster session.

Variants, each in its own fresh process (median of ``--repeat``), against the AlfRawIO figures;
times exclude imports and include every first-use cost, as in ``bench_spikes.py``:

  d       AlfRawIO.parse_header
  e       AlfRawIO header + every unit's spike times
  lazy    AlfIO(...) + read_block(lazy=True): proxies only (target: < 0.5 s beyond parse_header)
  eager   AlfIO(...) + read_block(): every SpikeTrain with its amps and depths array annotations
  eager-  the same without per-spike array annotations

    python benchmarks/bench_io.py [--rst] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_spikes import COLLECTION, _session, _status_kib, _warm_page_cache  # noqa: E402

VARIANTS = {
    "d": "AlfRawIO parse_header",
    "e": "AlfRawIO header + all units",
    "lazy": "AlfIO read_block(lazy=True)",
    "eager": "AlfIO read_block() with array annotations",
    "eager-": "AlfIO read_block() without them",
}


def run_variant(name: str, session: Path) -> dict:
    from neo_alf import AlfIO, AlfRawIO

    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    parse = 0.0
    if name in ("d", "e"):
        reader = AlfRawIO(session, collections=[COLLECTION])
        reader.parse_header()
        if name == "e":
            result = [
                reader.rescale_spike_timestamp(reader.get_spike_timestamps(spike_channel_index=i))
                for i in range(reader.spike_channels_count())
            ]
            assert sum(r.size for r in result) > 0
    else:
        io = AlfIO(session, collections=[COLLECTION], spike_array_annotations=name != "eager-")
        parse = time.perf_counter() - t0
        block = io.read_block(lazy=name == "lazy")
        assert len(block.segments[0].spiketrains) == 800
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "beyond_parse": seconds - parse if parse else 0.0,
        "peak_mib": _status_kib("VmHWM") / 1024,
        "growth_mib": (_status_kib("VmHWM") - base) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rst", action="store_true")
    parser.add_argument("--quick", action="store_true", help="one run of d, lazy and eager- (run_all.py)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    session = _session(args.root)
    if args.child:
        print(json.dumps(run_variant(args.child, session)))
        return 0
    results = {}
    names = args.variants.split(",")
    if args.quick:
        args.repeat, names = 1, ["d", "lazy", "eager-"]
    for name in names:
        runs = []
        for _ in range(args.repeat):
            _warm_page_cache(session / COLLECTION)
            out = subprocess.run(
                [sys.executable, __file__, "--root", str(args.root), "--child", name],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        r = results[name]
        print(
            f"{name:7} {VARIANTS[name]:42} {r['seconds']:7.3f} s  beyond parse {r['beyond_parse']:6.3f} s"
            f"  peak {r['peak_mib']:6.0f} MiB  growth {r['growth_mib']:6.0f} MiB",
            flush=True,
        )
    if "lazy" in results:
        beyond = results["lazy"]["beyond_parse"]
        print(
            f"\nlazy read_block beyond parse_header: {beyond:.3f} s (target < 0.5 s): "
            f"{'met' if beyond < 0.5 else 'NOT met'}"
        )
        status = "met" if beyond < 0.5 else "NOT met"
        print(f"RATIO\tlazy read_block beyond parse_header (s)\t{beyond:.3f}\t< 0.5\t{status}")
    if args.rst:
        print("\n.. list-table::\n   :header-rows: 1\n")
        print(
            "   * - variant\n     - time (s)\n     - beyond parse_header (s)\n     - peak RSS (MiB)\n"
            "     - RSS growth (MiB)"
        )
        for name, r in results.items():
            cells = [
                f"({name}) {VARIANTS[name]}",
                f"{r['seconds']:.3f}",
                f"{r['beyond_parse']:.3f}",
                f"{r['peak_mib']:.0f}",
                f"{r['growth_mib']:.0f}",
            ]
            print("   * - " + "\n     - ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
