"""neo_alf.spikeglx against generated SpikeGLX recordings and mtscomp's own decompression."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor

import mtscomp
import numpy as np
import pytest

from neo_alf.errors import AlfFormatError, AlfWarning
from neo_alf.spikeglx import (
    ClockMap,
    channel_gains,
    find_raw_streams,
    is_spikeglx_file,
    read_meta,
)
from neo_alf.testing_spikeglx import make_raw_session


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return make_raw_session(tmp_path_factory.mktemp("raw"), probes=("NP1.0", "NP2.0"), seed=3)


@pytest.fixture(scope="module")
def streams(gen):
    return {s.name: s for s in find_raw_streams(gen.path)}


def _mtscomp(files):
    reader = mtscomp.Reader()
    reader.open(files["cbin"], files["ch"])
    return reader


@pytest.mark.parametrize(
    "name",
    [
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.cbin",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.ch",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf.meta",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.bin",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.sync.npy",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.timestamps.npy",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.wiring.json",
        "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.cbin",
        "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.meta",
        "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.wiring.json",
        "raw_ephys_data/probe01/_spikeglx_ephysData_g1_t2.imec1.ap.meta",
        "raw/myrun_g0_tcat.imec0.lf.bin",
    ],
)
def test_spikeglx_files_are_recognised(name):
    assert is_spikeglx_file(name)


@pytest.mark.parametrize(
    "name",
    [
        "raw_ephys_data/_spikeglx_sync.times.probe00.npy",
        "alf/probe00/pykilosort/spikes.times.npy",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.cbin",  # imec data without a band
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.sync.npy",  # sync belongs to the device
        "raw_ephys_data/probe00/_spikeglx_ephysData.imec0.ap.cbin",  # no _gN_tN
        "raw_video_data/_iblrig_leftCamera.raw.mp4",
        "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.cbin.bak",
    ],
)
def test_other_files_are_not(name):
    assert not is_spikeglx_file(name)


def test_every_generated_raw_file_is_recognised(gen):
    raw = [p for p in (gen.path / "raw_ephys_data").rglob("*") if p.is_file()]
    assert len(raw) >= 12 and all(is_spikeglx_file(str(p.relative_to(gen.path))) for p in raw)
    alf = [p for p in (gen.path / "alf").rglob("*") if p.is_file()]
    assert alf and not any(is_spikeglx_file(str(p.relative_to(gen.path))) for p in alf)


def test_stream_names_follow_the_probe_folders(streams, gen):
    assert list(streams) == [
        "probe00.ap",
        "probe00.ap-SYNC",
        "probe00.lf",
        "probe00.lf-SYNC",
        "probe01.ap",
        "probe01.ap-SYNC",  # NP2.0: no LF file
        "nidq",
    ]
    ap = streams["probe00.ap"]
    assert ap.collection == "raw_ephys_data/probe00" and streams["nidq"].collection == "raw_ephys_data"
    assert ap.channel_names[:3] == ("AP0", "AP1", "AP2") and ap.channel_ids[0] == "probe00.ap#AP0"
    assert streams["probe00.ap-SYNC"].channel_names == ("SY0",)
    assert streams["probe00.lf"].channel_names[-1] == f"LF{gen.probes['probe00'].n_channels - 1}"
    assert ap.n_samples == gen.probes["probe00"].n_samples and ap.sampling_rate == 30000.0
    assert streams["probe00.lf"].sampling_rate == 2500.0
    truth = gen.probes["probe00"].files["ap"]
    assert {str(truth["cbin"]), str(truth["ch"]), str(truth["meta"])} <= set(ap.files)


def test_gains_and_positions_from_the_meta(streams, gen):
    np1, np2 = gen.probes["probe00"], gen.probes["probe01"]
    # NP1.0: per-channel imro gains (500 and 1000 here), 0.6 V / 512.
    np.testing.assert_allclose(streams["probe00.ap"].gains, np1.ap_gains_uv, rtol=1e-12)
    assert len(set(np.round(streams["probe00.ap"].gains, 6))) == 2
    np.testing.assert_allclose(streams["probe00.lf"].gains, np1.lf_gains_uv, rtol=1e-12)
    # NP2.0: 0.5 V / 8192 / 80.
    np.testing.assert_allclose(streams["probe01.ap"].gains, 0.5 / 8192 / 80 * 1e6, rtol=1e-12)
    for name in ("probe00.ap-SYNC", "probe01.ap-SYNC"):
        assert streams[name].units == ("",) and streams[name].gains.tolist() == [1.0]
    assert set(streams["probe00.ap"].units) == {"uV"}
    nidq = streams["nidq"]
    assert nidq.units == ("uV", "uV", "uV", "")
    np.testing.assert_allclose(nidq.gains[:3], 5 / 32768 * 1e6)
    for name, truth in (("probe00.ap", np1), ("probe01.ap", np2)):
        np.testing.assert_array_equal(streams[name].array_annotations["x"], truth.x)
        np.testing.assert_array_equal(streams[name].array_annotations["y"], truth.y)
        assert set(streams[name].array_annotations["shank"]) == {0}
    assert streams["probe00.lf"].array_annotations["acquisition_index"][0] == 384


def test_windows_equal_mtscomp_times_the_meta_gain(streams, gen):
    rng = np.random.default_rng(0)
    for name, band in (("probe00.ap", "ap"), ("probe00.lf", "lf"), ("probe01.ap", "ap")):
        stream, truth = streams[name], gen.probes[name[:7]]
        theirs = _mtscomp(truth.files[band])
        gains = truth.ap_gains_uv if band == "ap" else truth.lf_gains_uv
        meta_gains, _ = channel_gains(read_meta(truth.files[band]["meta"]), band)
        for _ in range(20):
            a = int(rng.integers(0, stream.n_samples - 1))
            b = int(min(stream.n_samples, a + rng.integers(1, 9000)))
            raw = stream.read(a, b)
            expected = theirs[a:b][:, : truth.n_channels]
            np.testing.assert_array_equal(raw, expected)
            np.testing.assert_allclose(raw * stream.gains + stream.offsets, expected * gains, rtol=1e-12)
            np.testing.assert_allclose(stream.gains, meta_gains[: truth.n_channels])
        sync = streams[name + "-SYNC"].read(0, 5000)
        np.testing.assert_array_equal(sync[:, 0], theirs[0:5000][:, truth.n_channels])
    np.testing.assert_array_equal(
        streams["probe00.ap"].read(10, 20, [4, 2]), streams["probe00.ap"].read(10, 20)[:, [4, 2]]
    )


def test_planted_spikes_are_at_spikes_samples(streams, gen):
    truth = gen.probes["probe00"]
    samples = np.load(gen.path / "alf/probe00/pykilosort/spikes.samples.npy")
    clusters = np.load(gen.path / "alf/probe00/pykilosort/spikes.clusters.npy")
    channels = np.load(gen.path / "alf/probe00/pykilosort/clusters.channels.npy")[clusters]
    data = streams["probe00.ap"].read() * streams["probe00.ap"].gains
    assert samples.size > 20
    for s, c in zip(samples, channels, strict=True):
        window = data[s - 5 : s + 6, c]
        assert np.argmin(window) == 5  # the trough is at the sample, not one off
        assert window[5] < -400  # uV: 500 uV planted, noise 12 counts
    far = (channels + 8) % truth.n_channels
    assert np.median(data[samples, far] / truth.ap_gains_uv[far]) > -40  # only noise elsewhere


def test_alignment_to_the_sample_through_the_sync_map(streams, gen):
    truth = gen.probes["probe00"]
    ap = streams["probe00.ap"]
    times = np.load(gen.path / "alf/probe00/pykilosort/spikes.times.npy")
    samples = np.load(gen.path / "alf/probe00/pykilosort/spikes.samples.npy")
    np.testing.assert_allclose(ap.probe_to_session(samples), times, rtol=0, atol=1e-9)
    back = ap.session_to_probe(times)
    np.testing.assert_array_equal(np.round(back).astype(np.int64), samples)
    assert np.max(np.abs(back - samples)) < 1e-4
    # The map is needed: offset 12.345 s and 6 ppm drift, seconds are not samples / rate.
    assert np.all(np.abs(times - samples / ap.sampling_rate) > 12)
    # The regular line: t_start and rate from least squares, residual recorded.
    grid = np.arange(0, ap.n_samples, 7)
    slope, intercept = np.polyfit(grid, truth.probe_to_session(grid), 1)
    assert ap.t_start == pytest.approx(intercept, abs=1e-7)
    assert ap.rate_in_session == pytest.approx(1 / slope, rel=1e-9)
    assert ap.rate_in_session == pytest.approx(30000 / (1 + 6e-6), rel=3e-6)
    line = ap.t_start + grid / ap.rate_in_session
    assert 0 < ap.max_residual <= 2 * 3e-6 + 1e-9
    assert np.max(np.abs(line - truth.probe_to_session(grid))) <= ap.max_residual + 1e-9
    assert ap.on_session_clock and "session" in ap.annotations["clock"]
    # LF: the same probe clock at 2.5 kHz.
    lf = streams["probe00.lf"]
    np.testing.assert_allclose(lf.probe_to_session(samples / 12), times, atol=1e-9)
    assert lf.t_start == pytest.approx(ap.t_start, abs=1e-7)
    assert ap.probe_to_session(1.5, unit="seconds") == pytest.approx(ap.probe_to_session(45000))


@pytest.mark.parametrize("which", [("sync",), ("timestamps",)])
def test_sync_or_timestamps_alone_give_the_same_map(tmp_path, streams, which):
    gen = make_raw_session(tmp_path, probes=("NP1.0", "NP2.0"), seed=3, sync_files=which, nidq=False)
    ap = {s.name: s for s in find_raw_streams(gen.path)}["probe00.ap"]
    samples = np.arange(0, ap.n_samples, 101)
    np.testing.assert_allclose(
        ap.probe_to_session(samples), streams["probe00.ap"].probe_to_session(samples), atol=1e-9
    )
    assert ap.files[-1].endswith(f".imec0.{which[0]}.npy")


def test_without_sync_file_the_stream_stays_on_the_probe_clock(tmp_path):
    gen = make_raw_session(tmp_path, sync_files=(), nidq=False, compress=False)
    ap = {s.name: s for s in find_raw_streams(gen.path)}["probe00.ap"]
    assert not ap.on_session_clock and ap.max_residual is None
    assert ap.t_start == 0.0 and ap.rate_in_session == ap.sampling_rate
    assert "probe" in ap.annotations["clock"]
    np.testing.assert_allclose(ap.probe_to_session([0, 30000]), [0.0, 1.0])
    np.testing.assert_allclose(ap.session_to_probe([0.5]), [15000.0])


def test_bin_and_cbin_recordings_read_the_same(tmp_path, streams):
    gen = make_raw_session(tmp_path, probes=("NP1.0", "NP2.0"), seed=3, compress=False)
    assert (gen.path / "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.bin").exists()
    binary = {s.name: s for s in find_raw_streams(gen.path)}
    assert list(binary) == list(streams)
    for name, stream in binary.items():
        assert stream.annotations["format"] == "bin" and streams[name].annotations["format"] == "mtscomp"
        np.testing.assert_array_equal(stream.read(), streams[name].read())
        np.testing.assert_array_equal(stream.gains, streams[name].gains)


def test_nothing_is_read_before_read_is_called(tmp_path):
    gen = make_raw_session(tmp_path, nidq=False)
    stream = find_raw_streams(gen.path)[0]
    assert "_reader" not in stream.__dict__
    assert len(stream.reader.cache) == 0 and stream.reader._fd is None
    stream.read(0, 10)
    assert len(stream.reader.cache) == 1


def test_ap_and_sync_streams_share_one_reader(streams):
    assert streams["probe00.ap"].reader is streams["probe00.ap-SYNC"].reader


def test_concurrent_reads_give_serial_answers(streams):
    names = ["probe00.ap", "probe00.ap-SYNC", "probe00.lf", "probe01.ap"]
    rng = np.random.default_rng(7)
    jobs = []
    for i in range(160):
        s = streams[names[i % len(names)]]
        a = int(rng.integers(0, s.n_samples - 1))
        jobs.append((s.name, a, int(min(s.n_samples, a + rng.integers(1, 20000)))))
    for s in streams.values():
        s.reader.cache.clear()
    results, errors = {}, []

    def work(part):
        try:
            for i in part:
                name, a, b = jobs[i]
                results[i] = streams[name].read(a, b)
        except Exception as err:  # pragma: no cover
            errors.append(err)

    threads = [threading.Thread(target=work, args=(range(k, len(jobs), 6),)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    serial = {name: streams[name].read() for name in names}
    for i, (name, a, b) in enumerate(jobs):
        np.testing.assert_array_equal(results[i], serial[name][a:b])


def _read_in_worker(blob):
    stream = pickle.loads(blob)
    return stream.read(100, 2100), stream.probe_to_session([0, 100])


def test_streams_pickle_by_path_for_other_processes(streams):
    stream = streams["probe00.ap"]
    stream.read(0, 10)
    blob = pickle.dumps(stream)
    assert len(blob) < 40_000
    with ProcessPoolExecutor(1) as pool:
        data, times = pool.submit(_read_in_worker, blob).result()
    np.testing.assert_array_equal(data, stream.read(100, 2100))
    np.testing.assert_array_equal(times, stream.probe_to_session([0, 100]))


def test_truncated_cbin_is_left_out_with_a_warning_or_raises(tmp_path, gen):
    copy = tmp_path / "session"
    shutil.copytree(gen.path, copy)
    cbin = copy / "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.cbin"
    os.truncate(cbin, cbin.stat().st_size // 2)
    with pytest.warns(AlfWarning, match=r"imec0\.ap\.cbin.*truncated"):
        names = [s.name for s in find_raw_streams(copy)]
    assert "probe00.ap" not in names and "probe00.lf" in names
    with pytest.raises(AlfFormatError, match=r"imec0\.ap\.cbin"):
        find_raw_streams(copy, strict=True)


def test_file_shrinking_after_find_raises_on_read(tmp_path, gen):
    for compress in (True, False):
        folder = tmp_path / str(compress)
        g = make_raw_session(folder, compress=compress, nidq=False, seed=1)
        ap = {s.name: s for s in find_raw_streams(g.path, cache_bytes=0)}["probe00.ap"]
        ap.read(0, 10)
        data_file = g.probes["probe00"].files["ap"]["cbin" if compress else "bin"]
        os.truncate(data_file, data_file.stat().st_size // 3)
        with pytest.raises(AlfFormatError, match=data_file.name.replace(".", r"\.")):
            ap.read(ap.n_samples - 100, ap.n_samples)


def test_bad_meta_and_bad_sync_files(tmp_path, gen):
    copy = tmp_path / "session"
    shutil.copytree(gen.path, copy)
    (copy / "raw_ephys_data/probe01/_spikeglx_ephysData_g0_t0.imec0.ap.meta").write_text("nothing=here\n")
    np.save(copy / "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.sync.npy", np.zeros((3, 3)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [s.name for s in find_raw_streams(copy)]
    messages = " ".join(str(w.message) for w in caught if issubclass(w.category, AlfWarning))
    assert "imec0.ap.meta" in messages and "imec0.sync.npy" in messages
    assert names == ["nidq"]


def test_rel_paths_restrict_the_scan(gen):
    rel = [
        "raw_ephys_data/probe01/_spikeglx_ephysData_g0_t0.imec0.ap.cbin",
        "raw_ephys_data/probe01/_spikeglx_ephysData_g0_t0.imec0.ap.ch",
        "raw_ephys_data/probe01/_spikeglx_ephysData_g0_t0.imec0.ap.meta",
        "alf/probe00/pykilosort/spikes.times.npy",
    ]
    found = find_raw_streams(gen.path, rel)
    assert [s.name for s in found] == ["probe01.ap", "probe01.ap-SYNC"]
    assert not found[0].on_session_clock  # its sync file was not in the list


def test_clock_map_extends_its_end_segments():
    clock = ClockMap(np.array([1.0, 2.0, 4.0]), np.array([11.0, 12.5, 15.5]))
    np.testing.assert_allclose(clock.to_session([0.0, 1.5, 3.0, 6.0]), [9.5, 11.75, 14.0, 18.5])
    np.testing.assert_allclose(clock.to_probe(clock.to_session([0.0, 1.5, 3.0, 6.0])), [0.0, 1.5, 3.0, 6.0])
    np.testing.assert_allclose(ClockMap(np.array([2.0]), np.array([5.0])).to_session([0.0, 1.0]), [3.0, 4.0])


def test_sample_range_is_exact_to_the_sample(streams, gen):
    ap = streams["probe00.ap"]
    truth = gen.probes["probe00"]
    for k in (0, 1, 777, 29999, 45001, ap.n_samples - 1):
        t = truth.probe_to_session([k])[0]
        assert ap.sample_range(t, None)[0] == k  # a sample exactly at t_start is in
        assert ap.sample_range(t + 1e-9, None)[0] == k + 1  # one just before it is out
        assert ap.sample_range(None, t)[1] == k  # t_stop excluded
    assert ap.sample_range() == (0, ap.n_samples)
    assert ap.sample_range(0.0, 1e9) == (0, ap.n_samples)
    i0, i1 = ap.sample_range(13.0, 13.5)
    times = ap.probe_to_session(np.arange(i0, i1))
    assert times[0] >= 13.0 and times[-1] < 13.5
    assert ap.probe_to_session(i0 - 1) < 13.0 and ap.probe_to_session(i1) >= 13.5


def test_neo_signal_channel_rows(streams):
    import neo.rawio.baserawio as base

    ap = streams["probe00.ap"]
    rows = np.array(ap.neo_signal_channels(buffer_id="probe00.ap"), dtype=base._signal_channel_dtype)
    assert rows["id"][0] == "probe00.ap#AP0" and set(rows["stream_id"]) == {"probe00.ap"}
    np.testing.assert_allclose(rows["gain"], ap.gains)
    assert rows["sampling_rate"][0] == ap.rate_in_session and rows["dtype"][0] == "int16"


def test_scalar_times_map_to_scalars(streams):
    ap = streams["probe00.ap"]
    before = ap.probe_to_session(-10.0)
    assert np.ndim(before) == 0 and before < ap.t_start
    assert np.ndim(ap.session_to_probe(1e6)) == 0


def test_gains_of_other_imro_layouts():
    base = {"imSampRate": "30000", "nSavedChans": "3", "snsApLfSy": "2,0,1", "imAiRangeMax": "0.6"}
    phase3a = dict(base, imroTbl="(641251209,3,384)(0 0 0 500 250)(1 0 0 1000 250)")
    gains, units = channel_gains(phase3a, "ap")
    np.testing.assert_allclose(gains, [0.6 / 512 / 500 * 1e6, 0.6 / 512 / 1000 * 1e6, 1.0])
    assert units == ["uV", "uV", ""]
    lf, _ = channel_gains(dict(phase3a, snsApLfSy="0,2,1"), "lf")
    np.testing.assert_allclose(lf[:2], 0.6 / 512 / 250 * 1e6)
    np2_4shank = dict(base, imAiRangeMax="0.5", imMaxInt="8192", imroTbl="(24,384)(0 0 0 0 0)(1 0 0 0 1)")
    np.testing.assert_allclose(channel_gains(np2_4shank, "ap")[0][:2], 0.5 / 8192 / 80 * 1e6)
    np1110 = dict(base, imroTbl="(1110,2,0,500,250,1)(0 0 0)(1 0 0)")
    np.testing.assert_allclose(channel_gains(np1110, "ap")[0][:2], 0.6 / 512 / 500 * 1e6)


def test_bin_with_a_partial_last_sample_warns_and_reads(tmp_path):
    gen = make_raw_session(tmp_path, compress=False, nidq=False)
    path = gen.probes["probe00"].files["ap"]["bin"]
    whole = np.fromfile(path, dtype=np.int16).reshape(-1, 33)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")
    with pytest.warns(AlfWarning, match="partial sample"):
        ap = {s.name: s for s in find_raw_streams(gen.path)}["probe00.ap"]
    assert ap.n_samples == whole.shape[0]
    np.testing.assert_array_equal(ap.read(ap.n_samples - 5, ap.n_samples), whole[-5:, :32])
