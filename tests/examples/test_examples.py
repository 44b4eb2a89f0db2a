"""Each script in examples/ run as a user runs it: ``keras-caffe python examples/X.py --out
DIR`` in a fresh process from the repository root; it must exit 0 (the scripts check their
own results) and print its key line."""

from __future__ import annotations

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
    "fine_tune": [r"after classifier-only training, conv1 \(lr_mult 0\) unchanged: True",
                  r"fine-tuned accuracy: pretrained \d+\.\d%, scratch \d+\.\d%"],
    "net_surgery": [r"max \|full-conv - ShapesNet\| = \S+; labels \[0 1 2 3 0 1 2 3\]",
                    r"canvas \(56, 84\) -> classification map \(8, 15\) .*",
                    r"at the cells: (.*) drawn: \1"],
    "filters": [r"wrote .*conv1_filters\.png: 144x144 pixels, \d+ bytes",
                r"wrote .*conv1_output\.png: 300x300 pixels, \d+ bytes"],
    "python_layers": [r"python EuclideanLoss layer \(Python\): loss 6\.1025\d\d, .*",
                      r"test accuracy \(Python data layer, TEST phase\): (0\.9\d\d|1\.000)"],
}


def test_every_example_is_tested():
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py")} - {"shapes_layers"}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example(script, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "keras_caffe.cli", "python", f"examples/{script}.py",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, report
    lines = proc.stdout.splitlines()
    for pattern in EXPECTED[script] + [rf"{script}: OK"]:
        assert any(re.fullmatch(pattern, line) for line in lines), \
            f"no line matches {pattern!r}\n{report}"
    assert any((tmp_path / "out").iterdir()), "the example wrote nothing under --out"
