"""`portrait-edge train / distill / eval` through the CLI, on a tiny fake data engine."""

import json
import sys
from pathlib import Path

import pytest

from portrait_edge import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
import fake_data  # noqa: E402
from fake_data import tiny_recipe  # noqa: E402


@pytest.fixture
def fake_engine(monkeypatch):
    monkeypatch.setattr(fake_data.TaskSpec, "make_batch", fake_data.fake_make_batch)
    import portrait_edge.train.evaluate as evaluate

    monkeypatch.setattr(evaluate, "test_seed_base", lambda: fake_data.TEST_SEED_BASE)


def test_train_distill_eval(tmp_path, fake_engine, capsys):
    teacher_recipe = tiny_recipe(tmp_path, steps=10, checkpoint_every=5)
    assert cli.main(["train", "--recipe", str(teacher_recipe), "--out", str(tmp_path / "t"), "--no-progress"]) == 0
    assert "trained parsing teacher: 10 steps" in capsys.readouterr().out
    # the same run folder again without --resume is refused; with --resume it is a no-op finish
    assert cli.main(["train", "--recipe", str(teacher_recipe), "--out", str(tmp_path / "t")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", str(teacher_recipe), "--out", str(tmp_path / "t"), "--resume",
                     "--no-progress"]) == 0
    assert "differs" not in capsys.readouterr().err
    assert cli.main(["train", "--recipe", str(teacher_recipe), "--out", str(tmp_path / "t"), "--resume",
                     "--no-progress", "--set", "steps=12"]) == 0
    captured = capsys.readouterr()
    assert "differs from the run's in steps" in captured.err and "12 steps" in captured.out

    student_recipe = tiny_recipe(tmp_path, "student.yaml", role="student", steps=5,
                                 extra="loss: {output_distill: 1.0, feature_distill: 0.5}\n"
                                       "distill: {teacher: missing.safetensors}\n")
    assert cli.main(["distill", "--recipe", str(student_recipe), "--out", str(tmp_path / "s")]) == 2
    assert "teacher checkpoint not found" in capsys.readouterr().err
    assert cli.main(["distill", "--recipe", str(student_recipe), "--out", str(tmp_path / "s"), "--no-progress",
                     "--teacher", str(tmp_path / "t" / "final.safetensors")]) == 0
    assert cli.main(["distill", "--recipe", str(teacher_recipe), "--out", str(tmp_path / "x")]) == 2
    assert "needs a recipe with distill.teacher" in capsys.readouterr().err

    checkpoint = tmp_path / "s" / "final.safetensors"
    assert cli.main(["eval", "--checkpoint", str(checkpoint), "--n", "6", "--size", "32", "--batch-size", "4",
                     "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "m.json"), "--write-card"]) == 0
    out = capsys.readouterr().out
    assert "miou" in out and "mean_f1" in out and "6 samples at 32px" in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["split"] == "synthetic-test" and metrics["n"] == 6 and 0 <= metrics["miou"] <= 1
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    assert card["metrics"]["synthetic-test"]["miou"] == metrics["miou"]
    assert "synthetic-validation" in card["metrics"]
    # --write-card keeps the card consistent with the weights
    assert cli.main(["eval", "--checkpoint", str(checkpoint), "--n", "2", "--size", "32", "--cache-dir", ""]) == 0


@pytest.mark.parametrize("args,message", [
    (["train", "--recipe", "nope.yaml"], "recipe not found"),
    (["eval", "--checkpoint", "nope.safetensors"], "checkpoint not found"),
    (["eval", "--checkpoint", "x.safetensors", "--reader", "celebamask-hq"], "go together"),
])
def test_bad_input_is_one_line(args, message, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_size_for_the_model(tmp_path, fake_engine, capsys):
    assert cli.main(["train", "--recipe", str(tiny_recipe(tmp_path, role="student", steps=2)), "--out",
                     str(tmp_path / "s"), "--no-progress"]) == 0
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "s" / "final.safetensors"), "--size", "48"]) == 2
    assert "multiple of 32" in capsys.readouterr().err


def test_eval_on_a_real_dataset_reader(tmp_path, fake_engine, capsys):
    """A two-face CelebAMask-HQ folder in its published layout, evaluated through --reader."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "celeba"
    (root / "CelebA-HQ-img").mkdir(parents=True)
    (root / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    for face in (0, 1):
        Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(root / "CelebA-HQ-img" / f"{face}.jpg")
        skin = np.zeros((64, 64), np.uint8)
        skin[16:48, 16:48] = 255
        Image.fromarray(skin).save(root / "CelebAMask-HQ-mask-anno" / "0" / f"{face:05d}_skin.png")
    assert cli.main(["train", "--recipe", str(tiny_recipe(tmp_path, role="student", steps=2)), "--out",
                     str(tmp_path / "s"), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "s" / "final.safetensors"), "--reader", "celebamask-hq",
                     "--root", str(root), "--size", "32", "--json", str(tmp_path / "m.json")]) == 0
    assert "2 samples at 32px" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["split"].startswith("celebamask-hq:") and metrics["n"] == 2
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "s" / "final.safetensors"), "--reader", "celebamask-hq",
                     "--root", str(tmp_path / "nothing")]) == 2


def test_task_without_a_loss_is_reported(tmp_path, capsys, monkeypatch):
    from portrait_edge.tasks import get_task
    from portrait_edge.tasks.base import TaskSpec

    monkeypatch.setattr(type(get_task("parsing")), "loss", TaskSpec.loss)
    assert cli.main(["train", "--recipe", str(tiny_recipe(tmp_path, steps=2)), "--out", str(tmp_path / "t")]) == 3
    assert "does not define TaskSpec.loss" in capsys.readouterr().err


def test_eval_scores_the_input_as_a_baseline_for_image_tasks(tmp_path, capsys):
    assert cli.main(["eval", "--baseline", "input", "--task", "shadow", "--n", "2", "--size", "64", "--cache-dir", "",
                     "--json", str(tmp_path / "input.json")]) == 0
    metrics = json.loads((tmp_path / "input.json").read_text())
    assert metrics["checkpoint"] == "baseline:input" and metrics["n"] == 2
    assert metrics["psnr_shadow"] < metrics["psnr"] < 100  # the input is wrong where the shadow is
    assert cli.main(["eval", "--baseline", "input", "--task", "parsing"]) == 2
    assert "scores image tasks" in capsys.readouterr().err
    assert cli.main(["eval", "--baseline", "input"]) == 2
    assert "needs --task" in capsys.readouterr().err
    assert cli.main(["eval"]) == 2
    assert "--checkpoint PATH, or --baseline input" in capsys.readouterr().err
