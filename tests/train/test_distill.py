"""Distillation losses against values computed by hand."""

import math

import pytest
import torch

from portrait_edge.nn import create_model
from portrait_edge.train.distill import (build_adapters, feature_distillation, kl_distillation, output_distillation,
                                         pair_taps)


def test_kl_is_zero_for_equal_logits_and_matches_hand_value():
    logits = torch.randn(2, 5, 4, 4)
    assert kl_distillation(logits, logits, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(1, 2, 1, 1)  # uniform: q = (0.5, 0.5)
    teacher = torch.tensor([math.log(3.0), 0.0]).view(1, 2, 1, 1)  # at T = 1: p = (0.75, 0.25)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert kl_distillation(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # at T = 2 the teacher logits are halved and the loss is scaled by T^2
    p = torch.softmax(teacher.flatten() / 2, 0)
    expected_t2 = 4 * float((p * (p / 0.5).log()).sum())
    assert kl_distillation(student, teacher, 2.0).item() == pytest.approx(expected_t2, abs=1e-6)


def test_l1_output_distillation():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.25)
    assert output_distillation("l1", a, b, 1.0).item() == pytest.approx(0.25)
    with pytest.raises(ValueError):
        output_distillation("l2", a, b, 1.0)


def test_taps_are_paired_from_the_fine_end():
    student, teacher = [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4]
    assert pair_taps(student, teacher) == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]
    assert pair_taps(student, teacher, 2) == [(4, 3), (5, 4)]


def test_feature_loss_is_relative_and_resizes():
    teacher = [torch.full((1, 2, 4, 4), 3.0)]
    assert feature_distillation([torch.full((1, 2, 4, 4), 3.0)], teacher).item() == pytest.approx(0.0, abs=1e-6)
    # the student tap at half the size is resized; error 1.5 everywhere: mse 2.25 / mean square 9
    assert feature_distillation([torch.full((1, 2, 2, 2), 1.5)], teacher).item() == pytest.approx(0.25, rel=1e-4)


def test_adapters_map_student_taps_to_teacher_channels():
    student = create_model("mobile_unet", in_channels=3, out_channels=19, width=8).eval()
    teacher = create_model("unet", in_channels=3, out_channels=19, width=4).eval()
    adapters, pairs = build_adapters(student, teacher, 3, 32, 0, torch.device("cpu"))
    assert len(pairs) == 5
    _, s_taps = student.forward_features(torch.rand(1, 3, 32, 32))
    _, t_taps = teacher.forward_features(torch.rand(1, 3, 32, 32))
    adapted = adapters([s_taps[i] for i, _ in pairs])
    for a, (_, j) in zip(adapted, pairs):
        assert a.shape == t_taps[j].shape


def test_channel_wise_distillation_by_hand():
    from portrait_edge.train.distill import channel_distillation

    logits = torch.randn(2, 3, 4, 4)
    assert channel_distillation(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    # one channel, two pixels: teacher spatial distribution (0.75, 0.25), student uniform, T = 1
    teacher = torch.tensor([math.log(3.0), 0.0]).view(1, 1, 1, 2)
    student = torch.zeros(1, 1, 1, 2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert channel_distillation(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # a class on one pixel of many weighs as much as one covering half the image
    assert output_distillation("cwd", student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-6)
