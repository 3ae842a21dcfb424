"""One reader per ALF file type, chosen from a registry by extension.

Every reader answers two questions about one file: its *shape* (cheaply: a ``.npy``
header, a ``.bin`` file size, a parquet footer; never the data) and its *content*
(memory-mapped where the format allows it). Bad bytes raise an
:class:`~neo_alf.errors.AlfFormatError` subclass naming the file and the rule; nothing is
ever unpickled and nothing is ever written.

=============  ============================================================
``.npy``       memory-mapped, read-only, ``allow_pickle=False``; object dtypes refused
``.bin``       flat binary, needs ``<name>.metadata.json`` with ``dtype`` and ``columns``
``.tsv``       header row then tab-separated rows (``.csv`` commas, ``.ssv`` spaces)
``.json``      a list is rows; anything else is returned as parsed
``.jsonable``  JSON lines (one value per line), a list, as ONE-api reads them
``.npz``       a dict of arrays, ``allow_pickle=False``, sizes checked before inflating
``.pqt``       parquet, only with the optional ``pyarrow`` (extra ``neo-alf[pqt]``)
=============  ============================================================

Only regular files are opened: a FIFO, a character device (``/dev/zero``), a socket or a
folder is refused from its ``stat`` before any open, and the open itself is non-blocking and
checked again with ``fstat``. A symlink whose target leaves the session folder (``root=``, or
the ``subject/yyyy-mm-dd/number`` folder above the file) is refused
(:class:`~neo_alf.errors.AlfPathError`). Every read is bounded (:data:`LIMITS`). Files
neo-alf does not read (``.mp4``, ``.flac``, ``.zip``, ``.yaml``, ``.log``, ``.bin`` without
metadata ...) are told by :func:`reader_for` (None) and :func:`is_readable` (False), without
raising.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import csv
import functools
import io
import json
import math
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfDependencyError, AlfFormatError, AlfMetadataError, AlfNameError, AlfPathError

__all__ = [
    "LIMITS",
    "READERS",
    "FileFormat",
    "Metadata",
    "column_names",
    "column_units",
    "file_shape",
    "is_readable",
    "open_regular",
    "read_file",
    "read_metadata",
    "read_parquet_table",
    "reader_for",
]

Metadata = dict[str, Any]
"""A parsed ``*.metadata.json``: a dict, possibly with ``columns``, ``rows`` and ``dtype``."""

_NPY_MAGIC = b"\x93NUMPY"

LIMITS: dict[str, int] = {
    # Text tables and JSON are parsed whole; past this size they are a memory hazard, not ALF data.
    "text_bytes": 512 * 1024 * 1024,
    "metadata_bytes": 64 * 1024 * 1024,
    # Inflated size of all members of one .npz (a zip bomb is refused from its directory).
    "npz_bytes": 1024 * 1024 * 1024,
    # Uncompressed size of a parquet table, from its footer, before any column is read.
    "parquet_bytes": 2 * 1024 * 1024 * 1024,
    "npy_header_bytes": 10_000,
    "dtype_chars": 32,
}
"""dict: the bounds every read respects (bytes unless said); exceeding one is an AlfFormatError."""


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


_NPY_RULE = ".npy files hold a NumPy array"


def _read_npy_header(path: Path) -> _NpyHeader:
    """Read and check a ``.npy`` header: no object dtype, sane shape, data size matching the file size."""
    with open_regular(path) as fh:
        return _npy_header_from(fh, path, os.fstat(fh.fileno()).st_size)


def _npy_header_from(fh, path: Path, size: int) -> _NpyHeader:
    if size == 0:
        raise AlfFormatError("the file is empty", path, rule=_NPY_RULE)
    magic = fh.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        raise AlfFormatError("not a .npy file (bad magic bytes)", path, rule=_NPY_RULE)
    fh.seek(fh.tell() - len(_NPY_MAGIC))
    start = fh.tell()
    try:
        version = np.lib.format.read_magic(fh)
        reader = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if reader is None:  # version 3.0 (utf-8 field names) has no public reader: parse it ourselves
            shape, fortran_order, dtype = _read_npy_header_v3(fh)
        else:
            shape, fortran_order, dtype = reader(fh, max_header_size=LIMITS["npy_header_bytes"])
    except AlfFormatError:
        raise
    except Exception as err:  # ValueError, SyntaxError, RecursionError, MemoryError ... on bad headers
        raise AlfFormatError(f"truncated or corrupt .npy header ({err})", path, rule=_NPY_RULE) from None
    offset = fh.tell() - start
    if not isinstance(dtype, np.dtype):
        raise AlfFormatError(f"header dtype {dtype!r} is not a NumPy dtype", path, rule=_NPY_RULE)
    if dtype.hasobject:
        raise AlfFormatError(
            f"holds Python objects (dtype {dtype}); loading them would unpickle foreign code",
            path,
            rule=".npy data are numeric or text arrays; neo-alf never unpickles",
        )
    if dtype.subdtype is not None:  # ('<f8', (2,)) would silently add axes to the declared shape
        raise AlfFormatError(
            f"header dtype {dtype} is a subarray dtype", path, rule=".npy dtype is a scalar or record dtype"
        )
    shape = _checked_shape(shape, path, size)
    expected = offset + math.prod(shape) * dtype.itemsize
    if expected != size:
        what = "truncated" if size < expected else "longer than its header says"
        raise AlfFormatError(
            f"{what}: header declares shape {shape} of {dtype} ({expected} bytes) but the file has {size}",
            path,
            rule=".npy size matches its header",
        )
    return _NpyHeader(shape, dtype, bool(fortran_order), offset)


def _checked_shape(shape: Any, path: Path, size: int) -> tuple[int, ...]:
    rule = ".npy shape is a tuple of dimensions, each at most the file size"
    if not isinstance(shape, tuple) or len(shape) > 32:
        raise AlfFormatError(f"header shape {shape!r:.80} is not a tuple of at most 32 ints", path, rule=rule)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise AlfFormatError(f"header shape {shape!r:.80} has a non-integer dimension", path, rule=rule)
        # An empty array's rows are bounded by the bytes that hold it too: (2**62, 0) is no ALF data
        # (a non-empty one is bounded by the size check that follows).
        if n < 0 or (n > size and 0 in shape):
            raise AlfFormatError(
                f"header shape {shape!r:.80} has a dimension {int(n)} outside 0..{size} (the file size)",
                path,
                rule=rule,
            )
    return tuple(int(n) for n in shape)


def _read_npy_header_v3(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    import struct

    (hlen,) = struct.unpack("<I", fh.read(4))
    if hlen > LIMITS["npy_header_bytes"]:
        raise ValueError("header too large")
    header = fh.read(hlen).decode("utf8")
    d = ast.literal_eval(header)
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError("the header is not a dict of descr, fortran_order, shape")
    if not isinstance(d["fortran_order"], bool):
        raise ValueError(f"fortran_order {d['fortran_order']!r} is not a bool")
    return d["shape"], d["fortran_order"], np.lib.format.descr_to_dtype(d["descr"])


def _npy_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
    return _read_npy_header(path).shape


def _npy_load(path: Path, metadata: Metadata | None = None) -> np.ndarray:
    with open_regular(path) as fh:
        head = _npy_header_from(fh, path, os.fstat(fh.fileno()).st_size)
        if math.prod(head.shape) == 0:  # an empty array cannot be memory-mapped
            return np.empty(head.shape, dtype=head.dtype)
        order = "F" if head.fortran_order else "C"
        try:
            # Mapped from the descriptor checked above, not reopened by name: it cannot be swapped.
            data = np.memmap(
                fh, dtype=head.dtype, mode="r", shape=head.shape, offset=head.offset, order=order
            )
        except (OSError, ValueError) as err:
            raise AlfFormatError(f"cannot be mapped ({err})", path, rule="readable file") from None
    _check_text_bytes(data, path)
    return data


def _check_text_bytes(data: np.ndarray, path: Path) -> None:
    """``|S`` arrays are text for every layer above (labels, acronyms): they must be ASCII."""
    if data.dtype.kind != "S" or data.size == 0:
        return
    raw = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
    if raw.size and int(raw.max()) >= 0x80:
        first = int(np.argmax(raw >= 0x80))
        raise AlfFormatError(
            f"byte-string (|S) array holds a non-ASCII byte 0x{int(raw[first]):02x} (element "
            f"{first // data.dtype.itemsize}); store text as unicode (<U)",
            path,
            rule="|S arrays hold ASCII text",
        )


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
    dtype = _bin_dtype(metadata["dtype"], path)
    columns = metadata["columns"]
    if not isinstance(columns, list) or not columns:
        raise AlfMetadataError(
            "metadata `columns` must be a non-empty list", path, rule=".bin metadata `columns`"
        )
    n_cols = len(columns)
    with open_regular(path) as fh:  # a FIFO or a device has no size to divide; a symlink out is refused
        size = os.fstat(fh.fileno()).st_size
    row_bytes = dtype.itemsize * n_cols
    if size % row_bytes:
        raise AlfFormatError(
            f"{size} bytes is not a whole number of rows of {n_cols} x {dtype} ({row_bytes} bytes)",
            path,
            rule=".bin size divides by dtype size x column count",
        )
    return dtype, size // row_bytes, n_cols


def _bin_dtype(value: Any, path: Path) -> np.dtype:
    rule = ".bin metadata `dtype` names a numeric NumPy dtype (int16, float32, <f4 ...)"
    # `null` would silently become float64; a list or dict would build a structured dtype.
    if not isinstance(value, str) or not value.strip() or len(value) > LIMITS["dtype_chars"]:
        raise AlfMetadataError(f"metadata dtype {value!r:.60} is not a dtype name", path, rule=rule)
    try:
        dtype = np.dtype(value)
    except Exception:  # TypeError, ValueError, and SyntaxError for strings such as ",float32"
        raise AlfMetadataError(f"metadata dtype {value!r} is not a NumPy dtype", path, rule=rule) from None
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufc":
        raise AlfMetadataError(f"metadata dtype {value!r} ({dtype}) is not a numeric scalar", path, rule=rule)
    return dtype


def _bin_shape(path: Path, metadata: Metadata | None) -> tuple[int, ...]:
    _, n_rows, n_cols = _bin_layout(path, metadata)
    return (n_rows, n_cols)


def _bin_load(path: Path, metadata: Metadata | None) -> np.ndarray:
    dtype, n_rows, n_cols = _bin_layout(path, metadata)
    if n_rows == 0:
        return np.empty((0, n_cols), dtype=dtype)
    with open_regular(path) as fh:
        if os.fstat(fh.fileno()).st_size != n_rows * n_cols * dtype.itemsize:
            raise AlfFormatError(
                "changed size while being opened", path, rule="files do not change under a reader"
            )
        try:
            return np.memmap(fh, dtype=dtype, mode="r", shape=(n_rows, n_cols))
        except (OSError, ValueError) as err:
            raise AlfFormatError(f"cannot be mapped ({err})", path, rule="readable file") from None


# ---------------------------------------------------------------------------------------------- text


def _table_rows(path: Path, delimiter: str | None) -> tuple[list[str], list[list[str]]]:
    raw = _read_bounded(path, LIMITS["text_bytes"], "a text table", "text tables are small")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AlfFormatError(f"not UTF-8 text ({err.reason})", path, rule="text tables are UTF-8") from None
    if "\x00" in text:
        raise AlfFormatError("holds a NUL character", path, rule="text tables are UTF-8 text")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise AlfFormatError("the file is empty", path, rule="text tables start with a header row")
    if delimiter is None:
        rows = [line.split() for line in lines]
    else:
        try:
            rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error as err:  # a field over csv.field_size_limit() (128 KiB), a bad quote ...
            raise AlfFormatError(
                f"not a delimited table ({err})", path, rule="text tables: header row, delimited fields"
            ) from None
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


def _json_parse(path: Path, limit: int | None = None) -> Any:
    raw = _read_bounded(path, limit or LIMITS["text_bytes"], "JSON", "JSON files are small")
    if not raw.strip():
        raise AlfFormatError("the file is empty", path, rule="JSON files hold one JSON value")
    return _json_value(raw, path, "JSON files hold one JSON value")


def _json_value(raw: bytes | str, path: Path, rule: str, where: str = "") -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AlfFormatError(f"invalid JSON{where} ({err})", path, rule=rule) from None
    except RecursionError:
        raise AlfFormatError(f"JSON{where} nested too deeply", path, rule=rule) from None
    except ValueError as err:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise AlfFormatError(f"JSON{where} value out of range ({err})", path, rule=rule) from None


def _json_load(path: Path, metadata: Metadata | None = None) -> Any:
    value = _json_parse(path)
    if isinstance(value, list):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError, RecursionError):  # ragged or deep lists
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


# ------------------------------------------------------------------------------------------ jsonable


def _jsonable_load(path: Path, metadata: Metadata | None = None) -> list[Any]:
    """JSON lines, one value per line, as ONE-api's ``load_file_content`` (``iblutil.io.jsonable``)."""
    raw = _read_bounded(path, LIMITS["text_bytes"], "a JSON-lines file", "JSON-lines files are small")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AlfFormatError(
            f"not UTF-8 text ({err.reason})", path, rule=".jsonable is UTF-8 JSON lines"
        ) from None
    values = []
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            values.append(_json_value(line, path, ".jsonable holds one JSON value per line", f" on line {i}"))
    if not values:
        raise AlfFormatError("the file is empty", path, rule=".jsonable holds one JSON value per line")
    return values


