"""The same questions asked of ONE-api and of neo-alf, on the same files: agreement, or a difference
listed in docs/one.rst ("Remaining differences from ONE-api").

- ``one.alf.io.load_object`` vs :func:`neo_alf.load_object` (keys, shapes, values) on generated sessions
  and on a session holding every shape rule (table, sync timestamps, metadata columns, (n, 1), csv);
- ``one.api.One`` in local mode on ONE-api's own fixture tables and on a cache built by ONE-api's
  ``make_parquet_db``, vs :class:`neo_alf.one.OneAdapter`: search order and filters, name spellings,
  ids and paths.
"""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from neo_alf import AlfSession
from neo_alf.errors import AlfNotFoundError
from neo_alf.loaders import load_dataset, load_object
from neo_alf.one import OneAdapter
from neo_alf.testing import make_session

one_api = pytest.importorskip("one.api")
alfio = pytest.importorskip("one.alf.io")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")

FIXTURES = Path(one_api.__file__).parent / "tests" / "fixtures"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_same_values(ours, theirs, key=""):
    """One ONE-api value against ours: arrays equal (NaN == NaN), DataFrames column by column."""
    if isinstance(theirs, pd.DataFrame):
        assert ours.dtype.names == tuple(theirs.columns), key
        for c in theirs.columns:
            assert_same_values(ours[c], theirs[c].to_numpy(), f"{key}.{c}")
        return
    if isinstance(theirs, pd.Series):
        theirs = theirs.to_numpy()
    theirs = np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, (key, ours.shape, theirs.shape)
    if theirs.dtype.kind in "OUS":
        assert [str(v) for v in ours.ravel()] == [str(v) for v in theirs.ravel()], key
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=key)


# ------------------------------------------------------------------------------ one.alf.io.load_object


# Deliberate differences (docs/one.rst): ONE-api keys every part of a multi-part dataset
# (`times.part001`), neo-alf joins them; ONE-api returns `.bin` files as paths, neo-alf reads them;
# ONE-api cannot read metadata `columns` given as objects ({"name", "unit"}) and raises.
JOINED_OR_READ_BY_NEO_ALF = {("alf", "licks"), ("raw_ephys_data/probe00", "lfp"), ("alf", "headTracking")}


@pytest.mark.parametrize("preset", ["tiny", "two_probes"])
def test_load_object_agrees_with_one_alf_io(tmp_path, preset):
    gen = make_session(tmp_path, preset)
    session = AlfSession(gen.path)
    compared = 0
    for obj in session.objects:
        if (obj.collection, obj.name) in JOINED_OR_READ_BY_NEO_ALF:
            continue
        folder = gen.path / obj.collection if obj.collection else gen.path
        # ONE-api reads every revision folder's files as separate objects: give it the ones chosen
        files = [p for d in obj.datasets.values() for p in d.paths]
        theirs = (
            _quiet(alfio.load_object, files)
            if any(d.revision for d in obj.datasets.values())
            else (_quiet(alfio.load_object, folder, obj.name))
        )
        ours = load_object(gen.path, obj.name, obj.collection)
        assert set(ours) == set(theirs), (obj, sorted(ours), sorted(theirs))
        for key in theirs:
            assert_same_values(ours[key], theirs[key], f"{obj.collection}/{obj.name}.{key}")
        compared += 1
    assert compared >= 7


def test_multipart_is_joined_where_one_api_keys_the_parts(tmp_path):
    gen = make_session(tmp_path, "tiny")
    theirs = _quiet(alfio.load_object, gen.path / "alf", "licks")
    ours = load_object(gen.path, "licks")
    assert sorted(theirs) == ["times.part001", "times.part002"] and list(ours) == ["times"]
    assert_same_values(ours.times, np.concatenate([theirs["times.part001"], theirs["times.part002"]]))


