"""AlfIO: Neo Blocks from generated sessions, eager and lazy, checked against the generator's truth."""

from __future__ import annotations

import neo
import numpy as np
import pytest
import quantities as pq
from neo import utils as neo_utils
from neo.io.proxyobjects import AnalogSignalProxy, EpochProxy, EventProxy, SpikeTrainProxy
from neo.test.tools import assert_neo_object_is_compliant, assert_sub_schema_is_lazy_loaded

import neo_alf
from neo_alf import AlfIO
from neo_alf.errors import AlfNotFoundError
from neo_alf.io import register
from neo_alf.io.proxies import IrregularlySampledSignalProxy

from .conftest import snapshot


@pytest.fixture(scope="module")
def tiny(make_generated):
    gen = make_generated("tiny")
    return gen, AlfIO(gen.path).read_block()


def _by_name(objects, name):
    (found,) = [o for o in objects if o.name == name]
    return found


def test_block_structure(tiny):
    gen, block = tiny
    assert len(block.segments) == 1
    seg = block.segments[0]
    n_units = sum(p["n_clusters"] for p in gen.truth["probes"].values())
    assert len(seg.spiketrains) == n_units
    assert sorted(a.name for a in seg.analogsignals) == ["alf/headTracking", "raw_ephys_data/probe00/lfp"]
    assert [s.name for s in seg.irregularlysampledsignals] == ["alf/wheel"]
    assert len(seg.events) == 7 and sorted(e.name for e in seg.epochs) == [
        "alf/trials.intervals",
        "alf/wheelMoves.intervals",
    ]
    assert block.annotations["subject"] == "KS023" and block.annotations["number"] == 1
    assert block.annotations["session_path"] == str(gen.path)
    assert_neo_object_is_compliant(block)


def test_spiketrains_share_the_segment_span(tiny):
    gen, block = tiny
    seg = block.segments[0]
    for st in seg.spiketrains:
        assert st.units == pq.s and st.dtype == np.float64
        assert st.t_start == 0.0 * pq.s and st.t_stop == gen.truth["t_stop"] * pq.s
    assert len({float(st.t_stop) for st in seg.spiketrains}) == 1


def test_spiketrains_against_ground_truth(tiny):
    gen, block = tiny
    for st in block.segments[0].spiketrains:
        truth = gen.truth["probes"][st.annotations["collection"]]
        cluster = st.annotations["cluster_id"]
        assert len(st) == truth["spike_counts"][cluster]
        if len(st):
            assert st.magnitude[0] == truth["first_spike"][cluster]


def test_spiketrain_annotations_and_array_annotations(tiny):
    gen, block = tiny
    folder = gen.path / "alf/probe00/pykilosort"
    clusters, amps = np.load(folder / "spikes.clusters.npy"), np.load(folder / "spikes.amps.npy")
    depths = np.load(folder / "spikes.depths.npy")
    st = _by_name(block.segments[0].spiketrains, "alf/probe00/pykilosort#2")
    assert st.annotations["cluster_id"] == 2 and st.annotations["probe"] == "probe00"
    assert st.annotations["cluster_depths"] == np.load(folder / "clusters.depths.npy")[2]
    assert "channel_brainLocationIds_ccf_2017" in st.annotations
    np.testing.assert_array_equal(st.array_annotations["amps"], amps[clusters == 2])
    np.testing.assert_array_equal(st.array_annotations["depths"], depths[clusters == 2])


def test_groups_per_probe(tiny):
    gen, block = tiny
    groups = {g.name: g for g in block.groups if g.annotations.get("collection")}
    assert sorted(groups) == sorted(gen.truth["probes"])
    for name, group in groups.items():
        assert len(group.spiketrains) == gen.truth["probes"][name]["n_clusters"]
        assert all(st.annotations["collection"] == name for st in group.spiketrains)


def test_signals_with_units(tiny):
    gen, block = tiny
    seg = block.segments[0]
    lfp = _by_name(seg.analogsignals, "raw_ephys_data/probe00/lfp")
    truth = gen.truth["lfp"]
    assert lfp.units == pq.uV and lfp.sampling_rate == truth["rate"] * pq.Hz
    assert lfp.t_start == pytest.approx(truth["t_start"] * pq.s) and lfp.shape == (truth["n_samples"], 3)
    np.testing.assert_allclose(lfp.magnitude[0], truth["first_row"], rtol=1e-6)
    head = _by_name(seg.analogsignals, "alf/headTracking")
    assert head.units == pq.cm and list(head.array_annotations["channel_names"]) == ["x", "y"]


def test_irregular_signal(tiny):
    gen, block = tiny
    wheel = block.segments[0].irregularlysampledsignals[0]
    times = np.load(gen.path / "alf/_ibl_wheel.timestamps.npy")
    position = np.load(gen.path / "alf/_ibl_wheel.position.npy")
    np.testing.assert_array_equal(wheel.times.magnitude, times)
    np.testing.assert_array_equal(wheel.magnitude[:, 0], position)
    assert wheel.units == pq.dimensionless and wheel.annotations["alf_object"] == "wheel"