def _jsonable_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
    return (len(_jsonable_load(path)),)


# ----------------------------------------------------------------------------------------------- npz

_NPZ_RULE = ".npz is a zip of .npy arrays"


def _npz_members(path: Path, fh) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    try:
        archive = zipfile.ZipFile(fh)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
        raise AlfFormatError(f"not a zip archive ({err})", path, rule=_NPZ_RULE) from None
    if not infos:
        raise AlfFormatError("the archive is empty", path, rule=_NPZ_RULE)
    total = 0
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            raise AlfFormatError(f"member {info.filename!r} is not a .npy array", path, rule=_NPZ_RULE)
        total += info.file_size
    # The directory's sizes bound what inflating can produce (zipfile stops there): a bomb is refused here.
    if total > LIMITS["npz_bytes"]:
        raise AlfFormatError(
            f"members inflate to {total} bytes, over {LIMITS['npz_bytes'] // 2**20} MiB", path, rule=_NPZ_RULE
        )
    return archive, infos


def _npz_load(path: Path, metadata: Metadata | None = None) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with open_regular(path) as fh:
        archive, infos = _npz_members(path, fh)
        with archive:
            for info in infos:
                key = info.filename[: -len(".npy")]
                where = f"{path}[{info.filename}]"
                try:
                    with archive.open(info) as member:
                        raw = member.read(info.file_size + 1)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                    raise AlfFormatError(
                        f"member {info.filename!r} cannot be inflated ({err})", path, rule=_NPZ_RULE
                    ) from None
                head = _npy_header_from(io.BytesIO(raw), Path(where), len(raw))
                count = math.prod(head.shape)
                if count == 0:
                    arr = np.empty(head.shape, dtype=head.dtype)
                else:
                    arr = np.frombuffer(raw, dtype=head.dtype, count=count, offset=head.offset)
                    arr = arr.reshape(head.shape, order="F" if head.fortran_order else "C")
                _check_text_bytes(arr, Path(where))
                out[key] = arr
    return out


