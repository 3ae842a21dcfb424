"""Benchmark: every unit's spike times, in a fresh process, and how the cost grows.

Comparison (default): a 20-million-spike, 800-cluster probe (the ``bench_20m`` preset). Variants,
each run in its own fresh process:

  a   numpy.load of spikes.times + spikes.clusters (the floor)
  b   ONE-api one.alf.io.load_object + split by cluster (stable argsort, the best a user can do)
  b'  ONE-api load_object + split by boolean mask per cluster (what users usually write)
  c   Neo's PhyRawIO on the same spikes in Phy layout: parse_header + every unit's times
  d   AlfRawIO.parse_header alone
  e   AlfRawIO.parse_header + every unit's spike times in seconds
  d0, e0  the same with NEO_ALF_NUMBA=0 (as without Numba installed)
  d1, e1  the same with NEO_ALF_NUMBA=1 (the compiled kernels asked for: Numba imported and the
          kernels loaded inside the timing)

What is timed is what a user pays after ``import``: imports (numpy, neo, neo_alf, one) happen before
the clock starts; everything else (reading, kernel loading or compiling, caches, thread pools) is
inside. Memory is the process's peak resident set (VmHWM) and its growth over the resident set after
imports. Runs are interleaved (a, b, ..., a, b, ...) and the page cache is warmed before each, so
every variant sees the same machine; the median and the spread (fastest - slowest) are reported.

Growth (``--growth``): 2 M, 20 M and 100 M spikes of 800 clusters (with clusters.*), 20 M spikes of
10,000 sparse cluster ids (no clusters.*: ids below 10**6, and ids up to 2**40), and one, two and
four probes of 5 M spikes each: the floor, header time, all-units time and peak memory, per spike.
Data are written under ``--root`` one set at a time and deleted after (the 100 M set is 1.2 GB).

Ratios are also printed as ``RATIO<TAB>label<TAB>value<TAB>target<TAB>met`` lines, which
``benchmarks/run_all.py`` gathers.

    python benchmarks/bench_spikes.py [--repeat 5] [--rst]   # generates the data once under benchmarks/_data
    python benchmarks/bench_spikes.py --growth [--rst]
    python benchmarks/bench_spikes.py --quick                # 3 runs, without (b') and (c)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTION = "alf/probe00/pykilosort"
SAMPLE_RATE = 30000.0

VARIANTS = {
    "a": "np.load times + clusters (floor)",
    "b": "ONE-api load_object + argsort split",
    "b'": "ONE-api load_object + mask split",
    "c": "Neo PhyRawIO, all units",
    "d": "AlfRawIO parse_header",
    "e": "AlfRawIO header + all units",
    "d0": "parse_header, NEO_ALF_NUMBA=0",
    "e0": "header + all units, NEO_ALF_NUMBA=0",
    "d1": "parse_header, NEO_ALF_NUMBA=1",
    "e1": "header + all units, NEO_ALF_NUMBA=1",
}
NUMBA = {"d0": "0", "e0": "0", "d1": "1", "e1": "1"}  # the others run with NEO_ALF_NUMBA unset
QUICK = ("a", "b", "d", "e", "d0", "e0")


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB. VmHWM is this address space's peak: unlike ru_maxrss it
    does not inherit the parent's high-water mark across fork and exec."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _warm_page_cache(*folders: Path) -> None:
    """Read every data file once (in small blocks: the driver's memory stays flat) so that each run
    starts from a warm page cache, as a user's second look at a session does."""
    for folder in folders:
        for f in sorted(folder.rglob("*.npy")):
            with open(f, "rb") as fh:
                while fh.read(1 << 23):
                    pass


def _session(root: Path) -> Path:
    from neo_alf.testing import make_session

    marker = root / "bench_20m.json"
    if marker.exists():
        return Path(json.loads(marker.read_text())["path"])
    gen = make_session(root, "bench_20m")
    marker.write_text(
        json.dumps(
            {"path": str(gen.path), "truth": {"n_spikes": gen.truth["probes"][COLLECTION]["n_spikes"]}}
        )
    )
    return gen.path


def _phy_folder(session: Path, root: Path) -> Path:
    import numpy as np

    phy = root / "phy"
    if (phy / "params.py").exists():
        return phy
    phy.mkdir(parents=True, exist_ok=True)
    folder = session / COLLECTION
    times = np.load(folder / "spikes.times.npy")
    clusters = np.load(folder / "spikes.clusters.npy")
    np.save(phy / "spike_times.npy", np.round(times * SAMPLE_RATE).astype(np.uint64))
    np.save(phy / "spike_clusters.npy", clusters.astype(np.int32))
    np.save(phy / "spike_templates.npy", clusters.astype(np.int32))
    (phy / "params.py").write_text(
        f"dat_path = 'none.bin'\nn_channels_dat = 384\ndtype = 'int16'\nsample_rate = {SAMPLE_RATE}\n"
    )
    return phy


# -------------------------------------------------------------------------------- one fresh run


def run_variant(name: str, session: Path, phy: Path | None, collections: list[str]) -> dict:
    """Run one variant in this (fresh) process; imports first, then the clock."""
    import numpy as np

    kind = name.rstrip("01")
    if kind in ("b", "b'"):
        from one.alf.io import load_object
    if kind == "c":
        from neo.rawio.phyrawio import PhyRawIO
    if kind in ("d", "e"):
        from neo_alf import AlfRawIO
    folders = [session / c for c in collections]
    base = _status_kib("VmRSS")
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    if kind == "a":
        kept = [(np.load(f / "spikes.times.npy"), np.load(f / "spikes.clusters.npy")) for f in folders]
        n = sum(t.size for t, _ in kept)
    elif kind == "b":
        spikes = load_object(folders[0], "spikes")
        order = np.argsort(spikes["clusters"], kind="stable")
        counts = np.bincount(spikes["clusters"])
        result = np.split(spikes["times"][order], np.cumsum(counts)[:-1])
        n = sum(r.size for r in result)
    elif kind == "b'":
        spikes = load_object(folders[0], "spikes")
        ids = np.unique(spikes["clusters"])
        result = [spikes["times"][spikes["clusters"] == k] for k in ids]
        n = sum(r.size for r in result)
    elif kind == "c":
        reader = PhyRawIO(dirname=str(phy))
        reader.parse_header()
        result = [
            reader.rescale_spike_timestamp(reader.get_spike_timestamps(spike_channel_index=i), "float64")
            for i in range(reader.spike_channels_count())
        ]
        n = sum(r.size for r in result)
    else:
        reader = AlfRawIO(session, collections=collections)
        reader.parse_header()
        header = time.perf_counter() - t0
        if kind == "e":
            result = [
                reader.rescale_spike_timestamp(reader.get_spike_timestamps(spike_channel_index=i), "float64")
                for i in range(reader.spike_channels_count())
            ]
            n = sum(r.size for r in result)
        else:
            n = reader.spike_channels_count()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = _status_kib("VmHWM")
    out = {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mib": peak / 1024,
        "growth_mib": (peak - base) / 1024,
        "n": int(n),
        "numba_imported": "numba" in sys.modules,
    }
    if kind in ("d", "e"):
        out["header"] = header
    return out


def _child(args, name: str, session: Path, collections: list[str], env_numba: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NEO_ALF_NUMBA"}
    if env_numba is not None:
        env["NEO_ALF_NUMBA"] = env_numba
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, __file__, "--root", str(args.root), "--child", name, "--session", str(session)]
    command += ["--collections", ",".join(collections)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict], key: str = "seconds") -> tuple[float, float, float]:
    values = [r[key] for r in runs]
    return statistics.median(values), min(values), max(values)


