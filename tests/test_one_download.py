"""Downloads from an ALF file server that the tests start on 127.0.0.1, faults included."""

from __future__ import annotations

from pathlib import Path

import pytest

from neo_alf.errors import AlfDownloadError, AlfHashError, AlfPathError
from neo_alf.one import Downloader, OneAdapter
from neo_alf.testing import file_digests

pytest.importorskip("pyarrow")
from .alf_server import publish


def _adapter(cache, url, retries=2):
    return OneAdapter(
        cache, base_url=url, downloader=Downloader(retries=retries, backoff=0.01, timeout=5, progress=False)
    )


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_download_a_session(tmp_path, server):
    httpd, root, url = server
    source, eid, cache = publish(tmp_path, root)
    one = _adapter(cache, url)
    fetched = one.download(eid)
    local = one.eid2path(eid)
    assert local == cache / "cortexlab/Subjects/KS023/2024-03-15/001"
    assert len(fetched) == len(file_digests(source.path))
    assert file_digests(local) == file_digests(source.path)  # same names (UUIDs stripped), same bytes
    assert any("%23" in r for r in httpd.requests)  # the #revision# folder was URL-quoted
    assert _leftovers(cache) == []
    block = one.io(eid).read_block(lazy=True)
    assert block.annotations["eid"] == eid
    assert one.download(eid) == []  # nothing missing: nothing fetched
    victim = local / "alf/licks.times.part002.npy"
    victim.write_bytes(victim.read_bytes()[:-5])
    assert one.download(eid) == [victim]  # only the mismatching file
    assert file_digests(local) == file_digests(source.path)


def test_load_fetches_what_it_needs_first(tmp_path, server):
    _, root, url = server
    source, eid, cache = publish(tmp_path, root)
    licks = _adapter(cache, url).load_object(eid, "licks")
    assert licks["times"].size == source.truth["licks"]["n"]


def test_retry_after_503(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [503]
    fetched = _adapter(cache, url).download(eid)
    assert any(p.name == "_ibl_trials.choice.npy" for p in fetched)
    assert sum("_ibl_trials.choice." in r for r in httpd.requests) == 2


def test_dropped_connection_is_retried_then_given_up(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    httpd.plan["clusters.depths.npy"] = ["drop"]  # once: the retry succeeds
    _adapter(cache, url).download(eid)
    target = cache / "cortexlab/Subjects/KS023/2024-03-15/001/alf/probe00/pykilosort/clusters.depths.npy"
    assert target.is_file()
    target.unlink()
    httpd.plan["clusters.depths.npy"] = ["drop"] * 3  # every attempt
    with pytest.raises(AlfDownloadError, match="after 3 attempts"):
        _adapter(cache, url).download(eid)
    assert not target.exists() and _leftovers(cache) == []


def test_corrupted_file_leaves_nothing_under_its_name(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    httpd.plan["_ibl_wheel.position.npy"] = ["corrupt"]
    with pytest.raises(AlfHashError, match="md5") as err:
        _adapter(cache, url).download(eid)
    assert "_ibl_wheel.position." in str(err.value)
    assert not (cache / "cortexlab/Subjects/KS023/2024-03-15/001/alf/_ibl_wheel.position.npy").exists()
    assert _leftovers(cache) == []


def test_404(tmp_path, server):
    _, root, url = server
    _, eid, cache = publish(tmp_path, root)
    for f in root.rglob("lfp.raw.*.bin"):
        f.unlink()
    with pytest.raises(AlfDownloadError, match="404"):
        _adapter(cache, url).download(eid)


@pytest.mark.parametrize(
    "bad", ["../../../escaped.times.npy", "/tmp/escaped.times.npy", "alf/../../x.times.npy"]
)
def test_paths_leaving_the_cache_are_refused(tmp_path, server, bad):
    _, root, url = server
    _, eid, cache = publish(tmp_path, root, {"alf/_ibl_trials.choice.npy": bad})
    with pytest.raises(AlfPathError):
        _adapter(cache, url).download(eid)
    assert not list(tmp_path.rglob("escaped.times.npy")) and not list(tmp_path.rglob("x.times.npy"))


def test_without_base_url_the_cache_is_local_only(tmp_path, server):
    _, root, _ = server
    source, eid, cache = publish(tmp_path, root)
    one = OneAdapter(cache, progress=False)
    would_be = one.eid2path(eid)  # as ONE-api: the folder it will have, not there yet
    assert would_be == cache / "cortexlab/Subjects/KS023/2024-03-15/001" and not would_be.exists()
    with pytest.raises(Exception, match="no folder"):
        one.load_object(eid, "trials")
    assert one.list_datasets(eid) == sorted(file_digests(source.path))  # the table still lists them


def test_slow_server_times_out(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    httpd.plan["_ibl_trials.goCue_times.npy"] = [1.0, 1.0]
    one = OneAdapter(
        cache, base_url=url, downloader=Downloader(retries=1, backoff=0.01, timeout=0.3, progress=False)
    )
    with pytest.raises(AlfDownloadError, match="after 2 attempts"):
        one.download(eid)
    assert not list(cache.rglob("_ibl_trials.goCue_times.npy")) and _leftovers(cache) == []


def test_500_then_200(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    httpd.plan["_ibl_trials.goCue_times.npy"] = [500]
    _adapter(cache, url).download(eid)
    assert (cache / "cortexlab/Subjects/KS023/2024-03-15/001/alf/_ibl_trials.goCue_times.npy").is_file()


def test_wrong_size_in_the_table(tmp_path, server):
    _, root, url = server
    _, eid, cache = publish(tmp_path, root, size_override={"alf/licks.times.part001.npy": 7})
    with pytest.raises(AlfHashError, match="more than the 7 expected"):
        _adapter(cache, url).download(eid)
    assert not list(cache.rglob("licks.times.part001.npy")) and _leftovers(cache) == []


def test_two_processes_download_the_same_session(tmp_path, server):
    import subprocess
    import sys

    _, root, url = server
    source, eid, cache = publish(tmp_path, root)
    code = (
        "import sys; from neo_alf.one import OneAdapter, Downloader; "
        "OneAdapter(sys.argv[1], base_url=sys.argv[2], downloader=Downloader(progress=False, max_workers=8))"
        ".download(sys.argv[3]); print('done')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(cache), url, eid],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    local = cache / "cortexlab/Subjects/KS023/2024-03-15/001"
    assert file_digests(local) == file_digests(source.path)
    assert _leftovers(cache) == []
