"""neo_alf.aggregate: units and trials tables over many sessions, serial and on a 2-process LocalCluster."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest

import neo_alf
from neo_alf import AlfDependencyError, AlfWarning
from neo_alf.aggregate import (
    UNIT_COLUMNS,
    add_aggregate_parser,
    aggregate_command,
    trials_table,
    units_table,
)
from neo_alf.one import OneAdapter
from neo_alf.testing import REVISION, make_session

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("distributed")


def write_metrics(collection: Path, n: int) -> pd.DataFrame:
    """An IBL-like clusters.metrics.pqt, rows in reverse cluster order, with wrong counts to replace."""
    ids = np.arange(n)[::-1]
    metrics = pd.DataFrame(
        {
            "cluster_id": ids,
            "amp_median": ids * 1e-6 + 1e-5,
            "label": np.round(ids / n, 3),
            "ks2_label": np.where(ids % 2 == 0, "good", "mua"),
            "spike_count": np.full(n, 999),
            "firing_rate": np.full(n, 99.0),
        }
    )
    pq.write_table(pa.Table.from_pandas(metrics, preserve_index=False), collection / "clusters.metrics.pqt")
    return metrics


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    sessions = [
        make_session(root, "tiny", subject="KS023", number=1, seed=20),
        make_session(root, "two_probes", subject="KS023", number=2),
        make_session(root, "only_spikes", subject="ZM_1743", number=1),
        make_session(root, "one_probe", subject="ZM_1743", number=2),
    ]
    metrics = write_metrics(sessions[3].path / "alf/probe00/pykilosort", sessions[3].recipe.n_clusters)
    return root, sessions, metrics


def allen() -> dict[int, tuple[str, str]]:
    import iblatlas

    path = Path(iblatlas.__file__).parent / "allen_structure_tree.csv"
    with open(path, newline="") as fh:
        return {int(r["id"]): (r["acronym"], r["name"]) for r in csv.DictReader(fh)}


def expected_units(root: Path, generated) -> pd.DataFrame:
    """The units of one generated session, from its files read with NumPy and its generator's truth."""
    eid = OneAdapter(root, progress=False).path2eid(generated.path)
    names = allen()
    rows = []
    for collection, truth in sorted(generated.truth["probes"].items()):
        folder = generated.path / collection
        times_file = folder / f"#{REVISION}#" / "spikes.times.npy"
        times = np.load(times_file if times_file.exists() else folder / "spikes.times.npy")
        span = times.max() - times.min()
        channels = np.load(folder / "clusters.channels.npy")
        regions = np.load(folder / "channels.brainLocationIds_ccf_2017.npy")
        mlapdv = np.load(folder / "channels.mlapdv.npy")
        depths = np.load(folder / "clusters.depths.npy")
        for cid in range(truth["n_clusters"]):
            ch = int(channels[cid])
            rows.append(
                {
                    "eid": eid,
                    "lab": generated.recipe.lab,
                    "subject": generated.recipe.subject,
                    "date": generated.recipe.date,
                    "number": generated.recipe.number,
                    "probe": collection.split("/")[1],
                    "collection": collection,
                    "cluster_id": cid,
                    "spike_count": truth["spike_counts"][cid],
                    "firing_rate": truth["spike_counts"][cid] / span,
                    "channel": ch,
                    "depth": depths[cid],
                    "x": mlapdv[ch, 0],
                    "y": mlapdv[ch, 1],
                    "z": mlapdv[ch, 2],
                    "atlas_id": int(regions[ch]),
                    "acronym": names[int(regions[ch])][0],
                    "name": names[int(regions[ch])][1],
                }
            )
    return pd.DataFrame(rows)


def check_units(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(table) == len(expected)
    for column in expected.columns:
        got, want = table[column].to_numpy(), expected[column].to_numpy()
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got.astype(float), want, rtol=1e-12, err_msg=column)
        else:
            assert got.tolist() == want.tolist(), column


def test_units_table_matches_the_files(cache):
    root, sessions, _ = cache
    table = units_table([g.path for g in sessions[:3]])
    expected = pd.concat([expected_units(root, g) for g in sessions[:3]], ignore_index=True)
    check_units(table, expected)
    assert list(table.columns) == [*UNIT_COLUMNS, "acronym", "name"]
    assert table.attrs["errors"] == []
    assert table["label"].isna().all()  # no clusters.metrics in these sessions
    assert str(table["atlas_id"].dtype) == "Int64" and str(table["channel"].dtype) == "Int64"


