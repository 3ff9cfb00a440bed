"""Quality metrics of the six tasks, as plain functions and as accumulators over many batches.

- Label maps: a confusion matrix gives mIoU (mean over the classes that occur in the prediction or
  the ground truth, background included), mean F1 without background (the CelebAMask-HQ convention:
  mean over classes 1.. that occur), per-class IoU and pixel accuracy. Classes absent from both the
  prediction and the ground truth of the whole evaluation set are left out of the means.
- Images: PSNR (dB, data range 1) and SSIM (11x11 gaussian window, sigma 1.5, K1 0.01, K2 0.03,
  valid region only, the same as skimage's structural_similarity with gaussian_weights=True,
  use_sample_covariance=False), averaged per image.
- Normals: angle between predicted and true unit normals, in degrees: mean, median, fraction of
  pixels under 11.25 / 22.5 / 30 degrees, and mean cosine similarity.

Accumulators follow portrait_edge.tasks.base.MetricAccumulator: update(prediction, batch), compute().
The prediction passed to them is already post-processed (TaskSpec.postprocess).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from portrait_edge.tasks.base import Batch


# ---- label maps ----------------------------------------------------------------------------------
class ConfusionMatrix:
    """Counts (true class, predicted class) pairs; rows = ground truth, columns = prediction."""

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        if predicted.shape != target.shape:
            raise ValueError(f"prediction {tuple(predicted.shape)} and target {tuple(target.shape)} differ in shape")
        predicted = predicted.reshape(-1).to("cpu", torch.int64)
        target = target.reshape(-1).to("cpu", torch.int64)
        keep = (target >= 0) & (target < self.num_classes)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        index = target[keep] * self.num_classes + predicted[keep].clamp(0, self.num_classes - 1)
        self.matrix += torch.bincount(index, minlength=self.num_classes ** 2).reshape(self.num_classes, -1)

    def _counts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.matrix.double()
        tp = m.diag()
        return tp, m.sum(0) - tp, m.sum(1) - tp  # tp, fp, fn

    def iou(self) -> torch.Tensor:
        """Per-class IoU; NaN for classes absent from both prediction and ground truth."""
        tp, fp, fn = self._counts()
        union = tp + fp + fn
        return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))

    def f1(self) -> torch.Tensor:
        tp, fp, fn = self._counts()
        denominator = 2 * tp + fp + fn
        return torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.full_like(tp, math.nan))

    def miou(self) -> float:
        return _nanmean(self.iou())

    def mean_f1(self, exclude_background: bool = True) -> float:
        f1 = self.f1()
        return _nanmean(f1[1:] if exclude_background else f1)

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum().item()
        return float(self.matrix.diag().sum().item() / total) if total else math.nan


def _nanmean(values: torch.Tensor) -> float:
    values = values[~values.isnan()]
    return float(values.mean()) if values.numel() else math.nan


class SegmentationMetrics:
    """miou, mean_f1 (no background), pixel_accuracy, and iou_<class> per class name when given."""

    def __init__(self, num_classes: int, class_names: tuple[str, ...] = ()) -> None:
        self.confusion = ConfusionMatrix(num_classes)
        self.class_names = class_names

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        if prediction.dim() == 4:  # logits were passed: take the label map
            prediction = prediction.argmax(1)
        self.confusion.update(prediction, batch.target)

    def compute(self) -> dict[str, float]:
        result = {
            "miou": self.confusion.miou(),
            "mean_f1": self.confusion.mean_f1(exclude_background=True),
            "pixel_accuracy": self.confusion.pixel_accuracy(),
        }
        for name, value in zip(self.class_names, self.confusion.iou().tolist()):
            result[f"iou_{name}"] = value
        return result


# ---- images --------------------------------------------------------------------------------------
def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB per image ([N, C, H, W] -> [N]); with a mask [N, 1|C, H, W], only where mask > 0.5."""
    error = (prediction.float() - target.float()) ** 2
    if mask is None:
        mse = error.flatten(1).mean(1)
    else:
        weight = (mask > 0.5).float().expand_as(error)
        mse = (error * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1)
    return 10 * torch.log10(data_range ** 2 / mse.clamp(min=1e-12))


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image ([N, C, H, W] -> [N]) over the valid region (no padding); with a mask
    [N, 1, H, W], the mean over the windows centred where mask > 0.5."""
    x, y = prediction.float(), target.float()
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma, x.device).expand(channels, 1, window, window)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    if mask is None:
        return s.flatten(1).mean(1)
    border = window // 2  # the SSIM map covers the window centres that fit inside the image
    inside = (mask[:, :1, border:border + s.shape[-2], border:border + s.shape[-1]] > 0.5).float().expand_as(s)
    return (s * inside).flatten(1).sum(1) / inside.flatten(1).sum(1).clamp(min=1)


class ImageMetrics:
    """psnr and ssim per image, averaged; plus psnr_<name> (or ssim_<name>) inside/outside a mask from
    batch.extras.

    region_masks maps a metric name to (extras key, inside: bool), e.g.
    {"psnr_face": ("face_mask", True), "psnr_outside_blemish": ("blemish_mask", False),
     "ssim_shadow": ("shadow_mask", True)}; the name's prefix says which measure.
    Region measures pool the whole split (PSNR from the squared error summed over every region pixel of
    every image, SSIM the mean over every window centred in the region): a region can be empty, or left
    untouched by the input itself, in one image, where a per-image PSNR is infinite (clamped at 120 dB)
    and would swamp the mean.
    """

    def __init__(self, region_masks: dict[str, tuple[str, bool]] | None = None) -> None:
        self.region_masks = region_masks or {}
        self.sums: dict[str, float] = {}
        self.region_sums: dict[str, list[float]] = {name: [0.0, 0.0] for name in self.region_masks}  # value, weight
        self.count = 0

    def _add(self, name: str, values: torch.Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(values.sum())

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        target = batch.target
        self._add("psnr", psnr(prediction, target))
        self._add("ssim", ssim(prediction, target))
        for name, (key, inside) in self.region_masks.items():
            mask = batch.extras[key].float()
            if mask.dim() == 3:
                mask = mask[:, None]
            region = ((mask if inside else 1 - mask) > 0.5).float()
            if name.startswith("ssim"):
                weight = region[..., 5:-5, 5:-5].flatten(1).sum(1)  # the SSIM windows centred in the region
                value = ssim(prediction, target, mask=region) * weight
            else:
                error = (prediction.float() - target.float()) ** 2 * region
                value, weight = error.flatten(1).sum(1), region.flatten(1).sum(1) * prediction.shape[1]
            self.region_sums[name][0] += float(value.sum())
            self.region_sums[name][1] += float(weight.sum())
        self.count += len(batch)

    def compute(self) -> dict[str, float]:
        result = {name: total / max(self.count, 1) for name, total in self.sums.items()}
        for name, (value, weight) in self.region_sums.items():
            if name.startswith("ssim"):
                result[name] = value / weight if weight else float("nan")
            else:
                result[name] = float(10 * torch.log10(torch.tensor(1.0 / max(value / weight, 1e-12)))) if weight else float("nan")
        return result


# ---- normals -------------------------------------------------------------------------------------
def angular_error_deg(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel angle in degrees between normal maps [N, 3, H, W] (normalised first) -> [N, H, W]."""
    cosine = (F.normalize(prediction.float(), dim=1) * F.normalize(target.float(), dim=1)).sum(1)
    return torch.rad2deg(torch.acos(cosine.clamp(-1.0, 1.0)))


