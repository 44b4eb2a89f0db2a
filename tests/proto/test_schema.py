"""The schema: the generated module matches caffe.proto, Caffe's field numbers hold, and
every real prototxt shipped with Caffe (and in the conformance suite) parses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_caffe.proto import caffe_pb2, text
from tests.shared_paths import CONFORMANCE, SHARED, ZOO

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_proto.py"
PROTO = ROOT / "keras_caffe" / "proto" / "caffe.proto"


def _run_check(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", *extra],
                          capture_output=True, text=True, timeout=120)


def test_generated_module_is_current():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the [test] extra) compiles the schema")
    result = _run_check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_reports_a_stale_module(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the [test] extra) compiles the schema")
    proto = tmp_path / "caffe.proto"
    proto.write_text(PROTO.read_text().replace(
        "message ShuffleChannelParameter {\n  optional uint32 group = 1 [default = 1];",
        "message ShuffleChannelParameter {\n  optional uint32 group = 1 [default = 2];"))
    assert proto.read_text() != PROTO.read_text()
    module = tmp_path / "caffe_pb2.py"
    shutil.copy(ROOT / "keras_caffe" / "proto" / "caffe_pb2.py", module)
    result = _run_check("--proto", str(proto), "--module", str(module))
    assert result.returncode == 1
    assert "differs" in result.stderr


def test_module_was_generated_for_the_pinned_protobuf():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import generate_proto
    finally:
        sys.path.remove(str(SCRIPT.parent))
    header = (ROOT / "keras_caffe" / "proto" / "caffe_pb2.py").read_text().splitlines()[:8]
    assert f"# Protobuf Python Version: {generate_proto.GENCODE_VERSION}" in header


# (message, field, number) facts from BVLC Caffe master and the forks we follow.
FIELD_NUMBERS = [
    ("BlobProto", "num", 1), ("BlobProto", "data", 5), ("BlobProto", "shape", 7),
    ("BlobProto", "double_data", 8), ("BlobProto", "raw_data_type", 10),
    ("BlobProto", "raw_data", 12), ("NetParameter", "layer", 100), ("NetParameter", "layers", 2),
    ("NetParameter", "input_dim", 4), ("SolverParameter", "layer_wise_reduce", 41),
    ("SolverParameter", "weights", 42), ("SolverParameter", "solver_type", 30),
    ("SolverParameter", "type", 40), ("LayerParameter", "blobs", 7),
    ("LayerParameter", "input_param", 143), ("LayerParameter", "recurrent_param", 146),
    ("LayerParameter", "swish_param", 147), ("LayerParameter", "clip_param", 148),
    ("LayerParameter", "upsample_param", 149), ("LayerParameter", "shuffle_channel_param", 164),
    ("LayerParameter", "permute_param", 202), ("LayerParameter", "prior_box_param", 203),
    ("LayerParameter", "detection_output_param", 204), ("LayerParameter", "norm_param", 206),
    ("LayerParameter", "roi_pooling_param", 8266711), ("PoolingParameter", "round_mode", 13),
    ("ConvolutionParameter", "dilation", 18), ("InfogainLossParameter", "axis", 2),
    ("V1LayerParameter", "blobs", 6), ("V1LayerParameter", "layer", 1),
    ("V0LayerParameter", "blobs", 50), ("TransformationParameter", "resize_param", 8),
    # PSPNet's BN, the ReLU6 ports, R-FCN, Fast R-CNN, OpenCV's Proposal (moved off SSD's 201)
    ("LayerParameter", "bn_param", 152), ("BNParameter", "slope_filler", 1),
    ("BNParameter", "momentum", 3), ("BNParameter", "frozen", 5), ("BNParameter", "bn_mode", 1003),
    ("LayerParameter", "relu6_param", 100000), ("LayerParameter", "psroi_pooling_param", 10001),
    ("PSROIPoolingParameter", "group_size", 3), ("LayerParameter", "smooth_l1_loss_param", 8266712),
    ("DropoutParameter", "scale_train", 2), ("DropoutParameter", "sample_weights_test", 1002),
    ("LayerParameter", "proposal_param", 1201), ("ProposalParameter", "nms_thresh", 8),
]


@pytest.mark.parametrize("message,field,number", FIELD_NUMBERS,
                         ids=[f"{m}.{f}" for m, f, _ in FIELD_NUMBERS])
def test_field_numbers(message, field, number):
    assert getattr(caffe_pb2, message).DESCRIPTOR.fields_by_name[field].number == number


def test_defaults_follow_caffe():
    assert caffe_pb2.PoolingParameter().stride == 1
    assert caffe_pb2.ConvolutionParameter().bias_term is True
    assert caffe_pb2.LRNParameter().k == 1.0
    assert caffe_pb2.SolverParameter().solver_mode == caffe_pb2.SolverParameter.GPU
    assert caffe_pb2.SolverParameter().random_seed == -1
    assert caffe_pb2.NetState().phase == caffe_pb2.TEST
    assert caffe_pb2.PriorBoxParameter().offset == pytest.approx(0.5)
    assert caffe_pb2.V1LayerParameter.LayerType.Value("SOFTMAX_LOSS") == 21


def _prototxt_cases():
    if not SHARED.is_dir():
        return [pytest.param(None, False, id="shared-data-missing",
                             marks=pytest.mark.skip(reason=f"{SHARED} not found"))]
    files = sorted(p for root in (ZOO, CONFORMANCE) for p in root.rglob("*.prototxt"))
    return [pytest.param(p, "solver" in p.name or p.parent.name.startswith("solver_"),
                         id=str(p.relative_to(SHARED))) for p in files]


@pytest.mark.parametrize("path,is_solver", _prototxt_cases())
def test_shared_prototxt_parses(path, is_solver):
    if is_solver:
        solver = text.read_solver(path)
        assert solver.base_lr > 0 or solver.HasField("net") or len(solver.train_net)
    else:
        net = text.read_net(path)
        assert len(net.layer) + len(net.layers) > 0
