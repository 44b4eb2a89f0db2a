"""``keras-caffe export NET -o OUT``: a SavedModel or TFLite file for serving.

The signature takes the net's input blobs and returns its output blobs by (escaped) Caffe
name; see :mod:`keras_caffe.export` for the details.
"""

from __future__ import annotations

import sys

from ..export import FORMATS, Preprocess, export
from .options import UsageError, add_net, add_shapes, numbers, parse_shapes


def add_parser(subparsers):
    p = subparsers.add_parser(
        "export", help="export a net as a TensorFlow SavedModel or a TFLite file",
        description="Export a Caffe net (and its weights) for serving.  The serving_default "
                    "signature takes the input blobs and returns the output blobs by Caffe "
                    "name; names TensorFlow refuses are escaped (' ' -> .20, ':' -> .3A) and "
                    "the table is stored with the model.")
    add_net(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="SavedModel directory, or .tflite file (a directory gets model.tflite)")
    p.add_argument("--format", choices=FORMATS, default="savedmodel")
    p.add_argument("--input-layout", choices=("NHWC", "NCHW"), default="NHWC",
                   help="4-D blobs in and out as N,H,W,C (default) or Caffe's N,C,H,W")
    add_shapes(p, help="shape of an input blob (needed for data layers); repeatable. Given, "
                       "it fixes every shape of the exported signature, batch included (for "
                       "NPU delegates and XNNPACK); without it the batch stays free")
    p.add_argument("--output-blob", action="append", metavar="BLOB",
                   help="return this blob instead of the net's outputs (e.g. fc8 of a "
                        "train_val net); repeatable")

    g = p.add_argument_group(
        "preprocessing", "bake Caffe's data transform into the signature: it then takes raw "
        "N,H,W,C images, BGR like Caffe's readers, and computes (crop(image) - mean) * scale. "
        "Settings come from the data layer's transform_param; the options below give or "
        "override them (and imply --preprocess).")
    g.add_argument("--preprocess", action="store_true", help="take raw images")
    g.add_argument("--mean-value", metavar="B,G,R", help="mean per channel (or one value)")
    g.add_argument("--mean-file", metavar="MEAN.binaryproto", help="per-pixel mean")
    g.add_argument("--scale", type=float, help="multiplies after the mean (e.g. 0.017)")
    g.add_argument("--crop-size", metavar="N|H,W", help="centre crop")
    g.add_argument("--rgb", action="store_true", help="images come in RGB; swap to BGR")
    g.add_argument("--image-dtype", choices=("float32", "uint8"), default=None,
                   help="dtype of the raw images (default float32)")
    g.add_argument("--preprocess-blob", metavar="BLOB",
                   help="the input blob the images feed (default: the data layer's first top)")

    t = p.add_argument_group("tflite")
    t.add_argument("--allow-tf-ops", action="store_true",
                   help="keep ops TFLite has no builtin for as TF ops (needs the Flex delegate)")
    t.add_argument("--no-check", action="store_true",
                   help="skip running the .tflite once in the interpreter against Keras")
    p.set_defaults(func=run)
    return p


def preprocess_options(args):
    """``False``, or a :class:`~keras_caffe.export.Preprocess` from the parsed options."""
    given = [args.mean_value, args.mean_file, args.scale, args.crop_size, args.image_dtype,
             args.preprocess_blob]
    if not args.preprocess and not args.rgb and all(v is None for v in given):
        return False
    crop = None
    if args.crop_size is not None:
        dims = tuple(int(d) for d in numbers(args.crop_size, "--crop-size"))
        crop = dims[0] if len(dims) == 1 else dims
    return Preprocess(blob=args.preprocess_blob,
                      mean_value=numbers(args.mean_value, "--mean-value")
                      if args.mean_value is not None else None,
                      mean_file=args.mean_file, scale=args.scale, crop_size=crop, rgb=args.rgb,
                      image_dtype=args.image_dtype or "float32")


def run(args) -> int:
    """Run ``keras-caffe export`` for parsed ``args``; returns the exit status.

    Bad input raises :class:`~keras_caffe.errors.CaffeError` (the CLI prints it, exits 1)."""
    preprocess = preprocess_options(args)
    shapes = parse_shapes(args.input_shape)
    kwargs = dict(weights=args.weights, input_layout=args.input_layout, preprocess=preprocess,
                  outputs=args.output_blob, phase=args.phase)
    if shapes:
        kwargs["input_shapes"] = shapes
    if args.allow_missing:
        kwargs["allow_missing"] = True
    if args.format == "tflite":
        kwargs.update(allow_tf_ops=args.allow_tf_ops, check=not args.no_check)
    elif args.allow_tf_ops:
        raise UsageError("--allow-tf-ops is for --format tflite")
    result = export(args.net, args.output, format=args.format, **kwargs)
    print(result.summary(), file=sys.stderr)
    return 0