def _npz_shape(path: Path, metadata: Metadata | None = None) -> None:
    """None: the arrays of one ``.npz`` have their own shapes (rows of an object do not apply)."""
    with open_regular(path) as fh:
        _npz_members(path, fh)[0].close()
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


_PQT_RULE = ".pqt files are parquet tables"


def read_parquet_table(
    path: str | os.PathLike, extra: str = "pqt", rule: str = _PQT_RULE, columns_checked: bool = False
):
    """A parquet file as a ``pyarrow.Table``; errors name the file, and the extra when pyarrow is missing.

    Only a regular file is opened; its footer's uncompressed size is checked against
    ``LIMITS["parquet_bytes"]`` before any column is read. With ``columns_checked``, columns that
    are not flat numbers, booleans, text or times (binary, list, map, struct ...) are refused.
    """
    pq = _pyarrow_parquet(extra, path)
    path = Path(path)
    with open_regular(path) as fh:
        try:
            pf = pq.ParquetFile(fh)
            inflated = _parquet_decoded_bytes(pf)
        except Exception as err:
            raise AlfFormatError(f"not a parquet table ({err})", path, rule=rule) from None
        if inflated > LIMITS["parquet_bytes"]:
            raise AlfFormatError(
                f"the table inflates to {inflated} bytes, over {LIMITS['parquet_bytes'] // 2**20} MiB",
                path,
                rule=rule,
            )
        if columns_checked:
            _check_parquet_columns(pf.schema_arrow, path)
        try:
            return pf.read()
        except Exception as err:
            raise AlfFormatError(f"not a parquet table ({err})", path, rule=rule) from None


