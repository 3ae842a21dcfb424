"""The figures of the documentation's gallery, each made from a session by one short function.

Every function reads a session folder through the public API (:func:`neo_alf.load_object` for the
trial table, :class:`~neo_alf.io.AlfIO` for Neo objects), draws one figure, writes it, and returns
what it drew so that the tests can check the numbers against the files. ``docs/gallery.rst`` shows
each function's code beside its figure; ``python -m neo_alf.gallery docs/_static`` redraws them all
from the example session. Needs matplotlib (the ``[plot]`` extra); no Elephant.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import quantities as pq

from .plot import plot_overview, pyplot

__all__ = [
    "REGION_ACRONYMS",
    "lfp_around_stimulus",
    "make_gallery",
    "probe_view",
    "raster_psth",
    "stimulus_contrast",
    "wheel_around_movement",
]

REGION_ACRONYMS = {0: "void", 997: "root", 315: "Isocortex", 1089: "HPF", 549: "TH"}
"""dict: Allen CCF 2017 ids of the example's channels -> acronyms (``iblatlas`` knows them all)."""


def stimulus_contrast(trials) -> np.ndarray:
    """Per trial, the contrast of the stimulus shown, whichever side (IBL stores NaN on the other side)."""
    return np.fmax(np.asarray(trials["contrastLeft"], float), np.asarray(trials["contrastRight"], float))


def _spiketrain(session_path, collection: str, cluster_id: int):
    from .io import AlfIO

    seg = AlfIO(session_path).read_block(lazy=True).segments[0]
    return next(
        st.load()
        for st in seg.spiketrains
        if st.annotations["collection"] == collection and st.annotations["cluster_id"] == cluster_id
    )


