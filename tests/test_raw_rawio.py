"""Raw SpikeGLX streams through AlfRawIO and AlfIO: compliance, gains, session time to the sample."""

from __future__ import annotations

import warnings

import mtscomp
import numpy as np
import pytest
import quantities as pq
from neo.test.rawiotest import rawio_compliance

from neo_alf import AlfIO, AlfRawIO
from neo_alf.errors import AlfWarning
from neo_alf.testing_spikeglx import make_raw_session

from .conftest import RAWIO_COMPLIANCE

COMPLIANCE = RAWIO_COMPLIANCE


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw") / "KS023/2024-03-15/001"
    return make_raw_session(folder, probes=("NP1.0", "NP2.0"))


@pytest.fixture(scope="module")
def reader(raw):
    r = AlfRawIO(raw.path)
    r.parse_header()
    return r


def test_streams_and_every_compliance_function(reader):
    names = [str(n) for n in reader.header["signal_streams"]["name"]]
    assert {"probe00.ap", "probe00.lf", "probe01.ap", "nidq"} <= set(names)
    assert "probe00.ap-SYNC" in names  # the sync channel as its own stream, as Neo's SpikeGLXRawIO
    assert reader.problems == []
    for check in COMPLIANCE:
        getattr(rawio_compliance, check)(reader)


def test_values_in_microvolts_equal_mtscomp_times_the_meta_gain(raw, reader):
    index = [str(n) for n in reader.header["signal_streams"]["name"]].index("probe00.ap")
    stream = reader.raw_stream(index)
    cbin = next(p for p in stream.files if p.endswith(".ap.cbin"))
    ch = cbin[: -len("cbin")] + "ch"
    direct = mtscomp.Reader()
    direct.open(cbin, ch)
    expected = direct[1000:1700][:, : len(stream.channel_names)].astype(np.float64) * stream.gains
    direct.close()
    got = reader.rescale_signal_raw_to_float(
        reader.get_analogsignal_chunk(stream_index=index, i_start=1000, i_stop=1700),
        dtype="float64",
        stream_index=index,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    units = reader.header["signal_channels"][reader.header["signal_channels"]["stream_id"] == "probe00.ap"]
    assert set(units["units"]) == {"uV"}


def test_planted_spikes_on_their_channel_and_in_session_time(raw, reader):
    index = [str(n) for n in reader.header["signal_streams"]["name"]].index("probe00.ap")
    truth = raw.probes["probe00"]
    spikes = raw.path / "alf/probe00/pykilosort"
    times = np.load(spikes / "spikes.times.npy") if (spikes / "spikes.times.npy").exists() else None
    for unit in np.unique(truth.spike_clusters):
        rows = np.flatnonzero(truth.spike_clusters == unit)[:3]
        channel = int(truth.cluster_channels[unit])
        for s in truth.spike_samples[rows]:
            chunk = reader.get_analogsignal_chunk(stream_index=index, i_start=int(s) - 5, i_stop=int(s) + 6)
            assert int(np.argmin(chunk[:, channel])) == 5  # the trough at spikes.samples
        # the exact clock map: the session time of each spike's probe sample
        mapped = reader.probe_to_session("probe00.ap", truth.spike_samples[rows])
        np.testing.assert_allclose(mapped, truth.probe_to_session(truth.spike_samples[rows]), atol=1e-9)
        if times is not None:
            np.testing.assert_allclose(mapped, times[rows], atol=1e-9)


def test_eager_blocks_leave_raw_out_lazy_slices_are_exact_to_the_sample(raw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)
        block = AlfIO(raw.path).read_block()
    assert not any(s.name.startswith(("probe", "nidq")) for s in block.segments[0].analogsignals)
    assert any("not loaded" in line for line in block.annotations["raw_streams"])
    lazy = AlfIO(raw.path).read_block(lazy=True)
    proxy = next(s for s in lazy.segments[0].analogsignals if s.name == "probe00.ap")
    reader = AlfRawIO(raw.path)
    reader.parse_header()
    stream = next(r for r in reader.layout.raw if r.name == "probe00.ap")
    t0 = float(stream.probe_to_session(4000, unit="samples")) + 1e-7
    sig = proxy.load(time_slice=(t0 * pq.s, (t0 + 0.01) * pq.s))
    exact = float(stream.probe_to_session(4001, unit="samples"))
    assert abs(float(sig.t_start.rescale(pq.s)) - exact) < 1e-12
    index = [str(n) for n in reader.header["signal_streams"]["name"]].index("probe00.ap")
    first = reader.get_analogsignal_chunk(stream_index=index, i_start=4001, i_stop=4002)
    np.testing.assert_allclose(sig.magnitude[0], first[0] * stream.gains)
    assert AlfIO(raw.path, load_raw=True).read_block().segments[0].analogsignals


def test_info_lists_raw_streams_with_size_and_duration(raw):
    from neo_alf.cli import describe

    info = describe(raw.path)
    ap = next(s for s in info["neo"]["signals"] if s["name"] == "probe00.ap")
    cbin = next(raw.path.glob("raw_ephys_data/probe00/*.ap.cbin"))
    assert ap["raw_file"] == cbin.name and ap["file_bytes"] >= cbin.stat().st_size
    assert ap["duration_s"] == pytest.approx(ap["samples"] / ap["rate_hz"]) and ap["session_clock"]
    assert "raw_ephys_data/probe00" in info["collections"]
