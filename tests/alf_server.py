"""An ALF file server for tests: a ThreadingHTTPServer on 127.0.0.1 with per-file fault plans."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import shutil
import socket
import threading
import time
import urllib.parse
import uuid
from functools import partial
from pathlib import Path

import pytest

from neo_alf.testing import file_digests, make_session


class _FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``server.plan`` maps a file-name suffix to faults used up one per request."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        name = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
        name = re.sub(r"\.[0-9a-f]{8}-[0-9a-f-]{27}(?=\.\w+$)", "", name)  # plans name files without ids
        self.server.requests.append(self.path)
        self.server.accept_encoding.append(self.headers.get("Accept-Encoding", ""))
        queue = next((q for suffix, q in self.server.plan.items() if name.endswith(suffix)), None)
        fault = queue.pop(0) if queue else None
        if fault in (500, 503):
            self.send_error(fault)
            return
        if isinstance(fault, float):  # a slow server: answer after `fault` seconds
            time.sleep(fault)
        if isinstance(fault, tuple):  # (kind, argument): hostile answers
            self._hostile(*fault)
            return
        if fault in ("drop", "corrupt"):
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if fault == "corrupt":
                self.wfile.write(bytes([data[0] ^ 0xFF]) + data[1:])
                return
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        super().do_GET()

    def _hostile(self, kind: str, arg=None) -> None:
        if kind == "redirect":  # arg: the Location
            self.send_response(302)
            self.send_header("Location", arg)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "slowheaders":  # arg: seconds between bytes of an endless header
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(arg)
            except OSError:
                return
        if kind == "trickle":  # arg: seconds between bytes, forever
            self.send_response(200)
            self.send_header("Content-Length", str(10**6))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(arg)
            except OSError:
                return
        if kind == "bomb":  # arg: decoded bytes, gzip-encoded
            body = gzip.compress(b"\0" * arg, compresslevel=9)
            encoding = "gzip"
        elif kind == "badgzip":
            body, encoding = b"\x1f\x8b\x08\x00garbage-not-gzip" * 4, "gzip"
        elif kind == "gzip":  # the real file, gzip-encoded (a well-behaved compressing server)
            body = gzip.compress(Path(self.translate_path(self.path)).read_bytes())
            encoding = "gzip"
        elif kind == "big":  # arg: bytes of a body far larger than the file, no Content-Length
            self.send_response(200)
            self.end_headers()
            try:
                self.wfile.write(b"\1" * arg)
            except OSError:
                pass
            self.close_connection = True
            return
        elif kind == "two-lengths":
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Length", str(len(data) + 5))
            self.end_headers()
            self.wfile.write(data)
            return
        else:
            raise ValueError(kind)
        self.send_response(200)
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop at once: do not wait for handlers still streaming


def start_server(root: Path):
    """Serve ``root``; returns the server (``.plan``, ``.requests``) and its URL. Call ``stop_server``."""
    httpd = _Server(("127.0.0.1", 0), partial(_FaultyHandler, directory=str(root)))
    httpd.plan, httpd.requests, httpd.accept_encoding = {}, [], []
    # a short poll: shutdown() waits for the loop to notice, 0.5 s by default per server
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def stop_server(httpd) -> None:
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(tmp_path):
    """``(httpd, served folder, url)`` of a server that lives for one test."""
    root = tmp_path / "server"
    root.mkdir()
    httpd, url = start_server(root)
    yield httpd, root, url
    stop_server(httpd)


def publish(
    tmp_path: Path,
    server_root: Path,
    rel_paths_override: dict | None = None,
    size_override: dict | None = None,
    session_override: dict | None = None,
    exists_override: dict | None = None,
):
    """A session on the server (UUID file names), and a client cache holding only the tables."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    source = make_session(tmp_path / "source", "tiny")
    eid = str(uuid.uuid4())
    session_rel = "cortexlab/Subjects/KS023/2024-03-15/001"
    rows = {"eid": [], "id": [], "rel_path": [], "file_size": [], "hash": [], "exists": []}
    for rel, info in file_digests(source.path).items():
        dataset_id = str(uuid.uuid4())
        folder, _, name = rel.rpartition("/")
        stem, _, ext = name.rpartition(".")
        remote = server_root / session_rel / (folder + "/" if folder else "") / f"{stem}.{dataset_id}.{ext}"
        remote.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.path / rel, remote)
        for key, value in [
            ("eid", eid),
            ("id", dataset_id),
            ("rel_path", rel),
            ("file_size", info["size"]),
            ("hash", hashlib.md5((source.path / rel).read_bytes()).hexdigest()),
            ("exists", True),
        ]:
            rows[key].append(value)
    for rel, size in (size_override or {}).items():
        rows["file_size"][rows["rel_path"].index(rel)] = size
    for rel, flag in (exists_override or {}).items():
        rows["exists"][rows["rel_path"].index(rel)] = flag
    for bad, replacement in (rel_paths_override or {}).items():
        rows["rel_path"][rows["rel_path"].index(bad)] = replacement
    cache = tmp_path / "cache"
    cache.mkdir()
    session_row = {
        "id": [eid],
        "lab": ["cortexlab"],
        "subject": ["KS023"],
        "date": ["2024-03-15"],
        "number": [1],
        "task_protocol": [""],
        "projects": [""],
    }
    session_row.update({k: [v] for k, v in (session_override or {}).items()})
    pq.write_table(pa.table(session_row), cache / "sessions.pqt")
    pq.write_table(pa.table(rows), cache / "datasets.pqt")
    return source, eid, cache


def publish_cache(tables: Path, server_root: Path, date_created: str, folder: str = "tables") -> str:
    """Put ``tables``' sessions.pqt and datasets.pqt on the server as ``cache.zip`` + ``cache_info.json``
    (as IBL publishes them); returns the folder's path on the server (``/tables``)."""
    import json
    import zipfile

    out = server_root / folder
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "cache.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("sessions.pqt", "datasets.pqt"):
            zf.write(tables / name, name)
    (out / "cache_info.json").write_text(
        json.dumps({"date_created": date_created, "min_api_version": "3.0.0", "origin": "test"})
    )
    return f"/{folder}"
