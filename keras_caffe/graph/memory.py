"""The memory a net will take, projected from its shapes before anything is allocated.

:func:`project` adds up, from the shapes inferred for every blob (``graph.shapes``) and the
parameter blobs each type declares (``graph.types``, ``params``), without building
anything:

* **parameters**: every parameter blob of every layer, float32 (blobs shared by
  ``param { name }`` once);
* **activations**: every top of every layer (each in-place write counted again, as the
  model holds each version as its own tensor), batch included, float32;
* **working copies**: what a layer's implementation makes besides its tops, as its type
  declares it (``workspace``: a padded copy of a bottom, a convolution before its stride),
  since a count such as ``pad`` or ``stride`` can make one far larger than any blob.

A layer whose tops' size the data decides is counted at the most its type says it can
write (``most``: region proposals at ``post_nms_topN`` rows where Caffe's Reshape shows one),
and the layers after it at the shapes that gives them (:func:`bounded_shapes`: ROIPooling and
the fc layers of a Faster R-CNN head at 300 ROIs).

Their sum is an upper bound for inference (TensorFlow frees a tensor once nothing reads it;
the projection keeps them all).  Training needs roughly two to three times more (each
activation's gradient, the gradients and the solver's history of each parameter); the
projection does not add that.  Types without a ``params`` declaration (Python layers,
users' converters that do not declare theirs) count no parameters, and layers whose shapes
cannot be inferred before building (and those after them) count nothing.

:func:`memory_limit` turns ``max_memory`` (bytes, a size such as ``"8G"``, 0 for none, or
None for the default: :data:`DEFAULT_FRACTION` of the memory available now, or what
:func:`default_limit` set for a block: a command's ``--max-memory``) into bytes, and
:func:`check` refuses a projection over it, naming the largest layers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re

from ..errors import CaffeError, MemoryLimitError, layer_named
from . import types
from .limits import check_blob
from .shapes import node_shapes

#: The default limit: this fraction of the memory available when the net is built.
DEFAULT_FRACTION = 0.8
#: Bytes per value: float32, what variables always are and activations are at most.
ITEMSIZE = 4

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
#: The limits :func:`default_limit` set, innermost last.
_DEFAULTS: list = []


@dataclasses.dataclass
class LayerBytes:
    """One layer's share: its parameter blobs, its tops and its working copies, in bytes;
    and the values of its parameter blobs (``param_values``: blobs it shares by name
    included, which ``params`` counts at the first layer holding them only)."""

    name: str
    type: str
    params: int
    activations: int
    workspace: int = 0
    param_values: int = 0

    @property
    def total(self) -> int:
        return self.params + self.activations + self.workspace


@dataclasses.dataclass
class Projection:
    """The projected bytes of a net, by layer (see the module)."""

    layers: list[LayerBytes]
    batch: int | None = None

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def activations(self) -> int:
        return sum(l.activations for l in self.layers)

    @property
    def workspace(self) -> int:
        return sum(l.workspace for l in self.layers)

    @property
    def total(self) -> int:
        return self.params + self.activations + self.workspace

    def largest(self, k: int = 3) -> list[LayerBytes]:
        return sorted(self.layers, key=lambda l: l.total, reverse=True)[:k]

    def describe(self) -> str:
        """``"1.2 MiB (0.4 MiB of parameters, 0.8 MiB of activations at batch 1)"`` (and the
        working copies, when there are any)."""
        at = f" at batch {self.batch}" if self.batch else ""
        copies = f", {format_size(self.workspace)} of working copies" if self.workspace else ""
        return (f"{format_size(self.total)} ({format_size(self.params)} of parameters, "
                f"{format_size(self.activations)} of activations{copies}{at})")


def _count(shape) -> int:
    return math.prod(1 if d is None else max(int(d), 0) for d in shape)


def param_shapes(node, bottom_shapes, path: str | None = None) -> list[tuple] | None:
    """Caffe's shapes of a layer's parameter blobs, as its type declares them (None when it
    does not, or when its bottoms do not fit it: building it then says why), each checked
    against Caffe's blob bounds (an error names the layer and ``path``)."""
    shapes = _declared(node, "params", bottom_shapes, path)
    for i, shape in enumerate(shapes or ()):
        check_blob(shape, f"parameter blob {i}", node.name, path)
    return shapes


def workspace_shapes(node, bottom_shapes, path: str | None = None) -> list[tuple]:
    """Caffe shapes of the copies a layer's implementation makes besides its tops, as its
    type declares them (none when it declares none, or its bottoms do not fit it)."""
    return _declared(node, "workspace", bottom_shapes, path) or []


def _declared(node, trait: str, bottom_shapes, path) -> list[tuple] | None:
    """What the ``params`` or ``workspace`` function of a built layer's type gives for these
    bottoms, as tuples; None without one, or when the bottoms do not fit it.  A NetError it
    raises names the layer and ``path``, as one from a shape function does."""
    spec = types.get(node.type)
    fn = getattr(spec, trait) if spec is not None and spec.built(node.param) else None
    if fn is None:
        return None
    try:
        with layer_named(node.name, path):
            return [tuple(s) for s in fn(node.param, list(bottom_shapes))]
    except (IndexError, ValueError, TypeError, ZeroDivisionError):
        return None


