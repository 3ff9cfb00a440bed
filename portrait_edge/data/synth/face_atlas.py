"""Face feature maps in the template's UV space (UV = frontal template x, y of each mesh vertex).

Regions are polygons through Face Mesh landmarks (lips, brows, nose) or soft blobs around them, so
they follow every identity deformation and pose exactly (a label boundary that runs along mesh edges
stays on them). Built once with numpy and cached per device.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from portrait_edge.data.synth.template import load_template
from portrait_edge.labels import CLASS_ID

ATLAS_RES = 256
U_RANGE = (-0.9, 0.9)
V_RANGE = (-0.95, 0.95)
CHANNELS = ("lips", "brow", "liner", "blush", "socket", "nostril", "stubble", "oily", "nose_tip", "crease")

# Nose outline in template coordinates: bridge between the eyes down to the alae and the subnasale.
NOSE_OUTLINE = [(-0.06, 0.37), (0.06, 0.37), (0.1, 0.25), (0.14, 0.14), (0.155, 0.08), (0.235, -0.03), (0.225, -0.065),
                (0.2, -0.105), (0.1, -0.12), (0.0, -0.135), (-0.1, -0.12), (-0.2, -0.105), (-0.225, -0.065),
                (-0.235, -0.03), (-0.155, 0.08), (-0.14, 0.14), (-0.1, 0.25)]


def _grid() -> np.ndarray:
    u = np.linspace(U_RANGE[0], U_RANGE[1], ATLAS_RES, endpoint=False) + (U_RANGE[1] - U_RANGE[0]) / (2 * ATLAS_RES)
    v = np.linspace(V_RANGE[1], V_RANGE[0], ATLAS_RES, endpoint=False) - (V_RANGE[1] - V_RANGE[0]) / (2 * ATLAS_RES)
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu, vv], -1).reshape(-1, 2)


def signed_distance(points: np.ndarray, polygon: np.ndarray, margin: float = 0.12) -> np.ndarray:
    """Signed distance of points [M, 2] to a closed polygon [K, 2] (negative inside); points farther
    than `margin` from the polygon's bounding box get the distance to that box (cheap, positive)."""
    low, high = polygon.min(0) - margin, polygon.max(0) + margin
    near = ((points >= low) & (points <= high)).all(1)
    box = np.linalg.norm(np.maximum(np.maximum(polygon.min(0) - points, points - polygon.max(0)), 0.0), axis=1)
    out = np.maximum(box, margin)
    out[near] = _exact_signed_distance(points[near], polygon)
    return out


def _exact_signed_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = np.clip((ap * ab[None]).sum(-1) / (ab * ab).sum(-1).clip(1e-12)[None], 0.0, 1.0)
    d = np.linalg.norm(ap - t[..., None] * ab[None], axis=-1).min(1)
    py = points[:, 1:2]
    crosses = ((a[None, :, 1] > py) != (b[None, :, 1] > py)) & (
        points[:, 0:1] < (b[None, :, 0] - a[None, :, 0]) * (py - a[None, :, 1]) / (b[None, :, 1] - a[None, :, 1] + 1e-12) + a[None, :, 0])
    inside = crosses.sum(1) % 2 == 1
    return np.where(inside, -d, d)


def _soft(sd: np.ndarray, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.clip(sd / width, -50, 50)))


