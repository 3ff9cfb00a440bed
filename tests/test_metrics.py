"""Metrics against values computed by hand (and SSIM against scikit-image)."""

import math

import numpy as np
import pytest
import torch

from portrait_edge.metrics import (ConfusionMatrix, ImageMetrics, NormalMetrics, SegmentationMetrics,
                                   angular_error_deg, psnr, ssim)
from portrait_edge.tasks.base import Batch


def test_confusion_matrix_by_hand():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 0]])
    predicted = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 0]])
    cm = ConfusionMatrix(4)
    cm.update(predicted, target)
    # class 0: tp 2 (pos 0, last), fp 1 (pos 6), fn 1 (pos 1) -> IoU 2/4, F1 4/6
    # class 1: tp 2, fp 1, fn 0 -> IoU 2/3, F1 4/5
    # class 2: tp 2, fp 0, fn 1 -> IoU 2/3, F1 4/5 ; class 3 absent -> NaN, left out
    iou = cm.iou()
    assert iou[:3].tolist() == pytest.approx([0.5, 2 / 3, 2 / 3])
    assert math.isnan(iou[3])
    assert cm.miou() == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert cm.mean_f1() == pytest.approx(0.8)  # background excluded
    assert cm.mean_f1(exclude_background=False) == pytest.approx((4 / 6 + 0.8 + 0.8) / 3)
    assert cm.pixel_accuracy() == pytest.approx(6 / 8)


def test_segmentation_accumulates_over_batches_like_one_batch():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (4, 8, 8), generator=g)
    logits = torch.randn(4, 5, 8, 8, generator=g)
    whole = SegmentationMetrics(5)
    whole.update(logits, Batch(torch.zeros(4, 3, 8, 8), target))
    split = SegmentationMetrics(5, class_names=("a", "b", "c", "d", "e"))
    for i in range(4):
        split.update(logits[i:i + 1].argmax(1), Batch(torch.zeros(1, 3, 8, 8), target[i:i + 1]))
    a, b = whole.compute(), split.compute()
    assert a["miou"] == pytest.approx(b["miou"]) and a["mean_f1"] == pytest.approx(b["mean_f1"])
    assert "iou_c" in b
    perfect = SegmentationMetrics(5)
    perfect.update(target, Batch(torch.zeros(4, 3, 8, 8), target))
    assert perfect.compute()["miou"] == 1.0


def test_psnr_by_hand():
    target = torch.zeros(1, 3, 4, 4)
    prediction = torch.full((1, 3, 4, 4), 0.1)  # mse 0.01 -> 20 dB
    assert psnr(prediction, target).item() == pytest.approx(20.0, abs=1e-4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    prediction[..., 2:] = 0.5  # outside the mask: ignored
    assert psnr(prediction, target, mask=mask).item() == pytest.approx(20.0, abs=1e-4)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((32, 40, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = metrics.structural_similarity(a, b, data_range=1.0, channel_axis=2, gaussian_weights=True,
                                             sigma=1.5, use_sample_covariance=False)
    to_t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float()  # noqa: E731
    assert ssim(to_t(a), to_t(b)).item() == pytest.approx(expected, abs=2e-4)
    assert ssim(to_t(a), to_t(a)).item() == pytest.approx(1.0, abs=1e-5)


def test_image_metrics_regions():
    target = torch.zeros(2, 3, 16, 16)
    prediction = target.clone()
    prediction[:, :, :, 8:] = 0.1
    mask = torch.zeros(2, 16, 16)
    mask[:, :, :8] = 1
    acc = ImageMetrics({"psnr_in": ("m", True), "psnr_out": ("m", False)})
    acc.update(prediction, Batch(prediction, target, {"m": mask}))
    result = acc.compute()
    assert result["psnr_out"] == pytest.approx(20.0, abs=1e-3)
    assert result["psnr_in"] == pytest.approx(120.0, abs=1e-3)  # perfect inside, mse clamped at 1e-12
    assert result["psnr"] == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-3)


def test_angular_error_by_hand():
    target = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 4).clone()
    prediction = torch.stack([torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 1.0]),
                              torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.2, 1.0])], 1).view(1, 3, 1, 4)
    errors = angular_error_deg(prediction, target)
    expected = [0.0, 45.0, 90.0, math.degrees(math.atan(0.2))]
    assert errors.flatten().tolist() == pytest.approx(expected, abs=1e-3)
    acc = NormalMetrics()
    acc.update(prediction, Batch(prediction, target))
    result = acc.compute()
    assert result["angular_error_deg"] == pytest.approx(sum(expected) / 4, abs=1e-3)
    assert result["within_11_25"] == pytest.approx(0.25)  # 11.31 deg is just over
    assert result["within_30"] == pytest.approx(0.5)
    assert result["cosine_similarity"] == pytest.approx(
        sum(math.cos(math.radians(e)) for e in expected) / 4, abs=1e-5)


def test_ssim_inside_a_mask_sees_only_the_windows_there():
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.random((1, 3, 48, 48))).float()
    prediction = target.clone()
    prediction[..., 24:] = (prediction[..., 24:] + 0.3 * torch.randn(1, 3, 48, 24)).clamp(0, 1)
    left = torch.zeros(1, 1, 48, 48)
    left[..., :16] = 1  # windows centred here never reach the noisy right half
    assert ssim(prediction, target, mask=left).item() == pytest.approx(1.0, abs=1e-6)
    assert ssim(prediction, target, mask=1 - left).item() < ssim(prediction, target).item() < 1
    acc = ImageMetrics({"ssim_left": ("m", True), "ssim_right": ("m", False)})
    acc.update(prediction, Batch(prediction, target, {"m": left}))
    result = acc.compute()
    assert result["ssim_left"] == pytest.approx(1.0, abs=1e-6) and result["ssim_right"] < result["ssim"]


def test_region_psnr_pools_the_split_so_an_untouched_region_does_not_swamp_it():
    target = torch.zeros(2, 3, 16, 16)
    prediction = target.clone()
    prediction[0] = 0.1  # image 0 wrong everywhere, image 1 exact
    acc = ImageMetrics({"psnr_all": ("m", True)})
    acc.update(prediction, Batch(prediction, target, {"m": torch.ones(2, 16, 16)}))
    result = acc.compute()
    assert result["psnr_all"] == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-3)  # MSE 0.01 over half the pixels
    assert result["psnr"] == pytest.approx((20.0 + 120.0) / 2, abs=1e-3)  # the per-image mean is swamped
