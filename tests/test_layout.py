"""The ALF-to-Neo layout: tables, files neo-alf does not read, collections, tolerance, header cost."""

from __future__ import annotations

import collections
import os
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import quantities as pq_units

import neo_alf
from neo_alf import AlfIO, AlfRawIO, AlfSession, readers
from neo_alf.errors import AlfAmbiguousError, AlfDimensionError, AlfNotFoundError, AlfWarning
from neo_alf.layout import build_layout

from .conftest import snapshot


def _save(root, rel, array):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array))
    return path


def _trials_table(root, rel, n=6):
    start = np.arange(n) * 10.0 + 1.0
    columns = {
        "intervals_0": start,
        "intervals_1": start + 5.0,
        "stimOn_times": start + 0.5,
        "firstMovement_times": np.where(np.arange(n) % 3 == 1, np.nan, start + 0.8),
        "contrastLeft": np.where(np.arange(n) % 2 == 0, 1.0, np.nan),
        "choice": np.array([1, -1, 0, 1, -1, 1][:n], dtype=np.int64),
    }
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return columns


def _reader(path, **kwargs) -> AlfRawIO:
    reader = AlfRawIO(path, **kwargs)
    reader.parse_header()
    return reader


# ------------------------------------------------------------------------------------------ tables


def test_trials_table_gives_the_epoch_and_events(tmp_path):
    columns = _trials_table(tmp_path, "alf/task_00/_ibl_trials.table.pqt")
    _save(tmp_path, "alf/task_00/_ibl_trials.goCueTrigger_times.npy", np.arange(6) * 10.0 + 1.4)
    reader = _reader(tmp_path)
    names = [str(n) for n in reader.header["event_channels"]["name"]]
    assert sorted(names) == [
        "alf/task_00/trials.firstMovement_times",
        "alf/task_00/trials.goCueTrigger_times",
        "alf/task_00/trials.intervals",
        "alf/task_00/trials.stimOn_times",
    ]
    block = AlfIO(tmp_path).read_block()
    (epoch,) = block.segments[0].epochs
    np.testing.assert_array_equal(epoch.times.magnitude, columns["intervals_0"])
    np.testing.assert_array_equal(epoch.durations.magnitude, columns["intervals_1"] - columns["intervals_0"])
    np.testing.assert_array_equal(epoch.array_annotations["choice"], columns["choice"])
    np.testing.assert_array_equal(epoch.array_annotations["contrastLeft"], columns["contrastLeft"])
    move = next(e for e in block.segments[0].events if e.name.endswith("firstMovement_times"))
    assert len(move) == 4 and list(move.array_annotations["row"]) == [0, 2, 3, 5]
    # load_object merges the table as ONE-api does: intervals_0/_1 paired into (n, 2)
    trials = neo_alf.load_object(tmp_path, "trials")
    assert trials["intervals"].shape == (6, 2) and "table" not in trials
    np.testing.assert_array_equal(trials["choice"], columns["choice"])


def test_text_table_with_start_and_stop_is_an_interval_series(tmp_path):
    (tmp_path / "alf").mkdir()
    (tmp_path / "alf/_ibl_passiveGabor.table.csv").write_text(
        ",start,stop,position,contrast,phase\n0,1.0,1.3,35,0.5,0.1\n1,2.0,2.3,-35,1.0,0.2\n"
    )
    session = AlfSession(tmp_path)
    gabor = session.load_object("passiveGabor")
    assert set(gabor) >= {"start", "stop", "position", "contrast"}
    np.testing.assert_array_equal(gabor["position"], [35.0, -35.0])
    (epoch,) = AlfIO(tmp_path).read_block().segments[0].epochs
    assert epoch.name == "alf/passiveGabor.intervals"
    np.testing.assert_allclose(epoch.times.magnitude, [1.0, 2.0])
    np.testing.assert_allclose(epoch.durations.magnitude, [0.3, 0.3])
    np.testing.assert_array_equal(epoch.array_annotations["contrast"], [0.5, 1.0])


