"""IBL-layout session folders, generated from public sources, with their ground truth.

:func:`make_ibl_session` writes a session laid out as the International Brain Laboratory
publishes them, in one of two layouts:

``"2024"``
    Current ibllib / iblrig / iblsorter outputs: ``alf/task_00/_ibl_trials.table.pqt`` (plus
    the few trials ``.npy`` ibllib still writes), a passive task in ``alf/task_01``, wheel and
    wheel moves, three cameras with DLC tables and motion energy three rows shorter than the
    camera times, ``alf/probe00/iblsorter`` (``spikes``, ``clusters``, ``channels``,
    ``templates``, ``waveforms.*`` with row counts that differ by design,
    ``passingSpikes.table.pqt``), SpikeGLX raw data compressed by mtscomp with realistic
    ``.meta`` text, sync fronts, and raw behaviour/video/passive folders with their real file
    types (``.jsonable``, ``.flac``, ``.zip``, ``.mp4``, ``.bin``, an empty ``.ssv``, a
    ``.yaml``, a ``.log``, a ``.tar``).
``"2020"``
    Every rel_path of ONE-api's fixture ``one/tests/fixtures/datasets.pqt`` (153 real names,
    from sessions of 2018 to 2021) that the 2024 layout does not hold, each where it belongs:
    trials as ``.npy`` in ``alf/``, an old ks2 sorting in ``alf/probe00`` beside
    ``alf/probe00/pykilosort`` and its revision ``#2021-03-10#``, a 2019 sorting in ``alf/``
    (and ``alf/ks2``), the 2018 root-level files, older raw video (``.mp4`` beside
    ``.timestamps.ssv``), camera times three rows longer than the DLC rows.

Every distinct rel_path of the fixture appears in one of the two layouts
(:data:`FIXTURE_REL_PATHS`). Shapes and dtypes follow the real files: where the fixture gives
a size, the dtype and the per-row width come from it (see :data:`REAL_SHAPES`) and the row
counts from the generated trials, spikes, frames or samples.

Determinism: no NumPy random generator is used (NumPy does not promise its streams across
versions). Values come from a counter-based splitmix64 hash computed with NumPy ``uint64``
arithmetic, turned into numbers with exact arithmetic only (no ``log``/``exp``/``sin``, whose
last bits may vary between NumPy builds), so the ``.npy``, ``.csv``, ``.json`` and raw files
are byte-identical across NumPy versions. Parquet files are identical for a given pyarrow
version (pyarrow writes its version into the file); ``.cbin`` files for a given zlib.

Scales: ``"small"`` (tests: about 12 s of session, a few MB, well under 2 s to write) and
``"real"`` (the sizes of a real probe-hour for memory benchmarks: about 4.4 M
``_spikeglx_sync`` fronts and 15 M spikes; about 1.2 GB on disk). The raw SpikeGLX recordings
are short in both scales (their ``.meta`` describes what was written).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neo_alf import _ibl_contents as files
from neo_alf._splitmix import Stream as _Stream
from neo_alf._splitmix import piecewise as _piecewise

__all__ = [
    "FIXTURE_REL_PATHS",
    "REAL_SHAPES",
    "IblSession",
    "SortingTruth",
    "fixture_rel_paths",
    "make_ibl_session",
    "write_one_cache",
]

LAYOUTS = ("2024", "2020")
SCALES = ("small", "real")

FIXTURE = "one/tests/fixtures/datasets.pqt"
"""str: ONE-api's table of real datasets (package data of the ``one-api`` wheel)."""

REAL_SHAPES: dict[str, str] = {
    # rel_path (fixture) -> what the real file size implies (size - 128 header bytes)
    "alf/_ibl_trials.*_times.npy": "float64 (n_trials,): 6568 B = 805 trials",
    "alf/_ibl_trials.intervals.npy": "float64 (n_trials, 2): 13008 B",
    "alf/_ibl_trials.included.npy": "bool (n_trials,): 851..1302 B",
    "alf/_ibl_wheel.position.npy": "float64 (n_samples,): 14347032 B = 1.79 M samples",
    "alf/_ibl_wheelMoves.intervals.npy": "float64 (n_moves, 2): 28224 B = 1756 moves",
    "alf/_ibl_leftCamera.times.npy": "float64 (n_frames,): 323418 frames (60 Hz; right 150 Hz, body 30 Hz)",
    "raw_video_data/_iblrig_leftCamera.GPIO.bin": "float64 per frame (ibllib loads float64 -> uint32)",
    "raw_video_data/_iblrig_leftCamera.frame_counter.bin": "float64 per frame",
    "alf/probe00/spikes.times.npy": "float64: 120309104 B = 15,038,622 spikes",
    "alf/probe00/spikes.clusters.npy": "int32 (4 B/spike); spikes.templates the same",
    "alf/probe00/spikes.samples.npy": "8 B/spike (int64 here)",
    "alf/probe00/clusters.*.npy": "float64/int64 (n_clusters,): 3624 B = 437 clusters",
    "alf/probe00/clusters.waveforms.npy": "float32 (n_clusters, 82, 32)",
    "alf/probe00/clusters.waveformsChannels.npy": "int32 (n_clusters, 32)",
    "alf/probe00/_phy_spikes_subset.waveforms.npy": (
        "float64 (n_subset, 82, 32); channels int32 (n_subset, 32)"
    ),
    "alf/probe00/_kilosort_whitening.matrix.npy": "float64 (374, 374) (80-byte header)",
    "alf/clusters.waveformDuration.npy": "float64 (n_clusters, 256): 524416 B for 256 clusters",
    "raw_ephys_data/_spikeglx_sync.times.npy": (
        "float64: 35271816 B = 4,408,961 fronts (channels, polarities float64)"
    ),
    "raw_ephys_data/probe00/_spikeglx_sync.times.probe00.npy": "float64: 10876 fronts (1 Hz square wave)",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.sync.npy": "float64 (273, 2)",
    "raw_ephys_data/probe00/_iblqc_ephysTimeRmsAP.rms.npy": "float32 (n_windows, 385); timestamps float32",
    "raw_ephys_data/probe00/_iblqc_ephysSpectralDensityAP.power.npy": (
        "float32 (513, 385); freqs float32 (513,)"
    ),
}
"""dict: the shapes and dtypes that the fixture's file sizes imply, as written here."""


def fixture_rel_paths() -> tuple[str, ...]:
    """Return the distinct ``rel_path`` of ONE-api's real datasets fixture, sorted."""
    import one
    import pandas as pd

    table = pd.read_parquet(Path(one.__file__).parent / "tests" / "fixtures" / "datasets.pqt")
    return tuple(sorted(set(table["rel_path"])))


