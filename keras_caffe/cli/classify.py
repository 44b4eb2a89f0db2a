"""``keras-caffe classify [NET --weights W] IMAGES...``: Caffe's ``python/classify.py``,
printing each image's top labels (and writing its ``.npy`` of predictions with ``-o``)."""

from __future__ import annotations

import sys
import time

import numpy as np

from ..apps.classification import ImageClassifier
from ..apps.images import decode_image, read_inputs, sample_images
from ..export import RUNTIMES
from ..fileio import atomic_path
from .options import UsageError, add_max_memory, caffe_flag, numbers, select_device

#: Images classified per call of the Classifier (bounds memory for long lists).
CHUNK = 64


def add_parser(sub):
    p = sub.add_parser(
        "classify", help="classify images with a net, like Caffe's python/classify.py",
        description="Classify images with a net (default: the bundled ShapesNet). A first "
        "argument ending in .prototxt is the net; the others are image files, folders of "
        "images or .npy arrays of images (H,W,K or N,H,W,K; N,C,H,W is recognised). With "
        "the bundled net and no images, its sample drawings are classified.")
    p.add_argument("inputs", nargs="*", metavar="[NET] IMAGES",
                   help="net prototxt (optional), then images, folders or .npy files")
    p.add_argument("--weights", help="caffemodel with the trained weights (needed with NET)")
    p.add_argument("--mean", "--mean-file", "--mean_file", dest="mean_file", metavar="MEAN",
                   help="mean to subtract: .npy (C or C,H,W) or .binaryproto (default: none)")
    p.add_argument("--labels", help="one label a line, e.g. synset_words.txt "
                   "(default: the bundled net's, else class numbers)")
    crops = p.add_mutually_exclusive_group()
    caffe_flag(crops, "center_only", action="store_true",
               help="classify the centre crop alone")
    crops.add_argument("--oversample", dest="center_only", action="store_false",
                       help="average over ten crops (default)")
    p.add_argument("--top", type=int, default=5, help="labels shown per image (default 5)")
    caffe_flag(p, "images_dim", metavar="H,W",
               help="size images are resized to before cropping (default 256,256; the "
               "bundled net: its input size)")
    caffe_flag(p, "raw_scale", type=float,
               help="multiplier of the [0, 1] pixels before the mean (default 255; bundled: 1)")
    caffe_flag(p, "channel_swap", metavar="ORDER",
               help="input channel order (default 2,1,0: RGB to BGR, for 3-channel nets; "
               "'' for none)")
    caffe_flag(p, "input_scale", type=float, help="multiplier after the mean")
    p.add_argument("--ext", help="extension of a folder's images (default: png, jpg, jpeg, "
                   "jpe, bmp, gif)")
    p.add_argument("-o", "--output", metavar="OUT.npy",
                   help="write the (N, classes) predictions, as classify.py does")
    p.add_argument("--gpu", action="store_true", help="run on the GPU (default: the CPU)")
    p.add_argument("--runtime", choices=RUNTIMES,
                   help="run the net through keras_caffe.predictor on this runtime (auto: the "
                        "fastest here; keras: one tf.function; litert: LiteRT's interpreter); "
                        "default: caffe.Net's own pass")
    add_max_memory(p)
    p.set_defaults(func=run, center_only=False)
    _intermixed(p)
    return p


def _intermixed(parser) -> None:
    """Let images follow options (``NET --weights W IMAGES``), as argparse's intermixed
    parsing does; the subcommand's parser is called through ``parse_known_args``."""
    plain = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        parser.parse_known_args = plain        # the intermixed parse calls it, twice
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser.parse_known_args = parse_known_args

    parser.parse_known_args = parse_known_args


def _ints(text, what, count=None, least=0):
    if text is None:
        return None
    values = numbers(text, what)
    if any(v != int(v) or v < least for v in values) or (count and len(values) not in count):
        raise UsageError(f"{what}: expected {' or '.join(map(str, count or ())) or 'some'} "
                         f"whole numbers of at least {least}, got {text!r}")
    return tuple(int(v) for v in values)


def run(args) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: expected a positive number")
    dims = _ints(args.images_dim, "--images-dim", (1, 2), least=1)
    dims = dims * 2 if dims and len(dims) == 1 else dims
    swap = _ints(args.channel_swap, "--channel-swap")
    inputs = list(args.inputs)
    net = inputs.pop(0) if inputs and inputs[0].endswith(".prototxt") else None
    if net is None and args.weights:
        raise UsageError("--weights needs a NET (a .prototxt as the first argument)")
    if net is not None and not inputs:
        raise UsageError("no images to classify (give image files, folders or .npy files)")
    select_device("0" if args.gpu else None)
    classifier = ImageClassifier(net, args.weights, labels=args.labels, mean=args.mean_file,
                                 image_dims=dims, raw_scale=args.raw_scale, channel_swap=swap,
                                 input_scale=args.input_scale, runtime=args.runtime)
    if inputs:
        images = read_inputs(inputs, classifier.channels, ext=args.ext)
    else:
        images = ((f"{name}.png", decode_image(png, name, color=classifier.color))
                  for name, png in sample_images().items())
    predictions, count, start = [], 0, time.perf_counter()
    while True:
        chunk = [item for _, item in zip(range(CHUNK), images)]
        if not chunk:
            break
        probs = classifier.predict([img for _, img in chunk], oversample=not args.center_only)
        for (name, _), p in zip(chunk, probs):
            print(name)
            for label, score in classifier.top(p, args.top):
                print(f"  {score:.4f}  {label}")
        predictions.append(probs)
        count += len(chunk)
    ran = f" on {classifier.classifier.runtime}" if classifier.classifier.runtime else ""
    print(f"classified {count} image{'s' * (count != 1)} in "
          f"{time.perf_counter() - start:.2f} s{ran}", file=sys.stderr)
    if args.output:
        out = np.concatenate(predictions) if predictions else np.zeros((0, classifier.classes))
        with atomic_path(args.output) as tmp, open(tmp, "wb") as f:
            np.save(f, out)
        print(f"wrote the {out.shape[0]}x{out.shape[1]} predictions to {args.output}",
              file=sys.stderr)
    return 0
