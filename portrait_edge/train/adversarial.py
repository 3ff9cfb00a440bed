"""pix2pixHD's GAN terms as a training loss term (retouch teacher; GAN-compression students).

A multiscale PatchGAN (portrait_edge.nn.pix2pixhd) judges (condition, output) pairs against (condition,
real image) pairs; the task says what both are (TaskSpec.discriminator_pair: by default the input and the
target; maskedit: the target mask and the photo that mask belongs to). The generator gets, from the trainer (via TaskSpec.extra_loss_terms):
- "gan": LSGAN, weight x mean over scales of (D(input, output) - 1)^2;
- "feature_matching": weight x the L1 between D's intermediate features on the generated and on the
  real pair, summed over layers and averaged over scales (lambda 10 in the paper).
The discriminator is not optimised with the generator: after each generator step (`after_step`) it
takes its own Adam step on the LSGAN discriminator loss 0.5 [(D(real) - 1)^2 + D(fake)^2], on the pair
the generator just produced (detached). Its weights (and optimiser) live in the run's resume file, and
next to every checkpoint as <name>.discriminator.safetensors, so a student can be trained against the
teacher's discriminator (recipe adversarial.init), as in GAN compression (Li et al. 2020).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks.base import Batch

COMPANION_SUFFIX = ".discriminator.safetensors"


def discriminator_path(checkpoint: str | Path) -> Path:
    """Where the discriminator of the run that wrote `checkpoint` (…/final.safetensors) is kept."""
    path = Path(checkpoint)
    return path.with_name(path.name.removesuffix(".safetensors") + COMPANION_SUFFIX)


def lsgan(outputs: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """Mean over scales of the mean squared distance of the patch logits to 1 (real) or 0 (fake)."""
    goal = 1.0 if real else 0.0
    return sum((scale[-1].float() - goal).square().mean() for scale in outputs) / len(outputs)


def feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's intermediate features (all but the logits), summed over layers,
    averaged over scales."""
    total = sum((f.float() - r.float().detach()).abs().mean()
                for fake_scale, real_scale in zip(fake, real) for f, r in zip(fake_scale[:-1], real_scale[:-1]))
    return total / len(fake)


class AdversarialTerm:
    """An extra loss term (portrait_edge.train.distill) with its own discriminator and optimiser."""

    def __init__(self, discriminator: nn.Module, weight: float, feature_weight: float, lr: float,
                 pair=None) -> None:
        self.discriminator = discriminator
        self.pair = pair or (lambda batch: (batch.inputs, batch.target))  # batch -> (condition, real image)
        self.weight, self.feature_weight = weight, feature_weight
        self.optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def to(self, device: torch.device | str) -> "AdversarialTerm":
        self.discriminator.to(device)  # in place: the optimiser keeps the same parameters
        return self

    def _judge(self, condition: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        return self.discriminator(torch.cat([condition, image.to(condition.dtype)], 1))

    def losses(self, output: torch.Tensor, teacher_output: torch.Tensor | None, batch: Batch) -> dict[str, torch.Tensor]:
        condition, real_image = self.pair(batch)
        self.discriminator.requires_grad_(False)  # the generator's step must not touch D
        try:
            fake = self._judge(condition, output)
            with torch.no_grad():
                real = self._judge(condition, real_image)
        finally:
            self.discriminator.requires_grad_(True)
        self._pending = (condition.detach(), output.detach(), real_image.detach())
        return {"gan": self.weight * lsgan(fake, real=True),
                "feature_matching": self.feature_weight * feature_matching(fake, real)}

    def after_step(self, step: int) -> None:
        if self._pending is None:
            return
        condition, fake, real = self._pending
        self._pending = None
        loss = 0.5 * (lsgan(self._judge(condition, real), real=True) + lsgan(self._judge(condition, fake), real=False))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_discriminator_loss = float(loss.detach())

    # ---- state: resume files and the companion checkpoint --------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])

    def save_companion(self, checkpoint: Path) -> None:
        from safetensors.torch import save_file

        from portrait_edge.train.checkpoint import atomic_write

        state = {k: v.detach().cpu().contiguous() for k, v in self.discriminator.state_dict().items()}
        atomic_write(discriminator_path(checkpoint), lambda temp: save_file(state, str(temp)))


def build_adversarial_term(recipe: Any, condition_channels: int, out_channels: int,
                           device: torch.device | str = "cpu", pair=None) -> AdversarialTerm:
    """The recipe's `adversarial` section -> an AdversarialTerm (discriminator from adversarial.init
    when given: a teacher run's <checkpoint>.discriminator.safetensors, or the checkpoint itself).
    pair: batch -> (condition [N, condition_channels, H, W], real image); default (inputs, target)."""
    from portrait_edge.nn import create_model

    section = recipe.adversarial
    discriminator = create_model("pix2pixhd_discriminator", in_channels=condition_channels + out_channels, out_channels=1,
                                 width=section.width, num_scales=section.num_scales, layers=section.layers)
    if section.init:
        from safetensors.torch import load_file

        path = Path(section.init)
        if path.name.endswith(".safetensors") and not path.name.endswith(COMPANION_SUFFIX):
            path = discriminator_path(path)
        if not path.is_file():
            raise PortraitEdgeError(f"adversarial.init: no discriminator at {path} (a teacher run trained with "
                                    "adversarial.weight > 0 writes one next to each checkpoint)")
        try:
            discriminator.load_state_dict(load_file(str(path)))
        except RuntimeError as error:
            raise PortraitEdgeError(f"adversarial.init {path} does not fit adversarial.width/num_scales/layers "
                                    f"({str(error).splitlines()[0]})") from None
    return AdversarialTerm(discriminator.to(device), section.weight, section.feature_matching, section.lr, pair)
