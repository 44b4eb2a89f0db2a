"""``caffe.draw`` (keras_caffe/pycaffe/draw.py): Caffe's drawing of a NetParameter, its labels,
colours, edges and phase rule, and where ours departs (upgrade, escaping, node ids)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from keras_caffe.errors import DrawError
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.text import parse_net, read_net, read_solver
from keras_caffe.proto.upgrade import detect_kind, read_upgraded_net
from keras_caffe.pycaffe import draw
from keras_caffe.pycaffe.install import install_as_caffe, uninstall_as_caffe
from tests.pycaffe.draw_nets import (AWKWARD_NAMES, AWKWARD_NET, PHASED_NET, blob_labels, edges,
                                     layer_labels, nodes, require_dot)
from tests.shared_paths import CONFORMANCE, ZOO, require

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def _layer(text: str) -> caffe_pb2.LayerParameter:
    return parse_net(f"layer {{ {text} }}").layer[0]


def _admitted(layer, phase) -> bool:
    """The phase rule of Caffe's draw.py, written out independently."""
    if phase is None:
        return True
    wanted = [rule.phase for rule in layer.include]
    unwanted = [rule.phase for rule in layer.exclude]
    return (not wanted or phase in wanted) and phase not in unwanted


# --- every net of the zoo ------------------------------------------------------------------

def _zoo_nets():
    root = ZOO / "bvlc"
    files = sorted(root.rglob("*.prototxt")) if root.is_dir() else []
    nets = [f for f in files if detect_kind(f.read_bytes(), f) == "net"]
    if not nets:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{root} not found"))]
    return [pytest.param(f, id=str(f.relative_to(root))) for f in nets]


@pytest.mark.parametrize("path", _zoo_nets())
def test_every_zoo_net_draws_a_node_per_layer_and_blob(path):
    written = read_net(path)                 # as the file says; draw upgrades what needs it
    net = read_upgraded_net(path)
    for phase in (None, TRAIN, TEST):
        kept = [layer for layer in net.layer if _admitted(layer, phase)]
        text = draw.draw_net(written, "LR", ext="raw", phase=phase).decode()
        assert text.startswith(f'digraph "{net.name or "Net"}" {{')
        assert sorted(layer_labels(text)) == sorted(draw.get_layer_label(layer, "LR")
                                                    for layer in kept)
        blobs = {name for layer in kept for name in [*layer.bottom, *layer.top]}
        assert sorted(blob_labels(text)) == sorted(f'"{name}"' for name in blobs)
        assert len(edges(text)) == sum(len(layer.bottom) + len(layer.top) for layer in kept)
    assert kept, "every zoo net has TEST-phase layers"


def test_a_v1_zoo_net_is_upgraded_before_drawing():
    solver = read_solver(require(ZOO / "bvlc/examples/mnist/lenet_consolidated_solver.prototxt"))
    v1 = solver.net_param
    assert len(v1.layers) == 12 and not v1.layer
    text = draw.draw_net(v1, "LR", ext="raw").decode()
    labels = layer_labels(text)
    assert labels.count('"mnist\\n(Data)"') == 3
    assert '"conv1\\n(Convolution)\\nkernel size: 5\\nstride: 1\\npad: 0"' in labels
    assert '"pool2\\n(Pooling MAX)\\nkernel size: 2\\nstride: 2\\npad: 0"' in labels
    assert {'"ip1\\n(InnerProduct)"', '"relu1\\n(ReLU)"', '"loss\\n(SoftmaxWithLoss)"',
            '"accuracy\\n(Accuracy)"'} <= set(labels)
    assert len(labels) == 12
    test_labels = layer_labels(draw.draw_net(v1, "LR", ext="raw", phase=TEST).decode())
    assert test_labels.count('"mnist\\n(Data)"') == 2 and len(test_labels) == 11


def _conformance_v1_nets():
    root = CONFORMANCE / "upgrade"
    cases = sorted(p.parent for p in root.glob("*/v1.prototxt")) if root.is_dir() else []
    cases = [c for c in cases if detect_kind((c / "v1.prototxt").read_bytes()) == "net"]
    if not cases:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{root} not found"))]
    return [pytest.param(c, id=c.name) for c in cases]


@pytest.mark.parametrize("case", _conformance_v1_nets())
def test_legacy_nets_draw_the_layers_real_caffe_upgraded_them_to(case):
    legacy = read_net(case / "v1.prototxt")
    by_caffe = read_net(case / "upgraded.prototxt")          # written by Caffe's upgrade tool
    text = draw.draw_net(legacy, "TB", ext="raw").decode()
    assert sorted(layer_labels(text)) == sorted(draw.get_layer_label(layer, "TB")
                                                for layer in by_caffe.layer)


