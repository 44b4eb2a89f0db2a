import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.tools.demo_shapes import CLASSES, SIZE, draw, draw_with_mask, write_png


def test_write_png_round_trips_through_a_png_decoder(tmp_path):
    grey = np.arange(5 * 7, dtype=np.float64).reshape(5, 7) * 7.3
    grey[0, 0] = 300.0                                   # clipped, not wrapped
    path = tmp_path / "g.png"
    write_png(str(path), grey)
    decoded = tf.io.decode_png(path.read_bytes(), channels=1).numpy()[..., 0]
    expected = np.clip(grey, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]   # no temp file left


def test_write_png_keeps_the_old_file_when_the_array_is_not_2d(tmp_path):
    path = tmp_path / "g.png"
    path.write_bytes(b"old")
    with pytest.raises(ValueError):
        write_png(str(path), np.zeros((2, 2, 3)))
    assert path.read_bytes() == b"old"


@pytest.mark.parametrize("kind", range(len(CLASSES)))
def test_drawn_shapes_are_distinct_images_in_range(kind):
    img = draw(kind, np.random.default_rng(0))
    assert img.shape == (SIZE, SIZE) and 0 <= img.min() and img.max() <= 255
    others = [draw(k, np.random.default_rng(0)) for k in range(len(CLASSES)) if k != kind]
    assert all(not np.array_equal(img, o) for o in others)


@pytest.mark.parametrize("kind", range(len(CLASSES)))
def test_draw_with_mask_is_draws_image_and_the_shapes_pixels(kind):
    image, mask = draw_with_mask(kind, np.random.default_rng(3))
    np.testing.assert_array_equal(image, draw(kind, np.random.default_rng(3)))
    assert mask.dtype == bool and mask.shape == (SIZE, SIZE)
    assert 20 < mask.sum() < SIZE * SIZE / 2
    # the shape is drawn brighter (150..255) than its background (0..80), noise aside
    assert image[mask].mean() > image[~mask].mean() + 60
