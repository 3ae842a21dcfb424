"""OneAdapter: the Open Neurophysiology Environment's functions over a local ONE cache folder.

search (eids from session fields and dataset names), load (objects, datasets, Neo IO, fetching only
the files asked for) and load_ts (timeseries on a common time base), with files fetched from an ALF
file server when ``base_url`` is set and cache tables from ``cache_url`` (IBL's public tables,
anonymously). No Alyx database, no login.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from .. import loaders
from ..bunch import AlfBunch
from ..errors import AlfAmbiguousError, AlfError, AlfNameError, AlfNotFoundError
from ..loaders import name_spellings, parse_dataset_query
from ..session import AlfSession
from ..spec import RelPath, parse_rel_path, parse_session_path
from .download import Downloader, DownloadJob, remote_rel_path, safe_target
from .index import CacheIndex, DatasetRecord, SessionRecord
from .resample import load_timeseries

__all__ = ["SEARCH_TERMS", "OneAdapter"]

_REF = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})_(?P<number>\d{1,3})_(?P<subject>[\w.-]+)$")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
SEARCH_TERMS = ("datasets", "date_range", "laboratory", "number", "projects", "subject", "task_protocol")
"""tuple: search keywords, as ONE-api's; any unambiguous prefix works (``lab``, ``date``, ``task``)."""


