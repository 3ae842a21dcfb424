"""Benchmark: raw SpikeGLX reading (issue 13, targets a-e and g) on a 385-channel 30 kHz AP recording.

The recording (``--seconds``, 60 by default) is generated once into ``--root`` as ``.bin`` + ``.meta``
and, compressed by mtscomp's own compressor (1 s chunks), as ``.cbin`` + ``.ch`` + ``.meta``:
noise of 3 counts (about 7 uV, as a Neuropixels AP band), planted spikes, a sync channel. About
1.4 GB (.bin) + 0.45 GB (.cbin): delete ``--root`` afterwards (or pass ``--clean``).

Each contender runs in its own process, ``--repeat`` times, the runs interleaved (a, b, ..., a, b,
...; median reported); times include
opening the files (headers) and exclude imports. "Cold": a fresh process, so no decoded chunk
is cached; the page cache is warm (the files were just written or read).

  a   mtscomp Reader: 100 random 10 ms windows, all channels
  b   neo-alf (find_raw_streams + RawStream reader): the same windows       target b <= 1.1 a
  c1  mtscomp, single thread: one sequential pass (every chunk decompressed)
  c2  neo-alf, 2 threads: one sequential pass in 8-chunk windows              target c1 / c2 >= 1.5
  d   SpikeInterface read_cbin_ibl: the same windows                          target b <= 1.0 d
  e1  Neo SpikeGLXRawIO on the .bin: parse_header + the same windows
  e2  neo-alf on the .bin: find_raw_streams + the same windows                target e2 <= 1.1 e1
  g   neo-alf: peak memory of a 1 s read straddling two chunks                target <= 2 chunks + cache

    python benchmarks/bench_raw.py [--seconds 60] [--repeat 5] [--rst] [--clean]
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

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 30000.0
N_NEURAL = 384
RUN = "_spikeglx_ephysData_g0_t0"
WINDOW = 300  # 10 ms
N_WINDOWS = 100

CONTENDERS = {
    "a": "mtscomp Reader, 100 random 10 ms windows, all channels",
    "b": "neo-alf .cbin, the same windows",
    "c1": "mtscomp, 1 thread: one sequential pass",
    "c2": "neo-alf .cbin, 2 threads: one sequential pass",
    "d": "SpikeInterface read_cbin_ibl, the same windows",
    "e1": "Neo SpikeGLXRawIO .bin: parse_header + the same windows",
    "e2": "neo-alf .bin: find_raw_streams + the same windows",
    "g": "neo-alf: 1 s read straddling two chunks (memory)",
}


def _paths(root: Path) -> dict[str, Path]:
    return {
        "bin_session": root / "bin_session",
        "cbin_session": root / "cbin_session",
        "bin": root / "bin_session/raw_ephys_data/probe00" / f"{RUN}.imec0.ap.bin",
        "cbin": root / "cbin_session/raw_ephys_data/probe00" / f"{RUN}.imec0.ap.cbin",
        "ch": root / "cbin_session/raw_ephys_data/probe00" / f"{RUN}.imec0.ap.ch",
    }


def generate(root: Path, seconds: float) -> dict[str, Path]:
    """Write the .bin and .cbin recordings once (chunk by chunk: bounded memory)."""
    import mtscomp

    from neo_alf.testing_spikeglx import write_meta

    paths = _paths(root)
    done = root / f"done-{seconds:g}"
    if done.exists():
        return paths
    shutil.rmtree(root, ignore_errors=True)
    for key in ("bin", "cbin"):
        paths[key].parent.mkdir(parents=True, exist_ok=True)
    n_samples = int(seconds * RATE)
    rng = np.random.default_rng(0)
    t = np.arange(-12, 24)
    template = -120 * np.exp(-0.5 * t**2) + 30 * np.exp(-0.5 * ((t - 6) / 4.0) ** 2)
    with open(paths["bin"], "wb") as f:
        for start in range(0, n_samples, int(RATE)):
            n = min(int(RATE), n_samples - start)
            block = np.empty((n, N_NEURAL + 1), dtype=np.int16)
            block[:, :N_NEURAL] = np.round(rng.normal(0, 3.0, (n, N_NEURAL)))
            for s in rng.integers(20, n - 30, 300):
                c = int(rng.integers(2, N_NEURAL - 2))
                block[s + t, c - 2 : c + 3] += np.round(template[:, None] * [0.25, 0.5, 1, 0.5, 0.25]).astype(
                    np.int16
                )
            block[:, N_NEURAL] = np.where((start + np.arange(n)) // 15000 % 2, 64, 0)
            block.tofile(f)
    for key in ("bin", "cbin"):
        write_meta(
            paths[key].with_suffix(".meta"),
            kind="ap",
            n_channels=N_NEURAL,
            rate=RATE,
            n_samples=n_samples,
            file_name=f"{RUN}.imec0.ap.bin",
        )
    mtscomp.compress(
        paths["bin"],
        paths["cbin"],
        paths["ch"],
        sample_rate=RATE,
        n_channels=N_NEURAL + 1,
        dtype="int16",
        check_after_compress=False,
        quiet=True,
        n_threads=2,
    )
    done.touch()
    return paths


def _windows(n_samples: int) -> list[tuple[int, int]]:
    starts = np.random.default_rng(42).integers(0, n_samples - WINDOW, N_WINDOWS)
    return [(int(a), int(a) + WINDOW) for a in starts]


def _vm_hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_contender(name: str, root: Path) -> dict:
    """One timed run, in this (fresh) process."""
    import mtscomp  # imports are not timed

    from neo_alf.cbin import CbinReader
    from neo_alf.spikeglx import find_raw_streams

    paths = _paths(root)
    n_samples = int(json.loads(paths["ch"].read_text())["chunk_bounds"][-1])
    windows = _windows(n_samples)
    checksum = 0
    extra: dict = {}
    if name == "d":
        from spikeinterface.extractors import read_cbin_ibl
    if name == "e1":
        from neo.rawio import SpikeGLXRawIO
    t0 = time.perf_counter()
    if name == "a":
        reader = mtscomp.Reader()
        reader.open(paths["cbin"], paths["ch"])
        for a, b in windows:
            checksum += int(reader[a:b][-1, 0])
    elif name == "b":
        stream = find_raw_streams(paths["cbin_session"])[0]
        for a, b in windows:
            checksum += int(stream.reader.read(a, b)[-1, 0])
    elif name == "c1":
        reader = mtscomp.Reader(n_threads=1)
        reader.open(paths["cbin"], paths["ch"])
        for idx, start, length in reader.iter_chunks():
            checksum += int(reader.read_chunk.__wrapped__(idx, start, length)[-1, 0])
    elif name == "c2":
        reader = CbinReader(paths["cbin"], paths["ch"], cache_bytes=0, n_threads=2)
        step = int(8 * RATE)
        for a in range(0, reader.n_samples, step):
            checksum += int(reader.read(a, min(a + step, reader.n_samples))[-1, 0])
        extra["MB_per_s"] = reader.n_samples * reader.n_channels * 2 / 1e6
    elif name == "d":
        rec = read_cbin_ibl(cbin_file_path=paths["cbin"])
        for a, b in windows:
            checksum += int(rec.get_traces(start_frame=a, end_frame=b)[-1, 0])
    elif name == "e1":
        io = SpikeGLXRawIO(dirname=paths["bin_session"] / "raw_ephys_data/probe00")
        io.parse_header()
        index = list(io.header["signal_streams"]["name"]).index("imec0.ap")
        for a, b in windows:
            checksum += int(io.get_analogsignal_chunk(i_start=a, i_stop=b, stream_index=index)[-1, 0])
    elif name == "e2":
        stream = find_raw_streams(paths["bin_session"])[0]
        for a, b in windows:
            checksum += int(stream.read(a, b)[-1, 0])
    elif name == "g":
        import tracemalloc

        stream = find_raw_streams(paths["cbin_session"])[0]
        reader = stream.reader
        tracemalloc.start()
        base_hwm = _vm_hwm_mib()
        out = stream.read(int(RATE) // 2, int(RATE) // 2 + int(RATE))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        checksum = int(out[-1, 0])
        extra = {
            "chunk_mib": reader.chunk_nbytes / 2**20,
            "cache_cap_mib": reader.cache_bytes / 2**20,
            "output_mib": out.nbytes / 2**20,
            "peak_traced_mib": peak / 2**20,
            "beyond_output_chunks": (peak - out.nbytes) / reader.chunk_nbytes,
            "cached_mib": reader.cache.nbytes / 2**20,
            "rss_growth_mib": _vm_hwm_mib() - base_hwm,
        }
    seconds = time.perf_counter() - t0
    if name == "c2":
        extra["MB_per_s"] /= seconds
    return {"seconds": seconds, "checksum": checksum, **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE / "_data" / "raw")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--rst", action="store_true")
    parser.add_argument("--clean", action="store_true", help="delete the generated data at the end")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_contender(args.child, args.root)))
        return 0
    t0 = time.perf_counter()
    generate(args.root, args.seconds)
    print(f"data: {args.root} ({time.perf_counter() - t0:.0f} s to make or find)", file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    names = args.contenders.split(",")
    runs: dict[str, list] = {name: [] for name in names}
    # Interleaved (a, b, ..., a, b, ...) so that a change in the machine's load hits every contender.
    for _ in range(args.repeat):
        for name in names:
            out = subprocess.run(
                [sys.executable, __file__, "--root", str(args.root), "--child", name],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"contender {name} failed")
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results: dict[str, dict] = {}
    for name in names:
        med = statistics.median(r["seconds"] for r in runs[name])
        results[name] = {"median": med, "fastest": min(r["seconds"] for r in runs[name]), "runs": runs[name]}
        print(
            f"{name:3s} {CONTENDERS[name]:58s} median {med:8.3f} s  fastest {results[name]['fastest']:.3f} s",
            file=sys.stderr,
        )
    checks = {r["checksum"] for k in ("a", "b", "d", "e1", "e2") if k in results for r in results[k]["runs"]}
    if len(checks) > 1:
        print(f"WARNING: contenders disagree on the windows (checksums {checks})", file=sys.stderr)
    _report(results, args.rst)
    if args.clean:
        shutil.rmtree(args.root)
    return 0


def _ratio(results, a, b) -> str:
    if a in results and b in results:
        return f"{results[a]['median'] / results[b]['median']:.2f}"
    return "n/a"


def _report(results: dict, rst: bool) -> None:
    lines = [
        ("b / a (target <= 1.1)", _ratio(results, "b", "a")),
        ("c1 / c2 speed-up (target >= 1.5)", _ratio(results, "c1", "c2")),
        ("b / d (target <= 1.0)", _ratio(results, "b", "d")),
        ("e2 / e1 (target <= 1.1)", _ratio(results, "e2", "e1")),
    ]
    if "g" in results:
        g = results["g"]["runs"][0]
        lines.append(
            (
                "g: peak beyond the output, in chunks (target <= 2 + cache)",
                f"{g['beyond_output_chunks']:.2f} "
                f"(cached {g['cached_mib']:.0f} MiB, cap {g['cache_cap_mib']:.0f} MiB)",
            )
        )
    if rst:
        print(
            ".. list-table::\n   :header-rows: 1\n\n   * - contender\n     - median (s)\n     - fastest (s)"
        )
        for name, r in results.items():
            print(f"   * - ({name}) {CONTENDERS[name]}\n     - {r['median']:.3f}\n     - {r['fastest']:.3f}")
        print()
        print(".. list-table::\n   :header-rows: 1\n\n   * - ratio\n     - value")
        for label, value in lines:
            print(f"   * - {label}\n     - {value}")
    else:
        for name, r in results.items():
            print(f"{name:3s} {r['median']:8.3f} s  {CONTENDERS[name]}")
        for label, value in lines:
            print(f"{label}: {value}")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "runs"} for k, v in results.items()}))


if __name__ == "__main__":
    raise SystemExit(main())
