"""``import caffe`` through ``install_as_caffe()`` and ``keras-caffe python SCRIPT``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import keras_caffe.pycaffe as pycaffe
from keras_caffe.pycaffe.install import install_as_caffe, uninstall_as_caffe


@pytest.fixture
def caffe():
    install_as_caffe()
    yield sys.modules["caffe"]
    uninstall_as_caffe()


def test_import_caffe_and_its_submodules_are_this_package(caffe):
    import caffe as imported
    import caffe.io
    import caffe.proto.caffe_pb2 as pb2_module
    from caffe.proto import caffe_pb2

    assert imported is pycaffe and caffe.io is pycaffe.io
    assert caffe_pb2.NetParameter is pb2_module.NetParameter
    assert imported.Net is pycaffe.Net and imported.TRAIN == 0 and imported.TEST == 1
    assert "Convolution" in imported.layer_type_list() and not imported.has_nccl()


def test_netspec_and_coord_map_come_with_import_caffe(caffe):
    import caffe.coord_map
    import caffe.net_spec
    from caffe import layers as L, params as P

    assert caffe.net_spec is pycaffe.net_spec and caffe.coord_map is pycaffe.coord_map
    assert caffe.NetSpec is pycaffe.net_spec.NetSpec and caffe.to_proto is pycaffe.to_proto
    assert L is pycaffe.net_spec.layers and P.Pooling.AVE == 1
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 9, 9]))
    n.conv = L.Convolution(n.data, kernel_size=3, num_output=1)
    assert caffe.coord_map.crop(n.data, n.conv).fn.params["crop_param"]["offset"] == [1]
    with pytest.raises(AttributeError):
        caffe.no_such_thing


def test_uninstall_removes_the_alias():
    install_as_caffe()
    uninstall_as_caffe()
    assert "caffe" not in sys.modules
    with pytest.raises(ImportError):
        import caffe  # noqa: F401


def test_keras_caffe_python_runs_a_pycaffe_script_unchanged(tmp_path):
    (tmp_path / "net.prototxt").write_text(
        "layer { name: 'data' type: 'Input' top: 'data' input_param { shape { dim: 2 dim: 3 } } }\n"
        "layer { name: 'fc' type: 'InnerProduct' bottom: 'data' top: 'fc'\n"
        "  inner_product_param { num_output: 2 weight_filler { type: 'constant' value: 1 } } }\n")
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        import caffe
        from caffe.proto import caffe_pb2
        caffe.set_mode_cpu()
        net = caffe.Net(sys.argv[1], caffe.TEST)
        net.blobs['data'].data[...] = float(sys.argv[2])
        print('fc', net.forward()['fc'].ravel().tolist(), caffe_pb2.TEST)
        sys.exit(3)
    """))
    result = subprocess.run([sys.executable, "-m", "keras_caffe.cli", "python", str(script),
                             str(tmp_path / "net.prototxt"), "2"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "fc [6.0, 6.0, 6.0, 6.0] 1" in result.stdout
