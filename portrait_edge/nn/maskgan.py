"""Mask-guided portrait editing (Gu et al. 2019; seed 002), the teacher of `maskedit`.

Input: ONE tensor [N, 41, H, W] = source image (3, RGB in [0, 1]), source mask (19, one-hot), target
mask (19, one-hot), as TaskSpec.inputs packs them. Output: RGB [N, 3, H, W], the source's appearance
laid out as the target mask says.

Three sub-networks, as in the source:
1. Local embedding: one auto-encoder per COMPONENT (left eye, right eye, mouth, skin, hair). Encoder
   E_i sees the source image inside the component's source mask (and the mask) and returns a feature
   map at 1/4 size; decoder D_i rebuilds the masked component from it (`local_reconstruction`, the
   local loss). The embedding reaches the generator in two forms: the component's mean feature over its
   SOURCE region (its style, a vector) painted into its TARGET region, and the feature map itself where
   source and target regions overlap (detail that stays where it was). So a mouth drawn somewhere new
   gets the source mouth's colour, and an unchanged cheek keeps its texture.
2. Mask-guided generator: the target-mask encoder E_m (1, 1/2, 1/4 size) and a residual generator at
   1/4 size over [E_m features, painted styles, kept details, background features].
3. Background fusing: E_b encodes the source outside its face and hair (the background, clothes) at
   the same three sizes; the decoder fuses them with the generator's features through skip connections
   up to full size. Pixels that are background in BOTH masks are copied from the source image (the
   edit cannot move them), so only the face, hair and their surroundings are generated.

Feature taps (forward_features): the generator's output at 1/4 size, then the decoder at 1/2 and 1/1.
The discriminator is pix2pixHD's multiscale PatchGAN (2 scales in the source) on (target mask, image)
pairs, built by the adversarial loss term (portrait_edge.train.adversarial) from the task's
discriminator_pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from portrait_edge.labels import CLASS_ID, NUM_CLASSES
from portrait_edge.nn import register_model

# Component -> the parsing classes it covers (the source's five local auto-encoders). Glasses belong to
# none: "glasses on" comes from the target mask alone, "glasses off" is filled with the skin's style.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "l_eye": ("l_eye", "l_brow"),
    "r_eye": ("r_eye", "r_brow"),
    "mouth": ("mouth", "u_lip", "l_lip"),
    "skin": ("skin", "nose", "l_ear", "r_ear", "ear_r", "neck", "neck_l"),
    "hair": ("hair", "hat"),
}
FOREGROUND = tuple(name for names in COMPONENTS.values() for name in names) + ("eye_g",)
MASK_CHANNELS = NUM_CLASSES
# the channels of the packed input (the task's ChannelGroups, in order)
SOURCE_IMAGE = slice(0, 3)
SOURCE_MASK = slice(3, 3 + MASK_CHANNELS)
TARGET_MASK = slice(3 + MASK_CHANNELS, 3 + 2 * MASK_CHANNELS)


def split_inputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N, 41, H, W] -> source image, source mask, target mask."""
    return x[:, SOURCE_IMAGE], x[:, SOURCE_MASK], x[:, TARGET_MASK]


