"""The web demo over plain HTTP (urllib): pages, JSON results, status codes and errors."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from http.client import HTTPConnection
from urllib.parse import quote, urlsplit

import numpy as np
import pytest

from keras_caffe.apps.classification import ClassifyError
from keras_caffe.apps.images import sample_images
from keras_caffe.apps.server import DemoApp, make_app, serve
from keras_caffe.tools.demo import bundled
from keras_caffe.tools.demo_shapes import CLASSES

from .conftest import start

SAMPLES = sample_images()


def request(url, data=None, headers=None, method=None):
    """(status, content type, body) of a request, errors included."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get("Content-Type"), e.read()


def upload(url, data: bytes, filename="x.png", ctype="image/png", field="imagefile",
           query="?format=json"):
    boundary = "----kerascaffe7MA4YWxkTrZu0gW"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return request(f"{url}/classify_upload{query}", body,
                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def as_json(answer):
    status, ctype, body = answer
    assert ctype == "application/json"
    return status, json.loads(body)


def test_the_page_and_the_samples(demo_url):
    status, ctype, body = request(demo_url + "/")
    page = body.decode()
    assert status == 200 and ctype == "text/html; charset=utf-8"
    assert "id='formupload'" in page and "enctype='multipart/form-data'" in page
    assert "ShapesNet (bundled): 4 classes, input 1x28x28, 7 hierarchy nodes" in page
    assert re.findall(r"/samples/(\w+)\.png", page) == list(CLASSES)
    status, ctype, png = request(demo_url + "/samples/circle.png")
    assert (status, ctype, png) == (200, "image/png", SAMPLES["circle"])
    assert request(demo_url + "/", method="HEAD")[2] == b""


@pytest.mark.parametrize("name", CLASSES)
def test_uploads_are_classified_with_hedged_answers(demo_url, demo_app, name):
    status, doc = as_json(upload(demo_url, SAMPLES[name], f"{name}.png"))
    assert status == 200 and doc["ok"] and doc["source"] == f"{name}.png"
    specific, accurate = doc["specific"], doc["accurate"]
    assert [label for label, _ in specific][:1] == [name] and len(specific) == 4
    assert specific[0][1] > 0.9 and sum(p for _, p in specific) == pytest.approx(1, abs=1e-5)
    assert len(accurate) == 5 and {n for n, _ in accurate} <= set(demo_app.hierarchy.nodes)
    assert accurate[0][0] == name                     # a sure net: the leaf itself
    assert 0 < doc["seconds"] < 30


def test_the_result_page_matches_the_json(demo_url):
    status, _, body = upload(demo_url, SAMPLES["square"], "square.png", query="")
    page = body.decode()
    assert status == 200
    names = re.findall(r"<span class='name'>([^<]*)</span>", page)
    assert names[0] == "square" and "angular" in names[:5]       # accurate list first
    assert "Maximally accurate" in page and "Maximally specific" in page
    assert re.search(r"id='time'>CNN took <span>\d+\.\d{3}</span> seconds", page)
    assert "src='data:image/png;base64," in page


def test_quick_examples_and_urls(demo_url):
    status, doc = as_json(request(demo_url + "/classify_sample?name=cross&format=json"))
    assert status == 200 and doc["specific"][0][0] == "cross"
    status, doc = as_json(request(demo_url + "/classify_sample?name=star&format=json"))
    assert status == 404 and "no quick example 'star'" in doc["error"]
    own = quote(demo_url + "/samples/triangle.png", safe="")     # no network: our own URL
    status, doc = as_json(request(f"{demo_url}/classify_url?imageurl={own}&format=json"))
    assert status == 200 and doc["specific"][0][0] == "triangle"
    status, doc = as_json(request(f"{demo_url}/classify_url?imageurl=file:///etc/passwd"
                                  "&format=json"))
    assert status == 400 and "only http(s) URLs" in doc["error"]
    missing = quote(demo_url + "/samples/none.png", safe="")
    status, doc = as_json(request(f"{demo_url}/classify_url?imageurl={missing}&format=json"))
    assert status == 400 and "Cannot open image from URL" in doc["error"]


@pytest.mark.parametrize("data, filename, ctype, field, code, message", [
    (b"plain text, no picture", "notes.txt", "text/plain", "imagefile", 415,
     "Cannot classify notes.txt: it is text/plain, not an image."),
    (b"\x89PNG\r\n\x1a\n but broken", "broken.png", "image/png", "imagefile", 400,
     "Cannot open broken.png: not an image that can be read"),
    (b"", "empty.png", "image/png", "imagefile", 400,
     "Cannot classify empty.png: the file is empty."),
    (b"", "", "application/octet-stream", "imagefile", 400, "No image file was uploaded."),
    (SAMPLES["circle"], "c.png", "image/png", "otherfield", 400, "No image file was uploaded."),
])
def test_bad_uploads(demo_url, data, filename, ctype, field, code, message):
    status, doc = as_json(upload(demo_url, data, filename, ctype, field))
    assert status == code and not doc["ok"] and doc["error"].startswith(message)
    status, _, body = upload(demo_url, data, filename, ctype, field, query="")
    page = body.decode()
    assert status == code and "id='error'" in page and "Traceback" not in page
    assert message.split(":")[0].replace("'", "&#x27;") in page


def test_bad_requests(demo_url):
    status, doc = as_json(request(demo_url + "/classify_upload?format=json", b"a=1",
                                  {"Content-Type": "application/x-www-form-urlencoded"}))
    assert status == 415 and "expected a multipart/form-data upload" in doc["error"]
    status, doc = as_json(request(demo_url + "/classify_upload?format=json", b"junk",
                                  {"Content-Type": "multipart/form-data; boundary=zz"}))
    assert status == 400 and "does not start with its multipart boundary" in doc["error"]
    assert request(demo_url + "/nowhere")[0] == 404
    assert request(demo_url + "/nowhere", b"x")[0] == 404
    host = urlsplit(demo_url)
    conn = HTTPConnection(host.hostname, host.port, timeout=30)   # a bad length
    conn.putrequest("POST", "/nowhere")
    conn.putheader("Content-Length", "-3")
    conn.endheaders()
    assert conn.getresponse().status == 404
    conn.close()
    conn = HTTPConnection(host.hostname, host.port, timeout=30)   # no Content-Length
    conn.putrequest("POST", "/classify_upload?format=json")
    conn.putheader("Content-Type", "multipart/form-data; boundary=zz")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411 and b"no Content-Length" in response.read()
    conn.close()


def test_limits_on_size_and_pixels(demo_app):
    small = DemoApp(demo_app.classifier, demo_app.hierarchy, max_upload=1000,
                    max_pixels=27 * 28)
    url, stop = start(small)
    try:
        status, doc = as_json(upload(url, bytes(70_000), "big.png"))
        assert status == 413 and "at most 1,000 are taken" in doc["error"]
        status, doc = as_json(upload(url, bytes(2000), "big.png"))
        assert status == 413 and "big.png is 2,000 bytes" in doc["error"]
        status, doc = as_json(upload(url, SAMPLES["circle"], "c.png"))
        assert status == 400 and "28x28 pixels; at most 756 pixels" in doc["error"]
    finally:
        stop()


def test_an_image_the_net_cannot_take(demo_app):
    class Failing:
        color, channels = False, 1

        def predict(self, images, oversample=True):
            raise ClassifyError("an image of shape (28, 28, 1) does not fit the net")

    url, stop = start(DemoApp(Failing(), None))
    try:
        status, doc = as_json(upload(url, SAMPLES["circle"], "c.png"))
        assert status == 422 and doc["error"].startswith(
            "Something went wrong when classifying c.png (an image of shape")
        status, _, body = upload(url, SAMPLES["circle"], "c.png", query="")
        assert status == 422 and b"Maybe try another one?" in body and b"Traceback" not in body
    finally:
        stop()


def test_without_a_hierarchy_only_the_specific_list(demo_app):
    url, stop = start(DemoApp(demo_app.classifier, None))
    try:
        status, doc = as_json(upload(url, SAMPLES["square"], "s.png"))
        assert status == 200 and doc["accurate"] is None and doc["specific"][0][0] == "square"
        page = upload(url, SAMPLES["square"], "s.png", query="")[2].decode()
        assert "No class hierarchy was given" in page and "/samples/" not in page
    finally:
        stop()


def test_a_named_net_with_labels_hierarchy_and_words(tmp_path):
    (tmp_path / "labels.txt").write_text("n00000001 circle, disc\nn00000002 square\n"
                                         "n00000003 triangle\nn00000004 cross\n")
    (tmp_path / "h.txt").write_text("n0 n8\nn0 n00000001\nn8 n00000002\nn8 n00000003\n"
                                    "n8 n00000004\n")
    (tmp_path / "words.txt").write_text("n0\tshape\nn8\tangular, polygonal\n")
    np.save(tmp_path / "mean.npy", np.zeros((1, 28, 28), np.float32))
    app = make_app(bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel"),
                   labels=str(tmp_path / "labels.txt"), hierarchy=str(tmp_path / "h.txt"),
                   words=str(tmp_path / "words.txt"), mean=str(tmp_path / "mean.npy"))
    assert app.samples == {} and app.hierarchy.names == (
        "shape", "angular", "circle", "square", "triangle", "cross")
    result = app.classify(SAMPLES["circle"], "c.png")
    assert {n for n, _ in result.specific} == {"circle", "square", "triangle", "cross"}
    assert {n for n, _ in result.accurate} <= set(app.hierarchy.names)


def test_serve_prints_its_address_and_stops_on_ctrl_c(demo_app, monkeypatch):
    lines = []

    def interrupted(self, poll_interval=0.5):
        raise KeyboardInterrupt

    monkeypatch.setattr("socketserver.BaseServer.serve_forever", interrupted)
    assert serve(demo_app, "127.0.0.1", 0, out=lines.append) == 0
    assert re.match(r"keras-caffe demo at http://127\.0\.0\.1:\d+/ -- ShapesNet", lines[0])
    assert lines[-1] == "stopped"


def test_a_port_in_use_is_one_line(demo_app, demo_url):
    port = urlsplit(demo_url).port
    with pytest.raises(ClassifyError, match=rf"cannot serve on 127.0.0.1:{port} \(Address "):
        serve(demo_app, "127.0.0.1", port, out=lambda line: None)
