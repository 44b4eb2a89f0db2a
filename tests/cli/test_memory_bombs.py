"""Hangs and memory bombs (issue 14): counts in a prototxt that made ``info`` spin forever,
took gigabytes in seconds or ended in TensorFlow's out-of-memory traceback are refused before
anything is allocated, with one line naming the file, the layer, the figure and the bound.

Each case runs through ``keras_caffe.cli.main`` in-process (the message, exit status 1, no
traceback, the folder untouched), and all of them once more in a fresh Python process that
measures how long each takes and how much its peak memory grows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from keras_caffe import cli
from tests.data.helpers import raw_datum, write_lmdb
from tests.sentinel import refused, tree_state

INT_MAX = "Caffe allows at most 2,147,483,647 (INT_MAX) in one blob"
INPUT = ('layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n')
SMALL = INPUT.format(dims="dim: 1 dim: 4 dim: 8 dim: 8")
HUGE_C = INPUT.format(dims="dim: 1 dim: 2147483647 dim: 1 dim: 1")


def _layer(body: str) -> str:
    return f"layer {{ {body} }}\n"


NETS = {
    "tiny.prototxt": SMALL + _layer('name: "r" type: "ReLU" bottom: "x" top: "y"'),
    "spp.prototxt": SMALL + _layer('name: "s" type: "SPP" bottom: "x" top: "y" '
                                   'spp_param { pyramid_height: 2147483647 }'),
    "prelu.prototxt": HUGE_C + _layer('name: "p" type: "PReLU" bottom: "x" top: "y"'),
    "batchnorm.prototxt": HUGE_C + _layer('name: "b" type: "BatchNorm" bottom: "x" top: "y"'),
    "num_output.prototxt": SMALL + _layer('name: "f" type: "InnerProduct" bottom: "x" top: "y" '
                                          'inner_product_param { num_output: 2000000000 }'),
    "input.prototxt": INPUT.format(dims="dim: 1 dim: 1 dim: 100000 dim: 100000") +
    _layer('name: "r" type: "ReLU" bottom: "x" top: "y"'),
    # a pad that makes a padded copy of 60001 x 60001 for a 2 x 2 top
    "pad.prototxt": INPUT.format(dims="dim: 1 dim: 1 dim: 1 dim: 1") +
    _layer('name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param { '
           'num_output: 1 kernel_size: 1 pad: 30000 stride: 60000 }'),
    # a pooled width that makes CaffeROIPooling mask the map 100000 times per ROI
    "roi.prototxt": INPUT.format(dims="dim: 1 dim: 256 dim: 64 dim: 64") +
    _layer('name: "r" type: "Input" top: "rois" input_param { shape { dim: 2 dim: 5 } }') +
    _layer('name: "p" type: "ROIPooling" bottom: "x" bottom: "rois" top: "y" '
           'roi_pooling_param { pooled_h: 1 pooled_w: 100000 }'),
    "argmax.prototxt": SMALL + _layer('name: "a" type: "ArgMax" bottom: "x" top: "y" '
                                      'argmax_param { top_k: 2147483647 }'),
    # data layers whose batch would be read (and allocated) to learn its shape
    "lmdb.prototxt": _layer('name: "d" type: "Data" top: "x" top: "label" data_param { '
                            'source: "db" backend: LMDB batch_size: 2000000000 }') +
    _layer('name: "f" type: "InnerProduct" bottom: "x" top: "y" '
           'inner_product_param { num_output: 3 }'),
    "hdf5.prototxt": _layer('name: "d" type: "HDF5Data" top: "x" top: "label" hdf5_data_param '
                            '{ source: "h5.txt" batch_size: 2000000000 }') +
    _layer('name: "f" type: "InnerProduct" bottom: "x" top: "y" '
           'inner_product_param { num_output: 3 }'),
}

CASES = {   # id: (argv, the message after "keras-caffe CMD: error: ")
    "spp_pyramid_height": (
        ["info", "spp.prototxt"],
        "spp.prototxt: layer 's': spp_param.pyramid_height: 2147483647 is over its bound 4 "
        "(level l has 2^l bins per axis, and a 8x8 bottom has room for 2^l <= 8 only up to "
        "level 3)"),
    "prelu_over_int_max_channels": (
        ["time", "prelu.prototxt", "--max-memory", "8G"],
        "prelu.prototxt: the net would take about 24.0 GiB (8.0 GiB of parameters, 16.0 GiB of "
        "activations at batch 1), over the memory limit of 8.0 GiB (--max-memory / "
        "max_memory); largest layers: 'p' (PReLU) 16.0 GiB, 'in' (Input) 8.0 GiB. Give "
        "--max-memory SIZE (max_memory= in Python; 0 for no limit) to change the limit"),
    "batchnorm_over_int_max_channels": (
        ["convert", "batchnorm.prototxt", "-o", "m.keras", "--max-memory", "8G"],
        "batchnorm.prototxt: the net would take about 32.0 GiB (16.0 GiB of parameters, 16.0 "
        "GiB of activations at batch 1), over the memory limit of 8.0 GiB (--max-memory / "
        "max_memory); largest layers: 'b' (BatchNorm) 24.0 GiB, 'in' (Input) 8.0 GiB. Give "
        "--max-memory SIZE (max_memory= in Python; 0 for no limit) to change the limit"),
    "num_output_2e9": (
        ["time", "num_output.prototxt"],
        "num_output.prototxt: layer 'f': parameter blob 0 would have shape 2000000000x256 = "
        f"512,000,000,000 elements; {INT_MAX}"),
    "input_100000x100000": (
        ["time", "input.prototxt"],
        "input.prototxt: layer 'in': top 'x' would have shape 1x1x100000x100000 = "
        f"10,000,000,000 elements; {INT_MAX}"),
    "pad_30000": (
        ["time", "pad.prototxt", "--max-memory", "8G"],
        "pad.prototxt: the net would take about 13.4 GiB (8 B of parameters, 20 B of "
        "activations, 13.4 GiB of working copies at batch 1), over the memory limit of 8.0 GiB "
        "(--max-memory / max_memory); largest layers: 'c' (Convolution) 13.4 GiB, 'in' "
        "(Input) 4 B. Give --max-memory SIZE (max_memory= in Python; 0 for no limit) to change "
        "the limit"),
    # working copies, per ROI (both at once): 100000x64x64x256 + 1x100000x64x256 values;
    # activations: the map 1x256x64x64, the ROIs 2x5, the top 2x256x1x100000
    "roi_pooled_w": (
        ["time", "roi.prototxt", "--max-memory", "8G"],
        "roi.prototxt: the net would take about 793.7 GiB (0 B of parameters, 199.3 MiB of "
        "activations, 793.5 GiB of working copies at batch 2), over the memory limit of 8.0 GiB "
        "(--max-memory / max_memory); largest layers: 'p' (ROIPooling) 793.6 GiB, 'in' (Input) "
        "4.0 MiB, 'r' (Input) 40 B. Give --max-memory SIZE (max_memory= in Python; 0 for no "
        "limit) to change the limit"),
    "argmax_top_k": (
        ["info", "argmax.prototxt"],
        "argmax.prototxt: layer 'a': argmax_param.top_k: 2147483647 is over its bound 256 "
        "(Caffe: top_k must not exceed the values of one item)"),
    "lmdb_batch_size": (
        ["forward", "lmdb.prototxt", "--batches", "1", "--out", "o.npz"],
        "lmdb.prototxt: layer 'd': input blob 'x' would have shape 2000000000x3x8x8 = "
        f"384,000,000,000 elements; {INT_MAX}"),
    "hdf5_batch_size": (
        ["forward", "hdf5.prototxt", "--batches", "1", "--out", "o.npz"],
        "hdf5.prototxt: layer 'd': input blob 'x' would have shape 2000000000x3 = "
        f"6,000,000,000 elements; {INT_MAX}"),
}


def make_inputs(folder) -> None:
    """The nets of NETS and the data their data layers read (one item each)."""
    for name, text in NETS.items():
        (folder / name).write_text(text)
    write_lmdb(folder / "db", [(b"00000000", raw_datum(np.zeros((3, 8, 8), np.uint8), 1))])
    with h5py.File(folder / "one.h5", "w") as f:
        f["x"] = np.zeros((2, 3), np.float32)
        f["label"] = np.zeros((2,), np.float32)
    (folder / "h5.txt").write_text("one.h5\n")


@pytest.fixture
def bombs(tmp_path, monkeypatch):
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_one_line(bombs, capsys, case):
    argv, message = CASES[case]
    assert refused(argv, bombs, capsys) == message


def test_info_describes_a_huge_net_and_its_projected_memory(bombs, capsys):
    """Nothing is built to describe it: the table and the projection come from the
    declarations (the figure, and that building it would be refused)."""
    before = tree_state(bombs)
    assert cli.main(["info", "prelu.prototxt", "--max-memory", "8G"]) == 0
    out = capsys.readouterr().out
    assert "2x2147483647x1x1" not in out and "1x2147483647x1x1" in out
    assert out.rstrip().endswith(
        "2 layers, 2,147,483,647 parameters; outputs: y\n"
        "projected memory: 24.0 GiB (8.0 GiB of parameters, 16.0 GiB of activations at batch "
        "1); over the limit of 8.0 GiB (--max-memory / max_memory): building it is refused "
        "unless --max-memory allows it")
    assert cli.main(["info", "prelu.prototxt", "--max-memory", "0"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("at batch 1); no memory limit")
    assert cli.main(["info", "tiny.prototxt", "--max-memory", "512M"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        "projected memory: 2.0 KiB (0 B of parameters, 2.0 KiB of activations at batch 1); "
        "within the limit of 512.0 MiB (--max-memory / max_memory)")
    assert tree_state(bombs) == before


@pytest.mark.parametrize("size,accepted", [("8G", True), ("512M", True), ("0", True),
                                           ("1K", False)])
def test_max_memory_sizes(bombs, capsys, size, accepted):
    argv = ["time", "tiny.prototxt", "--iterations", "1", "--max-memory", size]
    if accepted:
        assert cli.main(argv) == 0
    else:
        assert refused(argv, bombs, capsys).startswith(
            "tiny.prototxt: the net would take about 2.0 KiB (0 B of parameters, 2.0 KiB of "
            "activations at batch 1), over the memory limit of 1.0 KiB (--max-memory / "
            "max_memory); largest layers: 'in' (Input) 1.0 KiB, 'r' (ReLU) 1.0 KiB.")


def test_a_pycaffe_script_gets_the_limit_of_keras_caffe_python(bombs, capsys):
    (bombs / "script.py").write_text('import caffe\nnet = caffe.Net("tiny.prototxt", caffe.TEST)\n'
                                     'print(net.blobs["y"].data.shape)\n')
    assert refused(["python", "--max-memory", "1K", "script.py"], bombs, capsys).startswith(
        "tiny.prototxt: the net would take about 2.0 KiB (0 B of parameters, 2.0 KiB of "
        "activations at batch 1), over the memory limit of 1.0 KiB (--max-memory / max_memory)")
    assert cli.main(["python", "--max-memory", "2K", "script.py"]) == 0
    assert "(1, 4, 8, 8)" in capsys.readouterr().out


@pytest.mark.parametrize("size", ["lots", "-1", "8X"])
def test_a_bad_size_is_a_usage_error(bombs, capsys, size):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["info", "tiny.prototxt", "--max-memory", size])
    assert exit_.value.code == 2
    assert (f"keras-caffe info: error: argument --max-memory: not a memory size: {size!r} "
            "(e.g. 8G, 512M, 0 for no limit)") in capsys.readouterr().err


_HARNESS = r"""
import json, sys, time
from keras_caffe import cli

