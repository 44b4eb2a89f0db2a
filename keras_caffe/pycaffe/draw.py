"""``caffe.draw``: draw a net's NetParameter as Caffe's ``python/caffe/draw.py`` does, with
pydot and Graphviz.

:func:`get_pydot_graph` makes Caffe's graph: one record node per layer (its name, ``(type)``,
kernel/stride/pad for Convolution, Deconvolution and Pooling, optionally the lr multipliers),
coloured by type (:func:`choose_color_by_layertype`), green for an in-place neuron layer; one
grey octagon per blob; an edge from each bottom to the layer and from the layer to each top,
the latter labelled with a Data layer's batch size or the ``num_output`` of Convolution,
Deconvolution and InnerProduct.  With ``rankdir`` TB or BT a label's parts are separated by
spaces, otherwise by line breaks.  ``phase`` (``caffe.TRAIN``/``caffe.TEST``) keeps the layers
Caffe's rule admits (a layer with both ``include`` and ``exclude`` is a ValueError); ``None``
draws every layer.  :func:`draw_net` renders the graph with Graphviz's ``dot`` into the bytes of
any format ``dot`` writes; :func:`draw_net_to_file` takes the format from the file's extension
(``.raw``: the dot text, which needs no Graphviz)::

    import caffe, caffe.draw
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    net = text_format.Parse(open("train_val.prototxt").read(), caffe_pb2.NetParameter())
    caffe.draw.draw_net_to_file(net, "net.png", "TB", phase=caffe.TEST)

Needs pydot (``pip install 'keras-caffe[draw]'``) and, for every format but ``raw``, Graphviz's
``dot`` program (``apt install graphviz``).

Where this module departs from Caffe's, and why:

* A net in a legacy form (V0, V1 ``layers``, ``input`` fields, old BatchNorm or data transform
  parameters) is upgraded first, as ``caffe.Net`` does; Caffe's module reads only ``layer`` and
  draws a V1 net empty.  Nets with ``input`` fields thus show the Input layer the upgrade adds.
* Every layer and blob is a node of its own, named by an id (``layer3``, ``blob5``) with its
  text in ``label``.  Caffe names a layer's node by its label text, so two layers with the same
  text (a train_val net's TRAIN and TEST data layers) became one node.
* Names are escaped for dot and for record labels: a name with ``{ } | < > "`` or a backslash
  is drawn as written instead of breaking the drawing.
* Every blob node has :data:`BLOB_STYLE`; Caffe's loses it for a blob last seen as a top.
* The style dicts are never modified (Caffe writes each layer's colour into
  ``LAYER_STYLE_DEFAULT``).
* ``dot`` runs on pydot's text here, so a missing ``dot``, a format it lacks or its failure is
  one :class:`~keras_caffe.errors.DrawError` that says what to do (pydot prints dot's output and
  raises a bare OSError or AssertionError); ``draw_net(..., ext='raw')`` gives the dot text too.
* :func:`draw_net_to_file` lower-cases the extension, refuses a name without one, and writes
  atomically: when drawing fails nothing is written and an existing file is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess

try:
    import pydot
except ImportError as exc:  # pydot is an optional dependency
    raise ImportError("caffe.draw (keras_caffe.pycaffe.draw) needs pydot: pip install "
                      "'keras-caffe[draw]' (drawing to images also needs Graphviz's dot "
                      "program, e.g. apt install graphviz)", name="pydot") from exc

from ..errors import DrawError
from ..fileio import atomic_path
from ..proto import caffe_pb2
from ..proto.upgrade import net_needs_upgrade, upgrade_net

# Internal layer and blob styles (Caffe's values; read, never modified).
LAYER_STYLE_DEFAULT = {"shape": "record", "fillcolor": "#6495ED", "style": "filled"}
NEURON_LAYER_STYLE = {"shape": "record", "fillcolor": "#90EE90", "style": "filled"}
BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}

_LEARNING_TYPES = ("Convolution", "Deconvolution", "InnerProduct")
_SPATIAL_TYPES = ("Convolution", "Deconvolution", "Pooling")
_TYPE_COLORS = {"Convolution": "#FF5050", "Deconvolution": "#FF5050", "Pooling": "#FF9900",
                "InnerProduct": "#CC33FF"}
# What dot and Graphviz's label parser treat specially inside a quoted label.
_ESCAPE_TEXT = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": ""})
_ESCAPE_RECORD = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "",
                                "{": "\\{", "}": "\\}", "|": "\\|", "<": "\\<", ">": "\\>"})
_NO_LABEL = '""'


def get_pooling_types_dict():
    """Pooling method number -> name (``{0: 'MAX', 1: 'AVE', 2: 'STOCHASTIC'}``)."""
    return {v.number: name
            for name, v in caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR.values_by_name.items()}


def get_edge_label(layer):
    """The label of the edges from ``layer`` to its tops: ``'Batch N'`` for a Data layer, the
    ``num_output`` of Convolution, Deconvolution and InnerProduct, else ``'""'`` (empty)."""
    if layer.type == "Data":
        return f"Batch {layer.data_param.batch_size}"
    if layer.type in ("Convolution", "Deconvolution"):
        return str(layer.convolution_param.num_output)
    if layer.type == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    return _NO_LABEL


def get_layer_lr_mult(layer):
    """``(weights lr_mult, bias lr_mult)`` of a Convolution, Deconvolution or InnerProduct layer
    (1.0 where its ``param`` says nothing); ValueError for other types or more than two
    ``param`` entries."""
    if layer.type not in _LEARNING_TYPES:
        raise ValueError(f"{layer.type} layers do not have a learning rate multiplier")
    params = getattr(layer, "param", ())
    if len(params) > 2:
        raise ValueError("Could not parse the learning rate multiplier")
    mults = [getattr(p, "lr_mult", 1.0) for p in params]
    return tuple(mults + [1.0] * (2 - len(mults)))


def _separator(rankdir) -> str:
    # A vertical graph has room across (spaces); a horizontal one has room down (dot's \n).
    return " " if rankdir in ("TB", "BT") else "\\n"


def _descriptors(layer, display_lrm: bool) -> list[str]:
    """The lines of a layer's label, unescaped: name, ``(type)``, kernel size, stride and pad,
    lr multipliers."""
    if layer.type == "Pooling":
        kind = f"(Pooling {get_pooling_types_dict()[layer.pooling_param.pool]})"
    else:
        kind = f"({layer.type})"
    parts = [layer.name, kind]
    if layer.type in _SPATIAL_TYPES:
        if layer.type == "Pooling":
            p = layer.pooling_param
            kernel, stride, pad = p.kernel_size, p.stride, p.pad
        else:
            p = layer.convolution_param
            kernel = p.kernel_size[0] if len(p.kernel_size) else 1
            stride = p.stride[0] if len(p.stride) else 1
            pad = p.pad[0] if len(p.pad) else 0
        parts += [f"kernel size: {int(kernel)}", f"stride: {int(stride)}", f"pad: {int(pad)}"]
    if display_lrm and layer.type in _LEARNING_TYPES:
        lrm0, lrm1 = get_layer_lr_mult(layer)
        if lrm0 or lrm1:
            parts.append(f"lr mult: {lrm0:.1f}, {lrm1:.1f}")
    return parts


def get_layer_label(layer, rankdir, display_lrm=False):
    """The label of ``layer``'s node as Caffe writes it: its parts joined by a line break
    (``\\n``) or, for ``rankdir`` TB/BT, a space, inside double quotes.  (The node itself
    carries the same text escaped for dot.)"""
    separator = _separator(rankdir)
    return '"%s"' % separator.join(_descriptors(layer, display_lrm))


def choose_color_by_layertype(layertype):
    """The fill colour of a layer node: red for (de)convolution, orange for pooling, purple
    for inner product, blue for the rest."""
    return _TYPE_COLORS.get(layertype, LAYER_STYLE_DEFAULT["fillcolor"])


def _quoted(text: str, table=_ESCAPE_TEXT) -> str:
    return '"' + str(text).translate(table) + '"'


def _included(layer, phase) -> bool:
    """Caffe's draw rule on phases: no ``include`` admits every phase, an ``include`` for the
    phase admits, an ``exclude`` for it removes; stages and levels are not looked at.  A rule
    that names no phase holds for both (as when Caffe builds the net; pycaffe's draw reads the
    field's default, TRAIN)."""
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError(f"layer {layer.name} has both include and exclude specified.")

    def meets(rule):
        return not rule.HasField("phase") or rule.phase == phase

    included = len(layer.include) == 0 or any(meets(rule) for rule in layer.include)
    return included and not any(meets(rule) for rule in layer.exclude)


def _current(caffe_net):
    """``caffe_net`` in today's format (upgraded in memory when it is a legacy one)."""
    return upgrade_net(caffe_net) if net_needs_upgrade(caffe_net) else caffe_net


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """A ``pydot.Dot`` of ``caffe_net`` (a NetParameter): a node per layer that ``phase``
    admits (all with ``None``), a node per blob they read or write, an edge per bottom and top.

    ``rankdir``: 'LR', 'TB', 'BT' or 'RL'; ``label_edges``: label the edges to tops
    (:func:`get_edge_label`); ``display_lrm``: add the lr multipliers of learning layers."""
    net = _current(caffe_net)
    separator = _separator(rankdir)
    graph = pydot.Dot(_quoted(net.name or "Net"), graph_type="digraph", rankdir=rankdir)
    nodes, edges, blob_ids = [], [], {}

    def blob(name):
        if name not in blob_ids:
            blob_ids[name] = f"blob{len(blob_ids)}"
            nodes.append(pydot.Node(blob_ids[name], label=_quoted(name), **BLOB_STYLE))
        return blob_ids[name]

    for index, layer in enumerate(net.layer):
        if not _included(layer, phase):
            continue
        node_id = f"layer{index}"
        parts = _descriptors(layer, display_lrm)
        label = '"%s"' % separator.join(p.translate(_ESCAPE_RECORD) for p in parts)
        if len(layer.bottom) == 1 and len(layer.top) == 1 and layer.bottom[0] == layer.top[0]:
            style = NEURON_LAYER_STYLE                        # an in-place neuron layer
        else:
            style = dict(LAYER_STYLE_DEFAULT, fillcolor=choose_color_by_layertype(layer.type))
        nodes.append(pydot.Node(node_id, label=label, **style))
        for name in layer.bottom:
            edges.append((blob(name), node_id, _NO_LABEL))
        top_label = get_edge_label(layer) if label_edges else _NO_LABEL
        for name in layer.top:
            edges.append((node_id, blob(name), top_label))
    for node in nodes:
        graph.add_node(node)
    for src, dst, label in edges:
        graph.add_edge(pydot.Edge(src, dst, label=label))
    return graph


def _render(graph, ext: str) -> bytes:
    """``graph`` in format ``ext``: the dot text for 'raw', else what Graphviz's dot makes."""
    text = graph.to_string()
    if ext == "raw":
        return text.encode("utf-8")
    program = shutil.which("dot")
    if program is None:
        raise DrawError(f"drawing to {ext} needs Graphviz's `dot` program, which is not on "
                        "PATH: install Graphviz (e.g. `apt install graphviz`, `brew install "
                        "graphviz` or `conda install graphviz`); the .raw format gives the dot "
                        "text without it")
    try:
        done = subprocess.run([program, f"-T{ext}"], input=text.encode("utf-8"),
                              capture_output=True, check=False)
    except OSError as exc:
        raise DrawError(f"could not run Graphviz's dot ({program}): {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        if "not recognized" in message and "Use one of:" in message:
            formats = message.split("Use one of:", 1)[1].split()
            raise DrawError(f"Graphviz cannot draw to format '{ext}'; use one of "
                            f"{', '.join(formats + ['raw'])}")
        lines = message.splitlines() or [f"exit status {done.returncode}"]
        raise DrawError(f"Graphviz's dot failed: {lines[0]}")
    return done.stdout


def draw_net(caffe_net, rankdir, ext="png", phase=None, display_lrm=False):
    """The drawing of ``caffe_net`` (a NetParameter) as the bytes of format ``ext`` ('png',
    'svg', 'pdf', ... any format Graphviz's dot writes; 'raw' is the dot text itself).

    ``phase``: ``caffe.TRAIN``, ``caffe.TEST`` or ``None`` (every layer); ``display_lrm``:
    show the lr multipliers of learning layers."""
    return _render(get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm),
                   str(ext).lower())


def draw_net_to_file(caffe_net, filename, rankdir="LR", phase=None, display_lrm=False):
    """Draw ``caffe_net`` into ``filename``, in the format its extension names (``.raw``: the
    dot text, to feed Graphviz by hand).  The file is replaced atomically once the drawing is
    made; when drawing fails nothing is written."""
    filename = os.fspath(filename)
    ext = os.path.splitext(os.path.basename(filename))[1][1:].lower()
    if not ext:
        raise DrawError(f"{filename}: no extension to take the drawing's format from (.png, "
                        ".svg, .pdf, .raw, ...)")
    try:
        data = draw_net(caffe_net, rankdir, ext, phase, display_lrm)
    except DrawError as exc:
        raise DrawError(f"{filename}: {exc}") from None
    with atomic_path(filename) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


__all__ = ["LAYER_STYLE_DEFAULT", "NEURON_LAYER_STYLE", "BLOB_STYLE", "get_pooling_types_dict",
           "get_edge_label", "get_layer_lr_mult", "get_layer_label", "choose_color_by_layertype",
           "get_pydot_graph", "draw_net", "draw_net_to_file"]
