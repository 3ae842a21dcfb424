"""Fetch dataset files from an ALF file server, safely.

Files live at ``{base_url}/{session rel path}/{collection}/[#rev#/]{object}.{attribute}.{uuid}.{ext}``
(the dataset id inserted before the extension, as public ALF file servers name them). Each file
goes to a temporary file in its destination folder, is checked (size, md5 when the table has one),
then atomically renamed to its name without the UUID: nothing half-written ever stands under a
final name. Connection errors and 5xx answers are retried with exponential backoff; a 404 is final.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from ..errors import AlfDownloadError, AlfHashError, AlfPathError
from ..spec import parse_rel_path

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
    """Where a dataset goes under its session folder; refuses any path that would leave it."""
    parse_rel_path(rel_path)  # refuses absolute paths and `..` with AlfPathError
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
        Connect and read timeout of each request, in seconds.
    max_workers : int
        Files fetched at once.
    progress : bool
        Show a tqdm progress bar (when tqdm is installed).
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        max_workers: int = 4,
        progress: bool = True,
    ):
        self.session = session or requests.Session()
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_workers = max_workers
        self.progress = progress

    def fetch_all(self, jobs: list[DownloadJob]) -> list[Path]:
        """Fetch every job (in parallel); raise the first error after all have finished."""
        if not jobs:
            return []
        bar = _progress_bar(len(jobs)) if self.progress else None
        results: list[Path | BaseException] = []

        def run(job: DownloadJob):
            try:
                return self.fetch(job)
            except BaseException as err:  # collected, re-raised below
                return err
            finally:
                if bar is not None:
                    bar.update(1)

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            results = list(pool.map(run, jobs))
        if bar is not None:
            bar.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    def fetch(self, job: DownloadJob) -> Path:
        """Fetch one file to a temporary name, check it, rename it into place."""
        job.target.parent.mkdir(parents=True, exist_ok=True)
        wait = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return self._fetch_once(job)
            except _Retryable as err:
                if attempt == self.retries:
                    raise AlfDownloadError(
                        f"failed after {attempt + 1} attempts: {err}", job.url, rule="file servers answer 200"
                    ) from None
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")

    def _fetch_once(self, job: DownloadJob) -> Path:
        partial = job.target.with_name(f".{job.target.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                response = self.session.get(job.url, stream=True, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                raise _Retryable(str(err)) from None
            with response:
                if response.status_code == 404:
                    raise AlfDownloadError(
                        "not found on the server (404)", job.url, rule="datasets exist remotely"
                    )
                if response.status_code >= 500:
                    raise _Retryable(f"server error {response.status_code}")
                if response.status_code != 200:
                    raise AlfDownloadError(
                        f"HTTP {response.status_code}", job.url, rule="file servers answer 200"
                    )
                digest, size = hashlib.md5(), 0
                try:
                    with open(partial, "wb") as fh:
                        for block in response.iter_content(1 << 20):
                            fh.write(block)
                            digest.update(block)
                            size += len(block)
                except (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                ) as err:
                    raise _Retryable(f"connection lost mid-file: {err}") from None
            if job.size is not None and size != job.size:
                expected_header = response.headers.get("Content-Length")
                if expected_header is not None and int(expected_header) != size:
                    raise _Retryable(f"connection lost mid-file ({size} of {expected_header} bytes)")
                raise AlfHashError(
                    f"{size} bytes, the datasets table says {job.size}",
                    job.url,
                    rule="downloaded files match the table's file_size",
                )
            if job.md5 and digest.hexdigest() != job.md5.lower():
                raise AlfHashError(
                    f"md5 {digest.hexdigest()}, the datasets table says {job.md5}",
                    job.url,
                    rule="downloaded files match the table's hash",
                )
            os.replace(partial, job.target)
            return job.target
        finally:
            if partial.exists():
                partial.unlink()


class _Retryable(Exception):
    """A failure worth another attempt (connection, timeout, 5xx, truncated body)."""


def _progress_bar(total: int) -> Callable | None:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="file", desc="neo-alf download")
