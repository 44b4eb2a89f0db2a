"""``keras-caffe python SCRIPT [ARGS]``: run a pycaffe script unchanged, with ``import caffe``
resolving to ``keras_caffe.pycaffe``.  ``--output-dir``, ``--allow-outside-writes`` and
``--overwrite`` (before SCRIPT) say where its nets' HDF5Output layers may write,
``--max-memory`` the limit each of its nets is projected against, and
``--ignore-unknown-fields`` (as for every command) that its nets and solvers skip other
forks' harmless fields."""

from __future__ import annotations

import argparse
import os
import runpy
import sys

from ..pycaffe.install import install_as_caffe
from ..pycaffe.settings import settings
from .options import UsageError, add_max_memory, add_writes, write_policy


def add_parser(sub):
    p = sub.add_parser("python", help="run a pycaffe script with `import caffe` mapped to "
                       "keras_caffe.pycaffe",
                       description="Run SCRIPT as `python SCRIPT ARGS` would, after "
                       "keras_caffe.pycaffe.install_as_caffe(): `import caffe`, `caffe.io`, "
                       "`from caffe.proto import caffe_pb2` ... resolve to keras-caffe.")
    add_writes(p)
    add_max_memory(p)   # every caffe.Net the script makes (cli.main applies it)
    p.add_argument("script", metavar="SCRIPT", help="a Python script written for pycaffe")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    script = os.fspath(args.script)
    if not os.path.isfile(script):
        raise UsageError(f"{script}: no such script")
    install_as_caffe()
    settings.writes = write_policy(args)   # a new run: its nets' files (set_output_policy)
    sys.argv = [script] + list(args.args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    return 0
