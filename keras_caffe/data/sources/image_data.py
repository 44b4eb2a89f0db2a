"""Caffe's ImageData layer: images named by a list file."""

from __future__ import annotations

import os

from ...errors import NetError, layer_named
from ...graph.limits import check_blob
from ...proto import caffe_pb2
from ..formats.datum import decode_image_numpy
from ..formats.lists import read_image_list
from ..pipelines import image_data_dataset, image_order
from .base import PipelineSource, data_layer, tf_message


def _image_data_shape(layer, bottoms):
    """The batch size, channels from is_color, height and width from the crop or the resize."""
    q, t = layer.image_data_param, layer.transform_param
    h = w = None
    crop = t.crop_size or q.crop_size
    if crop:
        h = w = crop
    elif q.new_height > 0 and q.new_width > 0:
        h, w = q.new_height, q.new_width
    n = q.batch_size
    return [(n, 3 if q.is_color else 1, h, w), (n,)][:len(layer.top)]


@data_layer("ImageData", shape=_image_data_shape)
class ImageDataSource(PipelineSource):
    """Caffe's ``ImageData`` layer."""

    def __init__(self, param: caffe_pb2.ImageDataParameter, tops, transform=None, phase="test",
                 seed=None, layer: str | None = None):
        if not 1 <= len(tops) <= 2:
            raise NetError(f"an ImageData layer has 1 or 2 tops (data, label), got "
                           f"{list(tops)}", layer=layer)
        super().__init__(tops, param.batch_size, seed, layer)
        self.param, self.transform, self.phase = param, transform, phase
        if param.new_height > 0 and param.new_width > 0:   # every image is resized to it,
            #                                               before the crop makes the top
            check_blob((3 if param.is_color else 1, param.new_height, param.new_width),
                       "an image resized to new_height x new_width", layer)
        with layer_named(layer):
            self.entries = read_image_list(param.source, param.root_folder)

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        return cls(node.param.image_data_param, [t.name for t in node.tops],
                   node.param.transform_param, phase, seed, node.name)

    @staticmethod
    def resized_to(layer) -> tuple[int, int] | None:
        """The size images are resized to before the transform, if the layer resizes."""
        p = layer.image_data_param
        return (p.new_height, p.new_width) if p.new_height or p.new_width else None

    def _make_dataset(self, layout, deferred, batch_size, start):
        p = self.param
        return image_data_dataset(
            p.source, batch_size, p.root_folder, p.new_height, p.new_width, p.is_color,
            p.shuffle, p.rand_skip, self.transform, self.phase, self.seed,
            start_batch=start, labels=len(self.tops) == 2, layer=self.layer,
            layout=layout, deferred=deferred)

    def describe_item(self, batch, item):
        p = self.param
        order = image_order(len(self.entries), p.shuffle, p.rand_skip, self.seed,
                            batch * self.batch_size + item)
        path, _, line = self.entries[next(order)[1]]
        return f"{p.source}:{line} ('{path.decode('utf-8', 'backslashreplace')}')"

    def _diagnose(self, batch, exc):
        p = self.param
        order = image_order(len(self.entries), p.shuffle, p.rand_skip, self.seed,
                            batch * self.batch_size)
        for _ in range(self.batch_size):
            _, i = next(order)
            path, _, line = self.entries[i]
            shown = path.decode("utf-8", "backslashreplace")
            where = f"{p.source}:{line}"
            if not os.path.isfile(path):
                return NetError(f"{where}: could not load '{shown}': no such file (paths are "
                                f"root_folder + name, relative to {os.getcwd()})",
                                layer=self.layer)
            try:
                with open(path, "rb") as f:
                    decode_image_numpy(f.read(), "color" if p.is_color else "gray")
            except ValueError as err:
                return NetError(f"{where}: could not load '{shown}': {err}", layer=self.layer)
        return NetError(f"ImageData '{p.source}', batch {batch}: {tf_message(exc)}",
                        layer=self.layer)
