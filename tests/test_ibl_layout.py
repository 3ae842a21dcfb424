"""Sessions laid out as IBL publishes them (2024 and 2020 layouts, every real name of ONE-api's
datasets fixture): read whole by every layer, and ``load_object`` against ONE-api's own."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from neo.test.rawiotest import rawio_compliance
from one.alf import io as one_io

import neo_alf
from neo_alf import AlfIO, AlfRawIO, AlfSession
from neo_alf.errors import AlfWarning
from neo_alf.testing_ibl import make_ibl_session

from .conftest import RAWIO_COMPLIANCE

COMPLIANCE = RAWIO_COMPLIANCE

# Deliberate differences from ONE-api's one.alf.io.load_object, each with its reason (docs/one.rst):
DIFFERENCES = {
    "extra parts": "ONE keys a file with extra parts `times.probe00`; neo-alf reads the extra part as a "
    "part of the dataset `times` (ALF's multi-part rule)",
    "tables": "text tables (csv/tsv/ssv) and parquet attributes are DataFrames in ONE, structured "
    "arrays here",
    "yaml": "ONE-api parses .yaml with PyYAML; neo-alf adds no dependency for it and returns the path",
    "ssv": "neo-alf splits .ssv lines on runs of white space; pandas (ONE-api) on each space, so a "
    "trailing space gives ONE an extra, empty `Unnamed: k` column",
}
NOT_PARSED_HERE = (".yaml",)


@pytest.fixture(scope="module", params=["2024", "2020"])
def ibl(request, tmp_path_factory):
    return make_ibl_session(tmp_path_factory.mktemp(f"ibl{request.param}"), request.param)


def test_nothing_to_warn_about_and_validate_is_clean(ibl):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)
        reader = AlfRawIO(ibl.path)
        reader.parse_header()
    assert reader.problems == []
    notes = []
    assert AlfSession(ibl.path).validate(notes) == []
    not_read = {n.split(":")[0] for n in notes}
    assert not_read >= {r for r in ibl.not_read if not r.startswith("raw_ephys_data")}


def test_every_compliance_function(ibl, monkeypatch):
    reader = AlfRawIO(ibl.path)
    reader.parse_header()
    rates = [reader.get_signal_sampling_rate(i) for i in range(reader.signal_streams_count())]
    assert min(rates) < 2  # IBL's RMS QC signals: one sample every ~2.2 s
    # Neo's read_analogsignals reads int(0.5 s * rate) samples in chunks and fails on an empty read
    # below 2 Hz (neo/test/rawiotest/rawio_compliance.py: "need at least one array to concatenate"):
    # for that check only, slow streams report 2 Hz, so that it reads one sample in chunks.
    real_rate = reader.get_signal_sampling_rate
    for check in COMPLIANCE:
        if check == "read_analogsignals":
            monkeypatch.setattr(
                reader, "get_signal_sampling_rate", lambda stream_index: max(real_rate(stream_index), 2.0)
            )
        getattr(rawio_compliance, check)(reader)
        monkeypatch.undo()


def test_eager_and_lazy_blocks_read_whole(ibl):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlfWarning)
        block = AlfIO(ibl.path).read_block()
        lazy = AlfIO(ibl.path).read_block(lazy=True)
    seg, lseg = block.segments[0], lazy.segments[0]
    signals = [*lseg.analogsignals, *lseg.irregularlysampledsignals]
    for proxy in [*signals, *lseg.spiketrains, *lseg.events, *lseg.epochs]:
        proxy.load()
    n_units = sum(s.n_clusters for key, s in ibl.sortings.items() if "#" not in key)  # newest revision
    assert len(seg.spiketrains) == n_units
    trials = next(e for e in seg.epochs if e.name.endswith("trials.intervals"))
    truth = next(iter(ibl.trials.values()))
    np.testing.assert_array_equal(trials.times.magnitude, truth["intervals"][:, 0])
    for column in ("choice", "contrastLeft", "feedbackType"):
        np.testing.assert_array_equal(trials.array_annotations[column], truth[column])
    stim = next(e for e in seg.events if e.name.endswith("trials.stimOn_times"))
    finite = np.isfinite(truth["stimOn_times"])
    np.testing.assert_array_equal(stim.times.magnitude, truth["stimOn_times"][finite])
    assert seg.t_start == 0 and block.rec_datetime is not None


def _ours_vs_one(ours, theirs, key):
    if isinstance(theirs, pd.DataFrame):
        assert isinstance(ours, np.ndarray), key
        for j, column in enumerate(theirs.columns):
            if ours.dtype.names and column not in ours.dtype.names and str(column).startswith("Unnamed"):
                assert theirs[column].isna().all(), key  # DIFFERENCES["ssv"]: an empty column
                continue
            mine = ours[column] if ours.dtype.names else (ours[:, j] if ours.ndim == 2 else ours)
            values = theirs[column].to_numpy()
            if values.dtype == object:
                values = values.astype(str)
            np.testing.assert_array_equal(mine, values, err_msg=key)
    elif isinstance(theirs, pd.Series):
        np.testing.assert_array_equal(np.asarray(ours).reshape(-1), theirs.to_numpy(), err_msg=key)
    elif hasattr(theirs, "files") and hasattr(theirs, "__getitem__"):  # an NpzFile
        assert sorted(ours) == sorted(theirs.files), key
        for name in theirs.files:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=key)
    elif isinstance(theirs, Path | os.PathLike):
        assert Path(ours) == Path(theirs), key
    elif isinstance(theirs, np.ndarray):
        np.testing.assert_array_equal(np.asarray(ours).reshape(theirs.shape), theirs, err_msg=key)
    elif theirs is None:
        assert ours is None, key
    else:
        assert ours == theirs or np.array_equal(np.asarray(ours), np.asarray(theirs)), key


def test_load_object_equals_one_api(ibl):
    session = AlfSession(ibl.path)
    compared = 0
    one_fails: list[str] = []
    for obj in session.objects:
        folder = ibl.path / obj.collection
        revisions = {d.revision for d in obj.datasets.values()}
        if revisions != {None}:
            continue  # ONE-api's load_object reads one folder (revisions: tests/test_one_parity.py)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = neo_alf.load_object(ibl.path, obj.name, collection=obj.collection)
            try:
                theirs = one_io.load_object(folder, obj.name)
            except AttributeError:  # ONE-api 3.6.1 reads a shape from an .mp4 path (2020 raw video)
                assert obj.collection == "raw_video_data", obj
                one_fails.append(obj.name)
                continue
        their_keys = {k.split(".")[0] for k in theirs if not k.endswith("metadata")}
        assert set(ours) >= their_keys - {"timestamps"}, (obj, set(ours), their_keys)
        for key, value in theirs.items():
            short = key.split(".")[0]
            if key.endswith("metadata") or short not in ours:
                continue
            if short == "timestamps" and np.ndim(value) == 1 and np.ndim(ours[short]) == 2:
                continue  # ONE expands 2-column sync timestamps to per-sample times (see docs/one.rst)
            if isinstance(ours[short], Path) and ours[short].suffix in NOT_PARSED_HERE:
                continue  # DIFFERENCES["yaml"]
            _ours_vs_one(ours[short], value, f"{obj.collection}/{obj.name}.{key}")
            compared += 1
    assert compared > 50
    assert len(one_fails) <= 3  # the three cameras of the 2020 raw video, where ONE-api itself fails


def test_cli_validate_and_info(ibl):
    run = [sys.executable, "-m", "neo_alf.cli"]
    validate = subprocess.run([*run, "validate", str(ibl.path)], capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "not read" in validate.stdout
    info = subprocess.run([*run, "info", str(ibl.path)], capture_output=True, text=True, timeout=300)
    assert info.returncode == 0 and "SpikeTrains" in info.stdout, info.stderr