class OneAdapter:
    """Search, load and fetch ALF sessions of a ONE cache folder by experiment id (eid).

    Parameters
    ----------
    cache_dir : str or path-like
        The ONE cache folder: sessions under ``[lab/][Subjects/]subject/date/number`` (or a session
        folder itself), with or without ``sessions.pqt``/``datasets.pqt`` (without them, eids are
        stable name-based UUIDs).
    base_url : str, optional
        An ALF file server: files asked for and missing are fetched from it before they are read.
    progress : bool
        Show a progress bar while downloading (needs tqdm).
    downloader : Downloader, optional
        To set retries, timeouts, deadline and parallelism.
    cache_url : str, optional
        Where ``cache_info.json`` and ``cache.zip`` are published: the tables are fetched (anonymously)
        when missing or when the published ``date_created`` changed.
        See :func:`neo_alf.one.cache.update_cache`.

    Examples
    --------
    >>> one = OneAdapter("~/Downloads/ONE/public", cache_url=CACHE_URL, base_url=DATA_URL)
    >>> eids = one.search(subject="KS023", datasets=["spikes.times"])
    >>> trials = one.load_object(eids[0], "trials")   # fetches the trials files only
    >>> block = one.io(eids[0], collections=["alf"]).read_block(lazy=True)
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        base_url: str | None = None,
        progress: bool = True,
        downloader: Downloader | None = None,
        cache_url: str | None = None,
    ):
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.downloader = downloader or Downloader(progress=progress)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.cache_url = cache_url.rstrip("/") if cache_url else None
        if self.cache_url:
            from .cache import update_cache

            update_cache(self.cache_dir, self.cache_url, self.downloader)
        if not self.cache_dir.is_dir():
            raise AlfNotFoundError("no such cache folder", self.cache_dir)
        self.index = CacheIndex.build(self.cache_dir)
        self._parsed: dict[str, list[tuple[DatasetRecord, RelPath | None]]] = {}
        self._spellings: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        remote = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"OneAdapter({str(self.cache_dir)!r}{remote}: {len(self.index.sessions)} sessions)"

    def refresh_cache(self) -> bool:
        """Fetch the tables again when ``cache_url``'s ``date_created`` changed; True when it did."""
        if not self.cache_url:
            return False
        from .cache import update_cache

        changed = update_cache(self.cache_dir, self.cache_url, self.downloader)
        if changed:
            self.index = CacheIndex.build(self.cache_dir)
            self._parsed.clear()
            self._spellings.clear()
        return changed

    # ---------------------------------------------------------------------------------------- ids

    def to_eid(self, id_):
        """An eid from an eid (str, UUID), a path inside a session, an experiment reference
        (``yyyy-mm-dd_N_subject`` or a dict ``{"date", "sequence", "subject"}``) or an Alyx session
        URL; a list gives a list.

        Raises
        ------
        ValueError
            ``id_`` is none of these shapes (e.g. ``"fakeid"``).
        AlfNotFoundError
            A well-formed id that names no session of the cache.
        AlfAmbiguousError
            A reference that matches sessions of several labs.
        """
        if isinstance(id_, (list, tuple)):
            return [self.to_eid(i) for i in id_]
        eid = _as_uuid(id_)
        if eid is not None:
            if eid not in self.index.sessions:
                raise AlfNotFoundError(f"unknown eid {eid}", self.cache_dir)
            return eid
        if isinstance(id_, dict):
            try:
                ref = f"{id_['date']}_{int(id_.get('sequence', id_.get('number')))}_{id_['subject']}"
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"not an experiment reference: {id_!r}") from None
            id_ = ref
        if isinstance(id_, str) and _REF.match(id_.strip()):
            return self._from_ref(_REF.match(id_.strip()))
        if isinstance(id_, (str, PurePath)):
            found = self.path2eid(id_)
            if found is not None:
                return found
            if _looks_like_path(id_):
                raise AlfNotFoundError(f"no session for {str(id_)!r}", self.cache_dir)
        raise ValueError(
            f"{id_!r} is not an eid, a session path, an experiment reference or an Alyx session URL"
        )

    def _from_ref(self, m: re.Match) -> str:
        try:
            date = datetime.date.fromisoformat(m["date"])
        except ValueError:
            raise ValueError(f"{m.group(0)!r}: not a calendar date") from None
        number, subject = int(m["number"]), m["subject"]
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

    def eid2path(self, eid):
        """The session folder of an eid: the one that exists (``001`` or ``1``), else the one it
        will have when downloaded (as ONE-api); None for a well-formed eid the cache does not know.
        A list gives a list.

        Raises
        ------
        ValueError
            A malformed id.
        """
        if isinstance(eid, (list, tuple)):
            return [self.eid2path(e) for e in eid]
        try:
            key = self.to_eid(eid)
        except AlfNotFoundError:
            return None
        record = self.index.sessions[key]
        candidates = self._candidate_dirs(record)
        return next((c for c in candidates if c.is_dir()), candidates[0])

    def path2eid(self, path):
        """The eid of the session a path is in (the session folder, a collection, a dataset file;
        absolute or relative to the cache folder), or None. A list gives a list."""
        if isinstance(path, (list, tuple)):
            return [self.path2eid(p) for p in path]
        text = PurePath(path).as_posix() if isinstance(path, PurePath) else str(path)
        parts = None
        candidate = PurePath(text)
        for p in [candidate, *candidate.parents]:
            try:
                parts = parse_session_path(p)
                break
            except AlfNameError:
                continue
        if parts is None:
            return None
        for record in self.index.sessions.values():
            if (record.subject, record.date, record.number) == (parts.subject, parts.date, parts.number) and (
                parts.lab is None or record.lab is None or record.lab == parts.lab
            ):
                return record.eid
        return None

    def _candidate_dirs(self, record: SessionRecord) -> list[Path]:
        if record.folder is not None:
            return [self.cache_dir / record.folder if record.folder else self.cache_dir]
        head = self.cache_dir / (f"{record.lab}/Subjects" if record.lab else "") / record.subject
        head = head / record.date.isoformat()
        return [head / f"{record.number:03d}", head / str(record.number)]

    def _session_dir(self, eid: str) -> Path:
        """The folder a session is (or will be, when downloaded) in."""
        return self.eid2path(eid)

    # -------------------------------------------------------------------------------------- search

    def search(self, details: bool = False, **filters: Any):
        """Eids of the sessions matching every filter given, in ONE-api's order.

        Parameters
        ----------
        details : bool
            Also return one dict per session (eid, lab, subject, date, number, task_protocol,
            projects, path).
        subject, laboratory (lab) : str or list of str
            Exact values; a list matches any of them (``ZM_1`` does not find ``ZM_1743``).
        number : int or list of int
        date_range (date) : str, date, or pair of them
            One day, or ``[first, last]`` inclusive; either end may be None.
        task_protocol, projects : str or list of str
            Case-insensitive substrings; a list matches any of them.
        datasets : str or list of str
            Names the session must all have (any spelling of :func:`neo_alf.loaders.parse_dataset_query`:
            ``spikes.times``, ``spikes.depths.npy``, ``alf/_ibl_trials.table.pqt``, wildcards). Only
            datasets that exist count.

        Returns
        -------
        list of str, or (list of str, list of dict)
            Eids, newest date first, then subject and number descending (as ONE-api).

        Raises
        ------
        ValueError
            An unknown or ambiguous search term (named), or a malformed date range.
        """
        queries: dict[str, Any] = {}
        for key, value in filters.items():
            if value is None:
                continue
            queries[_autocomplete(key)] = value
        first, last = _date_range(queries.get("date_range"))
        subjects = _as_set(queries.get("subject"))
        labs = _as_set(queries.get("laboratory"))
        numbers = {int(n) for n in _as_list(queries.get("number"))} if "number" in queries else None
        protocols = [str(v).casefold() for v in _as_list(queries.get("task_protocol"))]
        projects = [str(v).casefold() for v in _as_list(queries.get("projects"))]
        wanted = [parse_dataset_query(d) for d in _as_list(queries.get("datasets"))]
        out = []
        for record in self.index.sessions.values():
            if subjects is not None and record.subject not in subjects:
                continue
            if labs is not None and record.lab not in labs:
                continue
            if numbers is not None and record.number not in numbers:
                continue
            if (first and record.date < first) or (last and record.date > last):
                continue
            if protocols and not any(p in record.task_protocol.casefold() for p in protocols):
                continue
            if projects and not any(p in record.projects.casefold() for p in projects):
                continue
            if wanted and not all(self._has_dataset(record.eid, q) for q in wanted):
                continue
            out.append(record)
        out.sort(key=lambda r: (r.date, r.subject, r.number), reverse=True)
        eids = [r.eid for r in out]
        if not details:
            return eids
        return eids, [
            {
                "eid": r.eid,
                "lab": r.lab,
                "subject": r.subject,
                "date": r.date,
                "number": r.number,
                "task_protocol": r.task_protocol,
                "projects": r.projects,
                "path": str(self.eid2path(r.eid)),
            }
            for r in out
        ]

    # -------------------------------------------------------------------------------------- listing

    def _has_dataset(self, eid: str, query) -> bool:
        """True when an existing dataset of the session answers to ``query`` (a plain name: one set
        lookup in the session's spellings, built once)."""
        plain = (
            query.collection is None and query.revision is None and not any(c in query.pattern for c in "*?[")
        )
        if plain:
            if eid not in self._spellings:
                self._spellings[eid] = {
                    s
                    for r, rp in self._records(eid)
                    if rp is not None and r.exists
                    for s in name_spellings(rp.name)
                }
            return query.pattern in self._spellings[eid]
        return any(
            query.matches(rp.collection, rp.revision, rp.name)
            for r, rp in self._records(eid)
            if rp and r.exists
        )

    def _records(self, eid: str) -> list[tuple[DatasetRecord, RelPath | None]]:
        """The session's dataset records with their parsed paths (None: a name that breaks the rules)."""
        if eid not in self._parsed:
            rows = [(r, _parse(r.rel_path)) for r in self.index.datasets.get(eid, [])]
            self._parsed[eid] = rows
        return self._parsed[eid]

    def list_datasets(
        self,
        eid,
        collection: str | None = None,
        filename: str | None = None,
        revision: str | None = None,
        details: bool = False,
    ):
        """Relative paths of the session's existing datasets (from the table, or the folder), sorted.

        Parameters
        ----------
        collection : str, optional
            Exact collection, or a wildcard (``alf/probe*``).
        filename : str, optional
            A dataset name in any spelling, wildcards as ONE-api (``_ibl_trials*``).
        revision : str, optional
            Only datasets of this revision folder.
        details : bool
            Return the :class:`~neo_alf.one.index.DatasetRecord` objects instead of paths.
        """
        eid = self.to_eid(eid)
        query = parse_dataset_query(filename) if filename is not None else None
        out = []
        for record, rp in self._records(eid):
            if not record.exists or rp is None:
                continue
            if collection is not None and not fnmatch.fnmatchcase(rp.collection, collection):
                continue
            if revision is not None and rp.revision != revision:
                continue
            if query is not None and not query.matches(rp.collection, rp.revision, rp.name):
                continue
            out.append(record)
        out.sort(key=lambda r: r.rel_path)
        return out if details else [r.rel_path for r in out]

    # -------------------------------------------------------------------------------------- loading

    def session(self, eid, revision: str | None = None, fetch: bool = True) -> AlfSession:
        """The :class:`~neo_alf.session.AlfSession` of an eid, after fetching every missing file.

        Prefer :meth:`load_object`, :meth:`load_dataset` and :meth:`io`, which fetch only what they
        read.
        """
        eid = self.to_eid(eid)
        if fetch and self.base_url:
            self.download(eid)
        return AlfSession(self._existing_dir(eid), revision=revision)

    def _existing_dir(self, eid: str) -> Path:
        folder = self.eid2path(eid)
        if folder is None or not folder.is_dir():
            raise AlfNotFoundError(
                f"session {eid} has no folder in the cache (and no base_url to fetch it)", self.cache_dir
            )
        return folder

    def load_object(
        self,
        eid,
        obj: str,
        collection: str | None = None,
        revision: str | None = None,
        *,
        as_stored: bool = False,
        verify: bool = False,
    ) -> AlfBunch:
        """Every attribute of one object, as :func:`neo_alf.load_object`; fetches that object's files
        (and their metadata) only."""
        eid = self.to_eid(eid)
        if self.base_url and self.index.datasets.get(eid):
            rows = self._object_records(eid, obj, collection)
            collections = sorted({rp.collection for _, rp in rows})
            if len(collections) > 1 and collection is None:
                raise AlfAmbiguousError(
                    f"object {obj!r} is in several collections ({', '.join(collections)}); pass collection=",
                    self.cache_dir,
                )
            self._fetch(eid, _revision_rule(rows, revision), verify)
        return loaders.load_object(self._existing_dir(eid), obj, collection, revision, as_stored=as_stored)

    def _object_records(self, eid: str, obj: str, collection: str | None):
        rows = [(r, rp) for r, rp in self._records(eid) if rp is not None and r.exists]
        m = re.fullmatch(r"_(?P<ns>[^_]+)_(?P<obj>.+)", obj)
        names = {rp.name.object for _, rp in rows}
        namespace = None
        if m and obj not in names:
            namespace, obj = m["ns"], m["obj"]
        hits = [
            (r, rp)
            for r, rp in rows
            if fnmatch.fnmatchcase(rp.name.object, obj)
            and (namespace is None or rp.name.namespace == namespace)
            and (collection is None or rp.collection == collection)
        ]
        if not hits:
            raise AlfNotFoundError(
                f"no object {obj!r}"
                + (f" in collection {collection!r}" if collection is not None else "")
                + loaders._closest(obj, sorted(names)),
                self.cache_dir,
            )
        return hits

    def load_dataset(
        self,
        eid,
        dataset: str,
        collection: str | None = None,
        revision: str | None = None,
        *,
        as_stored: bool = False,
        verify: bool = False,
    ) -> Any:
        """One dataset in any spelling ONE-api accepts, as :func:`neo_alf.load_dataset`; fetches that
        file (its parts and metadata) only."""
        eid = self.to_eid(eid)
        if self.base_url and self.index.datasets.get(eid):
            query = parse_dataset_query(dataset)
            if collection is not None:
                query.collection = collection
            rows = [
                (r, rp)
                for r, rp in self._records(eid)
                if rp is not None and r.exists and query.matches(rp.collection, rp.revision, rp.name)
            ]
            if not rows:
                names = sorted({f"{rp.name.object}.{rp.name.key}" for _, rp in self._records(eid) if rp})
                raise AlfNotFoundError(
                    f"no dataset {dataset!r}{loaders._closest(query.pattern, names)}", self.cache_dir
                )
            identities = {(rp.collection, rp.name.object, rp.name.key) for _, rp in rows}
            wanted = {(rp.collection, rp.name.object, rp.name.attribute, rp.name.timescale) for _, rp in rows}
            if len(identities) > 1:  # refused before anything is fetched
                where = sorted(f"{c or '(root)'}: {o}.{k}" for c, o, k in identities)
                raise AlfAmbiguousError(
                    f"{dataset!r} matches {len(identities)} datasets ({'; '.join(where)}); pass collection= "
                    "or a more precise name",
                    self.cache_dir,
                )
            if identities:
                meta = [
                    (r, rp)
                    for r, rp in self._records(eid)
                    if rp is not None
                    and r.exists
                    and (rp.collection, rp.name.object, rp.name.attribute, rp.name.timescale) in wanted
                ]
                rows = list({id(r): (r, rp) for r, rp in rows + meta}.values())
            self._fetch(eid, _revision_rule(rows, revision or query.revision), verify)
        return loaders.load_dataset(
            self._existing_dir(eid), dataset, collection, revision, as_stored=as_stored
        )

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
        span. See :func:`neo_alf.one.resample.load_timeseries`. Fetches the objects named only.
        """
        eid = self.to_eid(eid)
        if self.base_url and self.index.datasets.get(eid):
            for name in names:
                self._fetch(
                    eid,
                    _revision_rule(self._object_records(eid, name.split(".")[0], collection), revision),
                    False,
                )
        return load_timeseries(
            AlfSession(self._existing_dir(eid), revision=revision), names, sample_rate, t, collection
        )

    def map(self, func, eids=None, *, client=None, **kwargs: Any) -> list:
        """Apply ``func`` to each session (an opened :class:`~neo_alf.rawio.AlfRawIO`), on a Dask
        ``client`` when given, serially without: see :func:`neo_alf.parallel.map_eids`.

        ``eids`` default to those the search terms in ``kwargs`` select. A session that fails gives an
        error record (:func:`neo_alf.parallel.is_error`); results are in input order.
        """
        from ..parallel import map_eids

        return map_eids(self, func, eids, client=client, **kwargs)

    def io(self, eid, collections: Iterable[str] | None = None, raw: bool = False, **kwargs: Any):
        """An :class:`~neo_alf.io.AlfIO` of the session, after fetching what it reads.

        Parameters
        ----------
        collections : list of str, optional
            Fetch (and read) these collections only; default: every collection but raw data
            folders (``raw_*``).
        raw : bool
            Also fetch raw data folders (``raw_ephys_data``, ``raw_video_data``, ...) when
            ``collections`` is None: often tens of GB.
        """
        from ..io import AlfIO

        eid = self.to_eid(eid)
        if self.base_url and self.index.datasets.get(eid):
            self.download(eid, collection=list(collections) if collections is not None else None, raw=raw)
        if collections is not None:
            kwargs["collections"] = list(collections)
        return AlfIO(self._existing_dir(eid), eid=eid, **kwargs)

    # ------------------------------------------------------------------------------------- download

    def download(
        self,
        eid,
        collection: str | Sequence[str] | None = None,
        datasets: str | Sequence[str] | None = None,
        raw: bool = True,
        verify: bool = False,
    ) -> list[Path]:
        """Fetch the session's missing (or wrongly sized) datasets from ``base_url``.

        Parameters
        ----------
        collection : str or list of str, optional
            Only these collections (exact names).
        datasets : str or list of str, optional
            Only datasets answering to these names (any spelling, wildcards); their metadata too.
        raw : bool
            With ``collection`` None: also raw data folders (``raw_*``).
        verify : bool
            Also check the md5 of files already present (and fetch again those that differ).

        Returns
        -------
        list of Path
            The files fetched.

        Raises
        ------
        AlfDownloadError, AlfHashError
            Files could not be fetched, or their size/md5 is not the table's; nothing partial stays.
            One error lists every failure.
        AlfPathError, AlfNameError
            A table path that would leave the session folder or breaks the ALF names.
        AlfNotFoundError
            No ``base_url``, an unknown eid, or a session the datasets table does not list.
        """
        if not self.base_url:
            raise AlfNotFoundError("no base_url: this adapter reads local files only", self.cache_dir)
        eid = self.to_eid(eid)
        if not self.index.datasets.get(eid):
            raise AlfNotFoundError(
                f"the datasets table lists no dataset of session {eid}"
                " (is datasets.pqt in the cache folder?)",
                self.cache_dir,
            )
        collections = [collection] if isinstance(collection, str) else collection
        queries = [parse_dataset_query(d) for d in _as_list(datasets)]
        rows = []
        for record, rp in self._records(eid):
            if not record.exists:
                continue
            if rp is None:
                safe_target(self._session_dir(eid), record.rel_path)  # raises, naming it
                continue
            if collections is not None and rp.collection not in collections:
                continue
            if collections is None and not raw and rp.collection.split("/")[0].startswith("raw_"):
                continue
            if queries and not any(
                q.matches(rp.collection, rp.revision, rp.name)
                or (rp.name.is_metadata and q.matches(rp.collection, rp.revision, _data_name(rp)))
                for q in queries
            ):
                continue
            rows.append((record, rp))
        return self._fetch(eid, rows, verify)

    def _fetch(self, eid: str, rows, verify: bool) -> list[Path]:
        if not self.base_url:
            return []
        record = self.index.sessions[eid]
        session_dir = self._session_dir(eid)
        remote_session = record.rel_path
        jobs = []
        for dataset, _ in rows:
            target = safe_target(session_dir, dataset.rel_path)
            if _present(target, dataset, verify):
                continue
            url = f"{self.base_url}/{remote_session}/{remote_rel_path(dataset.rel_path, dataset.id)}"
            jobs.append(DownloadJob(url, target, dataset.file_size, dataset.hash))
        return self.downloader.fetch_all(jobs)


@functools.lru_cache(maxsize=1 << 16)
def _parse(rel_path: str) -> RelPath | None:
    """A table's rel_path parsed (None: it breaks the rules); cached, as sessions share their names."""
    if not isinstance(rel_path, str) or "\\" in rel_path:
        return None
    try:
        return parse_rel_path(rel_path)
    except (AlfError, ValueError):
        return None


