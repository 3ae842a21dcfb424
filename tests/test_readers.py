"""File readers: each type read right, each kind of bad bytes refused with the file named."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from neo_alf import readers
from neo_alf.errors import AlfDependencyError, AlfFormatError, AlfMetadataError


class _Bait:
    """Unpickling this creates a file: proof that a reader ran foreign code."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _pickled_npy(tmp_path):
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "spikes.times.npy"
    np.save(path, np.array([_Bait(marker), 1], dtype=object), allow_pickle=True)
    return path, marker


def test_npy_is_memory_mapped_read_only(tmp_path):
    path = tmp_path / "spikes.times.npy"
    np.save(path, np.arange(10.0))
    data = readers.read_file(path)
    assert isinstance(data, np.memmap)
    assert not data.flags.writeable
    np.testing.assert_array_equal(data, np.arange(10.0))
    assert readers.file_shape(path) == (10,)


def test_npy_fortran_order_and_empty(tmp_path):
    f = tmp_path / "a.b.npy"
    arr = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(f, arr)
    np.testing.assert_array_equal(readers.read_file(f), arr)
    e = tmp_path / "c.d.npy"
    np.save(e, np.empty((0, 2)))
    assert readers.read_file(e).shape == (0, 2)


def test_pickle_bait_would_fire_with_numpy_allow_pickle(tmp_path):
    """The bait works: numpy with allow_pickle=True runs it. So the next test can fail."""
    path, marker = _pickled_npy(tmp_path)
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_object_npy_is_refused_and_never_unpickled(tmp_path):
    path, marker = _pickled_npy(tmp_path)
    with pytest.raises(AlfFormatError, match="unpickl") as err:
        readers.read_file(path)
    assert str(path) in str(err.value)
    with pytest.raises(AlfFormatError):
        readers.file_shape(path)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [3, 40, 100])
def test_truncated_npy(tmp_path, cut):
    path = tmp_path / "spikes.times.npy"
    np.save(path, np.arange(100.0))
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(AlfFormatError) as err:
        readers.read_file(path)
    assert str(path) in str(err.value)


def test_npy_with_huge_declared_shape(tmp_path):
    path = tmp_path / "spikes.times.npy"
    with open(path, "wb") as fh:
        header = {"descr": "<f8", "fortran_order": False, "shape": (4_000_000_000_000,)}
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(np.arange(4.0).tobytes())
    with pytest.raises(AlfFormatError, match="truncated: header declares shape") as err:
        readers.file_shape(path)
    assert "spikes.times.npy" in str(err.value)


def test_empty_files(tmp_path):
    for name in ["a.b.npy", "a.c.tsv", "a.d.json", "a.e.csv"]:
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(AlfFormatError, match="empty") as err:
            readers.read_file(tmp_path / name)
        assert name in str(err.value)


def test_not_npy(tmp_path):
    path = tmp_path / "a.b.npy"
    path.write_bytes(b"this is text, not numpy")
    with pytest.raises(AlfFormatError, match="magic"):
        readers.read_file(path)


