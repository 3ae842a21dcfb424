"""neo_alf.parallel: many sessions serially and on a 2-process Dask LocalCluster; readers through pickle."""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from neo_alf import AlfIO, AlfRawIO
from neo_alf.one import OneAdapter
from neo_alf.parallel import SessionError, is_error, map_eids, map_sessions
from neo_alf.testing import make_session

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A ONE-like cache folder of four sessions (two subjects), each with its generator's truth."""
    root = tmp_path_factory.mktemp("cache")
    sessions = [
        make_session(root, "tiny", subject="KS023", number=1, seed=10),
        make_session(root, "one_probe", subject="KS023", number=2),
        make_session(root, "only_spikes", subject="ZM_1743", number=1),
        make_session(root, "tiny", subject="ZM_1743", number=2, seed=11),
    ]
    return root, sessions


def spike_counts(reader: AlfRawIO) -> dict[str, list[int]]:
    """Per collection, the spike count of each unit, through the Neo rawio API."""
    out: dict[str, list[int]] = {}
    annotations = reader.raw_annotations["blocks"][0]["segments"][0]["spikes"]
    for i in range(reader.spike_channels_count()):
        out.setdefault(annotations[i]["collection"], []).append(int(reader.spike_count(0, 0, i)))
    return out


def truth_counts(generated) -> dict[str, list[int]]:
    return {c: p["spike_counts"] for c, p in generated.truth["probes"].items()}


def test_serial_results_match_what_was_written(cache):
    _, sessions = cache
    results = map_sessions(spike_counts, [g.path for g in sessions], progress=False)
    assert results == [truth_counts(g) for g in sessions]


def test_cluster_results_equal_serial_results(cache, client):
    _, sessions = cache
    paths = [g.path for g in sessions]
    serial = map_sessions(spike_counts, paths, progress=False)
    on_dask = map_sessions(spike_counts, paths, client=client, progress=False)
    assert on_dask == serial
    assert not any(is_error(r) for r in on_dask)


def test_results_keep_input_order_when_tasks_finish_out_of_order(cache, client):
    _, sessions = cache
    paths = [g.path for g in sessions]

    def slow_first(path: Path) -> str:
        if path == paths[0]:
            time.sleep(1.0)  # the first session finishes last
        return path.as_posix()

    results = map_sessions(slow_first, paths, client=client, reader=False, progress=False)
    assert results == [p.as_posix() for p in paths]


def corrupt_copy(root: Path, subject: str) -> Path:
    """A session whose probe00 spikes.clusters has fewer rows than spikes.times."""
    g = make_session(root, "one_probe", subject=subject, number=1)
    target = g.path / "alf/probe00/pykilosort/spikes.clusters.npy"
    values = np.load(target)[:-5]
    with open(target, "wb") as fh:
        np.lib.format.write_array(fh, values, version=(1, 0))
    return g.path


@pytest.mark.parametrize("on_cluster", [False, True], ids=["serial", "dask"])
def test_a_corrupt_session_gives_one_error_record_and_the_rest(cache, tmp_path, client, on_cluster):
    _, sessions = cache
    bad = corrupt_copy(tmp_path, "BAD_01")
    paths = [sessions[0].path, sessions[1].path, bad, sessions[3].path]
    strict = {"strict": True}  # tolerant readers would leave the probe out with a warning
    cluster = client if on_cluster else None
    results = map_sessions(spike_counts, paths, client=cluster, progress=False, reader_kwargs=strict)
    errors = [r for r in results if is_error(r)]
    assert len(errors) == 1 and results[2] is errors[0]
    record = errors[0]
    assert record.session == str(bad) and record.path == str(bad)
    assert record.error == "AlfDimensionError"
    assert "spikes.clusters.npy" in record.message and "same number of rows" in record.message
    assert "Traceback" in record.traceback
    assert [results[i] for i in (0, 1, 3)] == [truth_counts(sessions[i]) for i in (0, 1, 3)]


def test_any_exception_becomes_a_record_with_its_class(cache):
    _, sessions = cache

    def fails_on_second(reader):
        if reader.dirname == str(sessions[1].path):
            return 1 / 0
        return reader.spike_channels_count()

    results = map_sessions(fails_on_second, [g.path for g in sessions[:3]], progress=False)
    assert is_error(results[1]) and results[1].error == "ZeroDivisionError"
    assert results[1].message == "division by zero"
    assert results[0] == sum(p["n_clusters"] for p in sessions[0].truth["probes"].values())


