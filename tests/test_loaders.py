"""load_object / load_dataset on generated sessions, and the read-only promise."""

from __future__ import annotations

import numpy as np
import pytest

import neo_alf
from neo_alf import (
    AlfAmbiguousError,
    AlfDimensionError,
    AlfFormatError,
    AlfSession,
    AlfWarning,
    load_dataset,
    load_object,
)
from neo_alf.testing import REVISION

from .conftest import snapshot


def test_load_object_trials(make_generated):
    gen = make_generated("tiny")
    trials = load_object(gen.path, "trials")
    n = gen.truth["trials"]["n"]
    assert trials["intervals"].shape == (n, 2)
    assert "goCue_times_bpod" in trials and "goCue_times" in trials
    assert int(np.isnan(trials["firstMovement_times"]).sum()) == gen.truth["trials"]["n_nan_first_movement"]
    np.testing.assert_array_equal(trials["intervals"], gen.truth["trials"]["intervals"])
    assert trials.files["intervals"][0].name == "_ibl_trials.intervals.npy"


def test_load_object_multipart_joined_in_order(make_generated):
    gen = make_generated("tiny")
    licks = load_object(gen.path, "licks")
    assert licks["times"].shape == (gen.truth["licks"]["n"],)
    assert (
        licks["times"][0] == gen.truth["licks"]["first"] and licks["times"][-1] == gen.truth["licks"]["last"]
    )
    assert np.all(np.diff(licks["times"]) >= 0)
    assert [p.name for p in licks.files["times"]] == ["licks.times.part001.npy", "licks.times.part002.npy"]


def test_load_object_bin_with_metadata(make_generated):
    gen = make_generated("tiny")
    lfp = load_object(gen.path, "lfp", collection="raw_ephys_data/probe00", as_stored=True)
    truth = gen.truth["lfp"]
    assert not isinstance(lfp["raw"], np.memmap) and lfp["raw"].flags.writeable  # read, as ONE-api
    assert lfp["raw"].shape == (truth["n_samples"], truth["n_channels"]) and lfp["raw"].dtype == np.float32
    np.testing.assert_allclose(lfp["raw"][0], truth["first_row"])
    assert [c["unit"] for c in lfp.metadata["raw"]["columns"]] == ["uV"] * truth["n_channels"]
    assert lfp["timestamps"].shape == (2, 2)


def test_load_dataset_default_revision_is_newest(make_generated):
    gen = make_generated("two_probes")
    truth = gen.truth["probes"]["alf/probe00/pykilosort"]
    times = load_dataset(gen.path, "spikes.times", collection="alf/probe00/pykilosort")
    assert times[0] != truth["unrevised_first_spike"]
    old = load_dataset(gen.path, "spikes.times", collection="alf/probe00/pykilosort", revision="2000-01-01")
    assert old[0] == truth["unrevised_first_spike"]
    assert AlfSession(gen.path).dataset("spikes.times", "alf/probe00/pykilosort").revision == REVISION


def test_load_dataset_with_metadata(make_generated):
    gen = make_generated("tiny")
    xy, meta = load_dataset(gen.path, "headTracking.xyPos", return_metadata=True, as_stored=True)
    assert xy.shape == (gen.truth["head_tracking"]["n"], 2)
    named = load_dataset(gen.path, "headTracking.xyPos")  # all-numeric tsv: its header names kept
    assert named.dtype.names == ("x", "y") and named.shape == (gen.truth["head_tracking"]["n"],)
    np.testing.assert_array_equal(named["y"], xy[:, 1])
    assert [c["unit"] for c in meta["columns"]] == ["cm", "cm"]


def test_object_in_several_collections_needs_a_collection(make_generated):
    with pytest.raises(AlfAmbiguousError, match="pass collection="):
        load_object(make_generated("two_probes").path, "spikes")


def test_rows_that_differ_warn_naming_the_files(fresh_session):
    gen = fresh_session("tiny")
    np.save(gen.path / "alf/_ibl_trials.choice.npy", np.zeros(3))
    with pytest.warns(AlfWarning, match=r"_ibl_trials\.choice\.npy: .*choice: 3; the others"):
        trials = load_object(gen.path, "trials")  # as ONE-api: warn and load
    assert trials["choice"].shape == (3,) and trials["intervals"].shape[0] != 3
    with pytest.raises(AlfDimensionError, match=r"_ibl_trials\.choice\.npy"):
        AlfSession(gen.path).load_object("trials", strict=True)


def test_truncated_file_raises_naming_it(fresh_session):
    gen = fresh_session("tiny")
    path = gen.path / "alf/licks.times.part002.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(AlfFormatError, match=r"licks\.times\.part002\.npy"):
        load_object(gen.path, "licks")


def test_reading_never_writes_into_the_session(make_generated):
    gen = make_generated("two_probes")
    before = snapshot(gen.path.parents[3])
    session = AlfSession(gen.path)
    session.validate()
    for obj in session.objects:
        data = obj.load()
        for value in data.values():
            np.asarray(value).sum() if np.asarray(value).dtype.kind in "biuf" else None
    load_dataset(gen.path, "lfp.raw")
    assert snapshot(gen.path.parents[3]) == before