def test_qc_label_and_metrics_come_from_clusters_metrics(cache):
    root, sessions, metrics = cache
    table = units_table([sessions[3].path])
    check_units(table, expected_units(root, sessions[3]))  # counts and rates from spikes, not 999
    by_id = metrics.set_index("cluster_id")
    assert table["label"].tolist() == by_id.loc[table["cluster_id"], "label"].tolist()
    assert table["ks2_label"].tolist() == by_id.loc[table["cluster_id"], "ks2_label"].tolist()
    assert table["amp_median"].tolist() == by_id.loc[table["cluster_id"], "amp_median"].tolist()
    columns = list(table.columns)
    assert columns[columns.index("label") + 1 : columns.index("channel")] == ["amp_median", "ks2_label"]


def test_units_table_on_dask_equals_serial(cache, client):
    _, sessions, _ = cache
    paths = [g.path for g in sessions]
    serial = units_table(paths)
    on_dask = units_table(paths, client=client)
    pd.testing.assert_frame_equal(on_dask, serial)
    assert len(serial) == sum(p["n_clusters"] for g in sessions for p in g.truth["probes"].values())


def test_a_corrupt_session_is_recorded_and_the_others_stay(cache, client, tmp_path):
    root, sessions, _ = cache
    bad = make_session(tmp_path, "one_probe", subject="BAD_01")
    (bad.path / "alf/probe00/pykilosort/clusters.depths.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(AlfWarning, match="1 of 3 sessions failed"):
        table = units_table([sessions[0].path, bad.path, sessions[2].path], client=client)
    errors = table.attrs["errors"]
    assert len(errors) == 1 and errors[0]["path"] == str(bad.path)
    assert errors[0]["error"] == "AlfFormatError" and "clusters.depths.npy" in errors[0]["message"]
    expected = pd.concat([expected_units(root, g) for g in (sessions[0], sessions[2])], ignore_index=True)
    check_units(table, expected)


def test_units_over_an_adapter_carry_its_eids_and_filters(cache):
    root, sessions, _ = cache
    adapter = OneAdapter(root, progress=False)
    table = units_table(adapter, subject="ZM_1743")
    assert set(table["subject"]) == {"ZM_1743"}
    assert set(table["eid"]) == {adapter.path2eid(g.path) for g in sessions[2:]}
    one = units_table(adapter, eids=[sessions[1].path])  # anything to_eid takes
    check_units(one, expected_units(root, sessions[1]))
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.warns(AlfWarning, match="1 of 2 sessions failed"):
        two = units_table(adapter, eids=[unknown, adapter.path2eid(sessions[1].path)])
    assert two.attrs["errors"][0]["session"] == unknown
    assert two.attrs["errors"][0]["error"] == "AlfNotFoundError"
    check_units(two, expected_units(root, sessions[1]))
    with pytest.raises(TypeError, match="OneAdapter"):
        units_table([sessions[0].path], subject="KS023")


def test_region_columns_follow_the_atlas_extra(cache, monkeypatch):
    from neo_alf import atlas

    _, sessions, _ = cache
    assert "acronym" not in units_table([sessions[2].path], regions=False)
    import importlib.util

    real_find = importlib.util.find_spec

    def blocked(name, *args, **kwargs):  # iblatlas not installed
        return None if name.startswith("iblatlas") else real_find(name, *args, **kwargs)

    atlas.region_table.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", blocked)
    try:
        table = units_table([sessions[2].path])  # "auto": ids only
        assert "atlas_id" in table and "acronym" not in table
        with pytest.raises(AlfDependencyError, match=r"\[atlas\]"):
            units_table([sessions[2].path], regions=True)
    finally:
        atlas.region_table.cache_clear()


def test_no_sessions_give_an_empty_table_with_the_columns():
    table = units_table([])
    assert list(table.columns) == [*UNIT_COLUMNS, "acronym", "name"] and len(table) == 0
    assert len(trials_table([])) == 0


# --------------------------------------------------------------------------------------------- trials


def write_table_trials(root: Path):
    """A session whose trials are IBL's current layout: alf/task_00/_ibl_trials.table.pqt plus npy."""
    folder = root / "lab" / "Subjects" / "TAB_01" / "2024-02-02" / "001" / "alf" / "task_00"
    folder.mkdir(parents=True)
    n = 5
    table = pd.DataFrame(
        {
            "intervals_0": np.arange(n) * 10.0,
            "intervals_1": np.arange(n) * 10.0 + 8,
            "choice": np.array([1.0, -1, 0, 1, -1]),
            "contrastLeft": np.array([1.0, np.nan, 0.25, np.nan, 0.0]),
        }
    )
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), folder / "_ibl_trials.table.pqt")
    np.save(folder / "_ibl_trials.stimOn_times.npy", np.arange(n) * 10.0 + 0.5)
    return folder.parents[1], table


