"""neo_alf.cbin: .cbin windows against mtscomp's own decompression, .bin against the bytes written."""

from __future__ import annotations

import json
import os
import pickle
import threading
import tracemalloc

import mtscomp
import numpy as np
import pytest

from neo_alf.cbin import BinReader, CbinReader, read_ch
from neo_alf.errors import AlfError, AlfFormatError

RATE = 3000.0
N_CHANNELS = 23


def _write(folder, n_samples=10 * 3000 + 77, chunk_duration=0.5, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    data = np.round(rng.normal(0, 400, (n_samples, N_CHANNELS))).astype(np.int16)
    data[::97, 3] = 32767  # wrap-around of the int16 time differences must be undone exactly
    data[1::97, 3] = -32768
    bin_path = folder / "rec.bin"
    data.tofile(bin_path)
    mtscomp.compress(
        bin_path,
        folder / "rec.cbin",
        folder / "rec.ch",
        sample_rate=RATE,
        n_channels=N_CHANNELS,
        dtype="int16",
        chunk_duration=chunk_duration,
        check_after_compress=False,
        quiet=True,
        n_threads=1,
        **kwargs,
    )
    return data, bin_path, folder / "rec.cbin", folder / "rec.ch"


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("cbin"))


def _mtscomp(cbin, ch):
    reader = mtscomp.Reader()
    reader.open(cbin, ch)
    return reader


def _windows(n, rng, count=60, max_len=4000):
    starts = rng.integers(0, n - 1, count)
    stops = np.minimum(starts + rng.integers(1, max_len, count), n)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def test_windows_equal_mtscomp_decompression(rec):
    data, _, cbin, ch = rec
    ours, theirs = CbinReader(cbin, ch), _mtscomp(cbin, ch)
    rng = np.random.default_rng(1)
    bounds = ours.chunk_bounds
    windows = [
        *_windows(ours.n_samples, rng),
        (0, 1),
        (int(bounds[1]) - 1, int(bounds[1]) + 1),
        (0, ours.n_samples),
        (ours.n_samples - 3, ours.n_samples),
    ]
    for a, b in windows:
        expected = theirs[a:b]
        got = ours.read(a, b)
        assert got.dtype == np.int16 and got.shape == (b - a, N_CHANNELS)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got, data[a:b])
        cols = rng.choice(N_CHANNELS, 5, replace=False)
        np.testing.assert_array_equal(ours.read(a, b, cols), expected[:, cols])
    np.testing.assert_array_equal(ours.read(5, 900, slice(2, 9, 3)), data[5:900, 2:9:3])
    assert ours.read(10, 10).shape == (0, N_CHANNELS)


@pytest.mark.parametrize(
    "options", [{"chunk_order": "C"}, {"do_spatial_diff": True}, {"do_time_diff": False}]
)
def test_other_mtscomp_layouts(tmp_path, options):
    data, _, cbin, ch = _write(tmp_path, n_samples=4000, **options)
    ours = CbinReader(cbin, ch)
    np.testing.assert_array_equal(ours.read(), data)
    np.testing.assert_array_equal(ours.read(1234, 3210, [0, 22]), _mtscomp(cbin, ch)[1234:3210][:, [0, 22]])


def test_cache_is_bounded_and_lazy(rec):
    _, _, cbin, ch = rec
    reader = CbinReader(cbin, ch, cache_bytes=0)
    chunk = reader.chunk_nbytes
    reader = CbinReader(cbin, ch, cache_bytes=2 * chunk + 1)
    assert reader._fd is None and len(reader.cache) == 0  # nothing opened, nothing decoded
    for a in range(0, reader.n_samples, 700):
        reader.read(a, min(a + 700, reader.n_samples))
        assert len(reader.cache) <= 2 and reader.cache.nbytes <= 2 * chunk + 1
    uncached = CbinReader(cbin, ch, cache_bytes=0)
    np.testing.assert_array_equal(uncached.read(100, 5000), reader.read(100, 5000))
    assert len(uncached.cache) == 0


def test_concurrent_reads_give_serial_answers(rec):
    data, _, cbin, ch = rec
    # A cache smaller than the windows forces decoding races and evictions.
    reader = CbinReader(cbin, ch, cache_bytes=CbinReader(cbin, ch).chunk_nbytes * 2, n_threads=3)
    windows = _windows(reader.n_samples, np.random.default_rng(2), count=200, max_len=6000)
    errors, results = [], {}

    def work(part):
        try:
            for i in part:
                a, b = windows[i]
                results[i] = reader.read(a, b, [1, 3, 20] if i % 2 else None)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(range(k, len(windows), 8),)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, (a, b) in enumerate(windows):
        np.testing.assert_array_equal(results[i], data[a:b, [1, 3, 20]] if i % 2 else data[a:b])


