"""GridNet and pix2pixHD teachers: shapes, taps, residual input, discriminator outputs (MAC ratios: test_models.py)."""

import pytest
import torch
from torch import nn

from portrait_edge.nn import create_model


@pytest.mark.parametrize("arch,kwargs,size,strides", [
    ("gridnet", {"width": 4, "rows": 3, "columns": 4}, 32, [4, 2, 1]),
    ("pix2pixhd_generator", {"width": 4, "global_downsample": 2, "global_blocks": 1, "local_blocks": 1}, 32,
     [8, 4, 2, 1]),
])
def test_image_teachers(arch, kwargs, size, strides):
    model = create_model(arch, in_channels=4, out_channels=3, **kwargs).eval()
    x = torch.rand(2, 4, size, size)
    with torch.no_grad():
        y, taps = model.forward_features(x)
        assert torch.equal(y, model(x))
    assert y.shape == (2, 3, size, size)
    assert [size // t.shape[-1] for t in taps] == strides
    with pytest.raises(ValueError, match="multiples"):
        model(torch.rand(1, 4, size + 2, size + 2))


@pytest.mark.parametrize("arch,kwargs", [
    ("gridnet", {"width": 4, "rows": 2, "columns": 2}),
    ("pix2pixhd_generator", {"width": 4, "global_downsample": 1, "global_blocks": 1, "local_blocks": 1}),
])
def test_residual_input_starts_from_the_image(arch, kwargs):
    model = create_model(arch, in_channels=3, out_channels=3, **kwargs).eval()
    conv = [m for m in model.head.modules() if isinstance(m, nn.Conv2d)][-1]
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), x)


def test_an_untrained_gridnet_returns_its_input():
    model = create_model("gridnet", in_channels=4, out_channels=3, width=4, rows=2, columns=2).eval()
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), x[:, :3])


def test_multiscale_discriminator():
    d = create_model("pix2pixhd_discriminator", in_channels=6, out_channels=1, width=8, num_scales=3)
    outputs = d(torch.rand(1, 6, 64, 64))
    assert len(outputs) == 3
    assert all(o[-1].shape[1] == 1 for o in outputs)
    assert outputs[0][-1].shape[-1] > outputs[1][-1].shape[-1] > outputs[2][-1].shape[-1]
    with pytest.raises(ValueError):
        create_model("pix2pixhd_discriminator", in_channels=6, out_channels=3)


def test_pix2pixhd_coarse_to_fine_stages():
    kwargs = {"width": 4, "global_downsample": 2, "global_blocks": 1, "local_blocks": 1}
    coarse = create_model("pix2pixhd_generator", in_channels=3, out_channels=3, stage="global", **kwargs).eval()
    x = torch.rand(1, 3, 16, 16)  # the global stage runs on the half-size image itself: multiples of 4
    with torch.no_grad():
        assert torch.equal(coarse(x), x)  # residual generators start as the identity
    assert not any(name.startswith(("local_", "head.")) for name in coarse.state_dict())
    for p in coarse.parameters():
        nn.init.normal_(p)
    full = create_model("pix2pixhd_generator", in_channels=3, out_channels=3, **kwargs)
    assert full.load_stage(coarse.state_dict()) == sum(k.startswith("global_generator.") for k in full.state_dict())
    for key, value in coarse.state_dict().items():
        if key.startswith("global_generator."):
            assert torch.equal(full.state_dict()[key], value)
    wider = create_model("pix2pixhd_generator", in_channels=3, out_channels=3, stage="global", **{**kwargs, "width": 8})
    with pytest.raises(ValueError, match="does not fit"):
        full.load_stage(wider.state_dict())
    with pytest.raises(ValueError, match="stage"):
        create_model("pix2pixhd_generator", in_channels=3, out_channels=3, stage="local", **kwargs)
