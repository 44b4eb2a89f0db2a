"""The README stays true: its layer table is the registry's, and its commands exist."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_layer_table_is_generated_from_the_registry():
    result = subprocess.run([sys.executable, "scripts/update_readme.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_cli_command_in_the_readme_exists():
    from keras_caffe.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"^keras-caffe ([a-z-]+)", readme, flags=re.M))
    used |= set(re.findall(r"&& keras-caffe ([a-z-]+)", readme))
    assert used and used <= commands, used - commands


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'python -m pip install -e ".[test]" && python -m pytest'
    assert command in readme and command in ci