@lru_cache(maxsize=1)
def _atlas_np() -> tuple[np.ndarray, np.ndarray]:
    t = load_template()
    v = t.vertices[:, :2].astype(np.float64)
    p = _grid()
    labels = np.full(len(p), CLASS_ID["skin"], dtype=np.int64)
    maps = {name: np.zeros(len(p)) for name in CHANNELS}

    outer, inner = t.loops["outer_lips"], t.loops["inner_lips"]
    i61, i291 = outer.index(61), outer.index(291)
    j78, j308 = inner.index(78), inner.index(308)

    def arc(loop, start, end, through):
        """The part of a closed loop from start to end (indices) that contains vertex `through`."""
        n = len(loop)
        forward = [loop[(start + k) % n] for k in range((end - start) % n + 1)]
        return forward if through in forward else [loop[(start - k) % n] for k in range((start - end) % n + 1)]

    upper = arc(outer, i61, i291, 0) + arc(inner, j308, j78, 13)
    lower = arc(outer, i61, i291, 17) + arc(inner, j308, j78, 14)
    sd_upper, sd_lower = signed_distance(p, v[upper]), signed_distance(p, v[lower])
    sd_nose = signed_distance(p, np.array(NOSE_OUTLINE))
    labels[sd_nose < 0] = CLASS_ID["nose"]
    maps["lips"] = np.maximum(_soft(sd_upper, 0.006), _soft(sd_lower, 0.006))
    labels[sd_upper < 0] = CLASS_ID["u_lip"]
    labels[sd_lower < 0] = CLASS_ID["l_lip"]

    for side, label in (("left", "l_brow"), ("right", "r_brow")):
        top, bottom = t.brows[side]
        polygon = v[top + bottom[::-1]]
        sd = signed_distance(p, polygon)
        labels[sd < 0] = CLASS_ID[label]
        maps["brow"] = np.maximum(maps["brow"], _soft(sd, 0.008))

    for side in ("left_eye", "right_eye"):
        loop = t.loops[side]
        sd_eye = signed_distance(p, v[loop])
        centre = v[loop].mean(0)
        above = p[:, 1] > centre[1] - 0.005
        maps["liner"] = np.maximum(maps["liner"], np.exp(-np.clip(sd_eye, 0, None) / 0.012) * (sd_eye > -0.004) * above)
        ring = np.exp(-(((p - centre) / np.array([0.24, 0.16])) ** 2).sum(-1))
        maps["socket"] = np.maximum(maps["socket"], ring * (sd_eye > 0))
        crease = np.exp(-((sd_eye - 0.05) / 0.012) ** 2) * above
        maps["crease"] = np.maximum(maps["crease"], crease)
    for x in (-0.1, 0.1):
        maps["nostril"] += np.exp(-(((p - np.array([x, -0.1])) / np.array([0.045, 0.018])) ** 2).sum(-1))
    for x in (-0.42, 0.42):
        maps["blush"] += np.exp(-(((p - np.array([x, -0.1])) / np.array([0.2, 0.17])) ** 2).sum(-1))
    lips_region = np.exp(-(((p - np.array([0.0, -0.33])) / np.array([0.26, 0.1])) ** 2).sum(-1))
    maps["stubble"] = np.clip((-0.1 - p[:, 1]) / 0.12, 0, 1) * (1 - np.clip(maps["lips"] * 1.5, 0, 1)) * (1 - 0.5 * lips_region) \
        * np.clip((0.72 - np.abs(p[:, 0])) / 0.12, 0, 1)
    maps["oily"] = np.exp(-((p[:, 0] / 0.12) ** 2)) * np.clip((p[:, 1] + 0.1) / 0.3, 0, 1) + \
        np.exp(-(((p - np.array([0.0, 0.6])) / np.array([0.45, 0.2])) ** 2).sum(-1))
    maps["nose_tip"] = np.exp(-(((p - np.array([0.0, -0.03])) / np.array([0.16, 0.09])) ** 2).sum(-1))
    stacked = np.stack([np.clip(maps[c], 0, 1) for c in CHANNELS]).reshape(len(CHANNELS), ATLAS_RES, ATLAS_RES)
    return labels.reshape(ATLAS_RES, ATLAS_RES), stacked.astype(np.float32)


@lru_cache(maxsize=4)
def _atlas(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    labels, maps = _atlas_np()
    return torch.as_tensor(labels, device=device), torch.as_tensor(maps, device=device)


def uv_to_texel(uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Template coordinates [..., 2] -> continuous texel coordinates (u, v) of the atlas."""
    tu = (uv[..., 0] - U_RANGE[0]) / (U_RANGE[1] - U_RANGE[0]) * ATLAS_RES - 0.5
    tv = (V_RANGE[1] - uv[..., 1]) / (V_RANGE[1] - V_RANGE[0]) * ATLAS_RES - 0.5
    return tu, tv


def face_labels(uv: torch.Tensor) -> torch.Tensor:
    """Class ids (nearest texel) at template coordinates uv [P, 2]."""
    labels, _ = _atlas(str(uv.device))
    tu, tv = uv_to_texel(uv)
    iu = torch.round(tu).long().clamp(0, ATLAS_RES - 1)
    iv = torch.round(tv).long().clamp(0, ATLAS_RES - 1)
    return labels[iv, iu]


def face_maps(uv: torch.Tensor) -> dict[str, torch.Tensor]:
    """Soft feature weights (name -> [P]) at template coordinates uv [P, 2]."""
    from portrait_edge.data.synth.textures import lookup

    _, maps = _atlas(str(uv.device))
    tu, tv = uv_to_texel(uv)
    values = lookup(maps[None], torch.zeros_like(tu, dtype=torch.long), tu.clamp(0, ATLAS_RES - 1.001), tv.clamp(0, ATLAS_RES - 1.001))
    return {name: values[:, k] for k, name in enumerate(CHANNELS)}