# ------------------------------------------------------------------------------- unread files


def test_files_neo_alf_does_not_read_are_listed_never_opened(tmp_path, monkeypatch):
    _save(tmp_path, "raw_video_data/_iblrig_leftCamera.timestamps.npy", np.arange(5.0))
    _save(tmp_path, "alf/licks.times.npy", np.arange(3.0))  # read: proves the spies see reads
    for rel in [
        "raw_video_data/_iblrig_leftCamera.raw.mp4",
        "raw_video_data/_iblrig_leftCamera.GPIO.bin",
        "raw_behavior_data/_iblrig_micData.raw.flac",
        "raw_behavior_data/_iblrig_codeFiles.raw.zip",
        "raw_behavior_data/_iblrig_taskSettings.raw.yaml",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"\x00\x01not for us")
    opened = []
    real_open, real_os_open = open, os.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def os_spy(path, *args, **kwargs):  # the readers open files with os.open (readers.open_regular)
        opened.append(str(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)  # nothing to warn about
        reader = _reader(tmp_path)
    monkeypatch.undo()
    assert any(p.endswith("licks.times.npy") for p in opened)
    assert not [p for p in opened if p.endswith((".mp4", ".bin", ".flac", ".zip", ".yaml"))]
    assert reader.problems == [] and len(reader.session.unread) == 5
    notes = []
    assert AlfSession(tmp_path).validate(notes) == []
    assert sum("not read by neo-alf" in n for n in notes) == 5
    camera = neo_alf.load_object(tmp_path, "leftCamera", collection="raw_video_data")
    assert camera["raw"] == tmp_path / "raw_video_data/_iblrig_leftCamera.raw.mp4"  # a path, as ONE-api


def test_spikeglx_files_are_raw_recordings_not_duplicate_datasets(tmp_path):
    folder = tmp_path / "raw_ephys_data/probe00"
    folder.mkdir(parents=True)
    for ext in ["ap.cbin", "ap.ch", "ap.meta", "lf.cbin", "lf.ch", "lf.meta", "sync.npy", "wiring.json"]:
        (folder / f"_spikeglx_ephysData_g0_t0.imec0.{ext}").write_bytes(b"x")
    _save(tmp_path, "raw_ephys_data/probe00/_spikeglx_sync.times.probe00.npy", np.arange(4.0))
    session = AlfSession(tmp_path)
    assert len(session.raw_files) == 8 and session.validate() == []
    assert [o.name for o in session.objects] == ["sync"]


# -------------------------------------------------------------------------------- collections


@pytest.fixture
def two_sortings(tmp_path):
    for rel, ids in [("alf/probe00", [0, 1, 1]), ("alf/probe00/pykilosort", [0, 0, 2])]:
        _save(tmp_path, f"{rel}/spikes.times.npy", [1.0, 2.0, 3.0])
        _save(tmp_path, f"{rel}/spikes.clusters.npy", np.array(ids))
        _save(tmp_path, f"{rel}/clusters.depths.npy", np.zeros(max(ids) + 1))
    return tmp_path


def test_a_collection_means_exactly_that_collection(two_sortings):
    assert _reader(two_sortings, collections=["alf/probe00"]).spike_channels_count() == 2
    assert _reader(two_sortings, collections=["alf/probe00/pykilosort"]).spike_channels_count() == 3
    assert _reader(two_sortings, collections=["alf/probe00/**"]).spike_channels_count() == 5
    with pytest.raises(AlfNotFoundError, match=r"no collection 'alf/probe01'.*'alf/probe00/pykilosort'"):
        _reader(two_sortings, collections=["alf/probe01"])


def test_a_folder_of_several_sessions_raises_naming_them(tmp_path):
    for number in ("001", "002"):
        _save(tmp_path, f"KS023/2024-03-15/{number}/alf/licks.times.npy", [1.0])
    with pytest.raises(AlfAmbiguousError, match=r"2 session folder.*KS023/2024-03-15/001"):
        AlfSession(tmp_path)
    assert AlfSession(tmp_path / "KS023/2024-03-15/001").objects  # one of them reads


# ------------------------------------------------------------------------------------ tolerance


def test_one_broken_annotation_keeps_the_event_series(tmp_path):
    _save(tmp_path, "alf/trials.intervals.npy", np.c_[np.arange(4.0), np.arange(4.0) + 0.5])
    _save(tmp_path, "alf/trials.choice.npy", np.ones(4))
    broken = _save(tmp_path, "alf/trials.feedbackType.npy", np.ones(4))
    broken.write_bytes(broken.read_bytes()[:-8])
    with pytest.warns(AlfWarning, match=r"trials\.feedbackType\.npy.*rule:"):
        reader = _reader(tmp_path)
    (ann,) = reader.raw_annotations["blocks"][0]["segments"][0]["events"]
    assert "choice" in ann["__array_annotations__"] and "feedbackType" not in ann["__array_annotations__"]
    assert reader.event_count(event_channel_index=0) == 4


def test_strict_raises_what_tolerant_mode_warns(tmp_path):
    _save(tmp_path, "alf/trials.intervals.npy", np.c_[np.arange(4.0), np.arange(4.0) + 0.5])
    _save(tmp_path, "alf/trials.choice.npy", np.ones(3))
    with pytest.raises(AlfDimensionError, match=r"trials\.choice\.npy"):
        _reader(tmp_path, strict=True)
    with pytest.warns(AlfWarning, match=r"trials\.choice\.npy"):
        layout = build_layout(AlfSession(tmp_path))
    assert len(layout.events) == 1 and "choice" not in layout.events[0].annotations


def test_camera_times_longer_than_dlc_is_a_tolerated_quirk(tmp_path):
    _save(tmp_path, "alf/_ibl_leftCamera.times.npy", np.arange(13.0) / 60)
    _save(tmp_path, "alf/leftCamera.ROIMotionEnergy.npy", np.zeros(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)
        reader = _reader(tmp_path)
    assert reader.event_count(event_channel_index=0) == 13 and reader.problems == []
    assert any("tolerated" in n for n in reader.layout.notes)
    notes = []
    assert AlfSession(tmp_path).validate(notes) == [] and any("camera times" in n for n in notes)


def test_float_attribute_named_after_an_object_is_data(tmp_path):
    folder = "alf/probe00/iblsorter"
    _save(tmp_path, f"{folder}/spikes.times.npy", [1.0, 2.0])
    _save(tmp_path, f"{folder}/spikes.clusters.npy", np.array([0, 1]))
    _save(tmp_path, f"{folder}/clusters.depths.npy", [10.0, 20.0])
    _save(tmp_path, f"{folder}/clusters.waveforms.npy", np.zeros((2, 82, 4), np.float32))
    _save(tmp_path, f"{folder}/waveforms.traces.npy", np.zeros((7, 82, 4), np.float32))
    _save(tmp_path, f"{folder}/waveforms.templates.npy", np.zeros((3, 82, 4), np.float32))
    session = AlfSession(tmp_path)
    assert session.validate() == []
    assert neo_alf.load_object(tmp_path, "clusters", collection=folder)["waveforms"].shape == (2, 82, 4)
    with pytest.warns(AlfWarning):  # different rows by design: ONE-api warns and loads too
        waveforms = neo_alf.load_object(tmp_path, "waveforms", collection=folder)
    assert waveforms["traces"].shape[0] == 7


# ---------------------------------------------------------------------------------- Neo semantics


def test_neo_users_slice_from_zero(make_generated):
    gen = make_generated("tiny")
    block = AlfIO(gen.path).read_block(lazy=True)
    seg = block.segments[0]
    assert seg.t_start == 0 * pq_units.s and block.rec_datetime.date().isoformat() == "2024-03-15"
    for proxy in [*seg.spiketrains, *seg.events, *seg.epochs, *seg.irregularlysampledsignals]:
        obj = proxy.load(time_slice=(0 * pq_units.s, 5 * pq_units.s))  # raised before: t_start 0.0123 s
        assert (obj.times >= 0 * pq_units.s).all() and (obj.times <= 5 * pq_units.s).all()
    for obj in [*seg.spiketrains, *seg.events, *seg.epochs, *seg.analogsignals]:
        assert type(obj.name) is str
    names = [e.name for e in [*seg.events, *seg.epochs]]
    assert len(set(names)) == len(names)
    with pytest.raises(ValueError, match="outside"):  # every proxy honours strict_slicing alike
        seg.irregularlysampledsignals[0].load(time_slice=(-5 * pq_units.s, 1 * pq_units.s))
    clipped = seg.irregularlysampledsignals[0].load(
        time_slice=(-5 * pq_units.s, 1 * pq_units.s), strict_slicing=False
    )
    assert clipped.times[0] >= 0 * pq_units.s


def test_standard_units_where_metadata_say_nothing(make_generated):
    gen = make_generated("tiny")
    block = AlfIO(gen.path).read_block()
    (wheel,) = block.segments[0].irregularlysampledsignals
    assert wheel.units == pq_units.rad
    st = block.segments[0].spiketrains[0]
    assert st.annotations["array_annotation_units"] == {"amps": "V", "depths": "um"}
    assert set(st.array_annotations) >= {"amps", "depths"}


# ------------------------------------------------------------------------------------ header cost


def test_each_header_and_metadata_file_is_read_once(make_generated, monkeypatch):
    gen = make_generated("two_probes")
    counts: collections.Counter = collections.Counter()
    for name in ("_read_npy_header", "read_metadata", "_table_rows", "_bin_layout"):
        original = getattr(readers, name)

        def counting(path, *args, _original=original, **kwargs):
            counts[os.fspath(path)] += 1
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(readers, name, counting)
    before = snapshot(gen.path)
    _reader(gen.path)
    twice = {p: n for p, n in counts.items() if n > 1}
    assert not twice, twice
    assert len(counts) > 20 and snapshot(gen.path) == before


# ------------------------------------------------------------------------- files that change


@pytest.mark.parametrize("when", ["before the first read", "after the first read"])
def test_a_signal_file_that_shrinks_under_an_open_reader_raises(fresh_session, when):
    gen = fresh_session("tiny")
    reader = _reader(gen.path)
    stream = list(reader.header["signal_streams"]["name"]).index("raw_ephys_data/probe00/lfp")
    n = reader.get_signal_size(0, 0, stream)
    if when == "after the first read":
        assert reader.get_analogsignal_chunk(stream_index=stream, i_start=n - 10, i_stop=n).shape[0] == 10
    path = gen.path / "raw_ephys_data/probe00/lfp.raw.bin"
    os.truncate(path, path.stat().st_size // 2)  # a memory map would turn the next read into SIGBUS
    with pytest.raises(neo_alf.AlfFormatError, match=r"lfp\.raw\.bin.*truncated while open"):
        reader.get_analogsignal_chunk(stream_index=stream, i_start=n - 10, i_stop=n)
    wheel = AlfIO(gen.path).read_block(lazy=True).segments[0].irregularlysampledsignals[0]
    (gen.path / "alf/_ibl_wheel.position.npy").write_bytes(b"")
    with pytest.raises(neo_alf.AlfFormatError, match=r"_ibl_wheel\.position\.npy"):
        wheel.load()


def test_brain_regions_by_name_beside_their_ids(make_generated):
    pytest.importorskip("iblatlas")
    from iblatlas.regions import BrainRegions

    gen = make_generated("tiny")
    block = AlfIO(gen.path).read_block(lazy=True)
    regions = BrainRegions()
    for st in block.segments[0].spiketrains:
        region = st.annotations.get("channel_brainLocationIds_ccf_2017")
        if region is None:
            continue
        row = int(np.flatnonzero(regions.id == region)[0])
        assert st.annotations["channel_brainLocation_acronym"] == regions.acronym[row]
        assert st.annotations["channel_brainLocation_name"] == regions.name[row]
