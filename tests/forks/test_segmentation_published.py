"""The segmentation forks' published nets, made by our generators
(tests/forks/segmentation_nets.py), with random weights (BN statistics with positive
variances) written to a caffemodel:

* SegNet Basic (SegNet-Tutorial) end to end at its CamVid size, 360 x 480;
* PSPNet50 (hszhao/PSPNet, ADE20K 473 x 473) by structure, and its head (the pyramid pooling
  module, conv6 and the zoom-8 Interp) run at its real 60 x 60 size (the whole net takes
  about 5 s alone here, more than CI's two cores allow); the VGG SegNet and PSPNet101 at
  713 x 713 by structure (blob shapes and the memory projection);
* SegNet Basic's training net in TRAIN (SegNet's LEARN BN and class-weighted loss, its
  gradient) and with the BN statistics tops SegNet's compute_bn_statistics.py adds.

Oracles: numpy references of the forks' layers (SegNet's BN, Caffe's MAX pooling mask,
SegNet's Upsample and class-weighted loss, PSPNet's BN, pyramid pooling and Interp) applied
to the blobs each layer reads, and OpenCV's dnn on the same weights.  OpenCV 4.14 reads
neither fork's ``BN`` (``bn_param`` is no field of OpenCV's caffe.proto) nor SegNet's
``Upsample`` (no such type), so it gets the same nets with each BN written as BVLC layers
that compute the same thing (SegNet's inference BN ``y = scale * x + shift`` as a Scale with
bias; PSPNet's frozen BN as BatchNorm plus Scale), and for SegNet only the encoder (through
``pool4`` and its mask)."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

import keras_caffe
from keras_caffe.graph import memory
from keras_caffe.graph.shapes import infer_shapes, input_shapes
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.binary_write import write_caffemodel
from tests.converters import caffe_ref
from tests.converters.test_forks import _interp
from tests.forks import segmentation_nets as nets
from tests.forks.opencv_oracle import opencv_forward

SEGNET_INPUTS = {"data": (1, 3, 360, 480), "label": (1, 1, 360, 480)}


def _random_weights(text, shapes, path, seed):
    """The net built with its filler blobs, every BN's blobs replaced by trained-looking
    values (scale / slope in [0.5, 1.5], shift / bias N(0, 0.1), mean N(0, 0.5), variance
    in [0.5, 2]), written to the caffemodel ``path`` and read back from it: (net, blobs)."""
    cnet = keras_caffe.build_net(text, input_shapes=shapes, seed=seed)
    rng = np.random.default_rng(seed)
    blobs = cnet.get_blobs()
    for layer in keras_caffe.read_net(text).layer:
        if layer.type == "BN":
            c = blobs[layer.name][0].shape[1]
            values = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.5, c),
                      rng.uniform(0.5, 2.0, c)]
            blobs[layer.name] = [v.reshape(1, c, 1, 1) for v in values[:len(blobs[layer.name])]]
    blobs = {k: [np.asarray(b, np.float32) for b in v] for k, v in blobs.items()}
    write_caffemodel(str(path), blobs)
    cnet.load_blobs(keras_caffe.read_weights(path), path=str(path))
    return cnet, blobs


def _max_mask_2x2(x):
    """Caffe's MAX pooling 2 x 2 / 2 (ceil mode: a last odd row or column is a window of its
    own) and its mask: the first strict maximum in row-major order, as an index into H x W."""
    n, c, h, w = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    padded = np.full((n, c, oh * 2, ow * 2), -np.inf, np.float32)
    padded[:, :, :h, :w] = x
    win = padded.reshape(n, c, oh, 2, ow, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, 4)
    first = np.argmax(win, axis=-1)                     # the first maximum, as Caffe's ">"
    rows = np.arange(oh)[:, None] * 2 + first // 2
    cols = np.arange(ow)[None, :] * 2 + first % 2
    return win.max(axis=-1), (rows * w + cols).astype(np.float32)


def _unpool(x, mask, out_h, out_w):
    """SegNet's Upsample Forward_cpu: ``top[mask[i]] = bottom[i]``, zeros elsewhere."""
    n, c = x.shape[:2]
    top = np.zeros((n, c, out_h * out_w), np.float32)
    np.put_along_axis(top, mask.reshape(n, c, -1).astype(np.int64), x.reshape(n, c, -1), axis=2)
    return top.reshape(n, c, out_h, out_w)


