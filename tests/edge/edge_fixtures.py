"""Shared by the edge, report and command tests: a tiny student, a random data engine, and a session
build of every variant at 64x64 (exported, verified and benchmarked once, reused by many tests)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from portrait_edge.nn import _MODELS, register_model
from portrait_edge.tasks.base import Batch, TaskSpec

TINY_ARCH = "edge_test_tiny"
SIZE = 64


class TinyStudent(nn.Module):
    """The op mix of the real students in six layers: conv+BN+ReLU6, depthwise stride 2, 1x1, Hardswish,
    nearest x2 upsample, skip concat, residual add, 1x1 head."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU6())
        self.down = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1, groups=width, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU6(),
                                  nn.Conv2d(width, 2 * width, 1, bias=False), nn.BatchNorm2d(2 * width), nn.Hardswish())
        self.mid = nn.Sequential(nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = nn.Sequential(nn.Conv2d(3 * width, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.head = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.stem(x)
        y = self.down(skip)
        y = y + self.mid(y)
        return self.head(self.fuse(torch.cat([self.up(y), skip], 1)))


if TINY_ARCH not in _MODELS:
    @register_model(TINY_ARCH)
    def edge_test_tiny(in_channels: int, out_channels: int, width: int = 8) -> TinyStudent:
        return TinyStudent(in_channels, out_channels, width)


def tiny_model(task: TaskSpec, seed: int = 0) -> TinyStudent:
    """A TinyStudent with non-trivial BatchNorm statistics (so folding is exercised)."""
    torch.manual_seed(seed)
    model = TinyStudent(task.in_channels, task.out_channels).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


def save_tiny_checkpoint(path, task: TaskSpec, model: nn.Module, role: str = "student"):
    from portrait_edge.train.checkpoint import save_checkpoint

    card = {"task": task.id, "role": role, "arch": TINY_ARCH, "arch_kwargs": {"width": 8},
            "in_channels": task.in_channels, "out_channels": task.out_channels}
    return save_checkpoint(path, model, card)


def random_make_batch(self: TaskSpec, n: int, seed: int, size: int, device="cpu") -> Batch:
    """Stands in for the synthetic engine: smooth random images (so int8 ranges are realistic) and
    a target derived from them (so metrics are not constant)."""
    generator = torch.Generator().manual_seed(int(seed))
    coarse = torch.rand(n, self.in_channels, max(1, size // 8), max(1, size // 8), generator=generator)
    inputs = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if self.output.kind == "logits":
        target = (inputs.mean(1) * self.out_channels).long().clamp(0, self.out_channels - 1)
    else:
        target = inputs[:, : self.out_channels].clone()
    return Batch(inputs.to(device), target.to(device))


def tiny_recipe():
    from portrait_edge.edge.recipe import parse_recipe

    return parse_recipe({
        "task": "parsing", "resolution": SIZE,
        "calibration": {"samples": 4, "batch": 4, "seed": 1000},
        "test": {"samples": 4, "batch": 4},
        "qat": {"when": "never"},
        "coreml_weight_threshold": 64,
        "bench": {"threads": [1], "warmup": 1, "repeats": 3, "max_seconds_per_variant": 1.0},
    })


TINY_RECIPE_YAML = """task: parsing
resolution: 64
calibration: {samples: 4, batch: 4, seed: 1000}
test: {samples: 4, batch: 4}
qat: {when: never}
coreml_weight_threshold: 64
bench: {threads: [1], warmup: 1, repeats: 3, max_seconds_per_variant: 1.0}
"""


def _collate(batches: list[Batch]) -> Batch:
    return Batch(torch.cat([b.inputs for b in batches]), torch.cat([b.target for b in batches]))


class RandomTaskData:
    """TaskData's interface on random_make_batch, one sample per seed (no synthetic engine needed)."""

    def __init__(self, task: TaskSpec, size: int) -> None:
        from portrait_edge.edge.taskdata import TaskData

        self._impl = TaskData(task, size)
        self._impl._render = lambda seeds: _collate([random_make_batch(task, 1, s, size) for s in seeds])
        self.task, self.size = task, size

    def test_batches(self, samples: int, batch: int) -> list[Batch]:
        return [self._impl._render(list(range(123_000 + start, 123_000 + min(samples, start + batch))))
                for start in range(0, samples, batch)]

    def calibration_inputs(self, samples: int, batch: int, seed: int):
        return self._impl.calibration_inputs(samples, batch, seed)

    def training_stream(self, batch: int, seed: int, crop: int | None = None):
        return self._impl.training_stream(batch, seed, crop)


_BUILD: dict = {}


def session_build(tmp_path_factory) -> dict:
    """Every variant of a tiny parsing student at 64x64, exported, verified and benchmarked once per
    test process (cached here, so every test folder shares it)."""
    if _BUILD:
        return _BUILD
    from portrait_edge.edge.pipeline import TaskJob
    from portrait_edge.tasks import get_task

    task = get_task("parsing")
    root = tmp_path_factory.mktemp("edge")
    student, teacher = tiny_model(task, seed=0), tiny_model(task, seed=1)
    student_path = save_tiny_checkpoint(root / "ckpt" / "parsing_student", task, student)
    teacher_path = save_tiny_checkpoint(root / "ckpt" / "parsing_teacher", task, teacher, role="teacher")
    recipe = tiny_recipe()
    job = TaskJob(task, recipe, root / "build", student_path, teacher_path, data=RandomTaskData(task, SIZE),
                  log=lambda message: None)
    _BUILD.update(job=job, dir=job.dir, build=root / "build", export=job.export(), verify=job.verify(),
                  bench=job.bench(memory=False), student_path=student_path, teacher_path=teacher_path,
                  recipe=recipe, root=root)
    return _BUILD


# ---- for the command tests -------------------------------------------------------------------------
def copy_build(built: dict, tmp_path):
    """A private copy of the session build folder (tests may modify it)."""
    import shutil

    target = tmp_path / "build"
    shutil.copytree(built["build"], target)
    return target


def recipe_file(tmp_path):
    path = tmp_path / "parsing.yaml"
    path.write_text(TINY_RECIPE_YAML)
    return path


def use_random_engine(monkeypatch) -> None:
    import portrait_edge.train.evaluate as evaluate

    monkeypatch.setattr(TaskSpec, "make_batch", random_make_batch)
    monkeypatch.setattr(evaluate, "test_seed_base", lambda: 123_000)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err
