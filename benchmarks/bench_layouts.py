"""Header cost of sessions laid out as IBL publishes them, in a fresh process.

For the 2024 layout (two probes, trials table, iblsorter, raw SpikeGLX files) and the 2020 layout
(trials as npy, two sortings under one probe, a revision), each measure runs in its own process
(imports before the clock, every first-use cost inside: parquet, the spike index, the SpikeGLX
headers) and prints the median and spread of ``AlfRawIO(path).parse_header()``, of the same
without the ``raw_ephys_data`` collections, and of the SpikeGLX headers alone
(``find_raw_streams``, per probe: at most 20 ms per probe, issue 13 (f)).

    python benchmarks/bench_layouts.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(path: str, without_raw: bool) -> float:
    import warnings

    from neo_alf import AlfRawIO, AlfSession

    if without_raw == "raw":  # the SpikeGLX headers alone, as the layout reads them
        from neo_alf.spikeglx import find_raw_streams

        session = AlfSession(path)
        t0 = time.perf_counter()
        find_raw_streams(session.path, session.raw_files)
        return time.perf_counter() - t0
    collections = None
    if without_raw:
        collections = [c for c in AlfSession(path).collections if not c.startswith("raw_ephys_data")]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real layout reads without a problem
        reader = AlfRawIO(path, collections=collections)
        reader.parse_header()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "WITHOUT_RAW"))
    args = parser.parse_args()
    if args.child:
        which = args.child[1]
        print(json.dumps(child(args.child[0], which if which == "raw" else which == "1")))
        return 0
    repeats = 3 if args.quick else args.repeats
    from neo_alf.testing_ibl import make_ibl_session

    with tempfile.TemporaryDirectory() as root:
        sessions = {
            "2024 (2 probes)": make_ibl_session(root, "2024", probes=2),
            "2020": make_ibl_session(root, "2020"),
        }
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeats):  # interleaved: each variant sees the same machine
            for label, s in sessions.items():
                for without_raw in ("0", "1", "raw"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", str(s.path), without_raw],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results.setdefault((label, without_raw), []).append(json.loads(out.stdout))
        for label, s in sessions.items():
            full, bare, raw = results[(label, "0")], results[(label, "1")], results[(label, "raw")]
            per_probe = statistics.median(raw) / len(s.probes) * 1e3
            print(
                f"{label:16} parse_header {statistics.median(full) * 1e3:6.0f} ms "
                f"(spread {min(full) * 1e3:.0f}-{max(full) * 1e3:.0f}), without raw_ephys_data "
                f"{statistics.median(bare) * 1e3:6.0f} ms; SpikeGLX headers {per_probe:5.1f} ms per probe"
            )
            met = "met" if per_probe <= 20 else "NOT met"
            print(f"RATIO\traw streams per probe, {label} (ms)\t{per_probe:.1f}\t<= 20\t{met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
