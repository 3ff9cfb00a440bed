"""Procedural texture helpers: smoothstep, wrapped texture lookups at pixel lists, blurs, fBm."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smoothstep(edge0: float | torch.Tensor, edge1: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _wrap(index: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(index mod size, (index + 1) mod size) for integer indices (a bit mask for powers of two)."""
    if size & (size - 1) == 0:
        i0 = index & (size - 1)
        return i0, (i0 + 1) & (size - 1)
    i0 = index.remainder(size)
    return i0, torch.where(i0 == size - 1, 0, i0 + 1)


def lookup(texture: torch.Tensor, batch: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bilinear, wrapping lookup of texture [N, C, h, w] at texel coordinates (u along w, v along h)
    for pixel lists (batch [P] sample index) -> [P, C]. Exact per sample (no dependence on N)."""
    n, c, h, w = texture.shape
    # One channel: 1D gathers and lerps (the same values, without [P, 1] broadcasting).
    flat = texture.reshape(-1) if c == 1 else texture.permute(0, 2, 3, 1).reshape(-1, c)
    u0f, v0f = torch.floor(u), torch.floor(v)
    fu, fv = u - u0f, v - v0f
    if c > 1:
        fu, fv = fu[:, None], fv[:, None]
    u0, u1 = _wrap(u0f.int(), w)
    v0, v1 = _wrap(v0f.int(), h)
    base = batch.int() * (h * w)
    row0 = base + v0 * w
    row1 = base + v1 * w
    texel = lambda i: flat.index_select(0, i)  # noqa: E731  (index_select: much faster than flat[i])
    top = torch.lerp(texel(row0 + u0), texel(row0 + u1), fu)
    bottom = torch.lerp(texel(row1 + u0), texel(row1 + u1), fu)
    out = torch.lerp(top, bottom, fv)
    return out if c > 1 else out[:, None]


def lookup_row(texture: torch.Tensor, batch: torch.Tensor, u: torch.Tensor, row: int) -> torch.Tensor:
    """lookup(texture[:, :1], batch, u, full(row))[:, 0] for an integer texel row -> [P]: the vertical
    weight is 0, so only the linear interpolation along u remains (bitwise the same result)."""
    n, _, h, w = texture.shape
    flat = texture[:, 0].reshape(-1)
    u0f = torch.floor(u)
    u0, u1 = _wrap(u0f.int(), w)
    base = batch.int() * (h * w) + (row % h) * w
    return torch.lerp(flat.index_select(0, base + u0), flat.index_select(0, base + u1), u - u0f)


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
