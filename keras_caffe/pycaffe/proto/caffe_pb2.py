"""``caffe.proto.caffe_pb2``: keras-caffe's generated module of Caffe's schema (Caffe's field
numbers, plus the forks' fields), under pycaffe's name."""

from ...proto.caffe_pb2 import *  # noqa: F401,F403
from ...proto.caffe_pb2 import DESCRIPTOR  # noqa: F401
