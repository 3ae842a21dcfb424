"""Benchmark: write a 20-million-spike, 800-cluster session to NWB with ``neo_alf.nwb.write_nwb``.

The session is ``neo_alf.testing.make_session(..., preset="bench_20m")`` (one probe, 20 M spikes with
times, clusters, amps and depths; 800 clusters, 384 channels with brain regions), the one
``bench_spikes.py`` uses. Each run is its own process. Time is the write only (imports and the
one-time region table of iblatlas excluded); memory is the process's peak resident set (VmHWM)
minus its resident set after imports: what the conversion itself needed.

Target (issue 17): peak below the bytes of ``spikes.times`` + ``spikes.clusters`` plus 200 MB.

    python benchmarks/bench_nwb.py                 # data generated once under benchmarks/_data
    python benchmarks/bench_nwb.py --compression lzf --repeat 1
    python benchmarks/bench_nwb.py --quick         # a 2 M-spike session instead
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTION = "alf/probe00/pykilosort"
MB = 1e6


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmHWM: this process's peak, not inherited across exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _session(root: Path, quick: bool) -> Path:
    from neo_alf.testing import make_session

    name = "bench_2m" if quick else "bench_20m"
    marker = root / f"{name}.json"
    if marker.exists():
        return Path(json.loads(marker.read_text())["path"])
    overrides = {"n_spikes": 2_000_000, "duration": 600.0} if quick else {}
    gen = make_session(root / name if quick else root, "bench_20m", **overrides)
    marker.write_text(json.dumps({"path": str(gen.path)}))
    return gen.path


def run_child(session: Path, out: Path, compression: str | None) -> dict:
    import pynwb  # imports are not the conversion's time
    import pynwb.ecephys  # noqa: F401

    from neo_alf.nwb import _RegionNames, write_nwb

    _RegionNames()  # iblatlas' table: a one-time import cost, not the conversion's
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    write_nwb(session, out, overwrite=True, compression=compression)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    folder = session / COLLECTION
    floor = (folder / "spikes.times.npy").stat().st_size + (folder / "spikes.clusters.npy").stat().st_size
    return {
        "seconds": seconds,
        "peak_mib": peak / 1024,
        "growth_mb": (peak - base) * 1024 / MB,
        "target_mb": floor / MB + 200,
        "file_mb": out.stat().st_size / MB,
    }


def check_readback(session: Path, out: Path, n_units: int = 25) -> int:
    """Spike times of a sample of units read back with pynwb equal the ALF files (a mask per unit)."""
    import numpy as np
    import pynwb

    folder = session / COLLECTION
    times = np.load(folder / "spikes.times.npy", mmap_mode="r")
    clusters = np.load(folder / "spikes.clusters.npy", mmap_mode="r")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        units = io.read().units
        ids = units["cluster_id"][:]
        for i in np.linspace(0, ids.size - 1, n_units).astype(int):
            expected = np.asarray(times[np.asarray(clusters) == ids[i]])
            if not np.array_equal(units["spike_times"][i], expected):
                raise SystemExit(f"unit {ids[i]}: spike times differ")
    return n_units


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data", help="where the benchmark data live")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compression", default="gzip", help="gzip (default), lzf or none")
    parser.add_argument("--quick", action="store_true", help="2 M spikes instead of 20 M")
    parser.add_argument("--keep", action="store_true", help="keep the .nwb file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    compression = None if args.compression == "none" else args.compression
    out = args.root / ("bench_nwb_quick.nwb" if args.quick else "bench_nwb.nwb")
    if args.child:
        print(json.dumps(run_child(_session(args.root, args.quick), out, compression)))
        return 0
    session = _session(args.root, args.quick)  # generated here once; runs are children
    runs = []
    for _ in range(args.repeat):
        cmd = [
            sys.executable,
            __file__,
            "--root",
            str(args.root),
            "--compression",
            args.compression,
            "--child",
        ]
        if args.quick:
            cmd.append("--quick")
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ))
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(
            f"run: {r['seconds']:7.2f} s  peak {r['peak_mib']:6.0f} MiB  growth {r['growth_mb']:6.0f} MB"
            f"  file {r['file_mb']:6.0f} MB",
            flush=True,
        )
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    checked = check_readback(session, out)
    print(
        f"\nwrite_nwb ({args.compression}): median {median['seconds']:.2f} s, memory growth "
        f"{median['growth_mb']:.0f} MB (target < {median['target_mb']:.0f} MB: "
        f"{'met' if median['growth_mb'] < median['target_mb'] else 'NOT met'}), "
        f"file {median['file_mb']:.0f} MB; "
        f"{checked} units read back equal"
    )
    if not args.keep:
        out.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
