"""``keras-caffe serve [NET --weights W --labels L --hierarchy H]``: Caffe's web demo, an
upload page showing a net's top classes and its hedged answers over a class hierarchy."""

from __future__ import annotations

from ..apps.server import MAX_UPLOAD, make_app, serve
from .options import UsageError, add_max_memory, select_device


def add_parser(sub):
    p = sub.add_parser(
        "serve", help="a web page that classifies uploaded images (Caffe's web demo)",
        description="Serve Caffe's web demo: upload an image (or give its URL) and see the "
        "net's top five labels ('maximally specific') and the five best nodes of a class "
        "hierarchy by expected information gain ('maximally accurate'). Without NET it serves "
        "the bundled ShapesNet with its hierarchy and sample drawings.")
    p.add_argument("net", nargs="?", metavar="NET", help="net prototxt (default: ShapesNet)")
    p.add_argument("--weights", help="caffemodel with the trained weights (needed with NET)")
    p.add_argument("--labels", help="one label a line, e.g. synset_words.txt")
    p.add_argument("--hierarchy", metavar="H", help="class hierarchy: 'PARENT CHILD' lines, "
                   "leaves = the labels (e.g. ImageNet's wordnet.is_a.txt)")
    p.add_argument("--words", help="names of the hierarchy's nodes: 'ID<TAB>name' lines "
                   "(ImageNet's words.txt)")
    p.add_argument("--mean", help="mean (.npy or .binaryproto); averaged per channel, as the "
                   "web demo does")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD / 2 ** 20,
                   help=f"largest upload taken, in MB (default {MAX_UPLOAD // 2 ** 20})")
    p.add_argument("--gpu", action="store_true", help="run on the GPU (default: the CPU)")
    add_max_memory(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.net is None and (args.weights or args.labels or args.mean):
        raise UsageError("--weights, --labels and --mean go with a NET")
    if args.net is not None and args.weights is None:
        raise UsageError("NET needs --weights (its trained caffemodel)")
    if args.max_upload_mb <= 0:
        raise UsageError(f"--max-upload-mb {args.max_upload_mb:g}: expected a positive size")
    select_device("0" if args.gpu else None)
    app = make_app(args.net, args.weights, labels=args.labels, hierarchy=args.hierarchy,
                   words=args.words, mean=args.mean,
                   max_upload=int(args.max_upload_mb * 2 ** 20))
    return serve(app, args.host, args.port, out=lambda line: print(line, flush=True))