def _shape_session(root: Path) -> Path:
    """One session with every shape rule ONE-api applies."""
    alf = root / "lab/Subjects/shapes/2024-01-01/001/alf"
    alf.mkdir(parents=True)
    rng = np.random.default_rng(7)
    n = 12
    on = np.sort(rng.uniform(0, 100, n))
    pd.DataFrame(  # written by pandas, as ibllib writes it (ONE-api's reader needs pandas metadata)
        {
            "intervals_0": on,
            "intervals_1": on + 1.5,
            "choice": rng.choice([-1.0, 1.0], n),
            "stimOn_times": on + 0.1,
            "contrastLeft": rng.choice([np.nan, 0.25, 1.0], n),
        }
    ).to_parquet(alf / "_ibl_trials.table.pqt")
    np.save(alf / "_ibl_trials.goCueTrigger_times.npy", on + 0.05)
    np.save(alf / "_ibl_trials.included.npy", rng.random(n) > 0.2)
    m = 500  # continuous: per-sample values with 3 named columns, 2 sync points
    np.save(alf / "ephys.raw.npy", rng.standard_normal((m, 3)))
    (alf / "ephys.raw.metadata.json").write_text(json.dumps({"columns": ["a", "b", "c"]}))
    np.save(alf / "ephys.timestamps.npy", np.array([[0, 2.0], [m - 1, 2.0 + (m - 1) / 250.0]]))
    np.save(alf / "eye.blink.npy", (rng.random((40, 1)) > 0.5).astype(float))  # (n, 1)
    np.save(alf / "eye.times.npy", np.arange(40) / 30.0)
    grid = np.round(rng.standard_normal((6, 2)), 4)
    (alf / "numbers.values.ssv").write_text("x y\n" + "\n".join(f"{a} {b}" for a, b in grid) + "\n")
    (alf / "numbers.other.ssv").write_text("z\n" + "\n".join(str(v) for v in range(6)) + "\n")
    (alf / "_ibl_passiveGabor.table.csv").write_text(
        "start,stop,position,contrast\n"
        + "\n".join(f"{i},{i + 0.3},{35 * (-1) ** i},{0.5}" for i in range(5))
        + "\n"
    )
    return alf.parent


@pytest.mark.parametrize("obj", ["trials", "ephys", "eye", "numbers", "passiveGabor"])
def test_shape_rules_agree_with_one_alf_io(tmp_path, obj):
    session = _shape_session(tmp_path)
    theirs = _quiet(alfio.load_object, session / "alf", obj)
    ours = load_object(session, obj)
    assert set(ours) == set(theirs), (sorted(ours), sorted(theirs))
    for key in theirs:
        assert_same_values(ours[key], theirs[key], key)
    as_stored = load_object(session, obj, as_stored=True)
    if obj == "trials":
        assert ours.intervals.shape == (12, 2) and "table" in as_stored and "intervals" not in as_stored
    if obj == "ephys":
        assert as_stored.raw.shape == (500, 3) and as_stored.timestamps.shape == (2, 2)
        np.testing.assert_allclose(np.diff(ours.timestamps), 1 / 250.0)
    if obj == "eye":
        assert as_stored.blink.shape == (40, 1) and ours.blink.shape == (40,)


def test_bunch_is_writable_and_never_touches_the_files(tmp_path):
    session = _shape_session(tmp_path)
    before = {p: p.read_bytes() for p in session.rglob("*") if p.is_file()}
    eye = load_object(session, "eye")
    eye.blink[:] = 7.0
    eye.times[np.isnan(eye.times)] = 0
    eye.extra = np.zeros(3)  # attribute access writes a key, as ONE-api's Bunch
    assert eye["extra"].shape == (3,)
    ephys = load_object(session, "ephys", as_stored=True)
    ephys.raw[0, 0] = 1e9
    assert {p: p.read_bytes() for p in session.rglob("*") if p.is_file()} == before
    df = load_object(session, "trials").to_df()
    theirs = _quiet(alfio.load_object, session / "alf", "trials").to_df()
    assert sorted(df.columns) == sorted(theirs.columns)
    for c in theirs.columns:
        np.testing.assert_array_equal(df[c].to_numpy(), theirs[c].to_numpy())


# ----------------------------------------------------------------------- One in local mode: fixtures


@pytest.fixture(scope="module")
def fixture_cache(tmp_path_factory):
    if not (FIXTURES / "sessions.pqt").exists():
        pytest.skip("this ONE-api release ships no fixture tables")
    root = tmp_path_factory.mktemp("one_fixtures")
    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, root / name)
    return root, _quiet(one_api.One, cache_dir=root, mode="local"), OneAdapter(root, progress=False)


def _ids(eids):
    return [str(e) for e in eids]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"datasets": "spikes.amps.npy"},
        {"datasets": ["_ibl_trials.choice.npy", "_ibl_wheel.position.npy"]},
        {"lab": ["mainenlab", "cortexlab"]},
        {"laboratory": "zadorlab"},
        {"date": ["2019-01-01", "2020-01-01"]},
        {"date_range": "2019-04-10"},
        {"task": "ephysChoice"},
        {"task_protocol": "trainingChoiceWorld4.0.1"},
        {"projects": "ibl"},
        {"proj": "brainwide"},
        {"subject": "KS005", "number": 2},
        {"subject": ["KS005", "flowers"]},
        {"subject": "KS005", "date": [None, "2019-04-04"]},
    ],
)
def test_search_agrees_on_one_api_fixture_tables(fixture_cache, query):
    _, one, ours = fixture_cache
    assert ours.search(**query) == _ids(_quiet(one.search, **query))