# --- Caffe's labels, colours and edges ----------------------------------------------------

def test_convolution_label_lr_and_tb():
    conv = _layer("name: 'conv1' type: 'Convolution' "
                  "convolution_param { num_output: 20 kernel_size: 5 stride: 2 pad: 1 }")
    assert draw.get_layer_label(conv, "LR") == \
        r'"conv1\n(Convolution)\nkernel size: 5\nstride: 2\npad: 1"'
    assert draw.get_layer_label(conv, "RL") == draw.get_layer_label(conv, "LR")
    assert draw.get_layer_label(conv, "TB") == \
        '"conv1 (Convolution) kernel size: 5 stride: 2 pad: 1"'
    assert draw.get_layer_label(conv, "BT") == draw.get_layer_label(conv, "TB")
    # Caffe reads only the repeated fields: kernel_h/kernel_w and defaults show as 1, 1, 0.
    deconv = _layer("name: 'up' type: 'Deconvolution' "
                    "convolution_param { num_output: 3 kernel_h: 4 kernel_w: 2 }")
    assert draw.get_layer_label(deconv, "TB") == \
        '"up (Deconvolution) kernel size: 1 stride: 1 pad: 0"'


def test_pooling_label_names_the_method():
    assert draw.get_pooling_types_dict() == {0: "MAX", 1: "AVE", 2: "STOCHASTIC"}
    pool = _layer("name: 'pool1' type: 'Pooling' "
                  "pooling_param { pool: MAX kernel_size: 3 stride: 2 }")
    assert draw.get_layer_label(pool, "LR") == \
        r'"pool1\n(Pooling MAX)\nkernel size: 3\nstride: 2\npad: 0"'
    ave = _layer("name: 'p' type: 'Pooling' pooling_param { pool: AVE kernel_size: 2 pad: 1 }")
    assert draw.get_layer_label(ave, "TB") == '"p (Pooling AVE) kernel size: 2 stride: 1 pad: 1"'


def test_learning_rate_multipliers():
    ip = _layer("name: 'ip1' type: 'InnerProduct' param { lr_mult: 1 } param { lr_mult: 2 } "
                "inner_product_param { num_output: 10 }")
    assert draw.get_layer_lr_mult(ip) == (1.0, 2.0)
    assert draw.get_layer_label(ip, "LR") == r'"ip1\n(InnerProduct)"'
    assert draw.get_layer_label(ip, "LR", display_lrm=True) == \
        r'"ip1\n(InnerProduct)\nlr mult: 1.0, 2.0"'
    conv = _layer("name: 'c' type: 'Convolution' param { lr_mult: 0.5 } "
                  "convolution_param { num_output: 2 kernel_size: 1 }")
    assert draw.get_layer_lr_mult(conv) == (0.5, 1.0)
    assert draw.get_layer_label(conv, "TB", display_lrm=True).endswith(' lr mult: 0.5, 1.0"')
    bare = _layer("name: 'd' type: 'Deconvolution' convolution_param { num_output: 2 }")
    assert draw.get_layer_lr_mult(bare) == (1.0, 1.0)
    frozen = _layer("name: 'f' type: 'InnerProduct' param { lr_mult: 0 } param { lr_mult: 0 }")
    assert draw.get_layer_label(frozen, "TB", display_lrm=True) == '"f (InnerProduct)"'
    relu = _layer("name: 'r' type: 'ReLU'")
    assert draw.get_layer_label(relu, "TB", display_lrm=True) == '"r (ReLU)"'
    with pytest.raises(ValueError, match="ReLU layers do not have a learning rate multiplier"):
        draw.get_layer_lr_mult(relu)
    with pytest.raises(ValueError, match="Could not parse"):
        draw.get_layer_lr_mult(_layer("name: 't' type: 'InnerProduct' param {} param {} param {}"))


def test_edge_labels():
    cases = {"type: 'Data' data_param { batch_size: 64 }": "Batch 64",
             "type: 'Convolution' convolution_param { num_output: 20 }": "20",
             "type: 'Deconvolution' convolution_param { num_output: 7 }": "7",
             "type: 'InnerProduct' inner_product_param { num_output: 500 }": "500",
             "type: 'ImageData' image_data_param { batch_size: 5 }": '""'}
    for layer, label in cases.items():
        assert draw.get_edge_label(_layer(layer)) == label, layer
    text = draw.draw_net(parse_net(PHASED_NET), "LR", ext="raw").decode()
    ids = {label: node for node, (label, _) in nodes(text).items()}
    conv = ids[r'"conv1\n(Convolution)\nkernel size: 5\nstride: 2\npad: 1"']
    ip = ids[r'"ip1\n(InnerProduct)"']
    found = edges(text)
    assert (conv, ids['"conv1"'], "20") in found and (ip, ids['"ip1"'], "10") in found
    assert sorted(label for src, _, label in found if label.startswith('"Batch')) == \
        ['"Batch 100"', '"Batch 100"', '"Batch 64"', '"Batch 64"']
    assert all(label == '""' for src, _, label in found if src.startswith("blob"))   # bottoms
    unlabelled = draw.get_pydot_graph(parse_net(PHASED_NET), "LR", label_edges=False).to_string()
    assert {label for _, _, label in edges(unlabelled)} == {'""'}


