"""Many threads on one AlfRawIO give the answers serial calls give (the lazy spike index included)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from neo_alf import AlfRawIO


def _calls(reader, n: int, seed: int):
    rng = random.Random(seed)
    n_units = reader.spike_channels_count()
    size = reader.get_signal_size(0, 0, 1)
    calls = []
    for _ in range(n):
        if rng.random() < 0.6:
            t0 = rng.uniform(0, 30)
            calls.append(("spikes", rng.randrange(n_units), t0, t0 + rng.uniform(0, 30)))
        else:
            i0 = rng.randrange(size - 500)
            calls.append(("chunk", i0, i0 + rng.randrange(1, 500)))
    return calls


def _do(reader, call):
    if call[0] == "spikes":
        return reader.get_spike_timestamps(spike_channel_index=call[1], t_start=call[2], t_stop=call[3])
    return reader.get_analogsignal_chunk(stream_index=1, i_start=call[1], i_stop=call[2])


def test_threads_match_serial(make_generated):
    path = make_generated("two_probes").path
    serial_reader = AlfRawIO(path)
    serial_reader.parse_header()
    calls = _calls(serial_reader, 600, seed=1)
    expected = [_do(serial_reader, c) for c in calls]
    for _ in range(3):  # a fresh reader each round: threads race to build the lazy spike index
        shared = AlfRawIO(path)
        shared.parse_header()
        with ThreadPoolExecutor(max_workers=16) as pool:
            got = list(pool.map(partial(_do, shared), calls))
        for call, a, b in zip(calls, expected, got, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(call))
        assert any(c[0] == "spikes" and a.size for c, a in zip(calls, expected, strict=True))
