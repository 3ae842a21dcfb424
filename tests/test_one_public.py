"""Public data without an account, end to end on loopback: cache.zip + cache_info.json -> search ->
load_object (md5-verified) -> refresh on a new date_created; hostile cache archives."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest

from neo_alf.errors import AlfDownloadError, AlfFormatError, AlfHashError
from neo_alf.one import Downloader, OneAdapter

pytest.importorskip("pyarrow")
from .alf_server import publish, publish_cache


def _downloader():
    return Downloader(retries=1, backoff=0.01, timeout=5, progress=False)


def _requests(httpd, suffix):
    return sum(r.endswith(suffix) for r in httpd.requests)


def test_anonymous_path_end_to_end(tmp_path, server):
    httpd, root, url = server
    source, eid, tables = publish(tmp_path, root)
    folder = publish_cache(tables, root, "2024-06-01T10:00:00")
    client = tmp_path / "client"  # empty: not even created
    one = OneAdapter(client, cache_url=url + folder, base_url=url, downloader=_downloader())
    assert sorted(p.name for p in client.iterdir()) == ["cache_info.json", "datasets.pqt", "sessions.pqt"]
    assert one.search(subject="KS023", datasets="_ibl_trials.intervals.npy") == [eid]
    trials = one.load_object(eid, "trials")
    np.testing.assert_array_equal(trials.intervals, source.truth["trials"]["intervals"])
    local = client / "cortexlab/Subjects/KS023/2024-03-15/001/alf"
    for f in local.iterdir():  # every file fetched matches its md5 in the published table
        assert (
            hashlib.md5(f.read_bytes()).hexdigest()
            == hashlib.md5((source.path / "alf" / f.name).read_bytes()).hexdigest()
        )
    # the same date_created: the tables are not fetched again
    assert _requests(httpd, "cache.zip") == 1
    again = OneAdapter(client, cache_url=url + folder, base_url=url, downloader=_downloader())
    assert _requests(httpd, "cache.zip") == 1 and _requests(httpd, "cache_info.json") == 2
    assert again.search() == [eid]
    # a new release: tables replaced, the adapter sees the new session
    import pyarrow as pa
    import pyarrow.parquet as pq

    sessions = pq.read_table(tables / "sessions.pqt").to_pydict()
    new_eid = "2a8d7f3c-0b6b-4c1d-9e0f-1234567890ab"
    for key, value in [
        ("id", new_eid),
        ("lab", "cortexlab"),
        ("subject", "KS024"),
        ("date", "2024-03-16"),
        ("number", 1),
        ("task_protocol", ""),
        ("projects", ""),
    ]:
        sessions[key].append(value)
    pq.write_table(pa.table(sessions), tables / "sessions.pqt")
    publish_cache(tables, root, "2024-07-01T10:00:00")
    assert again.refresh_cache() is True
    assert _requests(httpd, "cache.zip") == 2
    assert again.search() == [new_eid, eid]  # newest first
    assert again.refresh_cache() is False
    assert json.loads((client / "cache_info.json").read_text())["date_created"] == "2024-07-01T10:00:00"


def test_corrupt_file_from_the_public_server_is_refused(tmp_path, server):
    httpd, root, url = server
    _, eid, tables = publish(tmp_path, root)
    folder = publish_cache(tables, root, "2024-06-01")
    one = OneAdapter(tmp_path / "client", cache_url=url + folder, base_url=url, downloader=_downloader())
    httpd.plan["licks.times.part001.npy"] = ["corrupt", "corrupt"]
    with pytest.raises(AlfHashError, match="md5"):
        one.load_object(eid, "licks")


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_hostile_cache_archives(tmp_path, server):
    _httpd, root, url = server
    _, _, tables = publish(tmp_path, root)
    folder = root / "tables"
    folder.mkdir()
    (folder / "cache_info.json").write_text(json.dumps({"date_created": "1"}))
    real = {n: (tables / n).read_bytes() for n in ("sessions.pqt", "datasets.pqt")}
    # members with paths: only the two tables are taken, by name, into the cache folder itself
    _zip(
        folder / "cache.zip",
        {
            "../../escaped/sessions.pqt": real["sessions.pqt"],
            "/abs/datasets.pqt": real["datasets.pqt"],
            "../../evil.sh": b"x",
        },
    )
    client = tmp_path / "client"
    OneAdapter(client, cache_url=url + "/tables", downloader=_downloader())
    assert sorted(p.name for p in client.iterdir()) == ["cache_info.json", "datasets.pqt", "sessions.pqt"]
    assert not list(tmp_path.rglob("evil.sh")) and not (tmp_path / "escaped").exists()
    # a zip without both tables, a broken zip, an info without date_created
    (folder / "cache_info.json").write_text(json.dumps({"date_created": "2"}))
    _zip(folder / "cache.zip", {"sessions.pqt": real["sessions.pqt"]})
    with pytest.raises(AlfDownloadError, match=r"lacks datasets\.pqt"):
        OneAdapter(client, cache_url=url + "/tables", downloader=_downloader())
    (folder / "cache.zip").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(AlfFormatError, match="not a readable zip"):
        OneAdapter(client, cache_url=url + "/tables", downloader=_downloader())
    assert (client / "sessions.pqt").read_bytes() == real["sessions.pqt"]  # old tables kept
    assert json.loads((client / "cache_info.json").read_text())["date_created"] == "1"
    (folder / "cache_info.json").write_text("[1, 2]")
    with pytest.raises(AlfDownloadError, match="date_created"):
        OneAdapter(client, cache_url=url + "/tables", downloader=_downloader())
    assert not [p for p in client.iterdir() if p.name.startswith(".")]  # no staging left
