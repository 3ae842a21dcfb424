"""neo_alf.nwb.write_nwb: real NWB files, validated, inspected, and read back against the ALF files."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from neo_alf import AlfSession, AlfWarning, export  # noqa: E402
from neo_alf import nwb as nwb_module  # noqa: E402
from neo_alf.export import unit_order  # noqa: E402
from neo_alf.nwb import write_nwb  # noqa: E402
from neo_alf.testing import make_session  # noqa: E402

COLLECTIONS = ("alf/probe00/pykilosort", "alf/probe01/pykilosort")


def _write(tmp_path_factory, preset: str, **kwargs):
    root = tmp_path_factory.mktemp(preset)
    gen = make_session(root / "data", preset)
    out = root / "out.nwb"
    write_nwb(gen.path, out, **kwargs)
    return gen, out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _write(tmp_path_factory, "tiny")


@pytest.fixture(scope="module")
def tiny_read(tiny):
    _, out = tiny
    io = pynwb.NWBHDF5IO(str(out), mode="r")
    yield io.read()
    io.close()


def _npy(path):
    # independent of neo-alf's readers: plain numpy
    return np.load(path, allow_pickle=False)


def _blocking_messages(path):
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    return [m for m in messages if m.importance.value >= Importance.BEST_PRACTICE_VIOLATION.value]


# ----------------------------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    "preset", ["tiny", "only_spikes", "no_clusters_object", "no_spike_clusters", "no_spikes"]
)
def test_valid_and_inspected(tmp_path_factory, preset):
    _, out = _write(tmp_path_factory, preset)
    assert list(pynwb.validate(path=str(out))) == []
    blocking = _blocking_messages(out)
    assert blocking == [], [(m.check_function_name, m.location, m.message) for m in blocking]


def test_metadata(tiny_read):
    from neo_alf.one.index import session_eid

    f = tiny_read
    assert f.identifier == session_eid("cortexlab", "KS023", "2024-03-15", 1)
    assert f.subject.subject_id == "KS023"
    assert f.lab == "cortexlab"
    assert f.session_start_time.date().isoformat() == "2024-03-15"


def test_metadata_from_the_caller(tmp_path):
    from datetime import datetime, timezone

    gen = make_session(tmp_path / "data", "only_spikes")
    start = datetime(2024, 3, 15, 13, 5, tzinfo=timezone.utc)
    out = write_nwb(
        gen.path,
        tmp_path / "m.nwb",
        eid="0c5b8b2c-5f3e-4a0e-9d6c-1b2a3c4d5e6f",
        session_start_time=start,
        subject={"sex": "F", "age": "P90D", "species": "Mus musculus"},
        nwbfile_fields={"experimenter": ["Doe, Jane"], "institution": "UCL"},
        spike_resolution=1 / 25000,
    )
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        assert f.identifier == "0c5b8b2c-5f3e-4a0e-9d6c-1b2a3c4d5e6f"
        assert f.session_start_time == start
        assert (f.subject.sex, f.subject.age) == ("F", "P90D")
        assert f.experimenter == ("Doe, Jane",) and f.institution == "UCL"
        assert f.units.resolution == pytest.approx(1 / 25000)
    from nwbinspector import inspect_nwbfile

    names = {m.check_function_name for m in inspect_nwbfile(nwbfile_path=str(out))}
    assert "check_experimenter_exists" not in names and "check_institution" not in names


def test_existing_file_needs_overwrite(tiny):
    gen, out = tiny
    size = out.stat().st_size
    with pytest.raises(FileExistsError):
        write_nwb(gen.path, out)
    assert out.stat().st_size == size
    assert sorted(p.name for p in out.parent.iterdir() if p.is_file()) == ["out.nwb"]  # nothing partial


# -------------------------------------------------------------------------------------------- units


def test_every_unit_spike_times_and_columns_equal_alf(tiny, tiny_read):
    gen, _ = tiny
    units = tiny_read.units
    electrodes = tiny_read.electrodes
    df = units.to_dataframe(index=True)
    seen = 0
    for collection in COLLECTIONS:
        folder = gen.path / collection
        # the newest revision of spikes.times (probe00 has one); the rest outside revisions
        revised = sorted(folder.glob("#*#/spikes.times.npy"))
        times = _npy(revised[-1] if revised else folder / "spikes.times.npy")
        clusters = _npy(folder / "spikes.clusters.npy")
        amps, depths = _npy(folder / "spikes.amps.npy"), _npy(folder / "spikes.depths.npy")
        cl_channels = _npy(folder / "clusters.channels.npy")
        cl_depths = _npy(folder / "clusters.depths.npy")
        uuids = (folder / "clusters.uuids.csv").read_text().split()[1:]
        regions = _npy(folder / "channels.brainLocationIds_ccf_2017.npy")
        local = _npy(folder / "channels.localCoordinates.npy")
        rows = df[df["collection"] == collection]
        assert len(rows) == cl_depths.size  # every clusters.* row, empty ones included
        truth = gen.truth["probes"][collection]
        for i, row in rows.iterrows():
            cid = int(row["cluster_id"])
            mask = clusters == cid
            np.testing.assert_array_equal(units["spike_times"][i], times[mask])
            np.testing.assert_array_equal(units["spikes.amps"][i], amps[mask])
            np.testing.assert_array_equal(units["spikes.depths"][i], depths[mask])
            assert len(units["spike_times"][i]) == truth["spike_counts"][cid]
            assert row["clusters.depths"] == cl_depths[cid]
            assert row["clusters.channels"] == cl_channels[cid]
            assert row["clusters.uuids"] == uuids[cid]
            channel = cl_channels[cid]
            assert row["channels.brainLocationIds_ccf_2017"] == regions[channel]
            np.testing.assert_array_equal(row["channels.localCoordinates"], local[channel])
            (electrode,) = units["electrodes"][i].index  # the link to the unit's channel
            assert electrodes["collection"][electrode] == collection
            assert electrodes["channel_index"][electrode] == channel
            seen += 1
    assert seen == len(df)
    assert units.resolution == pytest.approx(1 / 30000)


def test_regions_in_electrodes(tiny, tiny_read):
    gen, _ = tiny
    iblatlas = pytest.importorskip("iblatlas.regions")
    br = iblatlas.BrainRegions()
    e = tiny_read.electrodes.to_dataframe()
    for collection in COLLECTIONS:
        ids = _npy(gen.path / collection / "channels.brainLocationIds_ccf_2017.npy")
        rows = e[e["collection"] == collection]
        np.testing.assert_array_equal(rows["channels.brainLocationIds_ccf_2017"].to_numpy(), ids)
        acronyms = br.id2acronym(ids)
        assert rows["brain_region"].tolist() == list(acronyms)
        names = [br.name[np.flatnonzero(br.id == i)[0]] for i in ids]
        assert rows["brain_region_name"].tolist() == names
        # location: an Allen term; IBL's void (0, outside the brain) is not one
        expected = ["root" if a == "void" else a for a in acronyms]
        assert rows["location"].tolist() == expected
        assert set(rows["group_name"]) == {collection.split("/")[1]}


# ------------------------------------------------------------------------------- trials, behaviour


def test_every_trial_column_equals_alf(tiny, tiny_read):
    gen, _ = tiny
    alf = gen.path / "alf"
    trials = tiny_read.trials
    files = sorted(alf.glob("_ibl_trials.*.npy"))
    assert len(files) == 13
    for f in files:
        attribute = f.name[len("_ibl_trials.") : -len(".npy")]
        values = _npy(f)
        if attribute == "intervals":
            np.testing.assert_array_equal(trials["start_time"][:], values[:, 0])
            np.testing.assert_array_equal(trials["stop_time"][:], values[:, 1])
        else:
            np.testing.assert_array_equal(trials[attribute][:], values)  # NaN where ALF has NaN
    assert np.isnan(trials["firstMovement_times"][:]).sum() == gen.truth["trials"]["n_nan_first_movement"]


def test_wheel_and_moves(tiny, tiny_read):
    gen, _ = tiny
    alf = gen.path / "alf"
    series = tiny_read.processing["behavior"]["Position"]["wheel.position"]
    np.testing.assert_array_equal(series.data[:], _npy(alf / "_ibl_wheel.position.npy"))
    np.testing.assert_array_equal(series.timestamps[:], _npy(alf / "_ibl_wheel.timestamps.npy"))
    assert series.unit == "radians"
    moves = tiny_read.intervals["wheelMoves"]
    intervals = _npy(alf / "_ibl_wheelMoves.intervals.npy")
    np.testing.assert_array_equal(moves["start_time"][:], intervals[:, 0])
    np.testing.assert_array_equal(moves["peakAmplitude"][:], _npy(alf / "_ibl_wheelMoves.peakAmplitude.npy"))


def test_events(tiny, tiny_read):
    gen, _ = tiny
    alf = gen.path / "alf"
    licks = np.concatenate([_npy(alf / "licks.times.part001.npy"), _npy(alf / "licks.times.part002.npy")])
    np.testing.assert_array_equal(tiny_read.events["licks"]["timestamp"][:], licks)
    camera = _npy(alf / "_ibl_leftCamera.times.npy")
    np.testing.assert_array_equal(tiny_read.events["leftCamera"]["timestamp"][:], camera)
    assert type(tiny_read.events["licks"]).__name__ == "EventsTable"


def test_regular_signals(tiny, tiny_read):
    gen, _ = tiny
    lfp = gen.truth["lfp"]
    series = tiny_read.acquisition["lfp.raw"]
    raw = np.fromfile(gen.path / lfp["collection"] / "lfp.raw.bin", dtype=np.float32)
    np.testing.assert_array_equal(series.data[:], raw.reshape(-1, lfp["n_channels"]))
    assert series.rate == pytest.approx(lfp["rate"])
    assert series.starting_time == pytest.approx(lfp["t_start"])
    assert series.unit == "uV"
    assert series.data.compression == "gzip" and series.data.chunks is not None
    head = tiny_read.processing["behavior"]["headTracking.xyPos"]
    assert head.unit == "cm"
    assert head.rate == pytest.approx(30.0)
    assert head.data.shape == (gen.truth["head_tracking"]["n"], 2)


# ------------------------------------------------------------------------------------------ provenance


def test_provenance_lists_every_file_with_md5(tiny, tiny_read):
    gen, _ = tiny
    table = tiny_read.processing["alf"]["alf_datasets"].to_dataframe()
    session = AlfSession(gen.path)
    expected = {rel for d in session.datasets for rel in d.rel_paths}
    assert set(table["rel_path"]) == expected
    for _, row in table.iterrows():
        if row["nwb_target"]:
            digest = hashlib.md5((gen.path / row["rel_path"]).read_bytes()).hexdigest()
            assert row["md5"] == digest
    written = table.set_index("rel_path")["nwb_target"]
    assert written["alf/probe00/pykilosort/#2024-05-06#/spikes.times.npy"] == "units"
    assert written["alf/_ibl_trials.stimOn_times.npy"] == "intervals/trials"
    assert written["alf/licks.times.part002.npy"] == "events/licks"
    revision = table.set_index("rel_path")["revision"]
    assert revision["alf/probe00/pykilosort/#2024-05-06#/spikes.times.npy"] == "2024-05-06"


# ---------------------------------------------------------------------------------- other layouts


def test_units_without_clusters_table(tmp_path_factory):
    gen, out = _write(tmp_path_factory, "no_clusters_object")
    folder = gen.path / "alf/probe00/pykilosort"
    times, clusters = _npy(folder / "spikes.times.npy"), _npy(folder / "spikes.clusters.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        units = io.read().units
        ids = units["cluster_id"][:]
        np.testing.assert_array_equal(ids, np.unique(clusters))  # the ids present
        for i, cid in enumerate(ids):
            np.testing.assert_array_equal(units["spike_times"][i], times[clusters == cid])


def test_single_unit_without_spike_clusters(tmp_path_factory):
    gen, out = _write(tmp_path_factory, "no_spike_clusters")
    times = _npy(gen.path / "alf/probe00/pykilosort/spikes.times.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        units = io.read().units
        assert len(units) == 1
        np.testing.assert_array_equal(units["spike_times"][0], times)


def test_small_pieces_cross_every_edge(tmp_path_factory, monkeypatch):
    """Gathers and signal blocks much smaller than the data: the same file content."""
    monkeypatch.setattr(nwb_module, "_ROWS", 7)  # gathered pieces
    monkeypatch.setattr(export, "ROWS", 5)  # blocks read, passes of the sort
    monkeypatch.setattr(nwb_module, "_SIGNAL_BLOCK_BYTES", 100)
    gen, out = _write(tmp_path_factory, "tiny")
    folder = gen.path / "alf/probe01/pykilosort"
    times, clusters = _npy(folder / "spikes.times.npy"), _npy(folder / "spikes.clusters.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        df = f.units.to_dataframe()
        for i, row in df[df["collection"] == "alf/probe01/pykilosort"].iterrows():
            np.testing.assert_array_equal(f.units["spike_times"][i], times[clusters == row["cluster_id"]])
        lfp = gen.truth["lfp"]
        raw = np.fromfile(gen.path / lfp["collection"] / "lfp.raw.bin", dtype=np.float32)
        np.testing.assert_array_equal(f.acquisition["lfp.raw"].data[:], raw.reshape(-1, lfp["n_channels"]))


@pytest.mark.parametrize("n_units", [12, 70_000])  # 16-bit radix keys, and wider ones
def test_unit_order_is_a_stable_sort(tmp_path, n_units):
    rng = np.random.default_rng(3)
    clusters = rng.integers(0, n_units - 3, 1000).astype(np.uint32)
    path = tmp_path / "spikes.clusters.npy"
    np.save(path, clusters)
    (tmp_path / "spikes.times.npy").write_bytes(b"")  # not read
    session = AlfSession(tmp_path)
    ds = session.dataset("spikes.clusters")
    for rows in (3, 1 << 20):
        export.ROWS, saved = rows, export.ROWS
        try:
            order = unit_order(ds, clusters.size, n_units)
        finally:
            export.ROWS = saved
        np.testing.assert_array_equal(order.order, np.argsort(clusters, kind="stable"))
        np.testing.assert_array_equal(order.counts, np.bincount(clusters, minlength=n_units))
        np.testing.assert_array_equal(order.unit_ids, np.arange(n_units))


def test_unit_order_refuses_indices_past_the_table(tmp_path):
    from neo_alf import AlfRelationError

    np.save(tmp_path / "spikes.clusters.npy", np.array([0, 5, 2], dtype=np.int64))
    ds = AlfSession(tmp_path).dataset("spikes.clusters")
    with pytest.raises(AlfRelationError, match="clusters"):
        unit_order(ds, 3, 4)


def test_broken_object_is_left_out_with_a_warning(tmp_path):
    gen = make_session(tmp_path / "data", "tiny")
    # wheelMoves with rows that differ: breaks the equal-rows rule
    np.save(gen.path / "alf/_ibl_wheelMoves.peakAmplitude.npy", np.zeros(3))
    out = tmp_path / "out.nwb"
    with pytest.warns(AlfWarning, match="wheelMoves"):
        write_nwb(gen.path, out)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        assert "wheelMoves" not in f.intervals
        assert len(f.trials) == gen.truth["trials"]["n"]
    with pytest.raises(Exception, match="row counts"):
        write_nwb(gen.path, out, overwrite=True, strict=True)


def test_convert_without_warnings_on_a_clean_session(tmp_path):
    gen = make_session(tmp_path / "data", "one_probe")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)
        write_nwb(gen.path, tmp_path / "x.nwb")
    json.dumps(gen.truth)  # the truth stays serialisable (used by the manifest)


# ----------------------------------------------------------------------------------------- raw=True


class _FakeRawStream:
    """The RawStream interface of neo_alf.spikeglx (another branch), over a real int16 file."""

    def __init__(self, path, name, n_channels, units, gains, session_path):
        self.name = name
        self.collection = "raw_ephys_data/probe00"
        self.files = (str(path),)
        self.sampling_rate = 30000.0
        self.n_samples = path.stat().st_size // (2 * n_channels)
        self.channel_names = tuple(f"ch{i}" for i in range(n_channels))
        self.channel_ids = self.channel_names
        self.gains = np.asarray(gains, dtype=np.float64)
        self.offsets = np.zeros(n_channels)
        self.units = tuple(units)
        self.t_start = 0.25
        self.rate_in_session = 30000.0 * (1 + 2e-6)
        self._path = path
        self._n = n_channels

    def read(self, i_start, i_stop, channel_indexes=None):
        data = np.fromfile(self._path, dtype=np.int16).reshape(-1, self._n)[i_start:i_stop]
        return data if channel_indexes is None else data[:, channel_indexes]


def test_raw_streams_through_the_spikeglx_interface(tmp_path, monkeypatch):
    import sys
    import types

    gen = make_session(tmp_path / "data", "tiny")
    folder = gen.path / "raw_ephys_data/probe00"
    rng = np.random.default_rng(0)
    ap = rng.integers(-500, 500, (3001, 10), dtype=np.int16)  # 10 channels: 8 have channels.* rows
    sync = rng.integers(0, 2, (3001, 1), dtype=np.int16)
    ap_path, sync_path = folder / "_spikeglx_ephysData_g0_t0.imec0.ap.bin", folder / "sync_stream.bin"
    ap.tofile(ap_path)
    sync.tofile(sync_path)
    gain = 2.34375
    streams = [
        _FakeRawStream(ap_path, "probe00.ap", 10, ["uV"] * 10, [gain] * 10, gen.path),
        _FakeRawStream(sync_path, "probe00.ap-sync", 1, [""], [1.0], gen.path),
    ]
    fake = types.ModuleType("neo_alf.spikeglx")
    fake.find_raw_streams = lambda session_path, rel_paths=None: streams
    monkeypatch.setitem(sys.modules, "neo_alf.spikeglx", fake)
    out = tmp_path / "raw.nwb"
    monkeypatch.setattr(nwb_module, "_SIGNAL_BLOCK_BYTES", 4000)  # many blocks
    write_nwb(gen.path, out, raw=True)
    assert list(pynwb.validate(path=str(out))) == []
    blocking = _blocking_messages(out)
    assert blocking == [], [(m.check_function_name, m.message) for m in blocking]
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        series = f.acquisition["probe00.ap"]
        np.testing.assert_array_equal(series.data[:], ap)
        assert series.conversion == pytest.approx(gain * 1e-6)
        assert series.rate == pytest.approx(30000.0 * (1 + 2e-6))
        assert series.starting_time == 0.25
        electrodes = f.electrodes.to_dataframe()
        rows = series.electrodes.data[:]
        raw_ind = _npy(gen.path / "alf/probe00/pykilosort/channels.rawInd.npy")
        for channel in range(10):
            row = electrodes.iloc[rows[channel]]
            assert row["group_name"] == "probe00"
            if channel in raw_ind:  # matched to the sorted channel's row, regions included
                assert row["channels.rawInd"] == channel
                assert row["collection"] == "alf/probe00/pykilosort"
            else:
                assert row["location"] == "root"
        np.testing.assert_array_equal(f.acquisition["probe00.ap-sync"].data[:], sync)
        table = f.processing["alf"]["alf_datasets"].to_dataframe().set_index("rel_path")
        rel = "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.bin"
        assert table.loc[rel, "nwb_target"] == "acquisition/probe00.ap"
        assert table.loc[rel, "md5"] == ""  # raw recordings are not hashed


def test_raw_without_the_spikeglx_module(tmp_path, monkeypatch):
    import sys

    from neo_alf import AlfDependencyError

    gen = make_session(tmp_path / "data", "tiny")
    monkeypatch.setitem(sys.modules, "neo_alf.spikeglx", None)  # import fails
    with pytest.raises(AlfDependencyError, match="spikeglx"):
        write_nwb(gen.path, tmp_path / "x.nwb", raw=True)
    assert not (tmp_path / "x.nwb").exists()


def _write_trials_table(session_path, rng):
    """IBL's current layout: alf/task_00/_ibl_trials.table.pqt plus a few npy beside it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 7
    start = np.sort(rng.uniform(0, 50, n)) + np.arange(n) * 10
    columns = {
        "intervals_0": start,
        "intervals_1": start + 2.0,
        "stimOn_times": start + 0.5,
        "firstMovement_times": np.where(np.arange(n) % 3 == 0, np.nan, start + 0.7),
        "choice": rng.choice([-1.0, 0.0, 1.0], n),
        "contrastLeft": np.where(np.arange(n) % 2 == 0, np.nan, 0.25),
    }
    folder = session_path / "alf/task_00"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(columns), folder / "_ibl_trials.table.pqt")
    stim_off = start + 1.5
    np.save(folder / "_ibl_trials.stimOff_times.npy", stim_off)
    return {**columns, "stimOff_times": stim_off}


