"""The TaskSpec interface every task implements.

A task is one portrait-editing network: what goes in, what comes out, which teacher and student
architectures it uses, how its training pairs are made, its losses and its metrics. Everything else in
the package (training, export, report, bundles, demo) is generic and reads these specs.

Every model in this package takes ONE input tensor [N, C_in, H, W] and returns ONE output tensor
[N, C_out, H, W]. Tasks with several inputs (image + landmark channels, image + fill strength, image +
masks) concatenate them on the channel axis in the order of `TaskSpec.inputs`. One tensor in and one
out keeps every exporter, runtime and bundle identical across tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np
import torch
from torch import nn

from portrait_edge.errors import NotAvailableError, PortraitEdgeError


@dataclass(frozen=True)
class ChannelGroup:
    """A named group of channels in a model's input or output tensor."""

    name: str
    channels: int
    kind: str  # "rgb" | "landmarks" | "scalar_map" | "label_map" | "logits" | "normals"
    value_range: tuple[float, float]
    description: str


@dataclass
class Batch:
    """One batch of training or evaluation pairs.

    inputs: the packed model input [N, C_in, H, W] (float32).
    target: ground truth in the model's output space: [N, H, W] int64 class ids for label tasks,
            [N, C_out, H, W] float32 otherwise.
    extras: task-specific side information used by losses and metrics (face mask, blemish mask,
            per-input tensors before packing, ...), each [N, ...].
    """

    inputs: torch.Tensor
    target: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(
            self.inputs.to(device),
            self.target.to(device),
            {k: v.to(device) for k, v in self.extras.items()},
        )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


