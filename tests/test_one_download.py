"""Downloads from an ALF file server that the tests start on 127.0.0.1, faults included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neo_alf.errors import AlfDownloadError, AlfHashError, AlfNotFoundError, AlfPathError, AlfWarning
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
    httpd, root, url = server
    source, eid, cache = publish(tmp_path, root)
    one = _adapter(cache, url)
    assert not one.eid2path(eid).exists()  # nothing local: the values below can only come from the server
    licks = one.load_object(eid, "licks")
    assert len(httpd.requests) == 2 and all("licks.times" in r for r in httpd.requests)
    expected = np.concatenate([np.load(source.path / f"alf/licks.times.part00{i}.npy") for i in (1, 2)])
    np.testing.assert_array_equal(licks.times, expected)


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


# ----------------------------------------------------------------------------- only what is asked


def _fetched_names(httpd) -> list[str]:
    import re
    import urllib.parse

    names = [urllib.parse.unquote(r).rsplit("/", 1)[-1] for r in httpd.requests]
    return [re.sub(r"\.[0-9a-f]{8}-[0-9a-f-]{27}(?=\.\w+$)", "", n) for n in names]


def test_load_object_requests_only_the_objects_files(tmp_path, server):
    httpd, root, url = server
    source, eid, cache = publish(tmp_path, root)
    licks = _adapter(cache, url).load_object(eid, "licks")
    assert sorted(_fetched_names(httpd)) == ["licks.times.part001.npy", "licks.times.part002.npy"]
    local = cache / "cortexlab/Subjects/KS023/2024-03-15/001"
    on_disk = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert on_disk == ["alf/licks.times.part001.npy", "alf/licks.times.part002.npy"]
    assert licks.times.size == source.truth["licks"]["n"]
    assert (
        licks.times[0] == source.truth["licks"]["first"] and licks.times[-1] == source.truth["licks"]["last"]
    )


def test_load_dataset_fetches_one_file_and_its_metadata(tmp_path, server):
    httpd, root, url = server
    source, eid, cache = publish(tmp_path, root)
    one = _adapter(cache, url)
    xy = one.load_dataset(eid, "alf/headTracking.xyPos.tsv", as_stored=True)
    assert sorted(_fetched_names(httpd)) == ["headTracking.xyPos.metadata.json", "headTracking.xyPos.tsv"]
    assert xy.shape == (source.truth["head_tracking"]["n"], 2)
    httpd.requests.clear()
    times = one.load_dataset(eid, "spikes.times.npy", collection="alf/probe00/pykilosort")
    assert _fetched_names(httpd) == ["spikes.times.npy"]  # the newest revision only
    assert "%232024-05-06%23" in httpd.requests[0]
    assert times[0] != source.truth["probes"]["alf/probe00/pykilosort"]["unrevised_first_spike"]


def test_io_leaves_raw_data_unless_asked(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    one = _adapter(cache, url)
    one.io(eid, collections=["alf"])
    assert {r.split("/001/", 1)[1].split("/")[0] for r in httpd.requests} == {"alf"}
    assert not any("probe00" in r for r in httpd.requests)
    one.io(eid)
    assert not any("raw_ephys_data" in r for r in httpd.requests)
    fetched = one.download(eid, datasets=["lfp.raw"])
    assert sorted(p.name for p in fetched) == ["lfp.raw.bin", "lfp.raw.metadata.json"]


def test_exists_false_rows_are_never_fetched_or_counted(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root, exists_override={"alf/licks.times.part002.npy": False})
    one = _adapter(cache, url)
    assert "alf/licks.times.part002.npy" not in one.list_datasets(eid)
    one.download(eid, collection="alf")
    assert "licks.times.part002.npy" not in _fetched_names(httpd)


def test_verify_fetches_a_file_whose_md5_differs(tmp_path, server):
    _, root, url = server
    source, eid, cache = publish(tmp_path, root)
    one = _adapter(cache, url)
    one.download(eid, collection="alf")
    victim = cache / "cortexlab/Subjects/KS023/2024-03-15/001/alf/_ibl_trials.choice.npy"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    victim.write_bytes(bytes(data))
    assert one.download(eid, collection="alf") == []  # by size it looks present
    assert one.download(eid, collection="alf", verify=True) == [victim]
    assert victim.read_bytes() == (source.path / "alf/_ibl_trials.choice.npy").read_bytes()


# ------------------------------------------------------------------------ hostile tables (14.1, 14.8)


@pytest.mark.parametrize(
    "field, value",
    [
        ("subject", "../../../x"),
        ("lab", "/tmp/evil"),
        ("lab", ".."),
        ("subject", "a\\b"),
        ("date", "2024-13-45"),
        ("number", -1),
        ("number", "1/../../x"),
    ],
)
def test_session_fields_are_checked_before_any_path(tmp_path, server, field, value):
    _, root, url = server
    _, eid, cache = publish(tmp_path, root, session_override={field: value})
    with pytest.warns(AlfWarning, match=field):
        one = _adapter(cache, url)
    assert eid not in one.index.sessions
    with pytest.raises(AlfNotFoundError):
        one.download(eid)
    assert not list(tmp_path.rglob("x")) and not Path("/tmp/evil").exists()


def test_backslash_rel_path_is_refused(tmp_path, server):
    _, root, url = server
    bad = "alf\\probe01\\pykilosort\\#2099-01-01#\\spikes.times.npy"
    _, eid, cache = publish(tmp_path, root, {"alf/_ibl_trials.choice.npy": bad})
    with pytest.raises(AlfPathError, match="backslash"):
        _adapter(cache, url).download(eid)
    assert not [p for p in cache.rglob("*") if "\\" in p.name]


def test_non_numeric_table_fields_are_left_out_with_a_warning(tmp_path, server):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    _, root, url = server
    _, eid, cache = publish(tmp_path, root)
    table = pq.read_table(cache / "datasets.pqt").to_pydict()
    table["file_size"] = [str(v) if i else "lots" for i, v in enumerate(table["file_size"])]
    pq.write_table(pa.table(table), cache / "datasets.pqt")
    with pytest.warns(AlfWarning, match="1 dataset row"):
        one = _adapter(cache, url)
    assert len(one.list_datasets(eid)) == len(table["rel_path"]) - 1


# ---------------------------------------------------------------------------- hostile servers (14.7)


def _one_file_job(tmp_path, url, name="alf/_ibl_trials.choice.npy", **kw):
    from neo_alf.one.download import DownloadJob

    data = (tmp_path / "source" / "cortexlab/Subjects/KS023/2024-03-15/001" / name).read_bytes()
    served = tmp_path / "server" / "x" / name
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(data)
    return data, DownloadJob(f"{url}/x/{name}", tmp_path / "out" / name, len(data), None)


def test_trickling_server_hits_the_overall_deadline(tmp_path, server):
    import time

    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("trickle", 0.05)] * 5
    _, job = _one_file_job(tmp_path, url)
    job = job.__class__(job.url, job.target, 10**6, None)
    start = time.monotonic()
    with pytest.raises(AlfDownloadError, match="deadline"):
        Downloader(retries=0, timeout=5, deadline=1.0, progress=False).fetch_all([job])
    assert time.monotonic() - start < 3.0
    assert not job.target.exists() and _leftovers(tmp_path / "out") == []


def test_trickled_headers_hit_the_overall_deadline(tmp_path, server):
    import time

    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("slowheaders", 0.05)] * 5
    _, job = _one_file_job(tmp_path, url)
    start = time.monotonic()
    with pytest.raises(AlfDownloadError, match="deadline passed while waiting"):
        Downloader(retries=0, timeout=5, deadline=1.0, progress=False).fetch_all([job])
    assert time.monotonic() - start < 3.0
    assert not job.target.exists() and _leftovers(tmp_path / "out") == []


def test_body_larger_than_the_table_stops_while_streaming(tmp_path, server):
    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("big", 64 << 20)]
    data, job = _one_file_job(tmp_path, url)
    with pytest.raises(AlfHashError, match=f"exceeds the {len(data)} bytes"):
        Downloader(retries=0, timeout=5, progress=False).fetch_all([job])
    assert _leftovers(tmp_path / "out") == [] and not job.target.exists()


def test_gzip_bomb_is_refused_and_not_retried(tmp_path, server):
    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("bomb", 128 << 20)] * 3
    _, job = _one_file_job(tmp_path, url)
    with pytest.raises(AlfHashError, match="exceeds"):
        Downloader(retries=2, backoff=0.01, timeout=5, progress=False).fetch_all([job])
    assert sum("_ibl_trials.choice" in r for r in httpd.requests) == 1
    assert "identity" in httpd.accept_encoding[-1]


def test_gzip_encoded_body_of_the_right_size_is_decoded(tmp_path, server):
    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("gzip", None)]
    data, job = _one_file_job(tmp_path, url)
    Downloader(retries=0, timeout=5, progress=False).fetch_all([job])
    assert job.target.read_bytes() == data


@pytest.mark.parametrize(
    "fault, message",
    [
        (("badgzip", None), "bad gzip"),
        (("redirect", "file:///etc/passwd"), "non-http"),
        (("redirect", "ftp://127.0.0.1/x"), "non-http"),
        (("redirect", "http://example.invalid/x"), "another host"),
        (("two-lengths", None), "Content-Length"),
    ],
)
def test_hostile_answers_are_download_errors_naming_the_url(tmp_path, server, fault, message):
    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [fault] * 3
    _, job = _one_file_job(tmp_path, url)
    with pytest.raises(AlfDownloadError, match=message) as err:
        Downloader(retries=0, timeout=5, progress=False).fetch_all([job])
    assert "_ibl_trials.choice" in str(err.value)
    assert _leftovers(tmp_path / "out") == [] and not job.target.exists()


def test_redirect_loop_is_bounded(tmp_path, server):
    httpd, root, url = server
    publish(tmp_path, root)
    httpd.plan["_ibl_trials.choice.npy"] = [("redirect", "/x/alf/_ibl_trials.choice.npy")] * 20
    _, job = _one_file_job(tmp_path, url)
    with pytest.raises(AlfDownloadError, match="redirects"):
        Downloader(retries=0, timeout=5, progress=False).fetch_all([job])
    assert len(httpd.requests) <= 7


def test_same_host_redirect_is_followed(tmp_path, server):
    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    real = next(r for r in root.rglob("_ibl_trials.choice.*.npy"))
    httpd.plan["_ibl_trials.choice.npy"] = [("redirect", "/" + real.relative_to(root).as_posix())]
    fetched = _adapter(cache, url).download(eid, datasets="_ibl_trials.choice")
    assert [p.name for p in fetched] == ["_ibl_trials.choice.npy"]


def test_long_file_names_use_short_temporary_names(tmp_path, server):
    _, root, url = server
    long_name = "a" * 240 + ".times.npy"  # 250 bytes: a `.part` suffix would pass 255
    (root / "f").mkdir()
    data = b"\x93NUMPY" + b"0" * 100
    (root / "f" / long_name).write_bytes(data)
    from neo_alf.one.download import DownloadJob

    job = DownloadJob(f"{url}/f/{long_name}", tmp_path / "out" / long_name, len(data), None)
    Downloader(retries=0, timeout=5, progress=False).fetch_all([job])
    assert job.target.read_bytes() == data


def test_directory_at_the_target_is_a_download_error(tmp_path, server):
    _, root, url = server
    publish(tmp_path, root)
    _, job = _one_file_job(tmp_path, url)
    job.target.mkdir(parents=True)
    with pytest.raises(AlfDownloadError, match="not a regular file"):
        Downloader(retries=0, timeout=5, progress=False).fetch_all([job])


def test_refusing_server_fails_fast_and_reports_every_file(tmp_path):
    import socket
    import time

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: connections are refused
    from neo_alf.one.download import DownloadJob

    jobs = [DownloadJob(f"http://127.0.0.1:{port}/f{i}.npy", tmp_path / f"f{i}.npy", 10) for i in range(12)]
    start = time.monotonic()
    with pytest.raises(AlfDownloadError, match="12 of 12 files failed") as err:
        Downloader(progress=False, max_workers=4).fetch_all(jobs)
    assert time.monotonic() - start < 5.0
    assert len(err.value.failures) == 12 and err.value.fetched == []


def test_ambiguous_dataset_name_fetches_nothing(tmp_path, server):
    from neo_alf.errors import AlfAmbiguousError

    httpd, root, url = server
    _, eid, cache = publish(tmp_path, root)
    with pytest.raises(AlfAmbiguousError, match=r"alf/probe00/pykilosort: spikes\.times"):
        _adapter(cache, url).load_dataset(eid, "spikes.times")
    with pytest.raises(AlfAmbiguousError, match="several collections"):
        _adapter(cache, url).load_object(eid, "spikes")
    assert httpd.requests == []