def _ratio_line(label: str, value: float, target: str, met: bool | None) -> None:
    status = "" if met is None else ("met" if met else "NOT met")
    print(f"RATIO\t{label}\t{value:.3f}\t{target}\t{status}", flush=True)


# ---------------------------------------------------------------------------------- comparison


def comparison(args) -> int:
    # data are written by a child: this driver stays small, so nothing it touched inflates a measure
    subprocess.run([sys.executable, __file__, "--root", str(args.root), "--child", "prepare"], check=True)
    session = Path(json.loads((args.root / "bench_20m.json").read_text())["path"])
    names = args.variants.split(",") if args.variants else (list(QUICK) if args.quick else list(VARIANTS))
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.repeat):
        for name in names:
            _warm_page_cache(session / COLLECTION, args.root / "phy")
            runs[name].append(_child(args, name, session, [COLLECTION], NUMBA.get(name)))
    med = {name: _summary(runs[name]) for name in names}
    cpu = {name: statistics.median(r["cpu"] for r in runs[name]) for name in names}
    mem = {name: statistics.median(r["growth_mib"] for r in runs[name]) for name in names}
    peak = {name: statistics.median(r["peak_mib"] for r in runs[name]) for name in names}
    a = med.get("a", (float("nan"),) * 3)[0]
    a_mem = mem.get("a", float("nan"))
    a_cpu = cpu.get("a", float("nan"))
    print(f"fresh processes, {args.repeat} interleaved runs each; time = median [fastest - slowest]")
    print(
        f"{'':3} {'variant':38} {'median':>8} {'spread':>17} {'x (a)':>7} {'CPU':>7} {'x (a)':>6}"
        f" {'peak':>7} {'growth':>7} {'x (a)':>6}"
    )
    for name in names:
        m, lo, hi = med[name]
        numba = " (numba imported)" if any(r["numba_imported"] for r in runs[name]) else ""
        print(
            f"{name:3} {VARIANTS[name]:38} {m:7.3f}s [{lo:6.3f} - {hi:6.3f}] {m / a:7.2f}"
            f" {cpu[name]:6.3f}s {cpu[name] / a_cpu:6.2f}"
            f" {peak[name]:6.0f}M {mem[name]:6.0f}M {mem[name] / a_mem:6.2f}{numba}",
            flush=True,
        )
    print()
    for d, e, how in (
        ("d", "e", "numba installed"),
        ("d0", "e0", "NEO_ALF_NUMBA=0"),
        ("d1", "e1", "NEO_ALF_NUMBA=1"),
    ):
        if d in med:
            _ratio_line(f"spikes 20M {how}: header / floor", med[d][0] / a, "<= 1", med[d][0] <= a)
        if e in med:
            _ratio_line(f"spikes 20M {how}: all units / floor", med[e][0] / a, "<= 3", med[e][0] <= 3 * a)
            _ratio_line(
                f"spikes 20M {how}: peak memory / floor", mem[e] / a_mem, "<= 1.5", mem[e] <= 1.5 * a_mem
            )
            for slow, bound in (("b", 10.0), ("c", 50.0)):
                if slow in med:
                    x = med[slow][0] / med[e][0]
                    _ratio_line(f"spikes 20M {how}: ({slow}) / all units", x, f">= {bound:g}", x >= bound)
                    x = cpu[slow] / cpu[e]
                    _ratio_line(f"spikes 20M {how}: ({slow}) / all units, CPU time", x, f">= {bound:g}", None)
    if {"e", "e0"} <= med.keys():
        x = med["e"][0] / med["e0"][0]
        _ratio_line("spikes 20M: numba installed / not (all units)", x, "<= 1 (noise aside)", None)
    if args.rst:
        print("\n.. list-table::\n   :header-rows: 1\n")
        header = [
            "variant",
            "median (s)",
            "fastest - slowest (s)",
            "x (a)",
            "CPU (s)",
            "peak RSS (MiB)",
            "RSS growth (MiB)",
        ]
        print("   * - " + "\n     - ".join(header))
        for name in names:
            m, lo, hi = med[name]
            cells = [f"({name}) {VARIANTS[name]}", f"{m:.3f}", f"{lo:.3f} - {hi:.3f}", f"{m / a:.2f}"]
            cells += [f"{cpu[name]:.3f}", f"{peak[name]:.0f}", f"{mem[name]:.0f}"]
            print("   * - " + "\n     - ".join(cells))
    return 0


