"""Per-unit spike access: counts, the first request, the index, windows, and unsorted spike times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neo_alf.errors import AlfFormatError, AlfRelationError
from neo_alf.spikeindex import SpikeIndex


@pytest.fixture(autouse=True, params=["one pass", "three parts"])
def layout(request):
    """Every test twice: passes over the whole columns, and in three threaded parts."""
    if request.param == "three parts":
        request.getfixturevalue("many_parts")
    return request.param


def _spikes(n=5000, k=7, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0, 100, n)), rng.integers(0, k, n).astype(np.uint32)


def _files(folder: Path, times, clusters):
    np.save(folder / "spikes.times.npy", times)
    np.save(folder / "spikes.clusters.npy", clusters)
    return (
        lambda: np.load(folder / "spikes.times.npy", mmap_mode="r"),
        lambda: np.load(folder / "spikes.clusters.npy", mmap_mode="r"),
    )


def _mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


@pytest.mark.usefixtures("kernels_backend")
def test_counts_and_per_unit_times_match_masks():
    times, clusters = _spikes()
    index = SpikeIndex(times, clusters, n_units=9)
    assert index.n_units == 9 and index.count(8) == 0
    assert index.counts.tolist() == np.bincount(clusters, minlength=9).tolist()
    for u in range(9):
        rows, t = index.window(u)
        np.testing.assert_array_equal(t, times[clusters == u])
        np.testing.assert_array_equal(rows, np.flatnonzero(clusters == u))
        np.testing.assert_array_equal(index.times(u), times[clusters == u])
        np.testing.assert_array_equal(index.rows(u), np.flatnonzero(clusters == u))
    assert (index.t_first, index.t_last) == (times[0], times[-1])


@pytest.mark.usefixtures("kernels_backend")
def test_first_request_builds_nothing_the_second_builds_the_index_once():
    times, clusters = _spikes()
    index = SpikeIndex(times, clusters)
    np.testing.assert_array_equal(index.times(2), times[clusters == 2])  # a streaming pass
    assert index._sorted_times is None and index._order is None
    np.testing.assert_array_equal(index.times(5), times[clusters == 5])
    built = index._sorted_times
    assert built is not None and index._order is None  # times only: rows were not asked for
    index.times(0)
    assert index._sorted_times is built and not built.flags.writeable
    index.rows(1)
    order = index._order
    assert order is not None and order.dtype == np.int32 and not order.flags.writeable
    np.testing.assert_array_equal(order, np.argsort(clusters, kind="stable"))


@pytest.mark.usefixtures("kernels_backend")
def test_returned_arrays_are_read_only_views_of_the_index():
    times, clusters = _spikes()
    index = SpikeIndex(times, clusters)
    for _ in range(3):  # the first request's private arrays, then views of the index
        for got in (index.times(1), *index.window(1), index.rows(1)):
            assert not got.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                got[:] = -1
    assert np.shares_memory(index.times(1), index._sorted_times)
    np.testing.assert_array_equal(index.times(1), times[clusters == 1])


@pytest.mark.usefixtures("kernels_backend")
@pytest.mark.parametrize("first", ["times", "window"])
def test_windows_have_inclusive_bounds(first):
    times = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 4.0])
    clusters = np.array([0, 1, 1, 1, 0, 1], dtype=np.uint32)
    index = SpikeIndex(times, clusters)
    for _ in range(2):  # first request (streaming), then the index
        got = index.times(1, 1.0, 2.0) if first == "times" else index.window(1, 1.0, 2.0)[1]
        assert got.tolist() == [1.0, 1.0, 2.0]
        rows, t = index.window(1, 1.0, 2.0)
        assert rows.tolist() == [1, 2, 3] and t.tolist() == [1.0, 1.0, 2.0]
        assert index.times(1, 4.5, None).size == 0 and index.times(0, None, 0.0).tolist() == [0.0]


@pytest.mark.usefixtures("kernels_backend", "small_chunks")
def test_files_are_read_in_chunks_and_never_kept_mapped(tmp_path):
    times, clusters = _spikes(n=25_000, k=40, seed=5)
    index = SpikeIndex(*_files(tmp_path, times, clusters), n_units=40)
    assert index._times.file is not None and index._clusters.file is not None
    for u in range(40):
        np.testing.assert_array_equal(index.times(u), times[clusters == u])
        np.testing.assert_array_equal(index.window(u)[0], np.flatnonzero(clusters == u))
    assert not _mapped(tmp_path / "spikes.times.npy")
    assert not _mapped(tmp_path / "spikes.clusters.npy")


def test_chunked_build_equals_a_global_stable_sort(kernels_backend, small_chunks, tmp_path, layout):
    times, clusters = _spikes(n=300_000, k=700, seed=3)
    index = SpikeIndex(*_files(tmp_path, times, clusters), n_units=700)
    assert len(index._bounds) - 1 == (3 if layout == "three parts" else 1)
    assert index._part_counts is None  # construction only checks the indices: nothing counted
    np.testing.assert_array_equal(index.counts, np.bincount(clusters, minlength=700))
    assert index._part_counts.shape == (len(index._bounds) - 1, 700)
    order = np.argsort(clusters, kind="stable")
    index.times(0)  # the first request: a streaming pass
    index.times(1)
    index.rows(0)
    np.testing.assert_array_equal(index._order, order)
    np.testing.assert_array_equal(index._sorted_times, times[order])


@pytest.mark.usefixtures("kernels_backend")
def test_sparse_cluster_ids_without_a_clusters_table():
    times = np.arange(6.0)
    clusters = np.array([70_000, 3, 70_000, 900, 3, 3], dtype=np.uint32)
    index = SpikeIndex(times, clusters)
    assert index.unit_ids.tolist() == [3, 900, 70_000] and index.counts.tolist() == [3, 1, 2]
    for _ in range(2):
        assert index.times(0).tolist() == [1.0, 4.0, 5.0]
        assert index.window(2)[1].tolist() == [0.0, 2.0] and index.rows(1).tolist() == [3]


@pytest.mark.usefixtures("kernels_backend")
@pytest.mark.parametrize(
    ("bad", "n_units", "match"),
    [
        (-1, None, "row 3: negative cluster index -1"),
        (9, 9, r"row 3: cluster index 9 but clusters\.\* has 9"),
    ],
)
def test_cluster_indices_outside_the_table_name_the_row(bad, n_units, match):
    times, clusters = np.arange(6.0), np.array([0, 1, 2, bad, 1, 0], dtype=np.int64)
    with pytest.raises(AlfRelationError, match=match):
        SpikeIndex(times, clusters, n_units=n_units, clusters_paths=["spikes.clusters.npy"])


@pytest.mark.usefixtures("kernels_backend")
def test_cluster_ids_of_other_dtypes():
    times = np.arange(8.0)
    for dtype in (np.uint8, np.int16, np.uint64, np.dtype(">i4")):
        clusters = np.array([1, 0, 1, 2, 2, 1, 0, 0], dtype=dtype)
        index = SpikeIndex(times, clusters, n_units=3)
        for _ in range(2):
            assert index.times(0).tolist() == [1.0, 6.0, 7.0] and index.rows(2).tolist() == [3, 4]


@pytest.mark.usefixtures("kernels_backend")
def test_unsorted_times_are_recovered_per_unit():
    times, clusters = _spikes()
    perm = np.random.default_rng(1).permutation(times.size)
    index = SpikeIndex(times[perm], clusters[perm])
    assert not index.sorted
    assert (index.t_first, index.t_last) == (times.min(), times.max())
    for u in range(7):  # the first through a streaming pass, the others through the index
        expected = np.sort(times[perm][clusters[perm] == u])
        np.testing.assert_array_equal(index.times(u), expected)
        rows, t = index.window(u)
        np.testing.assert_array_equal(t, expected)
        np.testing.assert_array_equal(times[perm][rows], expected)


def test_nan_spike_time_is_an_error():
    times, clusters = _spikes()
    times = times.copy()
    times[123] = np.nan
    with pytest.raises(AlfFormatError, match="spike 123"):
        SpikeIndex(times, clusters, times_paths=["spikes.times.npy"])


@pytest.mark.usefixtures("kernels_backend")
@pytest.mark.parametrize("fault", ["swap", "nan"])
@pytest.mark.parametrize("path", ["first request", "index"])
def test_disorder_the_probe_missed_is_caught_for_the_units_it_touches(fault, path):
    times, clusters = _spikes(n=100_000, k=3)
    times = times.copy()
    clusters[50_001] = clusters[50_002] = 0  # between two probe points
    if fault == "swap":
        times[50_001], times[50_002] = times[50_002], times[50_001]
    else:
        times[50_001] = np.nan
    index = SpikeIndex(times, clusters, times_paths=["spikes.times.npy"])
    assert index.sorted
    if path == "index":
        index.times(1)  # the first request, on a clean unit: served
    with pytest.raises(AlfFormatError, match="cluster 0 are not sorted") as err:
        index.times(0)
    assert "spikes.times.npy" in str(err.value)
    np.testing.assert_array_equal(index.times(2), times[clusters == 2])  # other units still served


@pytest.mark.usefixtures("kernels_backend")
def test_one_unit_of_everything():
    times, _ = _spikes()
    index = SpikeIndex(times, None)
    assert index.n_units == 1 and index.count(0) == times.size
    rows, t = index.window(0, 10.0, 20.0)
    np.testing.assert_array_equal(t, times[(times >= 10) & (times <= 20)])
    np.testing.assert_array_equal(times[rows], t)
    np.testing.assert_array_equal(index.times(0), times)


@pytest.mark.usefixtures("kernels_backend")
def test_one_unit_of_unsorted_spikes_is_recovered():
    times, _ = _spikes()
    perm = np.random.default_rng(3).permutation(times.size)
    index = SpikeIndex(times[perm], None)
    assert not index.sorted
    for _ in range(2):
        rows, t = index.window(0, 10.0, 20.0)
        np.testing.assert_array_equal(t, times[(times >= 10) & (times <= 20)])
        np.testing.assert_array_equal(times[perm][rows], t)
        np.testing.assert_array_equal(index.times(0), times)
        np.testing.assert_array_equal(times[perm][index.rows(0)], times)


@pytest.mark.usefixtures("kernels_backend")
def test_empty_collection():
    index = SpikeIndex(np.zeros(0), np.zeros(0, dtype=np.uint32), n_units=2)
    assert index.counts.tolist() == [0, 0] and index.t_first is None
    for _ in range(2):
        assert index.times(1).size == 0 and index.rows(0).size == 0


@pytest.mark.usefixtures("kernels_backend")
def test_a_fall_across_a_part_edge_is_caught():
    times, clusters = _spikes(n=15_000, k=4, seed=7)
    times = times.copy()
    clusters[4999] = clusters[5000] = 1  # rows 4999 | 5000: the edge of parts 1 and 2 (of 3)
    times[4999], times[5000] = times[5000], times[4999] + 1e-9
    index = SpikeIndex(times, clusters)
    assert index.sorted
    index.times(0)  # first request: served by a streaming pass
    with pytest.raises(AlfFormatError, match="cluster 1 are not sorted"):
        index.times(1)
    np.testing.assert_array_equal(index.times(2), times[clusters == 2])


@pytest.mark.usefixtures("kernels_backend")
def test_the_first_bad_index_is_named_whichever_part_finds_it():
    times, clusters = np.arange(15_000.0), np.zeros(15_000, dtype=np.int64)
    clusters[[7_000, 12_000]] = [5, -2]
    with pytest.raises(AlfRelationError, match=r"row 7000: cluster index 5 but clusters\.\* has 3 rows"):
        SpikeIndex(times, clusters, n_units=3)
    with pytest.raises(AlfRelationError, match="row 12000: negative cluster index -2"):
        SpikeIndex(times, clusters)


@pytest.mark.usefixtures("kernels_backend")
@pytest.mark.parametrize("huge", [2**31, 2**40, 2**63 - 1])
def test_memory_follows_the_number_of_distinct_ids_not_their_values(huge):
    """Issue 14.6: one flipped bit (an id of 2**31) without clusters.* once allocated 16 GiB."""
    import tracemalloc

    times, clusters = _spikes(n=20_000, k=5)
    clusters = clusters.astype(np.int64)
    clusters[[7, 9_000]] = huge
    tracemalloc.start()
    try:
        index = SpikeIndex(times, clusters)
        for _ in range(2):  # the first request, then the index
            for u, cid in enumerate(index.unit_ids.tolist()):
                np.testing.assert_array_equal(index.times(u), times[clusters == cid])
                np.testing.assert_array_equal(index.rows(u), np.flatnonzero(clusters == cid))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert index.unit_ids.tolist() == [0, 1, 2, 3, 4, huge]
    assert index.counts.tolist() == [int((clusters == c).sum()) for c in [0, 1, 2, 3, 4, huge]]
    assert peak < 8 * 2**20


def test_an_id_beyond_signed_64_bits_names_its_row():
    clusters = np.array([0, 1, 2**63 + 5, 1], dtype=np.uint64)
    with pytest.raises(AlfRelationError, match="row 2: cluster index 9223372036854775813 is beyond"):
        SpikeIndex(np.arange(4.0), clusters, clusters_paths=["spikes.clusters.npy"])


def test_sparse_and_dense_ids_across_parts_are_merged(many_parts):
    times, clusters = _spikes(n=16_000, k=6, seed=4)
    clusters = clusters.astype(np.int64)
    clusters[:5000] += 2**33  # the first part's ids are sparse, the others' dense
    index = SpikeIndex(times, clusters)
    expected = np.unique(clusters)
    assert index.unit_ids.tolist() == expected.tolist()
    for _ in range(2):
        for u, cid in enumerate(expected.tolist()):
            np.testing.assert_array_equal(index.times(u), times[clusters == cid])


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fault", ["nan", "swap", "inf"])
@pytest.mark.parametrize("request_", ["all", "window", "rows"])
def test_one_unit_finds_faults_the_probe_skipped(tmp_path, fault, request_):
    """Issue 14.9: without spikes.clusters, a NaN or a fall between probe points is an error naming
    the file, whatever is asked (all times, a window far from the fault, the rows)."""
    times = np.sort(np.random.default_rng(2).uniform(0, 100, 50_000))
    times[30_001] = {"nan": np.nan, "inf": np.inf, "swap": times[30_002] + 1e-6}[fault]
    np.save(tmp_path / "spikes.times.npy", times)
    opener = lambda: np.load(tmp_path / "spikes.times.npy", mmap_mode="r")  # noqa: E731
    index = SpikeIndex(opener, None, times_paths=[tmp_path / "spikes.times.npy"])
    assert index.sorted  # the strided probe missed it
    with pytest.raises(AlfFormatError, match=r"spikes\.times\.npy") as err:
        if request_ == "all":
            index.times(0)
        elif request_ == "window":
            index.window(0, 1.0, 2.0)
        else:
            index.rows(0)
    assert ("spike 30001" in str(err.value)) if fault != "swap" else ("not sorted" in str(err.value))


@pytest.mark.usefixtures("small_chunks")
def test_one_unit_windows_from_a_file_match_searchsorted(tmp_path):
    times = np.repeat(np.sort(np.random.default_rng(5).uniform(0, 100, 20_000)), 2)  # duplicates
    np.save(tmp_path / "spikes.times.npy", times)
    index = SpikeIndex(lambda: np.load(tmp_path / "spikes.times.npy", mmap_mode="r"), None)
    for lo, hi in [(None, None), (10.0, 20.0), (times[777], times[9_999]), (-5.0, 0.0), (100.0, 200.0)]:
        rows, got = index.window(0, lo, hi)
        low, high = -np.inf if lo is None else lo, np.inf if hi is None else hi
        expected = times[(times >= low) & (times <= high)]
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(times[rows], expected)
    assert not _mapped(tmp_path / "spikes.times.npy")


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("clustered", [True, False])
@pytest.mark.parametrize("when", ["first request", "index build"])
def test_spike_times_truncated_after_parse_header_is_an_alf_error(tmp_path, clustered, when):
    """Issue 14.13: a spikes.times that shrinks under an open reader raises AlfError naming it."""
    times, clusters = _spikes(n=20_000, k=4)
    t_open, c_open = _files(tmp_path, times, clusters)
    index = SpikeIndex(t_open, c_open if clustered else None, times_paths=[tmp_path / "spikes.times.npy"])
    if when == "index build" and clustered:
        index.times(0)
    path = tmp_path / "spikes.times.npy"
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 8 * 5_000)
    with pytest.raises(AlfFormatError, match=r"spikes\.times\.npy.*(truncated|ended)"):
        index.times(1 if clustered else 0)
