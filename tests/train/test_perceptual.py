"""The perceptual loss: a frozen encoder of a checkpoint this project trained, or a clear error."""

import pytest
import torch

from portrait_edge.errors import NotAvailableError, PortraitEdgeError


@pytest.fixture(scope="module")
def backbone_checkpoint(tmp_path_factory):
    from portrait_edge.nn import create_model
    from portrait_edge.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("unet", in_channels=3, out_channels=19, width=4, depth=2)
    path = tmp_path_factory.mktemp("backbone") / "parsing_teacher.safetensors"
    save_checkpoint(path, model, {"task": "parsing", "role": "teacher", "arch": "unet",
                                  "arch_kwargs": {"width": 4, "depth": 2}, "in_channels": 3, "out_channels": 19})
    return path


def test_feature_loss_is_zero_at_the_target_and_grows_with_the_error(backbone_checkpoint):
    from portrait_edge.train.perceptual import PerceptualLoss, load_backbone

    backbone = load_backbone(str(backbone_checkpoint))
    assert not any(p.requires_grad for p in backbone.parameters()) and not backbone.training
    loss = PerceptualLoss(backbone, weight=1.0)
    target = torch.rand(2, 3, 32, 32)
    small, large = target + 0.02 * torch.randn_like(target), target + 0.2 * torch.randn_like(target)
    assert float(loss(target, target)) == 0.0
    assert 0 < float(loss(small, target)) < float(loss(large, target))
    prediction = small.clone().requires_grad_(True)
    loss(prediction, target).backward()  # gradients reach the prediction, not the frozen backbone
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0
    assert all(p.grad is None for p in backbone.parameters())


def test_a_bad_backbone_is_one_clear_error(tmp_path):
    from portrait_edge.train.perceptual import load_backbone

    with pytest.raises(PortraitEdgeError, match="no checkpoint at"):
        load_backbone(str(tmp_path / "missing.safetensors"))
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(NotAvailableError, match="vgg19 needs torchvision"):
            load_backbone("vgg19")


def test_a_recipe_with_a_perceptual_weight_needs_a_backbone():
    from portrait_edge.train.recipe import recipe_from_dict

    with pytest.raises(PortraitEdgeError, match="perceptual_backbone"):
        recipe_from_dict({"task": "shadow", "role": "teacher", "loss": {"perceptual": 0.1}})
