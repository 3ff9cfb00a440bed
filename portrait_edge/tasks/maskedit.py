"""`maskedit`: re-renders a face to follow an edited parsing mask (mask-guided GAN, seed 002).

Input: source image + its one-hot parsing mask + the one-hot target mask (41 channels); output: the
source's appearance in the target's layout. Teacher: portrait_edge.nn.maskgan (local auto-encoders per
component, target-mask encoder and generator, background fusing); students: one compact graph with
the same single input.

Pairs (paired and unpaired training, as in the source):
- renders (portrait_edge.data.pairs): half reconstruction (target mask = source mask, target = source),
  half the source identity's look rendered exactly on another identity's geometry: a true target image
  for a swapped mask, which real photos cannot give;
- real pool photos (reader pool, pairs maskedit, complete masks from `pool label --rules model`): half
  reconstruction, half another photo's mask with NO target image (has_target 0): only the mask-
  conditioned GAN and the parsing loss judge those.

Losses: L1 to the target where there is one (the source's global reconstruction loss; L1 rather than its
L2, sharper for the same budget), plus recipe terms: `loss.local` (each component auto-encoder rebuilds its
component), `loss.parsing` (a frozen parsing network must find the target mask in the output), and
`adversarial` (a 2-scale PatchGAN on (target mask, image): real = the photo the target mask belongs to).

Metrics: reconstruction PSNR/SSIM (samples whose target mask is their own), psnr_swapped (render pairs
with a swapped mask, against their exact target), and mask fidelity: the mIoU of the shipped parsing
teacher on the output against the target mask, on swapped samples (resized to the parser's 256 px).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import NUM_CLASSES
from portrait_edge.nn.maskgan import SOURCE_MASK, TARGET_MASK
from portrait_edge.tasks import register
from portrait_edge.tasks.base import Batch, ChannelGroup, ImageToImageTask, MetricAccumulator, ModelConfig, masked_l1
from portrait_edge.tasks.parsing import IGNORE, MIRROR

PARSING_JUDGE = Path(__file__).resolve().parents[1] / "weights" / "parsing_teacher.safetensors"
JUDGE_SIZE = 256  # the parsing networks were trained on 256 px framings


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1, 1] on `like`'s device."""
    return values.float().to(like.device).view(-1, 1, 1, 1)


