"""Tables as objects: the columns of ``object.table.{pqt,csv,tsv,ssv}`` as the object's attributes.

Current IBL sessions store trials as ``_ibl_trials.table.pqt``. ONE-api's ``load_object`` merges an
attribute named ``table`` (or ``table_<timescale>``) into the object: each column becomes an
attribute (the timescale suffix appended), and ``name_0`` / ``name_1`` column pairs become one
``(n, 2)`` attribute ``name`` (``intervals_0``, ``intervals_1`` -> ``intervals``). Columns of the
table replace same-named attribute files. This module does that merge, for the session model
(:mod:`neo_alf.session`), so that ``load_object``, the Neo layout and ``validate`` all see the same
attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import readers
from .arrow import column_to_numpy
from .errors import AlfFormatError

__all__ = ["column_names", "expand_table", "is_table_key", "load_columns"]

_TABLE_KEY = re.compile(r"^table(_|$)")
_PAIRED = re.compile(r"^(?P<name>.+?)_(?P<index>[01])$")
_TEXT_DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": None}
_RULE = "a table's columns are attributes of its object"


def is_table_key(key: str) -> bool:
    """True for the attribute keys ONE-api merges into their object (``table``, ``table_bpod``)."""
    return bool(_TABLE_KEY.match(key))


def _renamed(column: str, key: str) -> str:
    """ONE-api's renaming: the table key's timescale goes before a ``_0``/``_1`` suffix."""
    suffix = key[len("table") :]
    if not suffix:
        return column
    paired = _PAIRED.match(column)
    if paired:
        return f"{paired['name']}{suffix}_{paired['index']}"
    return column + suffix


def _paired_names(names: list[str]) -> dict[str, tuple[str, str]]:
    """``name -> (name_0, name_1)`` for every complete pair of columns."""
    present = set(names)
    pairs = {}
    for n in names:
        m = _PAIRED.match(n)
        if m and m["index"] == "0" and f"{m['name']}_1" in present:
            pairs[m["name"]] = (n, f"{m['name']}_1")
    return pairs


def expanded_names(columns: list[str], key: str = "table") -> list[str]:
    """The attribute names a table with these columns gives its object (pairs joined)."""
    renamed = [_renamed(c, key) for c in columns]
    pairs = _paired_names(renamed)
    halves = {h for pair in pairs.values() for h in pair}
    out = []
    for n in renamed:
        m = _PAIRED.match(n)
        if n in halves and m is not None:
            if m["index"] == "0":
                out.append(m["name"])
        else:
            out.append(n)
    return out


def expand_table(columns: Mapping[str, np.ndarray], key: str = "table") -> dict[str, np.ndarray]:
    """Columns of a table as an object's attributes, as ONE-api merges them.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        The table's columns, in order, each 1-D with the same length.
    key : str
        The table's attribute key (``table``, or ``table_<timescale>``).

    Returns
    -------
    dict of str to numpy.ndarray
        Each column under its (renamed) name; ``x_0``/``x_1`` pairs as one ``(n, 2)`` array ``x``.

    Examples
    --------
    >>> expand_table({"intervals_0": np.r_[0.0, 2], "intervals_1": np.r_[1.0, 3], "choice": np.r_[1, -1]})
    {'intervals': array([[0., 1.], [2., 3.]]), 'choice': array([ 1, -1])}
    """
    renamed = {_renamed(c, key): np.asarray(v) for c, v in columns.items()}
    pairs = _paired_names(list(renamed))
    out: dict[str, np.ndarray] = {}
    done = set()
    for name in renamed:
        if name in done:
            continue
        m = _PAIRED.match(name)
        if m and m["name"] in pairs:
            first, second = pairs[m["name"]]
            a, b = renamed[first], renamed[second]
            out[m["name"]] = np.column_stack([a, b]).astype(np.result_type(a, b), copy=False)
            done.update((first, second))
        else:
            out[name] = renamed[name]
    return out


def column_names(path: str | Path) -> list[str]:
    """The column names of a table file, reading only its schema (parquet) or header row (text)."""
    path = Path(path)
    ext = path.suffix.lstrip(".").lower()
    if ext == "pqt":
        pq = readers._pyarrow_parquet("pqt", path)
        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as err:
            raise AlfFormatError(
                f"not a parquet file ({err})", path, rule=".pqt files are parquet tables"
            ) from None
    if ext in _TEXT_DELIMITERS:
        header, _ = readers._table_rows(path, _TEXT_DELIMITERS[ext])
        return readers._unique_field_names(header)
    raise AlfFormatError(f"a .{ext} file is not a table", path, rule=_RULE)


def load_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Every column of a table file (parquet, csv, tsv, ssv) as a 1-D array, in file order.

    Text columns become ``str`` arrays, numbers float64 (text tables) or their parquet type.
    """
    path = Path(path)
    ext = path.suffix.lstrip(".").lower()
    if ext == "pqt":
        table = readers.read_parquet_table(path)
        return {n: column_to_numpy(table.column(n), n, path) for n in table.column_names}
    if ext in _TEXT_DELIMITERS:
        header, body = readers._table_rows(path, _TEXT_DELIMITERS[ext])
        names = readers._unique_field_names(header)
        return {n: readers._parse_column([row[j] for row in body]) for j, n in enumerate(names)}
    raise AlfFormatError(f"a .{ext} file is not a table", path, rule=_RULE)
