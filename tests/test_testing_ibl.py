"""The IBL-layout generator (neo_alf.testing_ibl): names, ONE-api loading, raw files, truth, bytes."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neo_alf import testing_ibl
from neo_alf.testing_ibl import FIXTURE_REL_PATHS, fixture_rel_paths, make_ibl_session

one_alfio = pytest.importorskip("one.alf.io")
mtscomp = pytest.importorskip("mtscomp")

LAYOUTS = ("2024", "2020")

# Objects that ONE-api 3.6.1's load_object itself cannot load, with the error it raises: the
# SpikeGLX file group (``.imec0.ap.cbin`` and ``.imec0.ap.meta`` give the same key) and the
# older raw video folder (``timestamps.ssv`` makes ONE read a shape from the mp4 path).
ONE_CANNOT_LOAD = {
    ("2024", "raw_ephys_data", "ephysData_g0_t0"): AssertionError,
    ("2024", "raw_ephys_data/probe00", "ephysData_g0_t0"): AssertionError,
    ("2020", "raw_ephys_data", "ephysData_g0_t0"): AssertionError,
    ("2020", "raw_ephys_data/probe00", "ephysData_g0_t0"): AssertionError,
    ("2020", "raw_video_data", "leftCamera"): AttributeError,
    ("2020", "raw_video_data", "rightCamera"): AttributeError,
    ("2020", "raw_video_data", "bodyCamera"): AttributeError,
}

# sha256 over (rel_path, file sha256) of every file whose bytes the generator promises across
# NumPy versions (everything but parquet, which embeds the pyarrow version, and zlib outputs).
# Regenerate on purpose with: python -c "from tests.test_testing_ibl import _print_digests; _print_digests()"
DIGESTS = {
    "2024": "7d0e09e5d7a65bb42739c6ac1e0dbb98714f873d92e751356ae86d998f9c204f",
    "2020": "8d65f9423bf30becd83b5fc82a7b4add5b09054a06ac0098e86806bf7acfb8ea",
}
UNSTABLE_EXTENSIONS = (".pqt", ".cbin", ".ch", ".zip")


def _stable_digest(session) -> str:
    h = hashlib.sha256()
    for rel in session.rel_paths:
        if rel.endswith(UNSTABLE_EXTENSIONS):
            continue
        h.update(rel.encode() + b"\0" + hashlib.sha256((session.path / rel).read_bytes()).digest())
    return h.hexdigest()


def _print_digests() -> None:  # pragma: no cover - maintenance helper
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for layout in LAYOUTS:
            print(layout, _stable_digest(make_ibl_session(tmp, layout)))


@pytest.fixture(scope="module", params=LAYOUTS)
def session(request, both):
    return both[request.param]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("both")
    return {layout: make_ibl_session(root, layout) for layout in LAYOUTS}


def _objects(folder: Path) -> list[str]:
    from one.alf.path import ALFPath

    return sorted({ALFPath(f).object for f in folder.iterdir() if f.is_file()} - {None})


# -- names -------------------------------------------------------------------------------------


def test_fixture_constant_is_one_api_fixture():
    assert FIXTURE_REL_PATHS == fixture_rel_paths()
    assert len(FIXTURE_REL_PATHS) == 153


def test_every_fixture_rel_path_is_written(both):
    written = set(both["2024"].rel_paths) | set(both["2020"].rel_paths)
    assert set(FIXTURE_REL_PATHS) - written == set()
    for s in both.values():
        on_disk = {str(p.relative_to(s.path)) for p in s.path.rglob("*") if p.is_file()}
        assert on_disk == set(s.rel_paths)


def test_layout_specific_names(both):
    new, old = set(both["2024"].rel_paths), set(both["2020"].rel_paths)
    for rel in (
        "alf/task_00/_ibl_trials.table.pqt",
        "alf/task_00/_ibl_trials.included.npy",
        "alf/task_01/_ibl_passiveGabor.table.csv",
        "alf/task_01/_ibl_passivePeriods.intervalsTable.csv",
        "alf/probe00/iblsorter/waveforms.channels.npz",
        "alf/probe00/iblsorter/waveforms.traces.npy",
        "alf/probe00/iblsorter/passingSpikes.table.pqt",
        "alf/probe00/iblsorter/clusters.metrics.pqt",
        "alf/_ibl_leftCamera.dlc.pqt",
        "alf/leftCamera.ROIMotionEnergy.npy",
        "raw_video_data/_iblrig_leftCamera.frameData.bin",
        "_ibl_experiment.description.yaml",
        "alf/probe00/iblsorter/_ibl_log.info_iblsorter.log",
        "spike_sorters/iblsorter/probe00/_kilosort_raw.output.tar",
        "raw_passive_data/_iblrig_encoderEvents.raw.ssv",
    ):
        assert rel in new, rel
    assert not any(p.startswith("alf/_ibl_trials.") for p in new)
    for rel in (
        "alf/probe00/spikes.times.npy",
        "alf/probe00/pykilosort/spikes.times.npy",
        "alf/probe00/pykilosort/#2021-03-10#/spikes.times.npy",
        "raw_video_data/_iblrig_leftCamera.timestamps.ssv",
        "alf/_ibl_trials.intervals.npy",
    ):
        assert rel in old, rel
    assert (both["2024"].path / "raw_passive_data/_iblrig_encoderEvents.raw.ssv").stat().st_size == 0
    assert set(both["2024"].not_read) <= new


# -- ONE-api reads what was written ------------------------------------------------------------


def test_one_load_object_every_object(session, caplog):
    caplog.set_level(logging.ERROR, logger="one")
    loaded = 0
    for collection in session.collections:
        folder = session.path / collection
        for obj in _objects(folder):
            expected_error = ONE_CANNOT_LOAD.get((session.layout, collection, obj))
            if expected_error:
                with pytest.raises(expected_error):
                    one_alfio.load_object(folder, obj)
                continue
            bunch = one_alfio.load_object(folder, obj)
            assert len(bunch) > 0, (collection, obj)
            loaded += 1
    assert loaded > 40


def test_one_trials_equal_truth(session):
    collection = "alf/task_00" if session.layout == "2024" else "alf"
    trials = one_alfio.load_object(session.path / collection, "trials")
    truth = session.trials[collection]
    assert set(trials) == set(truth)
    for key, value in truth.items():
        np.testing.assert_array_equal(np.asarray(trials[key]), value, err_msg=key)
    assert trials["intervals"].shape == (truth["choice"].size, 2)


def test_trials_nan_where_real_data_have_nan(session):
    collection = "alf/task_00" if session.layout == "2024" else "alf"
    t = session.trials[collection]
    nogo = t["choice"] == 0
    assert nogo.any() and (~nogo).any()
    np.testing.assert_array_equal(np.isnan(t["firstMovement_times"]), nogo)
    np.testing.assert_array_equal(np.isnan(t["contrastLeft"]), ~np.isnan(t["contrastRight"]))
    np.testing.assert_array_equal(
        session.nan_rows[f"{collection}/trials.firstMovement_times"], np.flatnonzero(nogo)
    )
    assert np.all(np.diff(t["intervals"][:, 0]) > 0)
    assert np.all(t["intervals"][:-1, 1] <= t["intervals"][1:, 0])
    assert np.all(t["stimOn_times"] > t["intervals"][:, 0])
    assert np.all(t["feedback_times"] < t["intervals"][:, 1])
    np.testing.assert_array_equal(t["rewardVolume"] > 0, t["feedbackType"] == 1)


def test_one_spikes_equal_truth(session):
    for collection, truth in session.sortings.items():
        spikes = one_alfio.load_object(session.path / collection, "spikes")
        np.testing.assert_array_equal(spikes["times"], truth.times)
        np.testing.assert_array_equal(spikes["clusters"], truth.clusters)
        assert spikes["clusters"].dtype.kind == "i"
        if truth.samples is not None:
            np.testing.assert_array_equal(spikes["samples"], truth.samples)
        assert np.all(np.diff(truth.times) >= 0)
        assert truth.clusters.max() < truth.n_clusters


def test_iblsorter_objects_as_ibl_neuropixel_writes_them(both):
    s = both["2024"]
    folder = s.path / "alf/probe00/iblsorter"
    truth = s.sortings["alf/probe00/iblsorter"]
    clusters = one_alfio.load_object(folder, "clusters")
    assert clusters["waveforms"].dtype == np.float32 and clusters["waveforms"].shape == (
        truth.n_clusters,
        82,
        32,
    )
    assert clusters["waveformsChannels"].dtype == np.int32
    assert isinstance(clusters["metrics"], pd.DataFrame)
    assert list(clusters["metrics"]["cluster_id"]) == list(range(truth.n_clusters))
    assert clusters["uuids"].size == truth.n_clusters
    wf = one_alfio.load_object(folder, "waveforms")
    n_wf = wf["traces"].shape[0]
    assert wf["templates"].shape[0] == truth.n_clusters != n_wf  # rows differ by design
    assert wf["traces"].dtype == np.float16
    assert wf["traces"].shape[1:] == wf["templates"].shape[1:] == (40, 128)  # (channels, samples)
    assert wf["cluster"].size == n_wf
    channels = np.load(folder / "waveforms.channels.npz", allow_pickle=False)["channels"]
    assert channels.shape == (n_wf, 40)
    np.testing.assert_array_equal(truth.samples[np.searchsorted(truth.samples, wf["sample"])], wf["sample"])
    passing = pd.read_parquet(folder / "passingSpikes.table.pqt")
    good = clusters["metrics"]["bitwise_fail"].to_numpy() == 0
    np.testing.assert_array_equal(good, clusters["metrics"]["label"].to_numpy() == 1)
    keep = good[truth.clusters]
    assert 0 < keep.sum() < truth.n_spikes
    np.testing.assert_array_equal(passing["times"], truth.times[keep])
    np.testing.assert_array_equal(passing["clusters"], truth.clusters[keep])
    assert passing["clusters"].dtype == np.uint16 and passing["amps"].dtype == np.float32


def test_camera_times_are_longer_than_dlc(session):
    for label, times in session.cameras["alf"].items():
        cam = one_alfio.load_object(session.path / "alf", f"{label}Camera")
        assert cam["times"].size == times.size == session.dlc_rows[label] + 3
        assert cam["dlc"].shape[0] == cam["ROIMotionEnergy"].shape[0] == session.dlc_rows[label]


def test_passive_tables(session):
    collection = "alf/task_01" if session.layout == "2024" else "alf"
    gabor = one_alfio.load_object(session.path / collection, "passiveGabor")
    truth = session.passive[collection]["gabor"]
    assert {"start", "stop", "position", "contrast", "phase"} <= set(gabor)
    np.testing.assert_array_equal(gabor["start"], truth["start"])
    assert np.all(truth["stop"] > truth["start"])
    text = (session.path / collection / "_ibl_passiveGabor.table.csv").read_text().splitlines()
    assert text[0].startswith(",start,stop")  # the pandas index column of the real files
    periods = pd.read_csv(session.path / collection / "_ibl_passivePeriods.intervalsTable.csv", index_col=0)
    assert list(periods.index) == ["start", "stop"]
    assert "spontaneousActivity" in periods.columns
    stims = one_alfio.load_object(session.path / collection, "passiveStims")
    for column in ("valveOn", "toneOn", "noiseOff"):
        rows = session.nan_rows[f"{collection}/passiveStims.{column}"]
        np.testing.assert_array_equal(np.flatnonzero(np.isnan(stims[column])), rows)
        assert 0 < rows.size < stims[column].size


# -- raw data ----------------------------------------------------------------------------------


def _meta(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.mark.parametrize(
    "stem,key",
    [
        ("raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap", "imec0.ap"),
        ("raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf", "imec0.lf"),
        ("raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq", "nidq"),
    ],
)
def test_mtscomp_reads_the_cbin(both, stem, key):
    s = both["2024"]
    reader = mtscomp.decompress(s.path / f"{stem}.cbin", s.path / f"{stem}.ch")
    data = reader[:]
    reader.close()
    truth = s.raw[key]
    assert data.shape == (truth["n_samples"], truth["n_channels"]) and data.dtype == np.int16
    assert hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() == truth["data_sha256"]
    meta = _meta(s.path / f"{stem}.meta")
    assert int(meta["nSavedChans"]) == truth["n_channels"]
    assert int(meta["fileSizeBytes"]) == data.nbytes
    assert meta["fileSHA1"] == hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest().upper()
    assert float(meta["fileTimeSecs"]) == pytest.approx(truth["n_samples"] / truth["fs"])
    if key.startswith("imec"):
        assert meta["imSampRate"] == str(int(truth["fs"]))
        assert meta["snsApLfSy"] == ("384,0,1" if key.endswith("ap") else "0,384,1")
        assert meta["~imroTbl"].startswith("(0,384)(0 0 0 500 250 1)")
        assert meta["~snsChanMap"].count("(") == 386
        assert meta["~snsGeomMap"].count("(") == 385


def test_sync_word_in_raw_data_matches_fronts(both):
    """The digital channel of the AP file holds the probe's sync fronts (bit 6)."""
    s = both["2024"]
    stem = "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf"
    reader = mtscomp.decompress(s.path / f"{stem}.cbin", s.path / f"{stem}.ch")
    word = reader[:][:, -1].view(np.uint16)
    reader.close()
    high = (word >> 6) & 1
    rises = np.flatnonzero(np.diff(high.astype(np.int8)) == 1) + 1
    fronts = s.sync["probe00"]
    expected = np.round(
        fronts["times"][(fronts["polarities"] == 1) & (fronts["times"] < word.size / 2500)] * 2500
    )
    np.testing.assert_array_equal(rises, expected.astype(np.int64))
    assert rises.size >= 1


