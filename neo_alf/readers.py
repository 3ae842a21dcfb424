"""One reader per ALF file type, chosen from a registry by extension.

Every reader answers two questions about one file: its *shape* (cheaply: a ``.npy``
header, a ``.bin`` file size, a parquet footer; never the data) and its *content*
(memory-mapped where the format allows it). Bad bytes raise an
:class:`~neo_alf.errors.AlfFormatError` subclass naming the file; nothing is ever
unpickled and nothing is ever written.

=========  ================================================================
``.npy``   memory-mapped, read-only, ``allow_pickle=False``; object dtypes refused
``.bin``   flat binary, needs ``<name>.metadata.json`` with ``dtype`` and ``columns``
``.tsv``   header row then tab-separated rows (``.csv`` commas, ``.ssv`` spaces)
``.json``  a list is rows; anything else is returned as parsed
``.pqt``   parquet, only with the optional ``pyarrow`` (extra ``neo-alf[pqt]``)
=========  ================================================================
"""

from __future__ import annotations

import ast
import csv
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfFormatError, AlfMetadataError

__all__ = [
    "READERS",
    "FileFormat",
    "Metadata",
    "column_names",
    "column_units",
    "file_shape",
    "read_file",
    "read_metadata",
    "read_parquet_table",
    "reader_for",
]

Metadata = dict[str, Any]
"""A parsed ``*.metadata.json``: a dict, possibly with ``columns``, ``rows`` and ``dtype``."""

_NPY_MAGIC = b"\x93NUMPY"
# Text tables are read whole; past this size they would be a memory hazard, not an ALF table.
_MAX_TEXT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class FileFormat:
    """How to read one file type.

    Attributes
    ----------
    extension : str
        Without the dot.
    shape : callable
        ``shape(path, metadata) -> tuple[int, ...] | None``: the array shape without reading the
        data (None when the file has no rows, e.g. a JSON dict).
    load : callable
        ``load(path, metadata) -> numpy.ndarray | object``: the content.
    needs_metadata : bool
        True when the file cannot be read without its ``*.metadata.json`` (``.bin``).
    """

    extension: str
    shape: Callable[[Path, Metadata | None], tuple[int, ...] | None]
    load: Callable[[Path, Metadata | None], Any]
    needs_metadata: bool = False
    description: str = field(default="", compare=False)


# ----------------------------------------------------------------------------------------------- npy


@dataclass(frozen=True)
class _NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int


def _read_npy_header(path: Path) -> _NpyHeader:
    """Read and check a ``.npy`` header: no object dtype, data size matching the file size."""
    size = _file_size(path)
    if size == 0:
        raise AlfFormatError("the file is empty", path, rule=".npy files hold a NumPy array")
    with _open(path) as fh:
        magic = fh.read(len(_NPY_MAGIC))
        if magic != _NPY_MAGIC:
            raise AlfFormatError(
                "not a .npy file (bad magic bytes)", path, rule=".npy files hold a NumPy array"
            )
        fh.seek(0)
        try:
            version = np.lib.format.read_magic(fh)
            reader = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if reader is None:  # version 3.0 (utf-8 field names) has no public reader: parse it ourselves
                shape, fortran_order, dtype = _read_npy_header_v3(fh)
            else:
                shape, fortran_order, dtype = reader(fh, max_header_size=10_000)
        except AlfFormatError:
            raise
        except Exception as err:  # numpy raises ValueError, SyntaxError, OSError ... on bad headers
            raise AlfFormatError(
                f"truncated or corrupt .npy header ({err})", path, rule=".npy files hold a NumPy array"
            ) from None
        offset = fh.tell()
    if dtype.hasobject:
        raise AlfFormatError(
            f"holds Python objects (dtype {dtype}); loading them would unpickle foreign code",
            path,
            rule=".npy data are numeric or text arrays; neo-alf never unpickles",
        )
    expected = offset + math.prod(shape) * dtype.itemsize
    if expected != size:
        what = "truncated" if size < expected else "longer than its header says"
        raise AlfFormatError(
            f"{what}: header declares shape {shape} of {dtype} ({expected} bytes) but the file has {size}",
            path,
            rule=".npy size matches its header",
        )
    return _NpyHeader(tuple(int(n) for n in shape), dtype, fortran_order, offset)


