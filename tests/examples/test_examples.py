"""Each script in examples/ run as a user runs it: ``keras-caffe python examples/X.py --out
DIR`` in a fresh process from the repository root; it must exit 0 (the scripts check their
own results), print its key lines, and write its plot as a PNG when matplotlib is
installed."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: script -> lines (regular expressions, whole line) its output must hold
EXPECTED = {
    "classify": [r"accuracy: forward 1\.000, Classifier centre crop 1\.000, "
                 r"Classifier ten crops (0\.9\d\d|1\.000)",
                 r"max \|forward - Classifier\(oversample=False\)\| = \S+"],
    "lenet": [r"blobs:  \[\('data', \(64, 1, 28, 28\)\), \('label', \(64,\)\), .*",
              r"final test accuracy: (0\.9\d\d|1\.000)"],
    "logreg": [r"accuracy: numpy logistic regression 0\.[67]\d\d, Caffe logreg 0\.[67]\d\d, "
               r"Caffe nonlinear (0\.9\d\d|1\.000)"],
    "fine_tune": [r"copied from ShapesNet: conv1 weights equal: True",
                  r"after classifier-only training, conv1 \(lr_mult 0\) unchanged: True",
                  r"fine-tuned accuracy: pretrained \d+\.\d%, scratch \d+\.\d%"],
    "multilabel": [r"blobs: \[\('data', \(32, 1, 56, 56\)\), \('label', \(32, 4\)\), "
                   r"\('score', \(32, 4\)\)\]",
                   r"mean accuracy \(hamming\): (0\.9\d\d|1\.000); baseline \(no class "
                   r"predicted\) 0\.[45]\d\d"],
    "siamese": [r"shared parameters: the towers' arrays are equal: True; conv1 and conv1_p "
                r"share one blob: True; training moved conv1's weights by up to \d\.\d\d",
                r"held-out images: nearest-centroid accuracy in the 2-D feature space "
                r"(0\.8[5-9]\d|0\.9\d\d|1\.000)"],
    "fcn": [r"crop offsets from coord_map: score_pool2c \[1\], score \[13\]",
            r"score map \(8, 5, 56, 56\) for data \(8, 1, 56, 56\)",
            r"pixel accuracy 0\.9\d\d \(all background: 0\.9\d\d\); mean IU 0\.\d{3} "
            r"\(all background: 0\.1\d\d\)"],
    "net_surgery": [r"max \|full-conv - ShapesNet\| = \S+; labels \[0 1 2 3 0 1 2 3\]",
                    r"canvas \(56, 84\) -> classification map \(8, 15\) .*",
                    r"at the cells: (.*) drawn: \1"],
    "filters": [r"wrote .*conv1_filters\.png: 144x144 pixels, \d+ bytes",
                r"wrote .*conv1_output\.png: 300x300 pixels, \d+ bytes"],
    "python_layers": [r"python EuclideanLoss layer \(Python\): loss 6\.1025\d\d, .*",
                      r"test accuracy \(Python data layer, TEST phase\): (0\.9\d\d|1\.000)"],
}


#: script -> the plot it writes under --out with matplotlib
PLOTS = {"lenet": "lenet_training.png", "logreg": "logreg.png",
         "fine_tune": "fine_tune_loss.png", "multilabel": "multilabel_loss.png",
         "siamese": "siamese_features.png", "fcn": "fcn_segmentation.png"}

#: modules the examples import, not examples themselves
HELPERS = {"shapes_layers", "outputs"}

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_every_example_is_tested():
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py")} - HELPERS
    assert scripts == set(EXPECTED)
    assert set(PLOTS) <= scripts


def run_example(script: str, out: pathlib.Path, path_first=()):
    """``keras-caffe python examples/<script>.py --out OUT`` from the repository root;
    ``path_first``: folders put before everything else on PYTHONPATH.  Returns the process
    and a report of its output."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [*map(str, path_first), str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "keras_caffe.cli", "python", f"examples/{script}.py",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, report
    return proc, report


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example(script, tmp_path):
    out = tmp_path / "out"
    proc, report = run_example(script, out)
    lines = proc.stdout.splitlines()
    for pattern in EXPECTED[script] + [rf"{script}: OK"]:
        assert any(re.fullmatch(pattern, line) for line in lines), \
            f"no line matches {pattern!r}\n{report}"
    assert any(out.iterdir()), "the example wrote nothing under --out"
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    if script in PLOTS and HAVE_MATPLOTLIB:
        plot = out / PLOTS[script]
        assert plot.is_file(), f"no plot {plot.name}\n{report}"
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{plot.name} is not a PNG"


def test_an_example_without_matplotlib_skips_its_plot_and_succeeds(tmp_path):
    blocker = tmp_path / "no_matplotlib"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text(
        "raise ImportError('matplotlib is blocked for this test')\n")
    out = tmp_path / "out"
    proc, report = run_example("logreg", out, path_first=[blocker])
    lines = proc.stdout.splitlines()
    assert "plot skipped: matplotlib is not installed (pip install 'keras-caffe[plot]')" \
        in lines, report
    assert "logreg: OK" in lines, report
    assert not (out / PLOTS["logreg"]).exists()
