"""A tiny, fast stand-in for the synthetic engine in training tests (also usable in subprocesses).

Each sample is a deterministic function of its seed: random colour blobs whose class is learnable
from the colour, so a few steps of training lower the loss.
"""

from __future__ import annotations

from pathlib import Path

import torch

from portrait_edge.tasks.base import Batch, TaskSpec

_original = TaskSpec.make_batch


def fake_make_batch(self: TaskSpec, n: int, seed: int, size: int, device="cpu") -> Batch:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 4, (n, 1, max(1, size // 8), max(1, size // 8)), generator=g)
    labels = torch.nn.functional.interpolate(coarse.float(), size=(size, size), mode="nearest").long()[:, 0]
    palette = torch.rand(4, self.in_channels, generator=torch.Generator().manual_seed(7))
    inputs = palette[labels].permute(0, 3, 1, 2) + 0.05 * torch.randn(n, self.in_channels, size, size, generator=g)
    if self.output.kind == "logits":
        target = labels
    else:
        target = palette[labels][..., : self.out_channels].permute(0, 3, 1, 2).contiguous()
    return Batch(inputs.to(device), target.to(device), {"face_mask": (labels > 0).float().to(device)})


def install() -> None:
    TaskSpec.make_batch = fake_make_batch  # type: ignore[method-assign]


def uninstall() -> None:
    TaskSpec.make_batch = _original  # type: ignore[method-assign]


TEST_SEED_BASE = 2_000_000_000


HERE = Path(__file__).resolve().parent
FAKE_RUN = HERE / "fake_run.py"

TINY_RECIPE = """\
task: parsing
role: {role}
profile: test
model: {{kwargs: {{width: 4{extra_kwargs}}}}}
resolution: 32
steps: {steps}
batch_size: 4
threads: 1
optimizer: {{lr: 3.0e-3, warmup_steps: 5}}
checkpoint_every: {checkpoint_every}
log_every: {log_every}
eval: {{n: {eval_n}, size: 32, batch_size: 4}}
data: {{pool: 32, cache_dir: null}}
{extra}
"""


def tiny_recipe(tmp_path: Path, name: str = "tiny.yaml", role: str = "teacher", steps: int = 20,
                checkpoint_every: int = 10, log_every: int = 5, eval_n: int = 4, extra: str = "",
                extra_kwargs: str | None = None) -> Path:
    if extra_kwargs is None:
        extra_kwargs = ", depth: 2" if role == "teacher" else ""
    path = tmp_path / name
    path.write_text(TINY_RECIPE.format(role=role, steps=steps, checkpoint_every=checkpoint_every,
                                       log_every=log_every, eval_n=eval_n, extra=extra, extra_kwargs=extra_kwargs))
    return path
