"""The fuzz targets: what each writes into the case folder (``make``) and which readers it
calls on it (``run``, with the case folder as the working directory, as Caffe resolves
relative paths).

A target's ``make(rng, case)`` writes one mutated input and returns what it did;
``run(case)`` calls the readers and returns None, or why it skipped the input (a net too big
to build quickly).  Any exception but a ``keras_caffe.errors.CaffeError`` is a failure.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
from pathlib import Path

import keras

import keras_caffe
from keras_caffe.data.formats import datum as datum_format
from keras_caffe.data.formats.lists import parse_image_list, read_image_list
from keras_caffe.graph import memory
from keras_caffe.proto import binary
from keras_caffe.proto.upgrade import read_upgraded_solver
from keras_caffe.solvers.factory import check_solver, optimizer_from_solver
from keras_caffe.solvers.lr_policies import CaffeLearningRate
from keras_caffe.solvers.nets import test_nets, train_net
from keras_caffe.solvers.snapshot import check_prefix

from . import corpus, data_mutations, datasets, mutate_binary, mutate_text

#: Nets with more layers than this are resolved but not built (a build takes ~3 ms a layer).
MAX_BUILD_LAYERS = 40
#: The memory limit build_net projects a net against: big nets are refused, not built.
BUILD_MAX_MEMORY = "256M"
#: Data layers with bigger batches are opened but not read (reading is linear in the batch:
#: 100000 items take ~7 s, which is work, not a hang).
MAX_BATCH_ITEMS = 4096


def _args(case: Path, **values) -> None:
    (case / "args.json").write_text(json.dumps(values))


def _read_args(case: Path) -> dict:
    return json.loads((case / "args.json").read_text())


def _write_mutated(rng: random.Random, seed, seeds, path: Path) -> str:
    """Write ``seed``'s text mutated into ``path`` (splices take from three of ``seeds``);
    what was done."""
    others = [(s.name, s.text) for s in rng.sample(seeds, min(3, len(seeds)))]
    text, what = mutate_text.mutate(seed.text, rng, others)
    path.write_bytes(text.encode("latin-1"))
    return what


class Target:
    name = ""

    def make(self, rng: random.Random, case: Path) -> str:
        raise NotImplementedError

    def run(self, case: Path) -> str | None:
        raise NotImplementedError

    def clean(self, case: Path) -> None:
        """Write an unmutated input (run once per child before the limits are set)."""
        raise NotImplementedError


class _Prototxt(Target):
    """A target reading the prototxt ``file``: one of ``seeds()``, mutated."""

    file = ""

    def seeds(self):
        raise NotImplementedError

    def make(self, rng, case):
        seeds = self.seeds()
        seed = rng.choice(seeds)
        return f"{seed.name}: " + _write_mutated(rng, seed, seeds, case / self.file)

    def clean(self, case):
        shutil.copyfile(self.seeds()[0].path, case / self.file)


class ReadNet(_Prototxt):
    """``keras_caffe.read_net`` on a mutated net prototxt."""

    name, file = "read_net", "net.prototxt"

    def seeds(self):
        return corpus.nets()

    def run(self, case):
        keras_caffe.read_net("net.prototxt")


class ResolveNet(ReadNet):
    """``keras_caffe.resolve_net`` (phase TRAIN or TEST) on a mutated net prototxt."""

    name = "resolve_net"

    def make(self, rng, case):
        phase = rng.choice(("test", "train"))
        _args(case, phase=phase)
        return f"phase {phase}; " + super().make(rng, case)

    def clean(self, case):
        super().clean(case)
        _args(case, phase="test")

    def run(self, case):
        keras_caffe.resolve_net("net.prototxt", phase=_read_args(case)["phase"])


class BuildNet(_Prototxt):
    """``keras_caffe.build_net`` (``max_memory=256M``) on a mutated deploy-style net, half the
    time with the weights Caffe wrote for the seed (``allow_missing`` either way)."""

    name, file = "build_net", "net.prototxt"

    def seeds(self):
        return corpus.deploy_nets()

    def make(self, rng, case):
        seeds = self.seeds()
        seed = rng.choice(seeds)
        for extra in seed.path.parent.glob("*.binaryproto"):   # an InfogainLoss matrix
            shutil.copyfile(extra, case / extra.name)
        weights = seed.path.parent / "weights.caffemodel"
        use = weights.is_file() and rng.random() < 0.5
        if use:
            shutil.copyfile(weights, case / "weights.caffemodel")
        phase = "train" if "train_phase" in seed.name else "test"
        allow = rng.random() < 0.5
        _args(case, phase=phase, weights=use, allow_missing=allow)
        what = _write_mutated(rng, seed, seeds, case / self.file)
        return f"{seed.name} ({phase}{', weights' if use else ''}" \
               f"{', allow_missing' if allow else ''}): {what}"

    def clean(self, case):
        super().clean(case)
        _args(case, phase="test", weights=False, allow_missing=False)

    def run(self, case):
        args = _read_args(case)
        graph = keras_caffe.resolve_net("net.prototxt", phase=args["phase"])
        if len(graph.layers) > MAX_BUILD_LAYERS:
            return f"{len(graph.layers)} layers"
        try:
            keras_caffe.build_net(graph, "weights.caffemodel" if args["weights"] else None,
                                  max_memory=BUILD_MAX_MEMORY,
                                  allow_missing=args["allow_missing"])
        finally:
            keras.backend.clear_session()
        return None


class ReadWeights(Target):
    """``keras_caffe.read_weights`` and the streamed skeleton reader (``upgrade``) on a
    mutated caffemodel; ``binary.read_blob`` on a mutated mean file."""

    name = "read_weights"

    def seeds(self):
        return corpus.caffemodels() + corpus.binaryprotos()

    def make(self, rng, case):
        seed = rng.choice(self.seeds())
        data, what = mutate_binary.mutate(seed.data, rng)
        name = "mean.binaryproto" if seed.path.suffix == ".binaryproto" else "w.caffemodel"
        (case / name).write_bytes(data)
        return f"{seed.name}: {what}"

    def clean(self, case):
        shutil.copyfile(self.seeds()[0].path, case / "w.caffemodel")

    def run(self, case):
        if (case / "mean.binaryproto").exists():
            binary.read_blob("mean.binaryproto")
            return None
        with contextlib.suppress(keras_caffe.CaffeError):   # upgrade's streamed reader
            binary.read_net_skeleton("w.caffemodel")
        keras_caffe.read_weights("w.caffemodel")
        return None


class Solver(_Prototxt):
    """The solver reader (``read_upgraded_solver``), ``check_solver``, the snapshot prefix
    check, the nets it names, ``optimizer_from_solver`` and its learning rates."""

    name, file = "solver", "solver.prototxt"

    def seeds(self):
        return corpus.solvers()

    def run(self, case):
        path = self.file
        solver = read_upgraded_solver(path)
        for check in (train_net, test_nets, lambda s: check_prefix(s.snapshot_prefix, path)):
            with contextlib.suppress(keras_caffe.CaffeError):   # each may refuse alone
                check(solver)
        check_solver(solver, path)
        optimizer_from_solver(solver, path=path)
        schedule = CaffeLearningRate.from_solver(solver)
        for iteration in sorted({0, 1, max(0, solver.max_iter - 1), solver.max_iter}):
            schedule.value(iteration)
        return None


class Datum(Target):
    """Datum decoding: ``parse_datum``, ``record_fields`` and ``datum_to_array`` (with
    force_color / force_gray) on a mutated serialized Datum (raw, float, PNG, JPEG)."""

    name = "datum"

    def make(self, rng, case):
        value, what = data_mutations.datum(rng)
        mode = rng.choice(("", "color", "gray"))
        _args(case, mode=mode)
        (case / "datum.bin").write_bytes(value)
        return f"{what}; decoded {mode or 'unchanged'}"

    def clean(self, case):
        (case / "datum.bin").write_bytes(datasets.datum("png"))
        _args(case, mode="")

    def run(self, case):
        mode = _read_args(case)["mode"]
        value = (case / "datum.bin").read_bytes()
        where = "datum.bin"
        parsed = datum_format.parse_datum(value, where)
        datum_format.record_fields(parsed, where)
        datum_format.datum_to_array(parsed, mode == "color", mode == "gray", where)
        return None


class _DataLayer(Target):
    """A data layer's net opened as the commands open it (``keras_caffe.open_net`` with
    ``data=True`` under a 256M ``--max-memory``: sources opened, shapes read, memory
    projected, the model built) and three batches read -- past the end of the data,
    where the readers wrap (unless a batch holds over ``MAX_BATCH_ITEMS`` items)."""

    batches = 3

    def run(self, case):
        self.readers(case)
        phase = _read_args(case)["phase"]
        try:
            with memory.default_limit(BUILD_MAX_MEMORY):   # as a command's --max-memory
                opened = keras_caffe.open_net("net.prototxt", phase=phase, data=True,
                                              data_seed=0)
            try:
                biggest = max((s.batch_size for s in opened.sources.values()), default=0)
                if biggest > MAX_BATCH_ITEMS:
                    return f"a batch of {biggest} items"
                for _ in range(self.batches):
                    opened.next_batches()
            finally:
                for source in opened.sources.values():
                    close = getattr(source, "close", None)
                    if close is not None:
                        close()
        finally:
            keras.backend.clear_session()
        return None

    def readers(self, case):
        """Readers of the input's files besides the layer's own (each may refuse: the layer
        still gets the input)."""

    def make(self, rng, case):
        return self.build(rng, case, True)

    def clean(self, case):
        self.build(random.Random(0), case, False)


class LMDBData(_DataLayer):
    """Caffe's Data layer over an LMDB of mutated Datums (and a mutated transform_param or
    mean file)."""

    name = "lmdb"

    build = staticmethod(data_mutations.lmdb_case)


class HDF5Data(_DataLayer):
    """Caffe's HDF5Data layer over mutated HDF5 files and a mutated list of them."""

    name = "hdf5"

    build = staticmethod(data_mutations.hdf5_case)


class ImageData(_DataLayer):
    """Caffe's ImageData layer over a mutated image list and mutated images; also
    ``read_image_list`` and convert_imageset's strict ``parse_image_list``."""

    name = "image_list"

    build = staticmethod(data_mutations.image_case)

    def readers(self, case):
        with contextlib.suppress(keras_caffe.CaffeError):
            read_image_list("list.txt")
        with contextlib.suppress(keras_caffe.CaffeError):
            parse_image_list("list.txt")


#: What the readers may raise: a refusal naming the file, line or layer.
ALLOWED = (keras_caffe.CaffeError,)

TARGETS = {t.name: t for t in (ReadNet(), ResolveNet(), BuildNet(), ReadWeights(), Solver(),
                               Datum(), LMDBData(), HDF5Data(), ImageData())}