def test_epochs_and_events(tiny):
    gen, block = tiny
    seg = block.segments[0]
    trials = _by_name(seg.epochs, "alf/trials.intervals")
    intervals = np.array(gen.truth["trials"]["intervals"])
    np.testing.assert_allclose(trials.times.magnitude, intervals[:, 0])
    np.testing.assert_allclose(trials.durations.magnitude, intervals[:, 1] - intervals[:, 0])
    np.testing.assert_array_equal(trials.array_annotations["choice"], gen.truth["trials"]["choice"])
    np.testing.assert_array_equal(
        trials.array_annotations["contrastLeft"], gen.truth["trials"]["contrastLeft"]
    )
    assert list(trials.labels[:3]) == ["", "", ""]  # labels come from a text attribute only
    assert list(trials.array_annotations["row"][:3]) == [0, 1, 2]
    licks = _by_name(seg.events, "alf/licks.times")
    assert len(licks) == gen.truth["licks"]["n"]
    assert licks.annotations["collection"] == "alf" and licks.annotations["alf_attribute"] == "times"


def test_nan_event_times(tiny):
    gen, block = tiny
    moves = _by_name(block.segments[0].events, "alf/trials.firstMovement_times")
    # Neo times are never NaN: no-go trials leave the Event, `row` keeps the rest aligned
    assert len(moves) == gen.truth["trials"]["n"] - gen.truth["trials"]["n_nan_first_movement"]
    assert np.isfinite(moves.magnitude).all()
    trials = _by_name(block.segments[0].epochs, "alf/trials.intervals")
    rows = moves.array_annotations["row"]
    choice = trials.array_annotations["choice"]
    np.testing.assert_array_equal(moves.array_annotations["choice"], choice[rows])
    seg = block.segments[0]
    epochs = neo_utils.add_epoch(seg, moves, pre=-0.1 * pq.s, post=0.2 * pq.s, attach_result=False)
    assert len(epochs) == len(moves)  # worked on NaN times before: Neo's add_epoch crashed


def test_lazy_block_has_proxies(make_generated):
    block = AlfIO(make_generated("tiny").path).read_block(lazy=True)
    seg = block.segments[0]
    assert all(isinstance(a, AnalogSignalProxy) for a in seg.analogsignals)
    assert all(isinstance(s, SpikeTrainProxy) for s in seg.spiketrains)
    assert all(isinstance(e, EventProxy) for e in seg.events)
    assert all(isinstance(e, EpochProxy) for e in seg.epochs)
    assert all(isinstance(s, IrregularlySampledSignalProxy) for s in seg.irregularlysampledsignals)
    assert_sub_schema_is_lazy_loaded(block)


def test_lazy_time_slices_match_eager(tiny, make_generated):
    gen, eager = tiny
    lazy = AlfIO(gen.path).read_block(lazy=True).segments[0]
    seg = eager.segments[0]
    window = (3.0 * pq.s, 7.5 * pq.s)
    for proxy, full in zip(lazy.spiketrains, seg.spiketrains, strict=True):
        part = proxy.load(time_slice=window)
        keep = (full.magnitude >= 3.0) & (full.magnitude <= 7.5)
        np.testing.assert_array_equal(part.magnitude, full.magnitude[keep])
        np.testing.assert_array_equal(part.array_annotations["amps"], full.array_annotations["amps"][keep])
    lfp_proxy = _by_name(lazy.analogsignals, "raw_ephys_data/probe00/lfp")
    lfp = _by_name(seg.analogsignals, "raw_ephys_data/probe00/lfp")
    part = lfp_proxy.load(time_slice=window)
    i0 = round((3.0 - float(lfp.t_start)) * float(lfp.sampling_rate))
    np.testing.assert_array_equal(part.magnitude, lfp.magnitude[i0 : i0 + part.shape[0]])
    assert part.shape[0] == pytest.approx(4.5 * float(lfp.sampling_rate), abs=1)
    trials = _by_name(lazy.epochs, "alf/trials.intervals").load(time_slice=window)
    full = _by_name(seg.epochs, "alf/trials.intervals")
    keep = (full.magnitude >= 3.0) & (full.magnitude <= 7.5)
    np.testing.assert_array_equal(trials.array_annotations["choice"], full.array_annotations["choice"][keep])
    wheel = lazy.irregularlysampledsignals[0].load(time_slice=window)
    full_wheel = seg.irregularlysampledsignals[0]
    keep = (full_wheel.times.magnitude >= 3.0) & (full_wheel.times.magnitude <= 7.5)
    np.testing.assert_array_equal(wheel.magnitude, full_wheel.magnitude[keep])


