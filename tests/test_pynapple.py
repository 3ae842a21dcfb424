"""neo_alf.pynapple.to_pynapple: pynapple objects checked against the ALF files and hand computations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

nap = pytest.importorskip("pynapple")

from neo_alf import AlfWarning  # noqa: E402
from neo_alf.pynapple import to_pynapple  # noqa: E402
from neo_alf.testing import make_session  # noqa: E402

COLLECTIONS = ("alf/probe00/pykilosort", "alf/probe01/pykilosort")
WINDOW = (-0.2, 0.5)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    gen = make_session(tmp_path_factory.mktemp("pyn"), "tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlfWarning)  # overlapping wheel moves, when the generator makes them
        data = to_pynapple(gen.path)
    return gen, data


def _npy(path):
    return np.load(path, allow_pickle=False)


def _spikes(gen, collection):
    folder = gen.path / collection
    revised = sorted(folder.glob("#*#/spikes.times.npy"))
    times = _npy(revised[-1] if revised else folder / "spikes.times.npy")
    return times, _npy(folder / "spikes.clusters.npy")


def _trials(gen):
    alf = gen.path / "alf"
    return _npy(alf / "_ibl_trials.intervals.npy"), _npy(alf / "_ibl_trials.stimOn_times.npy")


def test_units_and_metadata(session):
    gen, data = session
    units = data["units"]
    assert isinstance(units, nap.TsGroup)
    info = units.metadata
    for collection in COLLECTIONS:
        times, clusters = _spikes(gen, collection)
        folder = gen.path / collection
        depths = _npy(folder / "clusters.depths.npy")
        cl_channels = _npy(folder / "clusters.channels.npy")
        regions = _npy(folder / "channels.brainLocationIds_ccf_2017.npy")
        keys = [k for k in units.keys() if info.loc[k, "collection"] == collection]
        assert len(keys) == depths.size  # every clusters.* row, empty ones included
        for k in keys:
            cid = int(info.loc[k, "cluster_id"])
            np.testing.assert_array_equal(units[k].t, times[clusters == cid])
            assert info.loc[k, "cluster_depths"] == depths[cid]
            assert info.loc[k, "cluster_channels"] == cl_channels[cid]
            assert info.loc[k, "channel_brainLocationIds_ccf_2017"] == regions[cl_channels[cid]]
            assert info.loc[k, "probe"] == collection.split("/")[1]


def test_trials_with_columns(session):
    gen, data = session
    intervals, stim_on = _trials(gen)
    trials = data["trials"]
    np.testing.assert_array_equal(trials.start, intervals[:, 0])
    np.testing.assert_array_equal(trials.end, intervals[:, 1])
    np.testing.assert_array_equal(trials.metadata["stimOn_times"].to_numpy(), stim_on)
    choice = _npy(gen.path / "alf/_ibl_trials.choice.npy")
    np.testing.assert_array_equal(trials.metadata["choice"].to_numpy(), choice)
    left = _npy(gen.path / "alf/_ibl_trials.contrastLeft.npy")
    np.testing.assert_array_equal(trials.metadata["contrastLeft"].to_numpy(), left)  # NaN kept


def test_restrict_to_trials_equals_hand_computation(session):
    gen, data = session
    intervals, _ = _trials(gen)
    units = data["units"]
    restricted = units.restrict(data["trials"])
    total = 0
    for k in units.keys():
        t = units[k].t
        inside = np.zeros(t.size, dtype=bool)
        for start, end in intervals:
            inside |= (t >= start) & (t <= end)
        np.testing.assert_array_equal(restricted[k].t, t[inside])
        total += int(inside.sum())
    assert total > 0


def test_perievent_around_stim_on_equals_hand_computation(session):
    gen, data = session
    _, stim_on = _trials(gen)
    units = data["units"]
    events = data["trials.stimOn_times"]
    np.testing.assert_array_equal(events.t, stim_on)
    peth = nap.compute_perievent(units, events, WINDOW)
    total = 0
    for k in units.keys():
        t = units[k].t
        aligned = peth[k]
        assert len(aligned) == stim_on.size
        for i, e in enumerate(stim_on):
            expected = t[(t >= e + WINDOW[0]) & (t <= e + WINDOW[1])] - e
            np.testing.assert_allclose(aligned[i].t, expected, rtol=0, atol=1e-12)
            total += expected.size
    assert total > 0


def test_events_wheel_and_signals(session):
    gen, data = session
    alf = gen.path / "alf"
    licks = np.concatenate([_npy(alf / "licks.times.part001.npy"), _npy(alf / "licks.times.part002.npy")])
    np.testing.assert_array_equal(data["licks"].t, licks)
    first_move = _npy(alf / "_ibl_trials.firstMovement_times.npy")
    np.testing.assert_array_equal(data["trials.firstMovement_times"].t, first_move[np.isfinite(first_move)])
    wheel = data["wheel.position"]
    np.testing.assert_array_equal(wheel.t, _npy(alf / "_ibl_wheel.timestamps.npy"))
    np.testing.assert_array_equal(wheel.d, _npy(alf / "_ibl_wheel.position.npy"))
    lfp = gen.truth["lfp"]
    frame = data["lfp.raw"]
    assert isinstance(frame.d, np.memmap)  # not loaded
    raw = np.fromfile(gen.path / lfp["collection"] / "lfp.raw.bin", dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(frame.d), raw.reshape(-1, lfp["n_channels"]))
    np.testing.assert_allclose(frame.t, lfp["t_start"] + np.arange(lfp["n_samples"]) / lfp["rate"], atol=1e-9)
    head = data["headTracking.xyPos"]
    assert head.shape == (gen.truth["head_tracking"]["n"], 2)
    assert list(head.columns) == ["x", "y"]  # names from headTracking.xyPos.metadata.json
    assert list(frame.columns) == [f"ch{i}" for i in range(lfp["n_channels"])]


def test_overlapping_intervals_keep_their_rows(tmp_path):
    gen = make_session(tmp_path, "tiny")
    alf = gen.path / "alf"
    n = _npy(alf / "_ibl_wheelMoves.peakAmplitude.npy").shape[0]
    starts = np.arange(n) * 1.0 + 1.0
    intervals = np.c_[starts, starts + 1.5]  # each move overlaps the next
    np.save(alf / "_ibl_wheelMoves.intervals.npy", intervals)
    with pytest.warns(AlfWarning, match="wheelMoves"):
        data = to_pynapple(gen.path)
    table = data["wheelMoves.table"]
    np.testing.assert_array_equal(table["start"].to_numpy(), intervals[:, 0])
    np.testing.assert_array_equal(
        table["peakAmplitude"].to_numpy(), _npy(alf / "_ibl_wheelMoves.peakAmplitude.npy")
    )
    union = data["wheelMoves"]
    assert union.start[0] == intervals[:, 0].min() and len(union) == 1


def test_single_unit_without_clusters(tmp_path):
    gen = make_session(tmp_path, "no_spike_clusters")
    data = to_pynapple(gen.path)
    times = _npy(gen.path / "alf/probe00/pykilosort/spikes.times.npy")
    assert len(data["units"]) == 1
    np.testing.assert_array_equal(data["units"][0].t, times)


def test_trials_table_parquet_is_merged(tmp_path):
    from tests.test_nwb import _write_trials_table

    gen = make_session(tmp_path, "tiny")
    truth = _write_trials_table(gen.path, np.random.default_rng(5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlfWarning)
        data = to_pynapple(gen.path)
    trials = data["alf/task_00/trials"]
    np.testing.assert_array_equal(trials.start, truth["intervals_0"])
    np.testing.assert_array_equal(trials.metadata["stimOff_times"].to_numpy(), truth["stimOff_times"])
    np.testing.assert_array_equal(data["alf/task_00/trials.stimOn_times"].t, truth["stimOn_times"])
    first = truth["firstMovement_times"]
    np.testing.assert_array_equal(data["alf/task_00/trials.firstMovement_times"].t, first[np.isfinite(first)])


def test_pynapple_reads_the_nwb_file(tmp_path):
    """pynapple users who get the NWB file instead: its own reader finds units, trials and the wheel."""
    pytest.importorskip("pynwb")
    import warnings

    from neo_alf.nwb import write_nwb

    gen = make_session(tmp_path / "data", "tiny")
    out = write_nwb(gen.path, tmp_path / "s.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dotted column names: key access only
        f = nap.load_file(str(out))
        units, trials, wheel = f["units"], f["trials"], f["wheel.position"]
    info = units.metadata
    for collection in COLLECTIONS:
        times, clusters = _spikes(gen, collection)
        for k in [k for k in units.keys() if info.loc[k, "collection"] == collection]:
            np.testing.assert_array_equal(units[k].t, times[clusters == info.loc[k, "cluster_id"]])
    intervals, stim_on = _trials(gen)
    np.testing.assert_array_equal(trials.start, intervals[:, 0])
    np.testing.assert_array_equal(trials.metadata["stimOn_times"].to_numpy(), stim_on)
    np.testing.assert_array_equal(wheel.d, _npy(gen.path / "alf/_ibl_wheel.position.npy"))


def test_bad_cluster_channels_leave_the_collection_out(tmp_path):
    gen = make_session(tmp_path, "one_probe")
    folder = gen.path / "alf/probe00/pykilosort"
    channels = _npy(folder / "clusters.channels.npy")
    channels[0] = 10_000  # not a row of channels.*
    np.save(folder / "clusters.channels.npy", channels)
    with pytest.warns(AlfWarning, match="clusters.channels"):
        data = to_pynapple(gen.path)
    assert "units" not in data and "trials" in data
    with pytest.raises(Exception, match=r"clusters\.channels"):
        to_pynapple(gen.path, strict=True)
