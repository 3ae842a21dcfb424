"""Fetch dataset files from an ALF file server, safely.

Files live at ``{base_url}/{session rel path}/{collection}/[#rev#/]{object}.{attribute}.{uuid}.{ext}``
(the dataset id inserted before the extension, as public ALF file servers name them). Each file
goes to a temporary file in its destination folder, is checked (size, md5 when the table has one),
then atomically renamed to its name without the UUID: nothing half-written ever stands under a
final name; temporary names are short (``.<16 hex>.part``), so 255-byte dataset names work.
Connection errors, timeouts, truncated bodies and 5xx answers are retried with exponential backoff;
a 404 is final; a server that refuses connections stops the jobs not yet started. The limits on
each answer (deadline, size, encoding, redirects) are :mod:`neo_alf.one.transport`'s; the checks of
table paths are :mod:`neo_alf.one.checks`'.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from ..errors import AlfDownloadError, AlfHashError, AlfPathError
from .checks import check_rel_path
from .transport import Retryable, get_to_file

__all__ = ["DownloadJob", "Downloader", "remote_rel_path", "safe_target"]


@dataclass(frozen=True)
class DownloadJob:
    """One file to fetch: its URL, its final path, and what the table says it must be."""

    url: str
    target: Path
    size: int | None = None
    md5: str | None = None


def remote_rel_path(rel_path: str, dataset_id: str) -> str:
    """The server's name of a dataset: the dataset id inserted before the extension, URL-quoted.

    ``alf/#2024-05-06#/spikes.times.npy`` -> ``alf/%232024-05-06%23/spikes.times.<id>.npy``.
    """
    folder, _, name = rel_path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    remote = f"{folder + '/' if folder else ''}{stem}.{dataset_id}{dot}{ext}"
    return urllib.parse.quote(remote, safe="/")


def safe_target(session_dir: Path, rel_path: str) -> Path:
    """Where a dataset goes under its session folder; refuses any path that could leave it.

    The table's ``rel_path`` is untrusted: no backslash, NUL, absolute path, ``..``, and an ALF name
    (:func:`neo_alf.one.checks.check_rel_path`); the resolved target must stay in the folder.
    """
    check_rel_path(rel_path)
    target = (session_dir / rel_path).resolve()
    root = session_dir.resolve()
    if root != target and root not in target.parents:
        raise AlfPathError("leaves the session folder", rel_path, rule="datasets stay in their session")
    return target


class Downloader:
    """Fetch files with retries, checks and atomic renames, several at a time.

    Parameters
    ----------
    session : requests.Session, optional
        Reused for every request (connection pooling).
    retries : int
        Attempts after the first, for connection errors, timeouts and 5xx answers.
    backoff : float
        First wait between attempts, in seconds; doubled each time.
    timeout : float
        Connect and per-read timeout of each request, in seconds.
    max_workers : int
        Files fetched at once.
    progress : bool
        Show a tqdm progress bar (when tqdm is installed); it counts files fetched.
    deadline : float
        Seconds one :meth:`fetch_all` (or :meth:`fetch`) may take in all; past it every
        download still running stops with :class:`~neo_alf.errors.AlfDownloadError`.
    max_size : int
        Bytes accepted for a file whose size the table does not give.
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        max_workers: int = 4,
        progress: bool = True,
        deadline: float = 6 * 3600.0,
        max_size: int = 1 << 36,
    ):
        self.session = session or requests.Session()
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_workers = max_workers
        self.progress = progress
        self.deadline = deadline
        self.max_size = max_size

    def fetch_all(self, jobs: list[DownloadJob]) -> list[Path]:
        """Fetch every job (in parallel); then raise one error listing every failure.

        A server that refuses connections stops the jobs not yet started (they would fail the
        same way). Returns the paths fetched, in job order.

        Raises
        ------
        AlfDownloadError
            One or more files failed; ``.failures`` lists ``(url, error)`` pairs, ``.fetched`` the
            paths that did arrive. A single failure is raised as itself (e.g. AlfHashError).
        """
        if not jobs:
            return []
        deadline = time.monotonic() + self.deadline
        bar = _progress_bar(len(jobs)) if self.progress else None
        unreachable = threading.Event()
        failed = [0]
        lock = threading.Lock()

        def run(job: DownloadJob):
            if unreachable.is_set():
                return AlfDownloadError(
                    "not attempted: the server refused the connection", job.url, rule="servers answer"
                )
            try:
                path = self._fetch(job, deadline, unreachable)
            except Exception as err:  # collected, raised together below
                with lock:
                    failed[0] += 1
                    if bar is not None:
                        bar.set_postfix(failed=failed[0])
                return err
            if bar is not None:
                with lock:
                    bar.update(1)
            return path

        with ThreadPoolExecutor(max_workers=max(1, self.max_workers)) as pool:
            results = list(pool.map(run, jobs))
        if bar is not None:
            bar.close()
        errors = [(j.url, r) for j, r in zip(jobs, results, strict=True) if isinstance(r, BaseException)]
        fetched = [r for r in results if isinstance(r, Path)]
        if len(errors) == 1:
            err = errors[0][1]
            err.fetched = fetched
            err.failures = errors
            raise err
        if errors:
            lines = "; ".join(f"{e}" for _, e in errors[:20])
            more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
            err = AlfDownloadError(
                f"{len(errors)} of {len(jobs)} files failed: {lines}{more}",
                rule="every requested file is fetched",
            )
            err.fetched = fetched
            err.failures = errors
            raise err
        return fetched

    def fetch(self, job: DownloadJob) -> Path:
        """Fetch one file to a temporary name, check it, rename it into place."""
        return self._fetch(job, time.monotonic() + self.deadline, threading.Event())

    def _fetch(self, job: DownloadJob, deadline: float, unreachable: threading.Event) -> Path:
        if job.target.is_dir() or (job.target.exists() and not job.target.is_file()):
            raise AlfDownloadError(
                "the destination exists and is not a regular file",
                [job.url, job.target],
                rule="datasets are regular files",
            )
        try:
            job.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AlfDownloadError(
                f"cannot create the destination folder ({err.strerror})",
                [job.url, job.target],
                rule="the cache folder is writable",
            ) from None
        wait = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return self._fetch_once(job, deadline)
            except Retryable as err:
                if err.refused and attempt >= 1:
                    unreachable.set()
                if attempt == self.retries or unreachable.is_set() or time.monotonic() + wait > deadline:
                    raise AlfDownloadError(
                        f"failed after {attempt + 1} attempts: {err}", job.url, rule="file servers answer 200"
                    ) from None
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")

    def _fetch_once(self, job: DownloadJob, deadline: float) -> Path:
        # a short name: a 255-byte dataset name must still leave room for the temporary one
        partial = job.target.parent / f".{uuid.uuid4().hex[:16]}.part"
        try:
            try:
                with open(partial, "xb") as fh:
                    size, md5 = get_to_file(
                        self.session,
                        job.url,
                        fh,
                        expected_size=job.size,
                        deadline=deadline,
                        timeout=self.timeout,
                        max_size=self.max_size,
                    )
            except OSError as err:
                raise AlfDownloadError(
                    f"cannot write the file ({err.strerror})",
                    [job.url, job.target],
                    rule="the cache folder is writable",
                ) from None
            if job.size is not None and size != job.size:
                raise AlfHashError(
                    f"{size} bytes, the datasets table says {job.size}",
                    job.url,
                    rule="downloaded files match the table's file_size",
                )
            if job.md5 and md5 != job.md5.lower():
                raise AlfHashError(
                    f"md5 {md5}, the datasets table says {job.md5}",
                    job.url,
                    rule="downloaded files match the table's hash",
                )
            try:
                os.replace(partial, job.target)
            except OSError as err:
                raise AlfDownloadError(
                    f"cannot move the file into place ({err.strerror})",
                    [job.url, job.target],
                    rule="datasets are regular files",
                ) from None
            return job.target
        finally:
            try:
                partial.unlink()
            except FileNotFoundError:
                pass


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="file", desc="neo-alf download")