def test_lazy_irregular_signal_from_multi_segment_sync(tmp_path):
    np.save(tmp_path / "sig.raw.npy", np.arange(1001.0))
    np.save(tmp_path / "sig.timestamps.npy", np.array([[0, 2.0], [500, 2.5], [1000, 3.1]]))
    block = AlfIO(tmp_path).read_block(lazy=True)
    (proxy,) = block.segments[0].irregularlysampledsignals
    part = proxy.load(time_slice=(2.2 * pq.s, 2.8 * pq.s))
    assert part.times.magnitude.min() >= 2.2 and part.times.magnitude.max() <= 2.8
    assert part.magnitude[0, 0] == 200.0 and part.magnitude[-1, 0] == 750.0  # sample 750 is at 2.8 s


def test_read_segment_time_slice(tiny):
    gen, _ = tiny
    seg = AlfIO(gen.path).read_segment(time_slice=(5 * pq.s, 6 * pq.s))
    for st in seg.spiketrains:
        assert st.t_start == 5 * pq.s and st.t_stop == 6 * pq.s
        assert np.all((st.magnitude >= 5) & (st.magnitude <= 6))


def test_labels_from_a_text_attribute(tmp_path):
    np.save(tmp_path / "stims.times.npy", np.array([1.0, 2.0, 3.0]))
    (tmp_path / "stims.kind.csv").write_text("kind\ngabor\nnoise\ngabor\n")
    event = AlfIO(tmp_path).read_block().segments[0].events[0]
    assert list(event.labels) == ["gabor", "noise", "gabor"]


def test_eid_and_revision(make_generated):
    gen = make_generated("two_probes")
    block = AlfIO(gen.path, revision="2000-01-01", eid="0f4c3d8e-1234-4abc-9def-0123456789ab").read_block()
    assert block.annotations["eid"] == "0f4c3d8e-1234-4abc-9def-0123456789ab"
    assert block.annotations["revision"] == "2000-01-01"
    firsts = [
        st.magnitude[0]
        for st in block.segments[0].spiketrains
        if st.annotations["collection"] == "alf/probe00/pykilosort" and len(st)
    ]
    assert min(firsts) == gen.truth["probes"]["alf/probe00/pykilosort"]["unrevised_first_spike"]


def test_folder_without_alf_data(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(AlfNotFoundError, match="no ALF dataset"):
        AlfIO(tmp_path)


def test_register_makes_get_io_find_alfio(make_generated):
    path = make_generated("tiny").path
    register()
    assert register() is False  # idempotent
    assert AlfIO in neo.io.iolist
    assert AlfIO in neo.io.list_candidate_ios(path)
    reader = neo.io.get_io(path)
    assert isinstance(reader, AlfIO)  # Neo's own candidates (PhyIO for .npy ...) refuse the folder first
    assert neo_alf.AlfIO is AlfIO


def test_reading_never_writes(make_generated):
    gen = make_generated("two_probes")
    before = snapshot(gen.path)
    AlfIO(gen.path).read_block()
    block = AlfIO(gen.path).read_block(lazy=True)
    for st in block.segments[0].spiketrains:
        st.load(time_slice=(1 * pq.s, 2 * pq.s))
    assert snapshot(gen.path) == before


def test_read_gives_the_one_block(make_generated):
    blocks = AlfIO(make_generated("tiny").path).read()
    assert len(blocks) == 1 and len(blocks[0].segments) == 1
    assert len(blocks[0].segments[0].spiketrains) > 0


def test_spiketrains_own_writable_data_while_raw_timestamps_are_read_only_views(make_generated):
    gen = make_generated("tiny")
    reader = AlfIO(gen.path)
    block = reader.read_block()
    lazy = reader.read_block(lazy=True)
    trains = [*block.segments[0].spiketrains, *(p.load() for p in lazy.segments[0].spiketrains)]
    assert trains and all(st.flags.writeable for st in trains)
    raw = reader.get_spike_timestamps(spike_channel_index=0)
    before = raw.copy()
    assert not raw.flags.writeable and not reader.rescale_spike_timestamp(raw, "float64").flags.writeable
    for st in trains:
        st.view(np.ndarray)[:] = -1.0  # must not reach the reader's index
    np.testing.assert_array_equal(reader.get_spike_timestamps(spike_channel_index=0), before)
    np.testing.assert_array_equal(before, lazy.segments[0].spiketrains[0].load().magnitude)


def test_eager_spiketrains_own_their_times_and_the_reader_stays_right(make_generated):
    gen = make_generated("tiny")
    io = AlfIO(gen.path)
    first = io.read_block().segments[0].spiketrains
    expected = [st.magnitude.copy() for st in first]
    for st in first:
        assert st.flags.writeable
        st.magnitude[:] = 0.5  # the user's arrays: the reader must not see this
    again = io.read_block().segments[0].spiketrains
    for st, times in zip(again, expected, strict=True):
        np.testing.assert_array_equal(st.magnitude, times)
    lazy = io.read_block(lazy=True).segments[0].spiketrains
    np.testing.assert_array_equal(lazy[3].load().magnitude, expected[3])
