"""GridNet (Fourure et al. 2017), the teacher of `shadow` and `facial_shadow` (seed 000).

A grid of `rows` streams, one per resolution (row r at stride 2**r with width * 2**r channels), and
`columns` columns. Along a row, residual lateral blocks (conv-BN-ReLU x2 + skip); in the first half of
the columns, downsampling blocks (stride-2 3x3 conv) feed each row into the row below; in the second
half, upsampling blocks (x2 bilinear + 3x3 conv) feed each row into the row above. Where two paths
meet they are added. Input: a 3x3 conv stem into row 0; output: a 3x3 conv head from row 0, plus the
input image when `residual_input` (the network predicts a correction, "add" or "gain", which suits
shadow removal; its head starts at zero, so an untrained network returns its input). `downscale`: the
grid works at 1/downscale of the input's size (see encoder_decoder.EncoderDecoder).

Feature taps (forward_features): the last column's nodes, coarse to fine (strides 2**(rows-1) .. 1).
"""

from __future__ import annotations

import torch
from torch import nn

from portrait_edge.nn import register_model
from portrait_edge.nn.encoder_decoder import check_downscale, correct_input, grow, head_channels, shrink, zero_init


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class LateralBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(channels, channels), *_conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DownBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(*_conv_bn_relu(in_channels, out_channels, stride=2), *_conv_bn_relu(out_channels, out_channels))


class UpBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         *_conv_bn_relu(in_channels, out_channels), *_conv_bn_relu(out_channels, out_channels))


class GridNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 32, rows: int = 4, columns: int = 6,
                 residual_input: bool = False, correction: str = "add", downscale: int = 1) -> None:
        super().__init__()
        if rows < 1 or columns < 2 or columns % 2:
            raise ValueError(f"gridnet: rows >= 1 and an even number of columns >= 2 needed, got {rows}, {columns}")
        check_downscale(downscale, residual_input)
        self.rows, self.columns, self.residual_input = rows, columns, residual_input
        self.out_channels, self.correction, self.downscale = out_channels, correction, downscale
        self.size_multiple = 2 ** (rows - 1) * downscale
        channels = [width * 2 ** r for r in range(rows)]
        half = columns // 2
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, channels[0]))
        # lateral[r][c]: row r, from column c to c + 1
        self.lateral = nn.ModuleList(nn.ModuleList(LateralBlock(channels[r]) for _ in range(columns - 1))
                                     for r in range(rows))
        # down[r][c]: row r -> r + 1 in column c (first half); up[r][c]: row r + 1 -> r in column half + c
        self.down = nn.ModuleList(nn.ModuleList(DownBlock(channels[r], channels[r + 1]) for _ in range(half))
                                  for r in range(rows - 1))
        self.up = nn.ModuleList(nn.ModuleList(UpBlock(channels[r + 1], channels[r]) for _ in range(half))
                                for r in range(rows - 1))
        self.head = nn.Conv2d(channels[0], head_channels(out_channels, residual_input, correction), 3, padding=1)
        if residual_input:
            zero_init(self.head)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"GridNet: input height and width must be multiples of {self.size_multiple}, "
                             f"got {height}x{width}")
        half = self.columns // 2
        # first column: the stem, then down the rows
        nodes = [self.stem(shrink(x, self.downscale))]
        for r in range(self.rows - 1):
            nodes.append(self.down[r][0](nodes[r]))
        for c in range(1, self.columns):
            lateral = [self.lateral[r][c - 1](nodes[r]) for r in range(self.rows)]
            if c < half:  # downsampling columns: top to bottom
                nodes = [lateral[0]]
                for r in range(1, self.rows):
                    nodes.append(lateral[r] + self.down[r - 1][c](nodes[r - 1]))
            else:  # upsampling columns: bottom to top
                nodes = [None] * self.rows
                nodes[-1] = lateral[-1]
                for r in range(self.rows - 2, -1, -1):
                    nodes[r] = lateral[r] + self.up[r][c - half](nodes[r + 1])
        y = self.head(nodes[0])
        if self.residual_input:
            y = correct_input(x, grow(y, self.downscale), self.out_channels, self.correction)
        return y, list(reversed(nodes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


@register_model("gridnet")
def gridnet(in_channels: int, out_channels: int, width: int = 32, rows: int = 4, columns: int = 6,
            residual_input: bool = True, correction: str = "add", downscale: int = 1) -> GridNet:
    """GridNet teacher (image to image; by default predicts a correction added to the input image).
    Input H, W must be multiples of 2**(rows-1)."""
    return GridNet(in_channels, out_channels, width=width, rows=rows, columns=columns, residual_input=residual_input,
                   correction=correction, downscale=downscale)
