"""Analytic ray casting of quadrics and planes under the engine's orthographic camera.

Work is done on pixel lists (`Rays`): only the pixels inside each sample's screen-space bounding box
of a part are cast, so the cost follows the part's area, not N x H x W.

Every pixel's ray starts at (X, Y, 0) in camera space and travels along -z, so the hit at parameter t
has camera depth z = -t (larger z = closer). A part lives in its own local frame:
p_camera = rotation @ p_local + centre (rotation [N, 3, 3], centre [N, 3]). In local coordinates the
ray is q(t) = q0 + t * e with q0 affine in (X, Y) and e constant per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NO_HIT = float("-inf")


@dataclass
class Rays:
    """A list of pixels over a batch of images."""

    batch: torch.Tensor  # [P] sample index
    index: torch.Tensor  # [P] flat index into N * H * W
    x: torch.Tensor  # [P] camera-space x of the pixel centre (units)
    y: torch.Tensor  # [P]

    def __len__(self) -> int:
        return int(self.batch.shape[0])

    def take(self, keep: torch.Tensor) -> "Rays":
        """The rays at positions keep [K] (int64). index_select is used for all gathers of pixel lists
        in the engine: several times faster than advanced indexing on CPU."""
        return Rays(*(t.index_select(0, keep) for t in (self.batch, self.index, self.x, self.y)))


def box_rays(centre_px: torch.Tensor, half_px: torch.Tensor, scale: torch.Tensor, size: int,
             active: torch.Tensor | None = None) -> Rays:
    """Pixels within per-sample boxes (centre_px, half_px: [N, 2] pixels, x right / y down)."""
    n = centre_px.shape[0]
    device = centre_px.device
    x0 = torch.floor(centre_px[:, 0] - half_px[:, 0] - 1).clamp(0, size - 1).long()
    x1 = torch.ceil(centre_px[:, 0] + half_px[:, 0] + 1).clamp(-1, size - 1).long()
    y0 = torch.floor(centre_px[:, 1] - half_px[:, 1] - 1).clamp(0, size - 1).long()
    y1 = torch.ceil(centre_px[:, 1] + half_px[:, 1] + 1).clamp(-1, size - 1).long()
    w = (x1 - x0 + 1).clamp(min=0)
    h = (y1 - y0 + 1).clamp(min=0)
    if active is not None:
        h = torch.where(active, h, torch.zeros_like(h))
    batch, u, v = box_pixels(x0, y0, w, h)
    s = scale.index_select(0, batch)
    return Rays(batch, batch * size * size + v * size + u, (u.float() + 0.5 - size / 2.0) / s, (size / 2.0 - v.float() - 0.5) / s)


def box_pixels(x0: torch.Tensor, y0: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All pixels of M integer boxes (corner x0, y0, size w, h; [M] int64) -> (box id, u, v) lists."""
    device = x0.device
    # Two-level enumeration (rows, then pixels of each row) avoids integer division per pixel.
    row_box = torch.repeat_interleave(torch.arange(len(x0), device=device), h)
    row_start = torch.cumsum(h, 0) - h
    row_v = y0.index_select(0, row_box) + torch.arange(len(row_box), device=device) - row_start.index_select(0, row_box)
    row_w = w.index_select(0, row_box)
    row = torch.repeat_interleave(torch.arange(len(row_box), device=device), row_w)
    first = torch.cumsum(row_w, 0) - row_w
    box = row_box.index_select(0, row)
    u = x0.index_select(0, box) + torch.arange(len(row), device=device) - first.index_select(0, row)
    return box, u, row_v.index_select(0, row)


