"""Hostile and broken sessions: each fault is applied to a fresh generated session, then read with
``AlfIO.read_block`` (eager and lazy, every proxy loaded) and ``neo_alf.load_object``.

Tolerant by default: each fault gives a Block with everything else (compared with the Block of the
same session unharmed), an ``AlfWarning`` naming the file and the rule, and the problem listed in the
Block's ``alf_problems``; with ``strict=True`` the ``AlfError`` subclass is raised as before. Some
faults are documented, tested recoveries (docs/reliability.rst). No pickle is ever run; nothing is
ever written into the session.
"""

from __future__ import annotations

import json
import os
import pathlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import neo_alf
from neo_alf import AlfIO
from neo_alf.errors import (
    AlfDimensionError,
    AlfDuplicateError,
    AlfError,
    AlfFormatError,
    AlfMetadataError,
    AlfPathError,
    AlfRelationError,
)

from .conftest import snapshot

PROBE = "alf/probe00/pykilosort"


class _Bait:
    """Unpickling this creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@dataclass
class Fault:
    name: str
    apply: Callable  # (session_path, tmp_path) -> None
    error: type[AlfError] | None  # None: a documented recovery, checked by `check`
    file: str  # the file the message must name ("" for recoveries)
    object: tuple[str, str | None] = ("trials", None)  # what load_object reads
    check: Callable | None = None  # (session_path) -> None, for recoveries
    arrays_as_stored: bool = False  # load_object returns the arrays as stored (not an ALF rule broken)
    may_lose: tuple[str, ...] = ()  # Neo objects ("kind:name" prefixes) the fault may take from the Block
    load_warns: bool = False  # load_object warns and loads (as ONE-api), instead of raising
    load_as_stored: bool = False  # load_object returns the arrays as stored, as ONE-api does


def _truncate(rel, keep):
    def apply(path, tmp):
        f = path / rel
        f.write_bytes(f.read_bytes()[:keep])  # keep < 0 cuts from the end

    return apply


def _write(rel, data: bytes):
    def apply(path, tmp):
        (path / rel).write_bytes(data)

    return apply


def _save(rel, array):
    def apply(path, tmp):
        np.save(path / rel, np.asarray(array))

    return apply


def _spike_clusters(fill, dtype):
    """spikes.clusters with as many rows as the generated spikes.times, every value ``fill``."""

    def apply(path, tmp):
        n = np.load(path / PROBE / "spikes.amps.npy", mmap_mode="r").shape[0]
        np.save(path / PROBE / "spikes.clusters.npy", np.full(n, fill, dtype))

    return apply


def _three_columns(rel):
    def apply(path, tmp):
        rows = np.load(path / rel).shape[0]
        np.save(path / rel, np.zeros((rows, 3)))  # same rows, one column too many

    return apply


def _pickled(rel):
    def apply(path, tmp):
        np.save(path / rel, np.array([_Bait(tmp / "unpickled.marker"), 1.0], dtype=object), allow_pickle=True)

    return apply


def _huge_shape(rel):
    def apply(path, tmp):
        with open(path / rel, "wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f8", "fortran_order": False, "shape": (10**13,)}
            )
            fh.write(b"\0" * 64)

    return apply


def _spike_times(transform):
    def apply(path, tmp):
        f = path / PROBE / "#2024-05-06#" / "spikes.times.npy"
        np.save(f, transform(np.load(f)))

    return apply


def _unsorted(times):
    times = times.copy()
    times[[5, 100]] = times[[100, 5]]  # two spikes out of order
    return times


def _nan_time(times):
    times = times.copy()
    times[17] = np.nan
    return times


def _symlink_out(path, tmp):
    outside = tmp / "outside"
    outside.mkdir()
    np.save(outside / "secret.npy", np.arange(20.0))
    target = path / "alf/licks.times.part002.npy"
    target.unlink()
    target.symlink_to(outside / "secret.npy")


def _uuid_name(path, tmp):
    f = path / "alf/_ibl_leftCamera.times.npy"
    f.rename(f.with_name(f"_ibl_leftCamera.times.{uuid.uuid4()}.npy"))


def _check_uuid_name(path):
    camera = neo_alf.load_object(path, "leftCamera")
    assert camera["times"].size > 0  # the archive id is not a part: one dataset, read as usual


def _check_bin_without_metadata(path):
    # a .bin without its metadata is a file neo-alf does not read: listed, never opened, its path
    # returned by load_object (as ONE-api does); the signal it held is not in the Block
    reader = neo_alf.AlfRawIO(path)
    reader.parse_header()
    assert "raw_ephys_data/probe00/lfp.raw.bin" in reader.session.unread
    assert not reader.problems and "raw_ephys_data/probe00/lfp" not in reader.header["signal_streams"]["name"]
    lfp = neo_alf.load_object(path, "lfp", collection="raw_ephys_data/probe00")
    assert lfp["raw"] == path / "raw_ephys_data/probe00/lfp.raw.bin" and lfp["timestamps"].shape == (2, 2)


def _check_unsorted(path):
    reader = neo_alf.AlfRawIO(path, collections=[PROBE])
    reader.parse_header()
    for i in range(reader.spike_channels_count()):
        t = reader.get_spike_timestamps(spike_channel_index=i)
        assert np.all(np.diff(t) >= 0)  # recovered: each unit sorted


FAULTS = [
    Fault(
        "truncated npy header",
        _truncate("alf/_ibl_trials.choice.npy", 30),
        AlfFormatError,
        "_ibl_trials.choice.npy",
    ),
    Fault(
        "truncated npy body",
        _truncate("alf/_ibl_trials.choice.npy", -16),
        AlfFormatError,
        "_ibl_trials.choice.npy",
    ),
    Fault(
        "empty file",
        _write("alf/_ibl_trials.feedbackType.npy", b""),
        AlfFormatError,
        "_ibl_trials.feedbackType.npy",
    ),
    Fault(
        "pickled object npy",
        _pickled("alf/_ibl_trials.contrastLeft.npy"),
        AlfFormatError,
        "_ibl_trials.contrastLeft.npy",
    ),
    Fault(
        "huge declared shape",
        _huge_shape("alf/_ibl_trials.stimOn_times.npy"),
        AlfFormatError,
        "_ibl_trials.stimOn_times.npy",
        may_lose=("event:alf/trials.stimOn_times",),
    ),
    Fault(
        "invalid bin metadata",
        _write("raw_ephys_data/probe00/lfp.raw.metadata.json", b"{not json"),
        AlfMetadataError,
        "lfp.raw.metadata.json",
        ("lfp", "raw_ephys_data/probe00"),
        may_lose=("analogsignal:raw_ephys_data/probe00/lfp",),
    ),
    Fault(
        "absent bin metadata",
        lambda p, t: (p / "raw_ephys_data/probe00/lfp.raw.metadata.json").unlink(),
        None,
        "",
        ("lfp", "raw_ephys_data/probe00"),
        _check_bin_without_metadata,
    ),
    Fault(
        "bin size does not divide",
        lambda p, t: open(p / "raw_ephys_data/probe00/lfp.raw.bin", "ab").write(b"\0"),
        AlfFormatError,
        "lfp.raw.bin",
        ("lfp", "raw_ephys_data/probe00"),
        may_lose=("analogsignal:raw_ephys_data/probe00/lfp",),
    ),
    Fault(
        "metadata columns disagree",
        _write("alf/headTracking.xyPos.metadata.json", json.dumps({"columns": ["x", "y", "z"]}).encode()),
        AlfMetadataError,
        "headTracking.xyPos.tsv",
        ("headTracking", None),
        may_lose=("analogsignal:alf/headTracking",),
    ),
    Fault(
        "duplicate data types",
        _write("alf/_ibl_trials.choice.tsv", b"choice\n1\n"),
        AlfDuplicateError,
        "_ibl_trials.choice.tsv",
    ),
    Fault(
        "rows differ in an object",
        _save("alf/_ibl_trials.rewardVolume.npy", np.zeros(3)),
        AlfDimensionError,
        "_ibl_trials.rewardVolume.npy",
        load_warns=True,
    ),
    Fault(
        "cluster index out of range",
        _spike_clusters(99, np.uint32),
        AlfRelationError,
        "spikes.clusters.npy",
        ("spikes", PROBE),
        may_lose=(f"spiketrain:{PROBE}",),
    ),
    Fault(
        "negative cluster index",
        _spike_clusters(-1, np.int64),
        AlfRelationError,
        "spikes.clusters.npy",
        ("spikes", PROBE),
        may_lose=(f"spiketrain:{PROBE}",),
    ),
    Fault(
        "float cluster ids",
        _spike_clusters(0.0, np.float64),
        AlfRelationError,
        "spikes.clusters.npy",
        ("spikes", PROBE),
        may_lose=(f"spiketrain:{PROBE}",),
    ),
    Fault(
        "NaN spike time",
        _spike_times(_nan_time),
        AlfFormatError,
        "spikes.times.npy",
        ("spikes", PROBE),
        arrays_as_stored=True,
        may_lose=(f"spiketrain:{PROBE}",),
    ),
    Fault("non-monotonic spike times", _spike_times(_unsorted), None, "", ("spikes", PROBE), _check_unsorted),
    Fault(
        "intervals with 3 columns",
        _three_columns("alf/_ibl_wheelMoves.intervals.npy"),
        AlfDimensionError,
        "_ibl_wheelMoves.intervals.npy",
        ("wheelMoves", None),
        may_lose=("epoch:alf/wheelMoves.intervals",),
    ),
    Fault(
        "sync timestamps backwards",
        _save("raw_ephys_data/probe00/lfp.timestamps.npy", np.array([[0, 5.0], [9999, 1.0]])),
        AlfDimensionError,
        "lfp.timestamps.npy",
        ("lfp", "raw_ephys_data/probe00"),
        may_lose=("analogsignal:raw_ephys_data/probe00/lfp",),
        load_as_stored=True,
    ),
    Fault("dataset UUID in a file name", _uuid_name, None, "", ("leftCamera", None), _check_uuid_name),
    Fault(
        "symlink leaving the session",
        _symlink_out,
        AlfPathError,
        "licks.times.part002.npy",
        ("licks", None),
        may_lose=("event:alf/licks.times",),
    ),
]


def _read_everything(path, **kwargs):
    AlfIO(path, **kwargs).read_block()
    block = AlfIO(path, **kwargs).read_block(lazy=True)
    seg = block.segments[0]
    failures = []
    for proxy in [
        *seg.analogsignals,
        *seg.irregularlysampledsignals,
        *seg.spiketrains,
        *seg.events,
        *seg.epochs,
    ]:
        try:
            proxy.load()
        except neo_alf.AlfError as err:  # a lazy proxy the user loads raises what it finds
            failures.append(err)
    return failures


def _names(block) -> set[str]:
    seg = block.segments[0]
    out = {f"analogsignal:{s.name}" for s in seg.analogsignals}
    out |= {f"irregular:{s.name}" for s in seg.irregularlysampledsignals}
    out |= {f"event:{e.name}" for e in seg.events} | {f"epoch:{e.name}" for e in seg.epochs}
    out |= {
        f"spiketrain:{st.annotations['collection']}#{st.annotations['cluster_id']}" for st in seg.spiketrains
    }
    return out


def _assert_names(err, fault: Fault):
    text = str(getattr(err, "value", err))
    assert fault.file in text, f"{fault.name}: message does not name {fault.file}: {text}"
    assert "rule:" in text, f"{fault.name}: message names no rule: {text}"


@pytest.fixture(scope="module")
def unharmed(tmp_path_factory):
    from neo_alf.testing import make_session

    gen = make_session(tmp_path_factory.mktemp("unharmed"), "tiny")
    return _names(AlfIO(gen.path).read_block())


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault(fault, fresh_session, tmp_path, unharmed):
    gen = fresh_session("tiny")
    fault.apply(gen.path, tmp_path)
    before = snapshot(gen.path)
    obj, collection = fault.object
    if fault.error is None:
        assert not _read_everything(gen.path)
        neo_alf.load_object(gen.path, obj, collection=collection)
        fault.check(gen.path)
    else:
        # tolerant: a Block with everything else, a warning naming the file and the rule
        with pytest.warns(neo_alf.AlfWarning) as caught:
            block = AlfIO(gen.path).read_block()
        warned = [w.message for w in caught if issubclass(w.category, neo_alf.AlfWarning)]
        assert any(fault.file in str(m) and "rule:" in str(m) for m in warned), [str(m) for m in warned]
        assert any(fault.file in p for p in block.annotations["alf_problems"])
        names = _names(block)
        lost = unharmed - names
        assert all(n.startswith(fault.may_lose) for n in lost) if fault.may_lose else not lost, sorted(lost)
        assert names <= unharmed
        # strict: the error, as before
        with pytest.raises(fault.error) as err:
            AlfIO(gen.path, strict=True).read_block()
        _assert_names(err, fault)
        with pytest.warns(neo_alf.AlfWarning):
            failures = _read_everything(gen.path)
        for failure in failures:
            _assert_names(failure, fault)
        if fault.arrays_as_stored:
            times = neo_alf.load_object(gen.path, obj, collection=collection)["times"]
            assert np.isnan(times).sum() == 1  # the array layer returns what is stored
        elif fault.load_as_stored:
            data = neo_alf.load_object(gen.path, obj, collection=collection, as_stored=True)
            assert data["timestamps"][1, 1] < data["timestamps"][0, 1]  # as stored, not a corrupt file
        elif fault.load_warns:
            with pytest.warns(neo_alf.AlfWarning, match=fault.file.replace(".", r"\.")):
                neo_alf.load_object(gen.path, obj, collection=collection)
        else:
            with pytest.raises(fault.error) as err:
                neo_alf.load_object(gen.path, obj, collection=collection)
            _assert_names(err, fault)
    assert not (tmp_path / "unpickled.marker").exists(), "a pickle was run"
    assert snapshot(gen.path) == before, "reading wrote into the session"


def _load_as_nobody(path: str, conn) -> None:
    """In a forked child (Python already loaded): drop to `nobody` when root, then read."""
    try:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        neo_alf.load_object(path, "trials")
        conn.send("read")
    except neo_alf.AlfFormatError as err:
        conn.send(f"ERR {err}")
    except BaseException as err:
        conn.send(f"OTHER {type(err).__name__}: {err}")


def test_unreadable_file(tmp_path):
    """A file the process may not read: AlfFormatError naming it. Root reads everything, so the
    read runs in a forked child that drops to `nobody` first."""
    import multiprocessing
    import shutil
    import tempfile

    from neo_alf.testing import make_session

    shared = Path(tempfile.mkdtemp(dir="/tmp"))  # traversable by nobody, unlike pytest's 0700 folders
    try:
        os.chmod(shared, 0o755)
        gen = make_session(shared, "tiny")
        for folder in [gen.path, *gen.path.parents]:
            if folder == shared.parent:
                break
            os.chmod(folder, 0o755)
        target = gen.path / "alf/_ibl_trials.choice.npy"
        os.chmod(target, 0)
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_load_as_nobody, args=(str(gen.path), child))
        proc.start()
        proc.join(60)
        message = parent.recv()
        assert message.startswith("ERR"), message
        assert "_ibl_trials.choice.npy" in message and "cannot be read" in message
    finally:
        shutil.rmtree(shared, ignore_errors=True)