def test_meta_of_2020_has_shank_map(both):
    meta = _meta(both["2020"].path / "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.meta")
    assert meta["~snsShankMap"].startswith("(1,2,480)")
    assert "~snsGeomMap" not in meta


def test_files_readers_do_not_read(both):
    s = both["2024"]
    assert (s.path / "raw_video_data/_iblrig_leftCamera.raw.mp4").read_bytes()[4:8] == b"ftyp"
    assert (s.path / "raw_behavior_data/_iblrig_micData.raw.flac").read_bytes()[:4] == b"fLaC"
    import tarfile
    import zipfile

    assert tarfile.is_tarfile(s.path / "spike_sorters/iblsorter/probe00/_kilosort_raw.output.tar")
    assert zipfile.is_zipfile(s.path / "raw_behavior_data/_iblrig_codeFiles.raw.zip")
    frame = np.fromfile(s.path / "raw_video_data/_iblrig_leftCamera.frameData.bin", dtype=np.float64)
    assert frame.size == 4 * s.cameras["alf"]["left"].size
    gpio = np.fromfile(s.path / "raw_video_data/_iblrig_leftCamera.GPIO.bin", dtype=np.float64).astype(
        np.uint32
    )
    assert np.isin(gpio, np.left_shift(np.arange(16, dtype=np.uint32), 28)).all()  # ibllib's check
    task = [json.loads(line) for line in (s.path / "raw_behavior_data/_iblrig_taskData.raw.jsonable").open()]
    assert len(task) == s.trials["alf/task_00"]["choice"].size
    for rel in (
        "raw_video_data/_iblrig_leftCamera.raw.mp4",
        "raw_behavior_data/_iblrig_micData.raw.flac",
        "_ibl_experiment.description.yaml",
        "raw_passive_data/_iblrig_RFMapStim.raw.bin",
    ):
        assert rel in s.not_read


