"""Helpers shared by the benchmark scripts (not a benchmark).

Timing follows forward_throughput.py: warm-up calls, then ``repeats`` interleaved rounds (the
order reverses every round so no variant always runs first or last), each round timing a
block of as many calls as fill ``min_time`` seconds.  A ratio between two variants is taken
per round (paired: both ran within the same second or two, under the same load from other
processes) and reduced by the median.
"""

from __future__ import annotations

import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
for _p in (ROOT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def time_interleaved(runs, repeats, min_time, warmup, iters=None):
    """``runs``: label -> callable doing one unit of work (and waiting for its result).

    Returns ``(samples, iters)``: label -> list of seconds per call, one per round, and the
    calls per timed block (the same for every variant, chosen so that the slowest variant's
    block lasts about ``min_time``).  The library's own helper, imported here and not at the
    top so that a script can still set TensorFlow's environment after importing this."""
    from keras_caffe.interleaved import time_interleaved as timed

    return timed(runs, repeats, min_time, warmup=warmup, calls=iters)


def paired_ratio(a, b):
    """Median over rounds of a[i] / b[i]."""
    return statistics.median(x / y for x, y in zip(a, b))


def median(xs):
    return statistics.median(xs)


def rel_diff(a, b):
    """(max |a - b|, max |a|, relative) for two arrays."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    s = float(np.max(np.abs(a))) if a.size else 0.0
    return d, s, (d / s if s else d)


def rel_norm_diff(a, b):
    """(||a - b||, ||b||, relative) in the L2 norm: robust to a few differing elements."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d, s = float(np.linalg.norm(a - b)), float(np.linalg.norm(b))
    return d, s, (d / s if s else d)


def print_table(head, rows, aligns=None):
    """Plain fixed-width table; ``rows`` are lists of already formatted strings."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(head)]
    aligns = aligns or ["<"] + [">"] * (len(head) - 1)
    line = "  ".join(f"{str(h):{a}{w}}" for h, w, a in zip(head, widths, aligns))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(f"{str(c):{a}{w}}" for c, w, a in zip(r, widths, aligns)))


def quiet_tensorflow():
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this benchmark needs KERAS_BACKEND=tensorflow")
    return tf, keras


def disable_copy_on_read(model) -> int:
    """Turn off TF's copy-on-read mode on every variable of ``model`` (a what-if for the
    chunked InnerProduct assignment, see README).  Returns the number of variables."""
    import tensorflow as tf

    n = 0
    for v in model.weights:
        handle = getattr(getattr(v, "value", None), "handle", None)
        if handle is not None:
            tf.raw_ops.DisableCopyOnRead(resource=handle)
            n += 1
    return n


def chunked_dense_layers(model):
    """Dense layers whose kernel is above keras_caffe's chunked-assignment threshold."""
    import keras
    import numpy as np

    from keras_caffe.weights.loader import CHUNK_BYTES

    return [l.name for l in model.layers if isinstance(l, keras.layers.Dense)
            and int(np.prod(l.kernel.shape)) * 4 > CHUNK_BYTES]


def proc_status(keys=("VmRSS", "VmHWM")) -> dict:
    """Bytes of the ``/proc/self/status`` fields ``keys`` (Linux)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``); False where that
    is not allowed, and VmHWM then holds the process's lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
