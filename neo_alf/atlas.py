"""Brain regions by name: Allen CCF region ids to acronyms and names (optional extra ``[atlas]``).

ALF stores brain locations as Allen Common Coordinate Framework (CCF 2017) structure ids
(``channels.brainLocationIds_ccf_2017``; negative ids are the left hemisphere in IBL's
lateralised table). The names come from the Allen structure table that ``iblatlas`` ships in its
wheel (``allen_structure_tree.csv``: no download, no network), read once per process.

Ids that are not in the table (a newer atlas, a placeholder) get ``""`` for acronym and name and
one :class:`~neo_alf.errors.AlfWarning` per call naming them.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AlfDependencyError, AlfWarning

__all__ = ["RegionTable", "acronyms", "names", "region_annotations", "region_table"]


@dataclass(frozen=True)
class RegionTable:
    """The Allen region table, sorted by id for vectorised look-ups.

    Attributes
    ----------
    id : numpy.ndarray of int64
        Region ids, sorted (left-hemisphere ids negative).
    acronym, name : numpy.ndarray of str
        Per id.
    """

    id: np.ndarray
    acronym: np.ndarray
    name: np.ndarray

    def lookup(self, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(acronym, name, found)`` for each of ``ids`` (any shape; float ids with NaN allowed)."""
        ids = np.asarray(ids)
        # tables repeat a few regions on many rows: each distinct id is looked up once
        unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
        acronym, name, found = self._lookup_unique(unique)
        return tuple(a[inverse].reshape(ids.shape) for a in (acronym, name, found))

    def _lookup_unique(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        finite = np.isfinite(flat) if flat.dtype.kind == "f" else np.ones(flat.size, dtype=bool)
        as_int = np.zeros(flat.size, dtype=np.int64)
        as_int[finite] = flat[finite].astype(np.int64)
        if flat.dtype.kind == "f":  # 315.5 is not region 315
            finite &= flat == np.where(finite, as_int, np.nan)
        where = np.clip(np.searchsorted(self.id, as_int), 0, self.id.size - 1)
        found = finite & (self.id[where] == as_int)
        return np.where(found, self.acronym[where], ""), np.where(found, self.name[where], ""), found


@functools.lru_cache(maxsize=1)
def region_table() -> RegionTable:
    """The Allen region table of iblatlas, built once per process.

    Read from the ``allen_structure_tree.csv`` that iblatlas ships, with the csv module and
    lateralised as ``iblatlas.regions.BrainRegions`` does it (each region with a positive id again
    under its negative id, its name followed by `` (left)``): importing iblatlas would import pandas,
    0.3 s that every reader of a session would pay at ``parse_header``.

    Raises
    ------
    AlfDependencyError
        iblatlas is not installed; the message names the extra ``neo-alf[atlas]``.
    """
    spec = importlib.util.find_spec("iblatlas")
    table = None
    if spec is not None and spec.submodule_search_locations:
        table = Path(next(iter(spec.submodule_search_locations))) / "allen_structure_tree.csv"
    if table is None or not table.is_file():
        raise AlfDependencyError(
            "region names need iblatlas (its Allen structure table): pip install 'neo-alf[atlas]'",
            rule="optional extra `atlas`",
        )
    ids, acronyms_, names_ = [], [], []
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            region = int(row["id"])
            ids.append(region)
            acronyms_.append(row["acronym"])
            names_.append(row["name"])
            if region > 0:
                ids.append(-region)
                acronyms_.append(row["acronym"])
                names_.append(row["name"] + " (left)")
    order = np.argsort(ids, kind="stable")
    return RegionTable(
        np.asarray(ids, dtype=np.int64)[order],
        np.asarray(acronyms_, dtype=str)[order],
        np.asarray(names_, dtype=str)[order],
    )


def _lookup(ids) -> tuple[np.ndarray, np.ndarray]:
    acronym, name, found = region_table().lookup(ids)
    ids = np.asarray(ids)
    # NaN means "no location" (not an unknown id): no warning for it
    missing = ~found & (np.isfinite(ids) if ids.dtype.kind == "f" else True)
    if np.any(missing):
        unknown = np.unique(ids[missing])
        shown = ", ".join(str(u) for u in unknown[:10]) + (" ..." if unknown.size > 10 else "")
        warnings.warn(
            f"{unknown.size} region id(s) not in the Allen table of iblatlas: {shown}; "
            "their acronym and name are ''",
            AlfWarning,
            stacklevel=3,
        )
    return acronym, name


def acronyms(ids) -> np.ndarray:
    """Allen acronyms (``"CA1"``) of region ids, same shape; ``""`` for unknown ids and NaN."""
    return _lookup(ids)[0]


def names(ids) -> np.ndarray:
    """Allen names (``"Field CA1"``; ``"... (left)"`` for negative ids), same shape; ``""`` if unknown."""
    return _lookup(ids)[1]


def region_annotations(ids) -> dict[str, np.ndarray]:
    """Acronym and name beside region ids, for annotations (Neo, SpikeInterface properties, tables).

    Parameters
    ----------
    ids : array-like of int (or float with NaN for "no location")
        Allen CCF 2017 structure ids, e.g. ``channels.brainLocationIds_ccf_2017``.

    Returns
    -------
    dict
        ``{"acronym": array of str, "name": array of str}``, each the shape of ``ids``.

    Raises
    ------
    AlfDependencyError
        iblatlas is not installed (extra ``[atlas]``).

    Examples
    --------
    >>> region_annotations([315, 1089])["acronym"]
    array(['Isocortex', 'HPF'], dtype='<U...')
    """
    acronym, name = _lookup(ids)
    return {"acronym": acronym, "name": name}
