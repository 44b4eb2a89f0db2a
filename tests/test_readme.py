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


def test_forks_table_names_every_fork_type():
    """Each type declared with a fork origin has a row in the README's forks table, and the
    table names no type that is not declared (a fork type added or renamed shows here)."""
    import keras_caffe  # noqa: F401  (declares the types)
    from keras_caffe.graph import types

    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- forks:begin -->", 1)[1].split("<!-- forks:end -->", 1)[0]
    cells = [row.split("|")[2] for row in table.strip().splitlines()[2:]]
    cells = [re.sub(r"\([^)]*\)", "", cell) for cell in cells]   # notes in brackets
    named = {t.strip().split(" ")[0] for cell in cells for t in cell.split(",")} - {""}
    forks = {s.name for s in types.declared() if s.origin not in (types.BVLC, types.USER)}
    assert forks and forks <= named, sorted(forks - named)
    assert named <= {s.name for s in types.declared()}, sorted(named - forks)