def _close(actual, expected, rtol=1e-4, atol=1e-4):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _close_to_scale(actual, expected, within=1e-5):
    """Equal within ``within`` of the blob's largest magnitude (deep float32 blobs)."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=within * np.abs(expected).max())


def _relative(actual, expected) -> float:
    return float(np.abs(np.float64(actual) - expected).max() / np.abs(expected).max())


def _write(path, param) -> str:
    path.write_text(text_format.MessageToString(param))
    return str(path)


# --- SegNet Basic ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def segnet_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("segnet")
    text = nets.segnet_basic("inference")
    cnet, blobs = _random_weights(text, SEGNET_INPUTS, tmp / "segnet.caffemodel", seed=3)
    x = np.random.default_rng(4).uniform(0, 255, SEGNET_INPUTS["data"]).astype(np.float32)
    out = keras_caffe.forward(cnet, {"data": x, "label": np.zeros(SEGNET_INPUTS["label"],
                                                                  np.float32)})
    return tmp, text, blobs, x, out


def test_segnet_basic_blob_shapes(segnet_run):
    *_, out = segnet_run
    sizes = [(360, 480), (180, 240), (90, 120), (45, 60), (23, 30)]   # ceil: 45 -> 23
    for i in range(1, 5):
        assert out[f"conv{i}"].shape == (1, 64) + sizes[i - 1]
        assert out[f"pool{i}"].shape == out[f"pool{i}_mask"].shape == (1, 64) + sizes[i]
        assert out[f"upsample{i}"].shape == (1, 64) + sizes[i - 1]   # 23 * 2 - 1 by pad_out_h
    assert out["prob"].shape == (1, 11, 360, 480)


def test_segnet_basic_matches_the_forks_layers(segnet_run):
    """Each fork layer's numpy reference on the blobs it reads: the first encoder stage
    whole (LRN, conv, SegNet's inference BN, ReLU), every pooling mask and every unpooling,
    the classifier and the softmax."""
    _, _, w, x, out = segnet_run
    norm = x / (1 + 0.0001 / 5 * _window_sum(np.float64(x) ** 2, 5)) ** 0.75
    _close(out["norm"], norm, rtol=1e-5, atol=1e-3)
    # conv1 on its first 40 rows (they read rows 0 to 42 of norm; the crop is the cost).
    conv1 = caffe_ref.conv2d(out["norm"][:, :, :46], *w["conv1"], pad=3)[:, :, :40]
    scale, shift = (b.reshape(1, -1, 1, 1) for b in w["conv1_bn"])
    _close(out["conv1"][:, :, :40], np.maximum(conv1 * scale + shift, 0), atol=1e-3)
    masks = {}
    for i in range(1, 5):
        top, mask = _max_mask_2x2(out[f"conv{i}"])
        np.testing.assert_array_equal(out[f"pool{i}"], top)
        np.testing.assert_array_equal(out[f"pool{i}_mask"], mask)
        masks[i] = mask
    bottoms = {4: "pool4", 3: "conv_decode4", 2: "conv_decode3", 1: "conv_decode2"}
    for i, bottom in bottoms.items():
        h, w_ = out[f"conv{i}"].shape[2:]
        np.testing.assert_array_equal(out[f"upsample{i}"], _unpool(out[bottom], masks[i], h, w_))
    assert (out["upsample1"] != 0).sum() == out["conv_decode2"].size
    scores = caffe_ref.conv2d(out["conv_decode1"], *w["conv_classifier"])
    _close(out["conv_classifier"], scores, atol=1e-3)
    _close(out["prob"], caffe_ref.softmax(out["conv_classifier"]), rtol=1e-4, atol=1e-6)


def _window_sum(x, size):
    """Caffe's ACROSS_CHANNELS LRN window sum over channels (zero padded)."""
    half = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (half, half), (0, 0), (0, 0)))
    return sum(padded[:, i:i + x.shape[1]] for i in range(size))


