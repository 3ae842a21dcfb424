"""Parquet columns to NumPy without pandas.

pyarrow's own ``to_numpy`` imports pandas the first time it runs (about 0.8 s in a fresh process),
and IBL's parquet files (trials tables, ``clusters.metrics``) are written by pandas. Every user
reading a session would pay that on first use. Numeric columns are copied from their Arrow buffers
here instead (nulls become NaN, integers with nulls become float64), booleans unpacked from their
bits, text through Python strings, times by pyarrow. Other Arrow types (binary, lists, maps,
structs) are refused: they are not ALF attributes. Dictionary (categorical) columns are decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import AlfFormatError

__all__ = ["column_to_numpy"]

_RULE = "parquet columns are numbers, booleans or text"


def _validity(chunk: Any) -> np.ndarray | None:
    if chunk.null_count == 0:
        return None
    bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, bitorder="little")[chunk.offset : chunk.offset + len(chunk)]
    return valid.astype(bool)


def _numeric(chunk: Any, dtype: np.dtype) -> np.ndarray:
    data = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=chunk.offset + len(chunk))[chunk.offset :]
    valid = _validity(chunk)
    if valid is None:
        return data.copy()
    out = data.astype(np.float64 if dtype.kind in "iu" else dtype)
    out[~valid] = np.nan
    return out


def _boolean(chunk: Any) -> np.ndarray:
    bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
    values = np.unpackbits(bits, bitorder="little")[chunk.offset : chunk.offset + len(chunk)].astype(bool)
    valid = _validity(chunk)
    if valid is None:
        return values
    out = values.astype(np.float64)
    out[~valid] = np.nan
    return out


def column_to_numpy(column: Any, name: str, path: str | Path) -> np.ndarray:
    """One parquet column (a ``pyarrow.ChunkedArray``) as a 1-D NumPy array, without pandas.

    Raises
    ------
    AlfFormatError
        A column type that is not numbers, booleans or text (binary, list, map, struct ...).
    """
    import pyarrow as pa

    kind = column.type
    chunks = column.chunks
    if pa.types.is_dictionary(kind):  # pandas categoricals: their values, decoded
        chunks = [c.dictionary_decode() for c in chunks]
        kind = kind.value_type
        column = pa.chunked_array(chunks, type=kind)
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        dtype = np.dtype(kind.to_pandas_dtype())
        parts = [_numeric(c, dtype) for c in chunks]
    elif pa.types.is_boolean(kind):
        parts = [_boolean(c) for c in chunks]
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        parts = [np.array(["" if v is None else v for v in c.to_pylist()], dtype=str) for c in chunks]
    elif pa.types.is_null(kind):
        parts = [np.full(len(c), np.nan) for c in chunks]
    elif pa.types.is_temporal(kind):  # rare in ALF: pyarrow's own conversion (it may import pandas)
        parts = [c.to_numpy(zero_copy_only=False) for c in chunks]
    else:
        raise AlfFormatError(f"column {name!r} is of type {kind}", path, rule=_RULE)
    if not parts:
        return np.empty(0, dtype=np.float64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
