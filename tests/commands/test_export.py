"""`portrait-edge export` through the CLI: bad inputs are one-line errors; a tiny student converts."""

import json
import sys
from pathlib import Path

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge"))
import edge_fixtures  # noqa: E402
from edge_fixtures import one_line_error, recipe_file, use_random_engine  # noqa: E402


def test_missing_checkpoint(tmp_path, capsys):
    assert cli.main(["export", "--task", "parsing", "--checkpoint", str(tmp_path / "nope.safetensors"),
                     "--build-dir", str(tmp_path)]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_unknown_task(tmp_path, capsys):
    assert cli.main(["export", "--task", "hairstyle", "--build-dir", str(tmp_path)]) == 2
    assert "unknown task 'hairstyle'" in one_line_error(capsys)


def test_corrupt_checkpoint(tmp_path, capsys):
    from portrait_edge.tasks import get_task

    task = get_task("parsing")
    path = edge_fixtures.save_tiny_checkpoint(tmp_path / "student", task, edge_fixtures.tiny_model(task))
    path.write_bytes(path.read_bytes()[:200])
    assert cli.main(["export", "--task", "parsing", "--checkpoint", str(path), "--build-dir", str(tmp_path)]) == 2
    assert "corrupt" in one_line_error(capsys)


def test_checkpoint_of_another_task(tmp_path, capsys):
    from portrait_edge.tasks import get_task

    task = get_task("shadow")
    path = edge_fixtures.save_tiny_checkpoint(tmp_path / "student", task, edge_fixtures.tiny_model(task))
    assert cli.main(["export", "--task", "parsing", "--checkpoint", str(path), "--build-dir", str(tmp_path)]) == 2
    assert "for task 'shadow'" in one_line_error(capsys)


def test_unknown_format(tmp_path, capsys):
    assert cli.main(["export", "--task", "parsing", "--formats", "onnx", "--build-dir", str(tmp_path)]) == 2
    assert "unknown format 'onnx'" in one_line_error(capsys)


def test_export_litert_of_a_tiny_student(tmp_path, monkeypatch, capsys):
    from portrait_edge.tasks import get_task

    use_random_engine(monkeypatch)
    task = get_task("parsing")
    path = edge_fixtures.save_tiny_checkpoint(tmp_path / "student", task, edge_fixtures.tiny_model(task))
    assert cli.main(["export", "--task", "parsing", "--checkpoint", str(path), "--recipe", str(recipe_file(tmp_path)),
                     "--formats", "litert", "--build-dir", str(tmp_path / "build")]) == 0
    assert "3 files" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "build" / "parsing" / "export.json").read_text())
    assert [v["id"] for v in manifest["variants"]] == ["litert_fp32", "litert_fp16", "litert_int8"]
    from portrait_edge.edge.artifacts import portable_path

    assert manifest["source"]["path"] == portable_path(path)


def test_teacher_checkpoint_given_as_the_student(tmp_path, capsys):
    from portrait_edge.tasks import get_task

    task = get_task("parsing")
    path = edge_fixtures.save_tiny_checkpoint(tmp_path / "t", task, edge_fixtures.tiny_model(task), role="teacher")
    assert cli.main(["export", "--task", "parsing", "--checkpoint", str(path), "--build-dir", str(tmp_path)]) == 2
    assert "is a teacher, not a student" in one_line_error(capsys)


def test_export_formats_keeps_the_other_formats_listed_or_removes_them(tmp_path, monkeypatch, capsys):
    """--formats re-exports some variants: files of the other formats stay listed while they come from the
    same checkpoint, and are removed when another checkpoint is exported (no unlisted files)."""
    from portrait_edge.tasks import get_task

    use_random_engine(monkeypatch)
    task = get_task("parsing")
    recipe, build = str(recipe_file(tmp_path)), tmp_path / "build"
    first = edge_fixtures.save_tiny_checkpoint(tmp_path / "a", task, edge_fixtures.tiny_model(task, seed=0))

    def export(path, formats):
        assert cli.main(["export", "--task", "parsing", "--checkpoint", str(path), "--recipe", recipe,
                         "--formats", formats, "--build-dir", str(build)]) == 0
        capsys.readouterr()
        manifest = json.loads((build / "parsing" / "export.json").read_text())
        on_disk = {p.name for p in (build / "parsing").iterdir() if p.suffix in (".tflite", ".pte")}
        listed = {v["file"] for v in manifest["variants"]}
        assert on_disk <= listed, on_disk - listed
        return sorted(v["id"] for v in manifest["variants"])

    assert export(first, "executorch") == ["executorch_fp32", "executorch_int8"]
    assert export(first, "litert") == ["executorch_fp32", "executorch_int8", "litert_fp16", "litert_fp32", "litert_int8"]
    second = edge_fixtures.save_tiny_checkpoint(tmp_path / "b", task, edge_fixtures.tiny_model(task, seed=3))
    assert export(second, "litert") == ["litert_fp16", "litert_fp32", "litert_int8"]
    assert not list((build / "parsing").glob("*.pte")) and not list((build / "parsing").glob("*.pt2"))