def test_segnet_basic_encoder_against_opencv(segnet_run):
    """OpenCV's pooling values and masks through pool4 (SegNet's BN as a Scale with bias)."""
    tmp, text, blobs, x, out = segnet_run
    param = keras_caffe.read_net(text)
    encoder = caffe_pb2.NetParameter()
    encoder.layer.add().CopyFrom(_input_layer("data", x.shape))
    scales = {}
    for layer in param.layer[1:]:
        if layer.name == "upsample4":
            break
        copy = encoder.layer.add()
        copy.CopyFrom(layer)
        if layer.type == "BN":
            copy.ClearField("bn_param")
            copy.type = "Scale"
            copy.scale_param.bias_term = True
            scales[layer.name] = [b.ravel() for b in blobs[layer.name]]
    weights = {k: v for k, v in blobs.items() if k not in scales} | scales
    write_caffemodel(str(tmp / "encoder.caffemodel"), weights)
    cv = opencv_forward(_write(tmp / "encoder.prototxt", encoder), tmp / "encoder.caffemodel",
                        {"data": x}, ["pool4"])
    assert _relative(cv["pool4"], out["pool4"]) < 1e-5
    cv2 = pytest.importorskip("cv2")
    net = cv2.dnn.readNetFromCaffe(str(tmp / "encoder.prototxt"), str(tmp / "encoder.caffemodel"))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setInput(x)
    cv_pool4, cv_mask4 = net.forwardAndRetrieve(["pool4"])[0]
    assert cv_mask4.shape == out["pool4_mask"].shape
    # Rounding may flip a near tie between two window entries: at most 1 in 10,000.
    assert (cv_mask4 != out["pool4_mask"]).mean() < 1e-4


def _input_layer(name, shape):
    layer = caffe_pb2.LayerParameter(name=name, type="Input", top=[name])
    layer.input_param.shape.add().dim.extend(shape)
    return layer


# --- PSPNet50 -------------------------------------------------------------------------------
# The whole PSPNet50 at 473 x 473 takes about 5 s to run here (and OpenCV as long again), too
# slow for CI on two cores: it is checked by structure, and its head is run as a cut.
CONV5_3, CONV5_4 = (1, 2048, 60, 60), (1, 512, 60, 60)


def _pspnet_head():
    """PSPNet50's layers from the pyramid pooling module on, the fork's layers unchanged,
    fed conv5_3 (1 x 2048 x 60 x 60) and conv5_4 (1 x 512 x 60 x 60): the pyramid to its
    concat, and conv6 with the zoom-8 Interp (the plain 3x3 conv5_4 between them, 68 GFLOP,
    is left out)."""
    param = keras_caffe.read_net(nets.pspnet(50, 150, 473))
    head = caffe_pb2.NetParameter()
    head.layer.add().CopyFrom(_input_layer("conv5_3", CONV5_3))
    head.layer.add().CopyFrom(_input_layer("conv5_4", CONV5_4))
    names = [layer.name for layer in param.layer]
    for layer in param.layer[names.index("conv5_3_pool1"):]:
        if not layer.name.startswith("conv5_4"):
            head.layer.add().CopyFrom(layer)
    return head


