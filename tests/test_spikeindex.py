"""Per-unit spike access: counts, windows, and what happens when spike times are not sorted."""

from __future__ import annotations

import numpy as np
import pytest

from neo_alf.errors import AlfFormatError
from neo_alf.spikeindex import SpikeIndex


def _spikes(n=5000, k=7, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0, 100, n)), rng.integers(0, k, n).astype(np.uint32)


def test_counts_and_per_unit_times_match_masks():
    times, clusters = _spikes()
    index = SpikeIndex(times, clusters, n_units=9)
    assert index.n_units == 9 and index.count(8) == 0
    for u in range(9):
        rows, t = index.window(u)
        np.testing.assert_array_equal(t, times[clusters == u])
        np.testing.assert_array_equal(rows, np.flatnonzero(clusters == u))
    assert (index.t_first, index.t_last) == (times[0], times[-1])


def test_order_is_built_once_and_lazily():
    times, clusters = _spikes()
    index = SpikeIndex(times, clusters)
    assert index._order is None  # construction does not sort
    index.window(0)
    order = index._order
    index.window(3)
    assert index._order is order and not order.flags.writeable


def test_unsorted_times_are_recovered_per_unit():
    times, clusters = _spikes()
    perm = np.random.default_rng(1).permutation(times.size)
    index = SpikeIndex(times[perm], clusters[perm])
    assert not index.sorted
    assert (index.t_first, index.t_last) == (times.min(), times.max())
    for u in range(7):
        np.testing.assert_array_equal(index.window(u)[1], np.sort(times[perm][clusters[perm] == u]))


def test_nan_spike_time_is_an_error():
    times, clusters = _spikes()
    times = times.copy()
    times[123] = np.nan
    with pytest.raises(AlfFormatError, match="spike 123"):
        SpikeIndex(times, clusters, times_paths=["spikes.times.npy"])


def test_disorder_the_probe_missed_is_caught_when_served():
    times, clusters = _spikes(n=100_000, k=3)
    times = times.copy()
    times[50_001], times[50_002] = times[50_002], times[50_001]  # between two probe points
    clusters[50_001] = clusters[50_002] = 0
    index = SpikeIndex(times, clusters, times_paths=["spikes.times.npy"])
    assert index.sorted
    with pytest.raises(AlfFormatError, match="not sorted"):
        index.window(0)


def test_sparse_cluster_ids_without_a_clusters_table():
    times = np.arange(6.0)
    clusters = np.array([70_000, 3, 70_000, 900, 3, 3], dtype=np.uint32)
    index = SpikeIndex(times, clusters)
    assert index.unit_ids.tolist() == [3, 900, 70_000] and index.counts.tolist() == [3, 1, 2]
    assert index.window(0)[1].tolist() == [1.0, 4.0, 5.0]
    assert index.window(2)[1].tolist() == [0.0, 2.0]


def test_chunked_sort_equals_a_global_stable_argsort():
    times, clusters = _spikes(n=300_000, k=700, seed=3)
    index = SpikeIndex(times, lambda: clusters, n_units=700)
    expected = np.argsort(clusters, kind="stable")
    np.testing.assert_array_equal(np.concatenate([index.rows(u) for u in range(700)]), expected)


def test_opener_with_unsorted_times_builds_without_deadlock(tmp_path):
    """The order build maps spikes.times under its own lock: it must not wait for itself."""
    times, clusters = _spikes(n=20_000, k=5, seed=4)
    perm = np.random.default_rng(2).permutation(times.size)
    np.save(tmp_path / "spikes.times.npy", times[perm])
    np.save(tmp_path / "spikes.clusters.npy", clusters[perm])
    index = SpikeIndex(
        lambda: np.load(tmp_path / "spikes.times.npy", mmap_mode="r"),
        lambda: np.load(tmp_path / "spikes.clusters.npy", mmap_mode="r"),
    )
    assert index._mapped is None and not index.sorted  # nothing mapped by construction
    for u in range(5):
        np.testing.assert_array_equal(index.window(u)[1], np.sort(times[perm][clusters[perm] == u]))


def test_positioned_reads_match_the_memory_map(tmp_path):
    times, clusters = _spikes(n=50_000, k=4, seed=5)
    np.save(tmp_path / "t.npy", times)
    index = SpikeIndex(lambda: np.load(tmp_path / "t.npy", mmap_mode="r"), clusters)
    assert index._file is not None
    first = index.window(0)[1]  # within the budget: positioned reads
    assert index._mapped is None
    for u in range(4):
        np.testing.assert_array_equal(index.window(u)[1], times[clusters == u])
    np.testing.assert_array_equal(first, times[clusters == 0])