def test_colours_shapes_and_the_in_place_neuron_style():
    assert draw.choose_color_by_layertype("Convolution") == "#FF5050"
    assert draw.choose_color_by_layertype("Deconvolution") == "#FF5050"
    assert draw.choose_color_by_layertype("Pooling") == "#FF9900"
    assert draw.choose_color_by_layertype("InnerProduct") == "#CC33FF"
    assert draw.choose_color_by_layertype("Softmax") == "#6495ED"
    defaults = dict(draw.LAYER_STYLE_DEFAULT)
    text = draw.draw_net(parse_net(PHASED_NET), "LR", ext="raw").decode()
    style = {label.split("\\n")[0].strip('"'): rest for label, rest in
             (nodes(text)[n] for n in nodes(text) if n.startswith("layer"))}
    assert style["conv1"] == 'shape=record, fillcolor="#FF5050", style=filled'
    assert style["pool1"] == 'shape=record, fillcolor="#FF9900", style=filled'
    assert style["ip1"] == 'shape=record, fillcolor="#CC33FF", style=filled'
    assert style["loss"] == 'shape=record, fillcolor="#6495ED", style=filled'
    assert style["relu1"] == 'shape=record, fillcolor="#90EE90", style=filled'  # in place
    assert style["drop1"] == 'shape=record, fillcolor="#6495ED", style=filled'  # not in place
    # every blob has the blob style, also those only ever written (Caffe forgets it there)
    blob_styles = {rest for node, (_, rest) in nodes(text).items() if node.startswith("blob")}
    assert blob_styles == {'shape=octagon, fillcolor="#E0E0E0", style=filled'}
    assert draw.LAYER_STYLE_DEFAULT == defaults == {"shape": "record", "fillcolor": "#6495ED",
                                                    "style": "filled"}
    assert draw.NEURON_LAYER_STYLE["fillcolor"] == "#90EE90"
    assert draw.BLOB_STYLE == {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}


# --- phases ----------------------------------------------------------------------------------

def _names(net, phase):
    text = draw.draw_net(net, "TB", ext="raw", phase=phase).decode()
    return sorted(label.strip('"').split(" ")[0] for label in layer_labels(text))


def test_phase_filtering():
    net = parse_net(PHASED_NET)
    every = ["accuracy", "conv1", "data", "data", "drop1", "ip1", "loss", "pool1", "relu1"]
    assert _names(net, None) == every            # each data layer is a node of its own
    assert _names(net, TRAIN) == ["conv1", "data", "drop1", "ip1", "loss", "pool1", "relu1"]
    assert _names(net, TEST) == ["accuracy", "conv1", "data", "ip1", "loss", "pool1", "relu1"]
    test_text = draw.draw_net(net, "TB", ext="raw", phase=TEST).decode()
    assert "Batch 100" in test_text and "Batch 64" not in test_text
    assert '"drop1"' not in blob_labels(test_text)
    # a rule naming no phase holds in both (pycaffe's draw would read TRAIN from it)
    staged = parse_net("layer { name: 's' type: 'ReLU' include { stage: 'deploy' } }\n"
                       "layer { name: 'x' type: 'ReLU' exclude { stage: 'deploy' } }")
    assert _names(staged, TRAIN) == ["s"] and _names(staged, TEST) == ["s"]


def test_include_and_exclude_together_is_an_error():
    net = parse_net(PHASED_NET + "layer { name: 'both' type: 'ReLU' bottom: 'ip1' top: 'ip1' "
                    "include { phase: TRAIN } exclude { phase: TEST } }")
    for phase in (TRAIN, TEST):
        with pytest.raises(ValueError, match="layer both has both include and exclude specified"):
            draw.get_pydot_graph(net, "LR", phase=phase)
    assert "both" in draw.draw_net(net, "LR", ext="raw").decode()   # no phase: no check


# --- escaping and rendering ----------------------------------------------------------------

