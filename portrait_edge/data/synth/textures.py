"""Procedural texture helpers: smoothstep, wrapped texture lookups at pixel lists, blurs, fBm."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smoothstep(edge0: float | torch.Tensor, edge1: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lookup(texture: torch.Tensor, batch: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bilinear, wrapping lookup of texture [N, C, h, w] at texel coordinates (u along w, v along h)
    for pixel lists (batch [P] sample index) -> [P, C]. Exact per sample (no dependence on N)."""
    n, c, h, w = texture.shape
    flat = texture.permute(0, 2, 3, 1).reshape(-1, c)
    u0f, v0f = torch.floor(u), torch.floor(v)
    fu, fv = (u - u0f)[:, None], (v - v0f)[:, None]
    u0 = u0f.long().remainder(w)
    v0 = v0f.long().remainder(h)
    u1 = torch.where(u0 == w - 1, 0, u0 + 1)
    row0 = batch * (h * w) + v0 * w
    row1 = batch * (h * w) + torch.where(v0 == h - 1, 0, v0 + 1) * w
    top = torch.lerp(flat[row0 + u0], flat[row0 + u1], fu)
    bottom = torch.lerp(flat[row1 + u0], flat[row1 + u1], fu)
    return torch.lerp(top, bottom, fv)


def fbm_texture(noise: torch.Tensor, octaves: int = 4, base_res: int = 4, out_res: int = 64) -> torch.Tensor:
    """Smooth fractal noise [N, C, out, out] from white noise [N, C, R, R]: octave k takes a
    (base_res * 2^k)^2 crop of the noise and upsamples it bicubically; amplitudes halve per octave."""
    out = torch.zeros(noise.shape[0], noise.shape[1], out_res, out_res, device=noise.device)
    total = 0.0
    for k in range(octaves):
        res = min(base_res * 2**k, noise.shape[-1])
        # Different octaves read different corners of the noise so they are independent.
        offset = (k * 7) % max(1, noise.shape[-1] - res + 1)
        crop = noise[..., offset:offset + res, offset:offset + res]
        out = out + F.interpolate(crop, size=(out_res, out_res), mode="bicubic", align_corners=False) * 0.5**k
        total += 0.25**k
    return out / math.sqrt(total)


def gaussian_kernel(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """[N, 2 radius + 1] normalised 1D Gaussians for per-sample sigmas [N] (sigma 0 = identity)."""
    x = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    s = sigma.clamp(min=1e-3)[:, None]
    k = torch.exp(-0.5 * (x[None] / s) ** 2)
    # Each sample's own support (3 sigma), so its result does not depend on the others in the batch.
    k = torch.where(x[None].abs() <= torch.ceil(3.0 * s), k, torch.zeros_like(k))
    return k / k.sum(-1, keepdim=True)


def blur(image: torch.Tensor, sigma: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W] with a per-sample sigma [N] (pixels)."""
    n, c, h, w = image.shape
    if radius is None:
        radius = max(1, int(math.ceil(3.0 * float(sigma.max()))))
    radius = min(radius, (min(h, w) - 1) // 2)
    k = gaussian_kernel(sigma, radius).repeat_interleave(c, 0)  # [N*C, K]
    x = image.reshape(1, n * c, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k[:, None, None, :], groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def masked_blur(image: torch.Tensor, mask: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Normalised convolution: blurs only inside mask [N, 1, H, W] without bleeding from outside."""
    both = blur(torch.cat([image * mask, mask], 1), sigma)
    return both[:, :-1] / both[:, -1:].clamp(min=1e-4)


def box_downsample_blur(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Cheap wide blur: average-pool by `factor` and upsample bilinearly."""
    if factor <= 1:
        return image
    h, w = image.shape[-2:]
    small = F.avg_pool2d(image, factor, ceil_mode=True, count_include_pad=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