def test_public_api_is_exported():
    for name in [
        "load_object",
        "load_dataset",
        "AlfSession",
        "AlfError",
        "AlfNameError",
        "AlfFormatError",
        "AlfDimensionError",
        "AlfRelationError",
    ]:
        assert hasattr(neo_alf, name)
    assert issubclass(neo_alf.AlfError, ValueError)


# ------------------------------------------------------------------------------ ONE shapes and names


def test_load_object_gives_a_writable_bunch(make_generated):
    gen = make_generated("tiny")
    trials = load_object(gen.path, "trials")
    assert isinstance(trials, neo_alf.AlfBunch)
    assert trials.intervals is trials["intervals"]
    c = trials.firstMovement_times
    c[np.isnan(c)] = 0  # writable, in memory only
    assert not np.isnan(c).any()
    assert (
        int(np.isnan(load_object(gen.path, "trials").firstMovement_times).sum())
        == (gen.truth["trials"]["n_nan_first_movement"])
    )
    with pytest.raises(AttributeError, match=r"no attribute 'intervalz'.*intervals"):
        trials.intervalz  # noqa: B018
    import pickle

    again = pickle.loads(pickle.dumps(trials))
    assert isinstance(again, neo_alf.AlfBunch) and again.files == trials.files
    np.testing.assert_array_equal(again.intervals, trials.intervals)


def test_to_df_without_pandas_names_the_extra(make_generated, monkeypatch):
    import builtins

    from neo_alf.errors import AlfDependencyError

    trials = load_object(make_generated("tiny").path, "trials")
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith("pandas"):
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(AlfDependencyError, match=r"neo-alf\[one\]"):
        trials.to_df()


def test_to_df_columns(make_generated):
    pytest.importorskip("pandas")
    gen = make_generated("tiny")
    df = load_object(gen.path, "trials").to_df()
    n = gen.truth["trials"]["n"]
    assert len(df) == n and {"intervals_0", "intervals_1", "choice"} <= set(df.columns)
    np.testing.assert_array_equal(
        df["intervals_1"].to_numpy(), np.asarray(gen.truth["trials"]["intervals"])[:, 1]
    )


@pytest.mark.parametrize(
    "spelling",
    [
        "_ibl_wheel.position.npy",
        "_ibl_wheel.position",
        "wheel.position",
        "alf/_ibl_wheel.position.npy",
        "wheel.position.npy",
        "_ibl_wheel.pos*",
    ],
)
def test_load_dataset_spellings(make_generated, spelling):
    gen = make_generated("tiny")
    expected = np.load(gen.path / "alf/_ibl_wheel.position.npy")
    np.testing.assert_array_equal(load_dataset(gen.path, spelling), expected)


def test_load_dataset_revision_in_the_name(make_generated):
    gen = make_generated("two_probes")
    rev = load_dataset(gen.path, f"alf/probe00/pykilosort/#{REVISION}#/spikes.times.npy")
    np.testing.assert_array_equal(
        rev, np.load(gen.path / f"alf/probe00/pykilosort/#{REVISION}#/spikes.times.npy")
    )


def test_unknown_names_raise_naming_the_closest(make_generated):
    gen = make_generated("tiny")
    with pytest.raises(neo_alf.AlfNotFoundError, match=r"closest: .*wheel\.position"):
        load_dataset(gen.path, "wheel.positon")
    with pytest.raises(neo_alf.AlfNotFoundError, match="closest: trials"):
        load_object(gen.path, "trails")
    with pytest.raises(AlfAmbiguousError, match=r"several collections|matches 2"):
        load_dataset(gen.path, "spikes.times")


def test_object_wildcards_and_namespace(make_generated):
    gen = make_generated("tiny")
    camera = load_object(gen.path, "*Camera")
    np.testing.assert_array_equal(camera.times, np.load(gen.path / "alf/_ibl_leftCamera.times.npy"))
    assert set(load_object(gen.path, "_ibl_trials")) == set(load_object(gen.path, "trials"))
    with pytest.raises(neo_alf.AlfNotFoundError, match="namespace"):
        load_object(gen.path, "_foo_trials")
    with pytest.raises(AlfAmbiguousError, match="several objects"):
        load_object(gen.path, "*s")


def test_copy_on_write_maps_whole_files_and_copies_views(tmp_path):
    from neo_alf.loaders import _writable

    path = tmp_path / "a.npy"
    np.save(path, np.arange(100.0).reshape(50, 2))
    whole = _writable(np.load(path, mmap_mode="r"))
    assert isinstance(whole.base, np.memmap) and whole.base.mode == "c"
    view = _writable(np.load(path, mmap_mode="r")[10:20])  # a view: its data, not the file's start
    np.testing.assert_array_equal(view, np.arange(100.0).reshape(50, 2)[10:20])
    whole[0, 0] = view[0, 0] = -1.0
    np.testing.assert_array_equal(np.load(path), np.arange(100.0).reshape(50, 2))
