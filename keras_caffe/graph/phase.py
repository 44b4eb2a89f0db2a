"""Which layers exist in a phase: Caffe's ``Net::FilterNet`` / ``StateMeetsRule``."""

from __future__ import annotations

from typing import Iterable

from ..errors import NetError
from ..proto import caffe_pb2

PHASES = {"train": caffe_pb2.TRAIN, "test": caffe_pb2.TEST}


def parse_phase(phase) -> int:
    if isinstance(phase, int):
        return phase
    try:
        return PHASES[str(phase).lower()]
    except KeyError:
        raise ValueError(f"phase must be 'train' or 'test', got {phase!r}") from None


def make_state(net: caffe_pb2.NetParameter, phase=None, stages: Iterable[str] = (),
               level: int | None = None) -> caffe_pb2.NetState:
    """The NetState to filter with: the net's own ``state``, overridden by explicit arguments
    (as pycaffe's ``Net(file, phase, level=, stages=)`` does)."""
    state = caffe_pb2.NetState()
    state.CopyFrom(net.state)
    if phase is not None:
        state.phase = parse_phase(phase)
    if level is not None:
        state.level = level
    stages = list(stages)
    if stages:
        del state.stage[:]
        state.stage.extend(stages)
    return state


def state_meets_rule(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(s not in stages for s in rule.stage):
        return False
    if any(s in stages for s in rule.not_stage):
        return False
    return True


def layer_included(layer: caffe_pb2.LayerParameter, state: caffe_pb2.NetState) -> bool:
    if layer.include and layer.exclude:
        raise NetError("specifies both include and exclude rules; Caffe allows only one kind",
                       layer=layer.name)
    if layer.include:
        return any(state_meets_rule(state, r) for r in layer.include)
    return not any(state_meets_rule(state, r) for r in layer.exclude)


def filter_net(net: caffe_pb2.NetParameter, state: caffe_pb2.NetState) -> caffe_pb2.NetParameter:
    """A copy of ``net`` holding only the layers the state includes, with ``state`` set."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layer[:]
    out.state.CopyFrom(state)
    for layer in net.layer:
        if layer_included(layer, state):
            out.layer.add().CopyFrom(layer)
    return out
