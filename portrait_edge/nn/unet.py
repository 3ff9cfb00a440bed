"""The classic U-Net (Ronneberger et al. 2015), the teacher of `parsing` and `normals` (seeds 001, 002).

Encoder: a double 3x3 conv (conv + BatchNorm + ReLU, twice) at full resolution, then `depth` stages of
2x2 max-pool + double conv, doubling the channels each time (width, 2w, 4w, 8w, 16w for depth 4).
Decoder: per stage a 2x2 transposed conv (stride 2) halving the channels, concat with the encoder
feature of the same stride (the skip), double conv. Head: 1x1 conv to the output channels.

Feature taps (forward_features): the bottleneck (stride 2**depth) and each decoder stage output,
coarse to fine; the last tap is at the input resolution with `width` channels.
"""

from __future__ import annotations

import torch
from torch import nn

from portrait_edge.nn import register_model
from portrait_edge.nn.encoder_decoder import EncoderDecoder, head_channels


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNetEncoder(nn.Module):
    def __init__(self, in_channels: int, width: int, depth: int) -> None:
        super().__init__()
        self.channels = [width * 2 ** i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, self.channels[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(self.channels[i], self.channels[i + 1]))
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(x)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features


class UNetUpStage(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(in_channels // 2 + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class UNetDecoder(nn.Module):
    def __init__(self, encoder_channels: list[int]) -> None:
        super().__init__()
        stages = []
        for i in range(len(encoder_channels) - 1, 0, -1):
            stages.append(UNetUpStage(encoder_channels[i], encoder_channels[i - 1], encoder_channels[i - 1]))
        self.stages = nn.ModuleList(stages)
        self.out_channels = encoder_channels[0]

    def forward(self, features: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        y = features[-1]
        taps = [y]
        for stage, skip in zip(self.stages, reversed(features[:-1])):
            y = stage(y, skip)
            taps.append(y)
        return y, taps


class UNet(EncoderDecoder):
    def __init__(self, in_channels: int, out_channels: int, width: int = 64, depth: int = 4,
                 residual_input: bool = False, correction: str = "add", downscale: int = 1) -> None:
        if width < 1 or depth < 1:
            raise ValueError(f"unet: width and depth must be positive, got width={width}, depth={depth}")
        encoder = UNetEncoder(in_channels, width, depth)
        decoder = UNetDecoder(encoder.channels)
        head = nn.Conv2d(decoder.out_channels, head_channels(out_channels, residual_input, correction), 1)
        super().__init__(encoder, decoder, head, size_multiple=2 ** depth, out_channels=out_channels,
                         residual_input=residual_input, correction=correction, downscale=downscale)


@register_model("unet")
def unet(in_channels: int, out_channels: int, width: int = 64, depth: int = 4,
         residual_input: bool = False, correction: str = "add", downscale: int = 1) -> UNet:
    """Classic U-Net teacher. Input H, W must be multiples of 2**depth (16 by default)."""
    return UNet(in_channels, out_channels, width=width, depth=depth, residual_input=residual_input, correction=correction,
                downscale=downscale)
