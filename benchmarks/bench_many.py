"""Benchmark: the units table of many sessions, serially and on a 2-process Dask LocalCluster.

Generates (once) ``--sessions`` sessions of one probe each (``--spikes`` spikes, 400 clusters, 384
channels, IBL layout) under ``--root`` in a ONE-like cache folder, then for each count in
``--counts`` (default 50, 100, 200) times :func:`neo_alf.aggregate.units_table` over the first
``count`` sessions:

- serially, in this process;
- on ``neo_alf.parallel.local_cluster(2)``: a ``LocalCluster(n_workers=2, processes=True,
  threads_per_worker=1)`` with ``SHORT_TASK_CONFIG`` (started once, warmed up).

Runs are interleaved (serial, dask, serial, dask...) ``--repeats`` times; medians are reported.
Per-worker peak memory is each worker's ``VmHWM``, reset before each run (``/proc/self/clear_refs``).
Targets: dask >= 1.6x faster than serial at the largest count; cost per session within +-20% of
the largest count's at every count; per-worker peak memory within +-20% across counts.

    python benchmarks/bench_many.py [--sessions 200] [--spikes 100000] [--repeats 3] [--rst] [--clean]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def generate(root: Path, n_sessions: int, n_spikes: int) -> list[Path]:
    """``n_sessions`` one-probe sessions (10 per subject), generated once per parameter set."""
    from neo_alf.testing import make_session

    marker = root / "bench_many.json"
    params = {"sessions": n_sessions, "spikes": n_spikes, "version": 1}
    if marker.exists() and json.loads(marker.read_text()).get("params") == params:
        return [Path(p) for p in json.loads(marker.read_text())["paths"]]
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    paths = []
    for i in range(n_sessions):
        g = make_session(
            root,
            subject=f"BENCH_{i // 10:03d}",
            date=f"2024-{1 + (i % 10) // 5:02d}-{10 + i % 5:02d}",
            number=1,
            seed=1000 + i,
            duration=3600.0,
            n_probes=1,
            n_clusters=400,
            n_empty_clusters=5,
            n_spikes=n_spikes,
            n_channels=384,
            behaviour=False,
            lfp_rate=0.0,
            revision=False,
        )
        paths.append(g.path)
    marker.write_text(json.dumps({"params": params, "paths": [str(p) for p in paths]}))
    print(f"generated {n_sessions} sessions in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current resident set
    return _rss()[0]


def _rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process, KiB."""
    status = Path("/proc/self/status").read_text()
    return (
        int(re.search(r"VmRSS:\s+(\d+)", status).group(1)),
        int(re.search(r"VmHWM:\s+(\d+)", status).group(1)),
    )


def warm(paths: list[Path]) -> None:
    """Read every file once, so that runs read from the page cache (as a second pass on a cluster)."""
    for p in paths:
        for f in p.rglob("*"):
            if f.is_file():
                f.read_bytes()


