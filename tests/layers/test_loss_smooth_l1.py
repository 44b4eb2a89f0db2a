"""CaffeSmoothL1Loss against Fast R-CNN's SmoothL1Loss (``rcnn_ref.smooth_l1``)."""

import numpy as np
import pytest

from keras_caffe.layers import CaffeSmoothL1Loss

from .losses import loss_and_grads
from .rcnn_ref import smooth_l1


@pytest.mark.parametrize("sigma", [1.0, 3.0])
@pytest.mark.parametrize("weights", [False, True])
def test_loss_and_gradients_match_fast_rcnn(sigma, weights):
    rng = np.random.default_rng(0)
    pred = rng.standard_normal((3, 8, 2, 2)).astype(np.float32)
    target = rng.standard_normal((3, 8, 2, 2)).astype(np.float32)
    pred[0, 0, 0, 0] = target[0, 0, 0, 0] + np.float32(1.0 / sigma ** 2)   # on the kink
    inputs = [pred, target]
    extra = {}
    if weights:
        inside = (rng.random(pred.shape) > 0.3).astype(np.float32)
        outside = rng.random(pred.shape).astype(np.float32)
        inputs += [inside, outside]
        extra = dict(inside=inside, outside=outside)
    loss, (g_pred, g_target, *rest) = loss_and_grads(CaffeSmoothL1Loss(sigma=sigma), inputs,
                                                    wrt=tuple(range(len(inputs))))
    want, want_grad = smooth_l1(pred, target, sigma=sigma, **extra)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(g_pred, want_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_target, -want_grad, rtol=1e-5, atol=1e-7)
    assert all(g is None or not np.any(g) for g in rest)   # weights get no gradient


def test_weights_come_in_pairs():
    with pytest.raises(ValueError, match="inside_weights, outside_weights"):
        CaffeSmoothL1Loss()([np.ones((1, 2), np.float32)] * 3)
