"""An ALF file server for tests: a ThreadingHTTPServer on 127.0.0.1 with per-file fault plans."""

from __future__ import annotations

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
        queue = next((q for suffix, q in self.server.plan.items() if name.endswith(suffix)), None)
        fault = queue.pop(0) if queue else None
        if fault in (500, 503):
            self.send_error(fault)
            return
        if isinstance(fault, float):  # a slow server: answer after `fault` seconds
            time.sleep(fault)
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


def start_server(root: Path):
    """Serve ``root``; returns the server (``.plan``, ``.requests``) and its URL. Call ``stop_server``."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_FaultyHandler, directory=str(root)))
    httpd.plan, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
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
    for bad, replacement in (rel_paths_override or {}).items():
        rows["rel_path"][rows["rel_path"].index(bad)] = replacement
    cache = tmp_path / "cache"
    cache.mkdir()
    pq.write_table(
        pa.table(
            {
                "id": [eid],
                "lab": ["cortexlab"],
                "subject": ["KS023"],
                "date": ["2024-03-15"],
                "number": [1],
                "task_protocol": [""],
                "projects": [""],
            }
        ),
        cache / "sessions.pqt",
    )
    pq.write_table(pa.table(rows), cache / "datasets.pqt")
    return source, eid, cache
