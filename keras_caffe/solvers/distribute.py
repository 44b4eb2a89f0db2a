"""Training over several devices or workers with Caffe's trajectory.

Two kinds of ``tf.distribute`` strategy, with Caffe's two ways of splitting a batch:

* ``mirrored`` (the devices of one process): the prototxt's batch is the global batch, and
  each replica takes an equal slice of it.
* ``multi-worker`` (the processes of ``TF_CONFIG``): Caffe's data-parallel training
  (``caffe train --gpu 0,1``, ``parallel.cpp``).  Every worker reads its own share of the
  training data (``BatchSource.shard``: item ``o`` of the stream goes to worker
  ``o % workers``, as Caffe's ``DataLayer::Skip``), its batch keeps the prototxt's
  ``batch_size``, and the gradients are averaged over the workers (Caffe scales the summed
  diffs by ``1 / solver_count``).  The global batch is ``batch_size * workers``, made of the
  records one reader would put in a batch of that size, so training follows the trajectory
  of one process with that batch size.  Test nets are not split (Caffe tests on the root
  solver only; here every worker runs them), and only the chief writes files.

``local_cluster(n)`` gives the ``TF_CONFIG`` of ``n`` workers on this machine (what
``keras-caffe train --workers N`` starts, see ``tools.workers``).
"""

from __future__ import annotations

import json
import socket

from ..errors import NetError


def make_strategy(kind: str | None, gpu: str | None = None):
    """``mirrored`` (all visible GPUs, or the CPU), ``multi-worker`` (from TF_CONFIG), or
    None; ``--gpu all`` with several GPUs implies ``mirrored``."""
    import tensorflow as tf

    if kind is None and gpu == "all" and len(tf.config.list_logical_devices("GPU")) > 1:
        kind = "mirrored"
    if kind is None:
        return None
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown distribution {kind!r}")


def worker_rank(strategy) -> tuple[int, int]:
    """``(rank, workers)`` of this process in a multi-worker strategy (the chief first, then
    the workers by index); ``(0, 1)`` for one process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 0, 1
    spec = resolver.cluster_spec().as_dict()
    chiefs, workers = len(spec.get("chief", [])), len(spec.get("worker", []))
    if resolver.task_type == "chief":
        return 0, chiefs + workers
    if resolver.task_type != "worker":
        raise NetError(f"a '{resolver.task_type}' task does not train (TF_CONFIG's task must be "
                       "a chief or a worker)")
    return chiefs + int(resolver.task_id), chiefs + workers


def is_chief(strategy) -> bool:
    """Whether this process writes the files (snapshots, logs): the only process, or rank 0."""
    return worker_rank(strategy)[0] == 0


def shard_sources(sources: dict, strategy) -> int:
    """Give each training source its worker's share (multi-worker) and check that each batch
    splits evenly over this process's replicas; returns how many replicas this process runs.
    Under ``mirrored`` the batch is the global one; under ``multi-worker`` it is the worker's."""
    rank, workers = worker_rank(strategy)
    local = strategy.num_replicas_in_sync // workers
    for source in sources.values():
        source.shard(rank, workers)
        if source.batch_size % local:
            raise NetError(f"batch_size {source.batch_size} does not split evenly over {local} "
                           "replicas", layer=source.layer)
    return local


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` ports free on ``host`` now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_cluster(n: int, host: str = "127.0.0.1") -> list[str]:
    """The ``TF_CONFIG`` of each of ``n`` workers on this machine (worker 0 is the chief)."""
    addresses = [f"{host}:{p}" for p in free_ports(n, host)]
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            for i in range(n)]
