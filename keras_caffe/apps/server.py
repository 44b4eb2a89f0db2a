"""``keras-caffe serve``: Caffe's web demo (``examples/web_demo/app.py``) on the standard
library's ``ThreadingHTTPServer``.

Routes, as in the demo: ``GET /`` (the page), ``POST /classify_upload`` (a multipart form
with the image in field ``imagefile``), ``GET /classify_url?imageurl=URL`` (an http(s) image
the server fetches), and here also ``GET /classify_sample?name=NAME`` and
``GET /samples/NAME.png`` (the bundled ShapesNet's quick examples).  Add ``format=json`` to
the query of a ``classify_*`` route for the result as JSON instead of the page.

Each result shows the net's five most probable labels ("maximally specific") and the five
best hierarchy nodes by expected information gain ("maximally accurate",
:mod:`.hedging`), and the seconds the net took.  Uploads stay in memory; a bad one -- not a
multipart form (415), no file or an empty one (400), a part whose type is not an image
(415), over the size limit (413), bytes that are not a readable image (400), an image the
net cannot take (422) -- gets the page with one line saying what is wrong, never a
traceback (unexpected failures are logged, 500).  The server binds 127.0.0.1 unless told;
``classify_url`` fetches whatever http(s) URL it is given, as the demo does, so bind another
address only on a network you trust.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..pycaffe import io as caffe_io
from ..tools.demo import bundled
from .classification import BUNDLED_HIERARCHY, ClassifyError, ImageClassifier, read_words
from .hedging import Hierarchy, hedge, read_hierarchy
from .images import decode_image, png_bytes, sample_images
from .multipart import FormError, content_type, parse_form
from .page import Result, render

__all__ = ["DemoApp", "make_app", "make_server", "serve", "DemoError"]

log = logging.getLogger("keras_caffe.serve")

MAX_UPLOAD = 10 * 2 ** 20
MAX_PIXELS = 4096 * 4096


class DemoError(Exception):
    """A request the demo answers with its page and one line: ``status`` and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _image_url(image: np.ndarray, largest: int = 512) -> str:
    """The image as a ``data:`` URL (a PNG at most ``largest`` pixels a side)."""
    h, w = image.shape[:2]
    if max(h, w) > largest:
        scale = largest / max(h, w)
        image = caffe_io.resize_image(image, (max(1, round(h * scale)), max(1, round(w * scale))))
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


class DemoApp:
    """The demo's state: the classifier, the hierarchy (or None) and the samples."""

    def __init__(self, classifier: ImageClassifier, hierarchy: Hierarchy | None = None, *,
                 samples: dict[str, bytes] | None = None, max_upload: int = MAX_UPLOAD,
                 max_pixels: int = MAX_PIXELS, oversample: bool = True, top: int = 5,
                 title: str = "keras-caffe demo", about: str = ""):
        self.classifier, self.hierarchy = classifier, hierarchy
        self.samples = dict(samples or {})
        self.max_upload, self.max_pixels = max_upload, max_pixels
        self.oversample, self.top = oversample, top
        self.title, self.about = title, about

    def classify(self, data: bytes, name: str) -> Result:
        """Classify an image file's bytes; :class:`DemoError` for bytes that are no readable
        image (400) and for an image the net cannot take (422)."""
        try:
            image = decode_image(data, name, color=self.classifier.color, exif=True,
                                 max_pixels=self.max_pixels)
        except ClassifyError as exc:
            raise DemoError(HTTPStatus.BAD_REQUEST, f"Cannot open {exc}.") from None
        start = time.perf_counter()
        try:
            probs = self.classifier.predict([image], oversample=self.oversample)[0]
        except Exception as exc:
            log.warning("classifying %s failed", name, exc_info=True)
            reason = str(exc) if isinstance(exc, ClassifyError) else "the net failed"
            raise DemoError(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"Something went wrong when classifying {name} ({reason}). "
                            "Maybe try another one?") from None
        seconds = time.perf_counter() - start
        accurate = None if self.hierarchy is None else hedge(self.hierarchy, probs, self.top)
        return Result(self.classifier.top(probs, self.top), accurate, seconds,
                      _image_url(image), name)

    def page(self, **kwargs) -> str:
        return render(self.title, self.about, samples=list(self.samples),
                      max_upload=self.max_upload, **kwargs)


