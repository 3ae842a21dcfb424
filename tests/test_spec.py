"""ALF names: parsing, round trips, session and relative paths, and agreement with ONE-api."""

from __future__ import annotations

import datetime
import random
import uuid

import pytest

from neo_alf.errors import AlfNameError, AlfPathError
from neo_alf.spec import (
    AlfName,
    is_time_attribute,
    is_uuid_part,
    parse_name,
    parse_rel_path,
    parse_session_path,
)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("spikes.times.npy", (None, "spikes", "times", None, (), "npy")),
        ("_ibl_trials.stimOn_times.npy", ("ibl", "trials", "stimOn_times", None, (), "npy")),
        ("spikes.times_ephysClock.npy", (None, "spikes", "times", "ephysClock", (), "npy")),
        ("_ibl_trials.goCue_times_bpod.csv", ("ibl", "trials", "goCue_times", "bpod", (), "csv")),
        ("licks.times.part001.npy", (None, "licks", "times", None, ("part001",), "npy")),
        # ONE-api's quirk, kept: the timescale swallows everything after the first underscore
        (
            "channels.brainLocationIds_ccf_2017.npy",
            (None, "channels", "brainLocationIds", "ccf_2017", (), "npy"),
        ),
        (
            "_ns_obj.attr1.2622b17c-9408-4910-99cb-abf16d9225b9.metadata.json",
            ("ns", "obj", "attr1", None, ("2622b17c-9408-4910-99cb-abf16d9225b9", "metadata"), "json"),
        ),
        (
            "_spikeglx_ephysData_g0_t0.imec0.lf.bin",
            ("spikeglx", "ephysData_g0_t0", "imec0", None, ("lf",), "bin"),
        ),
    ],
)
def test_parse_name(filename, expected):
    name = parse_name(filename)
    assert tuple(name) == expected
    assert name.to_filename() == filename


@pytest.mark.parametrize(
    "bad",
    [
        "spike_train.npy",
        "spikes.npy",
        "spikes.times",
        "obj.attr_.npy",
        "obj.att-r.npy",
        "",
        "a.b.c.",
        "spikes.times.a..b.npy",
        "alf/spikes.times.npy",
        12,
    ],
)
def test_invalid_names_raise_alf_name_error(bad):
    with pytest.raises(AlfNameError):
        parse_name(bad)


def test_name_helpers():
    name = parse_name("spikes.times_ephysClock.part002.1f0b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d.npy")
    assert name.key == "times_ephysClock"
    assert name.dataset_type == "spikes.times"
    assert name.part_key == ("part002",)
    assert not name.is_metadata
    assert parse_name("lfp.raw.metadata.json").is_metadata
    assert is_time_attribute("stimOn_times")
    assert is_time_attribute("cue_intervals")
    assert not is_time_attribute("times", "ephysClock")
    assert not is_time_attribute("clusters")


def test_is_uuid_part():
    assert is_uuid_part(str(uuid.uuid4()))
    assert is_uuid_part(str(uuid.uuid4()).upper())
    assert not is_uuid_part("part001")
    assert not is_uuid_part(str(uuid.uuid4())[:-1])
    assert not is_uuid_part(uuid.uuid4().hex)  # file servers insert the hyphenated form


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/data/cortexlab/Subjects/KS023/2024-03-15/001",
            ("cortexlab", "KS023", datetime.date(2024, 3, 15), 1),
        ),
        ("KS023/2024-03-15/1", (None, "KS023", datetime.date(2024, 3, 15), 1)),
        ("/root/KS023/2024-03-15/012/", (None, "KS023", datetime.date(2024, 3, 15), 12)),
        ("C:/x/lab_1/Subjects/ZM-1.a/2020-01-01/999", ("lab_1", "ZM-1.a", datetime.date(2020, 1, 1), 999)),
    ],
)
def test_parse_session_path(path, expected):
    parts = parse_session_path(path)
    assert tuple(parts) == expected


def test_padded_and_unpadded_numbers_are_the_same_session():
    assert parse_session_path("s/2020-01-01/001") == parse_session_path("s/2020-01-01/1")
    assert parse_session_path("lab/Subjects/s/2020-01-01/1").rel_path == "lab/Subjects/s/2020-01-01/001"


@pytest.mark.parametrize(
    "bad",
    [
        "KS023/2024-03-15",
        "KS023/2024-13-45/001",
        "KS023/24-03-15/001",
        "KS023/2024-03-15/0001",
        "KS023/2024-03-15/001/alf",
    ],
)
def test_bad_session_paths(bad):
    with pytest.raises(AlfNameError):
        parse_session_path(bad)


def test_parse_rel_path():
    rel = parse_rel_path("alf/probe00/pykilosort/#2024-05-06#/spikes.times.npy")
    assert rel.collection == "alf/probe00/pykilosort"
    assert rel.revision == "2024-05-06"
    assert rel.name == AlfName(None, "spikes", "times", None, (), "npy")
    assert parse_rel_path("spikes.times.npy").collection == ""
    assert parse_rel_path("#v1#/spikes.times.npy") == ("", "v1", parse_name("spikes.times.npy"))