def test_search_details_and_same_day_order(fixture_cache):
    _, one, ours = fixture_cache
    eids, details = ours.search(subject="KS005", details=True)
    theirs, their_details = _quiet(one.search, subject="KS005", details=True)
    assert eids == _ids(theirs)  # 2019-04-10: number 3 before number 2, as ONE-api
    assert [(d["subject"], d["date"], d["number"]) for d in details] == [
        (d["subject"], d["date"], d["number"]) for d in their_details
    ]


def test_unknown_search_term_raises_naming_it(fixture_cache):
    _, _, ours = fixture_cache
    with pytest.raises(ValueError, match="colour"):
        ours.search(colour="red")
    with pytest.raises(ValueError, match="reversed"):
        ours.search(date=["2020-01-01", "2019-01-01"])
    with pytest.raises(ValueError, match="one date or"):
        ours.search(date=["2019-01-01", "2019-02-01", "2019-03-01"])
    with pytest.raises(ValueError, match="yyyy-mm-dd"):
        ours.search(date="2024-3-15")


def test_ids_and_paths_agree_on_fixture_tables(fixture_cache):
    _root, one, ours = fixture_cache
    for eid in _ids(_quiet(one.search)):
        theirs = Path(one.eid2path(eid))
        assert ours.eid2path(eid) == theirs  # the path it will have: nothing is downloaded
        assert ours.path2eid(theirs) == eid == str(one.path2eid(theirs))
        assert ours.path2eid(theirs / "alf" / "_ibl_trials.choice.npy") == eid
        assert ours.to_eid(theirs / "alf") == eid
        assert ours.to_eid(f"https://openalyx.internationalbrainlab.org/sessions/{eid}") == eid
    eids = _ids(_quiet(one.search))[:3]
    assert ours.eid2path(eids) == [Path(p) for p in one.eid2path(eids)]
    assert ours.to_eid(eids) == eids
    with pytest.raises(ValueError):
        ours.to_eid("fakeid")
    assert ours.eid2path(str(uuid.uuid4())) is None
    with pytest.raises(AlfNotFoundError):
        ours.to_eid(str(uuid.uuid4()))


def test_list_datasets_filename_wildcards_agree(fixture_cache):
    _, one, ours = fixture_cache
    for eid in _ids(_quiet(one.search))[:8]:
        for kwargs in [{}, {"filename": "_ibl_trials*"}, {"collection": "alf"}, {"filename": "*.ssv"}]:
            theirs = _quiet(one.list_datasets, eid, **kwargs)
            theirs = [] if isinstance(theirs, pd.DataFrame) else sorted(theirs)  # ONE-api: empty frame
            assert ours.list_datasets(eid, **kwargs) == theirs


def test_exists_false_never_counts(tmp_path):
    if not (FIXTURES / "datasets.pqt").exists():
        pytest.skip("no fixture tables")
    shutil.copy(FIXTURES / "sessions.pqt", tmp_path / "sessions.pqt")
    datasets = pd.read_parquet(FIXTURES / "datasets.pqt")
    datasets.loc[datasets.rel_path.str.endswith("spikes.amps.npy"), "exists"] = False
    datasets.to_parquet(tmp_path / "datasets.pqt")
    one = _quiet(one_api.One, cache_dir=tmp_path, mode="local")
    ours = OneAdapter(tmp_path, progress=False)
    assert (
        ours.search(datasets="spikes.amps.npy") == _ids(_quiet(one.search, datasets="spikes.amps.npy")) == []
    )
    eid = ours.search(datasets="_ibl_trials.choice.npy")[0]
    assert not any(p.endswith("spikes.amps.npy") for p in ours.list_datasets(eid))


# ---------------------------------------------------- One in local mode: a cache built by make_parquet_db


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    cache = pytest.importorskip("one.alf.cache")
    root = tmp_path_factory.mktemp("one_built")
    for i, (subject, number) in enumerate([("KS023", 1), ("KS023", 2), ("ZM_1743", 1)]):
        make_session(root, "tiny" if i < 2 else "only_spikes", subject=subject, number=number, seed=i)
    _quiet(cache.make_parquet_db, root, hash_files=False)
    return root, _quiet(one_api.One, cache_dir=root, mode="local"), OneAdapter(root, progress=False)


