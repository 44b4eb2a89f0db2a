"""The ``keras-caffe`` command line: ``main``, and one module per command registering its
subparser (``add_parser``) and running it (``run``).  Options several commands share are
parsed in :mod:`.options`.  Nothing outside this package imports it."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import CaffeError
from ..graph.memory import default_limit
from ..proto.text import ignoring_unknown_fields
from . import (classify, compute_image_mean, convert, convert_imageset, demo, draw,
               dump_reference, export, extract_features, forward, info, plot_filters, plot_log,
               python, serve, test, time, train, upgrade, verify, zoo)
from .options import UsageError, add_ignore_unknown_fields

# In the order ``keras-caffe --help`` lists them.
COMMANDS = (forward, convert, info, draw, verify, dump_reference, upgrade, convert_imageset,
            compute_image_mean, extract_features, plot_filters,
            time, export, zoo, train, test, plot_log, python, classify, serve, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-caffe",
                                     description="Caffe nets and weights in TensorFlow/Keras.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command")
    for command in COMMANDS:
        command.add_parser(sub)
    # Any command may read a prototxt (``demo``/``serve`` the bundled net, ``python`` its
    # script's nets and solvers): one option skips other forks' fields everywhere.
    for command_parser in {id(p): p for p in sub.choices.values()}.values():
        add_ignore_unknown_fields(command_parser)
    return parser


def main(argv=None) -> int:
    # TensorFlow's start-up chatter (CUDA probing, oneDNN notes) is noise on a command line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # as given (train --workers)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        args = parser.parse_args(["demo"])
    try:
        with default_limit(getattr(args, "max_memory", None)), \
                ignoring_unknown_fields(getattr(args, "ignore_unknown_fields", None) or None):
            return args.func(args)
    except UsageError as exc:
        print(f"keras-caffe {args.command}: {exc}", file=sys.stderr)
        return 2
    except (CaffeError, OSError) as exc:   # a file missing, a folder given for a file, ...
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            exc = f"{exc.filename}: {exc.strerror}"
        print(f"keras-caffe {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
