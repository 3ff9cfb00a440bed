"""Distillation losses: the student learns from the teacher's outputs and intermediate features.

- Output distillation (TaskSpec.output_distillation, or the recipe's loss.output_distill_kind):
  "kl": KL(softmax(teacher / T) || softmax(student / T)) * T^2 per pixel over the classes (Hinton et
  al.), for label maps;
  "cwd": channel-wise distillation (Shu et al. 2021): each class channel is turned into a distribution
  over the pixels, softmax(logits / T) over H x W, and the student's matches the teacher's by KL * T^2,
  averaged over channels: every class weighs the same however few pixels it covers (earrings, eyes);
  "l1": mean |student - teacher|, for images and normals.
- Feature distillation (FitNets-style): each paired student tap goes through a learned 1x1 conv adapter
  to the teacher tap's channels, is resized (bilinear) to the teacher tap's size when they differ, and
  is compared with the (frozen) teacher tap by mean squared error divided by the teacher tap's mean
  square, so every tap weighs about the same whatever its scale. Taps are paired from the fine end
  (models return them coarse to fine), `feature_taps` of them (0 = as many as both have).
- Extra terms: objects with `losses(student_output, teacher_output, batch) -> dict[str, Tensor]` added
  to the total (e.g. an adversarial term against the teacher's discriminator for GAN tasks); they may
  also define `parameters()` (optimised with the student) and `after_step(step)` (e.g. a
  discriminator update). A TaskSpec can provide them with `extra_loss_terms(recipe, teacher)`.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from portrait_edge.tasks.base import Batch


def kl_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    student_log = F.log_softmax(student_logits.float() / t, dim=1)
    teacher_log = F.log_softmax(teacher_logits.float() / t, dim=1)
    per_pixel = (teacher_log.exp() * (teacher_log - student_log)).sum(1)
    return per_pixel.mean() * t * t


def channel_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    student_log = F.log_softmax(student_logits.float().flatten(2) / t, dim=2)
    teacher_log = F.log_softmax(teacher_logits.float().flatten(2) / t, dim=2)
    per_channel = (teacher_log.exp() * (teacher_log - student_log)).sum(2)
    return per_channel.mean() * t * t


OUTPUT_DISTILLATION = ("kl", "cwd", "l1")


def output_distillation(kind: str, student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    if kind == "kl":
        return kl_distillation(student, teacher, temperature)
    if kind == "cwd":
        return channel_distillation(student, teacher, temperature)
    if kind == "l1":
        return (student.float() - teacher.float()).abs().mean()
    raise ValueError(f"unknown output distillation {kind!r} ({', '.join(OUTPUT_DISTILLATION)})")


def pair_taps(student_taps: list[torch.Tensor], teacher_taps: list[torch.Tensor], count: int = 0
              ) -> list[tuple[int, int]]:
    """(student index, teacher index) pairs from the fine end of both lists."""
    available = min(len(student_taps), len(teacher_taps))
    count = available if count <= 0 else min(count, available)
    return [(len(student_taps) - k, len(teacher_taps) - k) for k in range(count, 0, -1)]


class FeatureAdapters(nn.Module):
    """One 1x1 conv per paired tap: student channels -> teacher channels."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int]) -> None:
        super().__init__()
        self.adapters = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student_channels, teacher_channels))

    def forward(self, student_taps: list[torch.Tensor]) -> list[torch.Tensor]:
        return [adapter(tap) for adapter, tap in zip(self.adapters, student_taps)]


def feature_distillation(adapted: list[torch.Tensor], teacher_taps: list[torch.Tensor]) -> torch.Tensor:
    total = adapted[0].new_zeros((), dtype=torch.float32)
    for student, teacher in zip(adapted, teacher_taps):
        student = student.float()
        teacher = teacher.detach().float()
        if student.shape[-2:] != teacher.shape[-2:]:
            student = F.interpolate(student, size=teacher.shape[-2:], mode="bilinear", align_corners=False)
        total = total + F.mse_loss(student, teacher) / (teacher.pow(2).mean() + 1e-6)
    return total / max(len(adapted), 1)


class StudentWithAdapters(nn.Module):
    """The module DDP wraps while distilling: the student plus its adapters, so the adapters' gradients
    are averaged across ranks too. forward(x) -> (output, adapted taps)."""

    def __init__(self, student: nn.Module, adapters: FeatureAdapters | None, pairs: list[tuple[int, int]]) -> None:
        super().__init__()
        self.student = student
        self.adapters = adapters
        self.pairs = pairs

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.adapters is None:
            return self.student(x), []
        output, taps = self.student.forward_features(x)
        return output, self.adapters([taps[i] for i, _ in self.pairs])


def build_adapters(student: nn.Module, teacher: nn.Module, in_channels: int, size: int, feature_taps: int,
                   device: torch.device) -> tuple[FeatureAdapters, list[tuple[int, int]]]:
    """Runs both models once on a dummy input to find their taps' channels, then pairs them."""
    probe = torch.zeros(1, in_channels, size, size, device=device)
    was_training = student.training
    student.eval()
    with torch.no_grad():
        _, student_taps = student.forward_features(probe)
        _, teacher_taps = teacher.forward_features(probe)
    student.train(was_training)
    pairs = pair_taps(student_taps, teacher_taps, feature_taps)
    adapters = FeatureAdapters([student_taps[i].shape[1] for i, _ in pairs],
                               [teacher_taps[j].shape[1] for _, j in pairs]).to(device)
    return adapters, pairs


class ExtraLossTerm(Protocol):
    def losses(self, student_output: torch.Tensor, teacher_output: torch.Tensor | None,
               batch: Batch) -> dict[str, torch.Tensor]: ...


def extra_terms_for(task: Any, recipe: Any, teacher: nn.Module | None) -> list[ExtraLossTerm]:
    factory = getattr(task, "extra_loss_terms", None)
    return list(factory(recipe, teacher)) if callable(factory) else []
