"""A bounded fuzz run (issue 14): seeded mutations of generated sessions, each read in a child process.

Each case copies a session written by :func:`neo_alf.testing.make_session`, applies one seeded
mutation (headers, bodies, metadata, names, file types: truncations, bit flips, wrong dtypes,
symlinks out, FIFOs, devices, huge shapes, NaN, unsorted times, junk files ...), then reads it in a
forked child with a memory limit (``RLIMIT_DATA``) and a wall-clock timeout, through
``AlfSession(...).validate()``, ``neo_alf.load_object`` of every object, ``AlfIO(path).read_block()``
and ``read_block(lazy=True)`` with every proxy loaded. Each case must end in

- an :class:`~neo_alf.errors.AlfError` (or an :class:`~neo_alf.errors.AlfWarning`) naming a file,
  and naming the mutated file when the mutation breaks a rule (``expect="error"``);
- or a right answer: arrays equal to an independent reading (``numpy.load``) of the mutated file and
  to the unmutated session everywhere else, the eager and lazy Blocks equal; for mutations that
  change nothing ALF reads (``expect="same"``), everything equal to the unmutated session;

with no hang, no crash (signal), no memory blow-up, no other exception type, and no write into
the session (sizes and mtimes before and after). ``benchmarks/fuzz.py --minutes N`` runs the same
harness longer and prints counts per outcome.

Cases that fail because of code outside ``readers``/``units``/``spec`` are listed in
:data:`KNOWN_OPEN` and kept out of the CI run; the list is meant to be emptied.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import snapshot  # relative path -> (size, mtime_ns): nothing may be written

FUZZ_PRESETS = ("tiny", "no_clusters_object", "no_spike_clusters")
"""tuple: the generated sessions mutated (small, and between them: with and without clusters)."""

MEMORY_LIMIT = 2 * 2**30
"""int: data memory each child may add (bytes, set as RLIMIT_DATA over what it holds when forked):
a read that needs more is a memory blow-up."""


def _data_bytes() -> int:
    """The process's data segment now (VmData), which RLIMIT_DATA limits."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


CASE_TIMEOUT = 60.0
"""float: seconds a child may take; past it the case is a hang (a healthy case takes about 1 s)."""

CI_CASES = 240
"""int: cases in the CI run (seeds 0..CI_CASES-1)."""

PARALLEL = 2
"""int: children at once."""

KNOWN_OPEN: dict[str, str] = {}
"""dict: ``case signature -> why``, for failures in code this suite's author does not own (rawio,
io, session, spikeindex). A signature is ``preset:mutation:target``; every seed with it is skipped
in CI. Empty this list as the causes are fixed."""

_FAILURES = (
    "hang",
    "crash",
    "memory",
    "wrong-exception",
    "unnamed-error",
    "write",
    "validate-raised",
    "missed-error",
    "wrong-answer",
    "pickle-ran",
)


# ---------------------------------------------------------------------------------------- mutations


@dataclass
class Mutation:
    """One kind of damage: ``apply(session, target, rng, scratch) -> detail``."""

    name: str
    applies: Callable[[str], bool]  # rel path of a file of the base session -> can be a target
    apply: Callable[[Path, str, np.random.Generator, Path], str]
    expect: (
        str  # "error": an AlfError must name the target; "any": any right outcome; "same": nothing changes
    )


def _ext(rel: str) -> str:
    return rel.rsplit(".", 1)[-1]


def _is_npy(rel: str) -> bool:
    return rel.endswith(".npy")


def _is_meta(rel: str) -> bool:
    return rel.endswith(".metadata.json")


def _is_data(rel: str) -> bool:
    return not _is_meta(rel)


def _is_text(rel: str) -> bool:
    return _ext(rel) in ("tsv", "csv", "ssv")


def _npy_parts(path: Path) -> tuple[dict, bytes]:
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        reader = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = reader(fh)
        body = fh.read()
    return {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}, body


def _write_npy(path: Path, header: dict, body: bytes, version: int = 1) -> None:
    path.unlink()
    with open(path, "wb") as fh:
        if version == 3:
            text = repr(header).encode()
            pad = 64 - (12 + len(text) + 1) % 64
            fh.write(
                b"\x93NUMPY\x03\x00" + (len(text) + pad + 1).to_bytes(4, "little") + text + b" " * pad + b"\n"
            )
        else:
            np.lib.format.write_array_header_1_0(fh, header)
        fh.write(body)


def _npy_dtype_is(kinds: str) -> Callable[[str], bool]:
    def test(rel: str) -> bool:
        return _is_npy(rel) and _BASE_DTYPES.get(rel, "?") in kinds

    return test