# -------------------------------------------------------------------------------------- growth


def _write_probe(folder: Path, n: int, ids, seed: int, table: bool) -> None:
    """``n`` spikes (time-sorted, 20 M per hour) of clusters ``ids`` with lognormal rates, written in
    chunks; ``clusters.channels`` gives the table its rows when ``table``."""
    import numpy as np
    from numpy.lib.format import open_memmap

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids)
    rates = rng.lognormal(np.log(5.0), 0.8, ids.size)
    cdf = np.cumsum(rates / rates.sum())
    duration = 3600.0 * n / 20e6
    times = open_memmap(folder / "spikes.times.npy", "w+", np.float64, (n,))
    clusters = open_memmap(folder / "spikes.clusters.npy", "w+", ids.dtype, (n,))
    step = 1 << 22
    for a in range(0, n, step):
        m = min(step, n - a)
        times[a : a + m] = np.sort(rng.uniform(a / n * duration, (a + m) / n * duration, m))
        clusters[a : a + m] = ids[np.minimum(np.searchsorted(cdf, rng.random(m)), ids.size - 1)]
    times.flush()
    clusters.flush()
    del times, clusters
    if table:
        np.save(folder / "clusters.channels.npy", np.zeros(ids.size, dtype=np.int64))


GROWTH_SETS = {  # label: (spikes per probe, probes, cluster ids, clusters.* table)
    "2 M": (2_000_000, 1, "800", True),
    "20 M": (20_000_000, 1, "800", True),
    "100 M": (100_000_000, 1, "800", True),
    "20 M, 10,000 sparse ids < 10**6": (20_000_000, 1, "sparse", False),
    "20 M, 10,000 sparse ids < 2**40": (20_000_000, 1, "huge", False),
    "1 probe x 5 M": (5_000_000, 1, "800", True),
    "2 probes x 5 M": (5_000_000, 2, "800", True),
    "4 probes x 5 M": (5_000_000, 4, "800", True),
}