def make_app(net=None, weights=None, *, labels=None, hierarchy=None, words=None, mean=None,
             **kwargs) -> DemoApp:
    """The demo for a net (the bundled ShapesNet, its hierarchy and samples when ``net`` is
    None), set up as the web demo sets up its classifier (a named net: image side 256, raw
    scale 255, BGR; the mean averaged per channel; ten crops), warmed up by one
    prediction."""
    classifier = ImageClassifier(net, weights, labels=labels, mean=mean, mean_per_channel=True)
    if classifier.is_bundled and hierarchy is None:
        hierarchy = bundled(BUNDLED_HIERARCHY)
    tree = None
    if hierarchy is not None:
        tree = read_hierarchy(hierarchy, classifier.labels.keys, classifier.labels.names,
                              read_words(words) if words else None)
    shape = classifier.classifier.blobs[classifier.classifier.inputs[0]].data.shape
    classifier.predict([np.zeros((8, 8, classifier.channels), np.float32)])
    about = (f"{'ShapesNet (bundled)' if classifier.is_bundled else net}: "
             f"{classifier.classes} classes, input {'x'.join(map(str, shape[1:]))}"
             + ("" if tree is None else f", {len(tree.nodes)} hierarchy nodes") + ".")
    kwargs.setdefault("samples", sample_images() if classifier.is_bundled else None)
    return DemoApp(classifier, tree, about=about, **kwargs)


