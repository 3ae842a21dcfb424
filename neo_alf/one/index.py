"""Which sessions and datasets a ONE cache folder holds: from its cache tables, or from its folders.

A ONE cache folder holds sessions under ``[lab/Subjects/]subject/date/number`` and, usually, the
tables ``sessions.pqt`` and ``datasets.pqt`` that map experiment ids (eids) to them. Both table
formats are read: the current one (string UUID index ``id``; ``(eid, id)`` for datasets) and the
older one (int64 pairs ``id_0``/``id_1``, ``eid_0``/``eid_1``). Reading tables needs pyarrow
(extra ``neo-alf[one]``); pandas is not needed.

Without tables, the folder tree is scanned and every session gets a **stable** eid: a name-based
UUID (:func:`session_eid`) of ``lab/subject/date/number``, the same on every machine and run.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import math
import os
import re
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AlfError, AlfFormatError, AlfNameError, AlfWarning
from ..readers import read_parquet_table
from ..spec import parse_rel_path, parse_session_path
from .checks import check_session_fields

__all__ = [
    "EID_NAMESPACE",
    "CacheIndex",
    "DatasetRecord",
    "SessionRecord",
    "dataset_id",
    "session_eid",
]

EID_NAMESPACE = uuid.UUID("6f0d6c1e-6a8e-5b43-9d4c-0a1f6e2b7c31")
"""uuid.UUID: the fixed namespace of the name-based (uuid5) eids given to sessions found by scanning."""

_SESSION_DIR = re.compile(
    r"^(?:(?:(?P<lab>\w+)/)?Subjects/)?(?P<subject>[\w.-]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<number>\d{1,3})$"
)


@dataclass(frozen=True)
class SessionRecord:
    """One session: its eid, where it lives under the cache folder, and its search fields."""

    eid: str
    lab: str | None
    subject: str
    date: datetime.date
    number: int
    task_protocol: str = ""
    projects: str = ""
    folder: str | None = None
    """The folder found by a scan, relative to the cache folder (``""``: the cache folder itself)."""

    @property
    def rel_path(self) -> str:
        """``[lab/Subjects/]subject/date/NNN`` (number zero-padded, as ONE writes it)."""
        head = f"{self.lab}/Subjects/" if self.lab else ""
        return f"{head}{self.subject}/{self.date.isoformat()}/{self.number:03d}"

    @property
    def ref(self) -> str:
        """ONE's experiment reference, ``yyyy-mm-dd_N_subject``."""
        return f"{self.date.isoformat()}_{self.number}_{self.subject}"


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset of a session, as the datasets table lists it."""

    id: str
    rel_path: str
    file_size: int | None = None
    hash: str | None = None
    exists: bool = True


@dataclass
class CacheIndex:
    """Sessions and datasets of a cache folder.

    Attributes
    ----------
    sessions : dict
        ``eid -> SessionRecord``.
    datasets : dict
        ``eid -> list of DatasetRecord``.
    source : str
        ``"tables"`` or ``"folders"``.
    """

    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    datasets: dict[str, list[DatasetRecord]] = field(default_factory=dict)
    source: str = "folders"
    _types: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def dataset_types(self, eid: str) -> set[str]:
        """``object.attribute[_timescale]`` of every dataset of a session (namespace, extension,
        collection and revision left out), parsed once per session."""
        if eid not in self._types:
            types = set()
            for record in self.datasets.get(eid, []):
                if not record.exists:
                    continue
                try:
                    name = parse_rel_path(record.rel_path).name
                except (AlfNameError, ValueError):
                    continue
                types.add(f"{name.object}.{name.key}")
            self._types[eid] = types
        return self._types[eid]

    @classmethod
    def build(cls, cache_dir: str | os.PathLike) -> CacheIndex:
        """The index of a cache folder: its tables when it has them, else a scan of its folders."""
        cache_dir = Path(cache_dir)
        if (cache_dir / "sessions.pqt").exists():
            return cls.from_tables(cache_dir)
        return cls.from_folders(cache_dir)

    @classmethod
    def from_tables(cls, cache_dir: str | os.PathLike) -> CacheIndex:
        """Read ``sessions.pqt`` and ``datasets.pqt`` (either format)."""
        cache_dir = Path(cache_dir)
        sessions = _read_table(cache_dir / "sessions.pqt")
        eids = _ids(sessions, "id", cache_dir / "sessions.pqt")
        index = cls(source="tables")
        n = len(eids)
        labs = sessions.get("lab", [None] * n)
        protocols = sessions.get("task_protocol", [""] * n)
        projects = sessions.get("projects") or sessions.get("project") or [""] * n
        for i, eid in enumerate(eids):
            try:
                lab, subject, date, number = check_session_fields(
                    labs[i],
                    sessions.get("subject", [None] * n)[i],
                    sessions.get("date", [None] * n)[i],
                    sessions.get("number", [None] * n)[i],
                    str(cache_dir / "sessions.pqt"),
                )
            except AlfError as err:
                warnings.warn(f"session {eid} left out: {err}", AlfWarning, stacklevel=2)
                continue
            index.sessions[eid] = SessionRecord(
                eid, lab, subject, date, number, _text(protocols[i]), _text(projects[i])
            )
        path = cache_dir / "datasets.pqt"
        if path.exists():
            datasets = _read_table(path)
            ids = _ids(datasets, "id", path)
            owners = _ids(datasets, "eid", path)
            n = len(ids)
            rel_paths = datasets.get("rel_path", [None] * n)
            sizes = datasets.get("file_size", [None] * n)
            hashes = datasets.get("hash", [None] * n)
            exists = datasets.get("exists", [True] * n)
            bad = 0
            for i in range(n):
                size = sizes[i]
                try:
                    if size is None or (isinstance(size, float) and math.isnan(size)):
                        size = None
                    elif isinstance(size, bool) or not float(size).is_integer() or float(size) < 0:
                        raise ValueError
                    else:
                        size = int(size)
                    if not isinstance(rel_paths[i], str):
                        raise ValueError
                except (TypeError, ValueError, OverflowError):
                    bad += 1
                    continue
                digest = (
                    hashes[i]
                    if isinstance(hashes[i], str) and re.fullmatch(r"[0-9a-fA-F]{32}", hashes[i])
                    else None
                )
                record = DatasetRecord(ids[i], rel_paths[i], size, digest, exists[i] is not False)
                index.datasets.setdefault(owners[i], []).append(record)
            if bad:
                warnings.warn(
                    f"{path}: {bad} dataset row(s) left out (rel_path not a str, or file_size not a "
                    "non-negative integer)",
                    AlfWarning,
                    stacklevel=2,
                )
        return index

    @classmethod
    def from_folders(cls, cache_dir: str | os.PathLike) -> CacheIndex:
        """Scan ``[lab/Subjects/]subject/date/number`` folders; eids from :func:`session_eid`."""
        root = Path(cache_dir)
        index = cls(source="folders")
        found = _session_dirs(root)
        if not found:
            try:  # the cache folder is itself a session folder
                parse_session_path(root.absolute())
                found = [""]
            except AlfNameError:
                pass
        for rel in found:
            if rel:
                m = _SESSION_DIR.match(rel)
                lab, subject, date_text, number = m["lab"], m["subject"], m["date"], int(m["number"])
            else:
                parts = parse_session_path(root.absolute())
                lab, subject, date_text, number = (
                    parts.lab,
                    parts.subject,
                    parts.date.isoformat(),
                    parts.number,
                )
            try:
                date = datetime.date.fromisoformat(date_text)
            except ValueError:
                continue
            eid = session_eid(lab, subject, date, number)
            if eid in index.sessions:  # 001 and 1 both on disk: one session, listed once
                continue
            index.sessions[eid] = SessionRecord(eid, lab, subject, date, number, folder=rel)
            records = []
            session_dir = root / rel if rel else root
            for file_rel, size in _files_below(session_dir):
                if not _is_alf_path(file_rel):
                    continue
                records.append(DatasetRecord(dataset_id(eid, file_rel), file_rel, size))
            index.datasets[eid] = records
        return index


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def session_eid(lab: str | None, subject: str, date: datetime.date | str, number: int) -> str:
    """The stable eid of a session found by scanning: ``uuid5(EID_NAMESPACE, "lab/subject/date/NNN")``.

    The same session always gets the same eid, whether its folder number is padded or not.
    """
    date = date.isoformat() if isinstance(date, datetime.date) else str(date)
    return str(uuid.uuid5(EID_NAMESPACE, f"{lab or ''}/{subject}/{date}/{int(number):03d}"))


def dataset_id(eid: str, rel_path: str) -> str:
    """The stable id of a scanned dataset: ``uuid5(EID_NAMESPACE, "eid/rel_path")``."""
    return _uuid5(f"{eid}/{rel_path}")


def _uuid5(name: str) -> str:
    # str(uuid.uuid5(EID_NAMESPACE, name)) without building UUID objects: 60,000 of them per scan
    digest = bytearray(hashlib.sha1(EID_NAMESPACE.bytes + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -------------------------------------------------------------------------------------------- tables


def _read_table(path: Path) -> dict[str, list]:
    table = read_parquet_table(path, extra="one", rule="ONE cache tables are parquet")
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if str(column.type).startswith("dictionary"):
            column = column.cast(column.type.value_type)
        out[name] = column.to_pylist()
    return out


def _ids(table: dict[str, list], key: str, path: Path) -> list[str]:
    """String UUIDs from ``key`` (current format) or the int64 pair ``key_0``/``key_1`` (older one)."""
    if key in table:
        return [str(v) for v in table[key]]
    if f"{key}_0" in table and f"{key}_1" in table:
        pairs = np.column_stack([table[f"{key}_0"], table[f"{key}_1"]]).astype("<i8")
        return [str(uuid.UUID(bytes=row.tobytes())) for row in pairs]
    raise AlfFormatError(f"no `{key}` or `{key}_0`/`{key}_1` column", path, rule="ONE cache table columns")


# ------------------------------------------------------------------------------------------- folders


def _session_dirs(root: Path) -> list[str]:
    """Relative paths of every session folder below ``root`` (posix, sorted), without entering them."""
    found: list[str] = []

    def walk(folder: str, depth: int) -> None:
        if depth > 5:
            return
        try:
            entries = sorted(os.scandir(os.path.join(root, folder) if folder else root), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or entry.name.startswith("."):
                continue
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if _SESSION_DIR.match(rel):
                found.append(rel)
            else:
                walk(rel, depth + 1)

    walk("", 0)
    return found


@functools.lru_cache(maxsize=1 << 16)
def _is_alf_path(rel_path: str) -> bool:
    # sessions share their file names: parse each distinct one once
    try:
        parse_rel_path(rel_path)
    except AlfNameError:
        return False
    return True


def _files_below(folder: Path) -> list[tuple[str, int]]:
    """``(relative posix path, size)`` of the files below ``folder`` (symlinked folders not followed)."""
    out: list[tuple[str, int]] = []

    def walk(path: str, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                try:
                    out.append((prefix + entry.name, entry.stat().st_size))
                except OSError:
                    continue

    walk(str(folder), "")
    return out
