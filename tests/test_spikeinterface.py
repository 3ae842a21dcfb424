"""SpikeInterface sortings from ALF collections (runs when spikeinterface is installed; CI installs it)."""

from __future__ import annotations

import numpy as np
import pytest

si = pytest.importorskip("spikeinterface")
from spikeinterface.core import BaseSorting, load  # noqa: E402

from neo_alf.errors import AlfAmbiguousError, AlfDimensionError, AlfNotFoundError  # noqa: E402
from neo_alf.spikeinterface import AlfSortingExtractor, read_alf_sorting  # noqa: E402

COLLECTION = "alf/probe01/pykilosort"


def test_sorting_units_are_clusters(make_generated):
    gen = make_generated("two_probes")
    truth = gen.truth["probes"][COLLECTION]
    sorting = read_alf_sorting(gen.path, collection=COLLECTION, sampling_frequency=30000.0)
    assert isinstance(sorting, BaseSorting)
    assert list(sorting.get_unit_ids()) == list(range(truth["n_clusters"]))
    folder = gen.path / COLLECTION
    times, clusters = np.load(folder / "spikes.times.npy"), np.load(folder / "spikes.clusters.npy")
    for unit, count in enumerate(truth["spike_counts"]):
        frames = sorting.get_unit_spike_train(unit_id=unit)
        assert frames.size == count
        np.testing.assert_array_equal(frames, np.rint(times[clusters == unit] * 30000.0).astype(np.int64))
        seconds = sorting.get_unit_spike_train(unit_id=unit, return_times=True)
        np.testing.assert_allclose(seconds, times[clusters == unit], atol=0.5 / 30000.0)


def test_cluster_attributes_are_unit_properties(make_generated):
    gen = make_generated("two_probes")
    sorting = read_alf_sorting(gen.path, collection=COLLECTION)
    folder = gen.path / COLLECTION
    np.testing.assert_array_equal(
        sorting.get_property("cluster_depths"), np.load(folder / "clusters.depths.npy")
    )
    channels = np.load(folder / "clusters.channels.npy")
    regions = np.load(folder / "channels.brainLocationIds_ccf_2017.npy")
    np.testing.assert_array_equal(
        sorting.get_property("channel_brainLocationIds_ccf_2017"), regions[channels]
    )
    assert set(sorting.get_property("collection")) == {COLLECTION}


def test_to_dict_round_trip(make_generated):
    gen = make_generated("two_probes")
    sorting = read_alf_sorting(gen.path, collection=COLLECTION, sampling_frequency=25000.0)
    again = load(sorting.to_dict())
    assert isinstance(again, AlfSortingExtractor)
    assert list(again.get_unit_ids()) == list(sorting.get_unit_ids())
    assert again.get_sampling_frequency() == 25000.0
    for unit in sorting.get_unit_ids():
        np.testing.assert_array_equal(again.get_unit_spike_train(unit), sorting.get_unit_spike_train(unit))


def test_collection_is_needed_with_several_probes(make_generated):
    path = make_generated("two_probes").path
    with pytest.raises(AlfAmbiguousError, match="pass collection="):
        read_alf_sorting(path)
    with pytest.raises(AlfNotFoundError):
        read_alf_sorting(path, collection="alf/probe07/pykilosort")
    one = read_alf_sorting(make_generated("one_probe").path)  # a single collection needs no name
    assert (
        one.get_num_units()
        == make_generated("one_probe").truth["probes"]["alf/probe00/pykilosort"]["n_clusters"]
    )


def test_one_sorting_exactly_and_strict(tmp_path):
    """An old ks2 sorting in alf/probe00 and pykilosort below it: each read alone, never merged."""
    import warnings

    from neo_alf.errors import AlfWarning

    for rel, ids in [("alf/probe00", [0, 1, 1, 0]), ("alf/probe00/pykilosort", [0, 2, 2, 2])]:
        (tmp_path / rel).mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / rel / "spikes.times.npy", np.array([0.1, 0.2, 0.3, 0.4]))
        np.save(tmp_path / rel / "spikes.clusters.npy", np.array(ids))
        np.save(tmp_path / rel / "clusters.depths.npy", np.arange(max(ids) + 1, dtype=float))
    old = read_alf_sorting(tmp_path, collection="alf/probe00")
    new = read_alf_sorting(tmp_path, collection="alf/probe00/pykilosort")
    assert list(old.unit_ids) == [0, 1] and list(new.unit_ids) == [0, 1, 2]
    assert sum(len(new.get_unit_spike_train(u)) for u in new.unit_ids) == 4
    np.save(tmp_path / "alf/probe00/clusters.amps.npy", np.zeros(5))  # rows differ from depths
    with pytest.raises(AlfDimensionError, match=r"clusters\.amps\.npy"):
        read_alf_sorting(tmp_path, collection="alf/probe00", strict=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tolerant = read_alf_sorting(tmp_path, collection="alf/probe00")
    assert list(tolerant.unit_ids) == [0, 1]
    assert any(issubclass(w.category, AlfWarning) and "clusters.amps.npy" in str(w.message) for w in caught)