def bounded_shapes(graph, shapes: dict) -> dict:
    """``shapes`` with the tops of each layer whose type declares ``most`` at those shapes
    (for the phase the graph was resolved in), and every layer after such a top re-inferred
    from its type's shape function (where that fails, or a shape was unknown, the shapes
    given stay)."""
    out, raised = dict(shapes), set()
    phase = graph.param.state.phase
    for node in graph.layers:
        bottoms = [out.get(b) for b in node.bottoms]
        if any(b is None for b in bottoms):
            continue
        spec = types.get(node.type)
        tops = None
        try:
            with layer_named(node.name, graph.path):
                if spec is not None and spec.most is not None and spec.built(node.param):
                    tops = spec.most(node.param, bottoms, phase)
                elif raised.intersection(node.bottoms):
                    tops = node_shapes(node, bottoms, graph.path)
        except (CaffeError, IndexError, ValueError, TypeError, ZeroDivisionError):
            tops = None
        for top, shape in zip(node.tops, tops or ()):
            if shape is not None and tuple(shape) != out.get(top):
                out[top] = tuple(shape)
                raised.add(top)
    return out


def project(graph, shapes: dict) -> Projection:
    """The projection of ``graph`` whose blob versions have ``shapes`` (Caffe shapes, as
    ``graph.shapes.infer_shapes`` gives them; blobs left out count nothing), with the tops
    whose size the data decides at their most (:func:`bounded_shapes`)."""
    shapes = bounded_shapes(graph, shapes)
    layers, shared = [], set()
    for node in graph.layers:
        acts = sum(_count(shapes[t]) for t in node.tops if shapes.get(t) is not None)
        params = work = held = 0
        if all(shapes.get(b) is not None for b in node.bottoms):
            bottoms = [shapes[b] for b in node.bottoms]
            work = sum(_count(s) for s in workspace_shapes(node, bottoms, graph.path))
            blobs = param_shapes(node, bottoms, graph.path) or []
            names = [p.name for p in node.param.param]
            for i, shape in enumerate(blobs):
                values = _count(shape)
                held += values
                key = names[i] if i < len(names) and names[i] else None
                if key is None or key not in shared:
                    params += values
                    if key is not None:
                        shared.add(key)
        layers.append(LayerBytes(node.name, node.type, params * ITEMSIZE, acts * ITEMSIZE,
                                 work * ITEMSIZE, held))
    batches = [shapes[t][0] for n in graph.input_layers for t in n.tops
               if shapes.get(t) and shapes[t][0] is not None]
    return Projection(layers, max(batches) if batches else None)


def check(projection: Projection, limit: int | None, path: str | None = None,
          how: str = "") -> None:
    """A :class:`~keras_caffe.errors.MemoryLimitError` when the projection is over ``limit``
    (bytes; None or 0: no limit), naming the largest layers; ``how`` says where the limit
    came from."""
    if not limit or projection.total <= limit:
        return
    top = projection.largest(3)
    shown = ", ".join(f"'{l.name}' ({l.type}) {format_size(l.total)}" for l in top)
    raise MemoryLimitError(
        f"the net would take about {projection.describe()}, over the memory limit of "
        f"{format_size(limit)}{f' ({how})' if how else ''}; largest layers: {shown}. Give "
        "--max-memory SIZE (max_memory= in Python; 0 for no limit) to change the limit",
        layer=top[0].name if top else None, path=path, needed=projection.total, limit=limit)


@contextlib.contextmanager
def default_limit(max_memory):
    """Within the block, ``max_memory=None`` means ``max_memory`` (how a command's
    ``--max-memory`` reaches every net it builds); None leaves the default as it is."""
    _DEFAULTS.append(max_memory)
    try:
        yield
    finally:
        _DEFAULTS.pop()


def memory_limit(max_memory=None) -> tuple[int | None, str]:
    """``(bytes or None, where it came from)`` for ``max_memory``: None (the default: the
    innermost :func:`default_limit`, else :data:`DEFAULT_FRACTION` of
    :func:`available_memory`, no limit when that is unknown), 0 (no limit), a number of
    bytes, or a size string (:func:`parse_size`)."""
    if max_memory is None:
        max_memory = next((m for m in reversed(_DEFAULTS) if m is not None), None)
    if max_memory is None:
        available = available_memory()
        if available is None:
            return None, "available memory unknown"
        return (int(available * DEFAULT_FRACTION),
                f"{DEFAULT_FRACTION:.0%} of the {format_size(available)} available")
    size = parse_size(max_memory) if isinstance(max_memory, str) else int(max_memory)
    if size < 0:
        raise ValueError(f"max_memory must be >= 0 (0: no limit), got {max_memory!r}")
    return (size or None), "--max-memory / max_memory"


def parse_size(text: str) -> int:
    """Bytes of ``"8G"``, ``"512M"``, ``"1.5GiB"``, ``"100k"``, ``"4096"`` (binary units;
    a trailing ``B`` / ``iB`` is allowed)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
    if not match:
        raise ValueError(f"not a memory size: {text!r} (e.g. 8G, 512M, 0 for no limit)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def format_size(n: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def available_memory() -> int | None:
    """Bytes of memory available to this process now: Linux's ``MemAvailable`` (capped by a
    cgroup's limit less its usage), else ``os.sysconf``'s available pages; None if unknown.
    GPU memory is not asked for (that would initialise the devices)."""
    found = _meminfo_available()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    room = _cgroup_room()
    return found if room is None else min(found, room)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            return max(0, int(limit) - usage)
    return None
