"""Public cache tables without an account: ``cache_info.json`` and ``cache.zip`` from a URL.

IBL publishes its ONE cache tables for anonymous download: ``cache_info.json`` (with
``date_created``) beside ``cache.zip`` (``sessions.pqt``, ``datasets.pqt``). :func:`update_cache`
fetches the info, compares ``date_created`` with the copy kept in the cache folder, and only when
it changed (or no tables are there) fetches the zip, checks and unpacks the two tables into
temporary files, then renames them into place and writes ``cache_info.json`` last: a crash leaves
either the old tables or the new ones, and an info that makes the next call fetch again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from ..errors import AlfDownloadError, AlfFormatError
from .download import Downloader
from .transport import get_to_file

__all__ = ["CACHE_TABLES", "update_cache"]

CACHE_TABLES = ("sessions.pqt", "datasets.pqt")
_MAX_INFO = 1 << 20
_MAX_ZIP = 4 << 30
_MAX_TABLE = 8 << 30


def _get(downloader: Downloader, url: str, out, max_size: int) -> None:
    from .transport import Retryable

    deadline = time.monotonic() + downloader.deadline
    wait = downloader.backoff
    for attempt in range(downloader.retries + 1):
        out.seek(0)
        out.truncate()
        try:
            get_to_file(
                downloader.session,
                url,
                out,
                expected_size=None,
                deadline=deadline,
                timeout=downloader.timeout,
                max_size=max_size,
            )
            return
        except Retryable as err:
            if attempt == downloader.retries or time.monotonic() + wait > deadline:
                raise AlfDownloadError(
                    f"failed after {attempt + 1} attempts: {err}", url, rule="cache servers answer 200"
                ) from None
            time.sleep(wait)
            wait *= 2


def _local_info(cache_dir: Path) -> dict:
    try:
        value = json.loads((cache_dir / "cache_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def update_cache(cache_dir: str | os.PathLike, cache_url: str, downloader: Downloader | None = None) -> bool:
    """Bring the cache tables of ``cache_dir`` up to date from ``cache_url``.

    Parameters
    ----------
    cache_dir : str or path-like
        The local ONE cache folder (created when missing).
    cache_url : str
        The folder URL holding ``cache_info.json`` and ``cache.zip``.
    downloader : Downloader, optional
        Timeouts, retries and deadline.

    Returns
    -------
    bool
        True when new tables were unpacked, False when the local ones are current.

    Raises
    ------
    AlfDownloadError
        The server failed, or sent an info without ``date_created``, or a zip without both tables.
    """
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    downloader = downloader or Downloader(progress=False)
    base = cache_url.rstrip("/")
    info_url = f"{base}/cache_info.json"
    with tempfile.TemporaryFile() as fh:
        _get(downloader, info_url, fh, _MAX_INFO)
        fh.seek(0)
        raw = fh.read()
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AlfDownloadError("not a JSON object", info_url, rule="cache_info.json is JSON") from None
    if not isinstance(info, dict) or not isinstance(info.get("date_created"), str):
        raise AlfDownloadError("no `date_created`", info_url, rule="cache_info.json has date_created")
    local = _local_info(cache_dir)
    have_tables = all((cache_dir / t).is_file() for t in CACHE_TABLES)
    if have_tables and local.get("date_created") == info["date_created"]:
        return False
    zip_url = f"{base}/cache.zip"
    staging = Path(tempfile.mkdtemp(prefix=".neo-alf-cache-", dir=cache_dir))
    try:
        archive = staging / "cache.zip"
        with open(archive, "w+b") as fh:
            _get(downloader, zip_url, fh, _MAX_ZIP)
        _unpack(archive, staging, zip_url)
        for table in CACHE_TABLES:
            os.replace(staging / table, cache_dir / table)
        tmp_info = cache_dir / f".cache_info.{uuid.uuid4().hex[:8]}.json"
        tmp_info.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp_info, cache_dir / "cache_info.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _unpack(archive: Path, into: Path, url: str) -> None:
    """Extract the two tables, by name only, bounded: never a path from inside the zip."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {}
            for info in zf.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if name in CACHE_TABLES and not info.is_dir():
                    if name in members:
                        raise AlfDownloadError(f"{name} twice in the zip", url, rule="one table each")
                    members[name] = info
            missing = [t for t in CACHE_TABLES if t not in members]
            if missing:
                raise AlfDownloadError(
                    f"the zip lacks {', '.join(missing)}", url, rule="cache.zip holds sessions and datasets"
                )
            for name, info in members.items():
                written = 0
                with zf.open(info) as src, open(into / name, "wb") as dst:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > _MAX_TABLE:
                            raise AlfDownloadError(
                                f"{name} unpacks to more than {_MAX_TABLE} bytes", url, rule="bounded tables"
                            )
                        dst.write(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as err:
        raise AlfFormatError(f"not a readable zip ({err})", url, rule="cache.zip is a zip archive") from None
