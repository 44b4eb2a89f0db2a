"""``keras-caffe dump-reference``: blobs (and diffs) from real Caffe via pycaffe.

pycaffe's ``caffe`` package registers its own ``caffe.proto`` with protobuf, which clashes
with ours in one process, so the dump runs in a child Python that never imports
keras_caffe.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ..fileio import atomic_path

_SCRIPT = r"""
import sys, numpy as np
try:
    import caffe
except ImportError as exc:
    sys.stderr.write(f"pycaffe is not importable in this Python ({exc}); install Caffe's python "
                     "package (e.g. Debian's python3-caffe-cpu) to make reference dumps\n")
    sys.exit(3)
net_path, weights, inputs_path, out_path, phase, backward = sys.argv[1:7]
caffe.set_mode_cpu()
net = caffe.Net(net_path, caffe.TEST if phase == "test" else caffe.TRAIN, weights=weights or None)
with np.load(inputs_path) as data:
    for k in data.files:
        net.blobs[k].reshape(*data[k].shape)
        net.blobs[k].data[...] = data[k]
net.forward()
out = {k: np.array(b.data) for k, b in net.blobs.items() if "_split_" not in k}
if backward == "1":
    net.backward()
    for k in data.files:
        out["diff/" + k] = np.array(net.blobs[k].diff)
    for name, blobs in net.params.items():
        for i, b in enumerate(blobs):
            out[f"param/{name}/{i}"] = np.array(b.diff)
with open(out_path, "wb") as f:
    np.savez(f, **out)
"""


class _ChildFailed(Exception):
    pass


def dump_reference(net, weights, inputs, out, phase="test", backward=False) -> int:
    """Run pycaffe in a child process; its exit status (3: no pycaffe) is returned and
    ``out`` is written only when it succeeds."""
    try:
        with atomic_path(out) as tmp:
            result = subprocess.run(
                [sys.executable, "-c", _SCRIPT, os.fspath(net), os.fspath(weights or ""),
                 os.fspath(inputs), tmp, phase, "1" if backward else "0"])
            if result.returncode:
                raise _ChildFailed(result.returncode)
    except _ChildFailed as failed:
        return failed.args[0]
    return 0
