"""Write a NetParameter as the NetSpec calls a user would make for it, so tests can check that
``to_proto`` gives the same message back (every field kind the zoo nets use)."""

from __future__ import annotations

from keras_caffe.pycaffe.net_spec import NetSpec, layers as L, param_name_dict

_STEMS = param_name_dict()


class NotExpressible(Exception):
    """A net NetSpec cannot write as one spec (a blob name made by two layers, a layer only
    partly in place, an empty message present)."""


def message_to_dict(message) -> dict:
    """A message as the nested dicts and lists NetSpec keywords take."""
    out = {}
    for field, value in message.ListFields():
        if field.message_type is not None:
            if hasattr(value, "extend"):
                items = [message_to_dict(v) for v in value]
                if not all(items):
                    raise NotExpressible(f"an empty {field.name} message")
                out[field.name] = items
            else:
                if not value.ListFields():
                    raise NotExpressible(f"an empty {field.name} message")
                out[field.name] = message_to_dict(value)
        else:
            out[field.name] = list(value) if hasattr(value, "extend") else value
    return out


def netspec_for(net) -> NetSpec:
    """A NetSpec whose ``to_proto()`` should be ``net``'s layers.

    The layer's own ``<type>_param`` fields go in flat (the routing NetSpec does); other
    ``*_param`` messages and LayerParameter fields by their full names; a layer named unlike
    its first top gets ``name=``."""
    n = NetSpec()
    current = {}          # blob name -> the Top that makes it now
    named = set()
    for layer in net.layer:
        kwargs = message_to_dict(layer)
        for key in ("name", "type", "bottom", "top"):
            kwargs.pop(key, None)
        stem = _STEMS.get(layer.type)
        if stem is not None and stem + "_param" in kwargs:
            kwargs.update(kwargs.pop(stem + "_param"))
        tops, bottoms = list(layer.top), list(layer.bottom)
        in_place = bool(tops) and tops == bottoms
        if not in_place and set(tops) & set(bottoms):
            raise NotExpressible(f"layer {layer.name} is partly in place")
        try:
            inputs = [current[b] for b in bottoms]
        except KeyError as exc:
            raise NotExpressible(f"bottom {exc} has no producer") from None
        if tops and not in_place and layer.name != tops[0]:
            kwargs["name"] = layer.name
        made = getattr(L, layer.type)(*inputs, ntop=len(tops), in_place=in_place, **kwargs)
        made = made if isinstance(made, tuple) else (made,)
        if in_place or not tops:
            key = layer.name
            if key in named or key in current:
                raise NotExpressible(f"layer name {key} is also a blob name")
            n[key] = made[0]
            named.add(key)
            continue
        for name, top in zip(tops, made):
            if name in named:
                raise NotExpressible(f"blob {name} is made by two layers")
            n[name] = top
            named.add(name)
            current[name] = top
    return n


def layers_of_phase(net, phase: int, stages=()):
    """The layers the rules admit for ``phase`` and ``stages`` (levels ignored), as a new
    NetParameter: how tutorials write a train/test pair, one NetSpec per phase."""
    def meets(rule):
        return ((not rule.HasField("phase") or rule.phase == phase)
                and all(s in stages for s in rule.stage)
                and not any(s in stages for s in rule.not_stage))

    out = type(net)()
    for layer in net.layer:
        if layer.include:
            admitted = any(meets(r) for r in layer.include)
        else:
            admitted = not any(meets(r) for r in layer.exclude)
        if admitted:
            out.layer.add().CopyFrom(layer)
    return out


def stages_named(net) -> list[tuple[str, ...]]:
    """Each stage a rule names, alone; ``[()]`` when none does."""
    names = sorted({s for layer in net.layer for r in [*layer.include, *layer.exclude]
                    for s in [*r.stage, *r.not_stage]})
    return [(s,) for s in names] or [()]