FIXTURE_REL_PATHS: tuple[str, ...] = (
    "_ibl_lickPiezo.raw.npy",
    "_ibl_lickPiezo.timestamps.npy",
    "_ibl_wheel.position.npy",
    "_ibl_wheel.timestamps.npy",
    "alf/_ibl_bodyCamera.times.npy",
    "alf/_ibl_leftCamera.times.npy",
    "alf/_ibl_passiveGabor.table.csv",
    "alf/_ibl_passivePeriods.intervalsTable.csv",
    "alf/_ibl_passiveRFM.times.npy",
    "alf/_ibl_passiveStims.table.csv",
    "alf/_ibl_rightCamera.times.npy",
    "alf/_ibl_trials.choice.npy",
    "alf/_ibl_trials.contrastLeft.npy",
    "alf/_ibl_trials.contrastRight.npy",
    "alf/_ibl_trials.feedbackType.npy",
    "alf/_ibl_trials.feedback_times.npy",
    "alf/_ibl_trials.firstMovement_times.npy",
    "alf/_ibl_trials.goCueTrigger_times.npy",
    "alf/_ibl_trials.goCue_times.npy",
    "alf/_ibl_trials.included.npy",
    "alf/_ibl_trials.intervals.npy",
    "alf/_ibl_trials.intervals_bpod.npy",
    "alf/_ibl_trials.itiDuration.npy",
    "alf/_ibl_trials.probabilityLeft.npy",
    "alf/_ibl_trials.repNum.npy",
    "alf/_ibl_trials.response_times.npy",
    "alf/_ibl_trials.rewardVolume.npy",
    "alf/_ibl_trials.stimOff_times.npy",
    "alf/_ibl_trials.stimOn_times.npy",
    "alf/_ibl_wheel.position.npy",
    "alf/_ibl_wheel.times.npy",
    "alf/_ibl_wheel.timestamps.npy",
    "alf/_ibl_wheel.velocity.npy",
    "alf/_ibl_wheelMoves.intervals.npy",
    "alf/_ibl_wheelMoves.peakAmplitude.npy",
    "alf/channels.rawRow.npy",
    "alf/channels.sitePositions.npy",
    "alf/clusters.amps.tsv",
    "alf/clusters.depths.npy",
    "alf/clusters.peakChannel.npy",
    "alf/clusters.waveformDuration.npy",
    "alf/ks2/spikes.clusters.npy",
    "alf/probe00/_kilosort_whitening.matrix.npy",
    "alf/probe00/_phy_spikes_subset.channels.npy",
    "alf/probe00/_phy_spikes_subset.spikes.npy",
    "alf/probe00/_phy_spikes_subset.waveforms.npy",
    "alf/probe00/channels.localCoordinates.npy",
    "alf/probe00/channels.rawInd.npy",
    "alf/probe00/clusters.amps.npy",
    "alf/probe00/clusters.channels.npy",
    "alf/probe00/clusters.depths.npy",
    "alf/probe00/clusters.metrics.pqt",
    "alf/probe00/clusters.peakToTrough.npy",
    "alf/probe00/clusters.uuids.csv",
    "alf/probe00/clusters.waveforms.npy",
    "alf/probe00/clusters.waveformsChannels.npy",
    "alf/probe00/spikes.amps.npy",
    "alf/probe00/spikes.clusters.npy",
    "alf/probe00/spikes.depths.npy",
    "alf/probe00/spikes.samples.npy",
    "alf/probe00/spikes.templates.npy",
    "alf/probe00/spikes.times.npy",
    "alf/probe00/templates.amps.npy",
    "alf/probe00/templates.waveforms.npy",
    "alf/probe00/templates.waveformsChannels.npy",
    "alf/probes.description.json",
    "alf/probes.trajectory.json",
    "alf/spikes.amps.npy",
    "alf/spikes.clusters.npy",
    "alf/spikes.depths.npy",
    "alf/spikes.times.npy",
    "channels.brainLocation.tsv",
    "channels.probe.npy",
    "channels.rawRow.npy",
    "channels.site.npy",
    "channels.sitePositions.npy",
    "clusters._phy_annotation.npy",
    "clusters.depths.npy",
    "clusters.peakChannel.npy",
    "clusters.probes.npy",
    "clusters.templateWaveforms.npy",
    "clusters.waveformDuration.npy",
    "eye.area.npy",
    "eye.blink.npy",
    "eye.timestamps.npy",
    "eye.xyPos.npy",
    "licks.times.npy",
    "probes.description.tsv",
    "probes.insertion.tsv",
    "probes.rawFilename.tsv",
    "probes.sitePositions.npy",
    "raw_behavior_data/_iblrig_ambientSensorData.raw.jsonable",
    "raw_behavior_data/_iblrig_codeFiles.raw.zip",
    "raw_behavior_data/_iblrig_encoderEvents.raw.ssv",
    "raw_behavior_data/_iblrig_encoderPositions.raw.ssv",
    "raw_behavior_data/_iblrig_encoderTrialInfo.raw.ssv",
    "raw_behavior_data/_iblrig_micData.raw.flac",
    "raw_behavior_data/_iblrig_stimPositionScreen.raw.csv",
    "raw_behavior_data/_iblrig_syncSquareUpdate.raw.csv",
    "raw_behavior_data/_iblrig_taskData.raw.jsonable",
    "raw_behavior_data/_iblrig_taskSettings.raw.json",
    "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.cbin",
    "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.ch",
    "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.meta",
    "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.wiring.json",
    "raw_ephys_data/_spikeglx_sync.channels.npy",
    "raw_ephys_data/_spikeglx_sync.polarities.npy",
    "raw_ephys_data/_spikeglx_sync.times.npy",
    "raw_ephys_data/probe00/_iblqc_ephysSpectralDensityAP.freqs.npy",
    "raw_ephys_data/probe00/_iblqc_ephysSpectralDensityAP.power.npy",
    "raw_ephys_data/probe00/_iblqc_ephysSpectralDensityLF.freqs.npy",
    "raw_ephys_data/probe00/_iblqc_ephysSpectralDensityLF.power.npy",
    "raw_ephys_data/probe00/_iblqc_ephysTimeRmsAP.rms.npy",
    "raw_ephys_data/probe00/_iblqc_ephysTimeRmsAP.timestamps.npy",
    "raw_ephys_data/probe00/_iblqc_ephysTimeRmsLF.rms.npy",
    "raw_ephys_data/probe00/_iblqc_ephysTimeRmsLF.timestamps.npy",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.cbin",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.ch",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.ap.meta",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf.cbin",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf.ch",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.lf.meta",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.sync.npy",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.timestamps.npy",
    "raw_ephys_data/probe00/_spikeglx_ephysData_g0_t0.imec0.wiring.json",
    "raw_ephys_data/probe00/_spikeglx_sync.channels.probe00.npy",
    "raw_ephys_data/probe00/_spikeglx_sync.polarities.probe00.npy",
    "raw_ephys_data/probe00/_spikeglx_sync.times.probe00.npy",
    "raw_passive_data/_iblrig_RFMapStim.raw.bin",
    "raw_passive_data/_iblrig_encoderEvents.raw.ssv",
    "raw_passive_data/_iblrig_encoderPositions.raw.ssv",
    "raw_passive_data/_iblrig_encoderTrialInfo.raw.ssv",
    "raw_passive_data/_iblrig_stimPositionScreen.raw.csv",
    "raw_passive_data/_iblrig_syncSquareUpdate.raw.csv",
    "raw_passive_data/_iblrig_taskSettings.raw.json",
    "raw_video_data/_iblrig_bodyCamera.GPIO.bin",
    "raw_video_data/_iblrig_bodyCamera.frame_counter.bin",
    "raw_video_data/_iblrig_bodyCamera.raw.mp4",
    "raw_video_data/_iblrig_bodyCamera.timestamps.ssv",
    "raw_video_data/_iblrig_leftCamera.GPIO.bin",
    "raw_video_data/_iblrig_leftCamera.frame_counter.bin",
    "raw_video_data/_iblrig_leftCamera.raw.mp4",
    "raw_video_data/_iblrig_leftCamera.timestamps.ssv",
    "raw_video_data/_iblrig_rightCamera.GPIO.bin",
    "raw_video_data/_iblrig_rightCamera.frame_counter.bin",
    "raw_video_data/_iblrig_rightCamera.raw.mp4",
    "raw_video_data/_iblrig_rightCamera.timestamps.ssv",
    "raw_video_data/_iblrig_videoCodeFiles.raw.zip",
    "spikes.amps.npy",
    "spikes.clusters.npy",
    "spikes.depths.npy",
    "spikes.times.npy",
    "spontaneous.intervals.npy",
)
"""tuple: the 153 distinct rel_paths of ONE-api 3.6.1's fixture (a test checks them against the file)."""

# ---------------------------------------------------------------------------------------------
# Ground truth


@dataclass
class SortingTruth:
    """What one spike-sorting collection holds.

    Attributes
    ----------
    collection : str
        e.g. ``"alf/probe00/iblsorter"``.
    times, clusters, amps, depths : numpy.ndarray
        The ``spikes`` attributes as written (times in session seconds).
    samples : numpy.ndarray or None
        ``spikes.samples`` (probe clock, ``fs`` Hz) where written.
    n_clusters : int
        Rows of the ``clusters`` object (some clusters may have no spikes).
    fs : float
        The probe sampling rate used for ``samples``.
    """

    collection: str
    times: np.ndarray
    clusters: np.ndarray
    amps: np.ndarray
    depths: np.ndarray
    samples: np.ndarray | None
    n_clusters: int
    fs: float = 30000.0

    @property
    def n_spikes(self) -> int:
        return int(self.times.size)


@dataclass
class IblSession:
    """A session written by :func:`make_ibl_session`, with what the tests need to know.

    Attributes
    ----------
    path : Path
        The session folder ``root/<lab>/Subjects/<subject>/<date>/<number>``.
    eid : str
        A deterministic UUID for the session.
    layout, scale : str
        As asked.
    lab, subject, date, number : str
        The parts of the session path (``number`` zero-padded).
    probes : tuple of str
        The probe labels (``("probe00",)`` or ``("probe00", "probe01")``).
    rel_paths : tuple of str
        Every file written, relative to ``path``, sorted.
    not_read : tuple of str
        The files of types an ALF reader does not parse (issue 11's list): ``.mp4``, ``.flac``,
        ``.zip``, ``.tar``, ``.yaml``, ``.log``, ``.bin`` without metadata, empty files. ONE-api
        returns their paths (``.yaml`` it parses). ``.jsonable``, ``.npz``, ``.ssv`` are not in it.
    spikeglx : tuple of str
        The SpikeGLX file groups (``.cbin``, ``.ch``, ``.meta``), which need their own recogniser.
    trials : dict
        ``{collection: {attribute: array}}`` as ONE-api loads them (``intervals`` (n, 2)).
    nan_rows : dict
        ``{"collection/object.attribute": int array}`` rows whose value is NaN on purpose.
    wheel : dict
        ``{collection: {"position", "timestamps", "moves_intervals", "moves_peakAmplitude"}}``.
    cameras : dict
        ``{collection: {label: times}}``; ``dlc_rows`` gives the rows of the DLC tables.
    dlc_rows : dict
        ``{label: n}`` for the DLC / motion-energy datasets (3 fewer than the camera times).
    licks : numpy.ndarray
        ``licks.times`` (in ``alf/`` in 2024, at the session root in 2020).
    passive : dict
        ``{collection: {"gabor", "periods", "stims": DataFrame, "rfm_times": array}}``.
    sync : dict
        ``{"nidq": {"times", "channels", "polarities"}, "probe00": {...}, ...}``: the fronts as
        written (nidq in session seconds on ibllib's 3B lines :data:`NIDQ_LINES`; each probe on its
        own clock, line 6).
    probe_sync : dict
        ``{"probe00": (n, 2) array, ...}``: probe seconds -> session seconds (``.imecN.sync.npy``).
    sortings : dict
        ``{collection: SortingTruth}`` for every collection with a ``spikes`` object (``""`` is
        the session root; revisions as ``"alf/probe00/pykilosort/#2021-03-10#"``).
    raw : dict
        ``{"imec0.ap": {"n_samples", "n_channels", "fs", "data_sha256"}, "imec0.lf": ...,
        "nidq": ...}`` for the SpikeGLX recordings (``data_sha256`` of the int16 samples before
        compression; the last channel is the digital sync word).
    span : tuple of float
        (first, last) time of every event, frame, front and spike written, in session seconds.
    seconds : float
        Time taken to write.
    """

    path: Path
    eid: str
    layout: str
    scale: str
    lab: str
    subject: str
    date: str
    number: str
    probes: tuple[str, ...] = ("probe00",)
    rel_paths: tuple[str, ...] = ()
    not_read: tuple[str, ...] = ()
    spikeglx: tuple[str, ...] = ()
    trials: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    nan_rows: dict[str, np.ndarray] = field(default_factory=dict)
    wheel: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    cameras: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    dlc_rows: dict[str, int] = field(default_factory=dict)
    licks: np.ndarray | None = None
    passive: dict[str, dict[str, Any]] = field(default_factory=dict)
    sync: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    probe_sync: dict[str, np.ndarray] = field(default_factory=dict)
    sortings: dict[str, SortingTruth] = field(default_factory=dict)
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    span: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0

    @property
    def collections(self) -> tuple[str, ...]:
        """Every folder holding a file, relative to the session (``""`` for the root)."""
        return tuple(sorted({p.rpartition("/")[0] for p in self.rel_paths}))