def test_trials_table_parquet_is_merged(tmp_path):
    gen = make_session(tmp_path / "data", "tiny")
    truth = _write_trials_table(gen.path, np.random.default_rng(5))
    out = tmp_path / "t.nwb"
    write_nwb(gen.path, out)
    assert _blocking_messages(out) == []
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        table = f.intervals["alf_task_00_trials"]
        np.testing.assert_array_equal(table["start_time"][:], truth["intervals_0"])
        np.testing.assert_array_equal(table["stop_time"][:], truth["intervals_1"])
        for key in ("stimOn_times", "firstMovement_times", "choice", "contrastLeft", "stimOff_times"):
            np.testing.assert_array_equal(table[key][:], truth[key])
        assert "intervals_0" not in table.colnames
        assert len(f.trials) == gen.truth["trials"]["n"]  # the first trials object (collection alf)


def test_a_broken_per_spike_attribute_leaves_the_units(tmp_path):
    gen = make_session(tmp_path / "data", "one_probe")
    folder = gen.path / "alf/probe00/pykilosort"
    (folder / "spikes.amps.tsv").write_text("amps\n1.0\n")  # the same dataset in two file types
    out = tmp_path / "out.nwb"
    with pytest.warns(AlfWarning, match="spikes.amps"):
        write_nwb(gen.path, out)
    times, clusters = _npy(folder / "spikes.times.npy"), _npy(folder / "spikes.clusters.npy")
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        units = io.read().units
        assert "spikes.amps" not in units.colnames and "spikes.depths" in units.colnames
        table = io.read().processing["alf"]["alf_datasets"].to_dataframe().set_index("rel_path")
        assert table.loc["alf/probe00/pykilosort/spikes.amps.tsv", "nwb_target"] == ""  # not written
        assert table.loc["alf/probe00/pykilosort/spikes.depths.npy", "nwb_target"] == "units"
        for i, cid in enumerate(units["cluster_id"][:]):
            np.testing.assert_array_equal(units["spike_times"][i], times[clusters == cid])
    with pytest.raises(Exception, match="file types"):
        write_nwb(gen.path, out, overwrite=True, strict=True)


