"""Downloading a file whose sha1 is known, so that only the right bytes get its name.

:func:`download` streams an ``http(s)`` URL in chunks into ``.NAME.part`` beside the target,
hashing as it goes, and renames the part into place only when the sha1 matches: a failed,
interrupted or wrong download never leaves anything under the final name, and an existing
file there is replaced only by a good one.  A transfer that breaks off part way (timeout,
reset, Ctrl-C) keeps its ``.part`` and the next call resumes it with an HTTP ``Range``
request (a server that ignores ranges sends the whole file again); a part whose bytes turn
out wrong is deleted.  Every failure is one :class:`DownloadError` line naming the URL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import CaffeError

CHUNK = 1 << 20


class DownloadError(CaffeError):
    """A download that failed (HTTP status, timeout, refused connection) or came out wrong."""


@dataclasses.dataclass
class Downloaded:
    path: str
    size: int
    sha1: str
    resumed_from: int = 0      # bytes a kept .part already held


def file_sha1(path, chunk: int = CHUNK) -> str:
    """The hex sha1 of a file, read in chunks (never whole into memory)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def part_path(target) -> str:
    """Where :func:`download` keeps the bytes of ``target`` while they arrive."""
    directory, name = os.path.split(os.path.abspath(os.fspath(target)))
    return os.path.join(directory, f".{name}.part")


def download(url: str, target, sha1: str, *, timeout: float = 30.0, stream=None,
             resume: bool = True, interval: float = 10.0) -> Downloaded:
    """Fetch ``url`` into ``target`` if its bytes have the hex digest ``sha1``.

    ``timeout`` (seconds) bounds connecting and each wait for data; progress goes to
    ``stream`` (default stderr): a redrawn bar on a terminal, else a line every ``interval``
    seconds.  With ``resume`` a kept ``.part`` is continued; otherwise it is started over."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{url}: only http:// and https:// URLs are downloaded")
    target = os.fspath(target)
    part = part_path(target)
    offset = os.path.getsize(part) if resume and os.path.isfile(part) else 0
    response = _open(url, timeout, offset)
    if response is None:                        # 416: nothing after the kept part's bytes
        if file_sha1(part) == sha1.lower():
            _rename(part, target)
            return Downloaded(target, offset, sha1.lower(), offset)
        _remove(part)
        offset, response = 0, _open(url, timeout, 0)
    with response:
        offset = _continued_from(url, response, offset, part)
        digest = hashlib.sha1()
        if offset:
            with open(part, "rb") as f:
                while block := f.read(CHUNK):
                    digest.update(block)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        meter = Progress(total, offset, stream if stream is not None else sys.stderr, interval)
        done = _receive(url, response, part, offset, digest, meter, timeout, resume)
    if total is not None and done < total:
        _give_up(part, resume, done)
        raise DownloadError(f"{url}: the connection closed after {done:,} of {total:,} bytes"
                            + _kept(part, resume, done))
    got = digest.hexdigest()
    if got != sha1.lower():
        _remove(part)
        again = f" (resumed after {offset:,} bytes; run again to fetch it whole)" if offset else ""
        raise DownloadError(f"{url}: sha1 mismatch: the download has {got}, expected {sha1}; "
                            f"nothing written to {target}{again}")
    _rename(part, target)
    return Downloaded(target, done, got, offset)


def _open(url: str, timeout: float, offset: int):
    """The response to GET ``url`` (from byte ``offset``), or None for 416 on a resume."""
    headers = {"User-Agent": "keras-caffe"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"{url}: {_reason(exc, timeout)}") from None


def _continued_from(url: str, response, offset: int, part: str) -> int:
    """``offset`` if the server sends the rest (206 from there), else 0 (a whole file)."""
    if not offset or response.status != 206:
        return 0
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    if not match or int(match.group(1)) != offset:
        _remove(part)
        raise DownloadError(f"{url}: asked for the bytes from {offset:,}, the server sent "
                            f"{response.headers.get('Content-Range')!r}; the kept part is "
                            "dropped, run again to fetch the file whole")
    return offset


def _receive(url, response, part, offset, digest, meter, timeout, resume) -> int:
    """Append the response's bytes to ``part``; network and disk failures say which."""
    done = offset
    try:
        f = open(part, "ab" if offset else "wb")
    except OSError as exc:
        raise DownloadError(f"{part}: cannot write it: {exc.strerror or exc}") from None
    try:
        with f:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(f"{url}: {_reason(exc, timeout)} after {done:,} "
                                        "bytes") from None
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as exc:
                    raise DownloadError(f"{part}: cannot write it: {exc.strerror or exc} "
                                        f"after {done:,} bytes") from None
                digest.update(block)
                done += len(block)
                meter.update(done)
            f.flush()
            os.fsync(f.fileno())
    except KeyboardInterrupt:
        meter.finish(done)
        _give_up(part, resume, done)
        print(f"interrupted{_kept(part, resume, done)}", file=meter.stream)
        raise
    except (DownloadError, OSError) as exc:
        meter.finish(done)
        _give_up(part, resume, done)
        message = str(exc) if isinstance(exc, DownloadError) else f"{part}: {exc}"
        raise DownloadError(message + _kept(part, resume, done)) from None
    meter.finish(done)
    return done


def _reason(exc, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out (no answer within {timeout:g} s)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _rename(part: str, target: str) -> None:
    """Give the checked part its final name (a failure keeps the part: the next run renames
    it after asking the server for the bytes after its end)."""
    try:
        os.replace(part, target)
    except OSError as exc:
        raise DownloadError(f"{target}: cannot write it: {exc.strerror or exc} (the checked "
                            f"download stays in {part})") from None


def _give_up(part: str, resume: bool, done: int) -> None:
    if not resume or not done:
        _remove(part)


def _kept(part: str, resume: bool, done: int) -> str:
    if resume and done and os.path.exists(part):
        return f"; {done:,} bytes kept in {part}, run again to resume"
    return ""


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class Progress:
    """Bytes done of total and the rate: a redrawn line on a terminal, else periodic lines."""

    def __init__(self, total: int | None, start: int, stream, interval: float = 10.0):
        self.total, self.start, self.stream, self.interval = total, start, stream, interval
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.began = self.shown = time.monotonic()
        self.drawn = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.shown < (0.1 if self.tty else self.interval):
            return
        self.shown = now
        self._show(done, now)

    def finish(self, done: int) -> None:
        if self.tty and self.drawn or not self.tty and done > self.start:
            self._show(done, time.monotonic())
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, done: int, now: float) -> str:
        rate = (done - self.start) / max(now - self.began, 1e-6)
        text = _size(done)
        if self.total:
            share = min(done / self.total, 1.0)
            bar = "#" * int(share * 24)
            text = f"{share:4.0%} [{bar:<24}] {text} / {_size(self.total)}"
            if rate > 0 and done < self.total:
                text += f", {_size(rate)}/s, {(self.total - done) / rate:.0f} s left"
            else:
                text += f", {_size(rate)}/s"
        else:
            text += f", {_size(rate)}/s"
        return text

    def _show(self, done: int, now: float) -> None:
        text = self.line(done, now)
        if self.tty:
            self.stream.write("\r" + text.ljust(79))
            self.drawn = True
        else:
            self.stream.write("downloaded " + text + "\n")
        self.stream.flush()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"
