"""A one-page overview of a session (optional extra ``[plot]``: matplotlib).

Spike rasters at each spike's own depth (``spikes.depths``; one panel per spike-sorting collection,
the root collection included), the wheel position in radians, and a few seconds of LFP drawn as
labelled traces with a scale bar. Trial starts are drawn as red lines in every panel, each with
its legend. Everything is read through :class:`~neo_alf.io.AlfIO` lazily: only what is drawn is
loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import quantities as pq

from .errors import AlfDependencyError

__all__ = ["plot_overview", "pyplot", "raster_points", "spike_groups"]

_MAX_POINTS = 200_000  # per raster: beyond this, spikes are subsampled evenly
_TRIAL_COLOUR = "tab:red"


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or an :class:`AlfDependencyError` naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AlfDependencyError(
            "plots need matplotlib: pip install 'neo-alf[plot]'", rule="optional extra `plot`"
        ) from None
    return plt


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
        Seconds of LFP to draw, from the first trial start (or the recording's start).
    dpi : int
        Resolution; the figure is 12 x 8 inches.
    strict : bool
        Passed to :class:`~neo_alf.io.AlfIO` (only when True).

    Returns
    -------
    Path
        ``out``.
    """
    plt = pyplot()
    from .io import AlfIO

    strict_kwargs = {"strict": True} if strict else {}
    block = AlfIO(session_path, **strict_kwargs).read_block(lazy=True)
    seg = block.segments[0]
    probes = spike_groups(block)
    trials = [e for e in seg.epochs if e.name.endswith("trials.intervals")]
    wheel = [s for s in seg.irregularlysampledsignals if s.annotations.get("alf_object") == "wheel"]
    lfp = [a for a in seg.analogsignals if a.name.endswith("/lfp")]
    rows = max(1, len(probes)) + 2
    fig, axes = plt.subplots(rows, 1, figsize=(12, 8), sharex=False, constrained_layout=True)
    axes = np.atleast_1d(axes)
    starts = trials[0].load().times.rescale(pq.s).magnitude if trials else np.empty(0)
    for ax, group in zip(axes, probes or [None], strict=False):
        if group is None:
            ax.text(0.5, 0.5, "no spikes in this session", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        t, d = raster_points(group)
        step = max(1, t.size // _MAX_POINTS)
        ax.scatter(t[::step], d[::step], s=0.5, c="k", alpha=0.3, linewidths=0)
        _trial_lines(ax, starts)
        ax.set_ylabel("depth (um)")
        name = group.annotations["collection"] or "(root collection)"
        shown = "" if step == 1 else f", 1 in {step} drawn"
        ax.set_title(
            f"{name}: {len(group.spiketrains)} units, {t.size} spikes{shown}", loc="left", fontsize=9
        )
    ax = axes[max(1, len(probes))]
    if wheel:
        w = wheel[0].load()
        ax.plot(w.times.rescale(pq.s).magnitude, w.magnitude[:, 0], lw=0.6, color="tab:blue")
        unit = w.units.dimensionality.string
        # ALF wheel positions are radians (IBL convention); Neo has them dimensionless
        ax.set_ylabel("wheel position (rad)" if unit == "dimensionless" else f"wheel position ({unit})")
        ax.set_title("wheel position", loc="left", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no wheel in this session", ha="center", va="center", transform=ax.transAxes)
    _trial_lines(ax, starts)
    ax = axes[-1]
    if lfp:
        span = _lfp_panel(ax, lfp[0], float(starts[0]) if starts.size else None, lfp_seconds)
        _trial_lines(ax, starts, span)
    else:
        ax.text(0.5, 0.5, "no LFP in this session", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    for ax in axes:
        ax.set_xlabel("session time (s)")
    fig.suptitle(block.name or str(session_path), fontsize=11)
    out = Path(out)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def spike_groups(block) -> list:
    """The Groups of a Block that hold one spike-sorting collection each, the root collection
    (``""``) included."""
    return [g for g in block.groups if "collection" in g.annotations and g.spiketrains]


def raster_points(group) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and depths (um) of every spike of a Group of (proxy) SpikeTrains: each spike at its
    own depth (``spikes.depths``), or at its cluster's when the session has no per-spike depths."""
    times, depths = [], []
    for proxy in group.spiketrains:
        st = proxy.load() if hasattr(proxy, "load") else proxy
        times.append(st.rescale(pq.s).magnitude)
        if "depths" in st.array_annotations:
            depths.append(np.asarray(st.array_annotations["depths"], dtype=float))
        else:
            depths.append(np.full(st.size, st.annotations.get("cluster_depths", np.nan), dtype=float))
    return np.concatenate(times), np.concatenate(depths)


def _trial_lines(ax, starts: np.ndarray, span: tuple[float, float] | None = None) -> None:
    """Red lines at trial starts within ``span``, with their legend in this panel (above its top right
    corner, off the data): panels are read one at a time."""
    lo, hi = span if span is not None else (-np.inf, np.inf)
    shown = starts[(starts >= lo) & (starts <= hi)]
    for i, s in enumerate(shown):
        ax.axvline(s, color=_TRIAL_COLOUR, lw=0.5, alpha=0.5, label="trial start" if i == 0 else None)
    if shown.size:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.1)


def _lfp_panel(ax, proxy, start: float | None, seconds: float) -> tuple[float, float]:
    """LFP traces stacked by channel, labelled by name, with a vertical scale bar instead of a y axis.

    Returns the time span drawn (s)."""
    t0 = proxy.t_start.rescale(pq.s)
    if start is not None:
        t0 = max(t0, (start - 0.2) * pq.s)
    t1 = min(t0 + seconds * pq.s, proxy.t_stop.rescale(pq.s))
    sig = proxy.load(time_slice=(t0, t1))
    data = sig.magnitude - np.nanmedian(sig.magnitude, axis=0)
    spacing = 6 * float(np.nanstd(data) or 1.0)
    offsets = -np.arange(sig.shape[1]) * spacing  # first channel on top
    times = sig.times.rescale(pq.s).magnitude
    ax.plot(times, data + offsets, lw=0.5, color="k")
    names = sig.array_annotations.get("channel_names", [f"ch{i}" for i in range(sig.shape[1])])
    ax.set_yticks(offsets, [str(n) for n in names], fontsize=8)
    ax.tick_params(axis="y", length=0)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    bar = _nice(spacing)
    unit = sig.units.dimensionality.string
    x = times[-1] + 0.01 * (times[-1] - times[0])
    ax.plot(
        [x, x], [offsets[-1] - spacing / 2, offsets[-1] - spacing / 2 + bar], color="k", lw=2, clip_on=False
    )
    ax.text(x, offsets[-1] - spacing / 2 + bar / 2, f" {bar:g} {unit}", va="center", fontsize=8)
    ax.set_xlim(times[0], x + 0.08 * (times[-1] - times[0]))
    ax.set_title(
        f"{proxy.name}: {sig.shape[1]} channels, {float(sig.sampling_rate.rescale(pq.Hz)):g} Hz, "
        f"{times[-1] - times[0]:.1f} s (each trace minus its median)",
        loc="left",
        fontsize=9,
    )
    return float(times[0]), float(times[-1])


def _nice(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``value`` (a scale bar length)."""
    power = 10 ** np.floor(np.log10(value))
    return float(max(m for m in (1, 2, 5) if m * power <= value) * power)