def project_box(centre: torch.Tensor, half: torch.Tensor, scale: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space box centre [N, 3] and half extents [N, 2] (units) -> pixel centre and half size."""
    centre_px = torch.stack([size / 2.0 + centre[:, 0] * scale, size / 2.0 - centre[:, 1] * scale], -1)
    return centre_px, half * scale[:, None]


def ellipsoid_extent(rotation: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Half extents [N, 2] along camera x and y of a rotated ellipsoid."""
    return torch.sqrt(((rotation[:, :2, :] * radii[:, None, :]) ** 2).sum(-1))


def ellipsoid_front(rotation: torch.Tensor, centre: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Largest camera z [N] on a rotated ellipsoid (its point closest to the camera)."""
    return centre[:, 2] + torch.sqrt(((rotation[:, 2, :] * radii) ** 2).sum(-1))


def cylinder_front(rotation: torch.Tensor, centre: torch.Tensor, radii_xz: torch.Tensor, y_range: torch.Tensor) -> torch.Tensor:
    """Largest camera z [N] on a finite elliptic cylinder (on the rim of one of its end discs)."""
    ends = [centre[:, 2] + rotation[:, 2, 1] * y_range[:, k] for k in (0, 1)]
    ring = torch.sqrt((rotation[:, 2, 0] * radii_xz[:, 0]) ** 2 + (rotation[:, 2, 2] * radii_xz[:, 1]) ** 2)
    return torch.maximum(ends[0], ends[1]) + ring


class Hit:
    """Ray hits: camera depth z [P] (-inf where missed) and the hit point in the part's local frame
    (unscaled) [P, 3], origin + t * direction. The point is computed on first use: callers usually keep
    only the rays that pass the depth test (`take`) before they need it. Origins and directions are
    stored as [3, P] rows (see local_rays)."""

    def __init__(self, z: torch.Tensor, origin: torch.Tensor, direction: torch.Tensor, t: torch.Tensor):
        self.z, self._origin, self._direction, self._t = z, origin, direction, t
        self._local: torch.Tensor | None = None

    @property
    def local(self) -> torch.Tensor:
        if self._local is None:
            # Contiguous [P, 3] as before: callers' elementwise kernels then round exactly as they did.
            self._local = (self._origin + self._t * self._direction).T.contiguous()
        return self._local

    def take(self, keep: torch.Tensor) -> "Hit":
        hit = Hit(self.z.index_select(0, keep), self._origin.index_select(1, keep), self._direction.index_select(1, keep),
                  self._t.index_select(0, keep))
        if self._local is not None:
            hit._local = self._local.index_select(0, keep)
        return hit


def per_ray(rays: Rays, *values: torch.Tensor) -> torch.Tensor:
    """Per-sample values ([N] or [N, k] each) -> rows [sum of k, P] with their values for every ray, one
    gather for all. Rows of length P keep the per-ray arithmetic on contiguous 1D tensors (much faster
    than on [P, 3] with broadcasting)."""
    table = torch.cat([v.reshape(len(v), -1) for v in values], 1).T.contiguous()
    return table.index_select(1, rays.batch)


def local_rays(rays: Rays, rotation: torch.Tensor, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins [3, P] and directions [3, P] in a part's local frame (row k: local axis k)."""
    rt = rotation.transpose(1, 2)  # camera -> local
    offset = -(rt @ centre[..., None])[..., 0]
    rows = per_ray(rays, rt[:, :, 0], rt[:, :, 1], offset, -rt[:, :, 2])
    origin = rays.x * rows[0:3] + rays.y * rows[3:6] + rows[6:9]
    return origin, rows[9:12]


def _dot3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum over the 3 rows of a * b (the same additions, in the same order, as (a * b).sum(-1) on [P, 3])."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def ellipsoid(rays: Rays, rotation, centre, radii) -> tuple[Hit, Hit]:
    """Front and back hits of the ellipsoid sum((q / radii)^2) = 1."""
    origin, direction = local_rays(rays, rotation, centre)
    # The direction, and so the quadratic's a, is constant per sample.
    inv_r = 1.0 / radii
    d = -rotation.transpose(1, 2)[:, :, 2] * inv_r
    a = (d * d).sum(-1)
    rows = per_ray(rays, inv_r, d, 4.0 * a, 2.0 * a)
    inv_r, d, four_a, two_a = rows[0:3], rows[3:6], rows[6], rows[7]
    o = origin * inv_r
    b = 2.0 * _dot3(o, d)
    c = _dot3(o, o) - 1.0
    disc = b * b - four_a * c
    hit = disc > 0
    root = torch.sqrt(disc.clamp(min=0))
    t_front = (-b - root) / two_a
    t_back = (-b + root) / two_a
    front = Hit(torch.where(hit, -t_front, NO_HIT), origin, direction, t_front)
    back = Hit(torch.where(hit, -t_back, NO_HIT), origin, direction, t_back)
    return front, back


def to_camera(vectors: torch.Tensor, rotation: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Local vectors [P, 3] -> camera space with each pixel's sample rotation."""
    r = rotation.index_select(0, batch)
    return (r * vectors[:, None, :]).sum(-1)


def ellipsoid_normal(local: torch.Tensor, rotation: torch.Tensor, radii: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Outward unit normals [P, 3] in camera space at local hit points of an ellipsoid."""
    normal = to_camera(local / radii.index_select(0, batch) ** 2, rotation, batch)
    return normal / normal.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def cylinder(rays: Rays, rotation, centre, radii_xz, y_range) -> tuple[Hit, Hit]:
    """Front and back hits of the elliptic cylinder (x/rx)^2 + (z/rz)^2 = 1, local y in y_range [N, 2]."""
    origin, direction = local_rays(rays, rotation, centre)
    inv = torch.stack([1.0 / radii_xz[:, 0], torch.zeros_like(radii_xz[:, 0]), 1.0 / radii_xz[:, 1]], -1)
    d = -rotation.transpose(1, 2)[:, :, 2] * inv  # constant per sample, as is a
    a = (d * d).sum(-1).clamp(min=1e-8)
    rows = per_ray(rays, inv, d, 4.0 * a, 2.0 * a, y_range)
    inv, d, four_a, two_a, y_low, y_high = rows[0:3], rows[3:6], *rows[6:]
    o = origin * inv
    b = 2.0 * _dot3(o, d)
    c = _dot3(o, o) - 1.0
    disc = b * b - four_a * c
    root = torch.sqrt(disc.clamp(min=0))
    hits = []
    for sign in (-1.0, 1.0):
        t = (-b + sign * root) / two_a
        local_y = origin[1] + t * direction[1]
        ok = (disc > 0) & (local_y >= y_low) & (local_y <= y_high)
        hits.append(Hit(torch.where(ok, -t, NO_HIT), origin, direction, t))
    return hits[0], hits[1]


def cylinder_extent(rotation: torch.Tensor, centre: torch.Tensor, radii_xz: torch.Tensor, y_range: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space box (centre [N, 3], half extents [N, 2]) around a finite cylinder."""
    ends = [centre + rotation[:, :, 1] * y_range[:, k:k + 1] for k in (0, 1)]
    ring = torch.sqrt((rotation[:, :2, 0] * radii_xz[:, 0:1]) ** 2 + (rotation[:, :2, 2] * radii_xz[:, 1:2]) ** 2)
    low = torch.minimum(ends[0][:, :2], ends[1][:, :2]) - ring
    high = torch.maximum(ends[0][:, :2], ends[1][:, :2]) + ring
    mid = torch.cat([(low + high) / 2, centre[:, 2:]], -1)
    return mid, (high - low) / 2


def cylinder_normal(local: torch.Tensor, rotation: torch.Tensor, radii_xz: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    r = radii_xz[batch]
    grad = torch.stack([local[:, 0] / r[:, 0] ** 2, torch.zeros_like(local[:, 0]), local[:, 2] / r[:, 1] ** 2], -1)
    normal = to_camera(grad, rotation, batch)
    return normal / normal.norm(dim=-1, keepdim=True).clamp(min=1e-8)


def plane(rays: Rays, rotation, centre, axis: int) -> Hit:
    """Hit of the local plane q[axis] = 0 (the caller bounds it with a shape test on `local`)."""
    origin, direction = local_rays(rays, rotation, centre)
    d = direction[axis]
    ok = d.abs() > 1e-6
    t = -origin[axis] / torch.where(ok, d, torch.ones_like(d))
    return Hit(torch.where(ok, -t, NO_HIT), origin, direction, t)


def spheres(rays: Rays, centres: torch.Tensor, radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest front hits of K spheres per sample (centres [N, K, 3], radius [N, K]) -> z [P], normal [P, 3]."""
    c = centres[rays.batch]
    r = radius[rays.batch]
    dx = rays.x[:, None] - c[..., 0]
    dy = rays.y[:, None] - c[..., 1]
    h2 = r * r - dx * dx - dy * dy
    dz = torch.sqrt(h2.clamp(min=0))
    z = torch.where(h2 > 0, c[..., 2] + dz, NO_HIT)
    best, which = z.max(-1)
    pick = lambda t: t.gather(-1, which[:, None])[:, 0]  # noqa: E731
    normal = torch.stack([pick(dx), pick(dy), pick(dz)], -1) / pick(r)[:, None].clamp(min=1e-8)
    return best, normal
