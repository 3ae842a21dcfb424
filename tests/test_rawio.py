"""AlfRawIO: Neo's compliance functions called directly, and content against the generator's truth."""

from __future__ import annotations

import json
import resource

import numpy as np
import pytest
from neo.test.rawiotest import rawio_compliance

import neo_alf
from neo_alf import AlfRawIO
from neo_alf.errors import AlfDimensionError, AlfFormatError, AlfRelationError, AlfWarning
from neo_alf.testing import TEST_PRESETS

from .conftest import RAWIO_COMPLIANCE, snapshot

COMPLIANCE = RAWIO_COMPLIANCE
PRESETS = TEST_PRESETS


def _reader(path, **kwargs) -> AlfRawIO:
    reader = AlfRawIO(path, **kwargs)
    reader.parse_header()
    return reader


def _channel(reader, name: str) -> int:
    names = list(reader.header["event_channels"]["name"])
    return names.index(name)


@pytest.mark.parametrize("preset", PRESETS)
def test_neo_rawio_compliance(make_generated, preset):
    reader = _reader(make_generated(preset).path)
    for check in COMPLIANCE:
        getattr(rawio_compliance, check)(reader)


def test_compliance_functions_can_fail(make_generated):
    """The compliance run above is no formality: a reader that lies about a count is caught."""
    reader = _reader(make_generated("tiny").path)
    reader._spike_count = lambda block_index, seg_index, spike_channel_index: 10_000
    with pytest.raises(AssertionError):
        rawio_compliance.read_spike_times(reader)


def test_exported_at_top_level():
    assert neo_alf.AlfRawIO is AlfRawIO
    assert AlfRawIO.rawmode == "one-dir"


def test_header_counts(make_generated):
    gen = make_generated("two_probes")
    reader = _reader(gen.path)
    n_units = sum(p["n_clusters"] for p in gen.truth["probes"].values())
    assert reader.spike_channels_count() == n_units
    assert reader.block_count() == 1 and reader.segment_count(0) == 1
    assert list(reader.header["signal_streams"]["id"]) == ["alf/headTracking", "raw_ephys_data/probe00/lfp"]
    assert [s.object for s in reader.layout.irregular] == ["wheel"]


def test_units_against_ground_truth(make_generated):
    gen = make_generated("two_probes")
    reader = _reader(gen.path)
    ids = list(reader.header["spike_channels"]["id"])
    for collection, truth in gen.truth["probes"].items():
        for cluster, count in enumerate(truth["spike_counts"]):
            index = ids.index(f"{collection}#{cluster}")
            assert reader.spike_count(spike_channel_index=index) == count
            times = reader.rescale_spike_timestamp(reader.get_spike_timestamps(spike_channel_index=index))
            assert times.dtype == np.float64 and times.size == count
            if count:
                assert times[0] == truth["first_spike"][cluster]
                assert np.all(np.diff(times) >= 0)
        for cluster in truth["empty_clusters"]:
            index = ids.index(f"{collection}#{cluster}")
            assert reader.spike_count(spike_channel_index=index) == 0
            assert reader.get_spike_timestamps(spike_channel_index=index).size == 0


def test_spike_window_bounds_are_inclusive(make_generated):
    reader = _reader(make_generated("tiny").path)
    counts = [reader.spike_count(spike_channel_index=i) for i in range(reader.spike_channels_count())]
    unit = int(np.argmax(counts))
    times = reader.get_spike_timestamps(spike_channel_index=unit)
    window = reader.get_spike_timestamps(spike_channel_index=unit, t_start=times[3], t_stop=times[9])
    np.testing.assert_array_equal(window, times[3:10])
    assert reader.get_spike_timestamps(spike_channel_index=unit, t_start=times[-1] + 1).size == 0


def test_unit_annotations(make_generated):
    gen = make_generated("tiny")
    reader = _reader(gen.path)
    folder = gen.path / "alf/probe01/pykilosort"
    depths = np.load(folder / "clusters.depths.npy")
    channels = np.load(folder / "clusters.channels.npy")
    regions = np.load(folder / "channels.brainLocationIds_ccf_2017.npy")
    coords = np.load(folder / "channels.localCoordinates.npy")
    uuids = (folder / "clusters.uuids.csv").read_text().split()[1:]
    ids = list(reader.header["spike_channels"]["id"])
    index = ids.index("alf/probe01/pykilosort#3")
    ann = reader.raw_annotations["blocks"][0]["segments"][0]["spikes"][index]
    assert (
        ann["cluster_id"] == 3 and ann["collection"] == "alf/probe01/pykilosort" and ann["probe"] == "probe01"
    )
    assert ann["cluster_depths"] == depths[3] and ann["cluster_channels"] == channels[3]
    assert ann["cluster_uuids"] == uuids[3]
    assert ann["channel_brainLocationIds_ccf_2017"] == regions[channels[3]]
    np.testing.assert_array_equal(ann["channel_localCoordinates"], coords[channels[3]])
    assert ann["__array_annotations__"] == {}  # per-spike attributes only when asked