@functools.lru_cache(maxsize=1 << 16)
def _spellings(rel_path: str) -> frozenset[str]:
    return frozenset(name_spellings(_parse(rel_path).name))


def _data_name(rp: RelPath):
    name = rp.name
    return name._replace(extra=name.extra[:-1], extension="*")


def _revision_rule(rows, revision: str | None):
    """Per dataset identity, the rows of the newest revision (at or before ``revision``)."""
    groups: dict[tuple, list] = {}
    for r, rp in rows:
        key = (rp.collection, rp.name.object, rp.name.attribute, rp.name.timescale)
        groups.setdefault(key, []).append((r, rp))
    out = []
    for members in groups.values():
        revisions = sorted({rp.revision for _, rp in members}, key=lambda v: (v is not None, v or ""))
        if revision is not None:
            revisions = [v for v in revisions if v is None or v <= revision]
        if revisions:
            out.extend((r, rp) for r, rp in members if rp.revision == revisions[-1])
    return out


def _present(target: Path, dataset: DatasetRecord, verify: bool = False) -> bool:
    if not target.is_file():
        return False
    if dataset.file_size is not None and target.stat().st_size != dataset.file_size:
        return False
    if verify and dataset.hash:
        digest = hashlib.md5()
        with open(target, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        return digest.hexdigest() == dataset.hash.lower()
    return True


def _as_uuid(value) -> str | None:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower().startswith(("http://", "https://")):
        m = re.search(r"/sessions/(" + _UUID.pattern + r")/?$", text, re.IGNORECASE)
        if m is None:
            raise ValueError(f"{value!r} is not an Alyx session URL (.../sessions/<eid>)")
        text = m.group(1)
    if _UUID.fullmatch(text):
        return str(uuid.UUID(text))
    return None


def _looks_like_path(value) -> bool:
    return isinstance(value, PurePath) or "/" in str(value) or os.sep in str(value)


def _autocomplete(term: str) -> str:
    key = term.casefold()
    if key in SEARCH_TERMS:
        return key
    if key in ("lab", "labs"):
        return "laboratory"
    hits = [t for t in SEARCH_TERMS if t.startswith(key)]
    if key in ("dataset", "date", "project", "task"):
        hits = hits[:1] if hits else hits
    if not hits:
        raise ValueError(f"invalid search term {term!r} (terms: {', '.join(SEARCH_TERMS)})")
    if len(hits) > 1:
        raise ValueError(f"ambiguous search term {term!r} ({', '.join(hits)})")
    return hits[0]


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, int, datetime.date)):
        return [value]
    return list(value)


def _as_set(value) -> set | None:
    return None if value is None else {str(v) for v in _as_list(value)}


def _as_date(v, what: str):
    if v is None or isinstance(v, datetime.date):
        return v.date() if isinstance(v, datetime.datetime) else v
    if hasattr(v, "date") and callable(v.date):  # pandas / numpy timestamps
        return v.date()
    text = str(v).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", text):
            raise ValueError
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{what} {v!r} is not a date yyyy-mm-dd (e.g. 2024-03-05)") from None


def _date_range(value) -> tuple[datetime.date | None, datetime.date | None]:
    """``(first, last)`` inclusive from one date or a pair; a reversed or longer range is refused."""
    if value is None:
        return None, None
    if isinstance(value, (str, datetime.date)) or not hasattr(value, "__len__"):
        day = _as_date(value, "date")
        return day, day
    if len(value) == 1:
        day = _as_date(value[0], "date")
        return day, day
    if len(value) != 2:
        raise ValueError(f"a date range is one date or [first, last], not {len(value)} values")
    first, last = _as_date(value[0], "first date"), _as_date(value[1], "last date")
    if first and last and first > last:
        raise ValueError(f"the date range is reversed: {first} is after {last}")
    return first, last
