"""Options that several commands share, parsed one way everywhere."""

from __future__ import annotations

import argparse
import logging
import os
import re
import zipfile

import numpy as np

from ..fileio import WritePolicy
from ..graph.memory import parse_size
from ..model import PRECISIONS

log = logging.getLogger("keras_caffe")


class UsageError(ValueError):
    """A command line that cannot be run as given (exit status 2)."""


def add_net(p, *, weights_help: str | None = None, phase_default: str = "test",
            stages: bool = False, allow_missing: bool = True) -> None:
    """The net prototxt, ``--weights`` (and ``--allow-missing``) and ``--phase`` (and
    ``--stage``/``--level``)."""
    p.add_argument("net", metavar="NET", help="net prototxt")
    p.add_argument("--weights", help=weights_help or "caffemodel with the trained weights")
    if allow_missing:
        add_allow_missing(p)
    p.add_argument("--phase", choices=("test", "train"), default=phase_default,
                   help=f"net phase (default {phase_default})")
    if stages:
        p.add_argument("--stage", action="append", default=[], help="net stage (repeatable)")
        p.add_argument("--level", type=int, help="net level")
    add_max_memory(p)


def add_max_memory(p) -> None:
    """``--max-memory SIZE``: the limit every net the command builds is projected against
    before anything is allocated (``cli.main`` applies it to the whole command)."""
    p.add_argument("--max-memory", metavar="SIZE", type=_size,
                   help="refuse a net whose parameters and activations are projected over "
                        "SIZE (e.g. 8G, 512M; 0: no limit; default: 80%% of the memory "
                        "available)")


def add_ignore_unknown_fields(p) -> None:
    """``--ignore-unknown-fields``: skip the fields of other Caffe forks that change nothing
    a forward pass computes, with a warning each (``cli.main`` applies it to every prototxt
    the command reads, a ``keras-caffe python`` script's nets and solvers included)."""
    p.add_argument("--ignore-unknown-fields", action="store_true",
                   help="skip prototxt fields that Caffe lacks but other forks define, where "
                        "they change nothing at inference (a warning names each); fields that "
                        "change what a layer computes stay errors")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_allow_missing(p) -> None:
    """``--allow-missing``: weights that lack some of the net's parameter layers are refused
    (naming them) unless this is given; those layers then keep their filler values."""
    p.add_argument("--allow-missing", action="store_true",
                   help="accept --weights that lack some of the net's parameter layers (they "
                        "keep the prototxt's filler values; a warning lists them)")


def add_shapes(p, help: str = "shape of an input or data blob the prototxt does not fix "
               "(repeatable)") -> None:
    """``--input-shape NAME=N,C,H,W`` (also spelt ``--shape``), repeatable."""
    p.add_argument("--input-shape", "--shape", dest="input_shape", action="append", default=[],
                   metavar="NAME=N,C,H,W", help=help)


def add_speed(p) -> None:
    """``--precision`` and ``--xla``."""
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="Keras dtype policy; softmax, losses, BatchNorm, LRN stay float32")
    p.add_argument("--xla", nargs="?", const="auto", default=None, choices=("auto", "always"),
                   help="compile with XLA (jit_compile) where it is faster: both are measured "
                        "warm and the slower dropped, with the figures in the log (auto, the "
                        "default of a bare --xla); 'always': compile regardless")


def add_writes(p) -> None:
    """Where the files a net names (HDF5Output's ``file_name``) may be written:
    ``--output-dir``, ``--allow-outside-writes``, ``--overwrite``."""
    p.add_argument("--output-dir", metavar="DIR",
                   help="take the file names the net's HDF5Output layers give in DIR (default: "
                        "the working directory); they must stay inside it")
    p.add_argument("--allow-outside-writes", action="store_true",
                   help="let the net's HDF5Output layers write outside that directory "
                        "(absolute paths, ..)")
    p.add_argument("--overwrite", action="store_true",
                   help="let the net's HDF5Output layers replace existing files (never a "
                        "read-only one)")


def write_policy(args):
    """The :class:`~keras_caffe.fileio.WritePolicy` of :func:`add_writes`'s options."""
    return WritePolicy(output_dir=args.output_dir, allow_outside_writes=args.allow_outside_writes,
                       overwrite=args.overwrite)


def add_gpu(p) -> None:
    p.add_argument("--gpu", help="GPU id(s) or 'all' (default: CPU)")


def add_log_dir(p) -> None:
    """``--log_dir DIR`` (also ``--log-dir``): glog's log file, as Caffe's tools write it."""
    caffe_flag(p, "log_dir", metavar="DIR",
               help="also write the log, glog-style, to a file in DIR named as glog names it "
                    "(<prog>.<host>.<user>.log.INFO.<date-time>.<pid>, linked as keras-caffe.INFO)")


def caffe_flag(parser, name: str, **kwargs):
    """A flag in Caffe's spelling (``--resize_height``), also spelt with dashes."""
    names = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    return parser.add_argument(*names, dest=name, **kwargs)


def parse_shapes(items, option: str = "--input-shape") -> dict[str, tuple]:
    """``["data=64,3,227,227", "label=64"]`` -> ``{"data": (64, 3, 227, 227), "label": (64,)}``
    (``x`` also separates sizes: ``64x3x227x227``)."""
    shapes = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in re.split(r"[,x\s]+", dims.strip()))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise UsageError(f"{option} {item!r}: expected NAME=N,C,H,W with positive sizes")
        shapes[name] = shape
    return shapes


def numbers(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise UsageError(f"{what}: not a list of numbers: {text!r}") from None


def read_npz(path, option: str) -> dict:
    """The arrays of the .npz file given as ``option``, by name.  A file numpy cannot read as
    an archive of numeric arrays (another format, pickled objects, a bare .npy) is a
    UsageError naming it; a missing file is the OSError the command reports."""
    problem, arrays = None, {}
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                arrays = {k: data[k] for k in data.files}
        else:
            problem = "a single .npy array, not an .npz archive of arrays by blob name"
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        problem = ("pickled Python objects, which are never loaded" if "pickled" in str(exc)
                   else f"not an .npz archive of numeric arrays ({exc})")
    bad = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)
           or v.dtype.kind not in "biuf"]
    if bad:
        problem = f"{bad[0]!r} is not an array of numbers"
    if problem:
        raise UsageError(f"{option} {os.fspath(path)!r}: {problem}")
    return arrays


def select_device(gpu) -> list[int]:
    """``--gpu`` like Caffe's: an id, a comma list or 'all'; without it, the CPU.  Returns
    the ids of the GPUs used (empty: the CPU)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpu is None:
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return []
    if not gpus:
        log.warning("--gpu %s: no GPU is visible to TensorFlow; running on the CPU", gpu)
        return []
    if gpu == "all":
        return list(range(len(gpus)))
    wanted = [int(i) for i in str(gpu).split(",")]
    tf.config.set_visible_devices([gpus[i] for i in wanted], "GPU")
    return wanted