@pytest.fixture(scope="module")
def pspnet_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pspnet")
    head = _pspnet_head()
    text = text_format.MessageToString(head)
    cnet, blobs = _random_weights(text, {}, tmp / "head.caffemodel", seed=5)
    rng = np.random.default_rng(6)      # both blobs come out of a ReLU
    x = {"conv5_3": np.abs(rng.normal(0, 1, CONV5_3)).astype(np.float32),
         "conv5_4": np.abs(rng.normal(0, 1, CONV5_4)).astype(np.float32)}
    out = keras_caffe.forward(cnet, x)
    return tmp, head, blobs, x, out


def _psp_bn(y, blobs):
    slope, bias, mean, var = (np.float64(b).reshape(1, -1, 1, 1) for b in blobs)
    return (y - mean) / np.sqrt(var + 1e-5) * slope + bias


def _conv1x1(x, w, b=None):
    y = np.einsum("nchw,oc->nohw", np.float64(x), np.float64(w[:, :, 0, 0]))
    return y if b is None else y + np.float64(b).reshape(1, -1, 1, 1)


def test_pspnet50_blob_shapes_by_structure():
    """The whole PSPNet50 resolves at 473 x 473 with the fork's blob shapes."""
    graph = keras_caffe.resolve_net(nets.pspnet(50, 150, 473))
    shapes = {blob.name: shape for blob, shape in
              infer_shapes(graph, input_shapes(graph)).items()}
    assert len(graph.layers) == 206
    assert shapes["conv1_1_3x3_s2"] == (1, 64, 237, 237)
    assert shapes["pool1_3x3_s2"] == (1, 128, 119, 119)
    assert shapes["conv3_1"] == (1, 512, 60, 60)          # the last stride: 1/8 of 473
    assert shapes["conv5_3"] == (1, 2048, 60, 60)          # dilated: no stride in 4 and 5
    assert shapes["conv6_interp"] == (1, 150, 473, 473)
    projection = memory.project(graph, infer_shapes(graph, input_shapes(graph)))
    assert projection.params == 4 * _pspnet_parameters((3, 4, 6, 3), classes=150)


def test_pspnet50_head_matches_the_fork(pspnet_run):
    """Each pyramid branch (AVE pooling by the fixed kernels 60, 30, 20, 10, 1x1 conv,
    PSPNet's frozen BN, ReLU, Interp to 60 x 60), the concat, conv6 and the zoom-8 Interp
    to 473 x 473 (60 + 59 * 7), on the blobs each reads."""
    _, _, w, x, out = pspnet_run
    branches = []
    for bins in (6, 3, 2, 1):
        name, kernel = f"conv5_3_pool{bins}", 60 // bins
        pooled = caffe_ref.pool2d(x["conv5_3"], "ave", kernel, kernel)
        assert out[name].shape == (1, 2048, bins, bins)
        _close_to_scale(out[name], pooled)
        conv = _conv1x1(out[name], *w[f"{name}_conv"])
        _close_to_scale(out[f"{name}_conv"], np.maximum(_psp_bn(conv, w[f"{name}_conv/bn"]), 0))
        branches.append(_interp(out[f"{name}_conv"], 60, 60))
        _close_to_scale(out[f"{name}_interp"], branches[-1])
    assert out["conv5_3_concat"].shape == (1, 4096, 60, 60)
    np.testing.assert_array_equal(out["conv5_3_concat"][:, :2048], x["conv5_3"])
    _close_to_scale(out["conv5_3_concat"][:, 2048:], np.concatenate(branches, axis=1))
    _close_to_scale(out["conv6"], _conv1x1(x["conv5_4"], *w["conv6"]))
    assert out["conv6_interp"].shape == (1, 150, 473, 473)
    _close_to_scale(out["conv6_interp"][:, :16], _interp(out["conv6"][:, :16], 473, 473))


