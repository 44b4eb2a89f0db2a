"""``multipart/form-data`` request bodies (RFC 7578), parsed in memory -- what the removed
``cgi`` module's ``FieldStorage`` did for the web demo's upload form, without temp files."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

__all__ = ["FormError", "Part", "parse_form", "content_type"]


class FormError(ValueError):
    """A body that is not the multipart form it claims to be."""


@dataclass(frozen=True)
class Part:
    """One form field: its ``name``, the ``filename`` of a file field (None otherwise), the
    part's ``content_type`` (lower case; ``''`` when absent) and its bytes."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


def _header(value: str) -> Message:
    msg = Message()
    msg["Content-Type"] = value
    return msg


def content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """A Content-Type header as (lower-case media type, parameters)."""
    msg = _header(value or "")
    params = {k.lower(): v for k, v in (msg.get_params() or [])[1:]}
    return msg.get_content_type() if value else "", params


def _disposition(value: str) -> tuple[str | None, str | None]:
    msg = Message()
    msg["Content-Disposition"] = value
    return msg.get_param("name", header="content-disposition"), msg.get_filename()


def parse_form(body: bytes, header: str | None) -> dict[str, Part]:
    """The parts of a ``multipart/form-data`` body, by field name (the first of a repeated
    name), given the request's Content-Type ``header`` (which holds the boundary)."""
    kind, params = content_type(header)
    if kind != "multipart/form-data":
        raise FormError(f"expected a multipart/form-data upload, got {kind or 'no content type'}")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise FormError("the multipart upload has no valid boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(b"\r\n" + delimiter)
    if not chunks[0].startswith(delimiter):
        raise FormError("the upload does not start with its multipart boundary")
    chunks[0] = chunks[0][len(delimiter):]
    parts: dict[str, Part] = {}
    closed = False
    for chunk in chunks:
        if chunk.startswith(b"--"):                # the closing delimiter
            closed = True
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise FormError("a multipart part has no blank line after its headers")
        headers = {}
        for line in head.split(b"\r\n")[1:]:       # [0]: the rest of the delimiter line
            key, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        name, filename = _disposition(headers.get("content-disposition", ""))
        if name is None:
            raise FormError("a multipart part has no form field name")
        ctype = content_type(headers["content-type"])[0] if "content-type" in headers else ""
        parts.setdefault(name, Part(name, filename, ctype, data))
    if not closed:
        raise FormError("the multipart upload is truncated (no closing boundary)")
    return parts