def raster_psth(
    session_path: str | os.PathLike,
    out: str | os.PathLike,
    collection: str = "alf/probe00/pykilosort",
    cluster_id: int = 2,
    window: tuple[float, float] = (-0.2, 0.5),
    bin_size: float = 0.02,
) -> dict[str, Any]:
    """Raster and PSTH of one unit aligned to stimulus onset, trials grouped by contrast.

    Returns
    -------
    dict
        ``edges`` (s, from onset), ``contrasts``, ``psth`` (spikes/s, one row per contrast),
        ``n_trials`` per contrast.
    """
    import neo_alf

    plt = pyplot()
    trials = neo_alf.load_object(session_path, "trials")
    onsets = np.asarray(trials["stimOn_times"], float)
    contrast = stimulus_contrast(trials)
    spikes = _spiketrain(session_path, collection, cluster_id).rescale(pq.s).magnitude
    edges = np.arange(window[0], window[1] + bin_size / 2, bin_size)
    contrasts = np.unique(contrast[np.isfinite(contrast)])
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, contrasts.size))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, height_ratios=[3, 2])
    row, psth, counts = 0, [], []
    for c, colour in zip(contrasts, colours, strict=True):
        aligned = [
            spikes[(spikes >= t + window[0]) & (spikes < t + window[1])] - t for t in onsets[contrast == c]
        ]
        for spikes_of_trial in aligned:
            top.vlines(spikes_of_trial, row, row + 1, color=colour, lw=0.8)
            row += 1
        hist = np.histogram(np.concatenate(aligned), edges)[0] / (len(aligned) * bin_size)
        psth.append(hist)
        counts.append(len(aligned))
        bottom.stairs(hist, edges, color=colour, lw=1.5, label=f"{c:g} (n={len(aligned)})")
    for ax in (top, bottom):
        ax.axvline(0, color="0.5", ls="--", lw=0.8)
    top.set_ylim(0, row)
    bounds = np.cumsum([0, *counts])
    top.hlines(bounds[1:-1], window[0], window[1], color="0.8", lw=0.5)
    top.set_yticks((bounds[:-1] + bounds[1:]) / 2, [f"{c:g}" for c in contrasts])
    top.set_ylabel("trials, by stimulus contrast")
    top.set_title(f"{collection}, cluster {cluster_id}: aligned to stimulus onset", fontsize=9, loc="left")
    bottom.set_xlabel("time from stimulus onset (s)")
    bottom.set_ylabel(f"rate (spikes/s, {bin_size * 1000:g} ms bins)")
    bottom.legend(title="contrast", fontsize=7, title_fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {"edges": edges, "contrasts": contrasts, "psth": np.array(psth), "n_trials": counts}


def wheel_around_movement(
    session_path: str | os.PathLike, out: str | os.PathLike, window: tuple[float, float] = (-0.3, 0.8)
) -> dict[str, Any]:
    """Wheel displacement (rad) around each trial's first movement, by choice, with the mean of each.

    Returns
    -------
    dict
        ``t`` (s, from movement onset), ``traces`` (one row per trial that moved, rad from the
        position at onset), ``choice`` of those trials.
    """
    import neo_alf

    from .io import AlfIO

    plt = pyplot()
    trials = neo_alf.load_object(session_path, "trials")
    seg = AlfIO(session_path).read_block(lazy=True).segments[0]
    wheel = next(
        s for s in seg.irregularlysampledsignals if s.annotations.get("alf_object") == "wheel"
    ).load()
    times, position = wheel.times.rescale(pq.s).magnitude, wheel.magnitude[:, 0]
    moved = np.isfinite(trials["firstMovement_times"])
    onsets, choice = np.asarray(trials["firstMovement_times"])[moved], np.asarray(trials["choice"])[moved]
    t = np.linspace(window[0], window[1], 221)  # 5 ms steps: the wheel is resampled, not binned
    traces = np.array([np.interp(o + t, times, position) - np.interp(o, times, position) for o in onsets])
    fig, ax = plt.subplots(figsize=(6, 4))
    for value, colour, name in ((-1, "tab:orange", "choice -1"), (1, "tab:blue", "choice +1")):
        mine = traces[choice == value]
        ax.plot(t, mine.T, color=colour, lw=0.5, alpha=0.3)
        if len(mine):
            ax.plot(t, mine.mean(axis=0), color=colour, lw=2.5, label=f"{name}: mean of {len(mine)}")
    ax.axvline(0, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("time from first movement (s)")
    ax.set_ylabel("wheel displacement (rad)")
    ax.set_title("wheel around movement onset (thin: single trials)", fontsize=9, loc="left")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {"t": t, "traces": traces, "choice": choice}


def lfp_around_stimulus(
    session_path: str | os.PathLike,
    out: str | os.PathLike,
    window: tuple[float, float] = (-0.1, 0.3),
    contrasts: tuple[float, ...] = (0.0, 0.25, 1.0),
) -> dict[str, Any]:
    """Mean LFP of each channel around stimulus onset, one line per contrast, with a scale bar.

    Returns
    -------
    dict
        ``t`` (s, from onset), ``mean`` (contrast -> samples x channels, uV, baseline-subtracted),
        ``channels`` (names).
    """
    import neo_alf

    from .io import AlfIO

    plt = pyplot()
    trials = neo_alf.load_object(session_path, "trials")
    onsets, contrast = np.asarray(trials["stimOn_times"], float), stimulus_contrast(trials)
    seg = AlfIO(session_path).read_block(lazy=True).segments[0]
    proxy = next(a for a in seg.analogsignals if a.name.endswith("/lfp"))
    rate = float(proxy.sampling_rate.rescale(pq.Hz))
    n = round((window[1] - window[0]) * rate)
    t = window[0] + np.arange(n) / rate
    means = {}
    for c in contrasts:
        epochs = []
        for onset in onsets[contrast == c]:
            sig = proxy.load(time_slice=((onset + window[0]) * pq.s, (onset + window[1] + 2 / rate) * pq.s))
            x = sig.rescale(pq.uV).magnitude[:n]
            epochs.append(x - x[t[: len(x)] < 0].mean(axis=0))  # baseline: the window before onset
        means[c] = np.mean(epochs, axis=0)
    names = [str(n) for n in proxy.array_annotations.get("channel_names", range(proxy.shape[1]))]
    spacing = 1.2 * max(float(np.abs(m).max()) for m in means.values())
    offsets = -np.arange(len(names)) * spacing
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(contrasts)))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (c, m), colour in zip(means.items(), colours, strict=True):
        ax.plot(t, m + offsets, color=colour, lw=1.2)
        ax.plot([], [], color=colour, label=f"{c:g} (n={int((contrast == c).sum())})")
    ax.axvline(0, color="0.5", ls="--", lw=0.8)
    ax.set_yticks(offsets, names)
    ax.tick_params(axis="y", length=0)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    bar = 50.0 if spacing > 60 else 10.0
    x = t[-1] + 0.01
    ax.plot(
        [x, x], [offsets[-1] - spacing / 2, offsets[-1] - spacing / 2 + bar], color="k", lw=2, clip_on=False
    )
    ax.text(x, offsets[-1] - spacing / 2 + bar / 2, f" {bar:g} uV", va="center", fontsize=8)
    ax.set_xlim(t[0], t[-1] + 0.06)
    ax.set_xlabel("time from stimulus onset (s)")
    ax.set_title(f"{proxy.name}: mean LFP per channel, baseline-subtracted", fontsize=9, loc="left")
    ax.legend(title="contrast", fontsize=7, title_fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {"t": t, "mean": means, "channels": names}


def probe_view(
    session_path: str | os.PathLike, out: str | os.PathLike, collection: str = "alf/probe00/pykilosort"
) -> dict[str, Any]:
    """Units of one probe by depth and brain region: channels coloured by region, units by firing rate.

    Returns
    -------
    dict
        ``cluster_id``, ``depth`` (um), ``rate`` (spikes/s over the session), ``region`` (acronym),
        one entry per unit with spikes.
    """
    from .io import AlfIO

    plt = pyplot()
    block = AlfIO(session_path, spike_array_annotations=False).read_block(lazy=True)
    group = next(g for g in block.groups if g.annotations.get("collection") == collection)
    units = []
    for proxy in group.spiketrains:
        n = proxy.shape[0]
        if n:
            span = float((proxy.t_stop - proxy.t_start).rescale(pq.s))
            region = int(proxy.annotations["channel_brainLocationIds_ccf_2017"])
            units.append(
                (proxy.annotations["cluster_id"], proxy.annotations["cluster_depths"], n / span, region)
            )
    ids, depth, rate, region = (np.array(v) for v in zip(*units, strict=True))
    channels = _channels(session_path, collection)
    fig, (strip, ax) = plt.subplots(1, 2, figsize=(6, 5), sharey=True, width_ratios=[1, 4])
    # regions listed from the top of the probe down, as the strip reads
    regions = sorted(
        set(channels["region"].tolist()) | set(region.tolist()), key=lambda r: -_top(channels, r)
    )
    colours = {r: plt.cm.tab10(i % 10) for i, r in enumerate(regions)}
    pitch = np.diff(np.unique(channels["y"])).min() if np.unique(channels["y"]).size > 1 else 20.0
    for y, r in zip(channels["y"], channels["region"], strict=True):
        strip.barh(y, 1, height=pitch, color=colours[r], edgecolor="none")
    for r in regions:
        ys = channels["y"][channels["region"] == r]
        if ys.size:
            strip.text(0.5, ys.mean(), REGION_ACRONYMS.get(r, str(r)), ha="center", va="center", fontsize=8)
    strip.set_xticks([])
    strip.set_ylabel("depth along the probe (um from the tip)")
    strip.set_title("channels", fontsize=9)
    for r in regions:
        mine = region == r
        if mine.any():
            ax.scatter(
                rate[mine],
                depth[mine],
                s=40,
                color=colours[r],
                edgecolor="k",
                label=REGION_ACRONYMS.get(r, str(r)),
            )
    for i, d, x in zip(ids, depth, rate, strict=True):
        ax.annotate(str(i), (x, d), xytext=(4, 2), textcoords="offset points", fontsize=7)
    ax.set_xlabel("mean firing rate (spikes/s)")
    ax.set_xlim(0, None)
    ax.set_title(f"{collection}: units (labelled by cluster id)", fontsize=9, loc="left")
    ax.legend(title="unit's region", fontsize=7, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {
        "cluster_id": ids,
        "depth": depth,
        "rate": rate,
        "region": [REGION_ACRONYMS.get(r, str(r)) for r in region],
    }


def _top(channels: dict[str, np.ndarray], region: int) -> float:
    mine = channels["y"][channels["region"] == region]
    return float(mine.max()) if mine.size else -np.inf


def _channels(session_path, collection: str) -> dict[str, np.ndarray]:
    """Channel depths (um from the tip) and region ids of one probe, from ``channels.*``."""
    import neo_alf

    channels = neo_alf.load_object(session_path, "channels", collection=collection)
    return {
        "y": np.asarray(channels["localCoordinates"])[:, 1],
        "region": np.asarray(channels["brainLocationIds_ccf_2017"]).astype(int),
    }


def make_gallery(
    out_dir: str | os.PathLike, session_path: str | os.PathLike | None = None
) -> dict[str, Path]:
    """Draw every gallery figure of ``session_path`` (default: the example) into ``out_dir``."""
    if session_path is None:
        from .example import example_session

        session_path = example_session()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {
        "gallery_raster_psth.png": raster_psth,
        "gallery_wheel.png": wheel_around_movement,
        "gallery_lfp.png": lfp_around_stimulus,
        "gallery_probe.png": probe_view,
    }
    written = {}
    for name, draw in figures.items():
        draw(session_path, out_dir / name)
        written[name] = out_dir / name
    written["overview.png"] = plot_overview(session_path, out_dir / "overview.png")
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m neo_alf.gallery OUT_DIR``: redraw the gallery from the example session."""
    parser = argparse.ArgumentParser(prog="python -m neo_alf.gallery", description=main.__doc__)
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    for path in make_gallery(args.out_dir).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
