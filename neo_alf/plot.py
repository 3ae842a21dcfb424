"""A one-page overview of a session (optional extra ``[plot]``: matplotlib).

Spike rasters by depth (one panel per probe) with trial starts, the wheel position, and a few
seconds of LFP. Everything is read through :class:`~neo_alf.io.AlfIO` lazily: only what is drawn
is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import quantities as pq

from .errors import AlfDependencyError

__all__ = ["plot_overview"]

_MAX_POINTS = 200_000  # per raster: beyond this, spikes are subsampled evenly


def plot_overview(
    session_path: str | os.PathLike,
    out: str | os.PathLike,
    lfp_seconds: float = 2.0,
    dpi: int = 100,
    strict: bool = False,
) -> Path:
    """Draw the overview figure of a session to a PNG (or any format matplotlib knows).

    Parameters
    ----------
    session_path : str or path-like
        The session folder.
    out : str or path-like
        The image file to write.
    lfp_seconds : float
        Seconds of LFP to draw (from the start of the recording).
    dpi : int
        Resolution; the figure is 12 x 8 inches.
    strict : bool
        Passed to :class:`~neo_alf.io.AlfIO` (only when True).

    Returns
    -------
    Path
        ``out``.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AlfDependencyError(
            "plots need matplotlib: pip install 'neo-alf[plot]'", rule="optional extra `plot`"
        ) from None
    from .io import AlfIO

    strict_kwargs = {"strict": True} if strict else {}
    block = AlfIO(session_path, spike_array_annotations=False, **strict_kwargs).read_block(lazy=True)
    seg = block.segments[0]
    probes = [g for g in block.groups if g.annotations.get("collection")]
    trials = [e for e in seg.epochs if e.name == "trials.intervals"]
    wheel = [s for s in seg.irregularlysampledsignals if s.annotations.get("alf_object") == "wheel"]
    lfp = [a for a in seg.analogsignals if a.name.endswith("/lfp")]
    rows = max(1, len(probes)) + 2
    fig, axes = plt.subplots(rows, 1, figsize=(12, 8), sharex=False, constrained_layout=True)
    axes = np.atleast_1d(axes)
    starts = trials[0].load().times.magnitude if trials else np.empty(0)
    for ax, group in zip(axes, probes or [None], strict=False):
        if group is None:
            ax.text(0.5, 0.5, "no spikes", ha="center", va="center", transform=ax.transAxes)
            continue
        times, depths = [], []
        for proxy in group.spiketrains:
            st = proxy.load()
            times.append(st.magnitude)
            depths.append(np.full(st.size, st.annotations.get("cluster_depths", np.nan)))
        t, d = np.concatenate(times), np.concatenate(depths)
        step = max(1, t.size // _MAX_POINTS)
        ax.scatter(t[::step], d[::step], s=0.5, c="k", alpha=0.3, linewidths=0)
        for s in starts:
            ax.axvline(s, color="tab:red", lw=0.5, alpha=0.6)
        ax.set_ylabel("depth (um)")
        ax.set_title(f"{group.name}: {len(group.spiketrains)} units, {t.size} spikes", loc="left", fontsize=9)
    ax = axes[len(probes) or 1]
    if wheel:
        w = wheel[0].load()
        ax.plot(w.times.magnitude, w.magnitude[:, 0], lw=0.6)
        ax.set_ylabel(f"wheel ({w.units.dimensionality.string})")
    for s in starts:
        ax.axvline(s, color="tab:red", lw=0.5, alpha=0.6)
    ax.set_title("wheel position, trial starts in red", loc="left", fontsize=9)
    ax = axes[-1]
    if lfp:
        proxy = lfp[0]
        sig = proxy.load(time_slice=(proxy.t_start, proxy.t_start + lfp_seconds * pq.s))
        offsets = np.arange(sig.shape[1]) * 4 * float(np.nanstd(sig.magnitude) or 1.0)
        ax.plot(sig.times.magnitude, sig.magnitude + offsets, lw=0.5)
        ax.set_ylabel(f"LFP ({sig.units.dimensionality.string})")
        ax.set_title(f"{proxy.name}: first {lfp_seconds:g} s", loc="left", fontsize=9)
    ax.set_xlabel("session time (s)")
    fig.suptitle(block.name or str(session_path), fontsize=11)
    out = Path(out)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