class MetricAccumulator(Protocol):
    """Accumulates a task's metrics over many batches (mIoU needs a confusion matrix, not a mean)."""

    def update(self, prediction: torch.Tensor, batch: Batch) -> None: ...

    def compute(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class PipelineOption:
    """A numeric option of a task's inference pipeline (load_pipeline(task, name=value)): what it means,
    its default and its range (the CLI's help and the Space's slider come from here)."""

    meaning: str
    default: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class ModelConfig:
    """Which registered architecture (portrait_edge.nn) builds a role's model, and its settings."""

    arch: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class TaskSpec:
    """Base class of the six tasks. Subclasses set the class attributes and implement the methods."""

    id: str
    title: str
    inputs: tuple[ChannelGroup, ...]
    output: ChannelGroup
    class_names: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ()
    primary_metric: str = ""
    higher_is_better: bool = True
    output_distillation: str = "l1"  # "kl" (label maps, with temperature) or "l1" (images, normals)
    teacher: ModelConfig
    student: ModelConfig
    resolution: int = 256

    # ---- derived -------------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        return sum(group.channels for group in self.inputs)

    @property
    def out_channels(self) -> int:
        return self.output.channels

    def build_model(self, role: str, **overrides: Any) -> nn.Module:
        """Builds the teacher or student from the architecture registry (portrait_edge.nn)."""
        from portrait_edge.nn import create_model

        config = {"teacher": self.teacher, "student": self.student}.get(role)
        if config is None:
            raise ValueError(f"role must be 'teacher' or 'student', not {role!r}")
        kwargs = {**config.kwargs, **overrides}
        return create_model(config.arch, in_channels=self.in_channels, out_channels=self.out_channels, **kwargs)

    # ---- implemented per task ----------------------------------------------------------------
    def make_batch(self, n: int, seed: int, size: int, device: torch.device | str = "cpu") -> Batch:
        """n synthetic pairs from the built-in portrait engine, deterministic in (seed, size)."""
        from portrait_edge.data.pairs import make_pairs

        return make_pairs(self.id, n=n, seed=seed, size=size, device=device)

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        """Ground-truth losses by name; the sum of the values is what is minimised."""
        raise NotAvailableError(f"task {self.id!r} cannot be trained in this version (it has no loss yet)")

    def metric_accumulator(self) -> MetricAccumulator:
        raise NotAvailableError(f"task {self.id!r} cannot be evaluated in this version (it has no metrics yet)")

    def hflip(self, batch: Batch) -> Batch:
        """The batch mirrored left-right (inputs, target and every image-shaped extra). Tasks whose
        target changes meaning under a mirror (left/right classes, normal x) override this."""
        width = batch.inputs.shape[-1]
        flip = lambda t: t.flip(-1) if t.dim() >= 3 and t.shape[-1] == width else t  # noqa: E731
        return Batch(flip(batch.inputs), flip(batch.target), {k: flip(v) for k, v in batch.extras.items()})

    def discriminator_pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """What a conditional GAN discriminator sees (train.adversarial): (condition, a real image for
        it). By default the model input and the target."""
        return batch.inputs, batch.target

    @property
    def discriminator_condition_channels(self) -> int:
        return self.in_channels

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        """Model output -> the task's result (class ids for label maps, clamped images, unit normals)."""
        return output

    # ---- inference (portrait_edge.pipelines) ----------------------------------------------------
    # keyword options of load_pipeline(task, **options) and of its calls
    pipeline_options: Mapping[str, PipelineOption] = {}
    # what `synthesize` adds to a clean photo ("a shadow"); "" when the task cannot make its own input
    synthesizes: str = ""
    # the Space shows the phone student's result against the photo it edited with a before/after slider
    before_after: bool = False
    # "module:Class" of a Pipeline subclass for tasks whose calls take more than one photo (maskedit)
    pipeline_class: str = ""

    def option_value(self, name: str, options: Mapping[str, Any]) -> float:
        """A pipeline option's value from the caller's options (its default when absent), checked
        against the option's range: a one-line error names the option, its range and what it means."""
        option = self.pipeline_options[name]
        value = options.get(name, option.default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not option.minimum <= number <= option.maximum:  # NaN fails too
            raise PortraitEdgeError(f"{name} must be a number between {option.minimum:g} and {option.maximum:g} "
                                    f"({option.meaning}), not {value!r}")
        return number

    def pipeline_inputs(self, image: torch.Tensor, landmarks: np.ndarray, options: dict[str, Any]) -> torch.Tensor:
        """The model input for one framed face: image [1, 3, S, S] in [0, 1], its refined Face Mesh
        landmarks [478, 3] in the crop's pixels, the caller's options. Tasks with extra input channels
        (landmark channels, fill strength, masks) override this."""
        if self.in_channels != 3:
            raise NotAvailableError(f"task {self.id!r} has no inference pipeline in this version (its inputs are "
                                    f"{', '.join(g.name for g in self.inputs)})")
        return image

    def paste_region(self, landmarks: np.ndarray, size: int, options: dict[str, Any]) -> np.ndarray | None:
        """Image tasks: where and how much the result may change the photo, S x S in [0, 1] over the crop
        (landmarks in the crop's pixels, the caller's options); None: the whole framing (feathered at its
        edges)."""
        return None

    def synthesize(self, image: np.ndarray, landmarks: np.ndarray, seed: int) -> np.ndarray:
        """This task's kind of input made from a clean photo (HxWx3 uint8, Face Mesh landmarks in its
        pixels), the photo itself being the ground truth: e.g. a shadow drawn over the face. The Space
        uses it to show what a network undoes, with a PSNR against the original."""
        raise NotAvailableError(f"task {self.id!r} cannot make its input from a clean photo")


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean absolute error weighted per pixel by `weights` [N, 1, H, W]; 0 when the weights are all 0."""
    error = (prediction.float() - target.float()).abs().mean(1, keepdim=True)
    return (error * weights).sum() / weights.sum().clamp(min=1.0)


class ImageToImageTask(TaskSpec):
    """Base of the tasks whose output is an RGB image (shadow, facial_shadow, retouch): the output is
    clamped to [0, 1]; `loss.perceptual` adds a feature loss through a frozen backbone."""

    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the edited portrait, RGB in [0, 1]")
    primary_metric = "psnr"

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().clamp(0, 1)

    def extra_loss_terms(self, recipe, teacher) -> list:
        terms: list = []
        if recipe.loss.perceptual:
            from portrait_edge.train.perceptual import PerceptualLoss, load_backbone

            terms.append(PerceptualLoss(load_backbone(recipe.loss.perceptual_backbone), recipe.loss.perceptual))
        if recipe.adversarial.weight:
            from portrait_edge.train.adversarial import build_adversarial_term

            terms.append(build_adversarial_term(recipe, self.discriminator_condition_channels, self.out_channels,
                                                pair=self.discriminator_pair))
        return terms
