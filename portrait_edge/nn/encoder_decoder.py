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
from torch import nn


class EncoderDecoder(nn.Module):
    """encoder + decoder + head; optionally adds the input's first C_out channels to the output.

    `residual_input` suits image-to-image tasks (the network learns a correction to the input image;
    the head's last convolution starts at zero, so training starts from the identity).
    `size_multiple` is the factor H and W must be divisible by (2 ** number of downsamplings).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, head: nn.Module, *,
                 size_multiple: int, residual_input: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        self.size_multiple = size_multiple
        self.residual_input = residual_input
        if residual_input:  # start as the identity: the head's last convolution begins at zero
            last = [m for m in head.modules() if isinstance(m, nn.Conv2d)][-1]
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)

    def _check_size(self, x: torch.Tensor) -> None:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"{type(self).__name__}: input height and width must be multiples of "
                             f"{self.size_multiple}, got {height}x{width}")

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check_size(x)
        features = self.encoder(x)
        final, taps = self.decoder(features, x)
        y = self.head(final)
        if self.residual_input:
            y = y + (x if x.shape[1] == y.shape[1] else x[:, : y.shape[1]])  # a whole-tensor slice exports as an alias node Core ML cannot convert
        return y, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
