"""``keras-caffe zoo DIR``: a Caffe model-zoo folder: what its readme.md says the model is,
the sha1 of its caffemodel, ``--download`` to fetch that (Caffe's
``download_model_binary.py``), ``--convert`` to write the deploy net with it as ``.keras``,
``.weights.h5`` or a SavedModel directory.  Nothing touches the network without
``--download``."""

from __future__ import annotations

import sys

from ..tools import zoo
from ..tools.convert import convert, keras_suffix
from .options import UsageError, add_allow_missing, add_max_memory

_NOT_DIRECTORIES = (".h5", ".tflite", ".onnx", ".pb", ".caffemodel")


def add_parser(sub):
    p = sub.add_parser(
        "zoo", help="a Caffe model-zoo folder: describe, check sha1, --download, --convert",
        description="Read a Caffe model-zoo folder (readme.md front matter: name, caffemodel, "
                    "caffemodel_url, sha1, license, ...), say what the model is and check the "
                    "sha1 of the caffemodel in it (exit 1 on a mismatch).")
    p.add_argument("dir", metavar="DIR", help="the zoo folder, e.g. models/bvlc_alexnet")
    p.add_argument("--download", action="store_true",
                   help="download caffemodel_url into DIR unless the file is there with the "
                        "right sha1; it gets its name only if its sha1 matches (a broken-off "
                        "download is resumed by the next run)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up on a download that does not answer for this long (default 30)")
    p.add_argument("--convert", metavar="OUT",
                   help="write the net with the caffemodel: OUT.keras, OUT.weights.h5, or "
                        "any other name for a SavedModel directory")
    p.add_argument("--net", default="deploy.prototxt", metavar="PROTOTXT",
                   help="the net to convert (default deploy.prototxt; a relative name is "
                        "looked for in DIR first)")
    p.add_argument("--input-layout", choices=("NHWC", "NCHW"), default="NHWC",
                   help="4-D inputs and outputs of the converted model (default NHWC)")
    add_allow_missing(p)
    add_max_memory(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g}: must be positive")
    if (args.convert and keras_suffix(args.convert) is None
            and args.convert.lower().endswith(_NOT_DIRECTORIES)):
        raise UsageError(f"--convert {args.convert}: give OUT.keras, OUT.weights.h5 or a "
                         "SavedModel directory (keras-caffe export writes .tflite)")
    model = zoo.open_folder(args.dir)
    print(zoo.describe(model))
    if args.download:
        try:
            print(zoo.fetch(model, timeout=args.timeout))
        except KeyboardInterrupt:
            return 130
    else:
        print(zoo.verify(model))
    if args.convert:
        print(convert(model.net(args.net), zoo.weights(model), args.convert,
                      input_layout=args.input_layout, allow_missing=args.allow_missing),
              file=sys.stderr)
    return 0
