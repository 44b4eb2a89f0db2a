"""HTTP servers on 127.0.0.1 for download tests: one serving files (with or without Range
support, or breaking off half way), one that accepts connections and never answers, and a
port nobody listens on.  No test touches any other network."""

from __future__ import annotations

import contextlib
import http.server
import re
import socket
import threading

import pytest

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY")


class Files(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes).  ``ranges``: honour ``Range: bytes=N-`` (206);
    ``break_after``: send the full Content-Length but only this many bytes, then close."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.ranges, self.break_after, self.requests = files, True, None, []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and server.ranges:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416, "Range Not Satisfiable")
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206, "Partial Content")
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        if server.break_after is not None:
            self.wfile.write(rest[:server.break_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(rest)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(files: dict[str, bytes]):
    """A running :class:`Files` server, shut down on exit."""
    server = Files(files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def silent_server():
    """The URL of a server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/model.caffemodel"
    finally:
        sock.close()


def refused_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/model.caffemodel"


@pytest.fixture
def no_proxy(monkeypatch):
    """Make urllib connect to 127.0.0.1 directly whatever proxies the environment names."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