class NormalMetrics:
    """angular_error_deg (mean), median_angular_error_deg, within_11_25 / 22_5 / 30 (fractions of
    pixels), cosine_similarity; over the pixels where batch.extras[mask_key] > 0.5 when given."""

    THRESHOLDS = (("within_11_25", 11.25), ("within_22_5", 22.5), ("within_30", 30.0))

    def __init__(self, mask_key: str | None = None) -> None:
        self.mask_key = mask_key
        self.errors: list[torch.Tensor] = []

    def update(self, prediction: torch.Tensor, batch: Batch) -> None:
        error = angular_error_deg(prediction, batch.target)
        if self.mask_key is not None:
            mask = batch.extras[self.mask_key]
            mask = mask[:, 0] if mask.dim() == 4 else mask
            error = error[mask > 0.5]
        self.errors.append(error.reshape(-1).cpu())

    def compute(self) -> dict[str, float]:
        errors = torch.cat(self.errors) if self.errors else torch.zeros(0)
        if errors.numel() == 0:
            return {"angular_error_deg": math.nan}
        result = {
            "angular_error_deg": float(errors.mean()),
            "median_angular_error_deg": float(errors.median()),
        }
        for name, threshold in self.THRESHOLDS:
            result[name] = float((errors < threshold).double().mean())
        result["cosine_similarity"] = float(torch.cos(torch.deg2rad(errors.double())).mean())
        return result