@dataclass(frozen=True)
class _Scale:
    duration: float  # session seconds
    n_clusters: int
    n_spikes: int
    encoder_rate: float  # fronts per second and channel on each rotary encoder line
    ap_seconds: float  # raw AP written
    lf_seconds: float
    nidq_seconds: float
    sync_step: float  # probe seconds between .imec0.sync.npy rows
    trial_length: float  # mean, seconds


_SCALES = {
    "small": _Scale(12.0, 24, 12_000, 40.0, 0.2, 1.0, 1.0, 1.0, 1.6),
    "real": _Scale(3600.0, 437, 15_000_000, 370.0, 0.2, 1.0, 1.0, 20.0, 4.5),
}

FS_AP = 30000.0
FS_LF = 2500.0
FS_NIDQ = 30000.0
N_CHANNELS = 384
CAMERA_RATES = {"left": 60.0, "right": 150.0, "body": 30.0}
# ibllib's CHMAPS["3B"]: nidq digital lines and the probe's sync line
NIDQ_LINES = {
    "left_camera": 0,
    "right_camera": 1,
    "body_camera": 2,
    "imec_sync": 3,
    "frame2ttl": 4,
    "rotary_encoder_0": 5,
    "rotary_encoder_1": 6,
    "audio": 7,
    "bpod": 16,
}
PROBE_SYNC_LINE = 6
PROBE_OFFSET = 0.0123  # session seconds at probe00's sample 0 (the issue's first sample)
PROBE_DRIFT = 1.2e-5  # relative clock drift of probe00 against the nidq
PROBE_CLOCKS = {"probe00": (PROBE_OFFSET, PROBE_DRIFT), "probe01": (0.0251, -8.5e-6)}
"""dict: (offset, drift) of each probe's clock: session s = offset + probe s * (1 + drift) (+ a few us)."""
DLC_SHORTER = 3
DLC_PARTS = {
    "left": [
        "pupil_top_r",
        "pupil_right_r",
        "pupil_bottom_r",
        "pupil_left_r",
        "nose_tip",
        "tongue_end_l",
        "tongue_end_r",
        "paw_l",
        "paw_r",
        "tube_top",
        "tube_bottom",
    ],
    "right": [
        "pupil_top_r",
        "pupil_right_r",
        "pupil_bottom_r",
        "pupil_left_r",
        "nose_tip",
        "tongue_end_l",
        "tongue_end_r",
        "paw_l",
        "paw_r",
        "tube_top",
        "tube_bottom",
    ],
    "body": ["tail_start"],
}
_WHEEL_TICK = 2 * np.pi / (1024 * 4)  # X4 decoding of a 1024-cycle encoder, in radians


