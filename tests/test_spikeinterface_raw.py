"""SpikeInterface: raw recordings (read_alf_recording) and sorting frames that agree with them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

si = pytest.importorskip("spikeinterface")
from spikeinterface.core import create_sorting_analyzer, load  # noqa: E402

from neo_alf.errors import AlfNotFoundError  # noqa: E402
from neo_alf.spikeglx import find_raw_streams  # noqa: E402
from neo_alf.spikeinterface import read_alf_recording, read_alf_sorting  # noqa: E402
from neo_alf.testing_spikeglx import make_raw_session  # noqa: E402


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return make_raw_session(tmp_path_factory.mktemp("si_raw"), duration=3.0, n_units=4, seed=11)


def test_recording_traces_gains_geometry_and_session_times(gen):
    truth = gen.probes["probe00"]
    rec = read_alf_recording(gen.path, "probe00", "ap")
    stream = {s.name: s for s in find_raw_streams(gen.path)}["probe00.ap"]
    assert rec.get_num_channels() == truth.n_channels and rec.get_num_samples() == truth.n_samples
    assert rec.sampling_frequency == 30000.0 and rec.get_dtype() == np.int16
    np.testing.assert_array_equal(rec.get_traces(start_frame=1000, end_frame=4000), stream.read(1000, 4000))
    np.testing.assert_array_equal(
        rec.get_traces(start_frame=10, end_frame=50, channel_ids=["AP3", "AP0"]),
        stream.read(10, 50)[:, [3, 0]],
    )
    np.testing.assert_allclose(
        rec.get_traces(start_frame=0, end_frame=100, return_in_uV=True),
        stream.read(0, 100) * truth.ap_gains_uv,
        rtol=1e-6,
    )
    np.testing.assert_allclose(rec.get_channel_gains(), truth.ap_gains_uv)
    np.testing.assert_array_equal(rec.get_channel_locations(), np.c_[truth.x, truth.y])
    frames = np.array([0, 1, 12345, truth.n_samples - 1])
    times = rec.get_times()
    np.testing.assert_allclose(times[frames], truth.probe_to_session(frames), atol=1e-9)
    assert rec.get_start_time() == pytest.approx(truth.probe_to_session([0])[0], abs=1e-9)
    # Frames of a session time, through the exact map.
    t = truth.probe_to_session([54321])[0]
    assert rec.time_to_sample_index(t + 1e-7) == 54321 or rec.time_to_sample_index(t + 1e-7) == 54322


def test_recording_round_trips_and_pickles(gen):
    rec = read_alf_recording(gen.path, "probe00", "lf")
    again = load(rec.to_dict())
    np.testing.assert_array_equal(
        again.get_traces(start_frame=0, end_frame=500), rec.get_traces(end_frame=500)
    )
    clone = pickle.loads(pickle.dumps(rec))
    np.testing.assert_array_equal(
        clone.get_traces(start_frame=200, end_frame=400), rec.get_traces(start_frame=200, end_frame=400)
    )
    assert rec.sampling_frequency == 2500.0
    with pytest.raises(AlfNotFoundError, match=r"probe07\.ap"):
        read_alf_recording(gen.path, "probe07")


def test_sorting_frames_are_spikes_samples(gen):
    truth = gen.probes["probe00"]
    sorting = read_alf_sorting(gen.path, sampling_frequency=30000.0)
    assert sorting.get_annotation("alf_frames_from") == "spikes.samples"
    for unit in sorting.get_unit_ids():
        np.testing.assert_array_equal(
            sorting.get_unit_spike_train(unit), truth.spike_samples[truth.spike_clusters == unit]
        )


def test_template_of_a_planted_unit_peaks_on_its_channel(gen):
    truth = gen.probes["probe00"]
    rec = read_alf_recording(gen.path)
    sorting = read_alf_sorting(gen.path, sampling_frequency=rec.sampling_frequency)
    analyzer = create_sorting_analyzer(sorting, rec, sparse=False, format="memory")
    analyzer.compute(["random_spikes", "templates"], verbose=False)
    templates = analyzer.get_extension("templates").get_data()
    before = analyzer.get_extension("templates").nbefore
    for unit_index, unit in enumerate(sorting.get_unit_ids()):
        peak_channel = np.argmin(templates[unit_index].min(axis=0))
        assert peak_channel == truth.cluster_channels[unit]
        assert np.argmin(templates[unit_index][:, peak_channel]) == before  # trough at the spike frame


def _spike_session(folder, times):
    alf = folder / "alf" / "probe00" / "pykilosort"
    alf.mkdir(parents=True)
    np.save(alf / "spikes.times.npy", np.asarray(times, dtype=np.float64))
    np.save(alf / "spikes.clusters.npy", np.zeros(len(times), dtype=np.int64))
    return folder


def test_frames_from_times_are_rounded_not_truncated(tmp_path):
    fs = 30000.0
    k = np.arange(-50, 2000, 7)
    # Times a hair below / above whole frames (as float seconds of frame counts come out of sync maps).
    times = np.sort(np.r_[k / fs - 1e-9, k / fs + 1e-9, (k + 0.3) / fs])
    sorting = read_alf_sorting(_spike_session(tmp_path, times), sampling_frequency=fs)
    frames = sorting.get_unit_spike_train(0)
    assert sorting.get_annotation("alf_frames_from") == "spikes.times"
    np.testing.assert_array_equal(frames, np.rint(times * fs).astype(np.int64))
    assert np.max(np.abs(frames - times * fs)) <= 0.5  # no frame one sample early (or late)
    assert frames[0] == -50  # negative times round too, not toward zero
    window = sorting.get_unit_spike_train(0, start_frame=0, end_frame=100)
    assert window.min() >= 0 and window.max() < 100