_BASE_DTYPES: dict[str, str] = {}  # rel path -> dtype kind, filled when the base sessions are written
_BASE_FILES: set[str] = set()


def _is_bin_meta(rel: str) -> bool:
    return _is_meta(rel) and rel[: -len(".metadata.json")] + ".bin" in _BASE_FILES


def _truncate(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    size = p.stat().st_size
    keep = int(rng.integers(0, max(size, 1)))
    with open(p, "r+b") as fh:
        fh.truncate(keep)
    return f"kept {keep} of {size} bytes"


def _flip(s: Path, rel: str, rng, scratch, header: bool) -> str:
    p = s / rel
    data = bytearray(p.read_bytes())
    if not data:
        return "empty"
    span = min(len(data), 128) if header else len(data)
    lo = 0 if header else min(len(data) - 1, 128 if _is_npy(rel) else 0)
    flips = []
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(lo, max(span, lo + 1)))
        bit = int(rng.integers(8))
        data[i] ^= 1 << bit
        flips.append(f"{i}:{bit}")
    p.write_bytes(bytes(data))
    return "bits " + ",".join(flips)


def _npy_header(kind: str) -> Callable:
    def apply(s: Path, rel: str, rng, scratch) -> str:
        p = s / rel
        header, body = _npy_parts(p)
        n = len(body) // np.dtype(header["descr"]).itemsize
        version = 1
        if kind == "huge shape":
            header["shape"] = (int(rng.choice([2**40, 2**62, 4_000_000_000_000])),)
        elif kind == "negative dims":
            header["shape"] = (-1, -n) if n else (-1, -1, 0)
        elif kind == "huge empty":
            header["shape"] = (2**62, 0)
        elif kind == "v3 string shape":
            header["shape"], version = "x" * max(n, 1), 3
        elif kind == "wider dtype":
            header["descr"] = {1: "<i2", 2: "<i4", 4: "<f8", 8: "<c16"}[np.dtype(header["descr"]).itemsize]
        elif kind == "same-size dtype":
            size = np.dtype(header["descr"]).itemsize
            header["descr"] = str(
                rng.choice(
                    {
                        1: ["|u1", "|i1"],
                        2: ["<i2", "<u2"],
                        4: ["<f4", "<i4", "<u4"],
                        8: ["<f8", "<i8", "<u8", ">f8"],
                        16: ["<c16"],
                    }[size]
                )
            )
        elif kind == "object dtype":
            header["descr"] = "|O"
        _write_npy(p, header, body, version)
        return f"header {header}"

    return apply


def _pickle_bait(s: Path, rel: str, rng, scratch) -> str:
    marker = scratch / "unpickled.marker"
    p = s / rel
    p.unlink()
    np.save(p, np.array([_Bait(str(marker)), 1], dtype=object), allow_pickle=True)
    return "object array with a pickle that creates a file"


class _Bait:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _values(kind: str) -> Callable:
    def apply(s: Path, rel: str, rng, scratch) -> str:
        p = s / rel
        header, body = _npy_parts(p)
        arr = np.frombuffer(body, dtype=header["descr"]).reshape(header["shape"]).copy()
        if arr.size == 0:
            return "empty array"
        flat = arr.reshape(-1)
        idx = rng.integers(0, flat.size, int(rng.integers(1, 4)))
        if kind == "nan":
            flat[idx] = np.nan
        elif kind == "inf":
            flat[idx] = -np.inf
        elif kind == "unsort":
            arr = arr[::-1].copy() if rng.random() < 0.5 else arr[rng.permutation(arr.shape[0])]
        elif kind == "big id":
            big = int(rng.choice([2**31, 2**31 - 1, 2**32 - 1, 10**6]))
            flat[idx] = min(big, np.iinfo(arr.dtype).max)
        elif kind == "negative id":
            if arr.dtype.kind == "u":
                flat[idx] = np.iinfo(arr.dtype).max
            else:
                flat[idx] = -1
        elif kind == "0-d":
            arr = np.asarray(flat[0])
        elif kind == "extra axis":
            arr = arr[:, None] if arr.ndim == 1 else arr[:, :, None]
        elif kind == "text":
            arr = arr.astype("U12")
        elif kind == "datetime":
            arr = np.arange(arr.shape[0]).astype("datetime64[s]")
        p.unlink()
        np.save(p, arr)
        return f"{kind}" + (
            f" at {idx.tolist()}" if kind not in ("0-d", "extra axis", "text", "datetime") else ""
        )

    return apply


