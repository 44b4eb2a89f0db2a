import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeDetectionOutput
from keras_caffe.layers.detection_output import jaccard

from .detection_ref import apply_nms_fast, bbox_size, jaccard_overlap, ref_detection_output


def ssd_inputs(num=2, grid=5, per_cell=3, num_classes=4, share_location=True, seed=0,
               loc_scale=1.0, variances=(0.1, 0.1, 0.2, 0.2)):
    """Caffe blobs of an SSD head: overlapping priors on a grid (SSD's PriorBox layout),
    offsets and softmax scores."""
    rng = np.random.default_rng(seed)
    centers = (np.arange(grid) + 0.5) / grid
    boxes = []
    for cy in centers:
        for cx in centers:
            for size in np.linspace(0.25, 0.5, per_cell):
                boxes.append([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    priors = len(boxes)
    var = np.tile(np.asarray(variances, np.float32), priors) if len(variances) == 4 else \
        np.full(priors * 4, variances[0], np.float32)
    prior = np.stack([np.asarray(boxes, np.float32).ravel(), var])[None]
    loc_classes = 1 if share_location else num_classes
    loc = (rng.standard_normal((num, priors * loc_classes * 4)) * loc_scale).astype(np.float32)
    logits = rng.standard_normal((num, priors, num_classes)) * 2.0
    conf = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return loc, conf.reshape(num, -1).astype(np.float32), prior.astype(np.float32)


def detect(inputs, **params):
    return np.asarray(CaffeDetectionOutput(**params)(list(inputs)))


def assert_same_detections(got, want):
    """The same rows, in SSD's order (image, label, score from the highest); rows of equal
    scores may come in any order (SSD's std::sort for keep_top_k leaves them unspecified)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{got.shape} rows, SSD's {want.shape}"
    rows = got.reshape(-1, 7)
    keys = list(zip(rows[:, 0], rows[:, 1], -rows[:, 2]))
    assert keys == sorted(keys), "rows not ordered by image, label, then score"

    def canonical(x):
        x = x.reshape(-1, 7)
        return x[np.lexsort((x[:, 6], x[:, 5], x[:, 4], x[:, 3], -x[:, 2], x[:, 1], x[:, 0]))]

    got, want = canonical(got), canonical(want)
    np.testing.assert_array_equal(got[:, :2], want[:, :2])      # image, label
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], rtol=1e-5, atol=2e-6)


# id: (input keyword arguments, layer parameters)
CASES = {
    "ssd300_defaults": ({}, dict(num_classes=4, nms_threshold=0.45, top_k=40, keep_top_k=20,
                                 confidence_threshold=0.01, code_type="CENTER_SIZE")),
    "corner_no_threshold": ({}, dict(num_classes=4, nms_threshold=0.3)),
    "corner_size": ({}, dict(num_classes=4, code_type="CORNER_SIZE", nms_threshold=0.5,
                             confidence_threshold=0.2)),
    "variance_in_target": (dict(loc_scale=0.1), dict(num_classes=4, code_type="CENTER_SIZE",
                                                     variance_encoded_in_target=True,
                                                     confidence_threshold=0.1)),
    "corner_variance_in_target": (dict(loc_scale=0.05), dict(num_classes=4,
                                                             variance_encoded_in_target=True)),
    "one_variance": (dict(variances=(0.1,)), dict(num_classes=4, code_type="CORNER_SIZE")),
    "per_class_locations": (dict(share_location=False), dict(
        num_classes=4, share_location=False, code_type="CENTER_SIZE", nms_threshold=0.4,
        confidence_threshold=0.05)),
    "per_class_background_2": (dict(share_location=False), dict(
        num_classes=4, share_location=False, background_label_id=2, code_type="CORNER")),
    "no_background": ({}, dict(num_classes=4, background_label_id=-1, top_k=10,
                               code_type="CENTER_SIZE")),
    "adaptive_eta": ({}, dict(num_classes=4, nms_threshold=0.9, eta=0.8, code_type="CENTER_SIZE",
                              confidence_threshold=0.05)),
    "keep_top_k_cuts_two_images": (dict(num=3), dict(num_classes=4, nms_threshold=0.3,
                                                      keep_top_k=50, confidence_threshold=0.3)),
    "keep_top_k_zero": ({}, dict(num_classes=4, keep_top_k=0)),
    "top_k_zero": ({}, dict(num_classes=4, top_k=0)),
    "invalid_corner_boxes": (dict(loc_scale=3.0), dict(num_classes=3, nms_threshold=0.2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_ssd_forward_cpu(case):
    kwargs, params = CASES[case]
    inputs = ssd_inputs(num_classes=params["num_classes"], **kwargs)
    want = ref_detection_output(*inputs, **params)
    got = detect(inputs, **params)
    assert_same_detections(got, want)
    if case == "keep_top_k_cuts_two_images":   # per image, only where it keeps more
        np.testing.assert_array_equal(np.bincount(want[0, 0, :, 0].astype(int)), [50, 48, 50])
    if case in ("keep_top_k_zero", "top_k_zero"):
        np.testing.assert_array_equal(got[0, 0], [[0] + [-1] * 6, [1] + [-1] * 6])
    if case == "adaptive_eta":   # eta makes a difference here
        fixed = ref_detection_output(*inputs, **dict(params, eta=1.0))
        assert fixed.shape[2] > want.shape[2]   # a lower threshold suppresses more
    if case == "invalid_corner_boxes":
        boxes = want[0, 0, :, 3:]
        assert ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any()


def test_rows_are_grouped_by_image_then_label_then_score():
    inputs = ssd_inputs(num=2, num_classes=5, seed=3)
    got = detect(inputs, num_classes=5, nms_threshold=0.45, confidence_threshold=0.2)[0, 0]
    assert got.shape[0] > 10 and set(got[:, 1]) == {1, 2, 3, 4}
    keys = [(i, label, -score) for i, label, score in got[:, :3]]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    np.testing.assert_array_equal(got, ref_detection_output(
        *inputs, num_classes=5, nms_threshold=0.45, confidence_threshold=0.2)[0, 0])
    assert (got[:, 2] > 0.2).all()


@pytest.mark.parametrize("code_type,encoded,want", [
    ("CORNER", False, [0.2, 0.0, 0.6, 0.5]),
    ("CORNER", True, [1.1, -0.9, 1.0, 0.5]),
    ("CORNER_SIZE", False, [0.14, 0.06, 0.54, 0.5]),
    ("CENTER_SIZE", False, [0.34 - 0.2 * np.exp(0.1), 0.06, 0.34 + 0.2 * np.exp(0.1), 0.46]),
    ("CENTER_SIZE", True, [0.7 - 0.2 * np.exp(0.5), -0.3, 0.7 + 0.2 * np.exp(0.5), 0.1]),
])
def test_decoding_by_hand(code_type, encoded, want):
    """Prior [0.1, 0.1, 0.5, 0.5] (0.4 wide, centre 0.3), variances [0.1, 0.1, 0.2, 0.2],
    offsets [1, -1, 0.5, 0]; e.g. CENTER_SIZE: centre x 0.3 + 0.1 * 1 * 0.4 = 0.34, width
    exp(0.2 * 0.5) * 0.4; with the variances in the target, 0.3 + 1 * 0.4 and exp(0.5) * 0.4."""
    prior = np.array([[[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.2, 0.2]]], np.float32)
    loc = np.array([[1.0, -1.0, 0.5, 0.0]], np.float32)
    conf = np.array([[0.1, 0.9]], np.float32)
    params = dict(num_classes=2, code_type=code_type, variance_encoded_in_target=encoded)
    got = detect((loc, conf, prior), **params)
    np.testing.assert_allclose(got[0, 0, 0], [0, 1, 0.9] + want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ref_detection_output(loc, conf, prior, **params)[0, 0, 0],
                               got[0, 0, 0], rtol=1e-6, atol=1e-7)


def test_nothing_kept_gives_one_row_per_image():
    inputs = ssd_inputs(num=3)
    got = detect(inputs, num_classes=4, confidence_threshold=0.999)
    np.testing.assert_array_equal(got, [[[[i, -1, -1, -1, -1, -1, -1] for i in range(3)]]])
    np.testing.assert_array_equal(got, ref_detection_output(*inputs, num_classes=4,
                                                            confidence_threshold=0.999))


def test_nms_rule_on_hand_made_boxes():
    """Five boxes of one class: exact IoUs, touching boxes never overlap, and eta lowers
    the threshold after each kept box while it is above 0.5 (0.9 -> 0.72 -> 0.576 ->
    0.4608): box 2 (IoU 0.7 with box 0) goes at 0.576, box 4 (IoU 4/7 with box 1) at
    0.4608."""
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 0.7], [0, 0.3, 1, 1], [1, 0, 2, 1],
                      [0, 0, 1, 0.4]], np.float32)
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    sizes = [bbox_size(b) for b in boxes]
    assert jaccard_overlap(boxes[0], sizes[0], boxes[1], sizes[1]) == np.float32(0.7)
    assert jaccard_overlap(boxes[0], sizes[0], boxes[3], sizes[3]) == 0   # they touch
    overlap = np.asarray(jaccard(tf.constant(boxes[:1]), tf.constant(boxes)))
    np.testing.assert_allclose(overlap, [1, 0.7, 0.7, 0, 0.4], rtol=1e-6)
    assert apply_nms_fast(boxes, sizes, scores, -1, 0.75, 1.0, -1) == [0, 1, 2, 3, 4]
    assert apply_nms_fast(boxes, sizes, scores, -1, 0.9, 0.8, -1) == [0, 1, 3]
    assert apply_nms_fast(boxes, sizes, scores, 0.55, 0.75, 1.0, 2) == [0, 1]
    prior = np.concatenate([boxes.ravel(), np.full(20, 0.1, np.float32)]).reshape(1, 2, 20)
    conf = np.stack([np.zeros(5), scores], axis=1).reshape(1, 10).astype(np.float32)
    got = detect((np.zeros((1, 20), np.float32), conf, prior), num_classes=2,
                 nms_threshold=0.9, eta=0.8)
    np.testing.assert_allclose(got[0, 0, :, 2], [0.9, 0.8, 0.6])
    np.testing.assert_array_equal(got[0, 0, :, 3:], boxes[[0, 1, 3]])


def test_runs_in_a_model_at_any_batch_and_prior_count():
    loc_in, conf_in, prior_in = keras.Input((None,)), keras.Input((None,)), \
        keras.Input((2, None), batch_size=1)
    layer = CaffeDetectionOutput(num_classes=4, nms_threshold=0.45, confidence_threshold=0.05,
                                 code_type="CENTER_SIZE")
    out = layer([loc_in, conf_in, prior_in])
    assert tuple(out.shape) == (1, 1, None, 7)
    model = keras.Model([loc_in, conf_in, prior_in], out)
    for num, grid in ((1, 3), (3, 5)):
        inputs = ssd_inputs(num=num, grid=grid, seed=num)
        assert_same_detections(model(list(inputs)), ref_detection_output(
            *inputs, num_classes=4, nms_threshold=0.45, confidence_threshold=0.05,
            code_type="CENTER_SIZE"))


def test_xla_gives_the_same_detections():
    inputs = ssd_inputs(num=2, seed=5)
    params = dict(num_classes=4, nms_threshold=0.45, top_k=30, keep_top_k=25, eta=0.9,
                  confidence_threshold=0.05, code_type="CENTER_SIZE")
    layer = CaffeDetectionOutput(**params)
    compiled = tf.function(lambda *x: layer(list(x)), jit_compile=True)
    assert_same_detections(compiled(*inputs), ref_detection_output(*inputs, **params))
    nothing = tf.function(lambda *x: layer(list(x)), jit_compile=True)
    empty = nothing(inputs[0], np.zeros_like(inputs[1]), inputs[2])
    np.testing.assert_array_equal(empty, [[[[0] + [-1] * 6, [1] + [-1] * 6]]])


def test_no_gradient_as_in_ssd_also_under_xla():
    """SSD's Backward is NOT_IMPLEMENTED: nothing flows back, and a differentiated pass
    through the layer still compiles with XLA (data-dependent gathers are not differentiated)."""
    loc, conf, prior = (tf.constant(x) for x in ssd_inputs(num=2, seed=3))
    scale = tf.Variable(1.0)
    layer = CaffeDetectionOutput(num_classes=4, nms_threshold=0.45, top_k=30,
                                 confidence_threshold=0.05, code_type="CENTER_SIZE")

    def step(loc, conf, prior):
        with tf.GradientTape() as tape:
            out = layer([loc * scale, conf, prior])
            total = tf.reduce_sum(out) + scale          # scale's own path: gradient 1
        return out, tape.gradient(total, scale)

    out, grad = step(loc, conf, prior)
    assert float(grad) == 1.0
    out_xla, grad_xla = tf.function(step, jit_compile=True)(loc, conf, prior)
    assert float(grad_xla) == 1.0
    assert_same_detections(out_xla, out)


def test_save_load_and_config(roundtrip, config_roundtrip):
    inputs = ssd_inputs()
    ins = [keras.Input(x.shape[1:]) for x in inputs[:2]] + [keras.Input((2, None), batch_size=1)]
    layer = CaffeDetectionOutput(num_classes=4, share_location=True, background_label_id=0,
                                 nms_threshold=0.45, top_k=40, eta=0.9, keep_top_k=20,
                                 confidence_threshold=0.01, code_type="CENTER_SIZE")
    roundtrip(keras.Model(ins, layer(ins)), list(inputs))
    clone = config_roundtrip(layer)
    assert clone.code_type == "CENTER_SIZE" and clone.classes == [1, 2, 3]
    assert CaffeDetectionOutput(num_classes=3, code_type=3).code_type == "CORNER_SIZE"


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_classes=0), "num_classes"),
    (dict(num_classes=3, eta=0.0), r"\(0, 1\]"),
    (dict(num_classes=3, eta=1.5), r"\(0, 1\]"),
    (dict(num_classes=3, nms_threshold=-0.1), ">= 0"),
    (dict(num_classes=3, code_type="XYWH"), "CENTER_SIZE"),
    (dict(num_classes=3, share_location="yes"), "share_location"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CaffeDetectionOutput(**kwargs)


def test_inputs_must_agree_on_the_prior_count():
    layer = CaffeDetectionOutput(num_classes=4)
    with pytest.raises(ValueError, match="loc has 100 channels; 30 priors need 120"):
        layer([keras.Input((100,)), keras.Input((120,)), keras.Input((2, 120), batch_size=1)])
    with pytest.raises(ValueError, match="conf has 90 channels; 30 priors need 120"):
        layer([keras.Input((120,)), keras.Input((90,)), keras.Input((2, 120), batch_size=1)])
