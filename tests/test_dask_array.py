"""neo_alf.dask.signal_array: chunks aligned to storage, values equal the reader's, on a LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neo_alf import AlfNotFoundError, AlfRawIO
from neo_alf.dask import chunk_bounds, signal_array, stream_index

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
signal = pytest.importorskip("scipy.signal")

LFP = "raw_ephys_data/probe00/lfp"


@pytest.fixture(scope="module")
def lfp_reader(tmp_path_factory):
    from neo_alf.testing import make_session

    g = make_session(tmp_path_factory.mktemp("lfp"), "one_probe")  # 60 s x 1000 Hz x 4 channels
    reader = AlfRawIO(g.path)
    reader.parse_header()
    return reader, g


def raw_lfp(g) -> np.ndarray:
    """The LFP as written, read without neo-alf."""
    info = g.truth["lfp"]
    data = np.fromfile(g.path / info["collection"] / "lfp.raw.bin", dtype=np.float32)
    return data.reshape(info["n_samples"], info["n_channels"])


def test_values_equal_the_file_and_the_readers_chunks_on_a_cluster(lfp_reader, client):
    reader, g = lfp_reader
    x = signal_array(reader, LFP, max_rows=7000)
    bounds = chunk_bounds(reader, 1, max_rows=7000)
    assert bounds.tolist() == [*range(0, 60000, 7000), 60000]
    assert x.chunks == (tuple(np.diff(bounds).tolist()), (4,))
    assert x.dtype == np.float32 and x.shape == (60000, 4)
    blocks = client.gather(client.compute([x.blocks[k] for k in range(len(bounds) - 1)]))
    for k, block in enumerate(blocks):
        expected = reader.get_analogsignal_chunk(
            stream_index=1, i_start=int(bounds[k]), i_stop=int(bounds[k + 1])
        )
        assert block.dtype == expected.dtype and np.array_equal(block, expected)
    assert np.array_equal(client.compute(x).result(), raw_lfp(g))


def test_stream_by_index_id_or_name_and_channel_selection(lfp_reader):
    reader, g = lfp_reader
    whole = raw_lfp(g)
    assert np.array_equal(signal_array(reader, 1).compute(), whole)
    picked = signal_array(reader, LFP, channel_indexes=[3, 0], max_rows=10000)
    assert picked.chunks[1] == (2,)
    assert np.array_equal(picked.compute(), whole[:, [3, 0]])
    assert np.array_equal(picked[123:4567:7, 1].compute(), whole[123:4567:7, 0])
    assert stream_index(reader, LFP) == stream_index(reader, 1) == 1
    with pytest.raises(AlfNotFoundError, match="no signal stream 'nope'"):
        signal_array(reader, "nope")
    with pytest.raises(AlfNotFoundError, match="channel indexes"):
        signal_array(reader, 1, channel_indexes=[4])


def test_row_blocks_aim_at_target_bytes(lfp_reader):
    reader, _ = lfp_reader
    rows = 16 * 1024 // (4 * 4)  # 16 KiB of 4 float32 channels
    bounds = chunk_bounds(reader, 1, target_bytes=16 * 1024)
    assert np.all(np.diff(bounds)[:-1] == rows) and bounds[-1] == 60000


def test_band_pass_with_map_overlap_equals_scipy_on_the_whole_array(lfp_reader, client):
    # the docs/scaling.rst example, on the LFP of a generated session
    reader, g = lfp_reader
    rate = reader.get_signal_sampling_rate(stream_index(reader, LFP))
    x = signal_array(reader, LFP, max_rows=10_000)
    sos = signal.butter(3, [4, 30], btype="band", fs=rate, output="sos")
    y = x.map_overlap(
        lambda b: signal.sosfiltfilt(sos, b, axis=0),
        depth={0: int(5 * rate), 1: 0},
        boundary="none",
        dtype="float64",
    )
    got = client.compute(y).result()
    expected = signal.sosfiltfilt(sos, raw_lfp(g).astype(np.float64), axis=0)
    assert len(x.chunks[0]) == 6
    assert np.max(np.abs(got - expected)) < 1e-6 * np.max(np.abs(expected))


def write_multipart_signal(root: Path) -> tuple[Path, np.ndarray]:
    """A session with one continuous object in three parts (7000, 5000 and 3000 rows)."""
    session = root / "lab" / "Subjects" / "S1" / "2024-01-01" / "001"
    (session / "alf").mkdir(parents=True)
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(n, 3)).astype(np.float32) for n in (7000, 5000, 3000)]
    for i, part in enumerate(parts, start=1):
        np.save(session / f"alf/sig.raw.part{i:03d}.npy", part)
    n = sum(p.shape[0] for p in parts)
    np.save(session / "alf/sig.timestamps.npy", np.array([[0.0, 10.0], [n - 1.0, 10.0 + (n - 1) / 2000]]))
    return session, np.concatenate(parts)


def test_chunks_do_not_straddle_the_parts_of_a_multipart_signal(tmp_path, client):
    path, whole = write_multipart_signal(tmp_path)
    reader = AlfRawIO(path)
    reader.parse_header()
    x = signal_array(reader, "alf/sig", max_rows=4000)
    assert x.chunks[0] == (4000, 3000, 4000, 1000, 3000)  # part edges at 7000 and 12000 kept
    assert np.array_equal(client.compute(x).result(), whole)


def test_a_readers_chunk_bounds_hook_or_stream_attribute_sets_the_chunks(lfp_reader):
    _, g = lfp_reader

    class Compressed(AlfRawIO):
        def signal_chunk_bounds(self, stream_index):
            return [0, 30000, 45000, 60000]  # e.g. mtscomp chunks

    hooked = Compressed(g.path)
    hooked.parse_header()
    x = signal_array(hooked, LFP)
    assert x.chunks[0] == (30000, 15000, 15000)
    assert np.array_equal(x.compute(), raw_lfp(g))
    assert signal_array(hooked, LFP, max_rows=20000).chunks[0] == (20000, 10000, 15000, 15000)

    class Short(AlfRawIO):
        def signal_chunk_bounds(self, stream_index):
            return [0, 10000, 50000]  # does not reach the end

    short = Short(g.path)
    short.parse_header()
    with pytest.raises(ValueError, match="from 0 to 60000"):
        signal_array(short, LFP)


def test_an_unparsed_reader_is_parsed_and_the_graph_holds_no_data(lfp_reader):
    import pickle

    _, g = lfp_reader
    reader = AlfRawIO(g.path)
    x = signal_array(reader, LFP)
    assert reader.is_header_parsed
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < 10_000  # a path, not 960 kB of samples
    json.dumps(x.chunks)  # plain ints
