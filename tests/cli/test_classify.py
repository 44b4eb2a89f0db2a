"""``keras-caffe classify`` (Caffe's python/classify.py) and ``serve``'s argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.apps.classification import ImageClassifier
from keras_caffe.apps.images import decode_image, sample_images
from keras_caffe.tools.demo import bundled
from keras_caffe.tools.demo_shapes import CLASSES

NET, WEIGHTS = bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    for name, png in sample_images().items():
        (folder / f"{name}.png").write_bytes(png)
    return folder


def blocks(out: str) -> list[tuple[str, list[tuple[float, str]]]]:
    """``name`` then ``  score  label`` lines: (name, [(score, label), ...]) per image."""
    found = []
    for line in out.splitlines():
        if line.startswith("  "):
            score, label = line.split(maxsplit=1)
            found[-1][1].append((float(score), label))
        else:
            found.append((line, []))
    return found


def test_no_arguments_classify_the_bundled_samples(capsys):
    assert cli.main(["classify"]) == 0
    out = capsys.readouterr()
    got = blocks(out.out)
    assert [name for name, _ in got] == [f"{c}.png" for c in CLASSES]
    assert all(lines[0][1] == name[:-4] and len(lines) == 4 for name, lines in got)
    assert "classified 4 images in" in out.err


def test_files_and_folders_with_top_and_npy_output(pictures, tmp_path, capsys):
    out = tmp_path / "out.npy"
    assert cli.main(["classify", str(pictures / "cross.png"), str(pictures), "--top", "2",
                     "-o", str(out), "--center-only"]) == 0
    got = blocks(capsys.readouterr().out)
    names = [str(pictures / "cross.png")] + [str(pictures / f"{c}.png") for c in sorted(CLASSES)]
    assert [name for name, _ in got] == names
    assert all(len(lines) == 2 and lines[0][1] in n for n, lines in got)
    saved = np.load(out)
    clf = ImageClassifier()
    images = [decode_image((pictures / n.rsplit("/", 1)[1]).read_bytes(), n, color=False)
              for n in names]
    np.testing.assert_array_equal(saved, clf.predict(images, oversample=False))


def test_a_named_net_intermixed_with_options_and_npy_inputs(pictures, tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    images = np.stack([decode_image((pictures / f"{c}.png").read_bytes(), c, color=False)
                       for c in CLASSES]).transpose(0, 3, 1, 2)          # N,C,H,W
    np.save(tmp_path / "batch.npy", images)
    # the bundled net as a named one: classify.py's defaults would scale by 255
    assert cli.main(["classify", NET, "--weights", WEIGHTS, str(tmp_path / "batch.npy"),
                     "--labels", str(tmp_path / "labels.txt"), "--images_dim", "28,28",
                     "--raw-scale", "1", "--channel-swap", "", "--top", "1"]) == 0
    got = blocks(capsys.readouterr().out)
    assert [lines[0][1] for _, lines in got] == list(CLASSES)
    assert got[0][0] == f"{tmp_path / 'batch.npy'}[0]"


@pytest.mark.parametrize("make, args, message", [
    (None, ["missing.png"], "missing.png: no such file or folder"),
    (("notes.png", b"not a picture"), ["notes.png"], "notes.png: not an image that can be read"),
    (("m.npy", np.zeros((3, 28, 28))), ["--mean", "m.npy"],
     "m.npy: a mean of shape (3, 28, 28) does not fit the net's 1-channel input"),
    (("labels.txt", b"a\nb\n"), ["--labels", "labels.txt"],
     "labels.txt: 2 labels, but the net outputs 4 classes"),
    (None, [NET, "x.png"], "--weights is needed"),
])
def test_errors_are_one_line_naming_the_file(tmp_path, capsys, monkeypatch, make, args,
                                             message):
    monkeypatch.chdir(tmp_path)
    if make:
        name, content = make
        if isinstance(content, np.ndarray):
            np.save(name, content)
        else:
            (tmp_path / name).write_bytes(content)
    if args[0] in ("--mean", "--labels"):
        (tmp_path / "c.png").write_bytes(sample_images()["circle"])
        args = args + ["c.png"]
    assert cli.main(["classify"] + args) == 1
    err = capsys.readouterr().err
    assert err.startswith("keras-caffe classify: error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["classify", "--weights", WEIGHTS, "x.png"], "--weights needs a NET"),
    (["classify", NET, "--weights", WEIGHTS], "no images to classify"),
    (["classify", "--top", "0"], "--top 0: expected a positive number"),
    (["classify", "--images-dim", "1,2,3"], "--images-dim: expected 1 or 2 whole numbers"),
    (["classify", "--images-dim", "0"], "--images-dim: expected 1 or 2 whole numbers of at "
                                        "least 1, got '0'"),
    (["classify", "--channel-swap", "2,x"], "--channel-swap: not a list of numbers"),
    (["serve", "--weights", WEIGHTS], "--weights, --labels and --mean go with a NET"),
    (["serve", NET], "NET needs --weights"),
    (["serve", "--max-upload-mb", "0"], "--max-upload-mb 0: expected a positive size"),
])
def test_usage_errors(capsys, args, message):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
