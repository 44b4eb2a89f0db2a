"""The report of ``keras-caffe time``, in ``caffe time``'s wording."""

from __future__ import annotations

NOTE = ("per-layer times are of each layer compiled and run alone; they do not add up to the "
        "whole-net pass, which fuses and overlaps work across layers")


def format_report(result: dict) -> str:
    """The report as ``caffe time`` logs it (without glog's prefixes)."""
    lines = ["*** Benchmark begins ***",
             f"Testing for {result['iterations']} iterations "
             f"({result['device']}, {result['precision']}{', XLA' if result['xla'] else ''}).",
             "Average time per layer: "]
    for layer in result["layers"]:
        for what in ("forward", "backward"):
            value = layer[f"{what}_ms"]
            shown = "n/a" if value is None else f"{value:.6g}"
            lines.append(f"{layer['name']:>10}\t{what}: {shown} ms.")
    lines += [f"Average Forward pass: {result['forward_ms']:.6g} ms.",
              f"Average Backward pass: {result['backward_ms']:.6g} ms.",
              f"Average Forward-Backward: {result['forward_backward_ms']:.6g} ms.",
              f"Total Time: {result['total_ms']:.6g} ms.",
              "*** Benchmark ends ***"]
    lines += [f"Note: {n}." for n in result.get("notes", ())]
    for layer in result["layers"]:
        if layer.get("error"):
            lines.append(f"Note: {layer['name']} was not timed: {layer['error']}")
    return "\n".join(lines)
