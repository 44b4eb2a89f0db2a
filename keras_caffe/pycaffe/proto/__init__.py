"""``caffe.proto``: the project's Caffe schema (``caffe.proto.caffe_pb2``)."""

from ...proto import caffe_pb2  # noqa: F401

__all__ = ["caffe_pb2"]
