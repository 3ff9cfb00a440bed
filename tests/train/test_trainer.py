"""The training loop end to end on fake data: learning, distillation, checkpoints, kill + resume, DDP."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fake_data import FAKE_RUN, tiny_recipe

from portrait_edge.train.checkpoint import load_checkpoint, load_model
from portrait_edge.train.recipe import load_recipe
from portrait_edge.train.trainer import learning_rate, train

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _losses(run_dir: Path) -> list[float]:
    with open(run_dir / "train.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def test_learning_rate_schedule():
    recipe = load_recipe(ROOT / "training/parsing/teacher.cpu-quick.yaml", {"steps": 110, "optimizer.lr": 1.0,
                                                                             "optimizer.warmup_steps": 10,
                                                                             "optimizer.min_lr_ratio": 0.0})
    assert learning_rate(recipe, 0) == pytest.approx(0.1)
    assert learning_rate(recipe, 9) == pytest.approx(1.0)
    assert learning_rate(recipe, 60) == pytest.approx(0.5)  # half-way through the cosine
    assert learning_rate(recipe, 110) == pytest.approx(0.0, abs=1e-9)


def test_teacher_then_distilled_student(tmp_path, fake_engine):
    teacher_recipe = load_recipe(tiny_recipe(tmp_path, steps=40, log_every=10))
    teacher = train(teacher_recipe, tmp_path / "teacher", show_progress=False)
    losses = _losses(tmp_path / "teacher")
    assert losses[-1] < losses[0]
    assert teacher.steps == 40 and 0 <= teacher.metrics["miou"] <= 1
    _, card = load_checkpoint(teacher.checkpoint)
    assert card["role"] == "teacher" and card["arch"] == "unet" and card["steps"] == 40
    assert card["metrics"]["synthetic-validation"]["n"] == 4

    student_recipe = load_recipe(tiny_recipe(
        tmp_path, "student.yaml", role="student", steps=10,
        extra=f"loss: {{gt: 1.0, output_distill: 1.0, feature_distill: 0.5}}\n"
              f"distill: {{teacher: {teacher.checkpoint}, feature_taps: 3}}\n"))
    student = train(student_recipe, tmp_path / "student", show_progress=False)
    model, card = load_model(student.checkpoint)
    assert card["role"] == "student" and card["teacher"]["sha256"]
    with open(tmp_path / "student" / "train.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert {"ce", "dice", "kd_output", "kd_feature", "loss", "samples_per_s", "lr"} <= set(header)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 19, 32, 32)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after the first checkpoint, resume; weights must equal an uninterrupted run's, bit for bit."""
    recipe = tiny_recipe(tmp_path, role="student", steps=60, checkpoint_every=10, log_every=10, eval_n=0)
    subprocess.run([sys.executable, str(FAKE_RUN), str(recipe), str(tmp_path / "whole")], env=ENV, check=True,
                   capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(FAKE_RUN), str(recipe), str(killed)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (killed / "last.resume.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = torch.load(killed / "last.resume.pt", weights_only=False)["step"]
    assert 0 < interrupted_at < 60, "the run was not interrupted"
    assert not (killed / "final.safetensors").exists()

    subprocess.run([sys.executable, str(FAKE_RUN), str(recipe), str(killed), "--resume"], env=ENV, check=True,
                   capture_output=True)
    whole, _ = load_checkpoint(tmp_path / "whole" / "final.safetensors")
    resumed, card = load_checkpoint(killed / "final.safetensors")
    assert card["steps"] == 60
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert _losses(killed) == _losses(tmp_path / "whole")  # the log reads as one uninterrupted run


def test_two_process_ddp_matches_one_process(tmp_path):
    # a U-Net of depth 2: BatchNorm sees 2 x 8 x 8 values per channel per rank, not 2 x 1 x 1
    recipe = tiny_recipe(tmp_path, role="teacher", steps=20, checkpoint_every=10, log_every=2, eval_n=0)
    ddp = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(FAKE_RUN), str(recipe),
                          str(tmp_path / "ddp")], env=ENV, capture_output=True, text=True, timeout=120)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt")
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), "ranks hold different weights"
    shipped, card = load_checkpoint(tmp_path / "ddp" / "final.safetensors")
    assert card["world_size"] == 2 and all(torch.equal(shipped[k], rank0[k]) for k in rank0)

    subprocess.run([sys.executable, str(FAKE_RUN), str(recipe), str(tmp_path / "single")], env=ENV, check=True,
                   capture_output=True)
    # same global batch and the same samples: only BatchNorm statistics (2 vs 4 samples) differ
    two, one = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert len(two) == len(one) == 10
    assert max(abs(a - b) / b for a, b in zip(two, one)) < 0.03


def test_extra_loss_terms_hook(tmp_path, fake_engine, monkeypatch):
    """A GAN task adds adversarial terms through TaskSpec.extra_loss_terms; they are logged and stepped."""
    from portrait_edge.tasks import get_task

    calls = []

    class Penalty(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(0.5))

        def losses(self, output, teacher_output, batch):
            assert teacher_output is None  # no teacher in this recipe
            return {"adv": self.scale * output.float().pow(2).mean()}

        def after_step(self, step):
            calls.append(step)

    task = get_task("parsing")
    monkeypatch.setattr(type(task), "extra_loss_terms", lambda self, recipe, teacher: [Penalty()], raising=False)
    result = train(load_recipe(tiny_recipe(tmp_path, steps=4, log_every=2, eval_n=0)), tmp_path / "run",
                   show_progress=False)
    assert result.steps == 4 and calls == [0, 1, 2, 3]
    with open(tmp_path / "run" / "train.csv", newline="") as handle:
        assert "adv" in next(csv.reader(handle))


def test_model_init_starts_from_a_checkpoint_and_refuses_another_arch(tmp_path, fake_engine):
    from portrait_edge.errors import PortraitEdgeError
    from portrait_edge.train.trainer import Trainer

    first = train(load_recipe(tiny_recipe(tmp_path, steps=4, log_every=2, eval_n=0)), tmp_path / "first",
                  show_progress=False)
    recipe = load_recipe(tiny_recipe(tmp_path, "tune.yaml", steps=4, eval_n=0), {"model.init": str(first.checkpoint)})
    trainer = Trainer(recipe, tmp_path / "tune", show_progress=False)
    saved, _ = load_checkpoint(first.checkpoint)
    assert all(torch.equal(value, saved[name]) for name, value in trainer.model.state_dict().items())
    assert trainer.run().steps == 4
    _, card = load_checkpoint(tmp_path / "tune" / "final.safetensors")
    assert card["init"]["sha256"] == load_checkpoint(first.checkpoint)[1]["sha256"]

    student = load_recipe(tiny_recipe(tmp_path, "student.yaml", role="student", steps=4, eval_n=0),
                          {"model.init": str(first.checkpoint)})
    with pytest.raises(PortraitEdgeError, match="model.init .* holds 'unet'"):
        Trainer(student, tmp_path / "student", show_progress=False)


def test_prefetching_batches_trains_the_same_weights(tmp_path, fake_engine):
    """prefetch: true loads each next batch in a thread; the run is the same, bit for bit."""
    weights = []
    for prefetch in (False, True):
        recipe = load_recipe(tiny_recipe(tmp_path, f"r{prefetch}.yaml", steps=6, checkpoint_every=3),
                             {"prefetch": prefetch})
        result = train(recipe, tmp_path / f"run-{prefetch}", show_progress=False)
        weights.append(load_checkpoint(result.checkpoint)[0])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