def test_trials_table_rows_and_columns(cache, tmp_path, client):
    root, sessions, _ = cache
    table_session, written = write_table_trials(tmp_path)
    paths = [sessions[0].path, sessions[2].path, sessions[1].path, table_session]
    table = trials_table(paths, client=client)
    pd.testing.assert_frame_equal(table, trials_table(paths))
    first = table[table["subject"] == "KS023"]
    expected_n = [sessions[0].truth["trials"]["n"], sessions[1].truth["trials"]["n"]]
    assert first.groupby("number").size().tolist() == expected_n  # only_spikes has no trials: no rows
    one = table[(table["subject"] == "KS023") & (table["number"] == 1)]
    truth = sessions[0].truth["trials"]
    assert one["trial"].tolist() == list(range(truth["n"]))
    np.testing.assert_array_equal(one[["intervals_0", "intervals_1"]].to_numpy(), truth["intervals"])
    assert one["choice"].tolist() == truth["choice"]
    np.testing.assert_array_equal(one["contrastLeft"].to_numpy(), truth["contrastLeft"])
    assert set(one["eid"]) == {OneAdapter(root, progress=False).path2eid(sessions[0].path)}
    assert "goCue_times_bpod" in table  # timescale variants are columns too
    tab = table[table["subject"] == "TAB_01"]
    assert tab["collection"].unique().tolist() == ["alf/task_00"]
    for column in written.columns:
        np.testing.assert_array_equal(tab[column].to_numpy(), written[column].to_numpy())
    np.testing.assert_array_equal(tab["stimOn_times"].to_numpy(), np.arange(5) * 10.0 + 0.5)


# ------------------------------------------------------------------------------------------------ CLI


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neo-alf")
    add_aggregate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_writes_the_units_table_as_parquet(cache, client, tmp_path, capsys):
    root, _, _ = cache
    out = tmp_path / "units.pqt"
    argv = ["aggregate", "units", "--cache-dir", str(root), "--out", str(out), "--no-progress"]
    assert run([*argv, "--scheduler", client.scheduler.address]) == 0
    written = pd.read_parquet(out)
    expected = units_table(OneAdapter(root, progress=False))
    expected.attrs = {}
    pd.testing.assert_frame_equal(written, expected)
    assert f"{len(expected)} units rows from 4 sessions" in capsys.readouterr().out


def test_cli_trials_as_csv_and_exit_1_with_a_failed_session(tmp_path, capsys):
    root = tmp_path / "cache"
    good = make_session(root, "tiny", subject="OK_01")
    bad = make_session(root, "tiny", subject="BAD_01")
    np.save(bad.path / "alf/_ibl_trials.choice.npy", np.zeros(3))  # 3 rows among 8-row attributes
    out = tmp_path / "trials.csv"
    code = aggregate_command(
        argparse.Namespace(
            table="trials",
            cache_dir=str(root),
            out=str(out),
            workers=1,
            scheduler=None,
            subject=None,
            lab=None,
            no_progress=True,
        )
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "failed:" in captured.err and "AlfDimensionError" in captured.err and "BAD_01" in captured.err
    written = pd.read_csv(out)
    assert set(written["subject"]) == {"OK_01"} and len(written) == good.truth["trials"]["n"]
    with pytest.raises(ValueError, match="must end in"):
        run(["aggregate", "units", "--cache-dir", str(root), "--out", str(tmp_path / "x.txt")])


def test_cli_workers_start_a_local_cluster(cache, tmp_path):
    root, sessions, _ = cache
    out = tmp_path / "units.parquet"
    argv = ["aggregate", "units", "--cache-dir", str(root), "--out", str(out), "--no-progress"]
    assert run([*argv, "--workers", "2", "--subject", "KS023"]) == 0
    written = pd.read_parquet(out)
    expected = units_table(OneAdapter(root, progress=False), subject="KS023")
    expected.attrs = {}
    pd.testing.assert_frame_equal(written, expected)
    assert len(written) == sum(p["n_clusters"] for g in sessions[:2] for p in g.truth["probes"].values())


@pytest.mark.parametrize("preset", ["no_clusters_object", "no_spike_clusters", "tiny"])
def test_units_are_the_readers_units(tmp_path, preset):
    # the same units, ids and counts as AlfRawIO's spike channels, with or without clusters.*
    g = make_session(tmp_path, preset)
    table = units_table([g.path], regions=False)
    reader = neo_alf.AlfRawIO(g.path)
    reader.parse_header()
    annotations = reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]
    expected = [
        (a["collection"], a["cluster_id"], reader.spike_count(0, 0, i)) for i, a in enumerate(annotations)
    ]
    got = list(zip(table["collection"], table["cluster_id"], table["spike_count"], strict=True))
    assert got == expected
    if preset == "no_spike_clusters":
        assert table["cluster_id"].tolist() == [0] and table["channel"].isna().all()
    if preset == "no_clusters_object":
        truth = g.truth["probes"]["alf/probe00/pykilosort"]
        assert table["cluster_id"].tolist() == [i for i, n in enumerate(truth["spike_counts"]) if n]
        assert table["atlas_id"].isna().all() and table["depth"].isna().all()