def parse(parser: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Parsing logits of images at the parser's own resolution (JUDGE_SIZE)."""
    if images.shape[-1] != JUDGE_SIZE:
        images = F.interpolate(images.float(), size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", align_corners=False)
    return parser(images)


def labels_at(labels: torch.Tensor, size: int) -> torch.Tensor:
    """[N, H, W] class ids resized (nearest) to size x size."""
    if labels.shape[-1] == size:
        return labels
    return F.interpolate(labels[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


_judge_cache: dict[str, torch.nn.Module] = {}


def load_parser(path: str | Path = PARSING_JUDGE) -> torch.nn.Module:
    """A frozen parsing checkpoint (cached per path)."""
    from portrait_edge.train.checkpoint import load_model

    key = str(path)
    if key not in _judge_cache:
        model, card = load_model(path)
        if card.get("task") != "parsing":
            raise PortraitEdgeError(f"{path} is a {card.get('task')!r} checkpoint, not a parsing model")
        _judge_cache[key] = model.requires_grad_(False)
    return _judge_cache[key]


def mask_fidelity(edited: np.ndarray, target: np.ndarray) -> float:
    """The mIoU of the parsing teacher on one edited face crop (S x S x 3 uint8) against its target mask."""
    from portrait_edge.metrics import ConfusionMatrix

    image = torch.from_numpy(np.asarray(edited, np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        predicted = parse(load_parser(), image).argmax(1)
    confusion = ConfusionMatrix(NUM_CLASSES)
    confusion.update(predicted, labels_at(torch.from_numpy(np.asarray(target, np.int64))[None], JUDGE_SIZE))
    return confusion.miou()


class MaskEditMetrics:
    def __init__(self) -> None:
        from portrait_edge.metrics import ImageMetrics, SegmentationMetrics

        self.reconstruction = ImageMetrics()
        self.swapped = ImageMetrics()
        self.fidelity = SegmentationMetrics(NUM_CLASSES)
        self.parser = load_parser()

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        swapped = batch.extras["swapped"].bool().to(prediction.device)
        has_target = batch.extras.get("has_target", torch.ones(len(batch))).bool().to(prediction.device)
        for metrics, keep in ((self.reconstruction, ~swapped), (self.swapped, swapped & has_target)):
            if keep.any():
                metrics.update(prediction[keep], Batch(batch.inputs[keep], batch.target[keep]))
        if swapped.any():
            with torch.no_grad():
                logits = parse(self.parser.to(prediction.device), prediction[swapped])
            labels = labels_at(batch.extras["target_labels"][swapped], JUDGE_SIZE)
            self.fidelity.update(logits, Batch(prediction[swapped], labels))

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.reconstruction.count:
            out.update(self.reconstruction.compute())
        if self.swapped.count:
            out["psnr_swapped"] = self.swapped.compute()["psnr"]
        if self.fidelity.confusion.matrix.sum() > 0:
            out["mask_fidelity_miou"] = self.fidelity.compute()["miou"]
        return out


class LocalReconstructionTerm:
    """The source's local loss: each component auto-encoder of the trained model rebuilds the source
    inside its component (L1 over the component, grown by 2 px so its edge counts)."""

    def __init__(self, weight: float) -> None:
        self.weight, self.model = weight, None

    def bind(self, model: torch.nn.Module) -> None:
        self.model = model if hasattr(model, "local_reconstruction") else None

    def losses(self, output: torch.Tensor, teacher_output: torch.Tensor | None, batch: Batch) -> dict[str, torch.Tensor]:
        if self.model is None:  # students have no component auto-encoders
            return {}
        parts = self.model.local_reconstruction(batch.inputs)
        total = sum(masked_l1(rebuilt, target, F.max_pool2d(mask, 5, stride=1, padding=2))
                    for rebuilt, target, mask in parts)
        return {"local": self.weight * total / len(parts)}


class ParsingLossTerm:
    """The source's face-parsing loss: a frozen parsing network must find the target mask in the output."""

    def __init__(self, weight: float, checkpoint: str | None) -> None:
        self.weight = weight
        self.parser = load_parser(checkpoint or PARSING_JUDGE)

    def to(self, device) -> "ParsingLossTerm":
        self.parser.to(device)
        return self

    def losses(self, output: torch.Tensor, teacher_output: torch.Tensor | None, batch: Batch) -> dict[str, torch.Tensor]:
        logits = parse(self.parser, output)
        labels = labels_at(batch.extras["target_labels"], JUDGE_SIZE)
        ce = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum") / (labels != IGNORE).sum().clamp(min=1)
        return {"parsing": self.weight * ce}


class MaskEditTask(ImageToImageTask):
    id = "maskedit"
    title = "Mask-guided portrait editing"
    inputs = (
        ChannelGroup("source_image", 3, "rgb", (0.0, 1.0), "the face to edit, RGB in [0, 1]"),
        ChannelGroup("source_mask", NUM_CLASSES, "label_map", (0.0, 1.0), "its parsing mask, one-hot"),
        ChannelGroup("target_mask", NUM_CLASSES, "label_map", (0.0, 1.0), "the edited mask to follow, one-hot"),
    )
    output = ChannelGroup("image", 3, "rgb", (0.0, 1.0), "the face re-rendered to follow the target mask")
    metric_names = ("psnr", "ssim", "psnr_swapped", "mask_fidelity_miou")
    primary_metric = "mask_fidelity_miou"
    resolution = 128  # CPU-trained: the teacher costs ~1 s per 4 samples per step at 128 px, 4x that at 256
    teacher = ModelConfig("maskgan_generator", {"width": 24, "embedding": 24, "blocks": 3})
    student = ModelConfig("mobile_unet", {"width": 16, "upsample": "bilinear"})
    pipeline_class = "portrait_edge.pipelines.maskedit:MaskEditPipeline"

    def loss(self, prediction: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        has_target = batch.extras.get("has_target", torch.ones(len(batch)))
        weights = per_sample(has_target, prediction).expand(-1, 1, *prediction.shape[-2:])
        return {"l1": masked_l1(prediction, batch.target, weights)}

    def metric_accumulator(self) -> MetricAccumulator:
        return MaskEditMetrics()

    def discriminator_pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return batch.inputs[:, TARGET_MASK], batch.extras.get("mask_photo", batch.target)

    @property
    def discriminator_condition_channels(self) -> int:
        return NUM_CLASSES

    def extra_loss_terms(self, recipe, teacher) -> list:
        terms = super().extra_loss_terms(recipe, teacher)
        if recipe.loss.local:
            terms.append(LocalReconstructionTerm(recipe.loss.local))
        if recipe.loss.parsing:
            terms.append(ParsingLossTerm(recipe.loss.parsing, recipe.loss.parsing_model))
        return terms

    def hflip(self, batch: Batch) -> Batch:
        """Mirrored: left and right eyes, brows and ears swap, in both masks and in the target labels."""
        flipped = super().hflip(batch)
        channels = MIRROR[:NUM_CLASSES].to(batch.inputs.device)
        inputs = flipped.inputs.clone()
        inputs[:, SOURCE_MASK] = flipped.inputs[:, SOURCE_MASK][:, channels]
        inputs[:, TARGET_MASK] = flipped.inputs[:, TARGET_MASK][:, channels]
        extras = dict(flipped.extras)
        if "target_labels" in extras:
            extras["target_labels"] = MIRROR.to(batch.inputs.device)[extras["target_labels"]]
        return Batch(inputs, flipped.target, extras)

    def batch_from_samples(self, samples: list[dict[str, np.ndarray]], size: int) -> Batch:
        """Reader samples with "labels" (and, from pool pairs maskedit, "target_labels", "mask_photo",
        "swapped") -> a batch; without a target mask a sample is its own reconstruction pair."""
        from portrait_edge.data.pairs import one_hot
        from portrait_edge.data.readers.base import resize_image, resize_nearest

        if "labels" not in samples[0]:
            raise PortraitEdgeError("maskedit needs parsing masks with the photos (pool: labels made by "
                                    "`pool label --rules model`, reader option pairs: maskedit)")

        def images(key: str) -> torch.Tensor:
            stacked = np.stack([resize_image(s.get(key, s["image"]), size) for s in samples]).astype(np.float32) / 255
            return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()

        def labels(key: str) -> torch.Tensor:
            return torch.from_numpy(np.stack([resize_nearest(s.get(key, s["labels"]), size) for s in samples])).long()

        source, source_labels, target_labels = images("image"), labels("labels"), labels("target_labels")
        swapped = torch.tensor([bool(s.get("swapped", False)) for s in samples])
        inputs = torch.cat([source, one_hot(source_labels), one_hot(target_labels)], 1)
        return Batch(inputs, source.clone(), {"target_labels": target_labels, "swapped": swapped,
                                              "has_target": (~swapped).float(), "mask_photo": images("mask_photo")})


register(MaskEditTask())
