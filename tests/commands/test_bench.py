"""`portrait-edge bench` through the CLI."""

import json
import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402
from edge_fixtures import copy_build, one_line_error, recipe_file  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return edge_fixtures.session_build(tmp_path_factory)


def test_bench_one_thread_without_memory(built, tmp_path, capsys):
    build = copy_build(built, tmp_path)
    assert cli.main(["bench", "--task", "parsing", "--checkpoint", str(built["student_path"]), "--no-teacher",
                     "--recipe", str(recipe_file(tmp_path)), "--build-dir", str(build), "--threads", "1",
                     "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "litert_int8" in out and "1 thr" in out
    rows = json.loads((build / "parsing" / "bench.json").read_text())["rows"]
    assert "teacher_pytorch_fp32" not in [r["variant"] for r in rows]


def test_bench_rejects_bad_thread_counts(built, tmp_path, capsys):
    assert cli.main(["bench", "--task", "parsing", "--threads", "0", "--build-dir", str(tmp_path)]) == 2
    assert "--threads" in one_line_error(capsys)