def make_ibl_session(
    root: str | Path,
    layout: str = "2024",
    *,
    scale: str = "small",
    seed: int = 0,
    lab: str | None = None,
    subject: str | None = None,
    date: str | None = None,
    number: int = 1,
    probes: int = 1,
) -> IblSession:
    """Write one IBL-layout session under ``root`` and return it with its ground truth.

    Parameters
    ----------
    root : str or Path
        The folder that will hold ``<lab>/Subjects/<subject>/<date>/<number>``.
    layout : {"2024", "2020"}
        Which layout (see the module docstring).
    scale : {"small", "real"}
        ``"small"`` for tests (a few MB); ``"real"``: 15 M spikes and 4.4 M sync fronts.
    seed : int
        Any integer; the same arguments always give the same bytes.
    lab, subject, date, number
        Parts of the session path; defaults depend on the layout.
    probes : {1, 2}
        Probes of the 2024 layout (``probe01`` adds ``alf/probe01/iblsorter`` and
        ``raw_ephys_data/probe01`` with ``imec1`` files and its own clock). The 2020 layout has one.

    Returns
    -------
    IblSession
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    if probes not in (1, 2) or (probes == 2 and layout != "2024"):
        raise ValueError(f"probes must be 1, or 2 in the 2024 layout, not {probes!r}")
    t0 = time.perf_counter()
    defaults = {
        "2024": ("churchlandlab", "CSHL071", "2024-03-14"),
        "2020": ("mainenlab", "ZFM-01935", "2021-02-05"),
    }[layout]
    lab, subject, date = lab or defaults[0], subject or defaults[1], date or defaults[2]
    num = f"{number:03d}"
    path = Path(root) / lab / "Subjects" / subject / date / num
    path.mkdir(parents=True, exist_ok=True)
    eid = _Stream(seed, f"eid/{lab}/{subject}/{date}/{num}/{layout}").uuids(1)[0]
    session = IblSession(
        path=path,
        eid=eid,
        layout=layout,
        scale=scale,
        lab=lab,
        subject=subject,
        date=date,
        number=num,
        probes=tuple(f"probe{i:02d}" for i in range(probes)),
    )
    writer = _Writer(session, _SCALES[scale], seed)
    writer.write()
    session.rel_paths = tuple(sorted(writer.written))
    session.not_read = tuple(sorted(writer.not_read))
    session.spikeglx = tuple(sorted(writer.spikeglx))
    session.span = (float(min(writer.span)), float(max(writer.span)))
    session.seconds = time.perf_counter() - t0
    return session


# ---------------------------------------------------------------------------------------------
# Writing


class _Writer:
    def __init__(self, session: IblSession, scale: _Scale, seed: int):
        self.s = session
        self.sc = scale
        self.seed = seed
        self.written: set[str] = set()
        self.not_read: set[str] = set()
        self.spikeglx: set[str] = set()
        self.span: list[float] = []
        self.new = session.layout == "2024"

    def rng(self, name: str) -> _Stream:
        return _Stream(self.seed, f"{self.s.layout}/{self.s.scale}/{name}")

    # -- file helpers -----------------------------------------------------------------------
    def _path(self, rel: str) -> Path:
        p = self.s.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        self.written.add(rel)
        return p

    def npy(self, rel: str, array) -> None:
        np.save(self._path(rel), np.ascontiguousarray(array))

    def text(self, rel: str, content: str, not_read: bool = False) -> None:
        self._path(rel).write_bytes(content.encode())
        if not_read:
            self.not_read.add(rel)

    def binary(self, rel: str, content: bytes, not_read: bool = True) -> None:
        self._path(rel).write_bytes(content)
        if not_read:
            self.not_read.add(rel)

    def json(self, rel: str, obj) -> None:
        self.text(rel, json.dumps(obj, indent=1, sort_keys=False) + "\n")

    def csv(self, rel: str, frame, sep: str = ",", index: bool = False) -> None:
        self.text(rel, frame.to_csv(sep=sep, index=index, lineterminator="\n"))

    def pqt(self, rel: str, frame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, self._path(rel))

    # -- the session ------------------------------------------------------------------------
    def write(self) -> None:
        self.sync_fronts()
        task = "alf/task_00" if self.new else "alf"
        self.trials(task)
        self.wheel(task)
        self.cameras("alf")
        self.passive("alf/task_01" if self.new else "alf")
        self.probe_files("alf")
        if self.new:
            probes = "".join(
                f"    {p}: {{collection: raw_ephys_data/{p}, sync_label: imec_sync}}\n" for p in self.s.probes
            )
            self.text(
                "_ibl_experiment.description.yaml",
                files.EXPERIMENT_YAML.replace("{probes}", probes),
                not_read=True,
            )
            self.npy("alf/licks.times.npy", self.licks)
            self.span.extend([self.licks[0], self.licks[-1]])
            for probe in self.s.probes:
                suffix = "" if probe == "probe00" else f"/{probe}"
                self.sorting(f"alf/{probe}/iblsorter", probe, kind="iblsorter")
                self.text(
                    f"alf/{probe}/iblsorter/_ibl_log.info_iblsorter.log",
                    files.log_text(self.rng(f"log{suffix}")),
                    not_read=True,
                )
                self.binary(
                    f"spike_sorters/iblsorter/{probe}/_kilosort_raw.output.tar",
                    files.tar_bytes(self.rng(f"tar{suffix}")),
                )
        else:
            self.sorting("alf/probe00", "probe00", kind="ks2")
            self.sorting("alf/probe00/pykilosort", "probe00", kind="pykilosort")
            self.revision("alf/probe00/pykilosort", "2021-03-10")
            self.sorting("alf", "probe00", kind="alf2019")
            self.root_files()
        for index, probe in enumerate(self.s.probes):
            self.raw_probe(probe, index)
        self.raw_nidq()
        self.raw_behaviour("raw_behavior_data", self.s.trials[task])
        self.raw_passive()
        self.raw_video()

    # -- sync ---------------------------------------------------------------------------------
    def sync_fronts(self) -> None:
        """Fronts on the nidq (session clock) and on the probe's sync line (probe clock)."""
        d = self.sc.duration
        chans, times = [], []

        def square(line: int, period: float, start: float, jitter: float, name: str, stop: float = d):
            n = int((stop - start) / period * 2)
            t = start + np.arange(n) * (period / 2) + self.rng(name).uniform(n, 0, jitter)
            t = t[t < stop]
            times.append(t)
            chans.append(np.full(t.size, line, dtype=np.float64))
            return t

        for label, rate in CAMERA_RATES.items():
            frames = square(NIDQ_LINES[f"{label}_camera"], 1 / rate, 0.05, 1e-5, f"cam/{label}")
            self.s.cameras.setdefault("alf", {})[label] = frames[::2].copy()
        # the 1 Hz square wave the nidq sends to every probe
        sq = square(NIDQ_LINES["imec_sync"], 1.0, 0.1, 0.0, "imec")
        for line in ("rotary_encoder_0", "rotary_encoder_1"):
            square(
                NIDQ_LINES[line],
                2 / self.sc.encoder_rate,
                0.2 + 0.001 * (line[-1] == "1"),
                1e-4,
                f"rot/{line}",
            )
        t = np.concatenate(times)
        c = np.concatenate(chans)
        # polarities alternate on each line, starting high
        p = np.empty_like(t)
        start = 0
        for part in times:
            p[start : start + part.size] = np.where(np.arange(part.size) % 2 == 0, 1.0, -1.0)
            start += part.size
        order = np.lexsort((c, t))
        self.s.sync["nidq"] = {"times": t[order], "channels": c[order], "polarities": p[order]}
        # each probe sees the same square wave on its own clock
        for probe in self.s.probes:
            offset, drift = PROBE_CLOCKS[probe]
            name = "probe/wiggle" if probe == "probe00" else f"{probe}/wiggle"
            wiggle = self.rng(name).uniform(sq.size, -2e-6, 2e-6)
            probe_s = (sq - offset) / (1 + drift) + wiggle
            self.s.sync[probe] = {
                "times": probe_s,
                "channels": np.full(probe_s.size, PROBE_SYNC_LINE, dtype=np.float64),
                "polarities": np.where(np.arange(probe_s.size) % 2 == 0, 1.0, -1.0),
            }
            step = max(1, round(self.sc.sync_step * 2))
            keep = np.unique(np.r_[np.arange(0, probe_s.size, step), probe_s.size - 1])
            self.s.probe_sync[probe] = np.c_[probe_s[keep], sq[keep]]
        self.span.extend([t[0], t[-1]])

    def probe_to_session(self, seconds: np.ndarray, probe: str) -> np.ndarray:
        sync = self.s.probe_sync[probe]
        return _piecewise(seconds, sync[:, 0], sync[:, 1])

    # -- behaviour ----------------------------------------------------------------------------
    def trials(self, collection: str) -> None:
        r = self.rng("trials")
        end = 0.72 * self.sc.duration
        lengths = self.sc.trial_length * (0.8 + 0.4 * r.uniform(100_000))
        starts = 0.5 + np.r_[0.0, np.cumsum(lengths)]
        n = int(np.searchsorted(starts, end - self.sc.trial_length * 1.3))
        n = max(n, 6)
        start = starts[:n]
        length = lengths[:n]
        contrast = r.choice(n, [1.0, 0.25, 0.125, 0.0625, 0.0])
        block = np.where(np.arange(n) < max(3, n // 8), 0.5, 0.0)
        later = np.arange(n) >= max(3, n // 8)
        switch = (np.arange(n) // max(3, n // 6)) % 2 == 0
        block[later] = np.where(switch[later], 0.8, 0.2)
        left = r.uniform(n) < block
        nogo = r.uniform(n) < 0.12
        nogo[1] = True  # at least one no-go trial: NaN firstMovement
        correct = (r.uniform(n) < 0.8) & ~nogo
        side = np.where(left, 1, -1)  # choice that is correct for the side (IBL: -1 CCW)
        choice = np.where(nogo, 0, np.where(correct, side, -side)).astype(np.int64)
        quiescence = 0.2 + 0.15 * r.uniform(n)
        stim_on = start + 0.05 + quiescence
        go_cue = stim_on + 0.0001 * r.uniform(n)
        go_trigger = go_cue - 0.0002
        rt = 0.15 + 0.25 * length / self.sc.trial_length * r.uniform(n)
        response = stim_on + np.where(nogo, 0.5 * length, rt)
        first_move = np.where(nogo, np.nan, stim_on + 0.6 * rt)
        feedback = response + 0.0003
        stim_off = feedback + np.where(correct, 0.1, 0.2) * length / self.sc.trial_length
        iti = 0.05 * length
        intervals = np.c_[start, np.maximum(stim_off + iti, start + 0.95 * length)]
        intervals[:, 1] = np.minimum(intervals[:, 1], np.r_[start[1:], np.inf] - 0.001)
        truth = {
            "intervals": intervals,
            "goCue_times": go_cue,
            "response_times": response,
            "choice": choice.astype(np.float64),
            "stimOn_times": stim_on,
            "contrastLeft": np.where(left, contrast, np.nan),
            "contrastRight": np.where(left, np.nan, contrast),
            "feedback_times": feedback,
            "feedbackType": np.where(correct, 1.0, -1.0),
            "rewardVolume": np.where(correct, 1.5, 0.0),
            "probabilityLeft": block,
            "firstMovement_times": first_move,
            "goCueTrigger_times": go_trigger,
            "stimOff_times": stim_off,
            "quiescencePeriod": quiescence,
            "included": ~(np.arange(n) == n - 1),
        }
        self._trials_nan(collection, truth)
        self.span.extend([intervals[0, 0], intervals[-1, 1]])
        if self.new:
            import pandas as pd

            columns = [
                "intervals_0",
                "intervals_1",
                "goCue_times",
                "response_times",
                "choice",
                "stimOn_times",
                "contrastLeft",
                "contrastRight",
                "feedback_times",
                "feedbackType",
                "rewardVolume",
                "probabilityLeft",
                "firstMovement_times",
            ]
            data = {"intervals_0": intervals[:, 0], "intervals_1": intervals[:, 1]}
            data.update({k: truth[k] for k in columns[2:]})
            self.pqt(f"{collection}/_ibl_trials.table.pqt", pd.DataFrame(data, columns=columns))
            for k in ("goCueTrigger_times", "stimOff_times", "quiescencePeriod", "included"):
                self.npy(f"{collection}/_ibl_trials.{k}.npy", truth[k])
        else:
            truth.pop("quiescencePeriod")
            truth["itiDuration"] = np.full(n, 0.5)
            truth["repNum"] = (1 + (np.arange(n) % 3 == 2) * (~correct)).astype(np.int64)
            truth["intervals_bpod"] = intervals - 0.0257
            for k, v in truth.items():
                self.npy(f"{collection}/_ibl_trials.{k}.npy", v)
        self.s.trials[collection] = truth
        # licks: after rewards and at random
        lr = self.rng("licks")
        rewarded = feedback[correct]
        licks = np.sort(
            np.concatenate(
                [
                    rewarded[:, None]
                    + 0.05
                    + 0.12 * np.arange(4)[None, :]
                    + 0.01 * lr.uniform(rewarded.size * 4).reshape(-1, 4)
                ]
            ).ravel()
        )
        self.licks = licks
        self.s.licks = licks

    def _trials_nan(self, collection: str, truth: dict) -> None:
        for k, v in truth.items():
            if v.dtype.kind == "f" and v.ndim == 1 and np.isnan(v).any():
                self.s.nan_rows[f"{collection}/trials.{k}"] = np.flatnonzero(np.isnan(v))

    def wheel(self, collection: str) -> None:
        trials = self.s.trials[collection]
        r = self.rng("wheel")
        ts, pos, intervals, peaks = [], [], [], []
        position = 0
        for i in range(trials["intervals"].shape[0]):
            fm = trials["firstMovement_times"][i]
            if np.isnan(fm):
                continue
            stop = trials["response_times"][i]
            n = int(max(4, (stop - fm) * 200))
            steps = -int(trials["choice"][i]) * np.ones(n, dtype=np.int64)
            steps[r.uniform(n) < 0.15] *= -1
            jitter = r.uniform(n) * 0.5
            jitter[0] = 0.0  # the move starts at the trial's first movement time
            t = fm + (stop - fm) * (np.arange(n) + jitter) / n
            p = position + np.cumsum(steps)
            ts.append(t)
            pos.append(p)
            intervals.append([t[0], t[-1]])
            peaks.append(float(np.abs(p - position).max() * _WHEEL_TICK))
            position = int(p[-1])
        timestamps = np.concatenate(ts)
        position_rad = np.concatenate(pos).astype(np.float64) * _WHEEL_TICK
        w = {
            "position": position_rad,
            "timestamps": timestamps,
            "moves_intervals": np.array(intervals),
            "moves_peakAmplitude": np.array(peaks),
        }
        self.s.wheel[collection] = w
        self.npy(f"{collection}/_ibl_wheel.position.npy", position_rad)
        self.npy(f"{collection}/_ibl_wheel.timestamps.npy", timestamps)
        self.npy(f"{collection}/_ibl_wheelMoves.intervals.npy", w["moves_intervals"])
        self.npy(f"{collection}/_ibl_wheelMoves.peakAmplitude.npy", w["moves_peakAmplitude"])
        if not self.new:
            dt = np.diff(timestamps)
            velocity = np.r_[0.0, np.diff(position_rad) / np.where(dt > 0, dt, 1.0)]
            self.npy(f"{collection}/_ibl_wheel.velocity.npy", velocity)
            # a 2019 name for the same timestamps, kept beside the newer one as the fixture lists both
            self.npy(f"{collection}/_ibl_wheel.times.npy", timestamps)
            w["velocity"] = velocity

    def cameras(self, collection: str) -> None:
        import pandas as pd

        for label, times in self.s.cameras[collection].items():
            self.npy(f"{collection}/_ibl_{label}Camera.times.npy", times)
            n = times.size - DLC_SHORTER
            self.s.dlc_rows[label] = n
            r = self.rng(f"dlc/{label}")
            data = {}
            for part in DLC_PARTS[label]:
                data[f"{part}_x"] = 100 + 400 * r.uniform(n)
                data[f"{part}_y"] = 80 + 300 * r.uniform(n)
                data[f"{part}_likelihood"] = r.uniform(n)
            self.pqt(f"{collection}/_ibl_{label}Camera.dlc.pqt", pd.DataFrame(data))
            self.npy(f"{collection}/{label}Camera.ROIMotionEnergy.npy", 1000 * r.uniform(n))
            self.npy(f"{collection}/{label}ROIMotionEnergy.position.npy", np.array([120, 80, 240, 160]))
            self.span.extend([times[0], times[-1]])

    def passive(self, collection: str) -> None:
        import pandas as pd

        d = self.sc.duration
        r = self.rng("passive")
        t_start, t_stop = 0.75 * d, 0.98 * d
        span = t_stop - t_start
        spont = (t_start, t_start + 0.2 * span)
        rfm = (spont[1], t_start + 0.5 * span)
        task = (rfm[1], t_stop)
        periods = pd.DataFrame(
            {"start": [t_start, spont[0], rfm[0], task[0]], "stop": [t_stop, spont[1], rfm[1], task[1]]},
            index=["passiveProtocol", "spontaneousActivity", "RFM", "taskReplay"],
        ).T
        periods.index.name = None
        self.csv(f"{collection}/_ibl_passivePeriods.intervalsTable.csv", periods, index=True)
        n_rfm = max(60, int((rfm[1] - rfm[0]) * 60))
        rfm_times = rfm[0] + (rfm[1] - rfm[0]) * (np.arange(n_rfm) + 0.5) / n_rfm
        self.npy(f"{collection}/_ibl_passiveRFM.times.npy", rfm_times)
        half = (task[0] + task[1]) / 2
        n_gabor = max(10, int((half - task[0]) / 0.35))
        starts = task[0] + (half - task[0]) * np.arange(n_gabor) / n_gabor + 0.01 * r.uniform(n_gabor)
        gabor = pd.DataFrame(
            {
                "start": starts,
                "stop": starts + 0.1 * (half - task[0]) / n_gabor * 3,
                "position": r.choice(n_gabor, [-35.0, 35.0]),
                "contrast": r.choice(n_gabor, [0.0625, 0.125, 0.25, 1.0]),
                "phase": r.choice(n_gabor, [0.0, 1.5707963267948966, 3.141592653589793, 4.71238898038469]),
            }
        )
        # pandas writes its index as an unnamed first column, as in the real files
        self.csv(f"{collection}/_ibl_passiveGabor.table.csv", gabor, index=True)
        n_stims = 8
        stims_t = half + (task[1] - half) * np.arange(n_stims) / n_stims
        stims = pd.DataFrame(
            {
                "valveOn": np.where(np.arange(n_stims) % 4 == 0, stims_t, np.nan),
                "valveOff": np.where(np.arange(n_stims) % 4 == 0, stims_t + 0.1, np.nan),
                "toneOn": np.where(np.arange(n_stims) % 4 == 1, stims_t, np.nan),
                "toneOff": np.where(np.arange(n_stims) % 4 == 1, stims_t + 0.1, np.nan),
                "noiseOn": np.where(np.arange(n_stims) % 4 == 2, stims_t, np.nan),
                "noiseOff": np.where(np.arange(n_stims) % 4 == 2, stims_t + 0.5, np.nan),
            }
        )
        self.csv(f"{collection}/_ibl_passiveStims.table.csv", stims, index=True)
        self.s.passive[collection] = {
            "gabor": gabor,
            "periods": periods,
            "rfm_times": rfm_times,
            "stims": stims,
        }
        for column in stims.columns:
            self.s.nan_rows[f"{collection}/passiveStims.{column}"] = np.flatnonzero(stims[column].isna())
        self.span.extend([t_start, t_stop])

    def probe_files(self, collection: str) -> None:
        self.json(
            f"{collection}/probes.description.json",
            [
                {
                    "label": probe,
                    "model": "3B2",
                    "index": i,
                    "raw_file_name": f"raw_ephys_data/{probe}/_spikeglx_ephysData_g0_t0.imec{i}.ap.cbin",
                    "serial": str(18194824401 + i),
                }
                for i, probe in enumerate(self.s.probes)
            ],
        )
        if not self.new:
            self.json(
                f"{collection}/probes.trajectory.json",
                [
                    {
                        "label": "probe00",
                        "x": -2243.1,
                        "y": -2000.0,
                        "z": 0.0,
                        "phi": 180,
                        "theta": 15,
                        "depth": 4000.0,
                        "roll": 0,
                    }
                ],
            )

    # -- spike sorting ------------------------------------------------------------------------
    def sorting(self, collection: str, probe: str, kind: str) -> None:
        import pandas as pd

        r = self.rng(f"sorting/{collection}")
        n_clu = (
            self.sc.n_clusters
            if kind in ("iblsorter", "ks2", "pykilosort")
            else max(8, self.sc.n_clusters // 2)
        )
        n_spk = self.sc.n_spikes if kind != "alf2019" else max(1000, self.sc.n_spikes // 14)
        if kind == "pykilosort":
            n_spk = self.sc.n_spikes - self.sc.n_spikes // 10
        n_ch = 374 if kind in ("ks2", "alf2019") else N_CHANNELS
        sync = self.s.probe_sync[probe]
        first = int(np.ceil(sync[0, 0] * FS_AP))
        last = int(np.floor(sync[-1, 0] * FS_AP))
        # clusters: a few have no spikes (they stay in the clusters table, as in real sortings)
        rates = 0.2 + r.uniform(n_clu) ** 2 * 4
        rates[r.integers(max(1, n_clu // 12), 0, n_clu)] = 0.0
        clusters = r.choice(n_spk, np.arange(n_clu, dtype=np.int32), p=rates)
        samples = r.integers(n_spk, first, last)
        keep = _refractory(samples, clusters, int(REFRACTORY_S * FS_AP))
        samples, clusters = samples[keep], clusters[keep]
        n_spk = samples.size
        order = np.lexsort((clusters, samples))
        samples, clusters = samples[order], clusters[order].astype(np.int32)
        times = self.probe_to_session(samples / FS_AP, probe)
        geometry = files.np1_geometry(n_ch)
        peak_channel = r.integers(n_clu, 0, n_ch)
        cluster_depths = geometry[peak_channel, 1].astype(np.float64)
        cluster_amps = 40e-6 + 260e-6 * r.uniform(n_clu)
        amps = cluster_amps[clusters] * (0.75 + 0.5 * r.uniform(n_spk))
        depths = cluster_depths[clusters] + 15.0 * (r.uniform(n_spk) - 0.5)
        with_samples = kind != "alf2019"
        self.s.sortings[collection] = SortingTruth(
            collection, times, clusters, amps, depths, samples if with_samples else None, n_clu, FS_AP
        )
        self.span.extend([times[0], times[-1]])
        c = collection
        self.npy(f"{c}/spikes.times.npy", times)
        self.npy(f"{c}/spikes.clusters.npy", clusters)
        self.npy(f"{c}/spikes.amps.npy", amps)
        self.npy(f"{c}/spikes.depths.npy", depths)
        if kind == "alf2019":
            self.npy("alf/ks2/spikes.clusters.npy", clusters)
            self.npy(f"{c}/clusters.depths.npy", cluster_depths)
            self.npy(f"{c}/clusters.peakChannel.npy", peak_channel.astype(np.float64))
            self.csv(f"{c}/clusters.amps.tsv", pd.DataFrame({"amps": cluster_amps}), sep="\t")
            self.npy(f"{c}/clusters.waveformDuration.npy", 1e-3 * r.uniform(n_clu * 256).reshape(n_clu, 256))
            self.npy(f"{c}/channels.rawRow.npy", np.arange(n_ch, dtype=np.int32))
            self.npy(f"{c}/channels.sitePositions.npy", geometry.astype(np.float64))
            return
        self.npy(f"{c}/spikes.samples.npy", samples)
        self.npy(f"{c}/spikes.templates.npy", clusters)
        self.npy(f"{c}/clusters.channels.npy", peak_channel)
        self.npy(f"{c}/clusters.depths.npy", cluster_depths)
        self.npy(f"{c}/clusters.amps.npy", cluster_amps)
        self.npy(f"{c}/clusters.peakToTrough.npy", 0.2 + 0.8 * r.uniform(n_clu))
        self.csv(f"{c}/clusters.uuids.csv", pd.DataFrame({"uuids": r.uuids(n_clu)}))
        wf_channels = (peak_channel[:, None] + np.arange(-16, 16)[None, :]).clip(0, n_ch - 1).astype(np.int32)
        templates = files.templates(r, n_clu, 82, 32)
        self.npy(f"{c}/clusters.waveforms.npy", templates)
        self.npy(f"{c}/clusters.waveformsChannels.npy", wf_channels)
        self.npy(f"{c}/templates.waveforms.npy", templates)
        self.npy(f"{c}/templates.waveformsChannels.npy", wf_channels)
        self.npy(f"{c}/templates.amps.npy", cluster_amps * 1.1)
        self.npy(f"{c}/channels.localCoordinates.npy", geometry.astype(np.float64))
        self.npy(f"{c}/channels.rawInd.npy", np.arange(n_ch, dtype=np.int64))
        self.npy(
            f"{c}/_kilosort_whitening.matrix.npy",
            files.whitening(r, n_ch),
        )
        n_sub = min(n_spk, max(50, n_clu * 4))
        subset = np.sort(r.integers(n_sub, 0, n_spk)).astype(np.int64)
        self.npy(f"{c}/_phy_spikes_subset.spikes.npy", subset)
        self.npy(f"{c}/_phy_spikes_subset.channels.npy", wf_channels[clusters[subset]])
        self.npy(
            f"{c}/_phy_spikes_subset.waveforms.npy",
            templates[clusters[subset]].astype(np.float64) * (0.9 + 0.2 * r.uniform(n_sub))[:, None, None],
        )
        metrics = files.metrics(r, clusters, n_clu, cluster_amps, peak_channel, cluster_depths, times)
        self.pqt(f"{c}/clusters.metrics.pqt", metrics)
        if kind == "ks2":
            return
        # atlas positions of the channels (IBL's Allen CCF 2017 ids, mlapdv in um)
        self.npy(
            f"{c}/channels.brainLocationIds_ccf_2017.npy",
            r.choice(n_ch, np.array([0, 8, 315, 549, 1089, 672, 698], dtype=np.int64)),
        )
        self.npy(
            f"{c}/channels.mlapdv.npy",
            np.c_[np.full(n_ch, -2243.0), np.full(n_ch, -2000.0), -4000.0 + geometry[:, 1]],
        )
        if kind != "iblsorter":
            return
        self.npy(f"{c}/channels.labels.npy", np.where(np.arange(n_ch) > n_ch - 12, 3, 0).astype(np.int64))
        n_drift = max(3, int(self.sc.duration / 2))
        self.npy(f"{c}/drift.times.npy", np.arange(n_drift) * self.sc.duration / n_drift + 1.0)
        self.npy(f"{c}/drift.um.npy", r.normal(n_drift * 20).reshape(n_drift, 20))
        self.npy(f"{c}/drift_depths.um.npy", np.arange(20) * 200.0 + 100.0)
        self.waveforms(c, r, clusters, samples, peak_channel, n_clu)
        # ibllib's compute_cell_qc: the spikes of clusters that pass every QC criterion, narrower dtypes
        passing = (metrics["bitwise_fail"].to_numpy() == 0)[clusters]
        table = pd.DataFrame(
            {
                "amps": amps[passing].astype(np.float32),
                "clusters": clusters[passing].astype(np.uint16),
                "depths": depths[passing].astype(np.float32),
                "samples": samples[passing],
                "templates": clusters[passing].astype(np.uint16),
                "times": times[passing],
            }
        )
        self.pqt(f"{c}/passingSpikes.table.pqt", table)

    def waveforms(self, c: str, r: _Stream, clusters, samples, peak_channel, n_clu: int) -> None:
        """ibl-neuropixel's ``extract_wfs_cbin`` outputs (data version 2): rows differ by design."""
        import pandas as pd

        max_wf, nc, ns = 8, 40, 128
        # the first max_wf spikes of each cluster (ibl-neuropixel draws them at random)
        sorter = np.argsort(clusters, kind="stable")
        bounds = np.searchsorted(clusters[sorter], np.arange(n_clu + 1))
        rows = [sorter[bounds[u] : min(bounds[u + 1], bounds[u] + max_wf)] for u in range(n_clu)]
        index = np.concatenate(rows).astype(np.int64)
        nwf = index.size
        table = pd.DataFrame(
            {
                "index": np.arange(nwf, dtype=np.int64),
                "sample": samples[index].astype(np.int64),
                "cluster": clusters[index].astype(np.int64),
                "peak_channel": peak_channel[clusters[index]].astype(np.int64),
                "index_within_clusters": np.concatenate([np.arange(x.size) for x in rows]).astype(np.int64),
            }
        )
        self.pqt(f"{c}/waveforms.table.pqt", table)
        traces = (r.normal(nwf * nc * 4).reshape(nwf, nc, 4).repeat(ns // 4, axis=2) * 10).astype(np.float16)
        self.npy(f"{c}/waveforms.traces.npy", traces)
        self.npy(f"{c}/waveforms.templates.npy", files.templates(r, n_clu, ns, nc).transpose(0, 2, 1).copy())
        neighbours = (peak_channel[clusters[index]][:, None] + np.arange(-20, 20)[None, :]).clip(
            0, N_CHANNELS - 1
        )
        buffer = io.BytesIO()
        np.savez(buffer, channels=neighbours.astype(np.int64))
        self.binary(f"{c}/waveforms.channels.npz", files.fixed_zip_dates(buffer.getvalue()), not_read=False)

    def revision(self, collection: str, revision: str) -> None:
        """A newer run of the same sorting: re-synchronised spike times (shifted by 1.5 ms)."""
        base = self.s.sortings[collection]
        c = f"{collection}/#{revision}#"
        times = base.times + 0.0015
        self.npy(f"{c}/spikes.times.npy", times)
        self.npy(f"{c}/spikes.clusters.npy", base.clusters)
        self.npy(f"{c}/spikes.amps.npy", base.amps)
        self.npy(f"{c}/spikes.depths.npy", base.depths)
        self.s.sortings[c] = SortingTruth(
            c, times, base.clusters, base.amps, base.depths, None, int(base.clusters.max()) + 1, base.fs
        )

    def root_files(self) -> None:
        """2018 root-level datasets (two probes in one sorting, eye tracking, lick piezo)."""
        import pandas as pd

        r = self.rng("root")
        d = self.sc.duration
        n_ch = 2 * N_CHANNELS
        n_clu = max(10, self.sc.n_clusters // 2)
        n_spk = max(2000, self.sc.n_spikes // 20)
        geometry = files.np1_geometry(N_CHANNELS)
        self.npy("channels.probe.npy", np.repeat(np.arange(2, dtype=np.int64), N_CHANNELS))
        self.npy("channels.site.npy", np.tile(np.arange(N_CHANNELS, dtype=np.int64), 2))
        self.npy("channels.rawRow.npy", np.tile(np.arange(N_CHANNELS, dtype=np.int64), 2))
        self.npy("channels.sitePositions.npy", np.tile(geometry.astype(np.float64), (2, 1)))
        location = pd.DataFrame(
            {
                "ccf_ap": -2000.0 + 10 * r.uniform(n_ch),
                "ccf_dv": -4000.0 + np.tile(geometry[:, 1], 2),
                "ccf_lr": np.repeat([-2243.0, 1800.0], N_CHANNELS),
                "allen_ontology": r.choice(n_ch, np.array(["CA1", "DG-mo", "VISa", "root", "LP"])),
            }
        )
        self.csv("channels.brainLocation.tsv", location, sep="\t")
        clu_probe = (np.arange(n_clu) >= n_clu // 2).astype(np.int64)
        peak = r.integers(n_clu, 0, N_CHANNELS) + clu_probe * N_CHANNELS
        self.npy("clusters.probes.npy", clu_probe)
        self.npy("clusters.peakChannel.npy", peak.astype(np.float64))
        self.npy("clusters.depths.npy", np.tile(geometry[:, 1], 2)[peak].astype(np.float64))
        self.npy("clusters._phy_annotation.npy", r.choice(n_clu, np.array([0, 1, 2, 3], dtype=np.int64)))
        self.npy("clusters.templateWaveforms.npy", files.templates(r, n_clu, 82, 32).astype(np.float64))
        self.npy("clusters.waveformDuration.npy", 2e-4 + 8e-4 * r.uniform(n_clu))
        clusters = r.choice(n_spk, np.arange(n_clu, dtype=np.int64))
        times = r.uniform(n_spk, 0.05, d - 0.05)
        keep = _refractory(times, clusters, REFRACTORY_S)
        order = np.argsort(times[keep], kind="stable")
        times, clusters = times[keep][order], clusters[keep][order]
        n_spk = times.size
        amps = 50e-6 + 200e-6 * r.uniform(n_spk)
        depths = np.tile(geometry[:, 1], 2)[peak][clusters].astype(np.float64)
        self.npy("spikes.times.npy", times)
        self.npy("spikes.clusters.npy", clusters)
        self.npy("spikes.amps.npy", amps)
        self.npy("spikes.depths.npy", depths)
        self.s.sortings[""] = SortingTruth("", times, clusters, amps, depths, None, n_clu, FS_AP)
        self.npy("probes.sitePositions.npy", np.stack([geometry.astype(np.float64)] * 2))
        self.csv(
            "probes.description.tsv",
            pd.DataFrame({"label": ["probe_right", "probe_left"], "model": ["3A", "3A"]}),
            sep="\t",
        )
        self.csv(
            "probes.insertion.tsv",
            pd.DataFrame(
                {
                    "ml": [-2243.0, 1800.0],
                    "ap": [-2000.0, -2000.0],
                    "depth": [4000.0, 3800.0],
                    "theta": [15, 15],
                }
            ),
            sep="\t",
        )
        self.csv(
            "probes.rawFilename.tsv",
            pd.DataFrame({"rawFilename": ["ephys_g0_t0.imec.ap.bin", "ephys_g1_t0.imec.ap.bin"]}),
            sep="\t",
        )
        n_eye = int(d * 30)
        eye_t = (np.arange(n_eye) + 0.5) / 30.0
        self.npy("eye.timestamps.npy", eye_t)
        self.npy("eye.area.npy", 400 + 50 * r.uniform(n_eye))
        self.npy("eye.blink.npy", (r.uniform(n_eye) < 0.03).astype(np.int64))
        self.npy("eye.xyPos.npy", np.c_[320 + 10 * r.uniform(n_eye), 240 + 10 * r.uniform(n_eye)])
        n_piezo = int(d * 1000)
        self.npy("_ibl_lickPiezo.raw.npy", 0.01 * r.normal(n_piezo))
        # a regular series stored as (2, 2) [sample, time] sync points, which ONE-api interpolates
        self.npy(
            "_ibl_lickPiezo.timestamps.npy",
            np.array([[0.0, 0.0005], [n_piezo - 1.0, (n_piezo - 1) / 1000 + 0.0005]]),
        )
        n_wheel = int(d * 1000)
        self.npy("_ibl_wheel.position.npy", np.cumsum(r.choice(n_wheel, [-1, 0, 0, 0, 1])) * _WHEEL_TICK)
        self.npy("_ibl_wheel.timestamps.npy", np.array([[0.0, 0.0], [n_wheel - 1.0, (n_wheel - 1) / 1000]]))
        self.npy("licks.times.npy", self.licks)
        self.npy("spontaneous.intervals.npy", np.array([[0.0, 0.4], [d - 0.4, d - 0.01]]))

    # -- raw data -----------------------------------------------------------------------------
    def raw_probe(self, probe: str, index: int) -> None:
        """``raw_ephys_data/probeNN``: SpikeGLX AP and LF files, sync, timestamps, wiring, QC."""
        import mtscomp

        folder = f"raw_ephys_data/{probe}"
        base = f"{folder}/_spikeglx_ephysData_g0_t0.imec{index}"
        sync = self.s.probe_sync[probe]
        self.npy(f"{base}.sync.npy", sync)
        self.npy(f"{base}.timestamps.npy", np.c_[sync[:, 0] * FS_AP, sync[:, 1]])
        self.json(f"{base}.wiring.json", {"SYNC_WIRING_DIGITAL": {"I/O 6": "imec_sync"}, "SYSTEM": "3B"})
        fronts = self.s.sync[probe]
        for k in ("times", "channels", "polarities"):
            self.npy(f"{folder}/_spikeglx_sync.{k}.{probe}.npy", fronts[k])
        r = self.rng(f"raw/{probe}")
        with tempfile.TemporaryDirectory() as tmp:
            for band, fs, seconds in (("ap", FS_AP, self.sc.ap_seconds), ("lf", FS_LF, self.sc.lf_seconds)):
                n = int(seconds * fs)
                data = np.empty((n, N_CHANNELS + 1), dtype=np.int16)
                noise = r.integers(n * 8, -6, 7).astype(np.int16)
                # a few distinct noise rows tiled over channels keeps writing fast and compressible
                data[:, :N_CHANNELS] = noise.reshape(n, 8)[:, np.arange(N_CHANNELS) % 8]
                data[:, :N_CHANNELS] += (np.arange(N_CHANNELS, dtype=np.int16) % 5)[None, :]
                data[:, N_CHANNELS] = self._sync_word(fronts, n, fs, {PROBE_SYNC_LINE: PROBE_SYNC_LINE})
                meta = files.imec_meta(band, n, fs, self.new, index)
                self._spikeglx(tmp, f"{base}.{band}", data, fs, meta, mtscomp)
        self.qc_files(folder, self.rng(f"qc/{probe}"))

    def raw_nidq(self) -> None:
        """``raw_ephys_data``: the nidq SpikeGLX files, its wiring and every sync front."""
        import mtscomp

        fronts = self.s.sync["nidq"]
        for k in ("times", "channels", "polarities"):
            self.npy(f"raw_ephys_data/_spikeglx_sync.{k}.npy", fronts[k])
        self.json(
            "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq.wiring.json",
            {
                "SYNC_WIRING_DIGITAL": {f"P0.{v}": k for k, v in NIDQ_LINES.items() if v < 8},
                "SYNC_WIRING_ANALOG": {"AI0": "bpod", "AI1": "laser", "AI2": "laser_ttl"},
                "SYSTEM": "3B",
            },
        )
        r = self.rng("raw/nidq")
        n = int(self.sc.nidq_seconds * FS_NIDQ)
        data = np.zeros((n, 9), dtype=np.int16)
        data[:, :8] = r.integers(n * 8, -20, 21).reshape(n, 8).astype(np.int16)
        data[:, 8] = self._sync_word(fronts, n, FS_NIDQ, {v: v for v in NIDQ_LINES.values() if v < 16})
        with tempfile.TemporaryDirectory() as tmp:
            stem = "raw_ephys_data/_spikeglx_ephysData_g0_t0.nidq"
            self._spikeglx(tmp, stem, data, FS_NIDQ, files.nidq_meta(n, FS_NIDQ), mtscomp)

    def _sync_word(self, fronts: dict, n: int, fs: float, lines: dict[int, int]) -> np.ndarray:
        """The digital word of the first ``n`` samples: bit ``line`` high between a rise and a fall."""
        word = np.zeros(n, dtype=np.int32)
        for line, bit in lines.items():
            sel = (fronts["channels"] == line) & (fronts["times"] < n / fs)
            idx = np.round(fronts["times"][sel] * fs).astype(np.int64)
            change = np.zeros(n + 1, dtype=np.int32)
            np.add.at(change, idx, fronts["polarities"][sel].astype(np.int32))
            word |= (np.cumsum(change[:n]) > 0).astype(np.int32) << bit
        return word.astype(np.uint16).view(np.int16)

    def _spikeglx(self, tmp: str, stem: str, data: np.ndarray, fs: float, meta: str, mtscomp) -> None:
        raw = Path(tmp) / "raw.bin"
        data.tofile(raw)
        meta = meta.replace("{sha1}", hashlib.sha1(data.tobytes()).hexdigest().upper())
        meta = meta.replace("{size}", str(data.nbytes))
        mtscomp.compress(
            raw,
            self._path(f"{stem}.cbin"),
            self._path(f"{stem}.ch"),
            sample_rate=fs,
            n_channels=data.shape[1],
            dtype=np.int16,
            n_threads=1,
            check_after_compress=False,
            quiet=True,
            chunk_duration=1.0,
        )
        self.text(f"{stem}.meta", meta)
        self.spikeglx.update(f"{stem}.{ext}" for ext in ("cbin", "ch", "meta"))
        key = stem.split("/")[-1].split(".", 1)[1]
        self.s.raw[key] = {
            "n_samples": data.shape[0],
            "n_channels": data.shape[1],
            "fs": fs,
            "data_sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        }

    def qc_files(self, probe: str, r: _Stream) -> None:
        for band, window in (("AP", 2.18), ("LF", 1.64)):
            n = max(4, int(self.sc.duration / window))
            self.npy(
                f"{probe}/_iblqc_ephysTimeRms{band}.rms.npy",
                (1e-5 * (1 + r.uniform(n * (N_CHANNELS + 1)))).astype(np.float32).reshape(n, -1),
            )
            self.npy(
                f"{probe}/_iblqc_ephysTimeRms{band}.timestamps.npy",
                (np.arange(n) * window).astype(np.float32),
            )
            self.npy(
                f"{probe}/_iblqc_ephysSpectralDensity{band}.freqs.npy",
                (np.arange(513) * (FS_AP if band == "AP" else FS_LF) / 1024).astype(np.float32),
            )
            self.npy(
                f"{probe}/_iblqc_ephysSpectralDensity{band}.power.npy",
                (1e-12 * (1 + r.uniform(513 * (N_CHANNELS + 1)))).astype(np.float32).reshape(513, -1),
            )

    def raw_behaviour(self, folder: str, trials: dict) -> None:
        r = self.rng(f"rawbeh/{folder}")
        n = trials["intervals"].shape[0]
        lines = []
        for i in range(n):
            t0 = float(trials["intervals"][i, 0])
            rel = {
                k: round(float(trials[k][i]) - t0, 6)
                for k in ("stimOn_times", "response_times", "feedback_times")
            }
            lines.append(
                json.dumps(
                    {
                        "trial_num": i + 1,
                        "contrast": float(
                            np.nan_to_num(trials["contrastLeft"][i], nan=0.0)
                            + np.nan_to_num(trials["contrastRight"][i], nan=0.0)
                        ),
                        "position": -35 if np.isnan(trials["contrastLeft"][i]) else 35,
                        "stim_probability_left": float(trials["probabilityLeft"][i]),
                        "behavior_data": {
                            "Bpod start timestamp": 0.0,
                            "Trial start timestamp": t0,
                            "Trial end timestamp": float(trials["intervals"][i, 1]),
                            "Events timestamps": {
                                "BNC1High": [rel["stimOn_times"]],
                                "Port1In": [rel["feedback_times"]],
                            },
                            "States timestamps": {
                                "stim_on": [[rel["stimOn_times"], rel["stimOn_times"] + 0.1]],
                                "closed_loop": [[rel["stimOn_times"] + 0.1, rel["response_times"]]],
                            },
                        },
                    }
                )
            )
        self.text(f"{folder}/_iblrig_taskData.raw.jsonable", "\n".join(lines) + "\n")
        self.json(
            f"{folder}/_iblrig_taskSettings.raw.json",
            files.task_settings(self.s, "_iblrig_tasks_ephysChoiceWorld"),
        )
        self.text(
            f"{folder}/_iblrig_ambientSensorData.raw.jsonable",
            "".join(
                json.dumps(
                    {
                        "Temperature_C": round(22 + r.uniform(1)[0], 3),
                        "AirPressure_mb": round(1010 + r.uniform(1)[0], 3),
                        "RelativeHumidity": round(40 + r.uniform(1)[0], 3),
                    }
                )
                + "\n"
                for _ in range(n)
            ),
        )
        self._encoder_files(folder, r, n)
        self.binary(f"{folder}/_iblrig_codeFiles.raw.zip", files.zip_bytes({"task.py": "# iblrig task\n"}))
        self.binary(f"{folder}/_iblrig_micData.raw.flac", files.flac_bytes())
        self.csv(f"{folder}/_iblrig_stimPositionScreen.raw.csv", files.stim_position(r, n), index=False)
        self.csv(f"{folder}/_iblrig_syncSquareUpdate.raw.csv", files.sync_square(r, n), index=False)

    def _encoder_files(self, folder: str, r: _Stream, n: int, empty_events: bool = False) -> None:
        date = self.s.date
        pos = [
            f"{1000 * i} {int(k)} {date}T10:00:{i % 60:02d}.{1000000 + i:07d}+01:00"
            for i, k in enumerate(np.cumsum(r.choice(n * 20, [-1, 1])))
        ]
        self.text(f"{folder}/_iblrig_encoderPositions.raw.ssv", "\n".join(pos) + "\n")
        if empty_events:
            self.binary(f"{folder}/_iblrig_encoderEvents.raw.ssv", b"")
        else:
            events = [
                f"{5000 * i} {1 + i % 4} {date}T10:00:{i % 60:02d}.{1000000 + i:07d}+01:00"
                for i in range(3 * n)
            ]
            self.text(f"{folder}/_iblrig_encoderEvents.raw.ssv", "\n".join(events) + "\n")
        info = [
            f"{i + 1} 35 1.0 0.1 0 4.0 7.0 0.0 {date}T10:00:{i % 60:02d}.{1000000 + i:07d}+01:00 "
            for i in range(n)
        ]
        self.text(f"{folder}/_iblrig_encoderTrialInfo.raw.ssv", "\n".join(info) + "\n")

    def raw_passive(self) -> None:
        folder = "raw_passive_data"
        r = self.rng("rawpassive")
        self.json(
            f"{folder}/_iblrig_taskSettings.raw.json",
            files.task_settings(self.s, "_iblrig_tasks_ephys_certification"),
        )
        self._encoder_files(folder, r, 10, empty_events=True)
        self.csv(f"{folder}/_iblrig_stimPositionScreen.raw.csv", files.stim_position(r, 10), index=False)
        self.csv(f"{folder}/_iblrig_syncSquareUpdate.raw.csv", files.sync_square(r, 10), index=False)
        # receptive-field-mapping frames: 15 x 15 pixels of uint8 per frame
        n = self.s.passive["alf/task_01" if self.new else "alf"]["rfm_times"].size
        self.binary(
            f"{folder}/_iblrig_RFMapStim.raw.bin",
            (r.choice(n * 225, np.array([0, 128, 255], dtype=np.uint8))).tobytes(),
        )

    def raw_video(self) -> None:
        folder = "raw_video_data"
        for label, times in self.s.cameras["alf"].items():
            stem = f"{folder}/_iblrig_{label}Camera"
            self.binary(f"{stem}.raw.mp4", files.MP4_HEADER)
            n = times.size
            count = np.arange(n, dtype=np.float64) + 17
            gpio = np.where((np.arange(n) // 30) % 2 == 0, 0, 1 << 28).astype(np.float64)
            self.binary(f"{stem}.GPIO.bin", gpio.tobytes())
            self.binary(f"{stem}.frame_counter.bin", count.tobytes())
            cam_ts = ((times * 1e6).astype(np.int64) % (1 << 32)).astype(np.uint32)
            if self.new:
                ticks = (np.int64(638_000_000_000_000_000) + (times * 1e7).astype(np.int64)).astype(
                    np.float64
                )
                frame = np.c_[ticks, cam_ts.astype(np.float64), count, gpio]
                self.binary(f"{stem}.frameData.bin", frame.tobytes())
            else:
                stamps = [
                    f"{self.s.date}T10:00:{int(t) % 60:02d}.{int((t % 1) * 1e7):07d}+00:00 {c}"
                    for t, c in zip(times.tolist(), cam_ts.tolist(), strict=True)
                ]
                self.text(f"{stem}.timestamps.ssv", "\n".join(stamps) + "\n")
        self.binary(
            f"{folder}/_iblrig_videoCodeFiles.raw.zip",
            files.zip_bytes({"camera_setup.bonsai": "<Workflow/>\n"}),
        )


# ---------------------------------------------------------------------------------------------


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_one_cache(root: str | Path, sessions, *, md5: bool = False) -> tuple[Path, Path]:
    """Index ``root`` for ONE-api's local mode, with each generated session's ``eid``.

    ONE-api's :func:`one.alf.cache.make_parquet_db` writes ``sessions.pqt`` and ``datasets.pqt``
    with random ids; here the ids of ``sessions`` (:class:`IblSession` written under ``root``) are
    their ``eid`` and dataset ids are UUID3 of the eid and the ``rel_path``, so that
    ``one.api.One(cache_dir=root, mode="local")`` finds ``session.eid``.

    Parameters
    ----------
    root : str or Path
        The folder holding ``<lab>/Subjects/...``.
    sessions : iterable of IblSession
        The generated sessions (others under ``root`` keep path-derived UUID3 ids).
    md5 : bool
        Record each file's md5, as Alyx does. ONE-api then checks it on every load with its own,
        slow hashing; without it (the default) the ``hash`` column is empty and ONE-api skips it.

    Returns
    -------
    (Path, Path)
        The sessions and datasets tables.
    """
    import uuid

    from iblutil.io import parquet
    from one.alf.cache import make_parquet_db

    root = Path(root)
    by_path = {}
    for s in sessions:
        rel = s.path.resolve().relative_to(root.resolve()).parts
        by_path["/".join((rel[0], *rel[2:]))] = s.eid  # lab/subject/date/number, as ONE keys them
    fn_ses, fn_dsets = make_parquet_db(root, hash_ids=False)
    base = uuid.UUID(_Stream(0, "one-cache").uuids(1)[0])
    eids = {}
    ses, meta = parquet.load(fn_ses)
    for key in ses["id"]:
        eids[key] = by_path.get(key) or str(uuid.uuid3(base, key))
    ses["id"] = ses["id"].map(eids)
    dsets, meta_d = parquet.load(fn_dsets)

    def folder(key: str) -> Path:  # ONE keys sessions lab/subject/date/number, without "Subjects"
        lab, rest = key.split("/", 1)
        with_lab = root / lab / "Subjects" / rest
        return with_lab if with_lab.is_dir() else root / key

    pairs = zip(dsets["eid"], dsets["rel_path"], strict=True)
    dsets["hash"] = [_md5(folder(e) / r) for e, r in pairs] if md5 else None
    dsets["id"] = [
        str(uuid.uuid3(uuid.UUID(eids[e]), r)) for e, r in zip(dsets["eid"], dsets["rel_path"], strict=True)
    ]
    dsets["eid"] = dsets["eid"].map(eids)
    # as Alyx marks them: of the same dataset in several revisions, the newest is the default
    parts = dsets["rel_path"].str.extract(r"^(?:(?P<coll>.*?)/)?(?:#(?P<rev>[^#]+)#/)?(?P<name>[^/]+)$")
    key = dsets["eid"] + "|" + parts["coll"].fillna("") + "|" + parts["name"]
    newest = parts["rev"].fillna("").groupby(key).transform("max")
    dsets["default_revision"] = parts["rev"].fillna("") == newest
    parquet.save(fn_ses, ses, meta)
    parquet.save(fn_dsets, dsets, meta_d)
    return fn_ses, fn_dsets


def main(argv: list[str] | None = None) -> int:
    """``python -m neo_alf.testing_ibl --root DIR [--layout 2024] [--scale real]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--layout", default="2024", choices=LAYOUTS)
    parser.add_argument("--scale", default="small", choices=SCALES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    session = make_ibl_session(args.root, args.layout, scale=args.scale, seed=args.seed)
    size = sum((session.path / p).stat().st_size for p in session.rel_paths)
    print(f"{session.path}: {len(session.rel_paths)} files, {size / 1e6:.1f} MB, {session.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


REFRACTORY_S = 0.0015
"""Seconds between two spikes of one unit, at least: sorted units respect a refractory period, and
Neo's compliance functions pick one spike by a +-1 ms window around it."""


def _refractory(when: np.ndarray, units: np.ndarray, gap) -> np.ndarray:
    """Which spikes to keep so that no two of one unit are closer than ``gap`` (a few passes)."""
    keep = np.ones(when.size, dtype=bool)
    for _ in range(4):
        rows = np.flatnonzero(keep)
        order = rows[np.lexsort((when[rows], units[rows]))]
        close = (np.diff(when[order]) < gap) & (units[order][1:] == units[order][:-1])
        if not close.any():
            break
        keep[order[1:][close]] = False
    return keep
