"""`mobile_unet`: the student of every task, built only from ops every phone backend delegates fully.

Ops used: Conv2d (3x3 and 1x1, dense and depthwise) each followed by BatchNorm (folded at export),
ReLU6 / ReLU / Hardswish, residual add, channel concat, x2 nearest or bilinear upsample, and an
optional sigmoid / tanh on the output. No InstanceNorm/GroupNorm/LayerNorm, padding is an explicit
integer, every shape is static.

Encoder (MobileNetV2-style inverted residuals): a stride-2 3x3 stem, then stages at strides 2, 4, 8,
16, 32 with channels (w, 1.5w, 2w, 4w, 6w) for width w. Decoder: per stage x2 upsample, concat the
encoder skip of that stride, 1x1 conv to the stage's channels, then an inverted residual block
(expansion `expand` at strides 16 and 8, half of it at 4 and 2). Channels (4w, 2w, 1.5w, w) at
strides 16, 8, 4, 2; a last stage upsamples to full resolution and concatenates the input itself
(cheap: C_in channels) so edges stay sharp, giving w/2 channels (depthwise-separable, no expansion).
Head: 1x1 conv. H and W must be multiples of 32.

Feature taps (forward_features): the decoder stage outputs at strides 16, 8, 4, 2 and 1, coarse to
fine -- the same strides as the U-Net teacher's taps (bottleneck at 16, then 8, 4, 2, 1).
"""

from __future__ import annotations

import torch
from torch import nn

from portrait_edge.nn import register_model
from portrait_edge.nn.encoder_decoder import EncoderDecoder, head_channels

_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardswish": nn.Hardswish}
_OUTPUT_ACTIVATIONS = {"none": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def _channels(value: float) -> int:
    return max(4, int(round(value)))


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + optional activation; padding = kernel // 2, never 'same'."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, act: str | None = "relu6") -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act is not None:
            layers.append(_ACTIVATIONS[act]())
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride 1 or 2) -> 1x1 linear projection, + input when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expand: int = 4,
                 act: str = "relu6") -> None:
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1, act=act))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden, act=act),
            ConvBNAct(hidden, out_channels, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


class MobileEncoder(nn.Module):
    """Features at strides 2, 4, 8, 16, 32 (finest first)."""

    def __init__(self, in_channels: int, width: int, expand: int, act: str,
                 blocks: tuple[int, ...] = (1, 2, 2, 3, 2)) -> None:
        super().__init__()
        self.channels = [_channels(width * m) for m in (1, 1.5, 2, 4, 6)]
        self.stem = ConvBNAct(in_channels, self.channels[0], 3, stride=2, act=act)
        stages = []
        previous = self.channels[0]
        for i, (channels, count) in enumerate(zip(self.channels, blocks)):
            layers = []
            for j in range(count):
                stride = 2 if (j == 0 and i > 0) else 1
                layers.append(InvertedResidual(previous, channels, stride, expand=1 if i == 0 else expand, act=act))
                previous = channels
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = self.stem(x)
        features = []
        for stage in self.stages:
            y = stage(y)
            features.append(y)
        return features


class MobileUpStage(nn.Module):
    """x2 upsample, concat the skip, 1x1 conv to `out_channels`, inverted residual refinement."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, expand: int, act: str,
                 upsample: str) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode=upsample)
        self.fuse = ConvBNAct(in_channels + skip_channels, out_channels, 1, act=act)
        self.refine = InvertedResidual(out_channels, out_channels, 1, expand=expand, act=act)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.refine(self.fuse(torch.cat([self.up(x), skip], dim=1)))


class MobileDecoder(nn.Module):
    def __init__(self, in_channels: int, encoder_channels: list[int], width: int, expand: int, act: str,
                 upsample: str) -> None:
        super().__init__()
        decoder_channels = [_channels(width * m) for m in (4, 2, 1.5, 1)]  # strides 16, 8, 4, 2
        # the refinement blocks expand less where the maps are large: most MACs are spent there
        decoder_expand = [expand, expand, max(1, expand // 2), max(1, expand // 2)]
        stages = []
        previous = encoder_channels[-1]
        for skip, channels, stage_expand in zip(reversed(encoder_channels[:-1]), decoder_channels, decoder_expand):
            stages.append(MobileUpStage(previous, skip, channels, stage_expand, act, upsample))
            previous = channels
        self.stages = nn.ModuleList(stages)
        self.out_channels = _channels(width / 2)
        self.full_resolution = MobileUpStage(previous, in_channels, self.out_channels, 1, act, upsample)

    def forward(self, features: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y = features[-1]
        taps = []
        for stage, skip in zip(self.stages, reversed(features[:-1])):
            y = stage(y, skip)
            taps.append(y)
        y = self.full_resolution(y, x)
        taps.append(y)
        return y, taps


class MobileUNet(EncoderDecoder):
    def __init__(self, in_channels: int, out_channels: int, width: int = 16, expand: int = 4,
                 act: str = "relu6", upsample: str = "nearest", output_activation: str = "none",
                 residual_input: bool = False, correction: str = "add", downscale: int = 1) -> None:
        if act not in _ACTIVATIONS:
            raise ValueError(f"mobile_unet: act must be one of {sorted(_ACTIVATIONS)}, not {act!r}")
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"mobile_unet: upsample must be 'nearest' or 'bilinear', not {upsample!r}")
        if output_activation not in _OUTPUT_ACTIVATIONS:
            raise ValueError(f"mobile_unet: output_activation must be one of {sorted(_OUTPUT_ACTIVATIONS)}")
        if width < 4:
            raise ValueError(f"mobile_unet: width must be >= 4, got {width}")
        encoder = MobileEncoder(in_channels, width, expand, act)
        decoder = MobileDecoder(in_channels, encoder.channels, width, expand, act, upsample)
        head = nn.Sequential(nn.Conv2d(decoder.out_channels, head_channels(out_channels, residual_input, correction), 1),
                             _OUTPUT_ACTIVATIONS[output_activation]())
        super().__init__(encoder, decoder, head, size_multiple=32, out_channels=out_channels,
                         residual_input=residual_input, correction=correction, downscale=downscale)


@register_model("mobile_unet")
def mobile_unet(in_channels: int, out_channels: int, width: int = 16, expand: int = 4, act: str = "relu6",
                upsample: str = "nearest", output_activation: str = "none",
                residual_input: bool = False, correction: str = "add", downscale: int = 1) -> MobileUNet:
    """Edge student (inverted-residual U-Net). Input H, W must be multiples of 32."""
    return MobileUNet(in_channels, out_channels, width=width, expand=expand, act=act, upsample=upsample,
                      output_activation=output_activation, residual_input=residual_input,
                      correction=correction, downscale=downscale)