def _bin(tmp_path, data, meta):
    path = tmp_path / "lfp.raw.bin"
    path.write_bytes(np.ascontiguousarray(data).tobytes())
    if meta is not None:
        (tmp_path / "lfp.raw.metadata.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return path


def test_bin_with_metadata(tmp_path):
    data = np.arange(30, dtype=np.int16).reshape(10, 3)
    path = _bin(tmp_path, data, {"dtype": "int16", "columns": [{"name": "a", "unit": "uV"}, "b", {}]})
    meta = readers.read_metadata(tmp_path / "lfp.raw.metadata.json")
    out = readers.read_file(path, meta)
    assert isinstance(out, np.memmap) and out.dtype == np.int16 and out.shape == (10, 3)
    np.testing.assert_array_equal(out, data)
    assert readers.column_names(meta, 3) == ["a", "b", None]
    assert readers.column_units(meta, 3) == ["uV", None, None]


def test_bin_needs_metadata(tmp_path):
    path = _bin(tmp_path, np.zeros((4, 2), np.int16), None)
    with pytest.raises(AlfMetadataError, match="no metadata"):
        readers.read_file(path, None)


def test_bin_size_must_divide(tmp_path):
    path = _bin(tmp_path, np.zeros(7, np.int16), {"dtype": "int16", "columns": ["a", "b"]})
    meta = readers.read_metadata(tmp_path / "lfp.raw.metadata.json")
    with pytest.raises(AlfFormatError, match="whole number of rows") as err:
        readers.read_file(path, meta)
    assert "lfp.raw.bin" in str(err.value)


@pytest.mark.parametrize("meta", ["{not json", "[1, 2]", '{"columns": 3}', ""])
def test_invalid_metadata_json(tmp_path, meta):
    _bin(tmp_path, np.zeros(4, np.int16), meta)
    with pytest.raises(AlfMetadataError) as err:
        readers.read_metadata(tmp_path / "lfp.raw.metadata.json")
    assert "lfp.raw.metadata.json" in str(err.value)


@pytest.mark.parametrize(
    "meta",
    [
        {"columns": ["a"]},
        {"dtype": "nonsense", "columns": ["a"]},
        {"dtype": "O", "columns": ["a"]},
        {"dtype": "int16", "columns": []},
    ],
)
def test_bad_bin_metadata(tmp_path, meta):
    path = _bin(tmp_path, np.zeros(4, np.int16), meta)
    with pytest.raises(AlfMetadataError):
        readers.read_file(path, readers.read_metadata(tmp_path / "lfp.raw.metadata.json"))


def test_metadata_columns_must_match_data(tmp_path):
    path = tmp_path / "a.b.npy"
    np.save(path, np.zeros((5, 3)))
    with pytest.raises(AlfMetadataError, match="3"):
        readers.read_file(path, {"columns": ["x", "y"]})
    with pytest.raises(AlfMetadataError, match="rows"):
        readers.file_shape(path, {"rows": ["r1"]})


def test_tsv_numeric_and_mixed(tmp_path):
    num = tmp_path / "head.xy.tsv"
    num.write_text("x\ty\n1.5\t2\n3\tnan\n")
    out = readers.read_file(num)
    assert out.shape == (2, 2) and out.dtype == np.float64
    assert np.isnan(out[1, 1])
    assert readers.file_shape(num) == (2, 2)
    mixed = tmp_path / "clusters.ccf.tsv"
    mixed.write_text("x\ty\tz\tregion\n1\t2\t3\tCA1\n4\t5\t6\tVISp\n")
    out = readers.read_file(mixed)
    assert out.dtype.names == ("x", "y", "z", "region")
    assert out["region"].tolist() == ["CA1", "VISp"] and out["x"].tolist() == [1.0, 4.0]


def test_csv_ssv_and_single_column(tmp_path):
    c = tmp_path / "clusters.uuids.csv"
    c.write_text("uuids\nabc\ndef\n")
    assert readers.read_file(c).tolist() == ["abc", "def"]
    s = tmp_path / "a.b.ssv"
    s.write_text("a b\n1 2\n3 4\n")
    assert readers.read_file(s).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_ragged_table(tmp_path):
    path = tmp_path / "a.b.tsv"
    path.write_text("a\tb\n1\t2\n3\n")
    with pytest.raises(AlfFormatError, match="line 3"):
        readers.read_file(path)


def test_json(tmp_path):
    lst = tmp_path / "a.b.json"
    lst.write_text("[1, 2, 3]")
    assert readers.read_file(lst).tolist() == [1, 2, 3]
    assert readers.file_shape(lst) == (3,)
    dct = tmp_path / "a.c.json"
    dct.write_text('{"k": 1}')
    assert readers.read_file(dct) == {"k": 1}
    assert readers.file_shape(dct) is None
    bad = tmp_path / "a.d.json"
    bad.write_text("{oops")
    with pytest.raises(AlfFormatError, match="invalid JSON"):
        readers.read_file(bad)


def test_unknown_extension(tmp_path):
    path = tmp_path / "a.b.mp4"
    path.write_bytes(b"\0")
    with pytest.raises(AlfFormatError, match=r"no reader for \.mp4"):
        readers.read_file(path)


def test_unreadable_file_names_the_file(tmp_path):
    with pytest.raises(AlfFormatError) as err:
        readers.read_file(tmp_path / "missing.times.npy")
    assert "missing.times.npy" in str(err.value)


def test_pqt_with_pyarrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "clusters.metrics.pqt"
    pq.write_table(pa.table({"label": ["good", "mua"], "amp": [1.5, 2.5]}), path)
    out = readers.read_file(path)
    assert out["label"].tolist() == ["good", "mua"] and out["amp"].tolist() == [1.5, 2.5]
    assert readers.file_shape(path) == (2, 2)


def test_pqt_without_pyarrow_names_the_extra(tmp_path, no_pyarrow):
    path = tmp_path / "clusters.metrics.pqt"
    path.write_bytes(b"PAR1")
    with pytest.raises(AlfDependencyError, match=r"neo-alf\[pqt\]") as err:
        readers.read_file(path)
    assert isinstance(err.value, ImportError)
