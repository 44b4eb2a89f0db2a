"""``caffe.Net(..., runtime="auto" | "keras" | "litert")``: whole-net forward passes for
inference through :func:`keras_caffe.predictor` (keras-caffe's own keyword; pycaffe has none).

Such a pass computes only the net's output blobs, on the runtime the predictor picks.  The
other blobs are not computed then; the first time a script reads one of them (``data`` of
``net.blobs[name]``, or ``backward``), the pass is run again through the whole Keras model,
so every blob a script sees holds what Caffe would hold.  The predictor is made at the first
such pass from the net's weights and shapes at that moment, and made again after a reshape,
``copy_from``, ``load_hdf5`` or a script's write into ``net.params``.  A pass that is not
whole-net inference (a layer range, extra ``blobs``, data layers, HDF5Output, the TRAIN
phase) runs as usual; nets sharing weights with another (``share_with``) refuse ``runtime``.
With ``"auto"`` a net no predictor can run (Python layers) runs the Net's own passes
(``net.runtime`` is then ``"net"``); ``"keras"`` and ``"litert"`` raise instead.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import NetError
from ..export import ExportError
from ..export.predictor import RUNTIMES, predictor
from ..proto import caffe_pb2
from .blobs import _caffe_array

log = logging.getLogger(__name__)


class PredictorPass:
    """What a ``caffe.Net`` keeps for ``runtime``: its predictor and when to remake it
    (``runtime=None``: nothing, every pass runs as usual)."""

    def __init__(self, runtime: str | None, shared: bool = False):
        if runtime is not None and runtime not in RUNTIMES:
            raise NetError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        self.runtime, self.predictor, self.unusable = runtime, None, ""
        if shared:
            self.refuse_sharing()

    def refuse_sharing(self) -> None:
        if self.runtime is not None:
            raise NetError("runtime= is for nets with weights of their own, not shared ones "
                           "(their predictor would not see the other net's updates)")

    def reset(self) -> None:
        self.predictor = None

    def applies(self, net, outputs) -> bool:
        """Whether a whole-net forward returning ``outputs`` can run on the predictor."""
        return (self.runtime is not None and net._phase == caffe_pb2.TEST and not net._sources
                and not net._cnet.sinks and set(outputs) <= set(net.outputs))

    def forward(self, net, feeds: dict, params_changed: bool) -> bool:
        """Run the predictor on ``feeds`` (NCHW by input blob); store the outputs, and leave
        the other blobs to be computed by the Keras model when a script reads one.  Returns
        False (nothing done) where ``"auto"`` found no predictor can run the net (Python
        layers): the Net's own pass runs it, as without ``runtime``."""
        if self.unusable:
            return False
        if self.predictor is None or params_changed:
            try:
                self.predictor = predictor(net._cnet, runtime=self.runtime, input_layout="NCHW")
            except ExportError as exc:
                if self.runtime != "auto":
                    raise
                self.unusable = str(exc)
                log.info("caffe.Net(runtime='auto'): the net's own passes run it; %s", exc)
                return False
        arrays = {k: np.asarray(_caffe_array(v), np.float32) for k, v in feeds.items()}
        outputs = self.predictor(arrays)
        net._store.set_values({k: np.ascontiguousarray(v, np.float32)
                               for k, v in outputs.items()})
        rest = set(net._blob_names) - set(outputs) - set(feeds)
        kept = dict(arrays)
        net._store.pending = (rest, lambda: net._runtime.forward_all(kept))
        return True

    @property
    def chosen(self) -> str | None:
        """The runtime the predictor runs on (None before the first pass)."""
        if self.unusable:
            return "net"   # the Net's own passes
        return None if self.predictor is None else self.predictor.runtime