def _svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_awkward_names_render_as_written():
    require_dot()
    net = parse_net(AWKWARD_NET)
    svg = draw.draw_net(net, "LR", ext="svg")
    texts = _svg_texts(svg)
    for name in AWKWARD_NAMES:
        assert name in texts, (name, texts)
    assert texts.count("{x}") == 2                              # the blob and the layer
    assert "(Pooling AVE)" in texts and "kernel size: 3" in texts
    groups = ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g")
    classes = [g.get("class") for g in groups]
    assert classes.count("node") == 5 + 4 and classes.count("edge") == 9
    tb = _svg_texts(draw.draw_net(net, "TB", ext="svg"))
    assert "<relu> (ReLU)" in tb
    assert "back\\slash (Pooling AVE) kernel size: 2 stride: 2 pad: 0" in tb


def test_draw_net_to_file_in_each_format(tmp_path):
    require_dot()
    net = parse_net(PHASED_NET)
    magic = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-", "raw": b"digraph"}
    for ext, start in magic.items():
        out = tmp_path / f"net.{ext}"
        draw.draw_net_to_file(net, str(out), "TB", TEST, True)
        assert out.read_bytes().startswith(start), ext
    assert b"<svg" in (tmp_path / "net.svg").read_bytes()
    assert b"lr mult: 1.0, 2.0" in (tmp_path / "net.raw").read_bytes()
    draw.draw_net_to_file(net, tmp_path / "upper.PNG")           # a path, an upper-case ext
    assert (tmp_path / "upper.PNG").read_bytes().startswith(magic["png"])
    assert draw.draw_net(net, "LR").startswith(magic["png"])    # Caffe's default: png


def test_a_failed_draw_keeps_the_existing_file(tmp_path, monkeypatch):
    out = tmp_path / "net.png"
    out.write_bytes(b"old drawing")
    net = parse_net(PHASED_NET)
    monkeypatch.setenv("PATH", str(tmp_path / "no-graphviz-here"))
    with pytest.raises(DrawError, match=r"net\.png: .*install Graphviz "
                                        r"\(e\.g\. `apt install graphviz`"):
        draw.draw_net_to_file(net, str(out))
    assert out.read_bytes() == b"old drawing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.png"]      # no temporary left
    assert draw.draw_net(net, "LR", ext="raw").startswith(b'digraph "phased"')  # no dot needed
    monkeypatch.undo()
    both = parse_net(PHASED_NET + "layer { name: 'x' type: 'ReLU' "
                     "include { phase: TEST } exclude { phase: TRAIN } }")
    with pytest.raises(ValueError):
        draw.draw_net_to_file(both, out, phase=TEST)
    with pytest.raises(DrawError, match="no extension"):
        draw.draw_net_to_file(net, tmp_path / "net")
    assert out.read_bytes() == b"old drawing"


def test_a_format_graphviz_lacks_is_one_clear_error(tmp_path):
    require_dot()
    out = tmp_path / "net.foo"
    with pytest.raises(DrawError, match=r"net\.foo: Graphviz cannot draw to format 'foo'; use one "
                                        r"of .*\bpng\b.*\bsvg\b"):
        draw.draw_net_to_file(parse_net(PHASED_NET), out)
    assert not out.exists()


# --- importing ---------------------------------------------------------------------------------

def test_install_as_caffe_gives_this_module():
    install_as_caffe()
    try:
        import caffe
        import caffe.draw

        assert caffe.draw is draw
        assert caffe.draw.draw_net_to_file is draw.draw_net_to_file
    finally:
        uninstall_as_caffe()


_WITHOUT_PYDOT = textwrap.dedent("""
    import importlib.abc, json, sys

    importers = []

    class NoPydot(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] != "pydot":
                return None
            frame = sys._getframe(1)
            while frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            importers.append(frame.f_globals.get("__name__"))
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NoPydot())
    import keras_caffe, keras_caffe.pycaffe, keras_caffe.pycaffe.install
    result = {"before": list(importers)}
    try:
        import keras_caffe.pycaffe.draw
    except ImportError as exc:
        result["error"], result["name"] = str(exc), exc.name
    result["after"] = importers
    print(json.dumps(result))
""")


def test_pydot_is_imported_by_caffe_draw_alone_and_its_absence_is_explained():
    done = subprocess.run([sys.executable, "-c", _WITHOUT_PYDOT], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Keras itself tries pydot (for plot_model); no module of ours does until caffe.draw.
    assert not [m for m in result["before"] if str(m).startswith("keras_caffe")], result
    assert result["after"][len(result["before"]):] == ["keras_caffe.pycaffe.draw"]
    assert result["name"] == "pydot"
    assert "pip install 'keras-caffe[draw]'" in result["error"]
