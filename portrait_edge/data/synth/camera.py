"""Camera: lens blur, vignetting, white balance, tone curve to sRGB, sensor noise and JPEG artefacts.

`develop` takes linear radiance and returns an sRGB image in [0, 1]. The noise of a sample comes from
its own camera seed, so two renders of one scene (e.g. lit and shadowed) get identical noise and pair
builders can mix them pixel by pixel. JPEG is simulated in torch (YCbCr, 4:2:0 chroma, 8x8 DCT,
standard quantisation tables scaled by quality) so it runs on any device without PIL round trips.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from portrait_edge.data.synth.textures import blur

_LUMA_TABLE = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
               14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
               49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA_TABLE = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
                 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32


def tone_map(linear: torch.Tensor) -> torch.Tensor:
    """Soft-shoulder tone curve and sRGB-like gamma: linear radiance -> display values in [0, 1]."""
    x = linear.clamp(min=0)
    # The shoulder only on the (few) values above 0.8, in place on one fresh copy.
    high = (x >= 0.8).nonzero(as_tuple=True)
    x[high] = 0.8 + 0.2 * torch.tanh((x[high] - 0.8) / 0.2)
    return x.clamp_(1e-8, 1.0).pow_(1 / 2.2)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, device=device, dtype=torch.float32)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] = m[0] / math.sqrt(2)
    return m


def _quality_tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q = quality.clamp(1, 100)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)[:, None]
    tables = []
    for base in (_LUMA_TABLE, _CHROMA_TABLE):
        t = torch.tensor(base, device=quality.device, dtype=torch.float32)[None]
        tables.append(torch.floor((t * scale + 50) / 100).clamp(1, 255).view(-1, 1, 1, 8, 8))
    return tables[0], tables[1]


def _blocks(channel: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Quantise one channel [N, H, W] (values 0..255, sizes multiple of 8) in 8x8 DCT blocks."""
    n, h, w = channel.shape
    blocks = channel.reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4) - 128.0
    coeff = dct @ blocks @ dct.T
    coeff = torch.round(coeff / table) * table
    out = dct.T @ coeff @ dct + 128.0
    return out.permute(0, 1, 3, 2, 4).reshape(n, h, w)


def jpeg(image: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG round trip of [N, 3, H, W] sRGB in [0, 1]; quality [N] in 1..100 (0 = leave unchanged)."""
    n, _, h, w = image.shape
    ph, pw = (-h) % 16, (-w) % 16
    x = F.pad(image, (0, pw, 0, ph), mode="replicate") * 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    dct = _dct_matrix(image.device)
    luma_t, chroma_t = _quality_tables(torch.where(quality > 0, quality, torch.full_like(quality, 100.0)))
    y = _blocks(y, luma_t, dct)
    chroma = []
    for c in (cb, cr):
        small = _blocks(F.avg_pool2d(c[:, None], 2)[:, 0], chroma_t, dct)  # 4:2:0; sizes are multiples of 8
        chroma.append(F.interpolate(small[:, None], scale_factor=2, mode="bilinear", align_corners=False)[:, 0])
    cb, cr = chroma
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    out = (torch.stack([r, g, b], 1) / 255.0)[:, :, :h, :w].clamp(0, 1)
    return torch.where((quality > 0)[:, None, None, None], out, image)


def sensor_noise(seeds: torch.Tensor, shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """Unit Gaussian noise [N, C, H, W], one independent stream per sample seed (drawn on the CPU)."""
    out = []
    for seed in seeds.tolist():
        generator = torch.Generator().manual_seed(int(seed))
        out.append(torch.randn(shape, generator=generator))
    return torch.stack(out).to(device)


def develop(linear: torch.Tensor, app: dict, noise: torch.Tensor | None = None, jpeg_on: bool = True) -> torch.Tensor:
    """Linear radiance [N, 3, H, W] -> camera image in [0, 1] (sRGB)."""
    n, _, h, w = linear.shape
    cam = app["camera"]
    exposure, sigma, read, shot, quality, wb_r, wb_b, vignette = (cam[:, k] for k in range(8))
    # In-place steps on one fresh tensor: full-size temporaries cost page faults on every call.
    x = linear * exposure[:, None, None, None]
    x.mul_(torch.stack([torch.exp(wb_r), torch.ones_like(wb_r), torch.exp(wb_b)], 1)[:, :, None, None])
    coord = (torch.arange(h, device=linear.device, dtype=torch.float32) + 0.5) / h * 2 - 1
    r2 = coord[None, :, None] ** 2 + coord[None, None, :] ** 2
    x.mul_(1.0 - vignette[:, None, None, None] * 0.5 * r2[:, None])
    if float(sigma.max()) > 0.05:
        x = blur(x, sigma * h / 256.0)
    x = tone_map(x)
    if noise is None:
        noise = sensor_noise(app["camera_seed"], (3, h, w), linear.device)
    std = (shot[:, None, None, None] ** 2 * x).add_(read[:, None, None, None] ** 2).sqrt_()
    x = std.mul_(noise).add_(x).clamp_(0, 1)  # x + std * noise
    if jpeg_on:
        x = jpeg(x, quality)
    return x