def _parquet_decoded_bytes(pf) -> int:
    """What the table takes once decoded, from the footer: run-length or dictionary encoding can make
    a few hundred bytes on disk stand for gigabytes of zeros, so rows x column widths count too."""
    meta = pf.metadata
    encoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    width = 0
    for f in pf.schema_arrow:
        try:
            width += max(f.type.bit_width // 8, 1)
        except ValueError:  # variable width (text): at least an offset and a pointer per value
            width += 16
    return max(encoded, meta.num_rows * width)


def _check_parquet_columns(schema, path: Path) -> None:
    import pyarrow as pa

    def flat(t) -> bool:
        if pa.types.is_dictionary(t):
            return flat(t.value_type) and not pa.types.is_dictionary(t.value_type)
        return (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_temporal(t)
        )

    for f in schema:
        if not flat(f.type):
            raise AlfFormatError(
                f"column {f.name!r} is {f.type}, not numbers, booleans, text or times",
                path,
                rule=".pqt columns are flat (no binary, list, map or struct columns)",
            )


def _pqt_shape(path: Path, metadata: Metadata | None = None) -> tuple[int, ...]:
    pq = _pyarrow_parquet("pqt", path)
    with open_regular(path) as fh:
        try:
            pf = pq.ParquetFile(fh)
            # top-level columns: a map or struct column counts once, not once per leaf
            return (pf.metadata.num_rows, len(pf.schema_arrow.names))
        except Exception as err:
            raise AlfFormatError(f"not a parquet file ({err})", path, rule=_PQT_RULE) from None


def _pqt_load(path: Path, metadata: Metadata | None = None) -> np.ndarray:
    from .arrow import column_to_numpy

    table = read_parquet_table(path, columns_checked=True)
    try:  # column_to_numpy: pyarrow's own to_numpy would import pandas (0.8 s at first use)
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
    except (ValueError, TypeError, OverflowError) as err:  # duplicate or empty column names ...
        raise AlfFormatError(f"columns cannot form a table ({err})", path, rule=_PQT_RULE) from None
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
        FileFormat(
            "jsonable", _jsonable_shape, _jsonable_load, description="JSON lines: a list, one per line"
        ),
        FileFormat("npz", _npz_shape, _npz_load, description="zip of arrays: a dict, never unpickled"),
        FileFormat("pqt", _pqt_shape, _pqt_load, description="parquet table (needs pyarrow)"),
    ]
    return {f.extension: f for f in formats}


