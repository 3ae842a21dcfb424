"""``neo-alf search`` and ``neo-alf download``: dates, hints, help, failures reported in full."""

from __future__ import annotations

import json
import socket
import time

import pytest

from neo_alf.cli import main
from neo_alf.testing import make_session

pytest.importorskip("pyarrow")
from .alf_server import publish, publish_cache


def _run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tree")
    make_session(root, "no_spike_clusters", subject="ZM_1", date="2024-03-15")
    make_session(root, "no_spike_clusters", subject="ZM_1743", date="2024-03-16")
    return root


@pytest.mark.parametrize(
    "dates, message",
    [
        (["2024-03-01", "2024-03-02", "2024-03-03"], "one day or first and last"),
        (["2024-03-20", "2024-03-01"], "reversed"),
        (["2024-3-15"], "yyyy-mm-dd"),
    ],
)
def test_search_date_mistakes_are_named(capsys, tree, dates, message):
    code, _, err = _run(capsys, "search", "--cache-dir", str(tree), "--date", *dates)
    assert code == 2 and message in err and "Traceback" not in err


def test_search_dates_and_lists(capsys, tree):
    code, out, _ = _run(capsys, "search", "--cache-dir", str(tree), "--date", "2024-03-16", "--json")
    assert code == 0 and [r["session"] for r in json.loads(out)] == [
        "cortexlab/Subjects/ZM_1743/2024-03-16/001"
    ]
    code, out, _ = _run(
        capsys, "search", "--cache-dir", str(tree), "--subject", "ZM_1", "--subject", "ZM_1743"
    )
    assert code == 0 and len(out.splitlines()) == 2
    assert out.splitlines()[0].endswith("ZM_1743/2024-03-16/001")  # newest first


def test_search_a_session_folder_or_an_empty_folder(capsys, tree, tmp_path):
    session = tree / "cortexlab/Subjects/ZM_1/2024-03-15/001"
    code, out, err = _run(capsys, "search", "--cache-dir", str(session), "--json")
    assert code == 0 and [r["session"] for r in json.loads(out)] == ["."]
    code, out, err = _run(capsys, "search", "--cache-dir", str(tmp_path))
    assert code == 0 and "0 session(s)" in err and "hint:" in err and "sessions.pqt" in err


def test_download_help_explains_every_argument(capsys):
    with pytest.raises(SystemExit):
        main(["download", "--help"])
    text = capsys.readouterr().out
    for needle in [
        "eid",
        "experiment reference",
        "--cache-dir",
        "ONE cache folder",
        "--base-url",
        "file server",
    ]:
        assert needle in text


def test_download_against_a_refusing_server(capsys, tmp_path, server):
    _, root, _ = server
    _, eid, cache = publish(tmp_path, root)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    start = time.monotonic()
    code, _out, err = _run(
        capsys, "download", eid, "--cache-dir", str(cache), "--base-url", f"http://127.0.0.1:{port}"
    )
    assert time.monotonic() - start < 10.0
    assert code == 1
    n = len(list((tmp_path / "source").rglob("*.*")))
    assert err.count("neo-alf: failed:") >= n - 1  # every file, not only the first
    assert "0 file(s) fetched" in err and "failed" in err
    assert "100%" not in err  # the bar counts files fetched


def test_download_without_tables_is_an_error(capsys, tree):
    code, _, err = _run(
        capsys, "download", "2024-03-15_1_ZM_1", "--cache-dir", str(tree), "--base-url", "http://x"
    )
    assert code == 2 and "no datasets.pqt" in err


def test_download_with_cache_url(capsys, tmp_path, server):
    _, root, url = server
    source, eid, tables = publish(tmp_path, root)
    folder = publish_cache(tables, root, "2024-06-01")
    client = tmp_path / "client"
    code, out, err = _run(
        capsys,
        "download",
        eid,
        "--cache-dir",
        str(client),
        "--cache-url",
        url + folder,
        "--base-url",
        url,
        "--collection",
        "alf",
        "--no-progress",
    )
    assert code == 0, err
    local = client / "cortexlab/Subjects/KS023/2024-03-15/001"
    assert sorted(p.name for p in (local / "alf").iterdir()) == sorted(
        p.name for p in (source.path / "alf").iterdir() if p.is_file()
    )
    assert not (local / "raw_ephys_data").exists()
    code, out, _ = _run(capsys, "search", "--cache-dir", str(client), "--cache-url", url + folder, "--json")
    assert [r["eid"] for r in json.loads(out)] == [eid]
