"""`portrait-edge report` through the CLI: from an existing build, and `--all` from (tiny) shipped weights."""

import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402
from edge_fixtures import one_line_error, use_random_engine  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return edge_fixtures.session_build(tmp_path_factory)


def test_report_from_a_build(built, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["report", "--out", str(out), "--build-dir", str(built["build"])]) == 0
    assert "records" in capsys.readouterr().out
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert (out / "parsing_accuracy_vs_size.png").is_file()


def test_report_without_builds(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path / "r"), "--build-dir", str(tmp_path / "nothing")]) == 2
    assert "no exported tasks" in one_line_error(capsys)


def test_report_unknown_task(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path), "--task", "hairstyle"]) == 2
    assert "unknown task" in one_line_error(capsys)


def test_report_all_runs_the_pipeline_from_shipped_weights_and_bundles(tmp_path, monkeypatch, capsys):
    """`report --all` with a tiny shipped student (LiteRT only, to stay fast)."""
    import portrait_edge.edge.models as models
    import portrait_edge.edge.recipe as recipe
    from portrait_edge.tasks import get_task

    use_random_engine(monkeypatch)
    weights, recipes = tmp_path / "weights", tmp_path / "convert"
    recipes.mkdir()
    (recipes / "parsing.yaml").write_text(edge_fixtures.TINY_RECIPE_YAML + "formats: {litert: [fp32, int8]}\n")
    task = get_task("parsing")
    edge_fixtures.save_tiny_checkpoint(weights / "parsing_student", task, edge_fixtures.tiny_model(task))
    monkeypatch.setattr(models, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(recipe, "RECIPE_DIR", recipes)
    out, android, ios = tmp_path / "report", tmp_path / "android_assets", tmp_path / "ios_assets"
    args = ["report", "--all", "--out", str(out), "--build-dir", str(tmp_path / "build"), "--no-memory",
            "--android-dir", str(android), "--ios-dir", str(ios)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "no shipped student for: shadow" in printed and "bundles: android parsing" in printed
    assert (out / "report.md").is_file()
    assert sorted(p.name for p in (android / "parsing").glob("*.tflite")) == ["parsing_fp32.tflite", "parsing_int8.tflite"]
    # a second run finds every stage current and redoes nothing
    assert cli.main(args) == 0
    assert "export is current" in capsys.readouterr().out
    # an edited recipe makes the files stale: exported again
    (recipes / "parsing.yaml").write_text(edge_fixtures.TINY_RECIPE_YAML + "formats: {litert: [fp32, int8]}\n"
                                          "int8_float_modules: [stem]\n")
    assert cli.main(args) == 0
    assert "parsing: exporting" in capsys.readouterr().out