def test_not_read_and_spikeglx_lists(session):
    not_parsed = (".mp4", ".flac", ".zip", ".tar", ".yaml", ".log", ".bin")
    expected = {
        rel
        for rel in session.rel_paths
        if rel.endswith(not_parsed) or (session.path / rel).stat().st_size == 0
    }
    assert set(session.not_read) == expected
    assert set(session.spikeglx) == {p for p in session.rel_paths if p.endswith((".cbin", ".ch", ".meta"))}
    assert len(session.spikeglx) == 9
    assert not any(
        p.endswith((".jsonable", ".npz", ".ssv", ".npy"))
        for p in session.not_read
        if "encoderEvents" not in p
    )


# -- ground truth ------------------------------------------------------------------------------


def _check_probe_clocks(session) -> int:
    """spikes.samples / fs, mapped by each probe's sync file, give spikes.times; returns sortings checked."""
    nidq = session.sync["nidq"]
    on_nidq = nidq["times"][nidq["channels"] == testing_ibl.NIDQ_LINES["imec_sync"]]
    checked = 0
    for index, probe in enumerate(session.probes):
        stem = session.path / f"raw_ephys_data/{probe}/_spikeglx_ephysData_g0_t0.imec{index}"
        sync = np.load(f"{stem}.sync.npy")
        stamps = np.load(f"{stem}.timestamps.npy")
        fs = float(_meta(Path(f"{stem}.ap.meta"))["imSampRate"])
        np.testing.assert_allclose(stamps[:, 0] / fs, sync[:, 0])
        for truth in session.sortings.values():
            if truth.samples is None or not truth.collection.startswith(f"alf/{probe}"):
                continue
            folder = session.path / truth.collection
            samples = np.load(folder / "spikes.samples.npy")
            times = np.load(folder / "spikes.times.npy")
            expected = np.interp(samples / fs, sync[:, 0], sync[:, 1])
            np.testing.assert_allclose(expected, times, rtol=0, atol=1e-9)
            checked += 1
        # the probe's sync fronts are the nidq's imec_sync fronts on the probe clock
        fronts = np.load(session.path / f"raw_ephys_data/{probe}/_spikeglx_sync.times.{probe}.npy")
        np.testing.assert_allclose(np.interp(fronts, sync[:, 0], sync[:, 1]), on_nidq, atol=1e-5)
        offset, _ = testing_ibl.PROBE_CLOCKS[probe]
        assert sync[0, 1] - sync[0, 0] * (1 + testing_ibl.PROBE_CLOCKS[probe][1]) == pytest.approx(
            offset, abs=1e-5
        )
    return checked


