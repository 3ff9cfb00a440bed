"""`portrait-edge verify` through the CLI."""

import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402
from edge_fixtures import copy_build, one_line_error, recipe_file, use_random_engine  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return edge_fixtures.session_build(tmp_path_factory)


def _args(built, build, tmp_path):
    return ["verify", "--task", "parsing", "--checkpoint", str(built["student_path"]), "--teacher-checkpoint",
            str(built["teacher_path"]), "--recipe", str(recipe_file(tmp_path)), "--build-dir", str(build), "--samples", "2"]


def test_verify_passes_on_a_good_build(built, tmp_path, monkeypatch, capsys):
    use_random_engine(monkeypatch)
    build = copy_build(built, tmp_path)
    assert cli.main(_args(built, build, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "parsing: all checks passed (2 samples" in out
    assert "litert_fp32" in out and "PASS" in out


def test_verify_names_a_corrupt_file(built, tmp_path, monkeypatch, capsys):
    use_random_engine(monkeypatch)
    build = copy_build(built, tmp_path)
    model = build / "parsing" / "parsing_student_fp32.pte"
    model.write_bytes(model.read_bytes()[:-10])
    assert cli.main(_args(built, build, tmp_path)) == 2
    assert "parsing_student_fp32.pte: checksum mismatch with export.json" in one_line_error(capsys)


def test_verify_without_export(built, tmp_path, monkeypatch, capsys):
    use_random_engine(monkeypatch)
    assert cli.main(_args(built, tmp_path / "empty", tmp_path)) == 2
    assert "export manifest" in one_line_error(capsys)