READERS: dict[str, FileFormat] = _make_registry()
"""dict: extension (no dot) -> :class:`FileFormat`. Add an entry to teach neo-alf a new file type."""


def reader_for(path: str | os.PathLike) -> FileFormat | None:
    """The :class:`FileFormat` for a path, from its extension; None when neo-alf does not read it.

    Never raises and reads nothing: ``.mp4``, ``.flac``, ``.zip``, ``.tar``, ``.yaml``, ``.log``
    and any extension without a registered reader give None, so a session can list such files.
    ``.bin`` has a reader, which needs metadata: see :func:`is_readable`.
    """
    try:
        ext = Path(path).suffix.lstrip(".").lower()
    except TypeError:
        return None
    return READERS.get(ext)


def is_readable(path: str | os.PathLike, has_metadata: bool = False) -> bool:
    """True when neo-alf reads this file: a reader for its extension, and metadata where it needs it.

    Parameters
    ----------
    path : str or path-like
        A file name or path; only its name is looked at (nothing is opened).
    has_metadata : bool
        Whether a ``*.metadata.json`` sits beside it (a ``.bin`` without one is not read: IBL's
        ``GPIO.bin``, ``frameData.bin`` are raw recordings of their own format).

    Returns
    -------
    bool
    """
    fmt = reader_for(path)
    return fmt is not None and (has_metadata or not fmt.needs_metadata)