def test_spike_samples_map_to_times_through_the_sync_file(session):
    assert _check_probe_clocks(session) == (1 if session.layout == "2024" else 2)


def test_two_probes_two_clocks(tmp_path):
    s = make_ibl_session(tmp_path, "2024", probes=2)
    assert s.probes == ("probe00", "probe01")
    assert _check_probe_clocks(s) == 2
    assert not np.array_equal(s.probe_sync["probe00"][:, 0], s.probe_sync["probe01"][:, 0])
    assert "raw_ephys_data/probe01/_spikeglx_ephysData_g0_t0.imec1.ap.cbin" in s.rel_paths
    assert "alf/probe01/iblsorter/waveforms.channels.npz" in s.rel_paths
    description = json.loads((s.path / "alf/probes.description.json").read_text())
    assert [d["label"] for d in description] == ["probe00", "probe01"]
    with pytest.raises(ValueError, match="probes"):
        make_ibl_session(tmp_path, "2020", probes=2)


def test_camera_times_are_nidq_rising_fronts(session):
    nidq = session.sync["nidq"]
    for label, times in session.cameras["alf"].items():
        sel = (nidq["channels"] == testing_ibl.NIDQ_LINES[f"{label}_camera"]) & (nidq["polarities"] == 1)
        np.testing.assert_array_equal(np.sort(nidq["times"][sel]), times)
        assert times.size == pytest.approx(testing_ibl.CAMERA_RATES[label] * 12, rel=0.02)