class Handler(BaseHTTPRequestHandler):
    """The demo's routes (see the module docstring); ``self.server.app`` is the DemoApp."""

    server_version = "keras-caffe-demo"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):      # noqa: A002 (the base class's name)
        log.info("%s %s", self.address_string(), format % args)

    # ----------------------------------------------------------------- answers

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self, status: int, *, result: Result | None = None, error: str | None = None,
                as_json: bool = False) -> None:
        if as_json:
            doc = result.as_json() if result is not None else {"ok": False, "error": error}
            self._send(status, json.dumps(doc).encode(), "application/json")
        else:
            page = self.server.app.page(result=result, error=error)
            self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def _classify(self, fetch, as_json: bool) -> None:
        """Answer with the result of ``fetch() -> (bytes, name)``, or its error."""
        try:
            data, name = fetch()
            result = self.server.app.classify(data, name)
        except DemoError as exc:
            return self._answer(exc.status, error=str(exc), as_json=as_json)
        except Exception:                        # a bug of ours: log it, tell the user
            log.exception("request %s failed", self.path)
            return self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, as_json=as_json, error=(
                "Something went wrong when classifying the image. Maybe try another one?"))
        self._answer(HTTPStatus.OK, result=result, as_json=as_json)

    # ----------------------------------------------------------------- routes

    def do_HEAD(self):                           # noqa: N802 (BaseHTTPRequestHandler's names)
        self.do_GET()

    def do_GET(self):                            # noqa: N802
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        as_json = query.get("format", [""])[0] == "json"
        app = self.server.app
        if url.path in ("/", "/index.html"):
            self._answer(HTTPStatus.OK)
        elif url.path.startswith("/samples/") and url.path.endswith(".png") \
                and url.path[9:-4] in app.samples:
            self._send(HTTPStatus.OK, app.samples[url.path[9:-4]], "image/png")
        elif url.path == "/classify_sample":
            name = query.get("name", [""])[0]
            self._classify(lambda: self._sample(name), as_json)
        elif url.path == "/classify_url":
            imageurl = query.get("imageurl", [""])[0].strip()
            self._classify(lambda: self._fetch_url(imageurl), as_json)
        else:
            self._answer(HTTPStatus.NOT_FOUND, error=f"No page {url.path}.", as_json=as_json)

    def do_POST(self):                           # noqa: N802
        url = urlsplit(self.path)
        as_json = parse_qs(url.query).get("format", [""])[0] == "json"
        if url.path != "/classify_upload":
            try:
                self._drain(self._length(default=0))
            except DemoError:                    # a bad length: the connection closes
                pass
            return self._answer(HTTPStatus.NOT_FOUND, error=f"No page {url.path}.",
                                as_json=as_json)
        self._classify(self._upload, as_json)

    # ----------------------------------------------------------------- inputs

    def _sample(self, name: str):
        app = self.server.app
        if name not in app.samples:
            raise DemoError(HTTPStatus.NOT_FOUND, f"There is no quick example {name!r}.")
        return app.samples[name], f"{name}.png"

    def _length(self, default=None) -> int:
        value = self.headers.get("Content-Length")
        if value is None:
            if default is not None:
                return default
            self.close_connection = True
            raise DemoError(HTTPStatus.LENGTH_REQUIRED, "The upload has no Content-Length.")
        try:
            length = int(value)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise DemoError(HTTPStatus.BAD_REQUEST, f"Bad Content-Length {value!r}.")
        return length

    def _drain(self, length: int) -> None:
        """Read and drop a body (up to 64 MB; past that, close the connection instead)."""
        if length > 64 * 2 ** 20:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 2 ** 20))
            if not chunk:
                break
            length -= len(chunk)

    def _upload(self):
        app = self.server.app
        length = self._length()
        if length > app.max_upload + 2 ** 16:     # room for the form's own headers
            self._drain(length)
            raise DemoError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"The upload is {length:,} bytes; at most {app.max_upload:,} "
                            "are taken.")
        body = self.rfile.read(length)
        header = self.headers.get("Content-Type")
        if content_type(header)[0] != "multipart/form-data":
            raise DemoError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Cannot open uploaded image: "
                            f"expected a multipart/form-data upload, got {header or 'none'}.")
        try:
            form = parse_form(body, header)
        except FormError as exc:
            raise DemoError(HTTPStatus.BAD_REQUEST,
                            f"Cannot open uploaded image: {exc}.") from None
        part = form.get("imagefile")
        if part is None or (not part.filename and not part.data):
            raise DemoError(HTTPStatus.BAD_REQUEST, "No image file was uploaded.")
        name = part.filename or "upload"
        if not part.data:
            raise DemoError(HTTPStatus.BAD_REQUEST, f"Cannot classify {name}: the file is empty.")
        if len(part.data) > app.max_upload:
            raise DemoError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"{name} is {len(part.data):,} bytes; at most "
                            f"{app.max_upload:,} are taken.")
        if part.content_type and not part.content_type.startswith("image/") \
                and part.content_type != "application/octet-stream":
            raise DemoError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                            f"Cannot classify {name}: it is {part.content_type}, not an image.")
        return part.data, name

    def _fetch_url(self, url: str):
        app = self.server.app
        if urlsplit(url).scheme not in ("http", "https"):
            raise DemoError(HTTPStatus.BAD_REQUEST,
                            f"Cannot open image from URL {url!r}: only http(s) URLs are taken.")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                data = response.read(app.max_upload + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DemoError(HTTPStatus.BAD_REQUEST,
                            f"Cannot open image from URL {url!r}: {reason}.") from None
        if len(data) > app.max_upload:
            raise DemoError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"The image at {url!r} is over {app.max_upload:,} bytes.")
        return data, url


def make_server(app: DemoApp, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A threading HTTP server for ``app`` (port 0: a free one; see ``server_address``)."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.app = app
    return server


def serve(app: DemoApp, host: str = "127.0.0.1", port: int = 8000, out=print) -> int:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    try:
        server = make_server(app, host, port)
    except OSError as exc:                       # a port in use, an address not ours
        raise ClassifyError(f"cannot serve on {host}:{port} ({exc.strerror or exc})") from None
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    out(f"keras-caffe demo at http://{shown}:{server.server_address[1]}/ -- {app.about} "
        "(Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out("stopped")
    finally:
        server.server_close()
    return 0
