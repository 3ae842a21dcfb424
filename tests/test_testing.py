"""The generated test data cannot drift silently: regenerate each preset and compare with the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neo_alf.testing import TEST_PRESETS, file_digests, make_session

MANIFEST = json.loads((Path(__file__).parents[1] / "test_data_manifest.json").read_text())


def test_manifest_lists_every_test_preset():
    assert sorted(MANIFEST["sessions"]) == sorted(TEST_PRESETS)


@pytest.mark.parametrize("preset", TEST_PRESETS)
def test_regenerated_session_matches_manifest(tmp_path, preset):
    entry = MANIFEST["sessions"][preset]
    assert entry["generator"] == "neo_alf.testing.make_session"
    gen = make_session(tmp_path, **entry["arguments"])
    assert gen.path.relative_to(tmp_path).as_posix() == entry["session_path"]
    assert file_digests(gen.path) == entry["files"]


def test_generator_is_deterministic_and_seed_sensitive(tmp_path):
    a = file_digests(make_session(tmp_path / "a", "tiny").path)
    b = file_digests(make_session(tmp_path / "b", "tiny").path)
    c = file_digests(make_session(tmp_path / "c", "tiny", seed=99).path)
    assert a == b
    assert a != c


def test_spike_trains_respect_refractory_period(tmp_path):
    gen = make_session(tmp_path, "one_probe")
    folder = gen.path / "alf/probe00/pykilosort"
    times, clusters = np.load(folder / "spikes.times.npy"), np.load(folder / "spikes.clusters.npy")
    assert np.all(np.diff(times) >= 0)
    for k, count in enumerate(gen.truth["probes"]["alf/probe00/pykilosort"]["spike_counts"]):
        own = times[clusters == k]
        assert own.size == count
        assert own.size < 2 or np.diff(own).min() >= 0.002 - 1e-12


def test_unpadded_session_number(tmp_path):
    gen = make_session(tmp_path, "tiny", pad_number=False, number=7)
    assert gen.path.name == "7"


# ------------------------------------------------------------------ the counter-based generator


def _splitmix64_reference(state: int) -> int:
    """Vigna's splitmix64 step, in Python integers: the published algorithm, not our NumPy code."""
    mask = (1 << 64) - 1
    z = (state + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_splitmix64_matches_the_published_algorithm():
    from neo_alf.testing import _splitmix64

    assert _splitmix64_reference(0) == 0xE220A8397B1DCDAF  # the published first output for seed 0
    states = [0, 1, 2**63, 2**64 - 1, 0x123456789ABCDEF]
    golden = [(s + 0x9E3779B97F4A7C15) % 2**64 for s in states]
    got = _splitmix64(np.array(golden, dtype=np.uint64))
    assert [int(g) for g in got] == [_splitmix64_reference(s) for s in states]


def test_counter_random_streams():
    from neo_alf.testing import CounterRandom

    a, b = CounterRandom(3, "probe00"), CounterRandom(3, "probe00")
    first = a.uint64(5)
    assert np.array_equal(first, b.uint64(5))
    # counter-based: draws 5..9 do not depend on how the first five were asked for
    c = CounterRandom(3, "probe00")
    c.uint64(2), c.uint64(3)
    assert np.array_equal(a.uint64(5), c.uint64(5))
    assert not np.array_equal(first, CounterRandom(3, "probe01").uint64(5))
    assert not np.array_equal(first, CounterRandom(4, "probe00").uint64(5))


def test_counter_random_distributions():
    from neo_alf.testing import CounterRandom

    rng = CounterRandom(0, "stats")
    n = 200_000
    u = rng.uniform(size=n)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    x = rng.normal(2.0, 3.0, n)
    assert abs(x.mean() - 2.0) < 0.05 and abs(x.std() - 3.0) < 0.05
    assert abs(np.mean(np.abs(x - 2.0) < 3.0) - 0.6827) < 0.005  # the Gaussian shape, not just moments
    e = rng.exponential(0.5, n)
    assert abs(e.mean() - 0.5) < 0.01 and abs(np.median(e) - 0.5 * np.log(2)) < 0.01
    k = rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5])
    np.testing.assert_allclose(np.bincount(k)[1:] / n, [0.2, 0.3, 0.5], atol=0.005)
    assert sorted(rng.permutation(10).tolist()) == list(range(10))


