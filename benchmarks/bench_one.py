"""Benchmark: the ONE adapter's index, search and eid2path over 1,000 sessions / 60,000 files.

Compared in one run with ONE-api on the same tree: ``one.alf.cache.make_parquet_db`` (building the
tables) and ``one.api.One(mode="local")`` (loading them), then ``search`` and ``eid2path``.
Target: neo-alf's index build (folder scan, no tables) under 2 s.

    python benchmarks/bench_one.py [--sessions 1000] [--files 60]
"""

from __future__ import annotations

import argparse
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ATTRS = [
    "times",
    "clusters",
    "amps",
    "depths",
    "intervals",
    "stimOn_times",
    "choice",
    "position",
    "timestamps",
]


def make_tree(root: Path, n_sessions: int, n_files: int) -> None:
    """``n_sessions`` sessions of ``n_files`` small ALF files each (3 labs, 50 subjects)."""
    payload = np.lib.format.magic(1, 0) + b"\x00" * 118  # a few bytes: the index reads names, not data
    for s in range(n_sessions):
        lab, subject = f"lab{s % 3}", f"SUBJ_{s % 50:03d}"
        day = np.datetime64("2024-01-01") + s // 50
        folder = root / lab / "Subjects" / subject / str(day) / f"{(s % 3) + 1:03d}"
        for f in range(n_files):
            collection = ("alf", f"alf/probe{f % 2:02d}/pykilosort", "raw_ephys_data")[f % 3]
            target = folder / collection / f"obj{f // len(ATTRS)}.{ATTRS[f % len(ATTRS)]}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)


def timed(label: str, fn, results: dict):
    # CPU time beside wall time: on a shared machine the wall clock also counts other jobs' turns
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    results[label] = time.perf_counter() - t0
    results[label + " (cpu)"] = time.process_time() - c0
    print(f"{label:52} {results[label]:8.3f} s wall {results[label + ' (cpu)']:8.3f} s cpu", flush=True)
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data" / "one_tree")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--skip-one-api", action="store_true", help="neo-alf only (ONE-api takes minutes)")
    parser.add_argument("--clean", action="store_true", help="delete the tree afterwards")
    args = parser.parse_args(argv)
    from neo_alf.one import OneAdapter

    if not (args.root / "lab0").exists():
        t0 = time.perf_counter()
        make_tree(args.root, args.sessions, args.files)
        print(
            f"tree: {args.sessions} sessions x {args.files} files written in {time.perf_counter() - t0:.1f} s"
        )
    for table in ("sessions.pqt", "datasets.pqt"):
        (args.root / table).unlink(missing_ok=True)

    r: dict[str, float] = {}
    ours = timed(
        "neo-alf index build (folder scan, stable eids)", lambda: OneAdapter(args.root, progress=False), r
    )
    eids = ours.search()
    timed(
        "neo-alf search(subject=...) x 50",
        lambda: [ours.search(subject=f"SUBJ_{i:03d}") for i in range(50)],
        r,
    )
    timed(
        "neo-alf search(datasets=[spikes-like]) x 10",
        lambda: [ours.search(datasets=["obj0.times", "obj1.amps"]) for _ in range(10)],
        r,
    )
    timed(f"neo-alf eid2path x {len(eids)}", lambda: [ours.eid2path(e) for e in eids], r)

    build = r["neo-alf index build (folder scan, stable eids)"]
    try:
        if args.skip_one_api:
            raise ImportError
        from one.alf.cache import make_parquet_db
        from one.api import One
    except ImportError:
        cpu = r["neo-alf index build (folder scan, stable eids) (cpu)"]
        verdict = "met" if build < 2 else "NOT met"
        print(
            f"\nindex build {build:.3f} s wall, {cpu:.3f} s cpu (target: 2 s wall): {verdict}; no ONE-api run"
        )
        if args.clean:
            shutil.rmtree(args.root)
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timed("ONE-api make_parquet_db (no hashes)", lambda: make_parquet_db(args.root, hash_files=False), r)
        one = timed("ONE-api One(mode='local')", lambda: One(cache_dir=args.root, mode="local"), r)
        their = [str(e) for e in one.search()]
        timed(
            "ONE-api search(subject=...) x 50",
            lambda: [one.search(subject=f"SUBJ_{i:03d}") for i in range(50)],
            r,
        )
        timed(
            "ONE-api search(datasets=[...]) x 10",
            lambda: [one.search(datasets=["obj0.times.npy", "obj1.amps.npy"]) for _ in range(10)],
            r,
        )
        timed(f"ONE-api eid2path x {len(their)}", lambda: [one.eid2path(e) for e in their], r)
    tables = timed(
        "neo-alf index build (from ONE's tables)", lambda: OneAdapter(args.root, progress=False), r
    )
    assert tables.search() == their  # ONE-api's order too
    timed(
        "neo-alf search(datasets=[...]) x 10, from tables",
        lambda: [tables.search(datasets=["obj0.times.npy", "obj1.amps.npy"]) for _ in range(10)],
        r,
    )
    for table in ("sessions.pqt", "datasets.pqt"):
        (args.root / table).unlink(missing_ok=True)

    print(
        f"\nindex build {build:.3f} s for {args.sessions} sessions / {args.sessions * args.files} files "
        f"({r['neo-alf index build (folder scan, stable eids) (cpu)']:.3f} s cpu; target < 2 s): "
        f"{'met' if build < 2 else 'NOT met'}"
    )
    one_total = r["ONE-api make_parquet_db (no hashes)"] + r["ONE-api One(mode='local')"]
    print(f"ONE-api tables + One: {one_total:.3f} s ({one_total / build:.1f}x the neo-alf scan)")
    if args.clean:
        shutil.rmtree(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
