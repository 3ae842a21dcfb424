"""Deterministic IBL-shaped ALF sessions for tests, examples and benchmarks.

:func:`make_session` writes a session folder laid out as the International Brain
Laboratory publishes them (see ``docs/alf_to_neo.rst``) and returns it with its
ground truth (counts, first spikes, rates, spans) so that tests can check a reader
against what was written rather than against itself. The same arguments always give
the same bytes: ``test_data_manifest.json`` records each preset's arguments and every
file's sha256 and size, and a test regenerates and verifies them. The random numbers come from
:class:`CounterRandom` (splitmix64 counters), not NumPy's generators, whose streams may change
between NumPy releases.

The session follows a task: trials at five contrasts (balanced), choices that depend on contrast,
a wheel turn from each first movement; units fire as inhomogeneous Poisson processes whose rate
rises after stimulus onset (scaled by sqrt(contrast)) and around movement onset; the LFP carries a
stimulus-evoked deflection whose sign reverses with depth.

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
    "CounterRandom",
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
    # the bundled example (neo_alf.example): enough trials for a PSTH per contrast (15 each)
    "example": {"seed": 2, "duration": 150.0, "n_trials": 75, "n_spikes": 10_000},
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
    "example",
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


# ------------------------------------------------------------------------------ random numbers
# NumPy promises no stream stability for its generators across releases, so the data here come from
# our own counter-based generator: splitmix64 of (stream key, counter) in uint64 arithmetic, which is
# exact on every platform, then inverse-CDF (or Box-Muller) transforms. Transcendental functions
# (log, exp, sin) may differ by an ulp between libm/SIMD builds, so every value that reaches a file
# after one is rounded to a grid (samples of a 30 kHz clock, 1e-9 of a unit...): an ulp cannot move
# a value across a grid line except with negligible probability.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of a uint64 array (wrapping arithmetic, exact everywhere)."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


class CounterRandom:
    """A counter-based random stream: the same ``(seed, name)`` gives the same numbers everywhere.

    Draw ``i`` of a stream is ``splitmix64(key + (i + 1) * golden)``, where ``key`` mixes the seed
    and the stream name. Independent named streams (``"trials"``, ``"probe00"``...) mean that adding
    a draw to one part of the generator leaves every other part's bytes unchanged.

    Parameters
    ----------
    seed : int
        The recipe seed.
    name : str
        The stream name.
    """

    def __init__(self, seed: int, name: str):
        key = np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
        for byte in name.encode():
            key = _splitmix64(key ^ np.uint64(byte))
        self._key = key[0]
        self._counter = 0

    def uint64(self, n: int) -> np.ndarray:
        """``n`` raw 64-bit draws."""
        i = np.arange(self._counter + 1, self._counter + 1 + n, dtype=np.uint64)
        self._counter += n
        return _splitmix64(self._key + i * _GOLDEN)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int = 1) -> np.ndarray:
        """Uniform on the open interval (low, high): 53-bit fractions, never exactly 0 or 1."""
        u = ((self.uint64(size) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        return low + (high - low) * u

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: int = 1) -> np.ndarray:
        """Gaussian draws by the Box-Muller transform of two uniforms each."""
        u1, u2 = self.uniform(size=size), self.uniform(size=size)
        return loc + scale * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def exponential(self, scale: float = 1.0, size: int = 1) -> np.ndarray:
        """Exponential draws by the inverse CDF ``-scale * log(u)``."""
        return -scale * np.log(self.uniform(size=size))

    def lognormal(self, mean: float = 0.0, sigma: float = 1.0, size: int = 1) -> np.ndarray:
        """``exp`` of Gaussian draws."""
        return np.exp(self.normal(mean, sigma, size))

    def integers(self, low: int, high: int, size: int = 1) -> np.ndarray:
        """Integers in ``[low, high)`` (the modulo bias is below 2**-40 for any small range)."""
        return (low + self.uint64(size) % np.uint64(high - low)).astype(np.int64)

    def choice(self, values, size: int = 1, p=None) -> np.ndarray:
        """Draws from ``values``, with probabilities ``p`` (inverse CDF on their cumulative sum)."""
        values = np.asarray(values)
        if p is None:
            return values[self.integers(0, values.size, size)]
        edges = np.cumsum(np.asarray(p, dtype=float))
        index = np.searchsorted(edges / edges[-1], self.uniform(size=size), side="right")
        return values[np.minimum(index, values.size - 1)]

    def permutation(self, n: int) -> np.ndarray:
        """A permutation of ``range(n)``: the order of ``n`` raw draws (ties are impossible in practice)."""
        return np.argsort(self.uint64(n), kind="stable")

    def bytes(self, n: int) -> bytes:
        """``n`` random bytes (little-endian draws)."""
        return self.uint64((n + 7) // 8).astype("<u8").tobytes()[:n]


def _grid(values, per_unit: float) -> np.ndarray:
    """Round to multiples of ``1 / per_unit``: values written to files sit on a grid (see above)."""
    return np.round(np.asarray(values, dtype=np.float64) * per_unit) / per_unit


SPIKE_CLOCK = 30000.0
"""float: spike times are whole samples of this clock (Hz), as a sorter's output is."""

