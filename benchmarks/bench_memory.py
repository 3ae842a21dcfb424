"""Memory: one unit of a 20-million-spike session, read after parse_header, does not load spikes.times.

Prints, for a fresh process: resident memory after imports, what loading the compiled kernels adds
(Numba and LLVM, once per process, when the ``fast`` extra is installed), what ``parse_header`` adds,
and what reading the spike times of the smallest non-empty unit, of a median unit, and (for scale)
of every unit adds, both at the end and at its peak (VmHWM); and how many pages of
``spikes.times.npy`` are resident in the process (from /proc/self/smaps: the reader never maps it).
``spikes.times`` is 160 MB: reading one unit must add a small fraction of that.

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_spikes import COLLECTION, _session, _status_kib  # noqa: E402


def mapped_kib(name: str) -> int:
    """Resident KiB of the mappings of files whose path ends with ``name``."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if len(head) >= 6 and "-" in head[0]:
                inside = head[-1].endswith(name)
            elif inside and line.startswith("Rss:"):
                total += int(head[1])
    return total


def child(session: Path, which: str) -> None:
    import numpy as np

    from neo_alf import AlfRawIO, kernels

    before_kernels = _status_kib("VmRSS")
    kernels.compiled()
    base = _status_kib("VmRSS")
    reader = AlfRawIO(session, collections=[COLLECTION])
    reader.parse_header()
    after_header = _status_kib("VmRSS")
    peak_header = _status_kib("VmHWM")
    counts = np.array(
        [reader.spike_count(spike_channel_index=i) for i in range(reader.spike_channels_count())]
    )
    nonzero = np.flatnonzero(counts)
    if which == "smallest":
        units = [int(nonzero[np.argmin(counts[nonzero])])]
    elif which == "median":
        units = [int(nonzero[np.argsort(counts[nonzero])[nonzero.size // 2]])]
    else:
        units = list(range(counts.size))
    n = 0
    for u in units:
        n += reader.get_spike_timestamps(spike_channel_index=u).size
    after, peak = _status_kib("VmRSS"), _status_kib("VmHWM")
    times_mb = (session / COLLECTION / "spikes.times.npy").stat().st_size / 2**20
    print(
        f"{which:9} {len(units):4} unit(s) {n:9} spikes | "
        f"RSS after imports {before_kernels / 1024:4.0f} MiB, "
        f"kernels +{(base - before_kernels) / 1024:3.0f}, "
        f"parse_header +{(after_header - base) / 1024:3.0f} (peak +{(peak_header - base) / 1024:3.0f}), "
        f"read +{(after - after_header) / 1024:4.0f} (peak +{(peak - after_header) / 1024:4.0f}) MiB | "
        f"spikes.times resident {mapped_kib('spikes.times.npy') / 1024:4.1f} of {times_mb:.0f} MiB"
    )


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(_session(HERE / "_data"), sys.argv[2])
        return 0
    _session(HERE / "_data")
    for which in ("smallest", "median", "all"):
        subprocess.run([sys.executable, __file__, "--child", which], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
