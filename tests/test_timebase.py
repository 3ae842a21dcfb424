"""Sample clocks from ALF timestamps: regular or irregular, and every sample's time."""

from __future__ import annotations

import numpy as np
import pytest

from neo_alf.errors import AlfDimensionError, AlfFormatError
from neo_alf.timebase import timebase_from_timestamps


def test_two_sync_points_with_offset_sample():
    tb = timebase_from_timestamps(np.array([[10.0, 1.01], [1010.0, 2.01]]), 2000)
    assert tb.is_regular and tb.rate == pytest.approx(1000.0) and tb.t_start == pytest.approx(1.0)
    np.testing.assert_allclose(tb.times(0, 3), [1.0, 1.001, 1.002])
    assert tb.t_stop == pytest.approx(3.0)


def test_multi_segment_sync_interpolates_and_extrapolates():
    sync = np.array([[100.0, 1.0], [200.0, 2.0], [300.0, 2.5]])
    tb = timebase_from_timestamps(sync, 400)
    assert not tb.is_regular
    np.testing.assert_allclose(tb.times(0, 1), [0.0])  # before the first sync point: first slope
    np.testing.assert_allclose(tb.times(150, 151), [1.5])
    np.testing.assert_allclose(tb.times(399, 400), [2.995])  # after the last: last slope


def test_per_sample_regular_and_irregular():
    regular = timebase_from_timestamps(0.5 + np.arange(1000) / 30.0, 1000)
    assert regular.is_regular and regular.rate == pytest.approx(30.0) and regular.t_start == 0.5
    jitter = 0.5 + np.arange(1000) / 30.0 + np.random.default_rng(0).normal(0, 1e-4, 1000)
    irregular = timebase_from_timestamps(np.sort(jitter), 1000)
    assert not irregular.is_regular
    np.testing.assert_array_equal(irregular.times(5, 8), np.sort(jitter)[5:8])


@pytest.mark.parametrize(
    ("timestamps", "n", "error"),
    [
        (np.array([[0.0, 1.0]]), 10, AlfDimensionError),
        (np.array([[0.0, 1.0], [10.0, 0.5]]), 10, AlfDimensionError),
        (np.array([[0.0, 1.0], [0.0, 2.0]]), 10, AlfDimensionError),
        (np.arange(5.0), 6, AlfDimensionError),
        (np.array([0.0, 1.0, 0.5]), 3, AlfDimensionError),
        (np.array([0.0, np.nan, 2.0]), 3, AlfFormatError),
        (np.zeros((4, 3)), 4, AlfDimensionError),
        (np.array(["a", "b"]), 2, AlfFormatError),
    ],
)
def test_bad_timestamps(timestamps, n, error):
    with pytest.raises(error):
        timebase_from_timestamps(timestamps, n, ["x.timestamps.npy"])
