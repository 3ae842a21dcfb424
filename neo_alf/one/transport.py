"""One HTTP GET, streamed into an open file under hard limits: the only code that talks to a server.

Every answer is untrusted. Limits: an overall deadline (over the wait for the answer's headers, and
checked between reads of at most 64 KiB, so a server trickling a byte at a time cannot keep a
download alive), the body counted while it
streams and refused one byte past the expected size, no transparent decoding (``Accept-Encoding:
identity``; a gzip/deflate body is decoded here, bounded by the expected size, or refused), bounded
redirects to http(s) on the same host only. Failures are :class:`~neo_alf.errors.AlfDownloadError`
naming the URL, or :class:`Retryable` for what another attempt may fix.
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.parse
import zlib
from typing import BinaryIO

import requests

from ..errors import AlfDownloadError, AlfHashError

__all__ = ["MAX_REDIRECTS", "Retryable", "get_to_file"]

MAX_REDIRECTS = 5
_READ = 1 << 16


class Retryable(Exception):
    """A failure worth another attempt (connection, timeout, 5xx, truncated body)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


def _fail(message: str, url: str, rule: str = "file servers answer 200 with the file") -> AlfDownloadError:
    return AlfDownloadError(message, url, rule=rule)


def _same_host(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.hostname or "").lower() == (pb.hostname or "").lower() and pa.port == pb.port


def _open(session: requests.Session, url: str, timeout: float, deadline: float) -> requests.Response:
    """GET with redirects followed by hand: bounded, http(s) only, same host."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if time.monotonic() > deadline:
            raise _fail("download deadline passed", url, rule="downloads finish within their deadline")
        try:
            response = _get_within(
                session,
                current,
                deadline,
                stream=True,
                timeout=(min(timeout, max(deadline - time.monotonic(), 0.01)), timeout),
                allow_redirects=False,
                headers={"Accept-Encoding": "identity"},
            )
        except _Late:
            raise _fail(
                "download deadline passed while waiting for the server's answer",
                url,
                rule="downloads finish within their deadline",
            ) from None
        except requests.ConnectionError as err:
            refused = "refused" in str(err).lower() or "Errno 111" in str(err)
            raise Retryable(f"connection failed: {_short(err)}", refused=refused) from None
        except requests.Timeout as err:
            raise Retryable(f"timed out: {_short(err)}") from None
        except requests.RequestException as err:
            raise _fail(f"bad request or answer: {_short(err)}", url) from None
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("Location", "")
            response.close()
            target = urllib.parse.urljoin(current, location)
            if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
                raise _fail(f"redirect to a non-http(s) URL ({target})", url, rule="redirects stay http(s)")
            if not _same_host(url, target):
                raise _fail(f"redirect to another host ({target})", url, rule="redirects stay on the host")
            current = target
            continue
        return response
    raise _fail(f"more than {MAX_REDIRECTS} redirects", url, rule="redirects are bounded")


class _Late(Exception):
    pass


def _get_within(session: requests.Session, url: str, deadline: float, **kwargs) -> requests.Response:
    """``session.get`` that returns by the deadline: a server trickling its status line or headers
    would otherwise hold the call for as long as each byte comes before the read timeout."""
    box: dict = {}

    def call() -> None:
        try:
            box["response"] = session.get(url, **kwargs)
        except BaseException as err:  # handed to the caller
            box["error"] = err

    worker = threading.Thread(target=call, daemon=True, name="neo-alf-get")
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0.0))
    if worker.is_alive():
        raise _Late()
    if "error" in box:
        raise box["error"]
    return box["response"]


def _short(err: BaseException) -> str:
    text = str(err)
    return text if len(text) < 300 else text[:300] + "..."


def _content_length(response: requests.Response, url: str) -> int | None:
    values = [v.strip() for v in response.headers.get("Content-Length", "").split(",") if v.strip()]
    if not values:
        return None
    if len(set(values)) > 1 or not all(v.isdigit() for v in values):
        raise _fail(f"malformed Content-Length {values!r}", url, rule="one numeric Content-Length")
    return int(values[0])


def get_to_file(
    session: requests.Session,
    url: str,
    out: BinaryIO,
    *,
    expected_size: int | None,
    deadline: float,
    timeout: float,
    max_size: int,
) -> tuple[int, str]:
    """Stream ``url`` into ``out``; returns ``(bytes written, md5 hex)``.

    Parameters
    ----------
    expected_size : int or None
        The table's size: one byte more is refused at once.
    deadline : float
        ``time.monotonic()`` value after which the download is abandoned.
    timeout : float
        Connect and per-read timeout, seconds.
    max_size : int
        The limit when no size is known.

    Raises
    ------
    AlfDownloadError
        A final failure (4xx, limits passed, bad encoding, unsafe redirect).
    Retryable
        Connection failures, timeouts, 5xx, truncated bodies.
    """
    response = _open(session, url, timeout, deadline)
    with response:
        status = response.status_code
        if status == 404:
            raise _fail("not found on the server (404)", url, rule="datasets exist remotely")
        if status >= 500:
            raise Retryable(f"server error {status}")
        if status != 200:
            raise _fail(f"HTTP {status}", url)
        limit = expected_size if expected_size is not None else max_size
        length = _content_length(response, url)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise _fail(f"unsupported Content-Encoding {encoding!r}", url, rule="bodies are sent as stored")
        if encoding in ("", "identity") and length is not None and length > limit:
            raise AlfHashError(
                f"the server announces {length} bytes, more than the {limit} expected",
                url,
                rule="downloaded files match the table's file_size",
            )
        decoder = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS)
        digest, size, raw_size = hashlib.md5(), 0, 0
        raw = response.raw
        while True:
            if time.monotonic() > deadline:
                raise _fail(
                    f"download deadline passed after {size} bytes",
                    url,
                    rule="downloads finish within their deadline",
                )
            try:
                block = raw.read1(_READ, decode_content=False) if hasattr(raw, "read1") else raw.read(_READ)
            except (requests.RequestException, OSError, Exception) as err:  # urllib3 errors vary by version
                if isinstance(err, AlfDownloadError):
                    raise
                raise Retryable(f"connection lost mid-file after {size} bytes: {_short(err)}") from None
            if not block:
                break
            raw_size += len(block)
            if decoder is not None:
                if raw_size > limit + (1 << 20) and raw_size > 2 * limit:
                    raise _fail("compressed body larger than the file", url, rule="bounded downloads")
                try:
                    block = decoder.decompress(block, limit + 1 - size)
                except zlib.error as err:
                    raise _fail(f"bad {encoding} body ({err})", url, rule="valid content encoding") from None
                if decoder.unconsumed_tail:
                    size = limit + 1
            size += len(block)
            if size > limit:
                raise AlfHashError(
                    f"body exceeds the {limit} bytes expected",
                    url,
                    rule="downloaded files match the table's file_size",
                )
            out.write(block)
            digest.update(block)
        if decoder is not None:
            try:
                tail = decoder.flush()
            except zlib.error as err:
                raise _fail(f"bad {encoding} body ({err})", url, rule="valid content encoding") from None
            if not decoder.eof:
                raise Retryable(f"truncated {encoding} body")
            size += len(tail)
            if size > limit:
                raise _fail(f"body exceeds the {limit} bytes expected", url, rule="bounded downloads")
            out.write(tail)
            digest.update(tail)
        elif length is not None and raw_size != length:
            raise Retryable(f"connection lost mid-file ({raw_size} of {length} bytes)")
    return size, digest.hexdigest()
