"""OneAdapter: the Open Neurophysiology Environment's three functions over a local ONE cache folder.

search (eids from session fields and dataset types), load (objects, datasets, Neo IO) and
load_ts (timeseries on a common time base), with files fetched from an ALF file server when
``base_url`` is set. No Alyx database, no login.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AlfAmbiguousError, AlfNameError, AlfNotFoundError
from ..session import AlfSession, ObjectData
from ..spec import parse_rel_path, parse_session_path
from .download import Downloader, DownloadJob, remote_rel_path, safe_target
from .index import CacheIndex, DatasetRecord, SessionRecord
from .resample import load_timeseries

__all__ = ["OneAdapter"]

_REF = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})_(?P<number>\d{1,3})_(?P<subject>[\w.-]+)$")


class OneAdapter:
    """Search, load and fetch ALF sessions of a ONE cache folder by experiment id (eid).

    Parameters
    ----------
    cache_dir : str or path-like
        The ONE cache folder: sessions under ``[lab/Subjects/]subject/date/number``, with or
        without ``sessions.pqt``/``datasets.pqt`` (without them, eids are stable name-based UUIDs).
    base_url : str, optional
        An ALF file server: missing files are fetched from it before they are read.
    progress : bool
        Show a progress bar while downloading (needs tqdm).
    downloader : Downloader, optional
        To set retries, timeouts and parallelism.

    Examples
    --------
    >>> one = OneAdapter("~/Downloads/ONE/openalyx.internationalbrainlab.org")
    >>> eids = one.search(subject="KS023", datasets=["spikes.times"])
    >>> trials = one.load_object(eids[0], "trials")
    >>> block = one.io(eids[0]).read_block(lazy=True)
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        base_url: str | None = None,
        progress: bool = True,
        downloader: Downloader | None = None,
    ):
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        if not self.cache_dir.is_dir():
            raise AlfNotFoundError("no such cache folder", self.cache_dir)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.downloader = downloader or Downloader(progress=progress)
        self.index = CacheIndex.build(self.cache_dir)

    def __repr__(self) -> str:
        remote = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OneAdapter({str(self.cache_dir)!r}{remote}: {len(self.index.sessions)} sessions)"

    # ---------------------------------------------------------------------------------------- ids

    def to_eid(self, id_: str | uuid.UUID | os.PathLike) -> str:
        """An eid from an eid (str or UUID), a session path, or a reference ``yyyy-mm-dd_N_subject``.

        Raises
        ------
        AlfNotFoundError
            Nothing in the cache matches.
        AlfAmbiguousError
            A reference that matches sessions of several labs.
        """
        if isinstance(id_, uuid.UUID):
            id_ = str(id_)
        if isinstance(id_, str):
            text = id_.strip()
            try:
                eid = str(uuid.UUID(text))
            except ValueError:
                eid = None
            if eid is not None:
                if eid not in self.index.sessions:
                    raise AlfNotFoundError(f"unknown eid {eid}", self.cache_dir)
                return eid
            m = _REF.match(text)
            if m:
                return self._from_ref(m)
        found = self.path2eid(id_)
        if found is None:
            raise AlfNotFoundError(f"no session for {id_!r}", self.cache_dir)
        return found

    def _from_ref(self, m: re.Match) -> str:
        date, number, subject = datetime.date.fromisoformat(m["date"]), int(m["number"]), m["subject"]
        found = [
            s.eid
            for s in self.index.sessions.values()
            if s.date == date and s.number == number and s.subject == subject
        ]
        if not found:
            raise AlfNotFoundError(f"no session {m.group(0)}", self.cache_dir)
        if len(found) > 1:
            raise AlfAmbiguousError(
                f"{m.group(0)} matches {len(found)} sessions: {', '.join(found)}", self.cache_dir
            )
        return found[0]

    def eid2path(self, eid: str | uuid.UUID | os.PathLike) -> Path | None:
        """The session folder that exists for an eid (``001`` or ``1``), or None."""
        try:
            record = self.index.sessions[self.to_eid(eid)]
        except AlfNotFoundError:
            return None
        for candidate in self._candidate_dirs(record):
            if candidate.is_dir():
                return candidate
        return None

    def path2eid(self, path: str | os.PathLike) -> str | None:
        """The eid of a session folder (absolute, or relative to the cache folder), or None."""
        try:
            parts = parse_session_path(path)
        except AlfNameError:
            return None
        for record in self.index.sessions.values():
            if (record.subject, record.date, record.number) == (parts.subject, parts.date, parts.number) and (
                parts.lab is None or record.lab == parts.lab
            ):
                return record.eid
        return None

    def _candidate_dirs(self, record: SessionRecord) -> list[Path]:
        head = self.cache_dir / (f"{record.lab}/Subjects" if record.lab else "") / record.subject
        head = head / record.date.isoformat()
        return [head / f"{record.number:03d}", head / str(record.number)]

    def _session_dir(self, eid: str) -> Path:
        """The folder a session is (or will be, when downloaded) in."""
        record = self.index.sessions[eid]
        return self.eid2path(eid) or self._candidate_dirs(record)[0]

    # -------------------------------------------------------------------------------------- search

    def search(
        self,
        subject: str | None = None,
        lab: str | None = None,
        date_range=None,
        number: int | None = None,
        datasets: Iterable[str] | str | None = None,
        task_protocol: str | None = None,
    ) -> list[str]:
        """Eids of the sessions matching every filter given (exact matches); no filter: every eid.

        Parameters
        ----------
        subject, lab, task_protocol : str, optional
            Exact values (``ZM_1`` does not find ``ZM_1743``).
        date_range : str, date, or pair of them, optional
            One day, or ``(first, last)`` inclusive; either end may be None.
        number : int, optional
            The session number of the day.
        datasets : str or list of str, optional
            ``object.attribute`` names (``spikes.times``) the session must all have, in any
            namespace, extension, collection or revision.

        Returns
        -------
        list of str
            Eids, newest date first.
        """
        first, last = _date_range(date_range)
        wanted = [datasets] if isinstance(datasets, str) else list(datasets or [])
        out = []
        for record in self.index.sessions.values():
            if subject is not None and record.subject != subject:
                continue
            if lab is not None and record.lab != lab:
                continue
            if number is not None and record.number != int(number):
                continue
            if task_protocol is not None and record.task_protocol != task_protocol:
                continue
            if (first and record.date < first) or (last and record.date > last):
                continue
            if wanted and not set(wanted) <= self.index.dataset_types(record.eid):
                continue
            out.append(record)
        out.sort(key=lambda r: (-r.date.toordinal(), r.lab or "", r.subject, r.number))
        return [r.eid for r in out]

    # -------------------------------------------------------------------------------------- loading

    def list_datasets(self, eid, collection: str | None = None) -> list[str]:
        """Relative paths of the session's datasets (from the table, or the folder), sorted."""
        eid = self.to_eid(eid)
        records = self.index.datasets.get(eid, [])
        paths = sorted(r.rel_path for r in records)
        if collection is not None:
            paths = [p for p in paths if parse_rel_path(p).collection == collection]
        return paths

    def session(self, eid, revision: str | None = None, fetch: bool = True) -> AlfSession:
        """The :class:`~neo_alf.session.AlfSession` of an eid, after fetching what is missing."""
        eid = self.to_eid(eid)
        if fetch and self.base_url:
            self.download(eid)
        folder = self.eid2path(eid)
        if folder is None:
            raise AlfNotFoundError(
                f"session {eid} has no folder in the cache (and no base_url to fetch it)", self.cache_dir
            )
        return AlfSession(folder, revision=revision)

    def load_object(
        self, eid, obj: str, collection: str | None = None, revision: str | None = None
    ) -> ObjectData:
        """Every attribute of one object of the session, as :func:`neo_alf.load_object`."""
        return self.session(eid, revision).load_object(obj, collection)

    def load_dataset(
        self, eid, dataset: str, collection: str | None = None, revision: str | None = None
    ) -> Any:
        """One dataset (``"object.attribute"``), as :func:`neo_alf.load_dataset`."""
        return self.session(eid, revision).dataset(dataset, collection).load()

    def load_ts(
        self,
        eid,
        names: Sequence[str],
        sample_rate: float = 1000.0,
        t: np.ndarray | None = None,
        collection: str | None = None,
        revision: str | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Timeseries interpolated onto one time base: ``(*arrays, t)``.

        Linear interpolation; the default time base is evenly sampled at ``sample_rate`` over the
        span every series covers; an explicit ``t`` (even or uneven) gives NaN outside a series'
        span. See :func:`neo_alf.one.resample.load_timeseries`.
        """
        return load_timeseries(self.session(eid, revision), names, sample_rate, t, collection)

    def io(self, eid, **kwargs: Any):
        """An :class:`~neo_alf.io.AlfIO` of the session (after fetching it when remote)."""
        from ..io import AlfIO

        eid = self.to_eid(eid)
        session = self.session(eid, kwargs.get("revision"))
        return AlfIO(session.path, eid=eid, **kwargs)

    # ------------------------------------------------------------------------------------- download

    def download(self, eid, collection: str | None = None) -> list[Path]:
        """Fetch the session's missing (or wrongly sized) datasets from ``base_url``.

        Returns
        -------
        list of Path
            The files fetched.

        Raises
        ------
        AlfDownloadError, AlfHashError
            A file could not be fetched, or its size/md5 is not the table's; nothing partial stays.
        AlfPathError
            A table path that would leave the session folder.
        """
        if not self.base_url:
            raise AlfNotFoundError("no base_url: this adapter reads local files only", self.cache_dir)
        eid = self.to_eid(eid)
        record = self.index.sessions[eid]
        session_dir = self._session_dir(eid)
        jobs = []
        for dataset in self.index.datasets.get(eid, []):
            target = safe_target(session_dir, dataset.rel_path)
            if collection is not None and parse_rel_path(dataset.rel_path).collection != collection:
                continue
            if _present(target, dataset):
                continue
            url = f"{self.base_url}/{record.rel_path}/{remote_rel_path(dataset.rel_path, dataset.id)}"
            jobs.append(DownloadJob(url, target, dataset.file_size, dataset.hash))
        return self.downloader.fetch_all(jobs)


def _present(target: Path, dataset: DatasetRecord) -> bool:
    if not target.is_file():
        return False
    return dataset.file_size is None or target.stat().st_size == dataset.file_size


def _date_range(value) -> tuple[datetime.date | None, datetime.date | None]:
    def as_date(v):
        if v is None or isinstance(v, datetime.date):
            return v
        return datetime.date.fromisoformat(str(v)[:10])

    if value is None:
        return None, None
    if isinstance(value, (str, datetime.date)):
        day = as_date(value)
        return day, day
    first, last = value
    return as_date(first), as_date(last)
