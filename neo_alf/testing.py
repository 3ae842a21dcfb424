"""Deterministic IBL-shaped ALF sessions for tests, examples and benchmarks.

:func:`make_session` writes a session folder laid out as the International Brain
Laboratory publishes them (see ``docs/alf_to_neo.rst``) and returns it with its
ground truth (counts, first spikes, rates, spans) so that tests can check a reader
against what was written rather than against itself. The same arguments always give
the same bytes: ``test_data_manifest.json`` records each preset's arguments and every
file's sha256 and size, and a test regenerates and verifies them.

What a full session holds::

    alf/_ibl_trials.{intervals,stimOn_times,goCue_times,goCue_times_bpod,firstMovement_times,
                     response_times,feedback_times,choice,contrastLeft,contrastRight,
                     feedbackType,probabilityLeft,rewardVolume}.npy   (NaN times on no-go trials)
    alf/_ibl_wheel.{position,timestamps}.npy        per-sample, irregular timestamps
    alf/_ibl_wheelMoves.{intervals,peakAmplitude}.npy
    alf/_ibl_leftCamera.times.npy
    alf/licks.times.part001.npy, licks.times.part002.npy   one multi-part event series
    alf/headTracking.xyPos.tsv (+ .metadata.json, units cm), headTracking.timestamps.npy (30 Hz)
    alf/probeNN/pykilosort/spikes.{times,clusters,amps,depths}.npy
    alf/probeNN/pykilosort/clusters.{channels,depths,amps}.npy, clusters.uuids.csv
    alf/probeNN/pykilosort/channels.{localCoordinates,rawInd,brainLocationIds_ccf_2017,mlapdv}.npy
    alf/probe00/pykilosort/#2024-05-06#/spikes.times.npy    a newer revision (re-synchronised)
    raw_ephys_data/probe00/lfp.raw.bin (+ .metadata.json: float32, uV), lfp.timestamps.npy (2 sync rows)

Run ``python -m neo_alf.testing --write-manifest test_data_manifest.json`` after changing
the generator on purpose.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PRESETS",
    "TEST_PRESETS",
    "GeneratedSession",
    "SessionRecipe",
    "build_manifest",
    "file_digests",
    "make_session",
]

REVISION = "2024-05-06"
"""str: the revision folder the generator writes for probe00 (newer than the unrevisioned files)."""


@dataclass(frozen=True)
class SessionRecipe:
    """What :func:`make_session` writes. Every field is JSON-serialisable (it goes in the manifest)."""

    lab: str = "cortexlab"
    subject: str = "KS023"
    date: str = "2024-03-15"
    number: int = 1
    seed: int = 0
    duration: float = 60.0
    n_trials: int = 20
    n_probes: int = 2
    n_clusters: int = 12
    n_empty_clusters: int = 2
    n_spikes: int = 3000  # per probe
    n_channels: int = 16
    spike_clusters: bool = True  # write spikes.clusters
    clusters_object: bool = True  # write clusters.* and channels.*
    behaviour: bool = True  # trials, wheel, wheelMoves, camera, licks, headTracking
    lfp_rate: float = 1000.0  # 0: no lfp
    lfp_channels: int = 4
    revision: bool = True
    pad_number: bool = True  # 001 rather than 1


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "duration": 20.0,
        "n_trials": 8,
        "n_clusters": 6,
        "n_empty_clusters": 1,
        "n_spikes": 400,
        "n_channels": 8,
        "lfp_rate": 500.0,
        "lfp_channels": 3,
    },
    "one_probe": {"n_probes": 1, "revision": False, "seed": 1},
    "two_probes": {"seed": 2},
    "no_spikes": {"n_probes": 0, "seed": 3},
    "only_spikes": {"behaviour": False, "lfp_rate": 0.0, "revision": False, "seed": 4},
    "no_clusters_object": {
        "n_probes": 1,
        "clusters_object": False,
        "behaviour": False,
        "lfp_rate": 0.0,
        "revision": False,
        "seed": 5,
    },
    "no_spike_clusters": {
        "n_probes": 1,
        "spike_clusters": False,
        "clusters_object": False,
        "behaviour": False,
        "lfp_rate": 0.0,
        "revision": False,
        "seed": 6,
    },
    "bench_20m": {
        "duration": 3600.0,
        "n_probes": 1,
        "n_clusters": 800,
        "n_empty_clusters": 10,
        "n_spikes": 20_000_000,
        "n_channels": 384,
        "behaviour": False,
        "lfp_rate": 0.0,
        "revision": False,
        "seed": 7,
    },
}
"""dict: named recipes (overrides of :class:`SessionRecipe`)."""

TEST_PRESETS = (
    "tiny",
    "one_probe",
    "two_probes",
    "no_spikes",
    "only_spikes",
    "no_clusters_object",
    "no_spike_clusters",
)
"""tuple: the presets that tests use and the manifest records (the benchmark one is too big to hash in CI)."""


@dataclass
class GeneratedSession:
    """A session written by :func:`make_session`.

    Attributes
    ----------
    path : Path
        The session folder.
    recipe : SessionRecipe
        What was asked for.
    truth : dict
        What was written, for tests: ``t_start``/``t_stop`` (span of everything), ``trials``,
        ``licks``, ``wheel``, ``lfp``, ``head_tracking`` and per-collection ``probes`` (cluster
        counts, empty clusters, spike count and first spike time of each cluster).
    """

    path: Path
    recipe: SessionRecipe
    truth: dict[str, Any] = field(default_factory=dict)


def make_session(root: str | Path, preset: str | None = None, **overrides: Any) -> GeneratedSession:
    """Write one deterministic ALF session under ``root``.

    Parameters
    ----------
    root : str or Path
        The folder that will hold ``<lab>/Subjects/<subject>/<date>/<number>``.
    preset : str, optional
        A key of :data:`PRESETS`; ``overrides`` are applied on top.
    **overrides
        Fields of :class:`SessionRecipe`.

    Returns
    -------
    GeneratedSession
    """
    args = dict(PRESETS[preset]) if preset else {}
    args.update(overrides)
    recipe = SessionRecipe(**args)
    number = f"{recipe.number:03d}" if recipe.pad_number else str(recipe.number)
    path = Path(root) / recipe.lab / "Subjects" / recipe.subject / recipe.date / number
    path.mkdir(parents=True, exist_ok=True)
    writer = _Writer(path, recipe)
    writer.write_all()
    return GeneratedSession(path, recipe, writer.truth)


class _Writer:
    def __init__(self, path: Path, recipe: SessionRecipe):
        self.path = path
        self.r = recipe
        self.rng = np.random.default_rng(recipe.seed)
        self.truth: dict[str, Any] = {"probes": {}}
        self._span: list[float] = []

    def write_all(self) -> None:
        if self.r.behaviour:
            self.trials()
            self.wheel()
            self.camera_and_licks()
            self.head_tracking()
        for p in range(self.r.n_probes):
            self.probe(p)
        if self.r.lfp_rate > 0:
            self.lfp()
        if self._span:
            self.truth["t_start"] = float(min(self._span))
            self.truth["t_stop"] = float(max(self._span))

    # --------------------------------------------------------------------------------- io helpers

    def save(self, rel: str, array: np.ndarray) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(array), version=(1, 0), allow_pickle=False)

    def save_json(self, rel: str, value: Any) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")

    def span(self, *values: np.ndarray | float) -> None:
        for v in values:
            v = np.asarray(v, dtype=float)
            if np.isfinite(v).any():
                self._span += [float(np.nanmin(v)), float(np.nanmax(v))]

    # ---------------------------------------------------------------------------------- behaviour

    def trials(self) -> None:
        n, rng = self.r.n_trials, self.rng
        length = (self.r.duration - 4.0) / n
        start = 1.0 + np.arange(n) * length + rng.uniform(0, 0.1 * length, n)
        end = start + 0.8 * length
        stim_on = start + 0.1 + rng.uniform(0, 0.05, n)
        choice = rng.choice([-1, 0, 1], n, p=[0.45, 0.1, 0.45]).astype(np.float64)
        choice[0] = 0.0  # at least one no-go trial: its movement time is NaN
        response = stim_on + rng.uniform(0.2, 0.6 * length, n)
        first_move = np.where(choice == 0, np.nan, stim_on + rng.uniform(0.1, 0.2, n))
        feedback = response + 0.01
        side = rng.choice([-1.0, 1.0], n)
        contrast = rng.choice([0.0, 0.0625, 0.125, 0.25, 1.0], n)
        left = np.where(side < 0, contrast, np.nan)
        right = np.where(side > 0, contrast, np.nan)
        feedback_type = np.where(choice == -side, 1.0, -1.0)
        prob_left = rng.choice([0.2, 0.5, 0.8], n)
        reward = np.where(feedback_type > 0, 1.5, 0.0)
        base = "alf/_ibl_trials"
        self.save(f"{base}.intervals.npy", np.c_[start, end])
        for attr, values in [
            ("stimOn_times", stim_on),
            ("goCue_times", stim_on + 0.001),
            ("firstMovement_times", first_move),
            ("response_times", response),
            ("feedback_times", feedback),
            ("choice", choice),
            ("contrastLeft", left),
            ("contrastRight", right),
            ("feedbackType", feedback_type),
            ("probabilityLeft", prob_left),
            ("rewardVolume", reward),
        ]:
            self.save(f"{base}.{attr}.npy", values)
        # a timescale variant: the same cue in the behaviour rig's clock, NOT session seconds
        self.save(f"{base}.goCue_times_bpod.npy", stim_on + 0.001 - 12.5)
        self.span(start, end, response, feedback)
        self.truth["trials"] = {
            "n": n,
            "first_start": float(start[0]),
            "n_nan_first_movement": int(np.isnan(first_move).sum()),
            "choice": choice.tolist(),
            "contrastLeft": left.tolist(),
            "intervals": np.c_[start, end].tolist(),
        }

    def wheel(self) -> None:
        rng, d = self.rng, self.r.duration
        n = int(d * 100)
        times = 0.2 + np.cumsum(rng.exponential(0.01, n))
        times = times[times < d - 0.1]
        position = np.cumsum(rng.normal(0, 0.01, times.size))
        self.save("alf/_ibl_wheel.timestamps.npy", times)
        self.save("alf/_ibl_wheel.position.npy", position)
        n_moves = max(2, self.r.n_trials)
        starts = np.sort(rng.uniform(1, d - 3, n_moves))
        self.save("alf/_ibl_wheelMoves.intervals.npy", np.c_[starts, starts + rng.uniform(0.1, 1.0, n_moves)])
        self.save("alf/_ibl_wheelMoves.peakAmplitude.npy", rng.normal(0, 1, n_moves))
        self.span(times)
        self.truth["wheel"] = {"n": int(times.size), "first_time": float(times[0])}

    def camera_and_licks(self) -> None:
        rng, d = self.rng, self.r.duration
        frames = 0.5 + np.arange(int((d - 1) * 60)) / 60.0 + rng.normal(0, 1e-4, int((d - 1) * 60))
        self.save("alf/_ibl_leftCamera.times.npy", frames)
        licks = np.sort(rng.uniform(0.5, d - 0.5, max(4, int(d))))
        half = licks.size // 2
        self.save("alf/licks.times.part001.npy", licks[:half])
        self.save("alf/licks.times.part002.npy", licks[half:])
        self.span(frames, licks)
        self.truth["camera"] = {"n": int(frames.size)}
        self.truth["licks"] = {"n": int(licks.size), "first": float(licks[0]), "last": float(licks[-1])}

    def head_tracking(self) -> None:
        rate, t0 = 30.0, 0.25
        n = int((self.r.duration - 1) * rate)
        xy = np.round(np.c_[np.sin(np.arange(n) / 20.0) * 10, np.cos(np.arange(n) / 30.0) * 5], 4)
        lines = ["x\ty"] + [f"{x!r}\t{y!r}" for x, y in xy.tolist()]
        target = self.path / "alf/headTracking.xyPos.tsv"
        target.write_text("\n".join(lines) + "\n")
        self.save_json(
            "alf/headTracking.xyPos.metadata.json",
            {"columns": [{"name": "x", "unit": "cm"}, {"name": "y", "unit": "cm"}]},
        )
        times = t0 + np.arange(n) / rate
        self.save("alf/headTracking.timestamps.npy", times)
        self.span(times, t0 + n / rate)  # a regular signal ends one period after its last sample
        self.truth["head_tracking"] = {"n": n, "rate": rate, "t_start": t0, "units": "cm"}

    # --------------------------------------------------------------------------------------- ephys

    def probe(self, p: int) -> None:
        r, rng = self.r, self.rng
        collection = f"alf/probe{p:02d}/pykilosort"
        n_cl = r.n_clusters
        empty = np.sort(rng.choice(n_cl, r.n_empty_clusters, replace=False)) if r.n_empty_clusters else []
        active = np.setdiff1d(np.arange(n_cl), empty)
        rates = rng.lognormal(np.log(5.0), 0.8, active.size)
        counts = np.zeros(n_cl, dtype=np.int64)
        counts[active] = rng.multinomial(r.n_spikes, rates / rates.sum())
        times, clusters = _spike_trains(rng, counts, r.duration, refractory=0.002)
        order = np.argsort(times, kind="stable")
        times, clusters = times[order], clusters[order].astype(np.uint32)
        n_ch = r.n_channels
        ycoord = 20.0 * (np.arange(n_ch) // 2)
        cluster_channels = rng.integers(0, n_ch, n_cl)
        cluster_depths = ycoord[cluster_channels] + rng.normal(0, 5, n_cl)
        spike_depths = (cluster_depths[clusters] + rng.normal(0, 2, clusters.size)).astype(np.float32)
        spike_amps = (rng.lognormal(np.log(1e-4), 0.3, clusters.size)).astype(np.float32)
        self.save(f"{collection}/spikes.times.npy", times)
        if r.spike_clusters:
            self.save(f"{collection}/spikes.clusters.npy", clusters)
        self.save(f"{collection}/spikes.amps.npy", spike_amps)
        self.save(f"{collection}/spikes.depths.npy", spike_depths)
        if r.clusters_object:
            self.save(f"{collection}/clusters.channels.npy", cluster_channels.astype(np.int64))
            self.save(f"{collection}/clusters.depths.npy", cluster_depths)
            self.save(f"{collection}/clusters.amps.npy", rng.lognormal(np.log(1e-4), 0.3, n_cl))
            uuids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n_cl)]
            (self.path / f"{collection}/clusters.uuids.csv").write_text("uuids\n" + "\n".join(uuids) + "\n")
            self.save(
                f"{collection}/channels.localCoordinates.npy",
                np.c_[np.tile([11.0, 27.0, 43.0, 59.0], n_ch // 4 + 1)[:n_ch], ycoord],
            )
            self.save(f"{collection}/channels.rawInd.npy", np.arange(n_ch, dtype=np.int64))
            regions = np.repeat(np.array([0, 997, 315, 1089, 549], dtype=np.int64), n_ch // 5 + 1)[:n_ch]
            self.save(f"{collection}/channels.brainLocationIds_ccf_2017.npy", regions)
            self.save(
                f"{collection}/channels.mlapdv.npy",
                np.c_[np.full(n_ch, -2000.0), np.full(n_ch, -1500.0), -ycoord - 500.0],
            )
        truth_times = times
        if r.revision and p == 0:
            truth_times = times * (1 + 2e-6) + 0.0005  # a re-synchronisation: same order, new clock fit
            self.save(f"{collection}/#{REVISION}#/spikes.times.npy", truth_times)
        self.span(truth_times)  # the default (newest) revision is what readers see
        first = np.full(n_cl, np.nan)
        if clusters.size:
            seen, idx = np.unique(clusters, return_index=True)
            first[seen] = truth_times[idx]
        self.truth["probes"][collection] = {
            "n_clusters": n_cl,
            "empty_clusters": [int(e) for e in empty],
            "spike_counts": counts.tolist(),
            "first_spike": [None if np.isnan(f) else float(f) for f in first],
            "n_spikes": int(times.size),
            "unrevised_first_spike": float(times[0]) if times.size else None,
            "revised": bool(r.revision and p == 0),
        }

    def lfp(self) -> None:
        r, rng = self.r, self.rng
        rate, n_ch = r.lfp_rate, r.lfp_channels
        n = int(r.duration * rate)
        t0 = 0.0123
        t = np.arange(n) / rate
        data = (
            50.0 * np.sin(2 * np.pi * 8.0 * t)[:, None] * (1 + np.arange(n_ch))[None, :]
            + rng.normal(0, 5, (n, n_ch))
        ).astype(np.float32)
        collection = "raw_ephys_data/probe00"
        target = self.path / f"{collection}/lfp.raw.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.tobytes())
        self.save_json(
            f"{collection}/lfp.raw.metadata.json",
            {"dtype": "float32", "columns": [{"name": f"ch{i}", "unit": "uV"} for i in range(n_ch)]},
        )
        self.save(f"{collection}/lfp.timestamps.npy", np.array([[0.0, t0], [n - 1.0, t0 + (n - 1) / rate]]))
        self.span(t0, t0 + n / rate)
        self.truth["lfp"] = {
            "collection": collection,
            "rate": rate,
            "t_start": t0,
            "n_samples": n,
            "n_channels": n_ch,
            "units": "uV",
            "first_row": data[0].astype(float).tolist(),
        }


def _spike_trains(rng: np.random.Generator, counts: np.ndarray, duration: float, refractory: float):
    """Spike times of every cluster at once, each cluster's interspike intervals >= ``refractory``.

    Cluster k gets ``counts[k]`` spikes spread over ``[0.1, duration - 0.1]``: exponential gaps,
    rescaled to fit, plus the refractory period. Vectorised over clusters (20 M spikes in seconds).
    """
    total = int(counts.sum())
    clusters = np.repeat(np.arange(counts.size), counts)
    if total == 0:
        return np.empty(0), clusters
    gaps = rng.exponential(1.0, total)
    active = counts > 0
    n, starts = counts[active], (np.cumsum(counts) - counts)[active]
    csum = np.cumsum(gaps)
    local = csum - np.repeat(csum[starts] - gaps[starts], n)  # cumulative gaps within each cluster
    group_total = np.repeat(np.add.reduceat(gaps, starts), n)
    index_in_group = np.arange(total) - np.repeat(starts, n)
    span = duration - 0.2 - n.astype(float) * refractory
    if np.any(span <= 0):
        raise ValueError("too many spikes for the duration and refractory period")
    times = 0.1 + local / group_total * np.repeat(span, n) * 0.999 + index_in_group * refractory
    return times, clusters


# --------------------------------------------------------------------------------------- manifest


def file_digests(path: str | Path) -> dict[str, dict[str, Any]]:
    """``relative path -> {"sha256", "size"}`` of every file below ``path`` (sorted, posix paths)."""
    path = Path(path)
    out = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[f.relative_to(path).as_posix()] = {"sha256": h.hexdigest(), "size": f.stat().st_size}
    return out


def build_manifest(root: str | Path, presets: tuple[str, ...] = TEST_PRESETS) -> dict[str, Any]:
    """Generate each preset under ``root/<preset>`` and describe it: arguments and file digests."""
    sessions = {}
    for name in presets:
        gen = make_session(Path(root) / name, name)
        sessions[name] = {
            "generator": "neo_alf.testing.make_session",
            "arguments": asdict(gen.recipe),
            "session_path": gen.path.relative_to(Path(root) / name).as_posix(),
            "files": file_digests(gen.path),
        }
    return {
        "description": "Test sessions written by neo_alf.testing; tests regenerate and verify them.",
        "sessions": sessions,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m neo_alf.testing``: write a preset session, or the manifest."""
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m neo_alf.testing", description=main.__doc__)
    parser.add_argument(
        "--write-manifest", metavar="FILE", help="regenerate every test preset and write FILE"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="write this preset under --root")
    parser.add_argument("--root", default=".", help="where to write a preset (default: here)")
    args = parser.parse_args(argv)
    if args.write_manifest:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = build_manifest(tmp)
        Path(args.write_manifest).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.write_manifest}: {len(manifest['sessions'])} sessions")
    if args.preset:
        print(make_session(args.root, args.preset).path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
