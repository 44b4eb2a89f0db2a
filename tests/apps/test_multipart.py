"""multipart/form-data bodies parsed in memory (what the web demo's upload form sends)."""

from __future__ import annotations

import pytest

from keras_caffe.apps.multipart import FormError, parse_form


def body(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    out = b""
    for headers, data in parts:
        out += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_fields_files_and_binary_data():
    data = bytes(range(256)) + b"\r\n--notquite\r\n\r\n" + bytes(range(256))
    raw = body("XyZ", ('Content-Disposition: form-data; name="imagefile"; filename="a b.png"'
                       "\r\nContent-Type: image/PNG", data),
               ('Content-Disposition: form-data; name="note"', b"hello"))
    form = parse_form(raw, 'multipart/form-data; boundary="XyZ"')
    assert form["imagefile"].filename == "a b.png"
    assert form["imagefile"].content_type == "image/png"
    assert form["imagefile"].data == data
    assert form["note"].filename is None and form["note"].data == b"hello"
    assert form["note"].content_type == ""


def test_an_empty_file_field():
    raw = body("b", ('Content-Disposition: form-data; name="imagefile"; filename=""'
                     "\r\nContent-Type: application/octet-stream", b""))
    part = parse_form(raw, "multipart/form-data; boundary=b")["imagefile"]
    assert part.data == b"" and not part.filename


@pytest.mark.parametrize("raw, header, message", [
    (b"x", "application/x-www-form-urlencoded", "expected a multipart/form-data upload"),
    (b"x", None, "got no content type"),
    (b"x", "multipart/form-data", "no valid boundary"),
    (b"junk", "multipart/form-data; boundary=b", "does not start with its multipart boundary"),
    (b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc',
     "multipart/form-data; boundary=b", "truncated"),
    (b"--b\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--b--\r\n",
     "multipart/form-data; boundary=b", "no form field name"),
    (b"--b\r\nno blank line\r\n--b--\r\n", "multipart/form-data; boundary=b", "blank line"),
])
def test_bad_bodies(raw, header, message):
    with pytest.raises(FormError, match=message):
        parse_form(raw, header)
