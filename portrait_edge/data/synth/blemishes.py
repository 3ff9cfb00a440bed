"""Skin blemishes for the retouch pairs: acne, pimples (with a pale head), dark spots, redness and scars.

Blemishes are placed on visible face skin (and nose) of the render, sized relative to the face, and
applied to the albedo (before lighting) so they are shaded like skin. Each blemish has compact
support: the mask is exactly 0 outside its footprint.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from portrait_edge.data.synth.raycast import box_pixels
from portrait_edge.data.synth.textures import smoothstep
from portrait_edge.labels import CLASS_ID

MAX_BLEMISHES = 24
KINDS = ("acne", "pimple", "dark_spot", "redness", "scar")
# Multiplicative albedo change at the blemish centre (r, g, b) and extra pale head for pimples.
_TINT = {0: (0.92, 0.62, 0.6), 1: (0.95, 0.6, 0.58), 2: (0.62, 0.55, 0.52), 3: (1.0, 0.78, 0.78), 4: (1.08, 0.9, 0.9)}


def _draw(seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: MAX_BLEMISHES candidate (x, y in [0, 1] of the face box, radius rel. to face, kind,
    elongation, angle, strength); count of active ones."""
    params, counts = [], []
    for s in seeds:
        rng = np.random.default_rng([s, 11])
        count = int(rng.integers(3, MAX_BLEMISHES + 1))
        kinds = rng.choice(len(KINDS), size=MAX_BLEMISHES, p=[0.3, 0.2, 0.25, 0.15, 0.1])
        radius = np.where(kinds == 3, rng.uniform(0.04, 0.09, MAX_BLEMISHES), rng.uniform(0.012, 0.032, MAX_BLEMISHES))
        elong = np.where(kinds == 4, rng.uniform(3.0, 7.0, MAX_BLEMISHES), rng.uniform(1.0, 1.4, MAX_BLEMISHES))
        params.append(np.stack([rng.uniform(0.1, 0.9, MAX_BLEMISHES), rng.uniform(0.05, 0.95, MAX_BLEMISHES), radius, kinds,
                                elong, rng.uniform(0, math.pi, MAX_BLEMISHES), rng.uniform(0.6, 1.0, MAX_BLEMISHES)], -1))
        counts.append(count)
    return np.stack(params), np.array(counts)


def blemish_albedo(albedo: torch.Tensor, labels: torch.Tensor, landmarks: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (blemished albedo [N, 3, H, W], blemish mask [N, 1, H, W] in [0, 1])."""
    n, _, h, w = albedo.shape
    device = albedo.device
    params, counts = _draw(seeds)
    p = torch.as_tensor(params, dtype=torch.float32, device=device)  # [N, K, 7]
    active = torch.arange(MAX_BLEMISHES, device=device)[None] < torch.as_tensor(counts, device=device)[:, None]
    low = landmarks[..., :2].amin(1)
    high = landmarks[..., :2].amax(1)
    face_size = (high - low).amax(-1)  # pixels
    cx = low[:, 0, None] + p[..., 0] * (high - low)[:, 0, None]
    cy = low[:, 1, None] + p[..., 1] * (high - low)[:, 1, None]
    skin = (labels == CLASS_ID["skin"]) | (labels == CLASS_ID["nose"])
    # Keep blemishes whose centre lands on skin.
    ix = cx.long().clamp(0, w - 1)
    iy = cy.long().clamp(0, h - 1)
    on_skin = skin[torch.arange(n, device=device)[:, None], iy, ix]
    active = active & on_skin
    radius = (p[..., 2] * face_size[:, None]).clamp(min=0.8)
    reach = radius * p[..., 4] + 1.5
    x0 = torch.floor(cx - reach).clamp(0, w - 1).long()
    y0 = torch.floor(cy - reach).clamp(0, h - 1).long()
    bw = (torch.ceil(cx + reach).clamp(-1, w - 1).long() - x0 + 1).clamp(min=0)
    bh = (torch.ceil(cy + reach).clamp(-1, h - 1).long() - y0 + 1).clamp(min=0)
    bh = torch.where(active, bh, torch.zeros_like(bh))
    box, u, v = box_pixels(x0.reshape(-1), y0.reshape(-1), bw.reshape(-1), bh.reshape(-1))
    sample = box // MAX_BLEMISHES
    q = p.reshape(-1, 7)[box]
    dx = u.float() + 0.5 - cx.reshape(-1)[box]
    dy = v.float() + 0.5 - cy.reshape(-1)[box]
    c, s = torch.cos(q[:, 5]), torch.sin(q[:, 5])
    along, across = dx * c + dy * s, -dx * s + dy * c
    r = radius.reshape(-1)[box]
    d = torch.sqrt((along / (r * q[:, 4])) ** 2 + (across / r) ** 2)
    alpha = smoothstep(1.0, 0.45, d) * q[:, 6]
    flat = sample * h * w + v * w + u
    alpha = alpha * skin.reshape(-1)[flat]
    kind = q[:, 3].long()
    tint = torch.tensor([_TINT[k] for k in range(len(KINDS))], device=device)[kind]
    factor = 1.0 + alpha[:, None] * (tint - 1.0)
    head = ((kind == 1) & (d < 0.35)).float() * alpha
    factor = factor * (1.0 + head[:, None] * torch.tensor([0.35, 0.55, 0.45], device=device))
    log_factor = torch.zeros(n * h * w, 3, device=device).index_add_(0, flat, torch.log(factor.clamp(min=1e-3)))
    coverage = torch.zeros(n * h * w, device=device).index_add_(0, flat, alpha)
    out = albedo * torch.exp(log_factor).view(n, h, w, 3).permute(0, 3, 1, 2)
    mask = coverage.clamp(0, 1).view(n, 1, h, w)
    return out.clamp(0, 1), mask
