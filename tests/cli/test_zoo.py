"""``keras-caffe zoo DIR``: a model-zoo folder made here (readme.md front matter, a tiny
deploy.prototxt, a caffemodel written by keras_caffe), its sha1, downloads from a local
HTTP server, and conversion."""

from __future__ import annotations

import hashlib
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe import cli
from tests.model.nets import SMALL_CONVNET
from tests.tools.local_http import no_proxy, refused_url, serving, silent_server  # noqa: F401

README = """---
name: Tiny Zoo Net
caffemodel: tiny_net.caffemodel
caffemodel_url: {url}
license: unrestricted
sha1: {sha1}
caffe_commit: 709dc15af4a06bebda027c1eb2b3f3e3375d5077
---

A small convnet for the tests, in the format of Caffe's models/*/readme.md.
"""


@pytest.fixture(scope="module")
def caffemodel(tmp_path_factory):
    """The bytes of a caffemodel of SMALL_CONVNET and their sha1."""
    where = tmp_path_factory.mktemp("made")
    net = where / "deploy.prototxt"
    net.write_text(SMALL_CONVNET)
    keras_caffe.save_caffemodel(keras_caffe.build_net(net, seed=3), where / "w.caffemodel")
    body = (where / "w.caffemodel").read_bytes()
    return body, hashlib.sha1(body).hexdigest()


@pytest.fixture
def folder(tmp_path, caffemodel):
    """``models/tiny_net`` with a readme (its URL unreachable until a test sets one)."""
    directory = tmp_path / "models" / "tiny_net"
    directory.mkdir(parents=True)
    (directory / "deploy.prototxt").write_text(SMALL_CONVNET)
    (directory / "solver.prototxt").write_text('net: "train_val.prototxt"\nbase_lr: 0.01\n')
    write_readme(directory, refused_url(), caffemodel[1])
    return directory


def write_readme(directory, url, sha1):
    (directory / "readme.md").write_text(README.format(url=url, sha1=sha1))


def zoo(*args):
    return cli.main(["zoo", *map(str, args)])


def test_describes_the_model_and_touches_no_network(folder, capsys):
    assert zoo(folder) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Tiny Zoo Net  ({folder})\n")
    for line in ("caffemodel:     tiny_net.caffemodel (not downloaded)",
                 "caffemodel_url: http://127.0.0.1:", "license:        unrestricted",
                 "caffe_commit:   709dc15a", "prototxts:      deploy.prototxt, solver.prototxt",
                 "tiny_net.caffemodel: not downloaded (run with --download"):
        assert line in out
    assert sorted(os.listdir(folder)) == ["deploy.prototxt", "readme.md", "solver.prototxt"]


def test_checks_the_sha1_of_a_caffemodel_in_the_folder(folder, caffemodel, capsys):
    body, sha1 = caffemodel
    (folder / "tiny_net.caffemodel").write_bytes(body)
    assert zoo(folder) == 0
    out = capsys.readouterr().out
    assert f"tiny_net.caffemodel ({len(body):,} bytes)" in out and f"sha1 OK ({sha1})" in out
    (folder / "tiny_net.caffemodel").write_bytes(body[:-1] + b"\0")
    assert zoo(folder) == 1
    err = capsys.readouterr().err
    assert "tiny_net.caffemodel: sha1 mismatch: the file has " in err
    assert f"{folder / 'readme.md'}:6 says {sha1}" in err


def test_download_then_skip_when_present(folder, caffemodel, capsys, no_proxy):
    body, sha1 = caffemodel
    with serving({"/tiny_net.caffemodel": body}) as server:
        write_readme(folder, server.url("/tiny_net.caffemodel"), sha1)
        assert zoo(folder, "--download") == 0
        assert "downloaded" in capsys.readouterr().out
        assert (folder / "tiny_net.caffemodel").read_bytes() == body
        assert zoo(folder, "--download") == 0
        assert "already present, sha1 OK" in capsys.readouterr().out
        assert len(server.requests) == 1
    write_readme(folder, refused_url(), sha1)          # present and right: no connection made
    assert zoo(folder, "--download") == 0


