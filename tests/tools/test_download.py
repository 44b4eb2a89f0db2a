"""tools.download against local HTTP servers: only a file with the right sha1 gets the final
name, a broken-off download resumes, every failure is one line naming the URL."""

from __future__ import annotations

import hashlib
import io
import os
import time

import numpy as np
import pytest

from keras_caffe.tools.download import (DownloadError, Progress, download, file_sha1,
                                        part_path)
from tests.tools.local_http import no_proxy, refused_url, serving, silent_server  # noqa: F401

BODY = np.random.default_rng(0).integers(0, 256, (5 << 19) + 123, dtype=np.uint8).tobytes()
SHA1 = hashlib.sha1(BODY).hexdigest()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def listing(directory):
    return sorted(os.listdir(directory))


def test_file_sha1_streams_in_chunks(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(BODY)
    assert file_sha1(path, chunk=4096) == SHA1 == file_sha1(path)


def test_download_writes_the_file_when_its_sha1_matches(tmp_path, no_proxy):
    target, log = tmp_path / "m.caffemodel", io.StringIO()
    with serving({"/m": BODY}) as server:
        got = download(server.url("/m"), target, SHA1.upper(), stream=log, interval=0)
    assert target.read_bytes() == BODY and got.size == len(BODY) and got.sha1 == SHA1
    assert listing(tmp_path) == ["m.caffemodel"]
    lines = log.getvalue().splitlines()
    assert lines and all(line.startswith("downloaded ") for line in lines)
    assert "100% [" in lines[-1] and "2.5 MiB / 2.5 MiB" in lines[-1] and "/s" in lines[-1]


def test_a_terminal_gets_one_redrawn_bar():
    term = Terminal()
    meter = Progress(total=1000, start=0, stream=term)
    meter.shown -= 1
    meter.update(250)
    meter.finish(1000)
    text = term.getvalue()
    assert text.startswith("\r 25% [######") and "\r100% [" in text and text.endswith("\n")
    assert text.count("\n") == 1
    unknown = Progress(total=None, start=0, stream=io.StringIO(), interval=0)
    assert unknown.line(2048, time.monotonic()).startswith("2.0 KiB, ")


def test_a_wrong_sha1_leaves_no_file_and_keeps_the_old_one(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    with serving({"/m": BODY}) as server:
        with pytest.raises(DownloadError, match=r"/m: sha1 mismatch: the download has "
                           + SHA1 + ", expected 0{40}; nothing written"):
            download(server.url("/m"), target, "0" * 40, stream=io.StringIO())
        assert listing(tmp_path) == []
        target.write_bytes(b"the old file")
        with pytest.raises(DownloadError, match="sha1 mismatch"):
            download(server.url("/m"), target, "0" * 40, stream=io.StringIO())
    assert target.read_bytes() == b"the old file" and listing(tmp_path) == ["m.caffemodel"]


def test_http_errors_refusals_and_timeouts_are_one_line(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    target.write_bytes(b"kept")
    with serving({}) as server:
        url = server.url("/missing.caffemodel")
        with pytest.raises(DownloadError) as info:
            download(url, target, SHA1, stream=io.StringIO())
    assert str(info.value) == f"{url}: HTTP 404 Not Found"
    url = refused_url()
    with pytest.raises(DownloadError) as info:
        download(url, target, SHA1, stream=io.StringIO())
    assert str(info.value) == f"{url}: connection refused"
    with silent_server() as url:
        began = time.monotonic()
        with pytest.raises(DownloadError) as info:
            download(url, target, SHA1, timeout=0.3, stream=io.StringIO())
        assert time.monotonic() - began < 5
    assert str(info.value) == f"{url}: timed out (no answer within 0.3 s)"
    with pytest.raises(DownloadError, match="only http:// and https://"):
        download("file:///etc/passwd", target, SHA1)
    assert target.read_bytes() == b"kept" and listing(tmp_path) == ["m.caffemodel"]


def test_a_broken_off_download_is_kept_aside_and_resumed(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    part = part_path(target)
    with serving({"/m": BODY}) as server:
        server.break_after = 1 << 20
        with pytest.raises(DownloadError, match=r"after 1,048,576 of 2,621,563 bytes; "
                           r"1,048,576 bytes kept in .*\.m\.caffemodel\.part, run again"):
            download(server.url("/m"), target, SHA1, stream=io.StringIO())
        assert not target.exists() and os.path.getsize(part) == 1 << 20
        server.break_after = None
        got = download(server.url("/m"), target, SHA1, stream=io.StringIO())
        assert server.requests[-1] == ("/m", "bytes=1048576-")
    assert got.resumed_from == 1 << 20 and got.size == len(BODY)
    assert target.read_bytes() == BODY and listing(tmp_path) == ["m.caffemodel"]


def test_a_part_the_server_cannot_continue_is_started_over(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    part = part_path(target)
    with serving({"/m": BODY}) as server:
        server.ranges = False                              # answers 200 with the whole file
        with open(part, "wb") as f:
            f.write(b"x" * 100)
        assert download(server.url("/m"), target, SHA1, stream=io.StringIO()).resumed_from == 0
        assert target.read_bytes() == BODY
        server.ranges = True                               # a complete part: 416, then renamed
        with open(part, "wb") as f:
            f.write(BODY)
        target.unlink()
        assert download(server.url("/m"), target, SHA1).resumed_from == len(BODY)
        assert server.requests[-1] == ("/m", f"bytes={len(BODY)}-")
        with open(part, "wb") as f:                        # a wrong part past the end: refetched
            f.write(BODY + b"junk")
        target.unlink()
        download(server.url("/m"), target, SHA1, stream=io.StringIO())
    assert target.read_bytes() == BODY and listing(tmp_path) == ["m.caffemodel"]


def test_without_resume_a_broken_download_leaves_nothing(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    with serving({"/m": BODY}) as server:
        server.break_after = 1000
        with pytest.raises(DownloadError, match="after 1,000 of") as info:
            download(server.url("/m"), target, SHA1, stream=io.StringIO(), resume=False)
    assert "kept" not in str(info.value) and listing(tmp_path) == []


def test_ctrl_c_keeps_the_part_for_the_next_run(tmp_path, no_proxy, monkeypatch):
    target, log = tmp_path / "m.caffemodel", io.StringIO()

    def interrupt(self, done):
        raise KeyboardInterrupt

    with serving({"/m": BODY}) as server:
        with monkeypatch.context() as patch:
            patch.setattr(Progress, "update", interrupt)
            with pytest.raises(KeyboardInterrupt):
                download(server.url("/m"), target, SHA1, stream=log)
        assert "interrupted; 1,048,576 bytes kept in" in log.getvalue()
        assert not target.exists() and os.path.getsize(part_path(target)) == 1 << 20
        assert download(server.url("/m"), target, SHA1, stream=log).resumed_from == 1 << 20
    assert target.read_bytes() == BODY and listing(tmp_path) == ["m.caffemodel"]


def test_a_resumed_download_with_wrong_kept_bytes_is_dropped(tmp_path, no_proxy):
    target = tmp_path / "m.caffemodel"
    with open(part_path(target), "wb") as f:
        f.write(b"\0" * 1000)                       # not what the server's first bytes are
    with serving({"/m": BODY}) as server:
        with pytest.raises(DownloadError, match=r"sha1 mismatch: .*\(resumed after 1,000 "
                           r"bytes; run again to fetch it whole\)"):
            download(server.url("/m"), target, SHA1, stream=io.StringIO())
        assert listing(tmp_path) == []
        download(server.url("/m"), target, SHA1, stream=io.StringIO())
    assert target.read_bytes() == BODY