def test_pspnet50_head_against_opencv(pspnet_run):
    """The head in OpenCV, each BN as BatchNorm (mean, variance) plus Scale (slope, bias):
    the pyramid's concat and the 473 x 473 scores (OpenCV's own Interp)."""
    tmp, head, blobs, x, out = pspnet_run
    bvlc = caffe_pb2.NetParameter()
    weights = dict(blobs)
    for layer in head.layer:
        if layer.type != "BN":
            bvlc.layer.add().CopyFrom(layer)
            continue
        slope, bias, mean, var = (b.ravel() for b in weights.pop(layer.name))
        bvlc.layer.add(name=layer.name, type="BatchNorm", bottom=layer.bottom, top=layer.top,
                       batch_norm_param=dict(use_global_stats=True, eps=1e-5))
        bvlc.layer.add(name=f"{layer.name}_scale", type="Scale", bottom=layer.top,
                       top=layer.top, scale_param=dict(bias_term=True))
        weights[layer.name] = [mean, var, np.ones(1, np.float32)]
        weights[f"{layer.name}_scale"] = [slope, bias]
    write_caffemodel(str(tmp / "bvlc.caffemodel"), weights)
    names = ["conv5_3_concat", "conv6_interp"]
    cv = opencv_forward(_write(tmp / "bvlc.prototxt", bvlc), tmp / "bvlc.caffemodel", x, names)
    for name in names:          # OpenCV's Interp rounds its own way: 2e-5 of the largest
        assert cv[name].shape == out[name].shape
        assert _relative(cv[name], out[name]) < 5e-5, name


def test_segnet_vgg_by_structure():
    """SegNet-Tutorial's VGG16 SegNet at 360 x 480 (too slow to run here): it resolves with
    its DenseImageData fed by the caller, the explicit unpooled sizes of upsample5 and
    upsample4 (23 x 30, 45 x 60) undo the ceil-mode pooling, and the memory projection
    counts VGG16's encoder and its mirrored decoder with SegNet's 2 BN blobs per conv."""
    graph = keras_caffe.resolve_net(nets.segnet("inference"))
    shapes = infer_shapes(graph, input_shapes(graph, SEGNET_INPUTS))
    by_name = {blob.name: shape for blob, shape in shapes.items()}
    assert len(graph.layers) == 88
    assert by_name["pool4"] == by_name["pool4_mask"] == (1, 512, 23, 30)
    assert by_name["pool5"] == (1, 512, 12, 15)
    assert by_name["pool5_D"] == (1, 512, 23, 30)
    assert by_name["pool4_D"] == (1, 512, 45, 60)
    assert by_name["pool1_D"] == (1, 64, 360, 480)
    assert by_name["prob"] == (1, 11, 360, 480)
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
             (256, 512)] + [(512, 512)] * 5
    decoder = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128),
                                  (128, 128), (128, 64), (64, 64)]
    weights = sum(i * o * 9 + o + 2 * o for i, o in convs + decoder)   # conv, bias, BN
    weights += 64 * 11 * 9 + 11                                        # conv1_1_D
    assert memory.project(graph, shapes).params == 4 * weights


def test_pspnet101_cityscapes_by_structure():
    """PSPNet101 at 713 x 713 (too slow to run here): it resolves, every blob has the shape
    the fork's layers give, and the memory projection counts its 376 layers."""
    graph = keras_caffe.resolve_net(nets.pspnet(101, 19, 713))
    shapes = infer_shapes(graph, input_shapes(graph))
    by_name = {blob.name: shape for blob, shape in shapes.items()}
    assert len(graph.layers) == 376
    assert by_name["conv5_3"] == (1, 2048, 90, 90)
    for bins in (1, 2, 3, 6):
        assert by_name[f"conv5_3_pool{bins}"] == (1, 2048, bins, bins)
        assert by_name[f"conv5_3_pool{bins}_interp"] == (1, 512, 90, 90)
    assert by_name["conv5_3_concat"] == (1, 4096, 90, 90)
    assert by_name["conv6_interp"] == (1, 19, 713, 713)              # 90 + 89 * 7
    projection = memory.project(graph, shapes)
    assert projection.params == 4 * _pspnet_parameters((3, 4, 23, 3), classes=19)
    assert projection.activations > 1e9