def test_spike_array_annotations_when_asked(make_generated):
    gen = make_generated("tiny")
    reader = _reader(gen.path, spike_array_annotations=True)
    folder = gen.path / "alf/probe00/pykilosort"
    clusters, amps = np.load(folder / "spikes.clusters.npy"), np.load(folder / "spikes.amps.npy")
    index = list(reader.header["spike_channels"]["id"]).index("alf/probe00/pykilosort#1")
    arrays = reader.raw_annotations["blocks"][0]["segments"][0]["spikes"][index]["__array_annotations__"]
    assert sorted(arrays) == ["amps", "depths"]
    np.testing.assert_array_equal(arrays["amps"], amps[clusters == 1])


def test_lfp_stream(make_generated):
    gen = make_generated("tiny")
    truth = gen.truth["lfp"]
    reader = _reader(gen.path)
    stream = list(reader.header["signal_streams"]["id"]).index("raw_ephys_data/probe00/lfp")
    assert reader.get_signal_sampling_rate(stream) == truth["rate"]
    assert reader.get_signal_t_start(0, 0, stream) == pytest.approx(truth["t_start"])
    assert reader.get_signal_size(0, 0, stream) == truth["n_samples"]
    channels = reader.header["signal_channels"][
        reader.header["signal_channels"]["stream_id"] == "raw_ephys_data/probe00/lfp"
    ]
    assert list(channels["units"]) == ["uV"] * truth["n_channels"]
    assert list(channels["name"]) == [f"ch{i}" for i in range(truth["n_channels"])]
    chunk = reader.get_analogsignal_chunk(stream_index=stream, i_start=0, i_stop=5)
    assert chunk.dtype == np.float32 and chunk.shape == (5, truth["n_channels"])
    np.testing.assert_allclose(chunk[0], truth["first_row"])
    two = reader.get_analogsignal_chunk(stream_index=stream, i_start=0, i_stop=5, channel_indexes=[2, 0])
    np.testing.assert_array_equal(two, chunk[:, [2, 0]])


def test_tsv_stream_with_metadata_units(make_generated):
    gen = make_generated("tiny")
    truth = gen.truth["head_tracking"]
    reader = _reader(gen.path)
    stream = list(reader.header["signal_streams"]["id"]).index("alf/headTracking")
    assert reader.get_signal_sampling_rate(stream) == pytest.approx(truth["rate"])
    assert reader.get_signal_t_start(0, 0, stream) == pytest.approx(truth["t_start"])
    channels = reader.header["signal_channels"][
        reader.header["signal_channels"]["stream_id"] == "alf/headTracking"
    ]
    assert list(channels["units"]) == ["cm", "cm"] and list(channels["name"]) == ["x", "y"]


def test_events_and_epochs(make_generated):
    gen = make_generated("tiny")
    reader = _reader(gen.path)
    names = list(reader.header["event_channels"]["name"])
    assert "alf/trials.goCue_times_bpod" not in names  # a timescale variant is never session time
    assert sorted(names) == sorted(  # names carry the collection: unique across task collections
        [
            "alf/leftCamera.times",
            "alf/licks.times",
            "alf/trials.feedback_times",
            "alf/trials.firstMovement_times",
            "alf/trials.goCue_times",
            "alf/trials.intervals",
            "alf/trials.response_times",
            "alf/trials.stimOn_times",
            "alf/wheelMoves.intervals",
        ]
    )
    trials = _channel(reader, "alf/trials.intervals")
    assert reader.header["event_channels"]["type"][trials] == b"epoch"
    assert reader.event_count(event_channel_index=trials) == gen.truth["trials"]["n"]
    times, durations, labels = reader.get_event_timestamps(event_channel_index=trials)
    intervals = np.array(gen.truth["trials"]["intervals"])
    np.testing.assert_allclose(times, intervals[:, 0])
    np.testing.assert_allclose(durations, intervals[:, 1] - intervals[:, 0])
    assert labels.shape == times.shape and labels[0] == ""  # no text attribute: no per-row strings
    arrays = reader.raw_annotations["blocks"][0]["segments"][0]["events"][trials]["__array_annotations__"]
    np.testing.assert_array_equal(arrays["choice"], gen.truth["trials"]["choice"])
    np.testing.assert_array_equal(arrays["row"], np.arange(gen.truth["trials"]["n"]))
    assert "stimOn_times" in arrays and "intervals" not in arrays
    licks = _channel(reader, "alf/licks.times")
    assert reader.event_count(event_channel_index=licks) == gen.truth["licks"]["n"]  # two parts joined


