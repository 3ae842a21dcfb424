"""File contents of IBL sessions for :mod:`neo_alf.testing_ibl`: text formats, headers, small tables."""

from __future__ import annotations

import io
import tarfile
import zipfile
from typing import Any

import numpy as np

from neo_alf._splitmix import Stream


def np1_geometry(n: int) -> np.ndarray:
    """Neuropixels 1.0 site positions (x, y) in um: checkerboard 43/11/59/27, 20 um rows."""
    i = np.arange(n)
    x = np.array([43, 11, 59, 27])[i % 4]
    y = 20 * (i // 2) + 20
    return np.c_[x, y].astype(np.int64)


def templates(r: Stream, n: int, ns: int, nc: int) -> np.ndarray:
    """Spike-like templates (n, ns, nc), float32: a polynomial trough then a peak, decaying over channels."""
    t = np.arange(ns, dtype=np.float64) / ns
    trough = np.where(t < 0.5, -((t * 2) ** 2) * (1 - t * 2) * 6.75, (t * 2 - 1) * (2 - t * 2) * 1.5)
    spread = 1.0 / (1.0 + ((np.arange(nc) - nc / 2) / 3.0) ** 2)
    amp = 50 + 150 * r.uniform(n)
    return (amp[:, None, None] * trough[None, :, None] * spread[None, None, :]).astype(np.float32)


def whitening(r: Stream, n: int) -> np.ndarray:
    m = 0.001 * r.uniform(n * n).reshape(n, n)
    return (m + m.T) / 2 + np.eye(n)


def metrics(r: Stream, clusters, n_clu, amps, channels, depths, times):
    """``clusters.metrics.pqt`` as brainbox's quality metrics write it (a subset of columns)."""
    import pandas as pd

    counts = np.bincount(clusters, minlength=n_clu)
    duration = float(times[-1] - times[0]) if times.size else 1.0
    label = r.choice(n_clu, [0.0, 1 / 3, 2 / 3, 1.0])
    return pd.DataFrame(
        {
            "cluster_id": np.arange(n_clu, dtype=np.int64),
            "amp_max": amps * 1.2,
            "amp_min": amps * 0.8,
            "amp_median": amps,
            "amp_std_dB": 1 + r.uniform(n_clu),
            "contamination": r.uniform(n_clu) * 0.2,
            "contamination_alt": r.uniform(n_clu) * 0.2,
            "drift": r.uniform(n_clu) * 50,
            "missed_spikes_est": r.uniform(n_clu) * 0.1,
            "noise_cutoff": r.uniform(n_clu) * 5,
            "presence_ratio": r.uniform(n_clu),
            "presence_ratio_std": r.uniform(n_clu),
            "slidingRP_viol": (r.uniform(n_clu) < 0.5).astype(np.float64),
            "spike_count": counts.astype(np.float64),
            "firing_rate": counts / duration,
            "label": label,
            "ks2_contamination_pct": r.uniform(n_clu) * 100,
            "ks2_label": r.choice(n_clu, np.array(["good", "mua"], dtype=object)),
            "bitwise_fail": np.where(label == 1.0, 0, 1 + r.integers(n_clu, 0, 7)).astype(np.int64),
            "depths": depths,
            "channels": channels.astype(np.int64),
        }
    )


def stim_position(r: Stream, n: int):
    import pandas as pd

    return pd.DataFrame(
        {
            "contrast": r.choice(n, [0.0625, 0.125, 0.25, 1.0]),
            "position": r.choice(n, [-35, 35]),
            "bns_ts": [f"2024-03-14T10:00:{i % 60:02d}.{1000000 + i:07d}+01:00" for i in range(n)],
        }
    )


def sync_square(r: Stream, n: int):
    import pandas as pd

    return pd.DataFrame(
        {
            "state": np.arange(2 * n) % 2,
            "bns_ts": [f"2024-03-14T10:00:{i % 60:02d}.{2000000 + i:07d}+01:00" for i in range(2 * n)],
        }
    )


def task_settings(session: Any, task: str) -> dict:
    return {
        "IBLRIG_VERSION_TAG": "8.12.10" if session.layout == "2024" else "6.4.2",
        "PYBPOD_PROTOCOL": task,
        "SUBJECT_NAME": session.subject,
        "SESSION_DATE": session.date,
        "SESSION_NUMBER": session.number,
        "PYBPOD_BOARD": "_iblrig_mainenlab_behavior_0",
        "SESSION_START_TIME": f"{session.date}T10:00:00.000000",
        "STIM_GAIN": 4.0,
        "RE_TTL_CLOCK": 1,
    }


def imec_meta(band: str, n: int, fs: float, geom_map: bool, index: int = 0) -> str:
    """SpikeGLX ``.meta`` of a Neuropixels 1.0 probe (one band), as SpikeGLX 20190327+ writes it."""
    ap = band == "ap"
    chans = [f"({'AP' if ap else 'LF'}{i};{i if ap else i + 384}:{i if ap else i + 384})" for i in range(384)]
    imro = "".join(f"({i} 0 0 500 250 1)" for i in range(384))
    lines = [
        "acqApLfSy=384,384,1",
        "appVersion=20230411",
        "fileCreateTime=2024-03-14T10:00:00",
        f"fileName=D:/iblrig_data/Subjects/CSHL071/_spikeglx_ephysData_g0_t0.imec{index}.{band}.bin",
        "fileSHA1={sha1}",
        "fileSizeBytes={size}",
        f"fileTimeSecs={n / fs:.6f}",
        "firstSample=0",
        "gateMode=Immediate",
        "imAiRangeMax=0.6",
        "imAiRangeMin=-0.6",
        "imDatApi=3.62.1",
        "imDatBs_fw=2.0.137",
        "imDatBsc_fw=3.2.176",
        "imDatBsc_pn=NP2_QBSC_00",
        "imDatBsc_sn=394",
        "imDatFx_hw=1.2",
        "imDatFx_pn=NP2_FLEX_0",
        "imDatHs_pn=NP2_HS_30",
        "imDatHs_sn=2103",
        "imDatPrb_dock=1",
        "imDatPrb_pn=PRB_1_4_0480_1",
        "imDatPrb_port=1",
        "imDatPrb_slot=2",
        "imDatPrb_sn=18194824401",
        "imDatPrb_type=0",
        "imLEDEnable=false",
        "imMaxInt=512",
        "imRoFile=",
        f"imSampRate={fs:g}",
        "imTrgRising=true",
        "imTrgSource=0",
        "nSavedChans=385",
        "snsApLfSy=384,0,1" if ap else "snsApLfSy=0,384,1",
        "snsSaveChanSubset=0:383,768" if ap else "snsSaveChanSubset=384:767,768",
        "syncImInputSlot=2",
        "syncSourceIdx=0",
        "syncSourcePeriod=1",
        "trigMode=Immediate",
        "typeImEnabled=1",
        "typeNiEnabled=1",
        "typeObEnabled=0",
        "typeThis=imec",
        "userNotes=",
        f"~imroTbl=(0,384){imro}",
        "~snsChanMap=(384,384,1)" + "".join(chans) + ("(SY0;768:768)"),
    ]
    if geom_map:
        g = np1_geometry(384)
        lines.append("~snsGeomMap=(PRB_1_4_0480_1,1,0,70)" + "".join(f"(0:{x}:{y}:1)" for x, y in g))
    else:
        lines.append("~snsShankMap=(1,2,480)" + "".join(f"(0:{i % 2}:{i // 2}:1)" for i in range(384)))
    return "\n".join(lines) + "\n"


def nidq_meta(n: int, fs: float) -> str:
    lines = [
        "acqMnMaXaDw=0,0,8,1",
        "appVersion=20230411",
        "fileCreateTime=2024-03-14T10:00:00",
        "fileName=D:/iblrig_data/Subjects/CSHL071/_spikeglx_ephysData_g0_t0.nidq.bin",
        "fileSHA1={sha1}",
        "fileSizeBytes={size}",
        f"fileTimeSecs={n / fs:.6f}",
        "firstSample=0",
        "gateMode=Immediate",
        "niAiRangeMax=5",
        "niAiRangeMin=-5",
        "niAiTermination=Default",
        "niClockLine1=Internal",
        "niClockSource=PXI1Slot5_2 : 30000",
        "niDev1=PXI1Slot5_2",
        "niDev1ProductName=PXI-6341",
        "niMAChans1=",
        "niMAGain=1",
        "niMNChans1=",
        "niMNGain=200",
        "niMaxInt=32768",
        "niStartEnable=false",
        f"niSampRate={fs:g}",
        "niXAChans1=0:7",
        "niXDBytes1=1",
        "niXDChans1=0:7",
        "nSavedChans=9",
        "snsMnMaXaDw=0,0,8,1",
        "snsSaveChanSubset=all",
        "syncNiChan=3",
        "syncNiChanType=0",
        "syncSourceIdx=0",
        "syncSourcePeriod=1",
        "trigMode=Immediate",
        "typeImEnabled=1",
        "typeNiEnabled=1",
        "typeThis=nidq",
        "userNotes=",
        "~snsChanMap=(0,0,8,1,1)" + "".join(f"(XA{i};{i}:{i})" for i in range(8)) + "(XD0;8:8)",
    ]
    return "\n".join(lines) + "\n"


EXPERIMENT_YAML = """\
devices:
  cameras:
    body: {collection: raw_video_data, sync_label: audio}
    left: {collection: raw_video_data, sync_label: audio}
    right: {collection: raw_video_data, sync_label: audio}
  neuropixel:
{probes}procedures: [Ephys recording with acute probe(s)]
projects: [ibl_neuropixel_brainwide_01]
sync:
  nidq: {collection: raw_ephys_data, extension: bin, acquisition_software: spikeglx}
tasks:
- _iblrig_tasks_ephysChoiceWorld: {collection: raw_behavior_data, sync_label: bpod}
- _iblrig_tasks_passiveChoiceWorld: {collection: raw_passive_data, sync_label: bpod}
version: 1.0.0
"""

# ftyp + free + empty mdat boxes: the first bytes of an ISO base media (mp4) file
MP4_HEADER = (
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41\x00\x00\x00\x08free\x00\x00\x00\x08mdat"
)

FIXED_DATE = (2024, 3, 14, 10, 0, 0)


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=FIXED_DATE), content)
    return buffer.getvalue()


def fixed_zip_dates(content: bytes) -> bytes:
    """Rewrite a zip (``np.savez``) with fixed member dates, so that its bytes do not depend on the clock."""
    src = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_DATE), src.read(info.filename))
    return buffer.getvalue()


def tar_bytes(r: Stream) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in (
            ("spike_times.npy", r.integers(64, 0, 1000).tobytes()),
            ("params.py", b"dat_path = 'continuous.dat'\nn_channels_dat = 385\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1710410400
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def flac_bytes() -> bytes:
    """A FLAC stream with only its STREAMINFO block (200 kHz, mono, 16 bit, no samples)."""
    rate, channels, bits = 200000, 1, 16
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36)  # total samples 0
    info = (4096).to_bytes(2, "big") * 2 + (0).to_bytes(3, "big") * 2 + packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info


def log_text(r: Stream) -> str:
    return (
        "\x1b[0m15:39:37.919 [I] ibl:90               Starting Pykilosort version ibl_1.8.0\x1b[0m\n"
        "15:39:38.001 [I] main:120   Loaded raw data with 385 channels\n"
        f"15:52:12.113 [I] main:350   Found {int(r.integers(1, 300, 600)[0])} clusters\n"
    )
