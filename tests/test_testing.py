"""The generated test data cannot drift silently: regenerate each preset and compare with the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neo_alf.testing import TEST_PRESETS, file_digests, make_session

MANIFEST = json.loads((Path(__file__).parents[1] / "test_data_manifest.json").read_text())


def test_manifest_lists_every_test_preset():
    assert sorted(MANIFEST["sessions"]) == sorted(TEST_PRESETS)


@pytest.mark.parametrize("preset", TEST_PRESETS)
def test_regenerated_session_matches_manifest(tmp_path, preset):
    entry = MANIFEST["sessions"][preset]
    assert entry["generator"] == "neo_alf.testing.make_session"
    gen = make_session(tmp_path, **entry["arguments"])
    assert gen.path.relative_to(tmp_path).as_posix() == entry["session_path"]
    assert file_digests(gen.path) == entry["files"]


def test_generator_is_deterministic_and_seed_sensitive(tmp_path):
    a = file_digests(make_session(tmp_path / "a", "tiny").path)
    b = file_digests(make_session(tmp_path / "b", "tiny").path)
    c = file_digests(make_session(tmp_path / "c", "tiny", seed=99).path)
    assert a == b
    assert a != c


def test_spike_trains_respect_refractory_period(tmp_path):
    gen = make_session(tmp_path, "one_probe")
    folder = gen.path / "alf/probe00/pykilosort"
    times, clusters = np.load(folder / "spikes.times.npy"), np.load(folder / "spikes.clusters.npy")
    assert np.all(np.diff(times) >= 0)
    for k, count in enumerate(gen.truth["probes"]["alf/probe00/pykilosort"]["spike_counts"]):
        own = times[clusters == k]
        assert own.size == count
        assert own.size < 2 or np.diff(own).min() >= 0.002 - 1e-12


def test_unpadded_session_number(tmp_path):
    gen = make_session(tmp_path, "tiny", pad_number=False, number=7)
    assert gen.path.name == "7"
