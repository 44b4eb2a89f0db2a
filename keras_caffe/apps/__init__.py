"""Applications on pycaffe's interface: what ``keras-caffe classify`` (Caffe's
``python/classify.py``) and ``keras-caffe serve`` (Caffe's web demo) run.

They use :mod:`keras_caffe.pycaffe`'s ``Classifier`` and ``caffe.io``, which ``tools`` may not
import; only ``cli`` imports this package.  :mod:`.classification` sets up the classifier,
labels and mean; :mod:`.images` decodes and gathers images; :mod:`.hedging` is the demo's
"maximally accurate" ranking over a class hierarchy; :mod:`.multipart`, :mod:`.page` and
:mod:`.server` are the web demo.
"""