def test_wheel_truth(session):
    collection = "alf/task_00" if session.layout == "2024" else "alf"
    wheel = one_alfio.load_object(session.path / collection, "wheel")
    np.testing.assert_array_equal(wheel["position"], session.wheel[collection]["position"])
    assert np.all(np.diff(wheel["timestamps"]) > 0)
    steps = np.diff(wheel["position"]) / (2 * np.pi / 4096)
    np.testing.assert_allclose(np.abs(steps[np.abs(steps) > 0.5]), 1.0, atol=1e-9)
    moves = one_alfio.load_object(session.path / collection, "wheelMoves")
    t = session.trials[collection]
    np.testing.assert_array_equal(moves["intervals"][:, 0], t["firstMovement_times"][t["choice"] != 0])


def test_span_covers_spikes_and_events(session):
    first, last = session.span
    for truth in session.sortings.values():
        assert first <= truth.times[0] and truth.times[-1] <= last
    assert first < 0.1 and last < 12.0


# -- sizes, time, determinism ------------------------------------------------------------------


def test_small_scale_is_small_fast_and_free_of_numpy_random(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("numpy.random used")

    for name in (
        "default_rng",
        "RandomState",
        "Generator",
        "seed",
        "random",
        "uniform",
        "normal",
        "randint",
        "choice",
        "permutation",
        "shuffle",
        "rand",
        "randn",
    ):
        monkeypatch.setattr(np.random, name, forbidden)
    # CPU time, not wall time: shared machines stretch the latter
    cpu = time.process_time()
    s = make_ibl_session(tmp_path, "2024")
    cpu = time.process_time() - cpu
    size = sum((s.path / p).stat().st_size for p in s.rel_paths)
    assert size < 20e6
    assert cpu < 3.0  # about 1 s on an idle machine


def test_real_scale_sizes():
    """The real scale's counts (files are not written here: 1.2 GB)."""
    real = testing_ibl._SCALES["real"]
    assert real.n_spikes == 15_000_000
    session = testing_ibl.IblSession(Path("/nonexistent"), "", "2024", "real", "", "", "", "")
    writer = testing_ibl._Writer(session, real, seed=0)
    writer.sync_fronts()
    n_fronts = session.sync["nidq"]["times"].size
    assert 4.2e6 < n_fronts < 4.6e6
    assert np.all(np.diff(session.sync["nidq"]["times"]) >= 0)
    small = testing_ibl._SCALES["small"]
    assert small.n_spikes * 1000 < real.n_spikes * 1.0


def test_small_counts(both):
    small = testing_ibl._SCALES["small"]
    for sorting in (both["2020"].sortings["alf/probe00"], both["2024"].sortings["alf/probe00/iblsorter"]):
        # drawn, then thinned to a refractory period (Neo's compliance picks a spike by +-1 ms)
        assert 0.8 * small.n_spikes <= sorting.n_spikes <= small.n_spikes
        for unit in np.unique(sorting.clusters):
            assert np.diff(sorting.times[sorting.clusters == unit]).min(initial=1) >= 0.001
    assert both["2024"].sortings["alf/probe00/iblsorter"].n_clusters == small.n_clusters
    assert both["2024"].span[1] < small.duration


def test_same_arguments_same_bytes(both, tmp_path):
    for layout, a in both.items():
        b = make_ibl_session(tmp_path / "again", layout)
        assert a.rel_paths == b.rel_paths
        for rel in a.rel_paths:
            assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel
        assert a.eid == b.eid
    other = make_ibl_session(tmp_path / "seed", "2024", seed=4)
    rel = "alf/probe00/iblsorter/spikes.times.npy"
    assert (both["2024"].path / rel).read_bytes() != (other.path / rel).read_bytes()
    assert other.eid != both["2024"].eid


def test_bytes_match_the_recorded_digests(both):
    """The files are the same as when the digests were recorded (any NumPy version)."""
    for layout, s in both.items():
        if not DIGESTS[layout]:
            pytest.skip("digests not recorded")
        assert _stable_digest(s) == DIGESTS[layout], layout


def test_stream_numbers_are_fixed():
    s = testing_ibl._Stream(0, "check")
    bits = s.bits(3)
    again = testing_ibl._Stream(0, "check").bits(3)
    np.testing.assert_array_equal(bits, again)
    u = testing_ibl._Stream(0, "u").uniform(100_000)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    n = testing_ibl._Stream(0, "n").normal(100_000)
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1.0) < 0.02


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        make_ibl_session(tmp_path, "2019")
    with pytest.raises(ValueError, match="scale"):
        make_ibl_session(tmp_path, "2024", scale="huge")


