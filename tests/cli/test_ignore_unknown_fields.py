"""``--ignore-unknown-fields``: every command takes it, ``keras-caffe python`` scripts' nets
included (the errors and the skipping itself: tests/proto/test_unknown_fields.py)."""

from __future__ import annotations

import pytest

from keras_caffe import cli
from tests.proto.test_unknown_fields import NVIDIA_NET, SOLVER


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(NVIDIA_NET)
    return tmp_path


def test_info_takes_the_flag(work, capsys):
    assert cli.main(["info", "net.prototxt"]) == 1
    assert "net.prototxt:2:1: unknown field 'default_forward_type' in caffe.NetParameter" in \
        capsys.readouterr().err
    assert cli.main(["info", "net.prototxt", "--ignore-unknown-fields"]) == 0
    assert "2x2x8x8" in capsys.readouterr().out


def test_keras_caffe_python_applies_the_flag_to_the_scripts_nets(work, capsys):
    (work / "script.py").write_text('import caffe\nnet = caffe.Net("net.prototxt", caffe.TEST)\n'
                                    'print(net.blobs["conv2"].data.shape)\n')
    assert cli.main(["python", "script.py"]) == 1
    assert "unknown field 'default_forward_type'" in capsys.readouterr().err
    assert cli.main(["python", "--ignore-unknown-fields", "script.py"]) == 0
    assert "(2, 2, 8, 8)" in capsys.readouterr().out


def test_upgrade_writes_a_solver_without_the_skipped_fields(work, capsys):
    (work / "solver.prototxt").write_text(SOLVER.replace('lr_policy: "fixed"',
                                                         'solver_type: NESTEROV'))
    assert cli.main(["upgrade", "solver.prototxt", "-o", "new.prototxt"]) == 1
    assert "solver.prototxt:4:1: unknown field 'larc'" in capsys.readouterr().err
    assert not (work / "new.prototxt").exists()
    assert cli.main(["upgrade", "solver.prototxt", "-o", "new.prototxt",
                     "--ignore-unknown-fields"]) == 0
    written = (work / "new.prototxt").read_text()
    assert 'type: "Nesterov"' in written and "max_iter: 10" in written
    assert "larc" not in written