def test_session_columns_travel_as_bytes_and_come_back_equal():
    """What a Dask task returns: one block of bytes (no pickle inside), arrays aligned on return."""
    from neo_alf.aggregate import _Columns, _Text

    columns = {
        "eid": np.array(["a" * 36] * 3),
        "number": np.arange(3, dtype=np.int16),
        "depth": np.array([1.5, np.nan, 20.0]),
        "label_text": np.array(["", "mua", "good"], dtype=object),
        "good": np.array([True, False, True]),
        "empty": np.zeros(0),
    }
    packed = _Columns.pack(columns)
    assert isinstance(packed.blob, bytes)
    back = _Columns.unpack(pickle_round_trip(packed))
    assert list(back) == list(columns)
    for key in ("number", "depth", "good", "empty"):
        np.testing.assert_array_equal(back[key], columns[key])
        assert back[key].dtype == columns[key].dtype and back[key].flags.aligned
    for key in ("eid", "label_text"):
        assert isinstance(back[key], _Text)
        assert back[key].unpack().tolist() == columns[key].astype(str).tolist()


def test_session_columns_refuse_object_dtypes_on_the_way_back():
    from neo_alf.aggregate import _Columns

    packed = _Columns.pack({"x": np.arange(2)})
    size = int.from_bytes(packed.blob[:16], "little")
    forged = packed.blob[16 : 16 + size].replace(b'"<i8"', b'"|O" ')
    with pytest.raises(ValueError, match="does not travel"):
        _Columns(packed.blob[:16] + forged + packed.blob[16 + size :]).unpack()


def pickle_round_trip(obj):
    import pickle

    return pickle.loads(pickle.dumps(obj))


@pytest.fixture(scope="module")
def ibl_sessions(tmp_path_factory):
    """Two sessions in IBL's layouts: 2024 (two probes, iblsorter) and 2020 (spikes in four places)."""
    from neo_alf.testing_ibl import make_ibl_session

    root = tmp_path_factory.mktemp("ibl_aggregate")
    return [make_ibl_session(root, "2024", probes=2), make_ibl_session(root, "2020", number=2)]


def test_ibl_layouts_units_and_trials_on_dask_equal_serial_and_the_readers(ibl_sessions, client):
    import warnings

    paths = [s.path for s in ibl_sessions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlfWarning)  # IBL's tolerated quirks are noted, not failures
        units, trials = units_table(paths), trials_table(paths)
        pd.testing.assert_frame_equal(units_table(paths, client=client), units)
        pd.testing.assert_frame_equal(trials_table(paths, client=client), trials)
        readers = [neo_alf.AlfRawIO(p) for p in paths]
        for reader in readers:
            reader.parse_header()
    assert units.attrs["errors"] == [] and trials.attrs["errors"] == []
    for path, reader in zip(paths, readers, strict=True):  # a session's units: its reader's channels
        annotations = reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]
        expected = sorted(
            (a["collection"], a["cluster_id"], reader.spike_count(0, 0, i)) for i, a in enumerate(annotations)
        )
        mine = units[units["subject"] == path.parts[-3]]
        got = zip(mine["collection"], mine["cluster_id"], mine["spike_count"], strict=True)
        assert sorted(got) == expected
        n_trials = neo_alf.AlfSession(path).find_objects("trials")[0].check_rows()
        assert (trials["subject"] == path.parts[-3]).sum() == n_trials > 0
    assert {"alf/probe00/iblsorter", "alf/probe01/iblsorter", "alf/probe00"} <= set(units["collection"])
