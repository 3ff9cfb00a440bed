"""Soft masks of foreign shadows cast on a portrait: hands, leaves, branches, hat brims and blobs.

Each mask is a signed-distance field in image space turned into coverage with a penumbra that varies
across the image (M = 1 in the umbra, exactly 0 beyond the penumbra), times an opacity. Shapes and
penumbra are drawn per sample from its own random stream, so a sample's mask depends only on its seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge.data.synth.textures import fbm_texture, smoothstep

SHAPES = ("hand", "leaves", "branches", "brim", "blob")
MAX_PARTS = 12


def _capsule(px, py, ax, ay, bx, by, r):
    """Signed distance to capsules (broadcast over parts): segment a-b with radius r."""
    dx, dy = bx - ax, by - ay
    t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).clamp(min=1e-9)).clamp(0, 1)
    return torch.sqrt((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) - r


def _sample_parts(rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """Shape id and up to MAX_PARTS capsules (ax, ay, bx, by, r) in [-1, 1] image coordinates, plus
    (penumbra, opacity, brim_height, brim_curve, blob_threshold, rotation)."""
    shape = int(rng.choice(len(SHAPES), p=[0.25, 0.25, 0.15, 0.15, 0.2]))
    parts = np.zeros((MAX_PARTS, 5))
    parts[:, 4] = -1.0  # unused parts have negative radius (never inside)
    centre = np.clip(rng.normal([0.0, -0.05], 0.25), -0.7, 0.7)  # mostly over the face
    angle = rng.uniform(0, 2 * math.pi)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    if shape == 0:  # hand: palm + four fingers + thumb
        s = rng.uniform(0.25, 0.5)
        local = [((0, -0.3), (0, 0.15), 0.32)]
        for k, x in enumerate((-0.27, -0.09, 0.09, 0.27)):
            spread = (x * 0.6) * rng.uniform(0.2, 1.0)
            length = rng.uniform(0.6, 0.85) * (0.85 if k in (0, 3) else 1.0)
            local.append(((x, 0.15), (x + spread, 0.15 + length), 0.075))
        local.append(((0.3, -0.25), (0.65, 0.1), 0.08))
        for k, (a, b, r) in enumerate(local):
            a, b = rot @ np.array(a) * s + centre, rot @ np.array(b) * s + centre
            parts[k] = [a[0], a[1], b[0], b[1], r * s]
    elif shape == 1:  # leaves: lens-like blobs along a twig
        count = int(rng.integers(3, MAX_PARTS))
        for k in range(count):
            p = centre + rng.normal(0, 0.35, 2)
            a = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(0.1, 0.25)
            d = np.array([math.cos(a), math.sin(a)]) * length
            parts[k] = [*(p - d), *(p + d), rng.uniform(0.04, 0.1)]
    elif shape == 2:  # branches: thin forking segments
        p = np.array([rng.uniform(-1.2, 1.2), -1.2])
        direction = rng.uniform(0.6, 2.5)
        for k in range(int(rng.integers(4, MAX_PARTS))):
            length = rng.uniform(0.3, 0.8)
            q = p + length * np.array([math.cos(direction), math.sin(direction)])
            parts[k] = [*p, *q, rng.uniform(0.012, 0.045)]
            p = q if rng.uniform() < 0.6 else p + (q - p) * rng.uniform(0.2, 0.8)
            direction += rng.normal(0, 0.6)
    extra = np.array([rng.uniform(0.01, 0.12), rng.uniform(0.65, 1.0), rng.uniform(-0.5, 0.3), rng.normal(0, 0.6),
                      rng.uniform(-0.2, 0.6), angle])
    return shape, parts, extra


def shadow_masks(seeds: list[int], size: int, device: torch.device | str) -> torch.Tensor:
    """Soft shadow masks [N, 1, size, size] in [0, 1] for per-sample seeds."""
    shapes, parts, extras, noise = [], [], [], []
    for s in seeds:
        rng = np.random.default_rng([s, 7])
        shape, p, e = _sample_parts(rng)
        shapes.append(shape), parts.append(p), extras.append(e)
        noise.append(rng.standard_normal((2, 32, 32)))
    shape = torch.as_tensor(shapes, device=device)[:, None, None]
    parts = torch.as_tensor(np.stack(parts), dtype=torch.float32, device=device)  # [N, K, 5]
    extra = torch.as_tensor(np.stack(extras), dtype=torch.float32, device=device)
    noise = torch.as_tensor(np.stack(noise), dtype=torch.float32, device=device)
    res = min(size, 128)  # masks are smooth: build at <= 128 px, upsample
    coord = (torch.arange(res, device=device, dtype=torch.float32) + 0.5) / res * 2 - 1
    py, px = torch.meshgrid(coord, coord, indexing="ij")
    px, py = px[None, :, :, None], py[None, :, :, None]
    p = parts[:, None, None, :, :]
    capsules = _capsule(px, py, p[..., 0], p[..., 1], p[..., 2], p[..., 3], p[..., 4])
    capsules = torch.where(p[..., 4] > 0, capsules, torch.full_like(capsules, 10.0)).amin(-1)
    fbm = fbm_texture(noise[:, :1], octaves=3, base_res=3, out_res=res)[:, 0]
    warp = fbm_texture(noise[:, 1:2], octaves=3, base_res=4, out_res=res)[:, 0]
    angle = extra[:, 5, None, None]
    along = px[..., 0] * torch.cos(angle) + py[..., 0] * torch.sin(angle)
    across = -px[..., 0] * torch.sin(angle) + py[..., 0] * torch.cos(angle)
    brim = across - (extra[:, 2, None, None] + extra[:, 3, None, None] * 0.3 * along**2 + 0.03 * warp)
    blob = extra[:, 4, None, None] - fbm
    distance = torch.where(shape <= 2, capsules + 0.015 * warp, torch.where(shape == 3, brim, blob * 0.5))
    penumbra = extra[:, 0, None, None] * (1.0 + 0.7 * warp.clamp(-1, 1)) + 2.0 / res
    mask = smoothstep(penumbra, -penumbra, distance) * extra[:, 1, None, None]
    mask = F.interpolate(mask[:, None], size=(size, size), mode="bilinear", align_corners=False)
    return torch.where(mask < 1e-3, torch.zeros_like(mask), mask).clamp(0, 1)