def test_a_result_that_cannot_travel_back_is_an_error_record(cache, client):
    _, sessions = cache
    results = map_sessions(
        lambda path: threading.Lock(), [sessions[0].path], client=client, reader=False, progress=False
    )
    assert len(results) == 1 and is_error(results[0])
    assert results[0].path == str(sessions[0].path)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batches_of_sessions_per_task_keep_order_and_isolate_failures(cache, client, batch_size):
    _, sessions = cache
    paths = [g.path for g in sessions]

    def lock_for_third(path: Path):
        return threading.Lock() if path == paths[2] else path.as_posix()

    results = map_sessions(
        lock_for_third, paths, client=client, reader=False, progress=False, batch_size=batch_size
    )
    assert [is_error(r) for r in results] == [False, False, True, False]
    assert [results[i] for i in (0, 1, 3)] == [paths[i].as_posix() for i in (0, 1, 3)]
    assert results[2].path == str(paths[2])


def test_a_progress_bar_counts_sessions(cache, client, capsys):
    _, sessions = cache
    paths = [g.path for g in sessions]
    map_sessions(str, paths, reader=False, progress=True)
    assert "4/4" in capsys.readouterr().err
    map_sessions(str, paths, client=client, reader=False, progress=True, batch_size=3)
    assert "4/4" in capsys.readouterr().err
    map_sessions(str, paths, reader=False, progress=False)
    assert capsys.readouterr().err == ""


def test_paths_are_given_when_reader_is_false(cache):
    _, sessions = cache
    results = map_sessions(lambda p: (type(p).__name__, p.name), [sessions[0].path], reader=False)
    assert results == [("PosixPath" if os.name != "nt" else "WindowsPath", "001")]


def test_reader_kwargs_reach_the_reader(cache, client):
    _, sessions = cache
    kwargs = {"collections": ["alf/probe01/**"]}
    results = map_sessions(spike_counts, [sessions[0].path], client=client, reader_kwargs=kwargs)
    assert results == [{"alf/probe01/pykilosort": truth_counts(sessions[0])["alf/probe01/pykilosort"]}]


def test_labels_must_match_sessions(cache):
    with pytest.raises(ValueError, match="2 labels for 1 sessions"):
        map_sessions(len, [cache[1][0].path], labels=["a", "b"])


# ------------------------------------------------------------------------------------------ pickling


def test_a_parsed_reader_round_trips_through_pickle(cache):
    g = cache[1][0]
    reader = AlfRawIO(g.path, collections=["alf/probe00/**", "raw_ephys_data/**"])
    reader.parse_header()
    payload = pickle.dumps(reader)
    assert len(payload) < 1000  # a path and keywords, no arrays
    copy = pickle.loads(payload)
    assert copy.is_header_parsed and copy.collections == ["alf/probe00/**", "raw_ephys_data/**"]
    for key in ("signal_streams", "signal_channels", "spike_channels", "event_channels"):
        assert np.array_equal(copy.header[key], reader.header[key])
    truth = g.truth["probes"]["alf/probe00/pykilosort"]
    for unit in range(truth["n_clusters"]):
        got = copy.get_spike_timestamps(spike_channel_index=unit)
        assert got.size == truth["spike_counts"][unit]
        if got.size:
            assert got[0] == pytest.approx(truth["first_spike"][unit])
    lfp = copy.get_analogsignal_chunk(stream_index=0, i_start=0, i_stop=1)
    assert lfp[0].tolist() == pytest.approx(g.truth["lfp"]["first_row"])


def test_an_unparsed_reader_stays_unparsed_and_an_alfio_keeps_its_keywords(cache):
    g = cache[1][0]
    copy = pickle.loads(pickle.dumps(AlfRawIO(g.path, revision="2024-01-01")))
    assert not copy.is_header_parsed and copy.revision == "2024-01-01"
    io = pickle.loads(pickle.dumps(AlfIO(g.path, eid="abc", spike_array_annotations=False)))
    assert io.eid == "abc"
    block = io.read_block()
    assert len(block.segments[0].spiketrains) == sum(p["n_clusters"] for p in g.truth["probes"].values())
    assert block.segments[0].spiketrains[0].array_annotations == {}


def test_readers_travel_to_workers(cache, client):
    _, sessions = cache
    readers = []
    for g in sessions[:2]:
        r = AlfRawIO(g.path)
        r.parse_header()
        readers.append(r)
    results = map_sessions(spike_counts, readers, client=client, progress=False)
    assert results == [truth_counts(g) for g in sessions[:2]]
    # and through a plain submit: the worker's copy reads the same spikes
    remote = client.submit(
        lambda r: r.get_spike_timestamps(spike_channel_index=1).copy(), readers[0]
    ).result()
    assert np.array_equal(remote, readers[0].get_spike_timestamps(spike_channel_index=1))


# --------------------------------------------------------------------------------------------- eids


def test_map_eids_over_an_adapter_search(cache, client):
    root, sessions = cache
    adapter = OneAdapter(root, progress=False)
    eids = adapter.search(subject="KS023")
    results = map_eids(adapter, spike_counts, client=client, progress=False, subject="KS023")
    expected = {adapter.path2eid(g.path): truth_counts(g) for g in sessions[:2]}
    assert len(eids) == 2 and results == [expected[e] for e in eids]


