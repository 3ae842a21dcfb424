"""File readers: each type read right, each kind of bad bytes refused with the file named."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import zipfile

import numpy as np
import pytest

from neo_alf import readers
from neo_alf.errors import AlfDependencyError, AlfError, AlfFormatError, AlfMetadataError, AlfPathError


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


# ------------------------------------------------------------------- issue 14: hostile files and bounds


@contextlib.contextmanager
def _deadline(seconds: int = 5):
    """Fail (not hang) when a read blocks: SIGALRM interrupts a blocking open or read."""

    def fire(signum, frame):
        raise TimeoutError(f"blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _session_dir(tmp_path):
    """A folder shaped like a session, so readers infer it as the root symlinks must stay in."""
    folder = tmp_path / "lab" / "Subjects" / "mouse" / "2024-01-01" / "001" / "alf"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    "name",
    ["a.b.tsv", "a.b.csv", "a.b.ssv", "a.b.json", "a.b.pqt", "a.b.npy", "a.b.jsonable", "a.b.npz", "a.b.bin"],
)
def test_fifos_are_refused_without_blocking(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    meta = {"dtype": "int16", "columns": ["a"]}
    with _deadline():
        for call in (lambda: readers.read_file(path, meta), lambda: readers.file_shape(path, meta)):
            with pytest.raises(AlfFormatError, match="FIFO") as err:
                call()
            assert str(path) in str(err.value) and "regular file" in str(err.value)


def test_fifo_metadata_is_refused_without_blocking(tmp_path):
    path = tmp_path / "a.b.metadata.json"
    os.mkfifo(path)
    with _deadline(), pytest.raises(AlfMetadataError, match="FIFO") as err:
        readers.read_metadata(path)
    assert err.value.rule == "only regular files inside the session are read"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_metadata_symlinked_to_a_device_is_refused(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    path = tmp_path / "lfp.raw.metadata.json"
    path.symlink_to(device)
    with _deadline(), pytest.raises(AlfMetadataError, match="character device") as err:
        readers.read_metadata(path)
    assert "lfp.raw.metadata.json" in str(err.value)
    data = tmp_path / "lfp.raw.bin"
    data.symlink_to(device)
    with _deadline(), pytest.raises(AlfFormatError, match="character device"):
        readers.read_file(data, {"dtype": "int16", "columns": ["a"]})


def test_folder_named_like_a_file_is_refused(tmp_path):
    (tmp_path / "a.b.json").mkdir()
    with pytest.raises(AlfFormatError, match="folder"):
        readers.read_file(tmp_path / "a.b.json")


def test_metadata_symlink_leaving_the_session_is_refused(tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text('{"columns": ["x"]}')
    folder = _session_dir(tmp_path)
    link = folder / "a.b.metadata.json"
    link.symlink_to(outside)
    with pytest.raises(AlfPathError, match="outside the session") as err:  # root inferred from the path
        readers.read_metadata(link)
    assert "a.b.metadata.json" in str(err.value)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.b.metadata.json").symlink_to(outside)
    with pytest.raises(AlfPathError):  # root given
        readers.read_metadata(plain / "a.b.metadata.json", root=plain)
    assert readers.read_metadata(plain / "a.b.metadata.json") == {"columns": ["x"]}  # no root: no rule
    # a symlink that stays inside the session is read
    (folder / "real.json").write_text('{"rows": [1]}')
    (folder / "c.d.metadata.json").symlink_to(folder / "real.json")
    assert readers.read_metadata(folder / "c.d.metadata.json") == {"rows": [1]}


def test_data_symlink_leaving_the_session_is_refused_by_the_reader_too(tmp_path):
    outside = tmp_path / "x.npy"
    np.save(outside, np.arange(3.0))
    folder = _session_dir(tmp_path)
    (folder / "spikes.times.npy").symlink_to(outside)
    for call in (readers.read_file, readers.file_shape):
        with pytest.raises(AlfPathError):
            call(folder / "spikes.times.npy")


def test_session_validate_lists_a_device_metadata_and_a_fifo(tmp_path):
    """Issue 14 items 3-4 end to end: validate() returns (never hangs) and names both files."""
    from neo_alf.session import AlfSession
    from neo_alf.testing import make_session

    gen = make_session(tmp_path, "tiny")
    meta = gen.path / "alf/headTracking.xyPos.metadata.json"
    meta.unlink()
    meta.symlink_to("/dev/zero")
    fifo = gen.path / "alf/clicks.times.tsv"
    os.mkfifo(fifo)
    with _deadline(20):
        errors = AlfSession(gen.path).validate()
    text = "\n".join(str(e) for e in errors)
    assert "headTracking.xyPos.metadata.json" in text and "character device" in text
    assert "clicks.times.tsv" in text and "FIFO" in text


def test_text_and_json_reads_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setitem(readers.LIMITS, "text_bytes", 100)
    monkeypatch.setitem(readers.LIMITS, "metadata_bytes", 50)
    t = tmp_path / "a.b.tsv"
    t.write_text("x\n" + "1\n" * 100)
    with pytest.raises(AlfFormatError, match="over"):
        readers.read_file(t)
    m = tmp_path / "a.b.metadata.json"
    m.write_text(json.dumps({"columns": ["x" * 60]}))
    with pytest.raises(AlfMetadataError, match="over"):
        readers.read_metadata(m)


def test_deeply_nested_json(tmp_path):
    path = tmp_path / "a.b.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AlfFormatError, match="nested too deeply") as err:
        readers.read_file(path)
    assert "a.b.json" in str(err.value)
    meta = tmp_path / "a.b.metadata.json"
    meta.write_text('{"columns": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(AlfMetadataError, match="nested too deeply"):
        readers.read_metadata(meta)


def test_json_integer_of_5000_digits(tmp_path):
    path = tmp_path / "a.b.json"
    path.write_text("[" + "9" * 5000 + "]")
    with pytest.raises(AlfFormatError, match="out of range") as err:
        readers.read_file(path)
    assert "a.b.json" in str(err.value)


def test_json_integers_beyond_int64_stay_a_list(tmp_path):
    path = tmp_path / "a.b.json"
    path.write_text(f"[{2**70}, 1]")
    assert readers.read_file(path) == [2**70, 1]


@pytest.mark.parametrize("ext,sep", [("csv", ","), ("tsv", "\t")])
def test_csv_field_over_128_kib(tmp_path, ext, sep):
    path = tmp_path / f"a.b.{ext}"
    path.write_text(f"x{sep}y\n1{sep}" + "z" * 200_000 + "\n")
    with pytest.raises(AlfFormatError, match="field larger") as err:
        readers.read_file(path)
    assert f"a.b.{ext}" in str(err.value)


def _npy_with_header(path, header: dict, body: bytes = b"", version=(1, 0)):
    with open(path, "wb") as fh:
        if version == (3, 0):
            text = repr(header).encode()
            pad = 64 - (12 + len(text) + 1) % 64
            fh.write(
                b"\x93NUMPY\x03\x00" + (len(text) + pad + 1).to_bytes(4, "little") + text + b" " * pad + b"\n"
            )
        else:
            np.lib.format.write_array_header_1_0(fh, header)
        fh.write(body)


@pytest.mark.parametrize(
    "shape,body",
    [((-2, -3), np.arange(6.0).tobytes()), ((2**62, 0), b""), ((-1,), b""), ((3, -1, 0), b"")],
)
def test_npy_shapes_negative_or_huge_empty(tmp_path, shape, body):
    path = tmp_path / "a.b.npy"
    _npy_with_header(path, {"descr": "<f8", "fortran_order": False, "shape": shape}, body)
    for call in (readers.read_file, readers.file_shape):
        with pytest.raises(AlfFormatError, match="dimension") as err:
            call(path)
        assert "a.b.npy" in str(err.value)


def test_empty_npy_with_a_few_rows_is_read(tmp_path):
    path = tmp_path / "a.b.npy"
    np.save(path, np.empty((5, 0)))
    assert readers.read_file(path).shape == (5, 0)


@pytest.mark.parametrize(
    "header",
    [
        {"descr": "<f8", "fortran_order": False, "shape": "abc"},
        {"descr": "<f8", "fortran_order": False, "shape": (True,)},
        {"descr": "<f8", "fortran_order": "no", "shape": (1,)},
        {"descr": "<f8", "shape": (1,)},
        {"descr": "|O", "fortran_order": False, "shape": (1,)},
        {"descr": ("<f8", (2,)), "fortran_order": False, "shape": (1,)},
    ],
)
def test_npy_version_3_headers_are_checked(tmp_path, header):
    path = tmp_path / "a.b.npy"
    _npy_with_header(path, header, np.zeros(1).tobytes(), version=(3, 0))
    with pytest.raises(AlfFormatError) as err:
        readers.file_shape(path)
    assert "a.b.npy" in str(err.value)


def test_npy_subarray_dtype_is_refused(tmp_path):
    """A subarray descr adds axes numpy does not declare in `shape` (and numpy itself cannot load it)."""
    path = tmp_path / "a.b.npy"
    _npy_with_header(
        path, {"descr": ("<f8", (2,)), "fortran_order": False, "shape": (3,)}, np.zeros(6).tobytes()
    )
    with pytest.raises(AlfFormatError, match="subarray dtype") as err:
        readers.read_file(path)
    assert "a.b.npy" in str(err.value)


def test_npy_version_3_good_header_is_read(tmp_path):
    path = tmp_path / "a.b.npy"
    _npy_with_header(
        path,
        {"descr": "<f8", "fortran_order": False, "shape": (3,)},
        np.arange(3.0).tobytes(),
        version=(3, 0),
    )
    np.testing.assert_array_equal(readers.read_file(path), [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "dtype",
    [None, ",float32", "f8,i4", ["<f4"], {"names": ["a"]}, "V8", "(2,)f4", "U4", "", 4, "float32" * 10],
)
def test_bin_dtype_must_name_a_numeric_dtype(tmp_path, dtype):
    """`"dtype": null` would read float32 data as float64 (issue 14 item 11)."""
    path = _bin(tmp_path, np.zeros(8, np.float32), {"dtype": dtype, "columns": ["a"]})
    meta = readers.read_metadata(tmp_path / "lfp.raw.metadata.json")
    for call in (readers.read_file, readers.file_shape):
        with pytest.raises(AlfMetadataError, match="dtype") as err:
            call(path, meta)
        assert "lfp.raw.bin" in str(err.value)


@pytest.mark.parametrize("dtype", ["float32", "<f4", "int16", ">i2", "uint8", "complex64", "bool"])
def test_bin_numeric_dtypes_are_read(tmp_path, dtype):
    data = np.arange(12).astype(dtype).reshape(6, 2)
    path = _bin(tmp_path, data, {"dtype": dtype, "columns": ["a", "b"]})
    out = readers.read_file(path, readers.read_metadata(tmp_path / "lfp.raw.metadata.json"))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, data)


def test_non_ascii_byte_strings_are_refused(tmp_path):
    bad = tmp_path / "clusters.acronym.npy"
    np.save(bad, np.array([b"CA1", b"VIS\xe9"], dtype="S4"))
    with pytest.raises(AlfFormatError, match="non-ASCII byte 0xe9") as err:
        readers.read_file(bad)
    assert "clusters.acronym.npy" in str(err.value) and "element 1" in str(err.value)
    good = tmp_path / "clusters.region.npy"
    np.save(good, np.array([b"CA1", b"VISp"]))
    assert readers.read_file(good).astype(str).tolist() == ["CA1", "VISp"]


@pytest.mark.parametrize("column", ["binary", "list", "map", "struct"])
def test_parquet_nested_and_binary_columns_are_refused(tmp_path, column):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    values = {
        "binary": pa.array([b"\x00\xff", b"x"], pa.binary()),
        "list": pa.array([[1, 2], [3]], pa.list_(pa.int64())),
        "map": pa.array([[("a", 1)], [("b", 2)]], pa.map_(pa.string(), pa.int64())),
        "struct": pa.array([{"a": 1}, {"a": 2}], pa.struct([("a", pa.int64())])),
    }[column]
    path = tmp_path / "clusters.metrics.pqt"
    pq.write_table(pa.table({"ok": [1.0, 2.0], "bad": values}), path)
    with pytest.raises(AlfFormatError, match="column 'bad'") as err:
        readers.read_file(path)
    assert "clusters.metrics.pqt" in str(err.value)
    assert readers.file_shape(path) == (2, 2)  # the footer alone is fine


def test_parquet_categorical_and_time_columns_are_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "clusters.metrics.pqt"
    labels = pa.array(["good", "mua", "good"]).dictionary_encode()
    when = pa.array(np.array(["2024-01-01", "2024-01-02", "2024-01-03"], dtype="datetime64[ns]"))
    pq.write_table(pa.table({"label": labels, "when": when, "n": [1, 2, 3]}), path)
    out = readers.read_file(path)
    assert out["label"].tolist() == ["good", "mua", "good"] and out["n"].tolist() == [1, 2, 3]
    assert out["when"].dtype.kind == "M"


def test_parquet_footer_inflating_past_the_limit_is_refused(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "a.b.pqt"
    pq.write_table(pa.table({"x": np.zeros(10_000), "s": ["a"] * 10_000}), path)  # encodes to ~200 bytes
    assert pq.ParquetFile(path).metadata.row_group(0).total_byte_size < 1000
    monkeypatch.setitem(readers.LIMITS, "parquet_bytes", 50_000)
    with pytest.raises(AlfFormatError, match="inflates"):
        readers.read_file(path)


def test_corrupt_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "a.b.pqt"
    path.write_bytes(b"PAR1" + os.urandom(100) + b"PAR1")
    for call in (readers.read_file, readers.file_shape):
        with pytest.raises(AlfFormatError, match="parquet"):
            call(path)


# ------------------------------------------------------------------------------- jsonable and npz


def test_jsonable_is_read_as_one_api_reads_it(tmp_path):
    from iblutil.io import jsonable

    path = tmp_path / "_iblrig_taskData.raw.jsonable"
    rows = [{"trial_num": 1, "x": [1, 2]}, {"trial_num": 2, "x": None}, "text", 3.5]
    jsonable.write(path, rows)
    assert readers.read_file(path) == jsonable.read(path) == rows
    assert readers.file_shape(path) == (4,)
    bad = tmp_path / "a.b.jsonable"
    bad.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(AlfFormatError, match="line 2") as err:
        readers.read_file(bad)
    assert "a.b.jsonable" in str(err.value)
    empty = tmp_path / "a.c.jsonable"
    empty.write_text("\n")
    with pytest.raises(AlfFormatError, match="empty"):
        readers.read_file(empty)


def test_npz_is_a_dict_of_arrays(tmp_path):
    path = tmp_path / "waveforms.channels.npz"
    truth = {"rawInd": np.arange(6).reshape(2, 3), "empty": np.empty((0, 4)), "label": np.array(["a", "bc"])}
    np.savez_compressed(path, **truth)
    out = readers.read_file(path)
    assert sorted(out) == sorted(truth)
    for key, value in truth.items():
        np.testing.assert_array_equal(out[key], value)
        assert out[key].dtype == value.dtype and out[key].shape == value.shape
    assert not out["rawInd"].flags.writeable
    assert readers.file_shape(path) is None


def test_npz_with_pickled_objects_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "a.b.npz"
    np.savez(path, ok=np.arange(3), bait=np.array([_Bait(marker), 1], dtype=object))
    with pytest.raises(AlfFormatError, match="unpickl") as err:
        readers.read_file(path)
    assert "a.b.npz" in str(err.value) and "bait.npy" in str(err.value)
    assert not marker.exists()


def test_npz_bomb_is_refused_from_the_directory(tmp_path, monkeypatch):
    path = tmp_path / "a.b.npz"
    np.savez_compressed(path, x=np.zeros(1_000_000))  # 8 MB that deflate to a few KB
    assert path.stat().st_size < 100_000
    monkeypatch.setitem(readers.LIMITS, "npz_bytes", 1_000_000)
    for call in (readers.read_file, readers.file_shape):
        with pytest.raises(AlfFormatError, match="inflate") as err:
            call(path)
        assert "a.b.npz" in str(err.value)


@pytest.mark.parametrize("content", ["not a zip", "member", "truncated member"])
def test_bad_npz(tmp_path, content):
    path = tmp_path / "a.b.npz"
    if content == "not a zip":
        path.write_bytes(b"PK\x03\x04garbage")
    elif content == "member":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(
                "x.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (9,), }"
            )
    with pytest.raises(AlfFormatError) as err:
        readers.read_file(path)
    assert "a.b.npz" in str(err.value)


# ------------------------------------------------------------------------------ which files are read


@pytest.mark.parametrize(
    "name,has_metadata,readable",
    [
        ("_iblrig_leftCamera.raw.mp4", False, False),
        ("_iblrig_micData.raw.flac", False, False),
        ("_iblrig_taskSettings.raw.zip", False, False),
        ("_iblrig_video.raw.tar", False, False),
        ("_ibl_experiment.description.yaml", False, False),
        ("_iblrig_ephys.log", False, False),
        ("_iblrig_leftCamera.GPIO.bin", False, False),
        ("lfp.raw.bin", True, True),
        ("_iblrig_taskData.raw.jsonable", False, True),
        ("waveforms.channels.npz", False, True),
        ("spikes.times.npy", False, True),
        ("clusters.metrics.PQT", False, True),
        ("no_extension", False, False),
    ],
)
def test_reader_for_and_is_readable_never_raise(name, has_metadata, readable):
    fmt = readers.reader_for(name)
    assert (fmt is not None) == (name.rsplit(".", 1)[-1].lower() in readers.READERS if "." in name else False)
    assert readers.is_readable(name, has_metadata) is readable
    assert readers.is_readable(pathlib.Path("/x") / name, has_metadata) is readable


def test_every_error_is_an_alf_error_naming_the_file(tmp_path):
    """A sweep over single-byte corruptions of each file type: nothing but AlfError escapes."""
    rng = np.random.default_rng(0)
    seeds = {
        "a.b.npy": lambda p: np.save(p, np.arange(5.0)),
        "a.b.json": lambda p: p.write_text('{"columns": [{"name": "x", "unit": "uV"}], "rows": [1, 2]}'),
        "a.b.tsv": lambda p: p.write_text("x\ty\n1\t2\n3\t4\n"),
        "a.b.jsonable": lambda p: p.write_text('{"a": 1}\n[1, 2]\n'),
        "a.b.npz": lambda p: np.savez(p, x=np.arange(4)),
    }
    for name, write in seeds.items():
        path = tmp_path / name
        write(path)
        original = path.read_bytes()
        for _ in range(60):
            data = bytearray(original)
            i = int(rng.integers(len(data)))
            data[i] = int(rng.integers(256))
            path.write_bytes(bytes(data[: int(rng.integers(len(data) + 1))] if rng.random() < 0.3 else data))
            try:
                readers.read_file(path)
                readers.file_shape(path)
            except AlfError as err:
                assert name in str(err)