def test_peak_memory_of_a_one_second_read(tmp_path):
    """Issue target (g): a 1 s read holds at most two chunks beyond the cache cap."""
    rate, n_channels = 8000, 385
    data = np.round(np.random.default_rng(5).normal(0, 20, (3 * rate, n_channels))).astype(np.int16)
    data.tofile(tmp_path / "big.bin")
    mtscomp.compress(
        tmp_path / "big.bin",
        tmp_path / "big.cbin",
        tmp_path / "big.ch",
        sample_rate=rate,
        n_channels=n_channels,
        dtype="int16",
        check_after_compress=False,
        quiet=True,
        n_threads=1,
    )
    chunk = rate * n_channels * 2
    for cap in (0, chunk):
        reader = CbinReader(tmp_path / "big.cbin", tmp_path / "big.ch", cache_bytes=cap)
        reader.read(0, 1)  # thread pool, file and zlib state: not what is measured
        reader.cache.clear()
        tracemalloc.start()
        try:
            out = reader.read(rate // 2, rate // 2 + rate)  # 1 s straddling two chunks
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(out, data[rate // 2 : rate // 2 + rate])
        # Beyond the returned window: the two chunks being decoded (or cached), 1 MiB read blocks.
        assert chunk < peak - out.nbytes <= 2 * chunk + cap + 3 * 1024**2, (peak / chunk, cap)


def test_truncated_cbin_raises_naming_it(rec, tmp_path):
    _, _, cbin, ch = rec
    short = tmp_path / "short.cbin"
    short.write_bytes(cbin.read_bytes()[:-1000])
    with pytest.raises(AlfFormatError, match=r"short\.cbin.*truncated"):
        CbinReader(short, ch)
    # Truncated after the reader was made: early chunks still read, the lost ones raise.
    copy = tmp_path / "copy.cbin"
    copy.write_bytes(cbin.read_bytes())
    reader = CbinReader(copy, ch)
    reader.read(0, 10)
    os.truncate(copy, int(reader.chunk_offsets[2]))
    np.testing.assert_array_equal(reader.read(0, 100), _mtscomp(cbin, ch)[0:100])
    with pytest.raises(AlfFormatError, match=r"copy\.cbin") as info:
        reader.read(reader.n_samples - 10, reader.n_samples)
    assert str(copy) in info.value.paths


def test_corrupt_chunk_raises(rec, tmp_path):
    _, _, cbin, ch = rec
    raw = bytearray(cbin.read_bytes())
    offsets = read_ch(ch)["chunk_offsets"]
    raw[offsets[1] + 10 : offsets[1] + 60] = bytes(50)
    bad = tmp_path / "bad.cbin"
    bad.write_bytes(bytes(raw))
    reader = CbinReader(bad, ch)
    with pytest.raises(AlfFormatError, match=r"bad\.cbin.*chunk 1"):
        reader.read(int(reader.chunk_bounds[1]), int(reader.chunk_bounds[1]) + 5)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"n_channels": 3}),
        json.dumps(
            {
                "n_channels": 3,
                "dtype": "int16",
                "sample_rate": 1,
                "chunk_bounds": [0, 5, 4],
                "chunk_offsets": [0, 1, 2],
            }
        ),
    ],
)
def test_bad_index_raises(tmp_path, content):
    ch = tmp_path / "x.ch"
    ch.write_text(content)
    (tmp_path / "x.cbin").write_bytes(b"")
    with pytest.raises(AlfFormatError, match=r"x\.ch"):
        CbinReader(tmp_path / "x.cbin", ch)


def test_bin_windows_and_no_memory_map(rec):
    data, bin_path, _, _ = rec
    reader = BinReader(bin_path, N_CHANNELS)
    assert reader.shape == data.shape
    for a, b in _windows(reader.n_samples, np.random.default_rng(3)):
        np.testing.assert_array_equal(reader.read(a, b), data[a:b])
        np.testing.assert_array_equal(reader.read(a, b, [4, 0]), data[a:b, [4, 0]])
    with open("/proc/self/maps") as f:
        assert str(bin_path) not in f.read()


def test_bin_that_shrinks_after_open_raises(rec, tmp_path):
    data, bin_path, _, _ = rec
    copy = tmp_path / "shrinking.bin"
    copy.write_bytes(bin_path.read_bytes())
    reader = BinReader(copy, N_CHANNELS)
    np.testing.assert_array_equal(reader.read(0, 10), data[:10])
    os.truncate(copy, 1000 * N_CHANNELS * 2)
    np.testing.assert_array_equal(reader.read(0, 1000), data[:1000])
    with pytest.raises(AlfFormatError, match=r"shrinking\.bin"):
        reader.read(900, 2000)
    with pytest.raises(AlfError):
        BinReader(copy, N_CHANNELS + 1)  # not a whole number of samples


def test_readers_pickle_by_path(rec):
    data, bin_path, cbin, ch = rec
    for reader in (CbinReader(cbin, ch), BinReader(bin_path, N_CHANNELS)):
        reader.read(0, 100)
        blob = pickle.dumps(reader)
        assert len(blob) < 20_000  # no samples, no cache travel
        clone = pickle.loads(blob)
        np.testing.assert_array_equal(clone.read(50, 3000), data[50:3000])


def test_windows_outside_raise(rec):
    _, _, cbin, ch = rec
    reader = CbinReader(cbin, ch)
    with pytest.raises(IndexError):
        reader.read(0, reader.n_samples + 1)
    with pytest.raises(IndexError):
        reader.read(0, 10, [N_CHANNELS])


def test_channel_subsets_through_small_blocks(rec, monkeypatch):
    import neo_alf.cbin as cbin_module

    data, bin_path, cbin, ch = rec
    monkeypatch.setattr(cbin_module, "_BIN_BLOCK", 1000)  # many row blocks per window
    for reader in (BinReader(bin_path, N_CHANNELS), CbinReader(cbin, ch, cache_bytes=0)):
        for cols in ([5, 6, 7], [7, 2, 2, 19], [-1, 0], list(range(N_CHANNELS)), slice(3, 20, 4)):
            expected = data[123:4567][:, cols]
            np.testing.assert_array_equal(reader.read(123, 4567, cols), expected)