@pytest.mark.parametrize(
    "spelling",
    [
        "_ibl_wheel.position.npy",
        "_ibl_wheel.position",
        "alf/_ibl_wheel.position.npy",
        "_ibl_wheel.pos*",
        "_ibl_trials.intervals.npy",
        "alf/_ibl_trials.intervals.npy",
    ],
)
def test_load_dataset_spellings_agree_with_one(built_cache, spelling):
    _root, one, ours = built_cache
    eid = _ids(_quiet(one.search, subject="KS023", number=1))[0]
    theirs = _quiet(one.load_dataset, eid, spelling)
    assert_same_values(ours.load_dataset(eid, spelling), theirs, spelling)
    assert_same_values(load_dataset(ours.eid2path(eid), spelling), theirs, spelling)


def test_unknown_names_raise_naming_the_closest(built_cache):
    _, _, ours = built_cache
    eid = ours.search(subject="KS023", number=1)[0]
    with pytest.raises(AlfNotFoundError, match=r"closest: .*wheel\.position"):
        ours.load_dataset(eid, "wheel.positon")
    with pytest.raises(AlfNotFoundError, match="closest: trials"):
        ours.load_object(eid, "trails")


def test_load_object_and_search_agree_with_one(built_cache):
    _root, one, ours = built_cache
    assert ours.search() == _ids(_quiet(one.search))
    assert ours.search(datasets="spikes.depths.npy") == _ids(_quiet(one.search, datasets="spikes.depths.npy"))
    eid = _ids(_quiet(one.search, subject="KS023", number=1))[0]
    for obj, kwargs in [("trials", {}), ("wheel", {}), ("*Camera", {}), ("_ibl_trials", {})]:
        theirs = _quiet(one.load_object, eid, obj, **kwargs)
        mine = ours.load_object(eid, obj, **kwargs)
        assert set(mine) == set(theirs)
        for key in theirs:
            assert_same_values(mine[key], theirs[key], f"{obj}.{key}")
    assert ours.list_datasets(eid, filename="_ibl_trials*") == sorted(
        _quiet(one.list_datasets, eid, filename="_ibl_trials*")
    )
    session = Path(one.eid2path(eid))
    for inside in [session, session / "alf", session / "alf/_ibl_trials.choice.npy", str(session / "alf")]:
        assert ours.path2eid(inside) == eid


def test_bunch_check_dimensions_and_append_agree(tmp_path):
    session = _shape_session(tmp_path)
    for obj in ["trials", "ephys", "eye"]:
        theirs = _quiet(alfio.load_object, session / "alf", obj)
        ours = load_object(session, obj)
        assert ours.check_dimensions == theirs.check_dimensions == 0
        both = ours.append(ours)
        their_both = theirs.append(theirs)
        for key in their_both:
            assert_same_values(both[key], their_both[key], key)
    broken = alfio.AlfBunch({"a": np.zeros(3), "b": np.zeros(4)})
    assert load_object(session, "eye").__class__(broken).check_dimensions == broken.check_dimensions == 1


def test_folder_layouts_agree_with_make_parquet_db(tmp_path):
    cache = pytest.importorskip("one.alf.cache")
    root = tmp_path / "root"
    make_session(root, "only_spikes", lab="cortexlab", subject="KS023", number=1)
    make_session(root / "tmp_nolab", "only_spikes", subject="ZM_1", number=2)
    shutil.move(str(root / "tmp_nolab/cortexlab/Subjects/ZM_1"), str(root / "ZM_1"))  # <root>/<subject>/...
    shutil.rmtree(root / "tmp_nolab")
    scanned = OneAdapter(root, progress=False)  # no tables: the folder scan
    found = sorted(str(scanned.eid2path(e)) for e in scanned.search())
    _quiet(cache.make_parquet_db, root, hash_files=False)
    one = _quiet(one_api.One, cache_dir=root, mode="local")
    theirs = sorted(str(one.eid2path(e)) for e in _quiet(one.search))
    assert found == theirs and len(found) == 2
    tables = OneAdapter(root, progress=False)  # ONE-api's tables
    assert tables.search() == _ids(_quiet(one.search))
    assert [str(tables.eid2path(e)) for e in tables.search()] == [
        str(one.eid2path(e)) for e in _quiet(one.search)
    ]
