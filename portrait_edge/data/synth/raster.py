"""A vectorised triangle rasteriser in torch (CPU or CUDA), batched over images.

Every (triangle, pixel of its bounding box) pair of the whole batch is enumerated at once with
repeat_interleave, tested with edge functions and depth-tested with scatter_reduce. Faces are small
(a few dozen pixels each), so the pair count stays a small multiple of the covered area.

Conventions: vertex x, y in pixels (x right, y down, pixel centres at +0.5), z = camera depth with
larger values closer to the camera. Triangles counter-clockwise seen from the camera in a y-up frame
(i.e. clockwise in pixel coordinates) are front-facing; the others are culled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from portrait_edge.data.synth.raycast import box_pixels


@dataclass
class Fragments:
    face: torch.Tensor  # [N, H, W] int64 triangle index, -1 where nothing was hit
    bary: torch.Tensor  # [N, H, W, 3] barycentric weights of the triangle's vertices (0 where no hit)
    depth: torch.Tensor  # [N, H, W] camera z of the hit, -inf where nothing was hit


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> Fragments:
    """vertices [N, V, 3] (x_px, y_px, z), faces [F, 3] int64 -> nearest front-facing triangle per pixel."""
    n, _, _ = vertices.shape
    num_faces = faces.shape[0]
    device = vertices.device
    tri = vertices[:, faces]  # [N, F, 3 vertices, 3 coords]
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]
    x0, x1, x2 = x.unbind(-1)
    y0, y1, y2 = y.unbind(-1)
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    front = area < -1e-6

    # Edge-function coefficients: w_k = a_k * px + b_k * py + c_k, normalised by the signed area.
    inv = torch.where(front, 1.0 / torch.where(front, area, torch.ones_like(area)), torch.zeros_like(area))
    a = torch.stack([y1 - y2, y2 - y0, y0 - y1], -1) * inv[..., None]
    b = torch.stack([x2 - x1, x0 - x2, x1 - x0], -1) * inv[..., None]
    c = torch.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], -1) * inv[..., None]
    coef = torch.cat([a, b, c, (a * z).sum(-1, keepdim=True), (b * z).sum(-1, keepdim=True),
                      (c * z).sum(-1, keepdim=True)], -1).reshape(n * num_faces, 12)

    u_min = torch.ceil(x.amin(-1) - 0.5).clamp(0, width - 1)
    u_max = torch.floor(x.amax(-1) - 0.5).clamp(-1, width - 1)
    v_min = torch.ceil(y.amin(-1) - 0.5).clamp(0, height - 1)
    v_max = torch.floor(y.amax(-1) - 0.5).clamp(-1, height - 1)
    box_w = (u_max - u_min + 1).clamp(min=0).long()
    box_h = (v_max - v_min + 1).clamp(min=0).long()
    box_h = torch.where(front, box_h, torch.zeros_like(box_h))

    face_flat = torch.full((n * height * width,), -1, dtype=torch.long, device=device)
    zbuf = torch.full((n * height * width,), float("-inf"), device=device)
    # Edge and depth coefficients as rows [12, n * F]: the per-pixel arithmetic runs on contiguous rows.
    rows = coef.T.contiguous()
    if int((box_w * box_h).sum()) > 0:
        owner, u, v = box_pixels(u_min.reshape(-1).long(), v_min.reshape(-1).long(), box_w.reshape(-1), box_h.reshape(-1))
        px, py = u.float() + 0.5, v.float() + 0.5
        k = rows[:9].index_select(1, owner)
        inside = (k[0:3] * px + k[3:6] * py + k[6:9] >= -1e-5).all(0).nonzero().squeeze(1)
        owner, u, v, px, py = (t.index_select(0, inside) for t in (owner, u, v, px, py))
        k = rows[9:].index_select(1, owner)
        depth = k[0] * px + k[1] * py + k[2]
        pixel = (owner // num_faces) * (height * width) + v * width + u
        zbuf.scatter_reduce_(0, pixel, depth, reduce="amax")
        winner = depth >= zbuf.index_select(0, pixel)
        face_flat.scatter_reduce_(0, pixel[winner], owner[winner], reduce="amax")

    bary = torch.zeros(n * height * width, 3, device=device)
    face = face_flat.clone()
    pixels = (face_flat >= 0).nonzero().squeeze(1)
    if len(pixels):
        k = rows[:9].index_select(1, face_flat[pixels])
        within = pixels % (height * width)
        px = (within % width).float() + 0.5
        py = (within // width).float() + 0.5
        w = (k[0:3] * px + k[3:6] * py + k[6:9]).clamp_(min=0).T
        bary[pixels] = w / w.sum(-1, keepdim=True).clamp(min=1e-8)
        face[pixels] = face_flat[pixels] - (pixels // (height * width)) * num_faces  # batch-wide -> per-mesh index
    return Fragments(face.reshape(n, height, width), bary.reshape(n, height, width, 3), zbuf.reshape(n, height, width))


def interpolate_at(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Per-vertex attributes [N, V, C] at flat pixel indices `pixels` [P] that were hit -> [P, C]."""
    n, h, w = fragments.face.shape
    channels = attributes.shape[-1]
    face = fragments.face.reshape(-1).index_select(0, pixels)
    sample = pixels // (h * w)
    vertex_ids = faces.index_select(0, face) + (sample * attributes.shape[1])[:, None]  # [P, 3]
    values = attributes.reshape(-1, channels).index_select(0, vertex_ids.reshape(-1)).reshape(-1, 3, channels)
    return (values * fragments.bary.reshape(-1, 3).index_select(0, pixels)[..., None]).sum(1)


def interpolate(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Per-vertex attributes [N, V, C] -> per-pixel [N, H, W, C] (zeros where nothing was hit)."""
    n, h, w = fragments.face.shape
    channels = attributes.shape[-1]
    face = fragments.face.clamp(min=0)
    vertex_ids = faces[face]  # [N, H, W, 3]
    flat = attributes.reshape(-1, channels)
    offsets = (torch.arange(n, device=attributes.device) * attributes.shape[1]).view(n, 1, 1, 1)
    values = flat[(vertex_ids + offsets).reshape(-1)].reshape(n, h, w, 3, channels)
    out = (values * fragments.bary[..., None]).sum(-2)
    return out * (fragments.face >= 0)[..., None]