def test_a_wrong_download_replaces_nothing(folder, caffemodel, capsys, no_proxy):
    body, sha1 = caffemodel
    (folder / "tiny_net.caffemodel").write_bytes(b"an older file")
    with serving({"/tiny_net.caffemodel": body + b"tampered"}) as server:
        write_readme(folder, server.url("/tiny_net.caffemodel"), sha1)
        assert zoo(folder, "--download") == 1
    assert "sha1 mismatch" in capsys.readouterr().err
    assert (folder / "tiny_net.caffemodel").read_bytes() == b"an older file"
    assert sorted(os.listdir(folder)) == ["deploy.prototxt", "readme.md", "solver.prototxt",
                                          "tiny_net.caffemodel"]


def test_http_errors_and_timeouts_are_one_line(folder, caffemodel, capsys, no_proxy):
    with serving({}) as server:
        url = server.url("/tiny_net.caffemodel")
        write_readme(folder, url, caffemodel[1])
        assert zoo(folder, "--download") == 1
    assert capsys.readouterr().err == f"keras-caffe zoo: error: {url}: HTTP 404 Not Found\n"
    with silent_server() as url:
        write_readme(folder, url, caffemodel[1])
        assert zoo(folder, "--download", "--timeout", "0.3") == 1
    assert capsys.readouterr().err.endswith(f"{url}: timed out (no answer within 0.3 s)\n")
    assert not (folder / "tiny_net.caffemodel").exists()
    assert zoo(folder, "--download", "--timeout", "0") == 2


def test_convert_gives_forwards_outputs(folder, caffemodel, tmp_path, capsys):
    body, _ = caffemodel
    weights = folder / "tiny_net.caffemodel"
    weights.write_bytes(body)
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 10)).astype(np.float32)
    np.savez(tmp_path / "in.npz", data=x)
    assert cli.main(["forward", str(folder / "deploy.prototxt"), "--weights", str(weights),
                     "--inputs", str(tmp_path / "in.npz"), "--out", str(tmp_path / "f.npz")]) == 0
    with np.load(tmp_path / "f.npz") as blobs:
        expected = blobs["prob"]

    assert zoo(folder, "--convert", tmp_path / "tiny.keras") == 0
    assert "sha1 OK" in capsys.readouterr().out
    model = keras.saving.load_model(tmp_path / "tiny.keras", safe_mode=True)
    got = np.asarray(model({"data": x.transpose(0, 2, 3, 1)})["prob"])
    np.testing.assert_array_equal(got, expected)

    saved = tmp_path / "tiny_savedmodel"
    assert zoo(folder, "--convert", saved, "--input-layout", "NCHW") == 0
    serve = tf.saved_model.load(str(saved)).signatures["serving_default"]
    np.testing.assert_array_equal(serve(data=tf.constant(x))["prob"].numpy(), expected)
    assert sorted(os.listdir(tmp_path)) == ["f.npz", "in.npz", "models", "tiny.keras",
                                            "tiny_savedmodel"]


def test_convert_needs_the_caffemodel_and_a_net(folder, tmp_path, capsys):
    assert zoo(folder, "--convert", tmp_path / "m.keras") == 1
    assert "tiny_net.caffemodel: not downloaded; run with --download" in capsys.readouterr().err
    (folder / "tiny_net.caffemodel").write_bytes(b"x")
    write_readme(folder, refused_url(), hashlib.sha1(b"x").hexdigest())
    assert zoo(folder, "--convert", tmp_path / "m.keras", "--net", "other.prototxt") == 1
    assert ("other.prototxt: no such net prototxt (the folder has deploy.prototxt, "
            "solver.prototxt)") in capsys.readouterr().err
    assert zoo(folder, "--convert", tmp_path / "m.h5") == 2
    assert not (tmp_path / "m.keras").exists() and not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize("front, line, message", [
    ("name: a: b\n", 2, "holding ': '"),
    ("sha1: 1234\n", 2, "not 40 hexadecimal digits"),
    ("caffemodel: ../elsewhere.caffemodel\n", 2, "must be a file name in the folder"),
    ("name: x\ncaffemodel: [a, b]\n", 3, "must be one value, not a list"),
])
def test_bad_front_matter_names_file_and_line(folder, front, line, message, capsys):
    (folder / "readme.md").write_text(f"---\n{front}---\n")
    assert zoo(folder) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'readme.md'}:{line}: " in err and message in err


def test_a_folder_without_readme(tmp_path, capsys):
    assert zoo(tmp_path) == 1
    assert "no readme.md" in capsys.readouterr().err
    assert zoo(tmp_path / "absent") == 1
    assert "not a directory" in capsys.readouterr().err