CONTRASTS = (0.0, 0.0625, 0.125, 0.25, 1.0)
"""tuple: the stimulus contrasts of the generated task, each shown on as many trials as can be."""

STIM_LATENCY = 0.05
"""float: seconds from stimulus onset to the peak of the evoked firing and LFP deflection."""

MOVE_LEAD = 0.05
"""float: movement-related firing starts this many seconds before the first wheel movement."""


def _alpha(t: np.ndarray, tau: float) -> np.ndarray:
    """The alpha kernel ``(t / tau) exp(1 - t / tau)`` for ``t > 0`` (peak 1 at ``tau``), else 0."""
    x = np.maximum(np.asarray(t, dtype=float), 0.0) / tau
    return x * np.exp(1.0 - x)


class _Writer:
    def __init__(self, path: Path, recipe: SessionRecipe):
        self.path = path
        self.r = recipe
        self.truth: dict[str, Any] = {"probes": {}}
        self._span: list[float] = []
        self.task = self._task()

    def stream(self, name: str) -> CounterRandom:
        return CounterRandom(self.r.seed, name)

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

    # ------------------------------------------------------------------------------------- the task

    def _task(self) -> dict[str, np.ndarray]:
        """The task every part follows: trial times, contrasts, choices, movement onsets.

        Computed even when the behaviour files are not written, so that spikes and LFP of every
        preset respond to the same (hidden) stimuli.
        """
        n, rng = self.r.n_trials, self.stream("task")
        length = (self.r.duration - 4.0) / n
        start = _grid(1.0 + np.arange(n) * length + rng.uniform(0, 0.1 * length, n), 1e4)
        end = _grid(start + 0.8 * length, 1e4)
        stim_on = _grid(start + 0.1 + rng.uniform(0, 0.05, n), 1e4)
        contrast = np.resize(np.array(CONTRASTS), n)[rng.permutation(n)]  # balanced across contrasts
        side = rng.choice([-1.0, 1.0], n)
        correct = rng.uniform(size=n) < 0.55 + 0.4 * np.sqrt(contrast)
        choice = np.where(correct, -side, side)
        choice[rng.uniform(size=n) < 0.1] = 0.0
        choice[0] = 0.0  # at least one no-go trial: its movement time is NaN
        go = choice != 0
        first_move = np.where(go, _grid(stim_on + rng.uniform(0.12, 0.35, n), 1e4), np.nan)
        response = np.where(
            go, _grid(first_move + rng.uniform(0.1, 0.4, n), 1e4), _grid(stim_on + 0.5 * length, 1e4)
        )
        return {
            "start": start,
            "end": end,
            "stim_on": stim_on,
            "contrast": contrast,
            "side": side,
            "choice": choice,
            "first_move": first_move,
            "response": response,
            "feedback": _grid(response + 0.01, 1e4),
        }

    def stimulus_drive(self, t: np.ndarray, tau: float = STIM_LATENCY) -> np.ndarray:
        """Per time: sqrt(contrast) x the alpha kernel after the latest stimulus onset (0 before any)."""
        stim, c = self.task["stim_on"], self.task["contrast"]
        i = np.searchsorted(stim, t, side="right") - 1
        ok = i >= 0
        out = np.zeros(np.shape(t))
        out[ok] = np.sqrt(c[i[ok]]) * _alpha(t[ok] - stim[i[ok]], tau)
        return out

    def movement_drive(self, t: np.ndarray, tau: float = 0.08) -> np.ndarray:
        """Per time: the alpha kernel from ``MOVE_LEAD`` before the latest movement onset."""
        onsets = self.task["first_move"][np.isfinite(self.task["first_move"])] - MOVE_LEAD
        i = np.searchsorted(onsets, t, side="right") - 1
        ok = i >= 0
        out = np.zeros(np.shape(t))
        out[ok] = _alpha(t[ok] - onsets[i[ok]], tau)
        return out

    # ---------------------------------------------------------------------------------- behaviour

    def trials(self) -> None:
        task, n, rng = self.task, self.r.n_trials, self.stream("trials")
        start, end, stim_on = task["start"], task["end"], task["stim_on"]
        choice, side, contrast = task["choice"], task["side"], task["contrast"]
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
            ("firstMovement_times", task["first_move"]),
            ("response_times", task["response"]),
            ("feedback_times", task["feedback"]),
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
        self.span(start, end, task["response"], task["feedback"])
        self.truth["trials"] = {
            "n": n,
            "first_start": float(start[0]),
            "n_nan_first_movement": int(np.isnan(task["first_move"]).sum()),
            "choice": choice.tolist(),
            "contrastLeft": left.tolist(),
            "intervals": np.c_[start, end].tolist(),
        }

    def wheel(self) -> None:
        """Wheel position in radians: a turn of the chosen side from each movement onset, plus drift."""
        rng, d, task = self.stream("wheel"), self.r.duration, self.task
        n = int(d * 100)
        times = _grid(0.2 + np.cumsum(0.005 + rng.exponential(0.005, n)), 1e5)  # gaps > 1 grid step
        times = times[times < d - 0.1]
        go = np.isfinite(task["first_move"])
        onsets, turns = task["first_move"][go], 0.35 * task["choice"][go]
        position = np.cumsum(rng.normal(0, 0.002, times.size))
        for onset, turn in zip(onsets, turns, strict=True):
            x = np.clip((times - onset) / 0.25, 0.0, 1.0)
            position += turn * x * x * (3.0 - 2.0 * x)  # smoothstep: starts at the onset, done in 250 ms
        ticks = 4096 / (2 * np.pi)  # an encoder's resolution: 1024 lines x 4 edges per turn
        self.save("alf/_ibl_wheel.timestamps.npy", times)
        self.save("alf/_ibl_wheel.position.npy", _grid(position, ticks))
        moves = _grid(np.c_[onsets - 0.02, onsets + 0.3], 1e4)
        self.save("alf/_ibl_wheelMoves.intervals.npy", moves)
        self.save("alf/_ibl_wheelMoves.peakAmplitude.npy", turns)
        self.span(times)
        self.truth["wheel"] = {"n": int(times.size), "first_time": float(times[0]), "n_moves": int(go.sum())}

    def camera_and_licks(self) -> None:
        rng, d = self.stream("camera"), self.r.duration
        n_frames = int((d - 1) * 60)
        frames = _grid(0.5 + np.arange(n_frames) / 60.0 + rng.normal(0, 1e-4, n_frames), 1e6)
        self.save("alf/_ibl_leftCamera.times.npy", frames)
        licks = np.sort(_grid(rng.uniform(0.5, d - 0.5, max(4, int(d))), 1e5))
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
        r, rng = self.r, self.stream(f"probe{p:02d}")
        collection = f"alf/probe{p:02d}/pykilosort"
        n_cl = r.n_clusters
        empty = np.sort(rng.permutation(n_cl)[: r.n_empty_clusters])
        active = np.setdiff1d(np.arange(n_cl), empty)
        # each unit: a share of the probe's spikes, a gain on the stimulus and one on movement
        share = rng.lognormal(np.log(5.0), 0.8, n_cl)
        stim_gain = rng.choice([0.0, 0.0, 3.0, 6.0, 10.0], n_cl)
        move_gain = rng.choice([0.0, 0.0, 0.0, 2.0, 5.0], n_cl)
        times, clusters = [], []
        for k in active:
            t = self.unit_spikes(rng, r.n_spikes * share[k] / share[active].sum(), stim_gain[k], move_gain[k])
            times.append(t)
            clusters.append(np.full(t.size, k, dtype=np.uint32))
        times = np.concatenate(times) if times else np.empty(0)
        clusters = np.concatenate(clusters) if clusters else np.empty(0, np.uint32)
        order = np.argsort(times, kind="stable")
        times, clusters = times[order], clusters[order]
        counts = np.bincount(clusters, minlength=n_cl).astype(np.int64)
        n_ch = r.n_channels
        ycoord = 20.0 * (np.arange(n_ch) // 2)
        cluster_channels = rng.integers(0, n_ch, n_cl)
        cluster_depths = _grid(ycoord[cluster_channels] + rng.normal(0, 5, n_cl), 100)
        spike_depths = _grid(cluster_depths[clusters] + rng.normal(0, 2, clusters.size), 100)
        spike_amps = _grid(rng.lognormal(np.log(1e-4), 0.3, clusters.size), 1e9)
        self.save(f"{collection}/spikes.times.npy", times)
        if r.spike_clusters:
            self.save(f"{collection}/spikes.clusters.npy", clusters)
        self.save(f"{collection}/spikes.amps.npy", spike_amps.astype(np.float32))
        self.save(f"{collection}/spikes.depths.npy", spike_depths.astype(np.float32))
        if r.clusters_object:
            self.save(f"{collection}/clusters.channels.npy", cluster_channels.astype(np.int64))
            self.save(f"{collection}/clusters.depths.npy", cluster_depths)
            self.save(f"{collection}/clusters.amps.npy", _grid(rng.lognormal(np.log(1e-4), 0.3, n_cl), 1e9))
            uuids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n_cl)]
            (self.path / f"{collection}/clusters.uuids.csv").write_text("uuids\n" + "\n".join(uuids) + "\n")
            self.save(
                f"{collection}/channels.localCoordinates.npy",
                np.c_[np.tile([11.0, 27.0, 43.0, 59.0], n_ch // 4 + 1)[:n_ch], ycoord],
            )
            self.save(f"{collection}/channels.rawInd.npy", np.arange(n_ch, dtype=np.int64))
            # from the tip up: thalamus, hippocampus, isocortex, then the brain surface ("root")
            # and channels outside the brain (0); the tip is the deepest point (most ventral DV)
            regions = np.repeat(np.array([549, 1089, 315, 997, 0], dtype=np.int64), n_ch // 5 + 1)[:n_ch]
            self.save(f"{collection}/channels.brainLocationIds_ccf_2017.npy", regions)
            self.save(
                f"{collection}/channels.mlapdv.npy",
                np.c_[np.full(n_ch, -2000.0), np.full(n_ch, -1500.0), ycoord - 4000.0],
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
            "stim_gain": stim_gain.tolist(),
            "move_gain": move_gain.tolist(),
        }

    def unit_spikes(
        self,
        rng: CounterRandom,
        expected: float,
        stim_gain: float,
        move_gain: float,
        refractory: float = 0.002,
    ) -> np.ndarray:
        """One unit's spike times: an inhomogeneous Poisson process with a refractory period.

        The rate is ``b (1 + stim_gain x stimulus drive + move_gain x movement drive)`` over
        ``[0.1, duration - 0.1]``, with ``b`` set so that about ``expected`` spikes fall in it.
        Drawn by thinning a homogeneous process at the peak rate, then on the spike clock, then
        spikes closer than ``refractory`` to the previous kept one are dropped.
        """
        t0, t1 = 0.1, self.r.duration - 0.1
        stim_area = float(np.sqrt(self.task["contrast"]).sum()) * STIM_LATENCY * np.e
        move_area = float(np.isfinite(self.task["first_move"]).sum()) * 0.08 * np.e
        base = expected / ((t1 - t0) + stim_gain * stim_area + move_gain * move_area)
        peak = base * (1.0 + stim_gain + move_gain)
        if expected <= 0 or peak <= 0:
            return np.empty(0)
        mean = peak * (t1 - t0)
        t = t0 + np.cumsum(rng.exponential(1.0 / peak, int(mean + 6 * np.sqrt(mean) + 20)))
        while t[-1] < t1:  # rare: the draw fell short
            t = np.r_[t, t[-1] + np.cumsum(rng.exponential(1.0 / peak, int(mean / 10 + 20)))]
        t = t[t < t1]
        rate = base * (1.0 + stim_gain * self.stimulus_drive(t) + move_gain * self.movement_drive(t))
        t = _grid(t[rng.uniform(size=t.size) * peak < rate], SPIKE_CLOCK)
        while t.size > 1:
            close = np.flatnonzero(np.diff(t) < refractory - 0.5 / SPIKE_CLOCK) + 1
            if not close.size:
                break
            t = np.delete(t, close)
        return t

    def lfp(self) -> None:
        """LFP in uV: a stimulus-evoked deflection (contrast-scaled, reversing with depth), 8 Hz, noise."""
        r, rng = self.r, self.stream("lfp")
        rate, n_ch = r.lfp_rate, r.lfp_channels
        n = int(r.duration * rate)
        t0 = 0.0123
        t = t0 + np.arange(n) / rate
        # deep channels (low index, near the tip) see a negative deflection, superficial ones positive
        polarity = np.linspace(-1.0, 0.5, n_ch) if n_ch > 1 else np.array([-1.0])
        evoked = 120.0 * self.stimulus_drive(t, tau=0.04)[:, None] * polarity[None, :]
        theta = 20.0 * np.sin(2 * np.pi * 8.0 * t)[:, None]
        noise = rng.normal(0, 8.0, n * n_ch).reshape(n, n_ch)
        data = _grid(evoked + theta + noise, 100).astype(np.float32)
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
            "evoked_peak_uv": 120.0,
            "polarity": polarity.tolist(),
        }


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
