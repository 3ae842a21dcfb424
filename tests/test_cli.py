"""The ``neo-alf`` command, every subcommand run in a subprocess as a user would."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neo_alf.one import session_eid
from neo_alf.testing import make_session

from .alf_server import publish


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every call: the example goes to a private cache, not the user's home."""
    cache = tmp_path_factory.mktemp("neo_alf_cache")
    return {**os.environ, "NEO_ALF_CACHE": str(cache)}


def run(env, *args, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("neo-alf", path=os.path.dirname(sys.executable))
    command = [exe] if exe else [sys.executable, "-m", "neo_alf.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_console_script_is_installed():
    assert shutil.which("neo-alf", path=os.path.dirname(sys.executable)), "pip install . installs `neo-alf`"


def test_info_example(env):
    out = run(env, "info", "--example")
    assert out.returncode == 0, out.stderr
    assert "session      cortexlab/Subjects/KS023/2024-03-15/001" in out.stdout
    assert "12 SpikeTrains from alf/probe00/pykilosort" in out.stdout
    assert "AnalogSignal raw_ephys_data/probe00/lfp: 4 channels at 1000 Hz, uV" in out.stdout
    assert "IrregularlySampledSignal alf/wheel" in out.stdout
    assert "2 Epochs: alf/trials.intervals, alf/wheelMoves.intervals" in out.stdout
    assert "trials           intervals" in out.stdout


def test_info_json(env):
    out = run(env, "info", "--example", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["neo"]["spiketrains"] == {"alf/probe00/pykilosort": 12, "alf/probe01/pykilosort": 12}
    assert info["revision"] == "2024-05-06"
    kinds = {(o["collection"], o["object"]): o["kind"] for o in info["objects"]}
    assert kinds[("alf", "wheel")] == "continuous" and kinds[("alf", "licks")] == "events"
    assert info["time_span_s"][0] < info["time_span_s"][1]


def test_info_by_eid(env, tmp_path):
    make_session(tmp_path, "no_spike_clusters")
    eid = session_eid("cortexlab", "KS023", "2024-03-15", 1)
    out = run(env, "info", eid, "--cache-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["neo"]["spiketrains"] == {"alf/probe00/pykilosort": 1}


def test_validate(env, tmp_path):
    ok = run(env, "validate", "--example")
    assert ok.returncode == 0 and "valid" in ok.stdout
    gen = make_session(tmp_path, "tiny")
    np.save(gen.path / "alf/_ibl_trials.choice.npy", np.zeros(3))
    np.save(gen.path / "alf/_ibl_wheelMoves.intervals.npy", np.zeros((20, 3)))
    bad = run(env, "validate", str(gen.path))
    assert bad.returncode == 1
    assert "alf/_ibl_trials.choice.npy" in bad.stdout and "AlfDimensionError" in bad.stdout
    assert "intervals have two columns" in bad.stdout
    assert "rule(s) broken" in bad.stdout


def test_search(env, tmp_path):
    make_session(tmp_path, "no_spike_clusters", subject="ZM_1")
    make_session(tmp_path, "no_spike_clusters", subject="ZM_1743")
    out = run(env, "search", "--cache-dir", str(tmp_path), "--subject", "ZM_1", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["session"] for r in rows] == ["cortexlab/Subjects/ZM_1/2024-03-15/001"]
    both = run(env, "search", "--cache-dir", str(tmp_path), "--dataset", "spikes.times")
    assert both.returncode == 0 and len(both.stdout.splitlines()) == 2


def test_download(env, tmp_path, server):
    _, root, url = server
    _, eid, cache = publish(tmp_path, root)
    out = run(env, "download", eid, "--cache-dir", str(cache), "--base-url", url, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "file(s) fetched" in out.stdout
    assert (cache / "cortexlab/Subjects/KS023/2024-03-15/001/alf/_ibl_trials.intervals.npy").is_file()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot(env, tmp_path):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "overview.png"
    out = run(env, "plot", "--example", "--out", str(out_png))
    assert out.returncode == 0, out.stderr
    assert out_png.stat().st_size > 20_000
    assert _png_size(out_png) == (1200, 800)


def test_convert_to_nix(env, tmp_path):
    pytest.importorskip("nixio")
    from neo.io import NixIO

    target = tmp_path / "example.nix"
    out = run(env, "convert", "--example", str(target))
    assert out.returncode == 0, out.stderr
    with NixIO(str(target), mode="ro") as reader:
        block = reader.read_block()
    seg = block.segments[0]
    assert len(seg.spiketrains) == 24 and len(seg.epochs) == 2 and len(seg.irregularlysampledsignals) == 1
    st = next(
        s
        for s in seg.spiketrains
        if s.annotations["cluster_id"] == 3 and "probe00" in s.annotations["collection"]
    )
    assert "amps" in st.array_annotations and st.annotations["cluster_depths"] > 0


def test_errors_are_one_line_with_exit_code_2(env, tmp_path):
    out = run(env, "info", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert out.stderr.startswith("neo-alf: error:") and "nowhere" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    (tmp_path / "bad").mkdir()
    np.save(tmp_path / "bad/spikes.times.npy", np.arange(3.0))
    np.save(tmp_path / "bad/spikes.clusters.npy", np.array([0, 1, 9]))
    np.save(tmp_path / "bad/clusters.depths.npy", np.zeros(2))
    bad = run(env, "info", str(tmp_path / "bad"))  # tolerant: the spikes are left out, named
    assert bad.returncode == 0 and "spikes.clusters.npy" in bad.stderr and "rule:" in bad.stderr
    wrong = run(env, "convert", "--example", str(tmp_path / "x.mat"))
    assert wrong.returncode == 2 and ".nix" in wrong.stderr


def test_runs_outside_the_source_tree(env, tmp_path):
    out = run(env, "info", "--example", cwd=tmp_path)
    assert out.returncode == 0 and "SpikeTrains" in out.stdout


# ------------------------------------------------------------------------------- issue 18 points


def test_version(env):
    import neo_alf

    out = run(env, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"neo-alf {neo_alf.__version__}"


def test_closed_pipe_ends_quietly(env):
    run(env, "info", "--example")  # the example exists: the next call prints at once
    command = [sys.executable, "-m", "neo_alf.cli", "info", "--example", "--json"]
    shell = subprocess.run(
        ["bash", "-o", "pipefail", "-c", " ".join(command) + " | head -5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert len(shell.stdout.splitlines()) == 5 and shell.stderr == ""
    # the reader closes its end before anything is written: every write meets a closed pipe
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1
    assert stderr == "", stderr


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A ONE cache folder holding one small session, and its eid."""
    root = tmp_path_factory.mktemp("cache")
    gen = make_session(root, "tiny")
    return root, session_eid("cortexlab", "KS023", "2024-03-15", 1), gen


def test_validate_plot_convert_take_an_eid(env, cached, tmp_path, capsys):
    root, eid, gen = cached
    ok = run(env, "validate", eid, "--cache-dir", str(root))
    assert ok.returncode == 0 and f"{gen.path}: valid" in ok.stdout
    missing = run(env, "validate", eid)
    assert missing.returncode == 2 and "pass --cache-dir" in missing.stderr
    # the same resolver in process (faster than a subprocess per command)
    from neo_alf import cli

    pytest.importorskip("nixio")
    from neo.io import NixIO

    target = tmp_path / "tiny.nix"
    assert cli.main(["convert", eid, "--cache-dir", str(root), str(target)]) == 0
    with NixIO(str(target), mode="ro") as reader:
        seg = reader.read_block().segments[0]
    n_units = sum(p["n_clusters"] for p in gen.truth["probes"].values())
    assert len(seg.spiketrains) == n_units
    pytest.importorskip("matplotlib")
    png = tmp_path / "tiny.png"
    assert cli.main(["plot", eid, "--cache-dir", str(root), "--out", str(png)]) == 0
    assert _png_size(png) == (1200, 800)
    assert cli.main(["plot", eid, "--out", str(png)]) == 2
    assert "pass --cache-dir to resolve an eid" in capsys.readouterr().err


def test_convert_refuses_to_overwrite_and_names_a_missing_folder(env, cached, tmp_path, capsys):
    pytest.importorskip("nixio")
    from neo.io import NixIO

    from neo_alf import cli

    path = str(cached[2].path)
    target = tmp_path / "out.nix"
    target.write_bytes(b"precious")
    refused = run(env, "convert", path, str(target))  # one run as a user would: exit code, one line
    assert refused.returncode == 2 and "--overwrite" in refused.stderr and "exists" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert target.read_bytes() == b"precious"
    assert cli.main(["convert", path, str(target), "--overwrite"]) == 0
    with NixIO(str(target), mode="ro") as reader:
        assert len(reader.read_block().segments[0].spiketrains) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nix"]  # no temporary file left
    nowhere = tmp_path / "no" / "such" / "out.nix"
    capsys.readouterr()
    assert cli.main(["convert", path, str(nowhere)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"neo-alf: error: {nowhere.parent}: no such folder (convert writes into an existing folder)"
    assert cli.main(["convert", "--example", path, str(target)]) == 2  # --example and a session: which?
    assert "give a session" in capsys.readouterr().err


def test_validate_prints_each_error_once_and_notes_apart(cached, monkeypatch, capsys):
    """In process: the session model's duplicates and its ``unread`` list, as the CLI shows them."""
    from neo_alf import cli, session
    from neo_alf.errors import AlfDimensionError

    path = cached[2].path
    bad = path / "alf/_ibl_trials.choice.npy"

    def twice(self, notes=None):
        return [AlfDimensionError("3 rows, not 8", [bad], rule="same rows") for _ in range(2)]

    monkeypatch.setattr(session.AlfSession, "validate", twice)
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count("3 rows, not 8") == 1 and "1 rule(s) broken in 1 place(s)" in out

    def only_notes(self, notes=None):
        notes.append("alf/_ibl_leftCamera.raw.mp4: not read by neo-alf (no reader for this file type)")
        return []

    monkeypatch.setattr(session.AlfSession, "validate", only_notes)
    assert cli.main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 note(s), not errors" in out and "alf/_ibl_leftCamera.raw.mp4" in out
    assert "valid (no ALF rule broken)" in out


def test_strict_reaches_the_readers(cached, monkeypatch, tmp_path, capsys):
    """``--strict`` passes ``strict=True`` to AlfRawIO / AlfIO; without it, no keyword at all."""
    from neo_alf import io, rawio

    seen = []

    def recording(cls):
        class Recording(cls):
            def __init__(self, *args, **kwargs):
                seen.append((cls.__name__, kwargs.pop("strict", None)))
                super().__init__(*args, **kwargs)

        return Recording

    monkeypatch.setattr(rawio, "AlfRawIO", recording(rawio.AlfRawIO))
    monkeypatch.setattr(io, "AlfIO", recording(io.AlfIO))
    from neo_alf import cli

    path = str(cached[2].path)
    assert cli.main(["info", path, "--json"]) == 0
    assert cli.main(["info", path, "--json", "--strict"]) == 0
    assert seen == [("AlfRawIO", None), ("AlfRawIO", True)]
    seen.clear()
    pytest.importorskip("matplotlib")
    assert cli.main(["plot", path, "--out", str(tmp_path / "o.png"), "--strict"]) == 0
    assert seen and all(s == ("AlfIO", True) for s in seen)
    capsys.readouterr()


def test_overview_spikes_at_their_own_depths_root_collection_too(tmp_path):
    """The overview's rasters: every spike at ``spikes.depths`` (not its cluster's depth), and
    spikes stored at the session root (collection ``""``) found as a probe panel."""
    pytest.importorskip("matplotlib")
    from neo_alf import AlfIO
    from neo_alf.plot import plot_overview, raster_points, spike_groups

    gen = make_session(tmp_path, "only_spikes", n_probes=1)
    folder = gen.path / "alf/probe00/pykilosort"
    for f in list(folder.iterdir()):
        f.rename(gen.path / f.name)  # the sorting's files at the session root
    shutil.rmtree(gen.path / "alf")
    block = AlfIO(gen.path).read_block(lazy=True)
    (group,) = spike_groups(block)
    assert group.annotations["collection"] == ""
    t, d = raster_points(group)
    times, depths = np.load(gen.path / "spikes.times.npy"), np.load(gen.path / "spikes.depths.npy")
    order, expect = np.lexsort((d, t)), np.lexsort((depths, times))
    np.testing.assert_array_equal(t[order], times[expect])
    np.testing.assert_allclose(d[order], depths[expect])  # per spike: many depths per cluster
    clusters = np.load(gen.path / "spikes.clusters.npy")
    assert np.unique(depths).size > np.unique(clusters).size
    out = plot_overview(gen.path, tmp_path / "root.png")
    assert _png_size(out) == (1200, 800)


def test_overview_labels(env, tmp_path, monkeypatch):
    """Wheel in radians, LFP channel names on the axis and a scale bar, trial-start legend per panel."""
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    from neo_alf.plot import plot_overview

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: saved.append(self))
    monkeypatch.setenv("NEO_ALF_CACHE", env["NEO_ALF_CACHE"])
    from neo_alf.example import example_session

    plot_overview(example_session(), tmp_path / "o.png")
    (fig,) = saved
    probe0, _, wheel, lfp = fig.axes
    assert wheel.get_ylabel() == "wheel position (rad)"
    assert [t.get_text() for t in lfp.get_yticklabels()] == ["ch0", "ch1", "ch2", "ch3"]
    assert any(t.get_text().strip() == "100 uV" or t.get_text().strip().endswith(" uV") for t in lfp.texts)
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trial start"]
    assert probe0.get_ylabel() == "depth (um)" and "alf/probe00/pykilosort" in probe0.get_title(loc="left")


@pytest.mark.parametrize("command", ["info", "validate", "plot", "convert"])
def test_help_of_session_commands(command, capsys):
    from neo_alf import cli

    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--cache-dir" in text and "eid" in text.lower() and "--example" in text
    assert ("--strict" in text) == (command != "validate")
    assert ("--overwrite" in text) == (command == "convert")