def test_licks_follow_rewards(session):
    rel = "alf/licks.times.npy" if session.layout == "2024" else "licks.times.npy"
    licks = np.load(session.path / rel)
    np.testing.assert_array_equal(licks, session.licks)
    collection = "alf/task_00" if session.layout == "2024" else "alf"
    t = session.trials[collection]
    rewarded = t["feedback_times"][t["feedbackType"] == 1]
    assert licks.size == 4 * rewarded.size
    first = licks[np.searchsorted(licks, rewarded)]
    assert np.all((first - rewarded > 0.05) & (first - rewarded < 0.07))


def test_one_local_mode_finds_the_sessions(both, recwarn):
    from one.api import One

    root = both["2024"].path.parents[4]
    testing_ibl.write_one_cache(root, both.values())
    digests = pd.read_parquet(root / "datasets.pqt")["hash"]
    assert digests.isna().all()
    one = One(cache_dir=root, mode="local")
    for layout, s in both.items():
        assert str(one.path2eid(s.path)) == s.eid
        assert len(one.list_datasets(s.eid)) == len(s.rel_paths)
        collection = "alf/task_00" if layout == "2024" else "alf"
        trials = one.load_object(s.eid, "trials", collection=collection)
        np.testing.assert_array_equal(trials["intervals"], s.trials[collection]["intervals"])
    # the newest revision is the default, as Alyx marks it
    old = both["2020"]
    spikes = one.load_object(old.eid, "spikes", collection="alf/probe00/pykilosort")
    np.testing.assert_array_equal(spikes["times"], old.sortings["alf/probe00/pykilosort/#2021-03-10#"].times)
    np.testing.assert_array_equal(spikes["samples"], old.sortings["alf/probe00/pykilosort"].samples)
    testing_ibl.write_one_cache(root, both.values(), md5=True)
    table = pd.read_parquet(root / "datasets.pqt")
    row = table[table["rel_path"] == "alf/probe00/iblsorter/spikes.times.npy"].iloc[0]
    rel = "alf/probe00/iblsorter/spikes.times.npy"
    assert row["hash"] == hashlib.md5((both["2024"].path / rel).read_bytes()).hexdigest()
    for name in ("sessions.pqt", "datasets.pqt"):
        (root / name).unlink()
