#!/usr/bin/env python
"""Fuzz keras_caffe's readers for a while: seeded mutations of real prototxts, caffemodels,
solvers and data records, each call under a time and a memory limit, only CaffeErrors allowed.

    python scripts/fuzz.py --minutes 10 --seed 1                  # every target, round robin
    python scripts/fuzz.py --minutes 2 --seed 1 --targets read_net,build_net --save /tmp/fails
    python scripts/fuzz.py --seed 1 --replay lmdb:15              # one input, in this process

It prints the inputs tried per target (accepted, refused with a CaffeError, skipped) and every
distinct failure -- another exception, a hang, a crash, the memory limit -- with the input
saved under ``--save`` (default: a new folder in the system's temporary folder, made only
when something fails; never a folder inside the repository).  ``--replay TARGET:INDEX``
remakes one input (a pure function of the seed, the target and the index) in
``SAVE/replay/TARGET-INDEX`` and runs it here, in that folder, showing the whole traceback.
The work (``tests/fuzzing``) is shared with ``tests/test_fuzz.py``, which runs a short fixed
campaign in the suite.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzzing import campaign  # noqa: E402
from tests.fuzzing.workdir import inside, outside_repository  # noqa: E402


def replay(target_name: str, index: int, seed, save: Path) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tests.fuzzing.child import load_targets

    targets, allowed = load_targets([target_name])
    target = targets[target_name]
    folder = outside_repository(save / "replay" / f"{target_name}-{index:06d}",
                                "the replay's folder")
    folder.mkdir(parents=True, exist_ok=True)
    mutation = target.make(random.Random(f"{seed}:{target_name}:{index}"), folder)
    print(f"{target_name} #{index} (seed {seed}): {mutation}\ninput: {folder}")
    started = time.perf_counter()
    try:
        with inside(folder):
            why = target.run(folder)
        print(f"accepted in {time.perf_counter() - started:.2f} s"
              + (f" (skipped: {why})" if why else ""))
        return 0
    except allowed as exc:
        print(f"refused in {time.perf_counter() - started:.2f} s: "
              f"{type(exc).__name__}: {exc}")
        return 0
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--seed", default="1", help="the campaign's seed (default 1)")
    parser.add_argument("--targets", default=",".join(campaign.TARGET_NAMES),
                        help=f"comma-separated, from {', '.join(campaign.TARGET_NAMES)}")
    parser.add_argument("--save", help="where failing inputs go (default: a new folder "
                        "under the system's temporary folder)")
    parser.add_argument("--limit", type=float, default=5.0,
                        help="seconds per call before it counts as a hang (default 5)")
    parser.add_argument("--memory", default="2G",
                        help="memory a call may take above the child's footprint (default 2G)")
    parser.add_argument("--slice", type=float, default=30.0,
                        help="seconds per target before the next one's turn (default 30)")
    parser.add_argument("--replay", metavar="TARGET:INDEX",
                        help="remake one input and run it in this process")
    args = parser.parse_args(argv)
    save = Path(args.save) if args.save else Path(tempfile.gettempdir()) / \
        f"keras-caffe-fuzz-{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        save = outside_repository(save, "--save")
    except ValueError as exc:
        parser.error(str(exc))
    if args.replay:
        name, _, index = args.replay.partition(":")
        if name not in campaign.TARGET_NAMES or not index.isdigit():
            parser.error(f"--replay takes TARGET:INDEX, TARGET one of "
                         f"{', '.join(campaign.TARGET_NAMES)}; got {args.replay!r}")
        return replay(name, int(index), args.seed, save)
    targets = [t for t in args.targets.split(",") if t]
    unknown = sorted(set(targets) - set(campaign.TARGET_NAMES + campaign.SELFTEST_NAMES))
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(campaign.TARGET_NAMES)}")
    started = time.time()

    def progress(report):
        print(f"[{(time.time() - started) / 60:5.1f} min] "
              + ", ".join(f"{t} {n}" for t, n in report.tried.items())
              + f"; failures {len(report.failures)}", flush=True)

    report = campaign.run(targets, args.seed, minutes=args.minutes, slice_seconds=args.slice,
                          progress=progress, save=save, limit=args.limit, memory=args.memory)
    print(f"\nseed {args.seed}, {report.seconds / 60:.1f} min, {sum(report.tried.values())} "
          f"inputs, {report.children} child process(es)\n")
    print(report.table())
    if report.failures:
        print(f"\n{len(report.failures)} failure(s), {len(report.signatures())} distinct "
              f"(inputs saved under {save}):\n")
        print(report.describe())
    else:
        print("\nno failures")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