def _read_npy_header_v3(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    import struct

    (hlen,) = struct.unpack("<I", fh.read(4))
    if hlen > 10_000:
        raise ValueError("header too large")
    header = fh.read(hlen).decode("utf8")
    d = ast.literal_eval(header)
    return tuple(d["shape"]), bool(d["fortran_order"]), np.lib.format.descr_to_dtype(d["descr"])


def _npy_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
    return _read_npy_header(path).shape


def _npy_load(path: Path, metadata: Metadata | None = None) -> np.ndarray:
    head = _read_npy_header(path)
    if math.prod(head.shape) == 0:  # an empty array cannot be memory-mapped
        return np.empty(head.shape, dtype=head.dtype)
    order = "F" if head.fortran_order else "C"
    try:
        return np.memmap(path, dtype=head.dtype, mode="r", shape=head.shape, offset=head.offset, order=order)
    except OSError as err:
        raise AlfFormatError(f"cannot be read ({err.strerror or err})", path, rule="readable file") from None


# ----------------------------------------------------------------------------------------------- bin


def _bin_layout(path: Path, metadata: Metadata | None) -> tuple[np.dtype, int, int]:
    if metadata is None:
        raise AlfMetadataError(
            "a .bin file has no metadata file beside it",
            path,
            rule=".bin needs <object>.<attribute>.metadata.json with `dtype` and `columns`",
        )
    if "dtype" not in metadata or "columns" not in metadata:
        missing = [k for k in ("dtype", "columns") if k not in metadata]
        raise AlfMetadataError(
            f"metadata lacks {', '.join(missing)}", path, rule=".bin metadata has `dtype` and `columns`"
        )
    try:
        dtype = np.dtype(metadata["dtype"])
    except (TypeError, ValueError):
        raise AlfMetadataError(
            f"metadata dtype {metadata['dtype']!r} is not a NumPy dtype", path, rule=".bin metadata `dtype`"
        ) from None
    if dtype.hasobject or dtype.itemsize == 0:
        raise AlfMetadataError(
            f"metadata dtype {dtype} cannot be stored flat", path, rule=".bin metadata `dtype`"
        )
    columns = metadata["columns"]
    if not isinstance(columns, list) or not columns:
        raise AlfMetadataError(
            "metadata `columns` must be a non-empty list", path, rule=".bin metadata `columns`"
        )
    n_cols = len(columns)
    size = _file_size(path)
    row_bytes = dtype.itemsize * n_cols
    if size % row_bytes:
        raise AlfFormatError(
            f"{size} bytes is not a whole number of rows of {n_cols} x {dtype} ({row_bytes} bytes)",
            path,
            rule=".bin size divides by dtype size x column count",
        )
    return dtype, size // row_bytes, n_cols


def _bin_shape(path: Path, metadata: Metadata | None) -> tuple[int, ...]:
    _, n_rows, n_cols = _bin_layout(path, metadata)
    return (n_rows, n_cols)


def _bin_load(path: Path, metadata: Metadata | None) -> np.ndarray:
    dtype, n_rows, n_cols = _bin_layout(path, metadata)
    if n_rows == 0:
        return np.empty((0, n_cols), dtype=dtype)
    try:
        return np.memmap(path, dtype=dtype, mode="r", shape=(n_rows, n_cols))
    except OSError as err:
        raise AlfFormatError(f"cannot be read ({err.strerror or err})", path, rule="readable file") from None


# ---------------------------------------------------------------------------------------------- text


def _table_rows(path: Path, delimiter: str | None) -> tuple[list[str], list[list[str]]]:
    if _file_size(path) > _MAX_TEXT_BYTES:
        raise AlfFormatError(
            f"a text table over {_MAX_TEXT_BYTES // 2**20} MiB", path, rule="text tables are small"
        )
    with _open(path) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AlfFormatError(f"not UTF-8 text ({err.reason})", path, rule="text tables are UTF-8") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise AlfFormatError("the file is empty", path, rule="text tables start with a header row")
    if delimiter is None:
        rows = [line.split() for line in lines]
    else:
        rows = list(csv.reader(lines, delimiter=delimiter))
    header, body = rows[0], rows[1:]
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise AlfFormatError(
                f"line {i} has {len(row)} fields, the header has {len(header)}",
                path,
                rule="all rows of a table have the same number of columns",
            )
    return header, body


def _parse_column(values: list[str]) -> np.ndarray:
    try:
        return np.array([float(v) if v.strip() not in ("", "nan", "NaN", "NA") else np.nan for v in values])
    except ValueError:
        return np.array(values, dtype=str)


def _make_text_reader(delimiter: str | None) -> tuple[Callable, Callable]:
    def shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
        header, body = _table_rows(path, delimiter)
        return (len(body),) if len(header) == 1 else (len(body), len(header))

    def load(path: Path, metadata: Metadata | None = None) -> np.ndarray:
        header, body = _table_rows(path, delimiter)
        columns = [_parse_column([row[j] for row in body]) for j in range(len(header))]
        if all(c.dtype.kind == "f" for c in columns):
            data = np.column_stack(columns) if columns[0].size or len(columns) > 1 else np.empty((0, 1))
            if len(columns) == 1:
                return data.reshape(-1)
            return data.reshape(len(body), len(header))
        # Mixed numeric and text columns: a structured array keeps each column's type and name.
        names = _unique_field_names(header)
        dtype = [(n, c.dtype) for n, c in zip(names, columns, strict=True)]
        out = np.empty(len(body), dtype=dtype)
        for n, c in zip(names, columns, strict=True):
            out[n] = c
        return out if len(columns) > 1 else out[names[0]]

    return shape, load


def _unique_field_names(header: list[str]) -> list[str]:
    names: list[str] = []
    for i, h in enumerate(header):
        name = h.strip() or f"Unnamed: {i}"  # pandas' name for an unnamed column (an index)
        while name in names:
            name = f"{name}_{i}"
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------------- json


def _json_parse(path: Path) -> Any:
    if _file_size(path) > _MAX_TEXT_BYTES:
        raise AlfFormatError(f"JSON over {_MAX_TEXT_BYTES // 2**20} MiB", path, rule="JSON files are small")
    with _open(path) as fh:
        raw = fh.read()
    if not raw.strip():
        raise AlfFormatError("the file is empty", path, rule="JSON files hold one JSON value")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AlfFormatError(f"invalid JSON ({err})", path, rule="JSON files hold one JSON value") from None


def _json_load(path: Path, metadata: Metadata | None = None) -> Any:
    value = _json_parse(path)
    if isinstance(value, list):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged lists
            return value
        if arr.dtype.kind in "biufcUS":
            return arr
    return value


def _json_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...] | None:
    value = _json_load(path)
    if isinstance(value, np.ndarray):
        return value.shape
    if isinstance(value, list):
        return (len(value),)
    return None