def test_map_eids_records_an_unknown_eid_and_runs_the_others(cache):
    root, sessions = cache
    adapter = OneAdapter(root, progress=False)
    good = adapter.path2eid(sessions[2].path)
    unknown = "00000000-0000-4000-8000-000000000000"
    results = map_eids(adapter, spike_counts, [unknown, good], progress=False)
    assert isinstance(results[0], SessionError)
    assert results[0].session == unknown and results[0].path is None
    assert results[0].error == "AlfNotFoundError"
    assert results[1] == truth_counts(sessions[2])
    with pytest.raises(TypeError, match="not both"):
        map_eids(adapter, spike_counts, [good], subject="KS023")


def test_a_worker_that_dies_gives_error_records_and_the_rest_complete(cache, client):
    # last in the module: the nanny restarts the worker, the cluster stays usable; Dask retries a
    # task whose worker died (3 times by default), so the others survive their worker's deaths
    _, sessions = cache
    paths = [g.path for g in sessions]

    def dies_on_second(path: Path) -> str:
        if path == paths[1]:
            os._exit(1)
        return path.name

    results = map_sessions(dies_on_second, paths, client=client, reader=False, progress=False, batch_size=1)
    assert is_error(results[1]) and results[1].error == "KilledWorker"
    assert [results[i] for i in (0, 2, 3)] == [paths[i].name for i in (0, 2, 3)]


def test_local_cluster_workers_run_with_the_short_task_settings(client):
    """The fixture's cluster is neo_alf.parallel.local_cluster: its workers run without Dask's
    statistical profiler and with glibc's malloc thresholds raised (Dask's MALLOC_TRIM_THRESHOLD_
    alone makes every chunk a fresh mapping, page-faulted anew)."""
    import dask

    from neo_alf.parallel import SHORT_TASK_CONFIG

    def settings():
        return (
            dask.config.get("distributed.worker.profile.enabled"),
            os.environ.get("MALLOC_MMAP_THRESHOLD_"),
            os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            os.environ.get("OMP_NUM_THREADS"),
        )

    client.wait_for_workers(2, timeout=60)  # a test above kills one: its nanny restarts it
    environ = SHORT_TASK_CONFIG["distributed.nanny.pre-spawn-environ"]
    expected = (False, str(environ["MALLOC_MMAP_THRESHOLD_"]), str(environ["MALLOC_TRIM_THRESHOLD_"]), "1")
    got = client.run(settings)
    assert len(got) == 2
    assert all(value == expected for value in got.values()), got


def test_default_batches_are_long_first_and_short_last(client, cache, monkeypatch):
    """200 sessions on 2 workers: 11 tasks, from 50 sessions down to 5 (a task costs the client
    about 1.5 ms; short last tasks let the workers finish together)."""
    import neo_alf.parallel as parallel

    _, sessions = cache
    client.wait_for_workers(2, timeout=60)
    sent = []
    real = client.map

    def spy(func, batches, **kwargs):
        sent.extend(len(b) for b in batches)
        return real(func, batches, **kwargs)

    monkeypatch.setattr(client, "map", spy)
    paths = [sessions[i % len(sessions)].path for i in range(200)]
    results = parallel.map_sessions(os.fspath, paths, client=client, reader=False, progress=False)
    assert results == [os.fspath(p) for p in paths]
    assert sent == [50, 38, 28, 21, 16, 12, 9, 7, 7, 7, 5]
    parallel_sizes = parallel._guided_batches
    for n, workers in [(1, 1), (7, 2), (50, 2), (699, 32), (10_000, 4)]:
        sizes = parallel_sizes(n, workers)
        assert sum(sizes) == n and max(sizes) <= 64 and sizes == sorted(sizes, reverse=True)


def test_the_documented_worker_settings_are_the_ones_local_cluster_uses():
    """docs/scaling.rst's YAML for other clusters says what SHORT_TASK_CONFIG does."""
    yaml = pytest.importorskip("yaml")
    from neo_alf.parallel import SHORT_TASK_CONFIG

    text = (Path(__file__).parents[1] / "docs" / "scaling.rst").read_text()
    block = text.split(".. code-block:: yaml\n\n", 1)[1].split("\n\n", 1)[0]
    documented = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))

    def flat(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict) and not key.endswith("environ"):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    pairs = dict(flat(documented))
    for key in ("distributed.worker.profile.enabled", "distributed.admin.tick.interval"):
        assert pairs[key] == SHORT_TASK_CONFIG[key]
    environ = SHORT_TASK_CONFIG["distributed.nanny.pre-spawn-environ"]
    documented_environ = pairs["distributed.nanny.pre-spawn-environ"]
    assert {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"} <= set(documented_environ)
    assert all(environ[key] == value for key, value in documented_environ.items())


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(bad):
    with pytest.raises(ValueError, match="batch_size"):
        map_sessions(os.fspath, ["a", "b"], reader=False, progress=False, batch_size=bad)
