"""Parquet columns to NumPy without pandas: values equal pyarrow's own conversion."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neo_alf.arrow import column_to_numpy
from neo_alf.errors import AlfFormatError


def test_types_nulls_and_offsets(tmp_path):
    table = pa.table(
        {
            "f": pa.array([1.5, None, 3.0, 4.0], pa.float64()),
            "f32": pa.array([1.5, 2.5, None, 4.0], pa.float32()),
            "i": pa.array([1, 2, None, 4], pa.int64()),
            "u": pa.array([1, 2, 3, 4], pa.uint16()),
            "b": pa.array([True, False, True, True]),
            "bn": pa.array([True, None, False, True]),
            "s": pa.array(["good", "mua", None, "noise"]),
            "ls": pa.array(["a", "b", "c", "d"], pa.large_string()),
        }
    )
    path = tmp_path / "clusters.metrics.pqt"
    pq.write_table(table, path, row_group_size=3)  # two chunks: the second starts at an offset
    read = pq.ParquetFile(path).read()
    sliced = read.slice(1)  # offsets into the buffers
    for tab in (read, sliced):
        out = {n: column_to_numpy(tab.column(n), n, path) for n in tab.column_names}
        np.testing.assert_array_equal(out["f"], tab.column("f").to_numpy(zero_copy_only=False))
        np.testing.assert_array_equal(out["f32"], tab.column("f32").to_numpy(zero_copy_only=False))
        np.testing.assert_array_equal(out["i"], tab.column("i").to_numpy(zero_copy_only=False))
        assert out["u"].dtype == np.uint16 and out["b"].dtype == bool
        np.testing.assert_array_equal(out["b"], tab.column("b").to_numpy(zero_copy_only=False))
        expected_bn = np.array([1.0, np.nan, 0.0, 1.0])[4 - tab.num_rows :]
        np.testing.assert_array_equal(out["bn"], expected_bn)
        assert list(out["s"]) == [v or "" for v in tab.column("s").to_pylist()]
        assert out["ls"].dtype.kind == "U"


@pytest.mark.parametrize("column", [pa.array([b"x", b"y"]), pa.array([[1], [2, 3]])])
def test_non_alf_column_types_are_refused(tmp_path, column):
    with pytest.raises(AlfFormatError, match=r"x\.pqt: column 'c' is of type"):
        column_to_numpy(pa.chunked_array([column]), "c", tmp_path / "x.pqt")


def test_no_pandas_import(tmp_path):
    path = tmp_path / "t.pqt"
    pq.write_table(pa.table({"x": [1.0, 2.0], "label": ["a", "b"]}), path)
    code = (
        "import sys, pyarrow.parquet as pq; from neo_alf.arrow import column_to_numpy; "
        f"t = pq.ParquetFile({str(path)!r}).read(); "
        "[column_to_numpy(t.column(n), n, 'p') for n in t.column_names]; print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