def _pspnet_parameters(blocks, classes) -> int:
    """Values in PSPNet's blobs: convolutions without bias (conv6 aside), 4 per channel
    in each BN (slope, bias, mean, variance)."""
    def conv_bn(cin, cout, k=1):
        return cin * cout * k * k + 4 * cout

    total = conv_bn(3, 64, 3) + conv_bn(64, 64, 3) + conv_bn(64, 128, 3)
    cin = 128
    for stage, count in enumerate(blocks):
        width = 64 * 2 ** stage
        total += conv_bn(cin, 4 * width)                                  # the projection
        for block in range(count):
            first = cin if block == 0 else 4 * width
            total += conv_bn(first, width) + conv_bn(width, width, 3) + conv_bn(width, 4 * width)
        cin = 4 * width
    total += 4 * conv_bn(2048, 512) + conv_bn(4096, 512, 3)              # pyramid, conv5_4
    return total + 512 * classes + classes                                # conv6 with bias


# --- SegNet's training net ------------------------------------------------------------------

def test_segnet_basic_train_net_builds_in_train(tmp_path):
    """segnet_basic_train.prototxt in TRAIN, its DenseImageData fed by the caller: SegNet's
    LEARN-mode BN (batch statistics), and SegNet's class-weighted SoftmaxWithLoss
    (``weight_by_label_freqs``, CamVid's ``class_weighting``, label 11 ignored): the loss is
    ``-sum(w[label] * log p[label]) / count``, as the fork's softmax_loss_layer.cpp."""
    shapes = {"data": (2, 3, 24, 32), "label": (2, 1, 24, 32)}
    text = nets.segnet_basic("train")
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 255, shapes["data"]).astype(np.float32)
    label = rng.integers(0, 12, shapes["label"]).astype(np.float32)     # 11: ignored
    out = keras_caffe.forward(text, {"data": x, "label": label}, phase="train", seed=1)
    conv1 = np.float64(out["conv1"])          # after BN (LEARN) and ReLU, in place
    assert out["conv1"].shape == (2, 64, 24, 32) and (conv1 >= 0).all()
    scores = np.float64(out["conv_classifier"])
    log_p = np.log(caffe_ref.softmax(scores))
    lab = label[:, 0].astype(int)
    kept = lab != 11
    picked = np.take_along_axis(log_p, np.where(kept, lab, 0)[:, None], axis=1)[:, 0]
    weights = np.float64(np.float32(nets.CAMVID_CLASS_WEIGHTS))[np.where(kept, lab, 0)]
    want = -(picked * weights)[kept].sum() / kept.sum()
    np.testing.assert_allclose(out["loss"], want, rtol=1e-5)
    unweighted = -picked[kept].sum() / kept.sum()
    assert abs(want - unweighted) > 1e-3 * abs(want)        # the weights matter here
    assert out["per_class_accuracy"].shape == (11,)