@pytest.mark.parametrize(
    "bad",
    [
        "alf/#rev#/probe00/spikes.times.npy",
        "alf/pro be/spikes.times.npy",
        "alf/#bad rev#/spikes.times.npy",
        "alf/notalf.txt",
    ],
)
def test_bad_rel_paths(bad):
    with pytest.raises(AlfNameError):
        parse_rel_path(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "../spikes.times.npy",
        "alf/../../spikes.times.npy",
        "/etc/spikes.times.npy",
        "alf//spikes.times.npy",
        "./spikes.times.npy",
        "C:/x/spikes.times.npy",
    ],
)
def test_rel_paths_that_leave_the_session_are_refused(bad):
    with pytest.raises(AlfPathError):
        parse_rel_path(bad)


# --------------------------------------------------------------------------- cross-check with ONE-api

_WORDS = [
    "spikes",
    "trials",
    "clusters",
    "wheel",
    "lfp",
    "camera",
    "ephysData_g0_t0",
    "obj2",
    "x",
    "A1",
    "probes",
    "wheelMoves",
    "é",
]
_ATTRS = [
    "times",
    "intervals",
    "timestamps",
    "clusters",
    "stimOn_times",
    "cue_intervals",
    "amps",
    "raw",
    "brainLocationIds",
    "localCoordinates",
    "_phy_ids",
    "x1",
    "contrastLeft",
]
_SCALES = [None, "ephysClock", "bpod", "ccf_2017", "nidaq"]
_EXTRAS = [
    (),
    ("part001",),
    ("part002", "a"),
    (str(uuid.UUID(int=12345, version=4)),),
    ("v-1",),
    ("metadata",),
    ("a-b", "c_d"),
]
_EXTS = ["npy", "tsv", "csv", "json", "bin", "pqt", "ssv", "cbin", "mp4"]
_NAMESPACES = [None, "ibl", "iblrig", "spikeglx", "ns1"]


def _generated_names(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = set()
    while len(names) < n:
        ns, obj, attr = rng.choice(_NAMESPACES), rng.choice(_WORDS), rng.choice(_ATTRS)
        scale, extra, ext = rng.choice(_SCALES), rng.choice(_EXTRAS), rng.choice(_EXTS)
        names.add(AlfName(ns, obj, attr, scale, extra, ext).to_filename())
    return sorted(names)


def _mutations(names: list[str], seed: int) -> list[str]:
    """Names with one character inserted, deleted or replaced: a mix of valid and invalid names."""
    rng = random.Random(seed)
    alphabet = "._-#/ aZ09é"
    out = []
    for name in names:
        i = rng.randrange(len(name))
        op = rng.choice("idr")
        c = rng.choice(alphabet)
        out.append(
            name[:i] + c + name[i:]
            if op == "i"
            else name[:i] + name[i + 1 :]
            if op == "d"
            else name[:i] + c + name[i + 1 :]
        )
    return out


def _one_parts(filename):
    from one.alf.path import filename_parts

    ns, obj, attr, ts, extra, ext = filename_parts(filename)
    return ns, obj, attr, ts, tuple(extra.split(".")) if extra else (), ext


def test_names_agree_with_one_api():
    pytest.importorskip("one.alf.path")
    from one.alf.spec import is_valid

    names = _generated_names(400, seed=1) + _mutations(_generated_names(400, seed=2), seed=3)
    valid_for_one = [n for n in names if is_valid(n) and "/" not in n]
    invalid_for_one = [n for n in names if n not in valid_for_one]
    assert len(valid_for_one) >= 400 and len(invalid_for_one) >= 50  # the sample exercises both sides

    agree, disagree = 0, []
    for n in valid_for_one:
        try:
            ours = tuple(parse_name(n))
        except AlfNameError:
            disagree.append((n, "refused"))
            continue
        if ours == _one_parts(n):
            agree += 1
        else:
            disagree.append((n, ours))
    rate = agree / len(valid_for_one)
    assert rate >= 0.99, f"agreement {rate:.3%}; disagreements: {disagree[:10]}"
    # every intentional disagreement is the documented one (an empty extra part)
    assert all(".." in n for n, _ in disagree), disagree

    for n in invalid_for_one:
        with pytest.raises(AlfNameError):
            parse_name(n)


@pytest.mark.parametrize(
    "bad",
    [
        "alf\\probe01\\pykilosort\\#2099-01-01#\\spikes.times.npy",
        "alf/probe01\\spikes.times.npy",
        "spikes.times\\x.npy",
    ],
)
def test_backslashes_are_not_separators(bad):
    """A POSIX file named `alf\\probe01\\...` at the root must not stand in for another collection."""
    with pytest.raises(AlfNameError, match="backslash"):
        parse_rel_path(bad)


def test_windows_paths_are_parsed_as_paths():
    from pathlib import PureWindowsPath

    rel = parse_rel_path(PureWindowsPath("alf\\probe01\\#2099-01-01#\\spikes.times.npy"))
    assert (rel.collection, rel.revision, rel.name.object) == ("alf/probe01", "2099-01-01", "spikes")


def test_backslash_root_file_is_not_a_dataset_of_the_probe(tmp_path):
    """Issue 14 item 8: the root file is ignored, the probe's spike times are the real ones."""
    import numpy as np

    from neo_alf.session import AlfSession

    probe = tmp_path / "alf" / "probe01"
    probe.mkdir(parents=True)
    np.save(probe / "spikes.times.npy", np.arange(3.0))
    np.save(tmp_path / "alf\\probe01\\#2099-01-01#\\spikes.times.npy", np.full(5, 99.0))
    session = AlfSession(tmp_path)
    np.testing.assert_array_equal(session.load_object("spikes", "alf/probe01")["times"], np.arange(3.0))
    assert "alf\\probe01\\#2099-01-01#\\spikes.times.npy" in session.ignored
    assert session.revisions == []
