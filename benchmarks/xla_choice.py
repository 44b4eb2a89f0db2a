"""What ``--xla`` chooses per net on this machine: the whole-net forward and forward-backward
passes timed warm with and without XLA, as ``keras-caffe time --xla`` measures them
(``keras_caffe.xla``), on the deploy nets of ``cpu_inference.py`` with filler weights.

Columns per net and batch: ``plain``/``xla`` = ms per pass without/with XLA (medians of
alternating blocks), ``compile`` = the first XLA call in s, ``kept`` = what ``--xla`` runs
(XLA only where it was faster), and ``xla/plain``; ``run`` = the ms per pass ``--xla`` then
gives, never above ``plain`` by more than the noise of the measurement.

::

    python benchmarks/xla_choice.py                               # every net, batch 1
    python benchmarks/xla_choice.py --nets mobilenet_v2 --batches 1,8
"""

from __future__ import annotations

import argparse
import time

import _common as C  # noqa: E402  (puts the repository on sys.path)

import cpu_nets  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default=",".join(cpu_nets.SIZES), help="comma-separated (%(default)s)")
    p.add_argument("--batches", default="1", help="comma-separated batch sizes (%(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=10, help="timed passes after choosing")
    args = p.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    C.quiet_tensorflow()
    from keras_caffe.tools.timing import time_net

    rows, notes, start = [], [], time.perf_counter()
    for name in args.nets.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            result = time_net(cpu_nets.deploy_text(name, batch), phase="test", xla=True,
                              per_layer=False, iterations=args.iterations, warmup=1)
            for what, key, ms in (("forward", "forward", result["forward_ms"]),
                                  ("fwd-bwd", "forward_backward",
                                   result["forward_backward_ms"])):
                c = result["xla_choice"][key]
                if c["plain_ms"] is None:
                    notes.append(f"  ({len(notes) + 1}) {name} b{batch} {what}: {c['reason']}")
                    rows.append([name, batch, what, "", "", "", f"plain ({len(notes)})", "",
                                 f"{ms:.1f}"])
                    continue
                rows.append([name, batch, what, f"{c['plain_ms']:.1f}", f"{c['xla_ms']:.1f}",
                             f"{c['compile_s']:.1f}", "xla" if c["used"] else "plain",
                             f"{c['xla_ms'] / c['plain_ms']:.2f}", f"{ms:.1f}"])
    print(f"\n--xla per net ({args.threads} threads, TF {tf.__version__}); ms per pass")
    C.print_table(["net", "batch", "pass", "plain", "xla", "compile", "kept", "xla/plain",
                   "run"], rows)
    for line in notes:
        print(line)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
