"""ONE's ``loadTS``: several timeseries interpolated onto one common time base.

Each named timeseries is an attribute of a continuous object (``wheel.position``, ``lfp.raw``);
its sample times come from the object's ``timestamps`` (:mod:`neo_alf.timebase`). Every series is
interpolated **linearly** (``scipy.interpolate.interp1d``, along the rows) onto the common times.

Edges: by default the common time base covers only the span that *every* series covers (their
intersection), so nothing is extrapolated. With an explicit ``t``, samples outside a series' span
are NaN (no extrapolation, never a made-up value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import interp1d

from ..errors import AlfDimensionError, AlfError
from ..session import AlfSession
from ..timebase import timebase_from_timestamps

__all__ = ["load_timeseries"]


def load_timeseries(
    session: AlfSession,
    names: Sequence[str],
    sample_rate: float | None = 1000.0,
    t: np.ndarray | None = None,
    collection: str | None = None,
) -> tuple[np.ndarray, ...]:
    """Interpolate ``object.attribute`` timeseries onto one time base.

    Parameters
    ----------
    session : AlfSession
        The session.
    names : sequence of str
        ``"object.attribute"`` of continuous objects (objects with ``timestamps``).
    sample_rate : float
        Rate of the common, evenly sampled time base (Hz), over the span all series share.
    t : array-like, optional
        Explicit sample times (seconds), evenly sampled or not; overrides ``sample_rate``.
    collection : str, optional
        Where to look for the objects, when they are in several collections.

    Returns
    -------
    tuple of numpy.ndarray
        One array per name (rows = samples of ``t``), then ``t``.

    Raises
    ------
    AlfError
        A name that is not an attribute of a continuous object, or series that share no span.
    """
    series = []
    for name in names:
        dataset = session.dataset(name, collection)
        obj = session.object(dataset.object, dataset.collection)
        if "timestamps" not in obj:
            raise AlfError(
                f"{name} has no timestamps: not a timeseries",
                dataset.paths,
                rule="continuous objects have a timestamps attribute",
            )
        values = np.asarray(dataset.load(), dtype=np.float64)
        timebase = timebase_from_timestamps(
            obj["timestamps"].open(), values.shape[0], obj["timestamps"].paths
        )
        series.append((timebase.times(), values))
    if t is None:
        start = max(times[0] for times, _ in series)
        stop = min(times[-1] for times, _ in series)
        if not stop > start:
            raise AlfDimensionError(
                f"the series share no time span ({', '.join(names)})",
                session.path,
                rule="load_ts interpolates over the common span",
            )
        t = start + np.arange(int(np.floor((stop - start) * sample_rate)) + 1) / sample_rate
    t = np.asarray(t, dtype=np.float64)
    out = [
        interp1d(
            times, values, axis=0, kind="linear", bounds_error=False, fill_value=np.nan, assume_sorted=True
        )(t)
        for times, values in series
    ]
    return (*out, t)