def _growth_ids(kind: str):
    import numpy as np

    rng = np.random.default_rng(11)
    if kind == "800":
        return np.arange(800, dtype=np.uint32)
    if kind == "sparse":
        return np.sort(rng.choice(10**6, 10_000, replace=False)).astype(np.uint32)
    return np.unique(rng.integers(0, 2**40, 10_000)).astype(np.int64)


def growth(args) -> int:
    base = args.root / "growth"
    sets = list(GROWTH_SETS) if not args.quick else ["2 M", "20 M", "1 probe x 5 M", "2 probes x 5 M"]
    rows = []
    for label in sets:
        n, probes, _, _ = GROWTH_SETS[label]
        session = base / "lab" / "Subjects" / "s" / "2024-01-01" / "001"
        shutil.rmtree(base, ignore_errors=True)
        collections = [f"alf/probe{p:02d}/pykilosort" for p in range(probes)]
        prep = [sys.executable, __file__, "--root", str(args.root), "--child", "write-growth", "--session"]
        subprocess.run(
            [*prep, str(session), "--collections", ",".join(collections), "--set", label], check=True
        )
        runs: dict[str, list[dict]] = {"a": [], "d": [], "e": []}
        for _ in range(args.repeat):
            for name in runs:
                _warm_page_cache(session)
                runs[name].append(_child(args, name, session, collections, None))
        shutil.rmtree(base, ignore_errors=True)
        total = n * probes
        row = {"label": label, "spikes": total}
        for name in runs:
            row[name] = _summary(runs[name])
            row[name + "_cpu"] = statistics.median(r["cpu"] for r in runs[name])
            row[name + "_mem"] = statistics.median(r["growth_mib"] for r in runs[name])
        rows.append(row)
        ns = 1e9 / total
        print(
            f"{label:34} floor {row['a'][0]:7.3f}s header {row['d'][0]:7.3f}s"
            f" all units {row['e'][0]:7.3f}s [{row['e'][1]:.3f}-{row['e'][2]:.3f}]"
            f" ({row['e'][0] / row['a'][0]:.2f}x floor) peak growth {row['e_mem']:5.0f} MiB | per spike:"
            f" header {row['d'][0] * ns:5.2f} ns (CPU {row['d_cpu'] * ns:5.2f}),"
            f" all units {row['e'][0] * ns:6.2f} ns (CPU {row['e_cpu'] * ns:6.2f}),"
            f" memory {row['e_mem'] * 2**20 / total:5.2f} B (floor {row['a_mem'] * 2**20 / total:5.2f} B)",
            flush=True,
        )
    measures = (
        ("d", "header", lambda r: r["d"][0]),
        ("d_cpu", "header CPU", lambda r: r["d_cpu"]),
        ("e", "all units", lambda r: r["e"][0]),
        ("e_cpu", "all units CPU", lambda r: r["e_cpu"]),
        ("e_mem", "peak memory", lambda r: r["e_mem"]),
    )
    for labels, what, bound in (
        (("2 M", "20 M", "100 M"), "2M-100M", "<= 0.25 (+-25% of the median)"),
        (("1 probe x 5 M", "2 probes x 5 M", "4 probes x 5 M"), "1-4 probes", "<= 0.25 (linear)"),
    ):
        chosen = [r for r in rows if r["label"] in labels]
        if len(chosen) < 2:
            continue
        for _, name, get in measures:
            per = [get(r) / r["spikes"] for r in chosen]
            middle = statistics.median(per)
            spread = max(abs(x / middle - 1) for x in per)  # the largest deviation from the median
            _ratio_line(f"growth {what}: {name} per spike, largest deviation", spread, bound, spread <= 0.25)
            # fixed costs (imports, the header's folder scan, thread start) make the smallest set the
            # dearest per spike: what must not happen is a per-spike cost that rises with size
            rise = max(x / per[0] - 1 for x in per)
            _ratio_line(
                f"growth {what}: {name} per spike, largest rise over the smallest set's",
                rise,
                "<= 0.25 (linear or better)",
                rise <= 0.25,
            )
    if args.rst:
        print("\n.. list-table::\n   :header-rows: 1\n")
        header = [
            "spikes",
            "floor (s)",
            "header (s)",
            "all units (s)",
            "all units / floor",
            "header / spike (ns), wall | CPU",
            "all units / spike (ns), wall | CPU",
            "peak growth / spike (B)",
            "floor's / spike (B)",
        ]
        print("   * - " + "\n     - ".join(header))
        for r in rows:
            ns = 1e9 / r["spikes"]
            cells = [r["label"], f"{r['a'][0]:.3f}", f"{r['d'][0]:.3f}", f"{r['e'][0]:.3f}"]
            cells += [f"{r['e'][0] / r['a'][0]:.2f}"]
            cells += [
                f"{r['d'][0] * ns:.2f} | {r['d_cpu'] * ns:.2f}",
                f"{r['e'][0] * ns:.1f} | {r['e_cpu'] * ns:.1f}",
            ]
            cells += [f"{r['e_mem'] * 2**20 / r['spikes']:.2f}", f"{r['a_mem'] * 2**20 / r['spikes']:.2f}"]
            print("   * - " + "\n     - ".join(cells))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data", help="where the benchmark data live")
    parser.add_argument("--repeat", type=int, default=None, help="runs per variant (default 5, quick 3)")
    parser.add_argument("--variants", default="", help="comma-separated, default: all")
    parser.add_argument("--rst", action="store_true", help="also print RST tables for docs/performance.rst")
    parser.add_argument("--growth", action="store_true", help="the growth table instead of the comparison")
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs and variants (benchmarks/run_all.py)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--session", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--collections", help=argparse.SUPPRESS)
    parser.add_argument("--set", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (3 if args.quick else 5)
    args.root.mkdir(parents=True, exist_ok=True)
    if args.child == "prepare":
        _phy_folder(_session(args.root), args.root)
        return 0
    if args.child == "write-growth":
        n, _, kind, table = GROWTH_SETS[args.set]
        ids = _growth_ids(kind)
        for p, c in enumerate(args.collections.split(",")):
            _write_probe(args.session / c, n, ids, seed=p, table=table)
        return 0
    if args.child:
        phy = args.root / "phy" if args.child.startswith("c") else None
        print(json.dumps(run_variant(args.child, args.session, phy, args.collections.split(","))))
        return 0
    return growth(args) if args.growth else comparison(args)


if __name__ == "__main__":
    raise SystemExit(main())