# ----------------------------------------------------------------------------------------------- pqt


def _pyarrow_parquet(extra: str = "pqt", path=None):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise AlfDependencyError(
            f"reading parquet needs pyarrow: pip install 'neo-alf[{extra}]'",
            path,
            rule=f"optional extra `{extra}`",
        ) from None
    return pq


def read_parquet_table(
    path: str | os.PathLike, extra: str = "pqt", rule: str = ".pqt files are parquet tables"
):
    """A parquet file as a ``pyarrow.Table``; errors name the file, and the extra when pyarrow is missing."""
    pq = _pyarrow_parquet(extra, path)
    try:  # ParquetFile.read: read_table would import pyarrow.dataset, and with it pandas
        return pq.ParquetFile(path).read()
    except Exception as err:
        raise AlfFormatError(f"not a parquet table ({err})", path, rule=rule) from None


def _pqt_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
    pq = _pyarrow_parquet("pqt", path)
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as err:
        raise AlfFormatError(
            f"not a parquet file ({err})", path, rule=".pqt files are parquet tables"
        ) from None
    return (meta.num_rows, meta.num_columns)


def _pqt_load(path: Path, metadata: Metadata | None = None) -> np.ndarray:
    from .arrow import column_to_numpy

    table = read_parquet_table(path)
    columns = {name: column_to_numpy(table.column(name), name, path) for name in table.column_names}
    dtype = []
    for name, values in columns.items():
        if values.dtype.hasobject:
            values = values.astype(str)
            columns[name] = values
        dtype.append((name, values.dtype))
    out = np.empty(table.num_rows, dtype=dtype)
    for name, values in columns.items():
        out[name] = values
    return out


# ------------------------------------------------------------------------------------------ registry


def _make_registry() -> dict[str, FileFormat]:
    tsv_shape, tsv_load = _make_text_reader("\t")
    csv_shape, csv_load = _make_text_reader(",")
    ssv_shape, ssv_load = _make_text_reader(None)
    formats = [
        FileFormat("npy", _npy_shape, _npy_load, description="NumPy array, memory-mapped read-only"),
        FileFormat("bin", _bin_shape, _bin_load, needs_metadata=True, description="flat binary + metadata"),
        FileFormat("tsv", tsv_shape, tsv_load, description="tab-separated table with a header row"),
        FileFormat("csv", csv_shape, csv_load, description="comma-separated table with a header row"),
        FileFormat("ssv", ssv_shape, ssv_load, description="space-separated table with a header row"),
        FileFormat("json", _json_shape, _json_load, description="JSON; a list is rows"),
        FileFormat("pqt", _pqt_shape, _pqt_load, description="parquet table (needs pyarrow)"),
    ]
    return {f.extension: f for f in formats}


READERS: dict[str, FileFormat] = _make_registry()
"""dict: extension (no dot) -> :class:`FileFormat`. Add an entry to teach neo-alf a new file type."""


