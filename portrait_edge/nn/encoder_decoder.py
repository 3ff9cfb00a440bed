"""The shape every architecture here shares: encoder -> decoder -> head (segmentation_models_pytorch style).

    encoder(x)            -> list of feature maps, finest first (one per stride)
    decoder(features)     -> (final feature map at the input resolution, taps coarse-to-fine)
    head(final)           -> the output tensor [N, C_out, H, W]

`forward(x)` returns the output; `forward_features(x)` returns `(output, taps)` where `taps` are the
decoder's feature maps ordered coarse to fine (the last one is at the input resolution). Feature
distillation pairs a student's taps with a teacher's from the fine end (see portrait_edge.train.distill).
The three parts are plain attributes, so an encoder, decoder or head can be swapped independently.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


CORRECTIONS = ("add", "gain")


def head_channels(out_channels: int, residual_input: bool, correction: str) -> int:
    """The channels a residual image network's head predicts: the correction's parameters."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, not {correction!r}")
    return 2 * out_channels if residual_input and correction == "gain" else out_channels


def correct_input(x: torch.Tensor, y: torch.Tensor, out_channels: int, correction: str) -> torch.Tensor:
    """A residual image network's output from its input x and its head's y.

    "add": x + y. "gain": x * (1 + gain) + offset with y = [gain, offset], a per-pixel, per-channel affine
    map of the input. Shadows, fill light and blemishes scale a photo's colour: as a gain that is one smooth
    map, as an added correction the network has to redraw the photo's texture inside every shadow.
    """
    # a whole-tensor slice exports as an alias node Core ML cannot convert: slice only when needed
    base = x if x.shape[1] == out_channels else x[:, :out_channels]
    if correction == "add":
        return base + y
    return base * (1 + y[:, :out_channels]) + y[:, out_channels:]


def check_downscale(downscale: int, residual_input: bool) -> None:
    if downscale < 1 or (downscale > 1 and not residual_input):
        raise ValueError(f"downscale must be >= 1, and > 1 only with residual_input (a correction is upsampled, "
                         f"an image would be blurred), got {downscale}")


def shrink(x: torch.Tensor, downscale: int) -> torch.Tensor:
    """The input a `downscale` network works on: x averaged over downscale x downscale blocks."""
    return F.avg_pool2d(x, downscale) if downscale > 1 else x


def grow(y: torch.Tensor, downscale: int) -> torch.Tensor:
    """A correction predicted at 1/downscale of the input's size, upsampled (bilinear) to it."""
    return F.interpolate(y, scale_factor=downscale, mode="bilinear", align_corners=False) if downscale > 1 else y


class InputCorrection(nn.Module):
    """correct_input (after `grow`) as a module of its own, without weights: an int8 program can leave it in
    float by name (convert recipe int8_float_modules: [correct]), so the photo passes through at full
    precision and only the small correction is quantized (an int8 output step of the whole image costs
    ~10 dB of PSNR on tasks that change little, such as retouching)."""

    def __init__(self, out_channels: int, correction: str, downscale: int) -> None:
        super().__init__()
        self.out_channels, self.correction, self.downscale = out_channels, correction, downscale

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return correct_input(x, grow(y, self.downscale), self.out_channels, self.correction)


def zero_init(conv: nn.Conv2d) -> None:
    """A residual network's last convolution starts at zero: an untrained network returns its input."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class EncoderDecoder(nn.Module):
    """encoder + decoder + head; optionally a correction of the input's first C_out channels.

    `residual_input` suits image-to-image tasks (the network learns a correction to the input image,
    `correction` "add" or "gain" (see correct_input); the head's last convolution starts at zero, so
    training starts from the identity). The head must predict head_channels(...) channels.
    `downscale` (residual only): the network sees the input averaged to 1/downscale of its size and its
    correction is upsampled to full size and applied to the full-size input, whose detail passes through
    untouched. Shadows and fill light are smooth: a network at half size sees twice the context for a
    quarter of the MACs.
    `size_multiple` is the factor H and W must be divisible by (2 ** number of downsamplings).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, head: nn.Module, *,
                 size_multiple: int, out_channels: int, residual_input: bool = False,
                 correction: str = "add", downscale: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        check_downscale(downscale, residual_input)
        self.size_multiple = size_multiple * downscale
        self.downscale = downscale
        self.out_channels, self.residual_input, self.correction = out_channels, residual_input, correction
        if residual_input:
            zero_init([m for m in head.modules() if isinstance(m, nn.Conv2d)][-1])
            self.correct = InputCorrection(out_channels, correction, downscale)

    def _check_size(self, x: torch.Tensor) -> None:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"{type(self).__name__}: input height and width must be multiples of "
                             f"{self.size_multiple}, got {height}x{width}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check_size(x)
        small = shrink(x, self.downscale)
        features = self.encoder(small)
        final, taps = self.decoder(features, small)
        y = self.head(final)
        if self.residual_input:
            y = self.correct(x, y)
        return y, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
