"""pix2pixHD (Wang et al. 2018), the teacher of `retouch` (seed 003): a coarse-to-fine generator and
multiscale PatchGAN discriminators with feature matching.

Generator (`pix2pixhd_generator`): the global generator G1 runs on the input downsampled x2
(7x7 conv, `global_downsample` stride-2 convs doubling the channels, `global_blocks` residual blocks,
as many transposed convs back); the local enhancer G2 runs at full resolution (7x7 conv, one stride-2
conv), adds G1's last feature map (same size, same channels), then `local_blocks` residual blocks, one
transposed conv and a 7x7 conv to the output. InstanceNorm as in the paper (the teacher is never
exported to phones; students are `mobile_unet`). With `residual_input` the output corrects the
input image ("add" or "gain", see encoder_decoder.correct_input; retouching changes little of the photo).

Coarse to fine, as in the paper: `stage="global"` builds G1 alone with its own 7x7 output conv, run on
the input as given (train it on half-size images first); `stage="full"` (the default) is G1 + G2, and
`load_stage` starts it from a global-stage checkpoint (G1's weights; G2 and the head start fresh), after
which both are trained together at full size.

Feature taps (forward_features): G1's decoder outputs (coarse to fine), then G2's output before the head.

Discriminator (`pix2pixhd_discriminator`): `num_scales` PatchGANs on the (input, output) pair at
full, 1/2, 1/4 resolution; forward returns, per scale, the list of intermediate feature maps whose
last entry is the patch logits (the feature-matching loss compares the others). Not an image-to-image
model: it is used by the GAN loss terms (TaskSpec.extra_loss_terms), never exported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from portrait_edge.nn import register_model
from portrait_edge.nn.encoder_decoder import correct_input, head_channels, zero_init


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    pad = kernel // 2
    layers: list[nn.Module] = []
    if kernel == 7:
        layers.append(nn.ReflectionPad2d(pad))
        pad = 0
    layers += [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=pad), _norm(out_channels),
               nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
                         _norm(out_channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
                                  nn.ReLU(inplace=True), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  _norm(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalGenerator(nn.Module):
    """G1 without its output layer: returns its decoder feature maps (the last has `width` channels)."""

    def __init__(self, in_channels: int, width: int, downsample: int, blocks: int) -> None:
        super().__init__()
        self.stem = _conv_block(in_channels, width, 7)
        self.downs = nn.ModuleList(_conv_block(width * 2 ** i, width * 2 ** (i + 1), 3, stride=2)
                                   for i in range(downsample))
        bottom = width * 2 ** downsample
        self.blocks = nn.Sequential(*[ResidualBlock(bottom) for _ in range(blocks)])
        self.ups = nn.ModuleList(_up_block(width * 2 ** (i + 1), width * 2 ** i) for i in reversed(range(downsample)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = self.stem(x)
        for down in self.downs:
            y = down(y)
        y = self.blocks(y)
        taps = [y]
        for up in self.ups:
            y = up(y)
            taps.append(y)
        return taps


STAGES = ("global", "full")


def _head(width: int, out_channels: int, identity_start: bool) -> nn.Sequential:
    conv = nn.Conv2d(width, out_channels, 7)
    if identity_start:  # a residual generator starts as the identity (the photo unchanged)
        zero_init(conv)
    return nn.Sequential(nn.ReflectionPad2d(3), conv)


class Pix2PixHDGenerator(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 32, global_downsample: int = 4,
                 global_blocks: int = 9, local_blocks: int = 3, residual_input: bool = True,
                 correction: str = "add", stage: str = "full") -> None:
        super().__init__()
        if stage not in STAGES:
            raise ValueError(f"pix2pixHD: stage must be one of {', '.join(STAGES)}, not {stage!r}")
        self.out_channels, self.residual_input, self.correction, self.stage = out_channels, residual_input, correction, stage
        head = head_channels(out_channels, residual_input, correction)
        self.global_generator = GlobalGenerator(in_channels, width * 2, global_downsample, global_blocks)
        if stage == "global":
            self.size_multiple = 2 ** global_downsample
            self.global_head = _head(width * 2, head, residual_input)
            return
        self.size_multiple = 2 ** (global_downsample + 1)
        self.local_front = nn.Sequential(_conv_block(in_channels, width, 7), _conv_block(width, width * 2, 3, stride=2))
        self.local_blocks = nn.Sequential(*[ResidualBlock(width * 2) for _ in range(local_blocks)])
        self.local_up = _up_block(width * 2, width)
        self.head = _head(width, head, residual_input)

    def load_stage(self, state: dict[str, torch.Tensor]) -> int:
        """Starts the full generator from a global-stage checkpoint's G1; returns the tensors loaded."""
        prefix = "global_generator."
        mine = self.state_dict()
        taken = {k: v for k, v in state.items() if k.startswith(prefix) and k in mine and v.shape == mine[k].shape}
        if not taken or len(taken) != sum(k.startswith(prefix) for k in mine):
            raise ValueError("pix2pixHD: the checkpoint's global generator does not fit this one "
                             "(width, global_downsample and global_blocks must match)")
        self.load_state_dict({**mine, **{k: v.to(mine[k].dtype) for k, v in taken.items()}})
        return len(taken)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(f"pix2pixHD: input height and width must be multiples of {self.size_multiple}, "
                             f"got {height}x{width}")
        if self.stage == "global":
            taps = self.global_generator(x)
            out = self.global_head(taps[-1])
        else:
            coarse = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            taps = self.global_generator(coarse)
            y = self.local_blocks(self.local_front(x) + taps[-1])
            y = self.local_up(y)
            taps.append(y)
            out = self.head(y)
        if self.residual_input:
            out = correct_input(x, out, self.out_channels, self.correction)
        return out, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN (4x4 convs, LeakyReLU 0.2, InstanceNorm); returns every layer's output."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, width, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True))]
        channels = width
        for i in range(1, layers + 1):
            previous, channels = channels, min(width * 2 ** i, 512)
            stride = 2 if i < layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(previous, channels, 4, stride=stride, padding=2), _norm(channels),
                                        nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(channels, 1, 4, stride=1, padding=2)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, in_channels: int, width: int = 64, num_scales: int = 3, layers: int = 3) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, width, layers) for _ in range(num_scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for i, discriminator in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            results.append(discriminator(x))
        return results


@register_model("pix2pixhd_generator")
def pix2pixhd_generator(in_channels: int, out_channels: int, width: int = 32, global_downsample: int = 4,
                        global_blocks: int = 9, local_blocks: int = 3, residual_input: bool = True,
                        correction: str = "add", stage: str = "full") -> Pix2PixHDGenerator:
    """pix2pixHD global generator + local enhancer (stage "global": G1 alone, trained first at half size).
    Input H, W must be multiples of 2**(global_downsample+1) (2**global_downsample for the global stage)."""
    return Pix2PixHDGenerator(in_channels, out_channels, width=width, global_downsample=global_downsample,
                              global_blocks=global_blocks, local_blocks=local_blocks, residual_input=residual_input,
                              correction=correction, stage=stage)


@register_model("pix2pixhd_discriminator")
def pix2pixhd_discriminator(in_channels: int, out_channels: int = 1, width: int = 64, num_scales: int = 3,
                            layers: int = 3) -> MultiscaleDiscriminator:
    """Multiscale PatchGAN on the concatenated (input, output) pair: in_channels = C_in + C_out.
    out_channels is accepted for the registry's signature and must be 1 (patch logits)."""
    if out_channels != 1:
        raise ValueError("pix2pixhd_discriminator: out_channels must be 1 (real/fake logits per patch)")
    return MultiscaleDiscriminator(in_channels, width=width, num_scales=num_scales, layers=layers)
