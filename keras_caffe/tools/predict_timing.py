"""``keras-caffe time --runtime``: the inference forward pass as :func:`keras_caffe.predictor`
runs it (TEST phase, fixed shapes), on the runtime asked for or the one ``auto`` picks."""

from __future__ import annotations

from typing import Mapping

from ..export.predictor import predictor, sample_feeds, time_calls


def time_runtime(net, weights=None, runtime: str = "auto", iterations: int = 50,
                 batch: int | None = None, *, shapes: Mapping[str, tuple] | None = None,
                 warmup: int = 2, seed: int = 0, allow_missing: bool = False,
                 stages=(), level=None) -> dict:
    """``{"runtime", "chosen", "forward_ms", "iterations", "timings", "reason", "inputs"}``:
    the median ms per forward call over ``iterations`` calls (after ``warmup``) of the
    predictor of ``net`` at ``shapes`` (NCHW; default the prototxt's, with ``batch``)."""
    kwargs = dict(stages=stages, level=level, allow_missing=allow_missing)
    if batch is not None:
        kwargs["batch"] = batch
    run = predictor(net, weights, input_shapes=shapes or None, runtime=runtime, **kwargs)
    feeds = sample_feeds(run.inputs, seed)
    ms = time_calls(run, feeds, iterations, warmup)
    return {"runtime": runtime, "chosen": run.runtime, "forward_ms": ms,
            "iterations": iterations, "timings": run.timings, "reason": run.reason,
            "inputs": {k: list(v) for k, v in run.inputs.items()}}


def format_runtime_report(result: dict) -> str:
    shapes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in result["inputs"].items())
    lines = ["*** Benchmark begins ***",
             f"Testing inference for {result['iterations']} iterations (runtime "
             f"{result['runtime']}: {result['chosen']}; {shapes}).",
             f"Average Forward pass: {result['forward_ms']:.6g} ms.",
             "*** Benchmark ends ***"]
    if result["reason"]:
        lines.append(f"Note: {result['chosen']}: {result['reason']}.")
    return "\n".join(lines)
