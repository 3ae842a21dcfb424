"""Elephant on AlfIO output: rates, histograms and a trial-aligned PSTH, checked against the raw arrays."""

from __future__ import annotations

import numpy as np
import pytest
import quantities as pq

from neo_alf import AlfIO

elephant_statistics = pytest.importorskip("elephant.statistics")
neo_utils = pytest.importorskip("neo.utils")


@pytest.fixture(scope="module")
def session(make_generated):
    gen = make_generated("one_probe")
    block = AlfIO(gen.path).read_block()
    folder = gen.path / "alf/probe00/pykilosort"
    raw = {"times": np.load(folder / "spikes.times.npy"), "clusters": np.load(folder / "spikes.clusters.npy")}
    return gen, block.segments[0], raw


def test_mean_firing_rate(session):
    gen, seg, raw = session
    duration = gen.truth["t_stop"]  # the Segment starts at 0 s (ALF's experiment start)
    for st in seg.spiketrains:
        expected = np.sum(raw["clusters"] == st.annotations["cluster_id"]) / duration
        rate = elephant_statistics.mean_firing_rate(st).rescale(pq.Hz)
        assert rate.magnitude == pytest.approx(expected)


def test_time_histogram_over_all_units(session):
    gen, seg, raw = session
    hist = elephant_statistics.time_histogram(seg.spiketrains, bin_size=1.0 * pq.s, output="counts")
    n_bins = hist.shape[0]
    edges = np.arange(n_bins + 1) * 1.0  # from the Segment's t_start, 0 s
    expected, _ = np.histogram(raw["times"], bins=edges)
    # elephant's bins are [t_start + k, t_start + k + 1); the last partial bin is dropped
    assert n_bins == int(np.floor(gen.truth["t_stop"]))
    np.testing.assert_array_equal(hist.magnitude[:, 0], expected)


def test_trial_aligned_psth(session):
    gen, seg, raw = session
    (stim,) = neo_utils.get_events(seg, name="alf/trials.stimOn_times")
    pre, post = -0.2 * pq.s, 0.5 * pq.s
    epoch = neo_utils.add_epoch(seg, stim, pre=pre, post=post, attach_result=False, name="around stimOn")
    trials = neo_utils.cut_segment_by_epoch(seg, epoch, reset_time=True)
    assert len(trials) == gen.truth["trials"]["n"]
    unit = max(seg.spiketrains, key=len)
    cluster = unit.annotations["cluster_id"]
    index = next(i for i, st in enumerate(seg.spiketrains) if st is unit)
    trial_trains = [t.spiketrains[index] for t in trials]
    assert all(st.annotations["cluster_id"] == cluster for st in trial_trains)
    psth = elephant_statistics.time_histogram(trial_trains, bin_size=0.1 * pq.s, output="mean")
    # by hand: spikes of that cluster within [stim - 0.2, stim + 0.5], relative to the window start
    own = raw["times"][raw["clusters"] == cluster]
    counts = np.zeros(7)
    for t in stim.magnitude:
        rel = own[(own >= t - 0.2) & (own <= t + 0.5)] - (t - 0.2)
        counts += np.histogram(rel, bins=np.linspace(0, 0.7, 8))[0]
    np.testing.assert_allclose(psth.magnitude[:, 0], counts / len(stim))
    assert psth.magnitude.sum() > 0  # the unit does fire around the stimuli
