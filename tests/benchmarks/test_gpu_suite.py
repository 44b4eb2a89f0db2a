"""benchmarks/gpu_suite.sh starts and checks what it times: ``--smoke`` runs its sections on
the CPU with the reduced nets and prints every row; a converted model that no longer matches
its stock twin makes it exit 1.  (The full ``--smoke`` matrix -- both nets, three precisions
-- takes minutes on a 2-core machine; these runs keep to one net and one precision, and the
suite's own row list is checked against what it prints.)"""

import json
import math
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUITE = ROOT / "benchmarks" / "gpu_suite.sh"


def run_suite(tmp_path, *args):
    out = tmp_path / "suite.json"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(["bash", str(SUITE), "--smoke", "--json", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=600)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def table_lines(stdout):
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("section "))
    body = []
    for line in lines[start + 2:]:
        if not line or line.startswith("  ") or line.startswith("total "):
            break
        body.append(line)
    return body


def test_smoke_prints_every_row_and_exits_0(tmp_path):
    proc, result = run_suite(tmp_path, "--nets", "resnet50", "--precisions", "float32")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = result["rows"]
    keys = [tuple(r[:6]) for r in rows]
    expected = [
        ("time", "googlenet", "float32", "off", 2, "whole net fwd / bwd ms (CPU)"),
        ("time", "googlenet", "float32", "off", 2, "sum of 29 layers fwd ms (CPU)"),
        ("infer", "resnet50", "float32", "off", 1, "latency ms"),
        ("infer", "resnet50", "float32", "off", 4, "img/s"),
        ("train", "resnet50", "float32", "off", 2, "img/s"),
        ("train", "resnet50", "float32", "on", 2, "img/s"),
        ("data", "resnet50", "mixed_float16", "off", 4, "Solver.step img/s: LMDB vs cached batch"),
        ("data", "resnet50", "mixed_float16", "off", 4, "pipeline alone img/s vs cached step"),
        ("data", "resnet50", "mixed_float16", "off", 4, "GPU idle fraction (1 - cached/LMDB step)"),
    ]
    assert keys == expected
    assert result["failures"] == []
    assert all(r[-1] == "ok" for r in rows)
    for r in rows:
        ours = float(r[6])
        assert math.isfinite(ours)
        if r[5].startswith("GPU idle"):
            assert -1.0 < ours < 1.0
        else:
            assert ours > 0
        if r[8]:                                    # a paired ratio of two speeds
            assert 0 < float(r[8]) < 1000
        if r[0] in ("infer", "train"):
            assert r[9].startswith(">= 0.97: ")
    printed = table_lines(proc.stdout)
    assert len(printed) == len(rows)
    for line, r in zip(printed, rows):
        assert line.split()[:5] == [str(c) for c in r[:5]]
        assert r[5] in line and line.rstrip().endswith("ok")
    # the checks ran before anything was timed, with their figures in the notes
    assert "resnet50: logits: max|diff|, max|value| " in proc.stdout
    assert "data: deferred vs host pipeline, 2 batches: max rel diff" in proc.stdout
    assert "MISMATCH" not in proc.stdout


def test_a_mismatching_output_exits_1(tmp_path):
    proc, result = run_suite(tmp_path, "--sections", "train", "--nets", "resnet50",
                             "--precisions", "float32", "--perturb")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [r[:3] + r[-1:] for r in result["rows"]] == [
        ["check", "resnet50", "float32", "MISMATCH"]]
    assert [k for k, _ in result["failures"]] == ["mismatch"]
    assert "resnet50: converted and stock differ (logits: " in result["failures"][0][1]
    assert "FAILED: 1 problem(s)" in proc.stderr
    assert "train     resnet50" not in proc.stdout        # nothing was timed