def reader_for(path: str | os.PathLike) -> FileFormat:
    """The :class:`FileFormat` for a path, from its extension.

    Raises
    ------
    AlfFormatError
        No reader is registered for that extension.
    """
    ext = Path(path).suffix.lstrip(".").lower()
    try:
        return READERS[ext]
    except KeyError:
        raise AlfFormatError(
            f"no reader for .{ext} files (readable: {', '.join(sorted(READERS))})",
            path,
            rule="neo-alf reads " + ", ".join(f".{e}" for e in sorted(READERS)),
        ) from None


def read_metadata(path: str | os.PathLike) -> Metadata:
    """Read a ``*.metadata.json`` file and check the keys the ALF spec defines.

    Parameters
    ----------
    path : str or path-like
        The metadata file.

    Returns
    -------
    dict
        The parsed metadata.

    Raises
    ------
    AlfMetadataError
        Invalid JSON, not an object, or ``columns``/``rows`` that are not lists.
    """
    path = Path(path)
    try:
        value = _json_parse(path)
    except AlfFormatError as err:
        raise AlfMetadataError(err.detail, path, rule="metadata files hold one JSON object") from None
    if not isinstance(value, dict):
        raise AlfMetadataError(
            "metadata is not a JSON object", path, rule="metadata files hold one JSON object"
        )
    for key in ("columns", "rows"):
        if key in value and not isinstance(value[key], list):
            raise AlfMetadataError(
                f"metadata `{key}` is not a list", path, rule=f"metadata `{key}` is a list"
            )
    return value


def file_shape(path: str | os.PathLike, metadata: Metadata | None = None) -> tuple[int, ...] | None:
    """The shape of one file's array without reading its data (None when it has no rows).

    Also checks that metadata ``columns``/``rows`` agree with that shape.
    """
    path = Path(path)
    shape = reader_for(path).shape(path, metadata)
    _check_metadata_shape(path, shape, metadata)
    return shape


def read_file(path: str | os.PathLike, metadata: Metadata | None = None) -> Any:
    """Read one file with the reader its extension names.

    Parameters
    ----------
    path : str or path-like
        The data file.
    metadata : dict, optional
        Its parsed ``*.metadata.json`` (required for ``.bin``).

    Returns
    -------
    numpy.ndarray or object
        ``.npy`` and ``.bin``: a read-only ``numpy.memmap``; tables: float arrays (numeric) or a
        structured array (mixed text and numbers); JSON: an array for lists of scalars, else the
        parsed value.
    """
    path = Path(path)
    fmt = reader_for(path)
    data = fmt.load(path, metadata)
    if isinstance(data, np.ndarray):
        _check_metadata_shape(path, data.shape, metadata)
    return data


def _check_metadata_shape(path: Path, shape: tuple[int, ...] | None, metadata: Metadata | None) -> None:
    if not metadata or shape is None:
        return
    columns = metadata.get("columns")
    if isinstance(columns, list) and path.suffix != ".bin":
        n_cols = 1 if len(shape) < 2 else shape[1]
        if len(columns) != n_cols:
            raise AlfMetadataError(
                f"metadata lists {len(columns)} columns, the data have {n_cols}",
                path,
                rule="metadata `columns` has one entry per column",
            )
    rows = metadata.get("rows")
    if isinstance(rows, list) and shape and len(rows) != shape[0]:
        raise AlfMetadataError(
            f"metadata lists {len(rows)} rows, the data have {shape[0]}",
            path,
            rule="metadata `rows` has one entry per row",
        )


def column_names(metadata: Metadata | None, n_columns: int) -> list[str | None]:
    """Column names from metadata (``columns[i].name`` or a plain string entry), None where absent."""
    return _column_field(metadata, n_columns, "name")


def column_units(metadata: Metadata | None, n_columns: int) -> list[str | None]:
    """Column units from metadata (``columns[i].unit``), None where absent."""
    return _column_field(metadata, n_columns, "unit")


def _column_field(metadata: Metadata | None, n_columns: int, key: str) -> list[str | None]:
    columns = (metadata or {}).get("columns")
    if not isinstance(columns, list):
        return [None] * n_columns
    out: list[str | None] = []
    for i in range(n_columns):
        entry = columns[i] if i < len(columns) else None
        if isinstance(entry, dict) and entry.get(key) is not None:
            out.append(str(entry[key]))
        elif key == "name" and isinstance(entry, str):
            out.append(entry)
        else:
            out.append(None)
    return out


# ---------------------------------------------------------------------------------------------- files


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as err:
        raise AlfFormatError(f"cannot be read ({err.strerror or err})", path, rule="readable file") from None


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as err:
        raise AlfFormatError(f"cannot be read ({err.strerror or err})", path, rule="readable file") from None