def test_nan_event_times_leave_the_event_and_rows_keep_alignment(make_generated):
    gen = make_generated("tiny")
    reader = _reader(gen.path)
    channel = _channel(reader, "alf/trials.firstMovement_times")
    times, durations, _ = reader.get_event_timestamps(event_channel_index=channel)
    assert durations is None and np.isfinite(times).all()  # Neo times are never NaN
    n, n_nan = gen.truth["trials"]["n"], gen.truth["trials"]["n_nan_first_movement"]
    assert n_nan > 0 and times.size == n - n_nan
    arrays = reader.raw_annotations["blocks"][0]["segments"][0]["events"][channel]["__array_annotations__"]
    stored = np.load(gen.path / "alf/_ibl_trials.firstMovement_times.npy")
    np.testing.assert_array_equal(arrays["row"], np.flatnonzero(np.isfinite(stored)))
    np.testing.assert_array_equal(times, stored[arrays["row"]])
    np.testing.assert_array_equal(arrays["choice"], np.asarray(gen.truth["trials"]["choice"])[arrays["row"]])


def test_segment_span_covers_everything(make_generated):
    for preset in ["tiny", "only_spikes"]:
        gen = make_generated(preset)
        reader = _reader(gen.path)
        # ALF times count from the start of the experiment: the Segment starts at 0 s
        assert gen.truth["t_start"] > 0 and reader.segment_t_start(0, 0) == 0.0
        assert reader.segment_t_stop(0, 0) == pytest.approx(gen.truth["t_stop"])


def test_revision_and_collections(make_generated):
    gen = make_generated("two_probes")
    truth = gen.truth["probes"]["alf/probe00/pykilosort"]
    old = _reader(gen.path, revision="2000-01-01")
    first = [old.get_spike_timestamps(spike_channel_index=i)[:1] for i in range(truth["n_clusters"])]
    assert min(f[0] for f in first if f.size) == truth["unrevised_first_spike"]
    only = _reader(gen.path, collections=["alf/probe00/**"])
    assert only.spike_channels_count() == truth["n_clusters"]
    assert only.event_channels_count() == 0 and only.signal_streams_count() == 0


def test_only_cluster_ids_present_without_clusters_table(make_generated):
    gen = make_generated("no_clusters_object")
    reader = _reader(gen.path)
    counts = gen.truth["probes"]["alf/probe00/pykilosort"]["spike_counts"]
    present = [k for k, c in enumerate(counts) if c]
    assert list(reader.header["spike_channels"]["id"]) == [f"alf/probe00/pykilosort#{k}" for k in present]


def test_one_unit_without_spikes_clusters(make_generated):
    gen = make_generated("no_spike_clusters")
    reader = _reader(gen.path)
    assert reader.spike_channels_count() == 1
    assert (
        reader.spike_count(spike_channel_index=0) == gen.truth["probes"]["alf/probe00/pykilosort"]["n_spikes"]
    )


def test_reader_never_writes(make_generated):
    gen = make_generated("two_probes")
    before = snapshot(gen.path)
    reader = _reader(gen.path, spike_array_annotations=True)
    for check in COMPLIANCE:
        getattr(rawio_compliance, check)(reader)
    assert snapshot(gen.path) == before


# ----------------------------------------------------------------------------- hand-made sessions


def _save(folder, rel, array):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array))


def test_one_second_of_an_hour_touches_only_that_second(tmp_path):
    """A sparse 6.9 GB .bin (1 h, 384 ch, 2.5 kHz): reading 1 s faults in about 2 MB, not the file."""
    rate, n_ch, n = 2500.0, 384, 2500 * 3600
    folder = tmp_path / "s/2020-01-01/001/raw_ephys_data/probe00"
    folder.mkdir(parents=True)
    with open(folder / "lfp.raw.bin", "wb") as fh:
        fh.truncate(n * n_ch * 2)  # sparse: no disk used
    (folder / "lfp.raw.metadata.json").write_text(json.dumps({"dtype": "int16", "columns": ["c"] * n_ch}))
    np.save(folder / "lfp.timestamps.npy", np.array([[0, 0.0], [n - 1, (n - 1) / rate]]))
    reader = _reader(tmp_path / "s/2020-01-01/001")
    start = int(1800 * rate)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    chunk = reader.get_analogsignal_chunk(stream_index=0, i_start=start, i_stop=start + int(rate))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert chunk.shape == (2500, n_ch)
    assert faults < 5_000, f"{faults} page faults (~{faults * 4 // 1024} MB) for a 2 MB chunk"