def probe_hour(root: Path) -> None:
    """Time ``session_units`` on one probe-hour (15 M spikes), in a fresh process: time, peak RSS."""
    import subprocess

    from neo_alf.testing import make_session

    if not (root / "done").exists():
        if root.exists():
            shutil.rmtree(root)
        t0 = time.perf_counter()
        g = make_session(
            root,
            subject="HOUR_01",
            duration=3600.0,
            n_probes=1,
            n_clusters=800,
            n_empty_clusters=10,
            n_spikes=15_000_000,
            n_channels=384,
            behaviour=False,
            lfp_rate=0.0,
            revision=False,
            seed=7,
        )
        (root / "done").write_text(str(g.path))
        print(f"generated a probe-hour session in {time.perf_counter() - t0:.1f} s", flush=True)
    path = Path((root / "done").read_text())
    warm([path])
    code = "\n".join(
        [
            "import re, sys, time",
            "sys.path.insert(0, sys.argv[1])",
            "from neo_alf.aggregate import session_units",
            "t = time.perf_counter(); u = session_units(sys.argv[2]); t = time.perf_counter() - t",
            "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))",
            "print(t, hwm / 1024, len(u))",
        ]
    )
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code, str(HERE.parent), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(out.stdout.split())
    times = sorted(float(r[0]) for r in runs)
    size = folder_bytes(path)
    print(
        f"probe-hour session ({size / 2**20:.0f} MiB, 15 M spikes): session_units median {times[1]:.3f} s "
        f"(runs {', '.join(f'{t:.3f}' for t in times)}), "
        f"process peak RSS {float(runs[0][1]):.0f} MiB, {runs[0][2]} units",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data" / "many")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--spikes", type=int, default=100_000)
    parser.add_argument("--counts", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rst", action="store_true", help="also print the table as reStructuredText")
    parser.add_argument("--clean", action="store_true", help="delete the generated sessions afterwards")
    parser.add_argument(
        "--probe-hour",
        action="store_true",
        help="also time one real-sized session (15 M spikes, 800 clusters, 384 channels) in a subprocess",
    )
    args = parser.parse_args(argv)
    counts = args.counts or [args.sessions // 4, args.sessions // 2, args.sessions]

    import distributed

    from neo_alf.aggregate import units_table

    if args.probe_hour:
        probe_hour(args.root.parent / "probe_hour")

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    paths = generate(args.root, args.sessions, args.spikes)
    size = statistics.mean(folder_bytes(p) for p in paths[:10])
    print(f"{len(paths)} sessions, {args.spikes} spikes each, {size / 2**20:.2f} MiB per session", flush=True)
    warm(paths)
    warnings.simplefilter("ignore")

    from neo_alf.parallel import local_cluster

    cluster = local_cluster(2, memory_limit="4GiB")  # LocalCluster, with SHORT_TASK_CONFIG
    client = distributed.Client(cluster)
    try:
        units_table(paths[:4], client=client)  # imports and first calls on the workers
        units_table(paths[:4])
        keys = ("serial", "dask", "serial_cpu", "worker_cpu", "client_cpu", "peak")
        results: dict[int, dict[str, list]] = {c: {k: [] for k in keys} for c in counts}
        loads: list[float] = []
        for repeat in range(args.repeats):
            for count in counts:
                r = results[count]
                c0, t0 = time.process_time(), time.perf_counter()
                serial = units_table(paths[:count])
                r["serial"].append(time.perf_counter() - t0)
                r["serial_cpu"].append(time.process_time() - c0)
                client.run(_reset_peak)
                w0 = client.run(time.process_time)
                c0, t0 = time.process_time(), time.perf_counter()
                on_dask = units_table(paths[:count], client=client)
                r["dask"].append(time.perf_counter() - t0)
                r["client_cpu"].append(time.process_time() - c0)  # the client, and the scheduler's thread
                w1 = client.run(time.process_time)
                r["worker_cpu"].append(max(w1[w] - w0[w] for w in w1))
                r["peak"].append(max(v[1] for v in client.run(_rss).values()) / 1024)
                assert serial.equals(on_dask), "dask and serial tables differ"
                loads.append(os.getloadavg()[0])
                print(
                    f"run {repeat + 1} count {count:4d}: serial {r['serial'][-1]:6.3f} s "
                    f"(cpu {r['serial_cpu'][-1]:6.3f}), dask {r['dask'][-1]:6.3f} s "
                    f"(busiest worker cpu {r['worker_cpu'][-1]:6.3f}, "
                    f"client cpu {r['client_cpu'][-1]:6.3f}), "
                    f"worker peak {r['peak'][-1]:6.1f} MiB, units {len(serial)}",
                    flush=True,
                )
    finally:
        client.close()
        cluster.close()

    rows = []
    for count in counts:
        r = {k: statistics.median(v) for k, v in results[count].items()}
        rows.append(
            {
                "count": count,
                **r,
                "speedup": r["serial"] / r["dask"],
                # on two idle cores the busiest worker and the client's share bound the wall time
                "cpu_speedup": r["serial_cpu"] / (r["worker_cpu"] + r["client_cpu"]),
                "serial_ms": 1000 * r["serial"] / count,
                "dask_ms": 1000 * r["dask"] / count,
                "serial_cpu_ms": 1000 * r["serial_cpu"] / count,
                "dask_cpu_ms": 1000 * (r["worker_cpu"] + r["client_cpu"]) / count,
            }
        )
    print()
    print(
        f"{'sessions':>8} {'serial s':>9} {'dask s':>7} {'x wall':>7} {'x cpu':>6} {'serial ms':>10} "
        f"{'dask ms':>8} {'ser cpu ms':>10} {'dask cpu ms':>11} {'peak MiB':>9}"
    )
    for row in rows:
        print(
            f"{row['count']:8d} {row['serial']:9.3f} {row['dask']:7.3f} {row['speedup']:7.2f} "
            f"{row['cpu_speedup']:6.2f} {row['serial_ms']:10.2f} {row['dask_ms']:8.2f} "
            f"{row['serial_cpu_ms']:10.2f} {row['dask_cpu_ms']:11.2f} {row['peak']:9.1f}"
        )
    last = rows[-1]

    def steady(key: str) -> bool:
        return all(abs(r[key] / last[key] - 1) <= 0.2 for r in rows)

    checks = {
        f"dask >= 1.6x serial (wall) at {last['count']} sessions: {last['speedup']:.2f}x": last["speedup"]
        >= 1.6,
        f"dask >= 1.6x serial (CPU-bound projection) at {last['count']} sessions: "
        f"{last['cpu_speedup']:.2f}x": last["cpu_speedup"] >= 1.6,
        "per-session wall time within +-20% of the largest count's (serial and dask)": steady("serial_ms")
        and steady("dask_ms"),
        "per-session CPU time within +-20% of the largest count's (serial and dask)": steady("serial_cpu_ms")
        and steady("dask_cpu_ms"),
        "per-worker peak memory within +-20% across counts": max(r["peak"] for r in rows)
        <= 1.2 * min(r["peak"] for r in rows),
    }
    for label, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    print(
        f"1-minute load average during the runs: {min(loads):.1f} to {max(loads):.1f} "
        f"on {os.cpu_count()} cores (other jobs share this machine)"
    )
    if args.rst:
        print()
        print(".. list-table::\n   :header-rows: 1\n")
        cells = [
            "sessions",
            "serial (s)",
            "Dask, 2 processes (s)",
            "speed-up (wall)",
            "speed-up (CPU)",
            "serial ms / session",
            "Dask ms / session",
            "serial CPU ms / session",
            "Dask CPU ms / session",
            "peak RSS per worker (MiB)",
        ]
        print("   * - " + "\n     - ".join(cells))
        for row in rows:
            values = [
                str(row["count"]),
                f"{row['serial']:.2f}",
                f"{row['dask']:.2f}",
                f"{row['speedup']:.2f}",
                f"{row['cpu_speedup']:.2f}",
                f"{row['serial_ms']:.1f}",
                f"{row['dask_ms']:.1f}",
                f"{row['serial_cpu_ms']:.1f}",
                f"{row['dask_cpu_ms']:.1f}",
                f"{row['peak']:.0f}",
            ]
            print("   * - " + "\n     - ".join(values))
    if args.clean:
        shutil.rmtree(args.root)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