def class_sum(mask: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """The one-hot channels of `names` summed: [N, 1, H, W]."""
    return mask[:, [CLASS_ID[n] for n in names]].sum(1, keepdim=True)


def background_kept(source_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Pixels that are background in both masks: the edit copies them from the source."""
    return source_mask[:, CLASS_ID["background"]:CLASS_ID["background"] + 1] * \
        target_mask[:, CLASS_ID["background"]:CLASS_ID["background"] + 1]


def masked_mean(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `features` [N, C, h, w] over `mask` [N, 1, h, w]: [N, C, 1, 1] (0 where the mask is empty)."""
    return (features * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True).clamp(min=1e-3)


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), nn.LeakyReLU(0.2, inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Pyramid(nn.Module):
    """Three convs at 1, 1/2, 1/4 size (widths w, 2w, 4w); returns the three maps."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.levels = nn.ModuleList([_conv(in_channels, width), _conv(width, 2 * width, 2), _conv(2 * width, 4 * width, 2)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for level in self.levels:
            x = level(x)
            maps.append(x)
        return maps


class LocalAutoEncoder(nn.Module):
    """One component's auto-encoder: (masked RGB, mask) -> features at 1/4 size -> RGB."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_conv(4, width // 2), _conv(width // 2, width, 2), _conv(width, width, 2),
                                     nn.Conv2d(width, width, 3, padding=1))
        self.decoder = nn.Sequential(_conv(width, width), nn.Upsample(scale_factor=2, mode="nearest"),
                                     _conv(width, width // 2), nn.Upsample(scale_factor=2, mode="nearest"),
                                     _conv(width // 2, width // 2), nn.Conv2d(width // 2, 3, 3, padding=1))

    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([image * mask, mask], 1))


class MaskGuidedGenerator(nn.Module):
    size_multiple = 4

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, embedding: int = 32, blocks: int = 4) -> None:
        super().__init__()
        if in_channels != 3 + 2 * MASK_CHANNELS or out_channels != 3:
            raise ValueError(f"maskgan_generator maps {3 + 2 * MASK_CHANNELS} input channels (image, source mask, "
                             f"target mask) to 3, not {in_channels} to {out_channels}")
        self.local = nn.ModuleDict({name: LocalAutoEncoder(embedding) for name in COMPONENTS})
        self.mask_encoder = _Pyramid(MASK_CHANNELS, width)
        self.background_encoder = _Pyramid(5, width)  # masked RGB, its mask, the kept-background mask
        self.fuse = nn.Sequential(nn.Conv2d(8 * width + 2 * embedding, 4 * width, 1), nn.LeakyReLU(0.2, inplace=True),
                                  *[_Residual(4 * width) for _ in range(blocks)])
        self.up_half = _conv(4 * width + 4 * width, 2 * width)  # after x2: generator + mask and background skips
        self.up_full = _conv(2 * width + 2 * width + 3, width)
        self.head = nn.Conv2d(width, out_channels, 3, padding=1)

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[-1] % self.size_multiple or x.shape[-2] % self.size_multiple:
            raise ValueError(f"maskgan_generator: height and width must be multiples of {self.size_multiple}")

    def _components(self, source_mask: torch.Tensor, target_mask: torch.Tensor):
        for name, classes in COMPONENTS.items():
            yield name, class_sum(source_mask, classes), class_sum(target_mask, classes)

    def local_reconstruction(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per component: (reconstruction, masked source image, source mask) at full size."""
        image, source_mask, _ = split_inputs(x)
        out = []
        for name, classes in COMPONENTS.items():
            mask = class_sum(source_mask, classes)
            autoencoder = self.local[name]
            out.append((autoencoder.decoder(autoencoder.encode(image, mask)), image * mask, mask))
        return out

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check(x)
        image, source_mask, target_mask = split_inputs(x)
        quarter = (x.shape[-2] // 4, x.shape[-1] // 4)
        styles, details = 0, 0
        for name, source, target in self._components(source_mask, target_mask):
            features = self.local[name].encode(image, source)
            source_q, target_q = F.interpolate(source, quarter, mode="area"), F.interpolate(target, quarter, mode="area")
            styles = styles + masked_mean(features, source_q) * target_q
            details = details + features * source_q * target_q
        keep = background_kept(source_mask, target_mask)
        source_background = 1 - class_sum(source_mask, FOREGROUND)
        mask_maps = self.mask_encoder(target_mask)
        background_maps = self.background_encoder(torch.cat([image * source_background, source_background, keep], 1))
        y = self.fuse(torch.cat([mask_maps[2], background_maps[2], styles, details], 1))
        taps = [y]
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = self.up_half(torch.cat([y, mask_maps[1], background_maps[1]], 1))
        taps.append(y)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = self.up_full(torch.cat([y, mask_maps[0], background_maps[0], image * source_background], 1))
        taps.append(y)
        generated = self.head(y)
        return generated + keep * (image - generated), taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


@register_model("maskgan_generator")
def maskgan_generator(in_channels: int, out_channels: int, width: int = 32, embedding: int = 32,
                      blocks: int = 4) -> nn.Module:
    return MaskGuidedGenerator(in_channels, out_channels, width=width, embedding=embedding, blocks=blocks)
