"""Perceptual (feature) loss with a pluggable, frozen backbone (seed 000 uses VGG-19 features).

    loss.perceptual: 0.1
    loss.perceptual_backbone: portrait_edge/weights/parsing_teacher.safetensors   # or vgg19

A checkpoint path names a network this project trained: its encoder's first `PERCEPTUAL_LAYERS`
feature maps (strides 1, 2, 4 for the U-Nets) of the prediction and of the target are compared with L1,
each map's mean absolute value in the target normalising its term, so every layer counts alike. No
pretrained weights can be downloaded where this project is built, so the parsing teacher's encoder
(trained on renders + real faces) is the default backbone; its path and sha256 go in the checkpoint card.
`vgg19` uses torchvision's ImageNet VGG-19 (relu1_2, relu2_2, relu3_4) where torchvision and its weights
are available (GPU machines); elsewhere it is a clear error.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from portrait_edge.errors import NotAvailableError, PortraitEdgeError

PERCEPTUAL_LAYERS = 3
VGG19_TAPS = (3, 8, 17)  # torchvision vgg19.features indices of relu1_2, relu2_2, relu3_4


class EncoderFeatures(nn.Module):
    """The first `layers` feature maps of a trained encoder-decoder's encoder (frozen, eval mode)."""

    def __init__(self, encoder: nn.Module, layers: int = PERCEPTUAL_LAYERS) -> None:
        super().__init__()
        self.encoder, self.layers = encoder, layers

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.encoder.stem(x)]
        for down in list(self.encoder.downs)[: self.layers - 1]:
            features.append(down(features[-1]))
        return features


class VGGFeatures(nn.Module):
    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features[: max(VGG19_TAPS) + 1]
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, taps = (x - self.mean) / self.std, []
        for i, layer in enumerate(self.features):
            out = layer(out)
            if i in VGG19_TAPS:
                taps.append(out)
        return taps


def load_backbone(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """`vgg19` or a checkpoint of an encoder-decoder with RGB input -> a frozen feature extractor."""
    if name == "vgg19":
        try:
            from torchvision.models import VGG19_Weights, vgg19

            backbone = VGGFeatures(vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features)
        except Exception as error:  # no torchvision on CPU torch here, or no download
            raise NotAvailableError(f"perceptual backbone vgg19 needs torchvision and its ImageNet weights "
                                    f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                                    "name a checkpoint of this project instead, e.g. "
                                    "portrait_edge/weights/parsing_teacher.safetensors") from None
    else:
        from portrait_edge.train.checkpoint import load_model

        if not Path(name).is_file():
            raise PortraitEdgeError(f"loss.perceptual_backbone: no checkpoint at {name} (or name vgg19)")
        model, card = load_model(name, device)
        encoder = getattr(model, "encoder", None)
        if encoder is None or not hasattr(encoder, "stem") or card.get("in_channels", 3) != 3:
            raise PortraitEdgeError(f"loss.perceptual_backbone {name}: a {card.get('arch')} checkpoint has no RGB "
                                    "encoder to take features from (use an encoder-decoder on RGB, e.g. the parsing teacher)")
        backbone = EncoderFeatures(encoder)
    backbone = backbone.to(device).eval()
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    return backbone


class PerceptualLoss(nn.Module):
    """sum over layers of mean |f(prediction) - f(target)| / mean |f(target)| (an ExtraLossTerm)."""

    def __init__(self, backbone: nn.Module, weight: float, name: str = "perceptual") -> None:
        super().__init__()
        self.backbone, self.weight, self.name = backbone, weight, name

    def train(self, mode: bool = True) -> "PerceptualLoss":  # the backbone's BatchNorm stays in eval mode
        return self

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.backbone.to(prediction.device)  # a no-op after the first call
        with torch.no_grad():
            wanted = self.backbone(target.float())
        got = self.backbone(prediction.float())
        terms = [(g - w).abs().mean() / w.abs().mean().clamp(min=1e-3) for g, w in zip(got, wanted)]
        return torch.stack(terms).mean()

    def losses(self, student_output: torch.Tensor, teacher_output: torch.Tensor | None, batch) -> dict[str, torch.Tensor]:
        return {self.name: self.weight * self(student_output.clamp(0, 1), batch.target)}