def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

cli.main(["info", "tiny.prototxt"])   # warm up: what every command imports and starts
results = []
for argv in json.loads(sys.argv[1]):
    exact = reset_peak()
    before = status()
    start = time.perf_counter()
    code = cli.main(argv)
    seconds = time.perf_counter() - start
    growth = status()["VmHWM"] - (before["VmRSS"] if exact else before["VmHWM"])
    results.append({"argv": argv, "code": code, "seconds": seconds, "growth": growth})
print("RESULTS " + json.dumps(results))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_each_case_ends_in_seconds_and_its_peak_memory_stays_small(tmp_path):
    """In a fresh process (the peak memory is the process's): each case, which took from 10 s
    and 10 GB to forever before, ends within a few seconds, its peak resident memory less than
    500 MB over what the process held after importing keras_caffe."""
    make_inputs(tmp_path)
    runs = [argv for argv, _ in CASES.values()] + [["info", "prelu.prototxt"]]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", _HARNESS, json.dumps(runs)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULTS ")][-1]
    results = json.loads(line.removeprefix("RESULTS "))
    assert [r["code"] for r in results] == [1] * len(CASES) + [0]
    for r in results:
        assert r["seconds"] < 10, r
        assert r["growth"] < 500 * 2**20, r
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.npz").exists()