def test_segnet_basic_train_net_gradient(tmp_path):
    """The training net's gradient reaches conv1 through the four unpoolings (each passes
    a top's diff back to the position its mask names), the LEARN BNs and the weighted loss:
    the largest conv1 weight gradient against a central difference of the loss."""
    shapes = {"data": (1, 3, 24, 32), "label": (1, 1, 24, 32)}
    text = nets.segnet_basic("train")
    rng = np.random.default_rng(9)
    feeds = {"data": rng.uniform(0, 255, shapes["data"]).astype(np.float32),
             "label": rng.integers(0, 11, shapes["label"]).astype(np.float32)}
    cnet = keras_caffe.build_net(text, phase="train", input_shapes=shapes, seed=4)
    out = keras_caffe.forward(cnet, feeds, backward=True)
    grads = {k: v for k, v in out.items() if k.startswith("param/")}
    assert len(grads) == 2 * 9 + 2 * 8 and all(np.isfinite(g).all() for g in grads.values())
    blobs = cnet.get_blobs()
    for name in ("conv_decode4", "conv1"):
        grad = out[f"param/{name}/0"]
        pick = np.unravel_index(np.abs(grad).argmax(), grad.shape)
        losses = []
        for step in (1e-3, -1e-3):       # small: a larger step moves a pooling maximum
            changed = {k: [np.array(b, np.float32) for b in v] for k, v in blobs.items()}
            changed[name][0][pick] += step
            path = tmp_path / "w.caffemodel"
            write_caffemodel(str(path), changed)
            cnet.load_blobs(keras_caffe.read_weights(path), path=str(path))
            losses.append(float(keras_caffe.forward(cnet, feeds)["loss"]))
        np.testing.assert_allclose((losses[0] - losses[1]) / 2e-3, grad[pick], rtol=1e-2)


def test_class_weighting_must_cover_every_class():
    text = nets.segnet_basic("train").replace("class_weighting: 7.3614", "")
    with pytest.raises(keras_caffe.NetError,
                       match="layer 'loss'.*10 for 11 classes"):
        keras_caffe.build_net(text, phase="train",
                              input_shapes={"data": (1, 3, 24, 32), "label": (1, 1, 24, 32)})


def test_segnet_bn_statistics_tops(tmp_path):
    """SegNet-Tutorial's compute_bn_statistics.py adds ``<top>-mean`` and ``<top>-var`` tops
    to every BN of the training net and reads them: the batch mean and variance
    ``E[x^2] - (E x)^2`` of the BN's bottom, 1 x C x 1 x 1 (the fork's bn_layer.cpp)."""
    param = keras_caffe.read_net(nets.segnet_basic("train"))
    for layer in param.layer:
        if layer.type == "BN":
            layer.top.extend([f"{layer.top[0]}-mean", f"{layer.top[0]}-var"])
    shapes = {"data": (2, 3, 24, 32), "label": (2, 1, 24, 32)}
    x = np.random.default_rng(8).uniform(0, 255, shapes["data"]).astype(np.float32)
    label = np.zeros(shapes["label"], np.float32)
    cnet = keras_caffe.build_net(param, phase="test", input_shapes=shapes, seed=2)
    out = keras_caffe.forward(cnet, {"data": x, "label": label})
    w = cnet.get_blobs()
    conv1 = caffe_ref.conv2d(out["norm"], *w["conv1"], pad=3)
    mean = conv1.mean(axis=(0, 2, 3), keepdims=True)
    var = (conv1 ** 2).mean(axis=(0, 2, 3), keepdims=True) - mean ** 2
    assert out["conv1-mean"].shape == out["conv1-var"].shape == (1, 64, 1, 1)
    _close_to_scale(out["conv1-mean"], mean)
    _close_to_scale(out["conv1-var"], var, within=1e-4)
    scale, shift = (np.float64(b).reshape(1, -1, 1, 1) for b in w["conv1_bn"])
    want = np.maximum((conv1 - mean) / np.sqrt(var + 1e-9) * scale + shift, 0)
    _close_to_scale(out["conv1"], want, within=1e-4)
    assert out["conv_decode1-var"].shape == (1, 64, 1, 1) and (out["conv_decode1-var"] > 0).all()


def test_bn_statistics_tops_only_in_segnets_learn_mode():
    text = nets.segnet_basic("inference").replace(
        'top: "conv1"\n  bn_param', 'top: "conv1"\n  top: "m"\n  top: "v"\n  bn_param')
    with pytest.raises(keras_caffe.NetError, match="layer 'conv1_bn'.*LEARN mode only"):
        keras_caffe.build_net(text, input_shapes=SEGNET_INPUTS)
