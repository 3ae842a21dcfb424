"""neo_alf.atlas: Allen region acronyms and names from iblatlas's shipped table, cached per process."""

from __future__ import annotations

import builtins
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


def test_the_table_is_built_once_per_process(monkeypatch):
    import iblatlas.regions

    calls = []
    real = iblatlas.regions.BrainRegions

    def counting():
        calls.append(1)
        return real()

    atlas.region_table.cache_clear()
    monkeypatch.setattr(iblatlas.regions, "BrainRegions", counting)
    try:
        for _ in range(3):
            atlas.acronyms([315])
        assert atlas.region_table() is atlas.region_table()
        assert len(calls) == 1
    finally:
        atlas.region_table.cache_clear()


def test_without_iblatlas_the_error_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.startswith("iblatlas"):
            raise ImportError("no iblatlas here")
        return real_import(name, *args, **kwargs)

    atlas.region_table.cache_clear()
    monkeypatch.setattr(builtins, "__import__", blocked)
    try:
        with pytest.raises(AlfDependencyError, match=r"neo-alf\[atlas\]"):
            atlas.region_annotations([315])
    finally:
        atlas.region_table.cache_clear()