# ------------------------------------------------------------------------------ the task structure


def _around(times, onsets, lo, hi):
    """Spikes per second in [onset + lo, onset + hi), averaged over onsets."""
    counts = np.searchsorted(times, onsets + hi) - np.searchsorted(times, onsets + lo)
    return counts.mean() / (hi - lo)


def test_units_follow_stimulus_contrast_and_movement(tmp_path):
    gen = make_session(tmp_path, "example")
    alf = gen.path / "alf"
    stim = np.load(alf / "_ibl_trials.stimOn_times.npy")
    contrast = np.nan_to_num(np.load(alf / "_ibl_trials.contrastLeft.npy")) + np.nan_to_num(
        np.load(alf / "_ibl_trials.contrastRight.npy")
    )
    move = np.load(alf / "_ibl_trials.firstMovement_times.npy")
    folder = alf / "probe01/pykilosort"  # unrevised: times as generated
    times, clusters = np.load(folder / "spikes.times.npy"), np.load(folder / "spikes.clusters.npy")
    truth = gen.truth["probes"]["alf/probe01/pykilosort"]
    for k in range(truth["n_clusters"]):
        own = times[clusters == k]
        if own.size < 100:
            continue
        baseline = _around(own, stim, -0.5, -0.05)
        high = _around(own, stim[contrast == 1.0], 0.0, 0.15)
        zero = _around(own, stim[contrast == 0.0], 0.0, 0.15)
        if truth["stim_gain"][k] >= 6:
            assert high > 2.5 * baseline and high > 2 * zero, k
        if truth["stim_gain"][k] == 0 and truth["move_gain"][k] == 0:
            assert high < 2 * baseline + 5, k
    moved = np.isfinite(move)
    late = moved & (move - stim > 0.2)  # movement well after the stimulus response
    for k in np.flatnonzero(np.array(truth["move_gain"]) >= 5):
        own = times[clusters == k]
        assert _around(own, move[late], 0.0, 0.2) > 1.5 * _around(own, stim[late], -0.5, -0.05), k


def test_lfp_stimulus_evoked_deflection(tmp_path):
    gen = make_session(tmp_path, "example")
    lfp = gen.truth["lfp"]
    data = np.fromfile(gen.path / "raw_ephys_data/probe00/lfp.raw.bin", np.float32).reshape(
        -1, lfp["n_channels"]
    )
    stim = np.load(gen.path / "alf/_ibl_trials.stimOn_times.npy")
    contrast = np.nan_to_num(np.load(gen.path / "alf/_ibl_trials.contrastLeft.npy")) + np.nan_to_num(
        np.load(gen.path / "alf/_ibl_trials.contrastRight.npy")
    )
    peak = np.round((stim[contrast == 1.0] + 0.04 - lfp["t_start"]) * lfp["rate"]).astype(int)
    evoked = data[peak].mean(axis=0)
    # contrast 1: the full deflection, sign per channel; 8 Hz and noise average down over 15 trials
    np.testing.assert_allclose(evoked, np.array(lfp["polarity"]) * lfp["evoked_peak_uv"], atol=15)
    none = data[np.round((stim[contrast == 0.0] + 0.04 - lfp["t_start"]) * lfp["rate"]).astype(int)]
    assert np.all(np.abs(none.mean(axis=0)) < 15)


def test_wheel_turns_with_the_choice(tmp_path):
    gen = make_session(tmp_path, "tiny")
    alf = gen.path / "alf"
    t, pos = np.load(alf / "_ibl_wheel.timestamps.npy"), np.load(alf / "_ibl_wheel.position.npy")
    move, choice = (
        np.load(alf / "_ibl_trials.firstMovement_times.npy"),
        np.load(alf / "_ibl_trials.choice.npy"),
    )
    for onset, c in zip(move[np.isfinite(move)], choice[np.isfinite(move)], strict=True):
        before, after = np.interp([onset - 0.02, onset + 0.3], t, pos)
        assert np.sign(after - before) == np.sign(c) and abs(after - before) > 0.25
    tick = 2 * np.pi / 4096
    np.testing.assert_allclose(pos / tick, np.round(pos / tick), atol=1e-6)  # on the encoder's grid
