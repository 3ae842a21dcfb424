"""The ONE adapter on a local cache: eids and paths (against ONE-api), search, loading, load_ts."""

from __future__ import annotations

import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from neo_alf import AlfIO
from neo_alf.errors import AlfAmbiguousError, AlfNotFoundError
from neo_alf.one import CacheIndex, OneAdapter, session_eid
from neo_alf.testing import make_session

pytest.importorskip("pyarrow")

SESSIONS = [  # (subject, date, number, padded)
    ("KS023", "2024-03-15", 1, True),
    ("KS023", "2024-03-16", 2, True),
    ("ZM_1743", "2024-03-15", 1, True),
    ("ZM_1", "2024-03-15", 1, False),  # unpadded folder: ONE-api cannot find it
]


def _tree(root: Path) -> Path:
    for i, (subject, date, number, padded) in enumerate(SESSIONS):
        make_session(
            root,
            "only_spikes" if subject == "ZM_1743" else "tiny",
            subject=subject,
            date=date,
            number=number,
            pad_number=padded,
            seed=i,
        )
    return root


@pytest.fixture(scope="module")
def tables_cache(tmp_path_factory):
    cache = pytest.importorskip("one.alf.cache")
    root = _tree(tmp_path_factory.mktemp("one_tables"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cache.make_parquet_db(root, hash_files=False)  # ONE-api hashes at ~0.2 s a file; not needed here
    return root


@pytest.fixture(scope="module")
def folder_cache(tmp_path_factory):
    return _tree(tmp_path_factory.mktemp("one_folders"))


def test_eid2path_agrees_with_one_api(tables_cache):
    api = pytest.importorskip("one.api")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = api.One(cache_dir=tables_cache, mode="local")
    adapter = OneAdapter(tables_cache, progress=False)
    assert adapter.index.source == "tables"
    eids = adapter.search()
    assert sorted(eids) == sorted(str(e) for e in one.search())
    for eid in eids:
        ours, theirs = adapter.eid2path(eid), Path(one.eid2path(eid))
        assert ours is not None and ours.is_dir()
        if ours.name == "1":  # the unpadded folder: ONE-api names a folder that does not exist
            assert not theirs.exists() and theirs.name == "001"
        else:
            assert ours == theirs
        assert adapter.path2eid(ours) == eid == str(one.path2eid(theirs))


def test_one_api_fixture_tables_in_the_old_format_load():
    one_pkg = pytest.importorskip("one")
    fixtures = Path(one_pkg.__file__).parent / "tests" / "fixtures"
    if not (fixtures / "sessions.pqt").exists():
        pytest.skip("this ONE-api release ships no fixture tables")
    import pandas as pd
    from iblutil.io.parquet import np2str

    index = CacheIndex.from_tables(fixtures)
    sessions = pd.read_parquet(fixtures / "sessions.pqt")
    assert list(sessions.index.names) == ["id_0", "id_1"]  # the int64-pair format
    expected = np2str(sessions.reset_index()[["id_0", "id_1"]].to_numpy())
    assert sorted(index.sessions) == sorted(expected)
    first = sessions.iloc[0]
    record = index.sessions[expected[0]]
    assert (record.subject, record.lab, record.number) == (first["subject"], first["lab"], first["number"])
    datasets = pd.read_parquet(fixtures / "datasets.pqt")
    assert sum(len(v) for v in index.datasets.values()) == len(datasets)


def test_folder_scan_gives_stable_name_based_eids(folder_cache, tmp_path):
    a = OneAdapter(folder_cache, progress=False)
    assert a.index.source == "folders" and len(a.index.sessions) == len(SESSIONS)
    eid = session_eid("cortexlab", "KS023", "2024-03-15", 1)
    assert eid == str(
        uuid.uuid5(uuid.UUID("6f0d6c1e-6a8e-5b43-9d4c-0a1f6e2b7c31"), "cortexlab/KS023/2024-03-15/001")
    )
    assert a.eid2path(eid) == folder_cache / "cortexlab/Subjects/KS023/2024-03-15/001"
    # another machine, another folder, same sessions: the same eids
    copy = tmp_path / "elsewhere"
    shutil.copytree(folder_cache, copy)
    assert sorted(OneAdapter(copy, progress=False).search()) == sorted(a.search())
    unpadded = session_eid("cortexlab", "ZM_1", "2024-03-15", 1)
    assert a.eid2path(unpadded).name == "1"


def test_ids_refs_and_paths(folder_cache):
    one = OneAdapter(folder_cache, progress=False)
    eid = one.search(subject="KS023", date_range="2024-03-15")[0]
    path = one.eid2path(eid)
    assert one.to_eid(uuid.UUID(eid)) == eid
    assert one.to_eid(path) == eid and one.to_eid(str(path)) == eid
    assert one.to_eid("2024-03-15_1_KS023") == eid
    assert one.path2eid("KS023/2024-03-15/1") == eid  # relative, unpadded: the same session
    assert one.path2eid("/nowhere/else") is None
    assert one.eid2path(str(uuid.uuid4())) is None
    with pytest.raises(AlfNotFoundError):
        one.to_eid(str(uuid.uuid4()))
    with pytest.raises(AlfNotFoundError):
        one.to_eid("2024-03-15_9_KS023")


def test_ambiguous_ref(tmp_path):
    make_session(tmp_path, "no_spike_clusters", lab="labA")
    make_session(tmp_path, "no_spike_clusters", lab="labB")
    with pytest.raises(AlfAmbiguousError, match="2 sessions"):
        OneAdapter(tmp_path, progress=False).to_eid("2024-03-15_1_KS023")


def test_search_is_exact(folder_cache):
    one = OneAdapter(folder_cache, progress=False)
    by_subject = {one.index.sessions[e].subject for e in one.search(subject="ZM_1")}
    assert by_subject == {"ZM_1"}  # ONE-api's substring match would add ZM_1743
    assert len(one.search()) == len(SESSIONS)
    assert len(one.search(subject="KS023")) == 2
    assert len(one.search(subject="KS023", number=2)) == 1
    assert len(one.search(date_range=["2024-03-15", "2024-03-16"])) == 4  # inclusive
    assert len(one.search(date_range=("2024-03-16", None))) == 1
    assert one.search(lab="nolab") == []
    assert len(one.search(lab="cortexlab")) == 4
    # dataset types: any namespace (_ibl_trials), extension, collection, revision
    assert len(one.search(datasets=["trials.intervals", "spikes.times"])) == 3
    assert len(one.search(datasets="lfp.raw")) == 3
    assert one.search(datasets=["spikes.nothing"]) == []
    dates = [one.index.sessions[e].date for e in one.search()]
    assert dates == sorted(dates, reverse=True)


def test_list_and_load(folder_cache):
    one = OneAdapter(folder_cache, progress=False)
    eid = one.to_eid("2024-03-15_1_KS023")
    listed = one.list_datasets(eid)
    assert "alf/_ibl_trials.intervals.npy" in listed
    assert "alf/probe00/pykilosort/#2024-05-06#/spikes.times.npy" in listed
    assert all(
        p.startswith("alf/probe01/pykilosort/") for p in one.list_datasets(eid, "alf/probe01/pykilosort")
    )
    trials = one.load_object(eid, "trials")
    assert trials["intervals"].shape[1] == 2
    times = one.load_dataset(eid, "spikes.times", collection="alf/probe00/pykilosort")
    assert times.ndim == 1 and times.size > 0
    io = one.io(eid)
    assert isinstance(io, AlfIO)
    assert io.read_block(lazy=True).annotations["eid"] == eid


def _analytic_session(root: Path, rng: np.random.Generator) -> Path:
    folder = root / "lab/Subjects/sine/2024-01-01/001/alf"
    folder.mkdir(parents=True)
    t = np.sort(rng.uniform(0.0, 10.0, 20_000))  # irregular sampling
    np.save(folder / "wave.values.npy", np.sin(2 * np.pi * 1.0 * t))
    np.save(folder / "wave.timestamps.npy", t)
    n = 3001  # a regular 300 Hz cosine from 1 s to 11 s, clock as two sync points
    np.save(folder / "other.values.npy", np.cos(2 * np.pi * 0.5 * (1.0 + np.arange(n) / 300.0)))
    np.save(folder / "other.timestamps.npy", np.array([[0, 1.0], [n - 1, 1.0 + (n - 1) / 300.0]]))
    return root


def test_load_ts_resamples_analytic_signals(tmp_path):
    one = OneAdapter(_analytic_session(tmp_path, np.random.default_rng(0)), progress=False)
    eid = one.search()[0]
    wave, other, t = one.load_ts(eid, ["wave.values", "other.values"], sample_rate=1000.0)
    assert t[0] >= 1.0 and t[-1] <= 10.0  # the span both share
    np.testing.assert_allclose(np.diff(t), 1e-3, rtol=1e-9)
    assert np.max(np.abs(wave - np.sin(2 * np.pi * t))) < 1e-3
    assert np.max(np.abs(other - np.cos(np.pi * t))) < 1e-3
    uneven = np.array([0.5, 2.0, 2.25, 7.125, 11.5])  # explicit, uneven; outside a span -> NaN
    wave2, other2, t2 = one.load_ts(eid, ["wave.values", "other.values"], t=uneven)
    np.testing.assert_array_equal(t2, uneven)
    assert np.isnan(other2[0]) and np.isnan(other2[-1]) and np.isnan(wave2[-1])
    assert np.max(np.abs(wave2[1:4] - np.sin(2 * np.pi * uneven[1:4]))) < 1e-3


def test_tables_without_pyarrow_name_the_extra(tables_cache, no_pyarrow):
    from neo_alf.errors import AlfDependencyError

    with pytest.raises(AlfDependencyError, match=r"neo-alf\[one\]") as err:
        OneAdapter(tables_cache, progress=False)
    assert "sessions.pqt" in str(err.value)


@pytest.mark.parametrize("layout", ["lab/Subjects", "Subjects", "subject", "session"])
def test_folder_scan_layouts(tmp_path, layout):
    gen = make_session(
        tmp_path / "src", "tiny", lab="cortexlab", subject="KS023", date="2024-03-15", number=1
    )
    tail = Path("KS023/2024-03-15/001")
    root = tmp_path / "root"
    if layout == "lab/Subjects":
        where = root / "cortexlab/Subjects" / tail
    elif layout == "Subjects":
        where = root / "Subjects" / tail
    elif layout == "subject":
        where = root / tail
    else:
        where = root / "rig" / tail
    shutil.copytree(gen.path, where)
    one = OneAdapter(where if layout == "session" else root, progress=False)
    assert len(one.index.sessions) == 1
    eid = one.search(subject="KS023")[0]
    assert one.eid2path(eid) == where
    assert one.path2eid(where / "alf/_ibl_trials.choice.npy") == eid
    assert one.to_eid("2024-03-15_1_KS023") == eid
    np.testing.assert_array_equal(
        one.load_object(eid, "trials").intervals, np.load(where / "alf/_ibl_trials.intervals.npy")
    )


def test_lazy_load_ts_and_session_of_a_local_cache(folder_cache):
    one = OneAdapter(folder_cache, progress=False)
    eid = one.to_eid("2024-03-15_1_KS023")
    assert one.session(eid).path == one.eid2path(eid)
    pos, t = one.load_ts(eid, ["wheel.position"], sample_rate=100.0)
    assert pos.shape == t.shape and np.all(np.diff(t) > 0)


def test_dataset_ids_are_uuid5():
    from neo_alf.one.index import EID_NAMESPACE, dataset_id

    for rel in ["alf/spikes.times.npy", "alf/#2024-01-01#/x.y.npy", "é/ü.v.npy"]:
        assert dataset_id("e", rel) == str(uuid.uuid5(EID_NAMESPACE, f"e/{rel}"))
