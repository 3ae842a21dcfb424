"""Memory at real IBL scale: ``parse_header`` and an eager ``read_block`` of a probe-hour session.

A session as IBL publishes one hour of one probe: 4.4 M ``_spikeglx_sync`` fronts (times, channels,
polarities), 15 M spikes in 600 clusters (times, clusters, amps, depths), clusters and channels
tables, 600 trials. Each measure runs in a fresh process (imports outside, every first-use cost
inside) and prints the peak growth of resident memory (VmHWM) against what the reader keeps
(``parse_header``) or returns (``read_block``):

- ``parse_header``: peak growth <= 1.5x the bytes of the arrays the layout keeps;
- eager ``read_block``: peak growth <= 2x the bytes of the Block it returns.

    python benchmarks/bench_real_scale.py [--code DIR]   # DIR: another checkout, to compare

``--code`` runs the same measures against the neo_alf of another checkout (the figures "before").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SESSION = HERE / "_data" / "real_scale" / "ibl" / "Subjects" / "SWC_001" / "2024-05-06" / "001"
N_FRONTS, N_SPIKES, N_CLUSTERS, N_CHANNELS, N_TRIALS, DURATION = 4_400_000, 15_000_000, 600, 384, 600, 3600.0


def make_session(path: Path = SESSION) -> Path:
    marker = path / ".complete"
    if marker.exists():
        return path
    rng = np.random.default_rng(0)
    sync = path / "raw_ephys_data"
    sync.mkdir(parents=True, exist_ok=True)
    np.save(sync / "_spikeglx_sync.times.npy", np.sort(rng.uniform(0, DURATION, N_FRONTS)))
    np.save(sync / "_spikeglx_sync.channels.npy", rng.integers(0, 16, N_FRONTS).astype(np.float64))
    np.save(sync / "_spikeglx_sync.polarities.npy", rng.choice([-1.0, 1.0], N_FRONTS))
    probe = path / "alf" / "probe00" / "pykilosort"
    probe.mkdir(parents=True, exist_ok=True)
    np.save(probe / "spikes.times.npy", np.sort(rng.uniform(0, DURATION, N_SPIKES)))
    np.save(probe / "spikes.clusters.npy", rng.integers(0, N_CLUSTERS, N_SPIKES).astype(np.uint32))
    np.save(probe / "spikes.amps.npy", rng.uniform(50e-6, 500e-6, N_SPIKES))
    np.save(probe / "spikes.depths.npy", rng.uniform(0, 3840, N_SPIKES).astype(np.float32))
    np.save(probe / "clusters.channels.npy", rng.integers(0, N_CHANNELS, N_CLUSTERS))
    np.save(probe / "clusters.depths.npy", rng.uniform(0, 3840, N_CLUSTERS))
    np.save(probe / "channels.localCoordinates.npy", rng.uniform(0, 3840, (N_CHANNELS, 2)))
    np.save(probe / "channels.brainLocationIds_ccf_2017.npy", rng.integers(0, 1000, N_CHANNELS))
    starts = np.sort(rng.uniform(0, DURATION - 10, N_TRIALS))
    np.save(path / "alf" / "_ibl_trials.intervals.npy", np.c_[starts, starts + 5])
    np.save(path / "alf" / "_ibl_trials.stimOn_times.npy", starts + 0.5)
    np.save(path / "alf" / "_ibl_trials.choice.npy", rng.choice([-1.0, 0.0, 1.0], N_TRIALS))
    marker.write_text("ok")
    return path


def _kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _nbytes(obj, seen: dict) -> int:
    """Bytes of the arrays in ``obj`` (memory they own, counted once; memory maps count 0)."""
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen or isinstance(base, np.memmap):
            return 0
        seen[id(base)] = base  # kept alive: ids of freed objects are reused
        return int(base.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v, seen) for v in obj)
    return 0


def child(which: str) -> dict:
    import neo_alf

    base = _kib("VmRSS")
    if which == "header":
        reader = neo_alf.AlfRawIO(SESSION)
        reader.parse_header()
        seen: dict = {}
        layout = getattr(reader, "layout", None)
        if layout is not None:
            kept = 0
            for ev in layout.events:
                kept += _nbytes([ev.times, ev.durations, ev.rows, dict(ev.annotations)], seen)
            for src in layout.spikes:
                kept += _nbytes([src.index.unit_ids, src.index.counts, src.index.offsets], seen)
        else:  # the first round's reader
            kept = sum(_nbytes([e.times, e.durations, e.labels], seen) for e in reader._events)
        kept += _nbytes(reader.raw_annotations, seen)
        return {"what": "parse_header", "peak_mib": (_kib("VmHWM") - base) / 1024, "kept_mib": kept / 2**20}
    block = neo_alf.AlfIO(SESSION).read_block()
    seg = block.segments[0]
    seen: dict = {}
    returned = 0
    neo_objects = [*seg.spiketrains, *seg.events, *seg.epochs, *seg.analogsignals]
    for obj in [*neo_objects, *seg.irregularlysampledsignals]:
        returned += _nbytes([obj.magnitude, dict(obj.array_annotations)], seen)
        returned += _nbytes(getattr(obj, "labels", None), seen)
        returned += _nbytes(getattr(obj, "durations", None), seen)
    return {"what": "read_block", "peak_mib": (_kib("VmHWM") - base) / 1024, "returned_mib": returned / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout whose neo_alf to measure")
    parser.add_argument("--child", choices=["header", "block"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    make_session()
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    for which in ("header", "block"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", which], env=env, capture_output=True, text=True, check=False
        )
        if out.returncode:
            print(f"{which}: failed\n{out.stderr[-2000:]}")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if which == "header":
            ratio = result["peak_mib"] / max(result["kept_mib"], 1e-9)
            print(
                f"parse_header: peak +{result['peak_mib']:.0f} MiB, keeps {result['kept_mib']:.0f} MiB "
                f"-> {ratio:.2f}x (target <= 1.5x)"
            )
        else:
            ratio = result["peak_mib"] / max(result["returned_mib"], 1e-9)
            returned = result["returned_mib"]
            print(
                f"read_block:   peak +{result['peak_mib']:.0f} MiB, returns {returned:.0f} MiB "
                f"-> {ratio:.2f}x (target <= 2x)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
