"""neo_alf.atlas: Allen region acronyms and names from iblatlas's shipped table, cached per process."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from neo_alf import AlfDependencyError, AlfWarning, atlas

iblatlas = pytest.importorskip("iblatlas")


def allen_csv() -> dict[int, tuple[str, str]]:
    """``id -> (acronym, name)`` read straight from the CSV in iblatlas's wheel (not through iblatlas)."""
    path = Path(iblatlas.__file__).parent / "allen_structure_tree.csv"
    with open(path, newline="") as fh:
        return {int(row["id"]): (row["acronym"], row["name"]) for row in csv.DictReader(fh)}


def test_acronyms_and_names_match_the_allen_table():
    table = allen_csv()
    ids = [315, 1089, 549, 997, 0, 382]  # Isocortex, HPF, TH, root, void, CA1
    got = atlas.region_annotations(ids)
    assert got["acronym"].tolist() == [table[i][0] for i in ids]
    assert got["name"].tolist() == [table[i][1] for i in ids]
    assert got["acronym"].tolist()[:3] == ["Isocortex", "HPF", "TH"]
    assert atlas.acronyms(382) == "CA1" and atlas.names(382) == "Field CA1"


def test_negative_ids_are_the_left_hemisphere():
    assert atlas.acronyms([-382]).tolist() == ["CA1"]
    assert atlas.names([-382]).tolist() == ["Field CA1 (left)"]


def test_every_id_of_the_table_round_trips():
    table = allen_csv()
    ids = np.array(sorted(table))
    got = atlas.region_annotations(ids)
    assert got["acronym"].tolist() == [table[i][0] for i in ids]


def test_shape_is_kept_and_nan_means_no_location():
    ids = np.array([[315.0, np.nan], [1089.0, 315.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN is not an unknown id: no warning
        got = atlas.region_annotations(ids)
    assert got["acronym"].shape == (2, 2)
    assert got["acronym"].tolist() == [["Isocortex", ""], ["HPF", "Isocortex"]]


def test_unknown_ids_warn_and_get_empty_strings():
    with pytest.warns(AlfWarning, match="123456789"):
        got = atlas.region_annotations([315, 123456789, 315.5])
    assert got["acronym"].tolist() == ["Isocortex", "", ""]
    assert got["name"].tolist() == ["Isocortex", "", ""]


def test_the_table_is_built_once_per_process_without_pandas(monkeypatch):
    import csv
    import subprocess
    import sys

    from iblatlas.regions import BrainRegions

    calls = []
    real = csv.DictReader

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    atlas.region_table.cache_clear()
    monkeypatch.setattr(csv, "DictReader", counting)
    try:
        for _ in range(3):
            atlas.acronyms([315])
        table = atlas.region_table()
        assert table is atlas.region_table() and len(calls) == 1
        regions = BrainRegions()  # the same table as iblatlas builds it (lateralised)
        order = np.argsort(regions.id, kind="stable")
        np.testing.assert_array_equal(table.id, regions.id[order])
        np.testing.assert_array_equal(table.name, regions.name[order].astype(str))
    finally:
        atlas.region_table.cache_clear()
    code = "import sys; from neo_alf.atlas import acronyms; acronyms([315]); print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # pandas is 0.3 s of every parse_header otherwise


def test_without_iblatlas_the_error_names_the_extra(monkeypatch):
    import importlib.util

    real_find = importlib.util.find_spec

    def blocked(name, *args, **kwargs):
        return None if name.startswith("iblatlas") else real_find(name, *args, **kwargs)

    atlas.region_table.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", blocked)
    try:
        with pytest.raises(AlfDependencyError, match=r"neo-alf\[atlas\]"):
            atlas.region_annotations([315])
    finally:
        atlas.region_table.cache_clear()