def _fifo(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    p.unlink()
    os.mkfifo(p)
    return "replaced by a FIFO"


def _device(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    p.unlink()
    p.symlink_to(str(rng.choice(["/dev/zero", "/dev/urandom", "/dev/null"])))
    return f"symlink to {os.readlink(p)}"


def _symlink_out(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    outside = scratch / ("outside-" + p.name)
    shutil.move(p, outside)
    p.symlink_to(outside)
    return "moved outside the session, symlinked back"


def _symlink_inside(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    hidden = p.parent / ("." + p.name + ".real")  # not an ALF name: ignored by the scan, read via the link
    shutil.move(p, hidden)
    p.symlink_to(hidden.name)
    return "moved to a hidden name in the same folder, symlinked"


_META_CONTENT = {
    "deep json": '{"columns": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "5000-digit int": '{"columns": [' + "9" * 5000 + "]}",
    "dtype null": '{"dtype": null, "columns": [{"name": "a", "unit": "uV"}]}',
    "dtype ,float32": '{"dtype": ",float32", "columns": [{"name": "a"}]}',
    "not json": "{columns: [",
    "not a dict": "[1, 2, 3]",
    "columns not a list": '{"columns": 3, "dtype": "float32"}',
}
_META_UNITS = ["9**9**9**9", "0.195*uV", "-uV", "uV/0", "1", "__import__('os').system('true')", "m" * 5000]


def _meta_content(kind: str) -> Callable:
    def apply(s: Path, rel: str, rng, scratch) -> str:
        (s / rel).write_text(_META_CONTENT[kind])
        return kind

    return apply


def _meta_unit(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    meta = json.loads(p.read_text())
    unit = str(rng.choice(_META_UNITS))
    for col in meta.get("columns", []):
        if isinstance(col, dict):
            col["unit"] = unit
    p.write_text(json.dumps(meta))
    return f"unit {unit[:40]!r}"


def _meta_columns(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    meta = json.loads(p.read_text())
    meta["columns"] = meta["columns"][:-1] if len(meta["columns"]) > 1 else meta["columns"] * 2
    p.write_text(json.dumps(meta))
    return f"{len(meta['columns'])} columns"


def _text(kind: str) -> Callable:
    def apply(s: Path, rel: str, rng, scratch) -> str:
        p = s / rel
        raw = p.read_bytes()
        lines = raw.split(b"\n")
        i = int(rng.integers(1, max(len(lines) - 1, 2)))
        if kind == "huge field":
            lines.insert(i, b"z" * 200_000)
        elif kind == "not utf-8":
            lines.insert(i, b"\xff\xfe\x00bad")
        elif kind == "ragged row":
            lines.insert(i, lines[0] + b"\t1,2 3")
        p.write_bytes(b"\n".join(lines))
        return f"{kind} at line {i}"

    return apply


def _rename(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    name = p.name
    i = int(rng.integers(len(name)))
    c = str(rng.choice(list("._-#aZ0é ")))
    new = name[:i] + c + name[i + 1 :] if rng.random() < 0.5 else name[:i] + c + name[i:]
    if new in ("", ".", "..") or (p.parent / new).exists():
        return "no rename"
    p.rename(p.parent / new)
    return f"renamed to {new!r}"


def _duplicate_type(s: Path, rel: str, rng, scratch) -> str:
    p = s / rel
    twin = p.with_suffix(".tsv" if p.suffix != ".tsv" else ".csv")
    twin.write_text("x\n1\n")
    return f"twin {twin.name}"


def _junk(kind: str) -> Callable:
    def apply(s: Path, rel: str, rng, scratch) -> str:
        folder = (s / rel).parent
        if kind == "non-alf files":
            (folder / "notes.txt").write_bytes(rng.bytes(100))
            os.mkfifo(folder / "a pipe")
            (folder / "README").write_text("hello")
            (folder / "spikes times.npy").write_bytes(rng.bytes(50))
            return "notes.txt, a FIFO `a pipe`, README, `spikes times.npy`"
        if kind == "backslash twin":
            twin = s / (rel.replace("/", "\\"))  # one file at the session root
            if "/" not in rel:
                return "no folder"
            np.save(twin, np.full(7, 99.0))
            return f"root file {twin.name!r}"
        if kind == "unreadable types":
            stem = Path(rel).name.split(".")[0]
            (folder / f"{stem}.video.mp4").write_bytes(rng.bytes(64))
            (folder / f"{stem}.config.yaml").write_text("a: 1\n")
            (folder / f"{stem}.gpio.bin").write_bytes(rng.bytes(64))  # a .bin without metadata
            return "mp4, yaml, bin without metadata beside it"
        if kind == "jsonable and npz":
            stem = Path(rel).name.split(".")[0]
            (folder / f"_iblrig_{stem}Extra.raw.jsonable").write_text('{"a": 1}\n{"a": [2]}\n')
            np.savez(folder / f"{stem}Extra.waveforms.npz", a=np.arange(3), b=np.ones((2, 2)))
            return "jsonable and npz added"
        if kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            column = {
                "list": pa.array([[1], [2, 3]], pa.list_(pa.int64())),
                "binary": pa.array([b"\x00", b"\xff"], pa.binary()),
                "map": pa.array([[("a", 1)], [("b", 2)]], pa.map_(pa.string(), pa.int64())),
            }[str(rng.choice(["list", "binary", "map"]))]
            pq.write_table(pa.table({"ok": [1.0, 2.0], "bad": column}), folder / "extraTable.metrics.pqt")
            return f"extraTable.metrics.pqt with a {column.type} column"
        raise AssertionError(kind)

    return apply


MUTATIONS: list[Mutation] = [
    Mutation("truncate npy", _is_npy, _truncate, "error"),
    Mutation("truncate other", lambda r: not _is_npy(r), _truncate, "any"),
    Mutation("flip header bits", _is_npy, lambda s, r, g, t: _flip(s, r, g, t, True), "any"),
    Mutation("flip body bits", lambda r: True, lambda s, r, g, t: _flip(s, r, g, t, False), "any"),
    Mutation("npy huge shape", _is_npy, _npy_header("huge shape"), "error"),
    Mutation("npy negative dims", _is_npy, _npy_header("negative dims"), "error"),
    Mutation("npy (2**62, 0)", _is_npy, _npy_header("huge empty"), "error"),
    Mutation("npy v3 string shape", _is_npy, _npy_header("v3 string shape"), "error"),
    Mutation("npy wider dtype", _is_npy, _npy_header("wider dtype"), "error"),
    Mutation("npy same-size dtype", _is_npy, _npy_header("same-size dtype"), "any"),
    Mutation("npy object dtype", _is_npy, _npy_header("object dtype"), "error"),
    Mutation("npy pickle bait", _is_npy, _pickle_bait, "error"),
    Mutation("NaN values", _npy_dtype_is("f"), _values("nan"), "any"),
    Mutation("-inf values", _npy_dtype_is("f"), _values("inf"), "any"),
    Mutation("unsorted rows", _is_npy, _values("unsort"), "any"),
    Mutation("big integer id", _npy_dtype_is("iu"), _values("big id"), "any"),
    Mutation("negative integer id", _npy_dtype_is("iu"), _values("negative id"), "any"),
    Mutation("npy 0-d", _is_npy, _values("0-d"), "any"),
    Mutation("npy extra axis", _is_npy, _values("extra axis"), "any"),
    Mutation("npy as text", _is_npy, _values("text"), "any"),
    Mutation("npy as datetime64", _is_npy, _values("datetime"), "any"),
    Mutation("FIFO", lambda r: True, _fifo, "error"),
    Mutation("symlink to a device", lambda r: True, _device, "error"),
    Mutation("symlink out of the session", lambda r: True, _symlink_out, "error"),
    Mutation("symlink inside the session", lambda r: True, _symlink_inside, "same"),
    *[Mutation(f"metadata {k}", _is_meta, _meta_content(k), "error") for k in _META_CONTENT],
    Mutation("metadata unit", _is_meta, _meta_unit, "any"),
    # a .bin's metadata defines its layout: other columns are another valid reading, not an error
    Mutation("metadata columns", lambda r: _is_meta(r) and not _is_bin_meta(r), _meta_columns, "error"),
    Mutation("metadata columns of a .bin", _is_bin_meta, _meta_columns, "any"),
    Mutation("text huge field", _is_text, _text("huge field"), "error"),
    Mutation("text not utf-8", _is_text, _text("not utf-8"), "error"),
    Mutation("text ragged row", _is_text, _text("ragged row"), "error"),
    Mutation("rename", lambda r: True, _rename, "any"),
    Mutation("duplicate file type", lambda r: _is_npy(r) and "#" not in r, _duplicate_type, "error"),
    Mutation("junk non-ALF files", lambda r: True, _junk("non-alf files"), "same"),
    Mutation("junk backslash twin", lambda r: "/" in r and _is_npy(r), _junk("backslash twin"), "same"),
    Mutation("junk unreadable types", lambda r: True, _junk("unreadable types"), "any"),
    Mutation("junk jsonable and npz", lambda r: True, _junk("jsonable and npz"), "any"),
    Mutation("parquet nested column", lambda r: True, _junk("parquet"), "error"),
]
"""list: every mutation the harness draws from."""


# ------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    seed: int
    preset: str
    mutation: Mutation
    target: str

    @property
    def signature(self) -> str:
        return f"{self.preset}:{self.mutation.name}:{self.target}"

    @property
    def id(self) -> str:
        return f"seed {self.seed} {self.signature}"


def make_case(seed: int, bases: dict[str, Path]) -> Case:
    """The case of one seed: preset, mutation and target drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng([14, seed])
    preset = FUZZ_PRESETS[seed % len(FUZZ_PRESETS)]
    files = _base_files(bases[preset])
    while True:
        mutation = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        targets = [f for f in files if mutation.applies(f)]
        if targets:
            return Case(seed, preset, mutation, targets[int(rng.integers(len(targets)))])


def _base_files(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def write_bases(root: Path) -> dict[str, Path]:
    """The unmutated sessions, one per preset, under ``root``."""
    from neo_alf.testing import make_session

    bases = {}
    for preset in FUZZ_PRESETS:
        bases[preset] = make_session(root / preset, preset).path
        for rel in _base_files(bases[preset]):
            _BASE_FILES.add(rel)
            if rel.endswith(".npy"):
                _BASE_DTYPES[rel] = np.load(bases[preset] / rel, mmap_mode="r").dtype.kind
    return bases


# --------------------------------------------------------------------------------- the child's reads


def _sha(value: Any) -> str:
    h = hashlib.sha1()
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        a = np.asarray(value)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        if a.dtype.hasobject:
            h.update(repr(a.tolist()).encode())
        else:
            h.update(np.ascontiguousarray(a).tobytes())
    else:
        h.update(json.dumps(value, sort_keys=True, default=repr).encode())
    return h.hexdigest()[:16]


def _neo_digest(obj) -> tuple:
    kind = type(obj).__name__.replace("Proxy", "")
    parts = [kind, str(obj.name), _sha(np.asarray(obj.magnitude))]
    if hasattr(obj, "times") and kind != "AnalogSignal":
        parts.append(_sha(np.asarray(obj.times.magnitude)))
    if hasattr(obj, "durations"):
        parts.append(_sha(np.asarray(obj.durations.magnitude)))
    if hasattr(obj, "units"):
        parts.append(str(obj.units.dimensionality))
    return tuple(parts)


def _block_digest(block, load: bool) -> list[tuple]:
    seg = block.segments[0]
    out = []
    for kind in ("spiketrains", "analogsignals", "irregularlysampledsignals", "events", "epochs"):
        for obj in getattr(seg, kind):
            out.append(_neo_digest(obj.load() if load else obj))
    return sorted(out)


def _error_record(err: BaseException, session: str) -> dict:
    from neo_alf.errors import AlfError

    record = {"type": type(err).__name__, "message": str(err)[:2000].replace(session, "<S>")}
    if isinstance(err, AlfError):
        record["alf"] = True
        record["paths"] = [p.replace(session, "<S>") for p in err.paths]
    else:
        record["alf"] = False
        record["traceback"] = "".join(traceback.format_exception(err))[-4000:].replace(session, "<S>")
    return record


def _step(name: str, func: Callable[[], Any], session: str) -> dict:
    from neo_alf.errors import AlfWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = {"step": name, "status": "ok", "value": func()}
        except RecursionError as err:  # a RecursionError is an Exception, but name it: it is a bug here
            result = {"step": name, "status": "raised", "error": _error_record(err, session)}
        except Exception as err:
            result = {"step": name, "status": "raised", "error": _error_record(err, session)}
    result["warnings"] = [
        str(w.message)[:2000].replace(session, "<S>") for w in caught if issubclass(w.category, AlfWarning)
    ]
    return result


def read_everything(session: str) -> list[dict]:
    """Every read the issue asks for, each step's outcome recorded (run in the child)."""
    import neo_alf
    from neo_alf import AlfIO, AlfSession

    steps = []

    def validate():
        return [_error_record(e, session) for e in AlfSession(session).validate()]

    steps.append(_step("validate", validate, session))
    try:
        objects = [(o.collection, o.name) for o in AlfSession(session).objects]
    except Exception as err:
        steps.append(
            {"step": "scan", "status": "raised", "error": _error_record(err, session), "warnings": []}
        )
        objects = []
    for collection, name in objects:

        def load(collection=collection, name=name):
            # as the files hold them: ONE-api's shapes (squeezed columns ...) are compared elsewhere
            data = neo_alf.load_object(session, name, collection=collection, as_stored=True)
            files = {k: [str(Path(p).relative_to(session)) for p in v] for k, v in data.files.items()}
            return {k: {"sha": _sha(v), "files": files.get(k, [])} for k, v in data.items()}

        steps.append(_step(f"load_object {collection}/{name}", load, session))
    steps.append(_step("read_block", lambda: _block_digest(AlfIO(session).read_block(), False), session))
    steps.append(
        _step("read_block lazy", lambda: _block_digest(AlfIO(session).read_block(lazy=True), True), session)
    )
    return steps


def _child(session: str, conn) -> None:
    import faulthandler

    faulthandler.disable()  # a crash is the parent's finding; no traceback dump into the test output
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    # on top of what the forked child already holds (a long pytest run holds more than a fresh one)
    limit = _data_bytes() + MEMORY_LIMIT
    limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        steps = read_everything(session)
    except BaseException as err:  # everything is reported, the parent judges
        steps = [
            {"step": "harness", "status": "raised", "error": _error_record(err, session), "warnings": []}
        ]
    conn.send(steps)
    conn.close()


# -------------------------------------------------------------------------------------------- judge


@dataclass
class Outcome:
    case: Case
    verdict: str  # "error", "warning", "ok", or one of _FAILURES
    detail: str = ""
    seconds: float = 0.0
    steps: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict in _FAILURES


def _names_file(err: dict) -> bool:
    return bool(err.get("paths")) or "<S>" in err["message"]


def _alf_messages(steps: list[dict]) -> list[str]:
    out = []
    for s in steps:
        if s["status"] == "raised":
            out.append(s["error"]["message"])
        if s["step"] == "validate" and s["status"] == "ok":
            out += [e["message"] for e in s["value"]]
        out += s["warnings"]
    return out


def _independent(path: Path) -> str | None:
    """The sha of a mutated single ``.npy`` as numpy reads it (None: numpy refuses it too)."""
    try:
        if not path.is_file():  # FIFOs and devices: numpy would block or read forever
            return None
        return _sha(np.load(path, allow_pickle=False))
    except Exception:
        return None


def judge(
    case: Case, steps: list[dict], baseline: list[dict], session: Path, touched: set[str]
) -> tuple[str, str]:
    """The verdict of one case from its steps (see the module docstring)."""
    for s in steps:
        if s["status"] != "raised":
            continue
        err = s["error"]
        if not err["alf"]:
            kind = "memory" if err["type"] == "MemoryError" else "wrong-exception"
            return kind, f"{s['step']}: {err['type']}: {err['message'][:300]}\n{err.get('traceback', '')}"
        if not _names_file(err):
            return "unnamed-error", f"{s['step']}: {err['message'][:300]}"
        if s["step"] == "validate":
            return "validate-raised", f"validate raised {err['type']}: {err['message'][:300]}"
    for s in steps:
        if s["step"] == "validate" and s["status"] == "ok":
            for e in s["value"]:
                if not e["alf"] or not _names_file(e):
                    return "unnamed-error", f"validate listed {e['type']}: {e['message'][:300]}"
    messages = _alf_messages(steps)
    by_step = {s["step"]: s for s in steps}
    base = {s["step"]: s for s in baseline}
    read_before = {
        f
        for s in baseline
        if s["step"].startswith("load_object") and s["status"] == "ok"
        for v in s["value"].values()
        for f in v["files"]
    }
    target_data = case.target[: -len(".metadata.json")] if case.target.endswith(".metadata.json") else None
    used = case.target in read_before or (
        target_data is not None and any(f.startswith(target_data + ".") for f in read_before)
    )
    # a file no read uses (an older revision under a newer one) may break rules unnoticed
    if case.mutation.name == "parquet nested column":
        name, used = "extraTable.metrics.pqt", True
    else:
        name = Path(case.target).name
    if case.mutation.expect == "error" and used:
        stem = name[: -len(".metadata.json")] if name.endswith(".metadata.json") else name
        if not any(name in m or stem in m for m in messages):
            return "missed-error", f"no error names {name}; messages: {[m[:200] for m in messages][:5]}"
    if case.mutation.expect == "same":
        for key, b in base.items():
            s = by_step.get(key)
            if s is None or s["status"] != b["status"] or (s["status"] == "ok" and s["value"] != b["value"]):
                got = s["value"] if s and s["status"] == "ok" else (s or {}).get("error")
                return "wrong-answer", f"{key} differs from the unmutated session: {str(got)[:400]}"
    # right answers: untouched datasets as in the unmutated session, touched .npy as numpy reads them
    for key, s in by_step.items():
        if not key.startswith("load_object") or s["status"] != "ok":
            continue
        b = base.get(key)
        for attr, got in s["value"].items():
            files = got["files"]
            if set(files) & touched:
                if len(files) == 1 and files[0].endswith(".npy"):
                    expected = _independent(session / files[0])
                    if expected is None:
                        return "wrong-answer", f"{key}.{attr}: read although numpy refuses {files[0]}"
                    if expected != got["sha"]:
                        return "wrong-answer", f"{key}.{attr}: not what numpy reads from {files[0]}"
            elif b is not None and b["status"] == "ok" and attr in b["value"]:
                if b["value"][attr]["files"] == files and b["value"][attr]["sha"] != got["sha"]:
                    return "wrong-answer", f"{key}.{attr}: untouched files, different data"
    eager, lazy = by_step.get("read_block"), by_step.get("read_block lazy")
    if eager and lazy and eager["status"] == lazy["status"] == "ok" and eager["value"] != lazy["value"]:
        return "wrong-answer", "eager and lazy Blocks differ"
    if any(s["status"] == "raised" for s in steps) or any(
        s["step"] == "validate" and s["status"] == "ok" and s["value"] for s in steps
    ):
        return "error", ""
    if any(s["warnings"] for s in steps):
        return "warning", ""
    return "ok", ""


# ------------------------------------------------------------------------------------------- runner


class Runner:
    """Runs cases, ``PARALLEL`` children at a time, from the main thread only (no fork under threads)."""

    def __init__(self, workdir: Path, timeout: float = CASE_TIMEOUT):
        self.workdir = workdir
        self.timeout = timeout
        self.bases = write_bases(workdir / "bases")
        self.ctx = multiprocessing.get_context("fork")
        self.baselines = {}
        for preset, path in self.bases.items():
            read_everything(str(path))  # lazy imports and compiled kernels, once, inherited by each fork
            self.baselines[preset] = self._run_direct(path)

    def _run_direct(self, path: Path) -> list[dict]:
        parent, child = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_child, args=(str(path), child))
        proc.start()
        child.close()
        steps = parent.recv()
        proc.join()
        return steps

    def _prepare(self, case: Case) -> dict:
        folder = Path(tempfile.mkdtemp(prefix=f"case{case.seed}-", dir=self.workdir))
        base = self.bases[case.preset]
        session = folder / base.relative_to(self.workdir / "bases" / case.preset)
        shutil.copytree(base, session, symlinks=True)
        rng = np.random.default_rng([14, case.seed, 1])
        detail = case.mutation.apply(session, case.target, rng, folder)
        before = snapshot(session)
        parent, child = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_child, args=(str(session), child))
        proc.start()
        child.close()
        return {
            "case": case,
            "folder": folder,
            "session": session,
            "detail": detail,
            "before": before,
            "proc": proc,
            "conn": parent,
            "start": time.monotonic(),
            "steps": None,
        }

    def _finish(self, job: dict, hung: bool) -> Outcome:
        case, proc = job["case"], job["proc"]
        seconds = time.monotonic() - job["start"]
        if hung:
            proc.kill()
        proc.join(10)
        job["conn"].close()
        detail = f"[{job['detail']}] "
        if hung:
            verdict, why = "hang", f"no answer in {self.timeout:.0f} s"
        elif job["steps"] is None:
            code = proc.exitcode
            name = signal.Signals(-code).name if code is not None and code < 0 else str(code)
            verdict, why = "crash", f"child ended by {name} without an answer"
        else:
            touched = {case.target}
            if case.target.endswith(".metadata.json"):  # the data its metadata describes changed too
                stem = case.target[: -len("metadata.json")]
                touched |= {f for f in _BASE_FILES if f.startswith(stem)}
            verdict, why = judge(case, job["steps"], self.baselines[case.preset], job["session"], touched)
        if (job["folder"] / "unpickled.marker").exists():
            verdict, why = "pickle-ran", "a pickle in a file was run"
        elif verdict not in ("hang", "crash") and snapshot(job["session"]) != job["before"]:
            verdict, why = "write", "the session changed while it was read"
        shutil.rmtree(job["folder"], ignore_errors=True)
        return Outcome(case, verdict, detail + why, seconds, job["steps"] or [])

    def run(self, cases: list[Case], on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        pending = list(cases)
        running: list[dict] = []
        outcomes: list[Outcome] = []
        while pending or running:
            while pending and len(running) < PARALLEL:
                running.append(self._prepare(pending.pop(0)))
            waitables = [j["conn"] for j in running if j["steps"] is None] + [
                j["proc"].sentinel for j in running
            ]
            multiprocessing.connection.wait(waitables, timeout=1.0)
            for job in list(running):
                if job["steps"] is None and job["conn"].poll():
                    try:
                        job["steps"] = job["conn"].recv()
                    except (EOFError, OSError):
                        job["steps"] = None
                        job["eof"] = True
                done = job["steps"] is not None or job.get("eof") or not job["proc"].is_alive()
                if done and job["steps"] is None and not job.get("eof") and job["conn"].poll():
                    continue  # the answer is still in the pipe
                hung = time.monotonic() - job["start"] > self.timeout
                if done or hung:
                    running.remove(job)
                    outcome = self._finish(job, hung and not done)
                    outcomes.append(outcome)
                    if on_outcome:
                        on_outcome(outcome)
        return outcomes


# -------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    import neo_alf  # noqa: F401 - imported once in the parent, inherited by every forked child

    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        pass
    return Runner(tmp_path_factory.mktemp("fuzz"))


def test_baselines_read_cleanly(runner):
    """The unmutated sessions read without any error: every error in a case comes from its mutation."""
    for preset, steps in runner.baselines.items():
        for s in steps:
            assert s["status"] == "ok", (preset, s)
            assert not s["warnings"], (preset, s)
        assert next(s for s in steps if s["step"] == "validate")["value"] == [], preset
        n_loaded = sum(1 for s in steps if s["step"].startswith("load_object"))
        assert n_loaded >= 1, preset


def test_the_harness_sees_each_kind_of_failure(runner, monkeypatch):
    """The judge can fail: a hang, a crash, a foreign exception, a write and a wrong answer are seen."""
    case = make_case(0, runner.bases)
    base = runner.baselines[case.preset]
    steps = [dict(s) for s in base]
    assert judge(case, steps, base, runner.bases[case.preset], set())[0] in ("ok", "error", "missed-error")
    bad = [dict(s) for s in base]
    bad[-1] = {
        "step": "read_block lazy",
        "status": "raised",
        "warnings": [],
        "error": {"type": "KeyError", "message": "x", "alf": False},
    }
    assert judge(case, bad, base, runner.bases[case.preset], set())[0] == "wrong-exception"
    same = Case(1, case.preset, next(m for m in MUTATIONS if m.expect == "same"), case.target)
    changed = [dict(s) for s in base]
    changed[-1] = dict(changed[-1], value=[("SpikeTrain", "x", "0")])
    assert judge(same, changed, base, runner.bases[case.preset], set())[0] == "wrong-answer"

    def hang(session, conn):
        time.sleep(60)

    def crash(session, conn):
        import faulthandler

        faulthandler.disable()
        os.kill(os.getpid(), signal.SIGBUS)

    def write(session, conn):
        Path(session, "alf", "new.file").write_text("x")
        conn.send(base)

    for child, verdict in ((hang, "hang"), (crash, "crash"), (write, "write")):
        monkeypatch.setattr(sys_modules_self(), "_child", child)
        short = Runner.__new__(Runner)
        short.__dict__.update(runner.__dict__, timeout=3.0)
        (outcome,) = short.run([make_case(0, runner.bases)])
        assert outcome.verdict == verdict, outcome


def sys_modules_self():
    import sys

    return sys.modules[__name__]


def ci_cases(bases: dict[str, Path]) -> list[Case]:
    return [make_case(seed, bases) for seed in range(CI_CASES)]


def test_fuzz_ci_run(runner):
    """A few hundred seeded cases: every one an AlfError naming a file, a warning, or a right answer."""
    cases = [c for c in ci_cases(runner.bases) if c.signature not in KNOWN_OPEN]
    assert len(cases) >= 200
    t0 = time.monotonic()
    outcomes = runner.run(cases)
    elapsed = time.monotonic() - t0
    counts = Counter(o.verdict for o in outcomes)
    failures = [o for o in outcomes if o.failed]
    report = "\n".join(f"{o.case.id}: {o.verdict}: {o.detail[:1500]}" for o in failures)
    assert not failures, f"{len(failures)} failing cases ({dict(counts)}):\n{report}"
    assert counts["error"] >= 50 and counts["ok"] + counts["warning"] >= 20, counts  # both sides exercised
    assert elapsed < 110, f"the CI fuzz run took {elapsed:.0f} s"
