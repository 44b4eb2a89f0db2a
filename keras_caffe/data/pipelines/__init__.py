"""Caffe's data layers as ``tf.data`` pipelines, batch for batch as Caffe produces them.

Item ``j`` of batch ``k`` is record ``(k * batch_size + j) mod N`` (plus ImageData's
shuffle/rand_skip): the stream wraps to the first record in the middle of a batch, with no
padding and no short batch.  A Python thread walks the database or list a chunk ahead and
parses Datums (a few microseconds a record); decoding, resizing and the transform run in the
graph, in parallel and in order (``num_parallel_calls=AUTOTUNE, deterministic=True``), and
the batches are prefetched.

Each dataset yields ``(data, label)`` (or only ``data`` with ``labels=False``): ``data`` is
float32 ``N x C x H x W`` (Caffe's layout; ``layout="NHWC"`` gives ``N x H x W x C`` without
the transpose), ``label`` float32 ``(N,)``.  All items of a batch must have the shape of its
first item (records of different sizes can share a batch only through a crop), as in Caffe.
With ``deferred=True`` the host stops after decoding and drawing the crops: ``data`` is the
decoded batch and its placement, and ``dataset.finish(data)`` does the arithmetic wherever
it is called (see :func:`lmdb_dataset`).

Speed (``benchmarks/data_pipeline.py``): what costs throughput beyond the decoding itself is
per-item work in the graph (each tf.data component and small op costs about a percent) and
the float32 pass, which writes four bytes per pixel: hence one int64 vector of facts per
item, names of items looked up only when a check fails, and the deferred mode.

>>> ds = lmdb_dataset("examples/mnist/mnist_train_lmdb", 64,          # doctest: +SKIP
...                   transform={"scale": 0.00390625}, phase="train", seed=1)
"""

from .images import image_data_dataset, image_order
from .records import db_dataset, leveldb_dataset, lmdb_dataset

__all__ = ["lmdb_dataset", "leveldb_dataset", "db_dataset", "image_data_dataset", "image_order"]