def test_irregular_sync_clock_and_shared_timestamps(tmp_path):
    """A continuous object on a piecewise-linear clock (3 sync points), two attributes: timestamps
    interpolated exactly as ALF says, written once and shared."""
    gen = make_session(tmp_path / "data", "only_spikes")
    folder = gen.path / "alf"
    folder.mkdir(exist_ok=True)
    n = 1001
    sync = np.array([[0.0, 2.0], [500.0, 2.5], [1000.0, 3.5]])  # 1 kHz, then 500 Hz
    np.save(folder / "pupil.timestamps.npy", sync)
    diameter = np.linspace(1, 2, n)
    np.save(folder / "pupil.diameter.npy", diameter)
    np.save(folder / "pupil.xy.npy", np.c_[diameter, -diameter])
    out = write_nwb(gen.path, tmp_path / "p.nwb")
    expected = np.interp(np.arange(n), sync[:, 0], sync[:, 1])
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        behavior = io.read().processing["behavior"]
        first, second = behavior["pupil.diameter"], behavior["pupil.xy"]
        np.testing.assert_allclose(first.timestamps[:], expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(first.data[:], diameter)
        np.testing.assert_array_equal(second.data[:], np.c_[diameter, -diameter])
        np.testing.assert_array_equal(second.timestamps[:], first.timestamps[:])
    import h5py

    with h5py.File(out, "r") as h5:
        group = h5["processing/behavior"]
        assert isinstance(group["pupil.diameter"].get("timestamps", getlink=True), h5py.HardLink)
        # the second series links the first one's timestamps instead of a copy
        assert group["pupil.xy/timestamps"] == group["pupil.diameter/timestamps"]
    assert _blocking_messages(out) == []


def test_raw_streams_from_real_spikeglx_files(tmp_path):
    """raw=True on real .cbin recordings (mtscomp) read by neo_alf.spikeglx: int16 samples equal
    mtscomp's own decompression, in microvolts through the meta gains."""
    import mtscomp

    from neo_alf.spikeglx import find_raw_streams
    from neo_alf.testing_spikeglx import make_raw_session

    gen = make_raw_session(tmp_path / "KS023/2024-03-15/001", duration=0.5)
    out = tmp_path / "raw.nwb"
    write_nwb(gen.path, out, raw=True)
    ap = next(s for s in find_raw_streams(gen.path) if s.name == "probe00.ap")
    cbin = next(p for p in ap.files if p.endswith(".ap.cbin"))
    reader = mtscomp.Reader()
    reader.open(cbin, cbin[: -len("cbin")] + "ch")
    expected = reader[:][:, : len(ap.channel_names)]
    reader.close()
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        f = io.read()
        series = next(v for k, v in f.acquisition.items() if "probe00.ap" in k and "SYNC" not in k)
        np.testing.assert_array_equal(np.asarray(series.data[:]), expected)
        volts_per_count = series.channel_conversion[:] * series.conversion
        np.testing.assert_allclose(volts_per_count * 1e6, ap.gains, rtol=1e-6)