def test_multipart_signal_chunks_cross_part_boundaries(tmp_path):
    data = np.arange(200.0).reshape(100, 2)
    _save(tmp_path, "sig.raw.part1.npy", data[:37])
    _save(tmp_path, "sig.raw.part2.npy", data[37:])
    _save(tmp_path, "sig.timestamps.npy", [[0, 1.0], [99, 1.99]])
    reader = _reader(tmp_path)
    np.testing.assert_array_equal(
        reader.get_analogsignal_chunk(stream_index=0, i_start=30, i_stop=45), data[30:45]
    )
    np.testing.assert_array_equal(
        reader.get_analogsignal_chunk(stream_index=0, i_start=30, i_stop=45, channel_indexes=[1]),
        data[30:45, [1]],
    )
    assert reader.get_signal_sampling_rate(0) == pytest.approx(100.0)


def test_several_attributes_make_one_stream(tmp_path):
    _save(tmp_path, "pupil.diameter.npy", np.arange(10.0))
    _save(tmp_path, "pupil.xy.npy", np.arange(20, dtype=np.float32).reshape(10, 2))
    _save(tmp_path, "pupil.timestamps.npy", 5.0 + np.arange(10) / 50.0)
    reader = _reader(tmp_path)
    assert reader.signal_channels_count(0) == 3
    assert list(reader.header["signal_channels"]["units"]) == ["dimensionless"] * 3  # no metadata: no units
    chunk = reader.get_analogsignal_chunk(stream_index=0, i_start=2, i_stop=4)
    np.testing.assert_array_equal(chunk, [[2.0, 4.0, 5.0], [3.0, 6.0, 7.0]])
    assert reader.get_signal_t_start(0, 0, 0) == 5.0 and reader.get_signal_sampling_rate(0) == pytest.approx(
        50.0
    )


def test_collinear_sync_points_are_regular_and_kinks_are_not(tmp_path):
    _save(tmp_path, "a/sig.raw.npy", np.zeros(1001))
    _save(tmp_path, "a/sig.timestamps.npy", [[0, 2.0], [500, 2.5], [1000, 3.0]])
    _save(tmp_path, "b/sig.raw.npy", np.zeros(1001))
    _save(tmp_path, "b/sig.timestamps.npy", [[0, 2.0], [500, 2.5], [1000, 3.1]])
    reader = _reader(tmp_path)
    assert list(reader.header["signal_streams"]["id"]) == ["a/sig"]
    assert reader.get_signal_sampling_rate(0) == pytest.approx(1000.0)
    (irregular,) = reader.layout.irregular
    assert irregular.collection == "b"
    np.testing.assert_allclose(irregular.timebase.times(999, 1001), [3.1 - 0.6 / 500, 3.1])


@pytest.mark.parametrize(
    ("files", "error", "match"),
    [
        (
            {"spikes.times.npy": np.arange(5.0), "spikes.amps.npy": np.zeros(4)},
            AlfDimensionError,
            "same number of rows",
        ),
        (
            {
                "spikes.times.npy": np.arange(3.0),
                "spikes.clusters.npy": np.array([0, 1, 7]),
                "clusters.depths.npy": np.zeros(3),
            },
            AlfRelationError,
            "cluster index 7",
        ),
        (
            {"spikes.times.npy": np.arange(3.0), "spikes.clusters.npy": np.array([0, -1, 1])},
            AlfRelationError,
            "negative",
        ),
        (
            {"spikes.times.npy": np.arange(3.0), "spikes.clusters.npy": np.array([0.0, 1.0, 1.0])},
            AlfRelationError,
            "float64",
        ),
        (
            {"spikes.times.npy": np.array(["a", "b"]), "spikes.clusters.npy": np.array([0, 1])},
            AlfFormatError,
            "spike times",
        ),
        ({"trials.intervals.npy": np.zeros((3, 3))}, AlfDimensionError, "intervals"),
        (
            {"sig.raw.npy": np.zeros(3), "sig.timestamps.npy": [[0, 1.0], [2, 0.5]]},
            AlfDimensionError,
            "increase",
        ),
    ],
)
def test_bad_data_warns_or_raises_when_strict(tmp_path, files, error, match):
    for name, array in files.items():
        _save(tmp_path / "alf", name, array)
    with pytest.raises(error, match=match) as err:
        _reader(tmp_path, strict=True)
    assert "alf/" in str(err.value)
    with pytest.warns(AlfWarning, match=match) as caught:
        reader = _reader(tmp_path)  # tolerant: left out, named, listed; the rest stands
    assert any("alf/" in str(w.message) for w in caught)
    assert len(reader.problems) >= 1 and isinstance(reader.problems[0], error)
    assert any(match in p for p in reader.raw_annotations["blocks"][0]["alf_problems"])