def _require_reader(path: Path) -> FileFormat:
    fmt = reader_for(path)
    if fmt is None:
        ext = path.suffix.lstrip(".").lower()
        raise AlfFormatError(
            f"no reader for .{ext} files (readable: {', '.join(sorted(READERS))})",
            path,
            rule="neo-alf reads " + ", ".join(f".{e}" for e in sorted(READERS)),
        )
    return fmt


def read_metadata(path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Metadata:
    """Read a ``*.metadata.json`` file and check the keys the ALF spec defines.

    Parameters
    ----------
    path : str or path-like
        The metadata file.
    root : str or path-like, optional
        The session folder it must stay in (see :func:`open_regular`).

    Returns
    -------
    dict
        The parsed metadata.

    Raises
    ------
    AlfMetadataError
        Invalid JSON, not an object, ``columns``/``rows`` that are not lists, not a regular file
        (a FIFO, ``/dev/zero``), or over ``LIMITS["metadata_bytes"]``.
    AlfPathError
        A symlink leading out of the session folder.
    """
    path = Path(path)
    try:
        with _inside(root):
            value = _json_parse(path, LIMITS["metadata_bytes"])
    except AlfMetadataError:
        raise
    except AlfFormatError as err:
        raise AlfMetadataError(
            err.detail, path, rule=err.rule or "metadata files hold one JSON object"
        ) from None
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


def file_shape(
    path: str | os.PathLike, metadata: Metadata | None = None, *, root: str | os.PathLike | None = None
) -> tuple[int, ...] | None:
    """The shape of one file's array without reading its data (None when it has no rows).

    Also checks that metadata ``columns``/``rows`` agree with that shape. ``root``: the session
    folder the file must stay in (see :func:`open_regular`).
    """
    path = Path(path)
    fmt = _require_reader(path)
    with _inside(root):
        shape = fmt.shape(path, metadata)
    _check_metadata_shape(path, shape, metadata)
    return shape


def read_file(
    path: str | os.PathLike, metadata: Metadata | None = None, *, root: str | os.PathLike | None = None
) -> Any:
    """Read one file with the reader its extension names.

    Parameters
    ----------
    path : str or path-like
        The data file.
    metadata : dict, optional
        Its parsed ``*.metadata.json`` (required for ``.bin``).
    root : str or path-like, optional
        The session folder the file must stay in (see :func:`open_regular`).

    Returns
    -------
    numpy.ndarray or object
        ``.npy`` and ``.bin``: a read-only ``numpy.memmap``; tables: float arrays (numeric) or a
        structured array (mixed text and numbers); JSON: an array for lists of scalars, else the
        parsed value; ``.jsonable``: a list; ``.npz``: a dict of read-only arrays.
    """
    path = Path(path)
    fmt = _require_reader(path)
    with _inside(root):
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

_RULE_REGULAR = "only regular files inside the session are read"


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _cannot_read(path, err: OSError) -> AlfFormatError:
    return AlfFormatError(f"cannot be read ({err.strerror or err})", path, rule="readable file")


@functools.lru_cache(maxsize=1024)
def _session_root_of(folder: str) -> str | None:
    """The nearest folder at or above ``folder`` shaped ``[lab/Subjects/]subject/yyyy-mm-dd/number``."""
    from .spec import parse_session_path

    path = Path(folder)
    for candidate in (path, *path.parents):
        if len(candidate.parts) < 4:
            break
        try:
            parse_session_path(candidate)
        except AlfNameError:
            continue
        return str(candidate)
    return None


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


_ROOT: contextvars.ContextVar[str | None] = contextvars.ContextVar("neo_alf_readers_root", default=None)


@contextlib.contextmanager
def _inside(root: str | os.PathLike | None):
    """Files opened in this block must stay in ``root`` (when given)."""
    if root is None:
        yield
        return
    token = _ROOT.set(os.path.abspath(root))
    try:
        yield
    finally:
        _ROOT.reset(token)


def _check_opened_inside(fd: int, path: Path, root: str | os.PathLike | None) -> None:
    """Refuse an opened file whose real location leaves ``root`` (or the session inferred from the path)."""
    absolute = os.path.abspath(path)
    if root is not None:
        base = os.path.abspath(root)
    else:
        base = _ROOT.get() or _session_root_of(os.path.dirname(absolute))
    if base is None:
        return
    try:  # where the descriptor really points: no second lookup by name that could be raced
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(absolute)
    real_base = _real_root(base)
    if real != real_base and not real.startswith(real_base.rstrip(os.sep) + os.sep):
        raise AlfPathError(
            f"is a symlink to {real}, outside the session folder {base}",
            path,
            rule="datasets and their metadata stay in their session folder",
        )


def open_regular(path: str | os.PathLike, root: str | os.PathLike | None = None) -> io.BufferedReader:
    """Open a file for reading only if it is a regular file inside the session; never blocks.

    Parameters
    ----------
    path : str or path-like
        The file.
    root : str or path-like, optional
        The session folder the file must stay in (symlinks followed). Default: the
        ``[lab/Subjects/]subject/yyyy-mm-dd/number`` folder above ``path``, when there is one.

    Returns
    -------
    io.BufferedReader
        A binary file object; the caller closes it.

    Raises
    ------
    AlfFormatError
        The path is a FIFO, a device, a socket or a folder (refused from ``stat``, before any open),
        or cannot be read.
    AlfPathError
        The path (a symlink) leads outside the session folder.
    """
    path = Path(path)
    try:
        before = os.stat(path)
    except OSError as err:
        raise _cannot_read(path, err) from None
    if not stat.S_ISREG(before.st_mode):
        raise AlfFormatError(f"is {_kind_of(before.st_mode)}, not a regular file", path, rule=_RULE_REGULAR)
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    )
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise _cannot_read(path, err) from None
    try:
        after = os.fstat(fd)
        # Swapped for a FIFO or a device between stat and open: refuse what was opened, unread.
        if not stat.S_ISREG(after.st_mode):
            raise AlfFormatError(
                f"is {_kind_of(after.st_mode)}, not a regular file", path, rule=_RULE_REGULAR
            )
        _check_opened_inside(fd, path, root)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_bounded(path: Path, limit: int, what: str, rule: str) -> bytes:
    """The whole file, refusing it past ``limit`` bytes (checked on the bytes read, not on ``stat``)."""
    with open_regular(path) as fh:
        try:
            # sized by the file (read(limit + 1) would allocate the whole limit for a small file);
            # a file that grows while read still stops at limit + 1
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(min(size, limit) + 1)
            if len(raw) == min(size, limit) + 1 and len(raw) <= limit:
                raw += fh.read(limit + 1 - len(raw))
        except OSError as err:
            raise _cannot_read(path, err) from None
    if len(raw) > limit:
        raise AlfFormatError(f"{what} over {limit // 2**20} MiB", path, rule=rule)
    return raw
