"""The session model: scanning, revisions, multi-part datasets, duplicates, kinds, validation."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from neo_alf import AlfSession
from neo_alf.errors import (
    AlfAmbiguousError,
    AlfDimensionError,
    AlfDuplicateError,
    AlfNotFoundError,
    AlfPathError,
    AlfRelationError,
    AlfWarning,
)
from neo_alf.testing import REVISION


def _npy(folder, rel, array):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array))
    return path


def test_scan_of_a_generated_session(make_generated):
    gen = make_generated("two_probes")
    session = AlfSession(gen.path)
    assert session.parts.subject == "KS023" and session.parts.number == 1
    assert session.collections == [
        "alf",
        "alf/probe00/pykilosort",
        "alf/probe01/pykilosort",
        "raw_ephys_data/probe00",
    ]
    assert session.revisions == [REVISION]
    kinds = {(o.collection, o.name): o.kind for o in session.objects}
    assert kinds[("alf", "trials")] == "intervals"
    assert kinds[("alf", "wheel")] == "continuous"
    assert kinds[("alf", "leftCamera")] == "events"
    assert kinds[("alf/probe00/pykilosort", "clusters")] == "table"
    assert kinds[("raw_ephys_data/probe00", "lfp")] == "continuous"
    assert session.object("trials").namespaces == {"ibl"}
    assert session.validate() == []
    assert session.ignored == [] and session.problems == []


def test_default_revision_is_newest_and_asked_revision_falls_back(make_generated):
    gen = make_generated("two_probes")
    truth = gen.truth["probes"]["alf/probe00/pykilosort"]
    newest = AlfSession(gen.path).dataset("spikes.times", "alf/probe00/pykilosort")
    assert newest.revision == REVISION
    assert newest.load()[0] == pytest.approx(min(x for x in truth["first_spike"] if x is not None))
    old = AlfSession(gen.path, revision="2024-01-01").dataset("spikes.times", "alf/probe00/pykilosort")
    assert old.revision is None and old.load()[0] == truth["unrevised_first_spike"]
    later = AlfSession(gen.path, revision="2025-01-01").dataset("spikes.times", "alf/probe00/pykilosort")
    assert later.revision == REVISION  # the last revision before the one asked for


def test_revision_rules_per_dataset(tmp_path):
    _npy(tmp_path, "alf/obj.a.npy", [0])
    _npy(tmp_path, "alf/#2021#/obj.a.npy", [1])
    _npy(tmp_path, "alf/#2023#/obj.a.npy", [3])
    _npy(tmp_path, "alf/#2023#/obj.b.npy", [33])  # only in the newest revision
    _npy(tmp_path, "alf/obj.c.npy", [100])  # only unrevisioned
    load = {r: AlfSession(tmp_path, revision=r).load_object("obj") for r in (None, "2022", "2021", "2000")}
    assert {k: int(v[0]) for k, v in load[None].items()} == {"a": 3, "b": 33, "c": 100}
    assert {k: int(v[0]) for k, v in load["2022"].items()} == {"a": 1, "c": 100}
    assert {k: int(v[0]) for k, v in load["2021"].items()} == {"a": 1, "c": 100}
    assert {k: int(v[0]) for k, v in load["2000"].items()} == {"a": 0, "c": 100}


def test_multipart_joined_in_lexicographic_order_of_extra_parts(tmp_path):
    _npy(tmp_path, "ev.times.part10.npy", [10.0])
    _npy(tmp_path, "ev.times.part02.npy", [2.0])
    _npy(tmp_path, f"ev.times.part01.{uuid.uuid4()}.npy", [1.0])  # archive ids do not order parts
    _npy(tmp_path, "ev.times.part02.b.npy", [2.5])
    ds = AlfSession(tmp_path).dataset("ev.times")
    assert ds.is_multipart and ds.rows == 4
    assert ds.load().tolist() == [1.0, 2.0, 2.5, 10.0]


def test_uuid_named_file_is_one_dataset(tmp_path):
    _npy(tmp_path, f"spikes.times.{uuid.uuid4()}.npy", [1.0, 2.0])
    ds = AlfSession(tmp_path).dataset("spikes.times")
    assert not ds.is_multipart and ds.load().tolist() == [1.0, 2.0]


def test_same_part_with_and_without_archive_id_is_a_duplicate(tmp_path):
    _npy(tmp_path, "spikes.times.npy", [1.0])
    _npy(tmp_path, f"spikes.times.{uuid.uuid4()}.npy", [1.0])
    session = AlfSession(tmp_path)
    with pytest.raises(AlfDuplicateError):
        session.dataset("spikes.times").load()
    assert any(isinstance(e, AlfDuplicateError) for e in session.validate())


def test_two_data_file_types_for_one_attribute(tmp_path):
    _npy(tmp_path, "alf/tones.frequencies.npy", [1.0, 2.0])
    (tmp_path / "alf/tones.frequencies.tsv").write_text("f\n1\n2\n")
    _npy(tmp_path, "alf/tones.times.npy", [0.5, 1.5])
    (tmp_path / "alf/tones.times.metadata.json").write_text('{"columns": ["t"]}')  # metadata are no duplicate
    session = AlfSession(tmp_path)
    with pytest.raises(AlfDuplicateError, match=r"one object\.attribute has one data file type") as err:
        session.load_object("tones")
    assert "tones.frequencies.npy" in str(err.value) and "tones.frequencies.tsv" in str(err.value)
    assert session.dataset("tones.times").load().tolist() == [0.5, 1.5]  # the rest stays readable
    errors = session.validate()
    assert len(errors) == 1 and isinstance(errors[0], AlfDuplicateError)


def test_rows_that_differ(tmp_path):
    _npy(tmp_path, "alf/trials.intervals.npy", np.zeros((5, 2)))
    _npy(tmp_path, "alf/trials.choice.npy", np.zeros(4))
    session = AlfSession(tmp_path)
    with pytest.raises(AlfDimensionError, match="different row counts") as err:
        session.load_object("trials", strict=True)
    assert "trials.choice.npy" in str(err.value) and "trials.intervals.npy" in str(err.value)
    with pytest.warns(AlfWarning, match=r"trials\.choice\.npy.*different row counts"):
        trials = session.load_object("trials")  # as ONE-api: warn, and load what is there
    assert trials["intervals"].shape == (5, 2) and trials["choice"].shape == (4,)
    assert [type(e) for e in session.validate()] == [AlfDimensionError]


def test_timestamps_are_exempt_from_the_row_rule(tmp_path):
    _npy(tmp_path, "lfp.raw.npy", np.zeros((100, 2)))
    _npy(tmp_path, "lfp.timestamps.npy", [[0, 0.0], [99, 1.0]])
    session = AlfSession(tmp_path)
    assert session.object("lfp").rows == 100 and session.validate() == []


def test_validate_lists_every_rule_broken(tmp_path):
    _npy(tmp_path, "alf/wheelMoves.intervals.npy", np.zeros((3, 3)))
    _npy(tmp_path, "alf/p/spikes.times.npy", np.arange(4.0))
    _npy(tmp_path, "alf/p/spikes.clusters.npy", np.array([0, 1, 5, 1]))
    _npy(tmp_path, "alf/p/clusters.depths.npy", np.zeros(3))
    _npy(tmp_path, "alf/q/spikes.times.npy", np.arange(2.0))
    _npy(tmp_path, "alf/q/spikes.clusters.npy", np.array([0.0, 1.0]))
    _npy(tmp_path, "alf/q/clusters.depths.npy", np.zeros(3))
    _npy(tmp_path, "alf/sig.timestamps.npy", [[0, 1.0], [10, 0.5]])
    _npy(tmp_path, "alf/sig.raw.npy", np.zeros(11))
    errors = AlfSession(tmp_path).validate()
    messages = "\n".join(map(str, errors))
    assert len(errors) == 4, messages
    assert any(isinstance(e, AlfDimensionError) and "intervals" in str(e) for e in errors)
    assert any(isinstance(e, AlfRelationError) and "0..5" in str(e) and "alf/p/" in str(e) for e in errors)
    assert any(isinstance(e, AlfRelationError) and "float64" in str(e) for e in errors)
    assert any("sync points" in str(e) for e in errors)


def test_object_lookup_errors(make_generated):
    session = AlfSession(make_generated("two_probes").path)
    with pytest.raises(AlfAmbiguousError, match="alf/probe00/pykilosort"):
        session.object("spikes")
    with pytest.raises(AlfNotFoundError, match="no object 'nope'"):
        session.object("nope")
    with pytest.raises(AlfNotFoundError, match="no attribute 'nope'"):
        session.dataset("trials.nope")
    with pytest.raises(AlfNotFoundError):
        AlfSession(make_generated("two_probes").path / "missing")


def test_non_alf_files_are_ignored_not_fatal(tmp_path):
    _npy(tmp_path, "alf/licks.times.npy", [1.0])
    (tmp_path / "alf/README.txt").write_text("hello")
    (tmp_path / "bad folder").mkdir()
    _npy(tmp_path, "bad folder/licks.times.npy", [1.0])
    session = AlfSession(tmp_path)
    assert "alf/README.txt" in session.ignored and "bad folder/licks.times.npy" in session.ignored
    assert any("bad collection folder" in str(p) for p in session.problems)
    assert session.parts is None  # not a session-shaped path: still readable


def test_symlink_out_of_the_session_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    _npy(outside, "secret.times.npy", [1.0])
    session_dir = tmp_path / "s" / "2020-01-01" / "001"
    _npy(session_dir, "alf/ok.times.npy", [2.0])
    (session_dir / "alf/leak.times.npy").symlink_to(outside / "secret.times.npy")
    (session_dir / "linked").symlink_to(outside, target_is_directory=True)
    session = AlfSession(session_dir)
    with pytest.raises(AlfPathError, match="outside the session"):
        session.dataset("leak.times").load()
    assert session.dataset("ok.times").load().tolist() == [2.0]
    assert any(isinstance(p, AlfPathError) and "symlinked folder" in str(p) for p in session.problems)


def test_validate_finds_nan_sync_timestamps_and_backward_intervals(tmp_path):
    _npy(tmp_path, "alf/sig.raw.npy", np.zeros(11))
    _npy(tmp_path, "alf/sig.timestamps.npy", [[0, 0.0], [10, np.nan]])
    _npy(tmp_path, "alf/trials.intervals.npy", [[0.0, 1.0], [3.0, 2.0]])
    errors = AlfSession(tmp_path).validate()
    text = "\n".join(map(str, errors))
    assert len(errors) == 2, text
    assert "sig.timestamps.npy" in text and "finite" in text
    assert "trials.intervals.npy" in text and "end before they start (first: row 1)" in text


def test_unlistable_folders_are_problems_not_silence(tmp_path):
    import os

    _npy(tmp_path, "alf/licks.times.npy", [1.0])
    _npy(tmp_path, "alf/probe00/#2024-01-01#/spikes.times.npy", [1.0, 2.0])
    _npy(tmp_path, "alf/probe00/spikes.times.npy", [5.0])
    hidden = tmp_path / "alf/probe00/#2024-01-01#"
    real_scandir = os.scandir

    def refusing(path=".", *args):
        if os.fspath(path) == os.fspath(hidden):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path, *args)

    import unittest.mock

    with unittest.mock.patch("os.scandir", refusing):
        session = AlfSession(tmp_path)
    errors = session.validate()
    assert any("#2024-01-01#" in str(e) and "cannot be listed" in str(e) for e in errors)
    assert session.problems  # an older revision would otherwise be served without a word
