"""Geometry -> G-buffer: per pixel the nearest surface's depth, normal, class label, material and
material coordinates (what the appearance and shading passes need).

Parts: the face mesh (rasterised; includes eyeballs and mouth interior), skull and jaw, ears, neck,
torso with clothes, hair (cap shell and long-hair curtain, both with their inner side), and the
optional hat, glasses, earrings and necklace. Analytic parts are ray cast on the pixels of their
screen-space bounding boxes only (accessories only for the samples that wear them) and merged by
depth; the face mesh always wins over the skull and jaw, which sit just behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from portrait_edge.data.synth import raycast
from portrait_edge.data.synth.face_atlas import face_labels
from portrait_edge.data.synth.geometry import (
    EAR_CENTRE,
    EAR_RADII,
    JAW_CENTRE,
    JAW_RADII,
    SKULL_CENTRE,
    SKULL_RADII,
    Frame,
    PosedHead,
    axis_rotation,
    pose_head,
    template_tensors,
)
from portrait_edge.data.synth.raster import interpolate_at, rasterize
from portrait_edge.data.synth.raycast import Rays
from portrait_edge.data.synth.template import KIND_FACE, KIND_LEFT_EYE, KIND_MOUTH, KIND_RIGHT_EYE
from portrait_edge.data.synth.textures import lookup_row, smoothstep
from portrait_edge.labels import CLASS_ID

# Materials (what the appearance pass paints).
BACKGROUND, FACE, EYE, MOUTH, SKIN, NECK, CLOTH, EAR, HAIR, HAIR_INNER, HAT, GLASSES, METAL = range(13)
NO_HIT = float("-inf")
Z_MARGIN = 1e-3  # units; covers rounding of the computed hit depths against their analytic bound


@dataclass
class GBuffer:
    size: int
    posed: PosedHead
    depth: torch.Tensor  # [N, H, W] camera z (units, larger = closer), -inf on background
    normal: torch.Tensor  # [N, 3, H, W] unit camera-space normals (zeros on background)
    label: torch.Tensor  # [N, H, W] int64 CelebAMask-HQ class ids
    material: torch.Tensor  # [N, H, W] int64
    coords: torch.Tensor  # [N, 3, H, W] material coordinates (face: template u, v, mouth side; hair: azimuth, elevation, kind)
    lens: torch.Tensor  # [N, H, W] bool: a glasses lens is in front of the surface

    @property
    def foreground(self) -> torch.Tensor:
        return self.material != BACKGROUND

    def camera_grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-space x, y [N, H, W] of the pixel centres."""
        pixel = torch.arange(self.size, device=self.depth.device, dtype=torch.float32) + 0.5 - self.size / 2.0
        s = self.posed.scale[:, None, None]
        n = len(self.posed.scale)
        return (pixel[None, None, :] / s).expand(n, self.size, self.size), (-pixel[None, :, None] / s).expand(n, self.size, self.size)


class _Layers:
    """Depth merge of parts into flat [N * H * W] buffers."""

    def __init__(self, n: int, h: int, w: int, device: torch.device):
        count = n * h * w
        self.z = torch.full((count,), NO_HIT, device=device)
        self.normal = torch.zeros(count, 3, device=device)
        self.label = torch.zeros(count, dtype=torch.long, device=device)
        self.material = torch.zeros(count, dtype=torch.long, device=device)
        self.coords = torch.zeros(count, 3, device=device)

    def cull(self, rays: Rays, z_max: torch.Tensor, allow: torch.Tensor | None = None) -> Rays:
        """The rays where a part whose camera z is at most z_max [N] (per sample) could still win the
        depth test; run before intersecting the part so that hidden pixels cost nothing."""
        keep = self.z.index_select(0, rays.index) < (z_max + Z_MARGIN).index_select(0, rays.batch)
        if allow is not None:
            keep = keep & allow.index_select(0, rays.index)
        return rays.take(keep.nonzero().squeeze(1))

    def visible(self, rays: Rays, hit: raycast.Hit, allow: torch.Tensor | None = None) -> tuple[Rays, raycast.Hit]:
        """The rays (and their hits) that would pass add's depth test now. Parts cull with it before
        computing their per-pixel attributes: most pixels of a part's bounding box miss it or are hidden."""
        keep = hit.z > self.z.index_select(0, rays.index)
        if allow is not None:
            keep = keep & allow.index_select(0, rays.index)
        keep = keep.nonzero().squeeze(1)
        return rays.take(keep), hit.take(keep)

    def add(self, rays: Rays, z, normal, label, material, coords=None, allow=None) -> None:
        """normal and coords may be callables of the winning ray indices (computed only for those)."""
        closer = z > self.z.index_select(0, rays.index)
        if allow is not None:
            closer = closer & allow.index_select(0, rays.index)
        sel = closer.nonzero().squeeze(1)
        take = lambda t: t.index_select(0, sel)  # noqa: E731
        where = take(rays.index)
        self.z[where] = take(z)
        self.normal[where] = normal(sel) if callable(normal) else take(normal)
        self.label[where] = take(label) if torch.is_tensor(label) else label
        self.material[where] = take(material) if torch.is_tensor(material) else material
        if coords is not None:
            self.coords[where] = coords(sel) if callable(coords) else take(coords)


def _normals_of(normal_fn, hit: raycast.Hit, rotation: torch.Tensor, radii: torch.Tensor, batch: torch.Tensor, sign: float = 1.0):
    """Deferred normals: computed by _Layers.add only for the rays that win the depth test."""
    return lambda sel: sign * normal_fn(hit.local.index_select(0, sel), rotation, radii, batch.index_select(0, sel))


def _skull(posed: PosedHead, geometry: dict, grow: torch.Tensor | float = 0.0, lift: torch.Tensor | float = 0.0) -> tuple[Frame, torch.Tensor]:
    device = posed.scale.device
    n = len(posed.scale)
    grow = grow if torch.is_tensor(grow) else torch.full((n,), float(grow), device=device)
    lift = lift if torch.is_tensor(lift) else torch.full((n,), float(lift), device=device)
    radii = torch.tensor(SKULL_RADII, device=device) * geometry["skull_scale"] * (1.0 + grow[:, None])
    centre = torch.tensor(SKULL_CENTRE, device=device).expand(n, 3) + torch.stack([torch.zeros_like(lift), lift, torch.zeros_like(lift)], -1)
    return posed.head_part(None, centre), radii


def _hair_shell(posed: PosedHead, geometry: dict, grow: torch.Tensor) -> tuple[Frame, torch.Tensor]:
    """The hair cap: the skull scaled by (1 + grow) about its front point at the hairline, so the hair
    starts flush with the forehead and gains volume towards the crown, sides and back. With a fringe
    the anchor is the crown instead, and the hair stands off the forehead."""
    device = posed.scale.device
    shape = geometry["hair_shape"]
    fringe = shape[:, 4] < shape[:, 1] - 1e-3
    elevation = torch.where(fringe, torch.full_like(shape[:, 1], 0.95), shape[:, 1] + 0.03)
    radii = torch.tensor(SKULL_RADII, device=device) * geometry["skull_scale"]
    centre = torch.tensor(SKULL_CENTRE, device=device).expand(len(grow), 3)
    anchor = centre + radii * torch.stack([torch.zeros_like(elevation), elevation, torch.sqrt(1 - elevation**2)], -1)
    shell_centre = anchor + (1.0 + grow)[:, None] * (centre - anchor)
    return posed.head_part(None, shell_centre), radii * (1.0 + grow)[:, None]


def _skin_ellipsoid(layers: _Layers, posed: PosedHead, frame: Frame, radii: torch.Tensor,
                    allow: torch.Tensor) -> None:
    """A skin-coloured ellipsoid (skull, jaw) drawn where it wins the depth test and `allow` holds."""
    rays = _ellipsoid_rays(posed, frame, radii)
    rays = layers.cull(rays, raycast.ellipsoid_front(frame.rotation, frame.centre, radii), allow=allow)
    front, _ = raycast.ellipsoid(rays, frame.rotation, frame.centre, radii)
    rays, front = layers.visible(rays, front, allow=allow)
    layers.add(rays, front.z, _normals_of(raycast.ellipsoid_normal, front, frame.rotation, radii, rays.batch),
               CLASS_ID["skin"], SKIN, front.local / radii[rays.batch])


def _ellipsoid_rays(posed: PosedHead, frame: Frame, radii: torch.Tensor, active=None) -> Rays:
    centre_px, half_px = raycast.project_box(frame.centre, raycast.ellipsoid_extent(frame.rotation, radii), posed.scale, posed.size)
    return raycast.box_rays(centre_px, half_px, posed.scale, posed.size, active)


def _noise_along(noise: torch.Tensor, channel: int, batch: torch.Tensor, angle: torch.Tensor, frequency: float, row: int = 7) -> torch.Tensor:
    """Smooth periodic noise [P] of an azimuth (wraps at 2 pi) from a geometry noise channel."""
    res = noise.shape[-1]
    u = (angle / (2 * math.pi) % 1.0) * res * frequency / 8.0
    return lookup_row(noise[:, channel:channel + 1], batch, u, row)


def _hairline(geometry: dict, batch: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
    shape = geometry["hair_shape"][batch]
    front, side, back, fringe, recess = (shape[:, k] for k in (1, 2, 3, 4, 8))
    a = azimuth.abs()
    h = front + (side - front) * smoothstep(0.35, 1.25, a) + (back - side) * smoothstep(1.7, 2.7, a)
    h = h + recess * torch.exp(-(((a - 0.6) / 0.2) ** 2))
    h = h - 0.18 * torch.exp(-(((a - 1.2) / 0.12) ** 2)) * (side > -0.1)  # sideburns in front of the ears
    h = torch.minimum(h, fringe + (front - fringe) * smoothstep(0.5, 0.95, a))
    wiggle = 0.045 * _noise_along(geometry["noise"], 0, batch, azimuth, 6.0, row=21)
    clumps = 0.03 * _noise_along(geometry["noise"], 0, batch, azimuth, 48.0)
    return h + wiggle + clumps


def _hair(layers: _Layers, posed: PosedHead, geometry: dict) -> None:
    shape = geometry["hair_shape"]
    volume = shape[:, 0]
    has_cap = (shape[:, 9] < 0.5) | (shape[:, 10] > 0.5)
    frame, radii = _hair_shell(posed, geometry, volume + 0.02)
    fuzz_frame, outer = _hair_shell(posed, geometry, volume + 0.055 + 0.1 * volume)
    rays = _ellipsoid_rays(posed, fuzz_frame, outer, has_cap)
    # The fuzz shell contains the cap shell (both are the skull scaled about the same anchor).
    rays = layers.cull(rays, raycast.ellipsoid_front(fuzz_frame.rotation, fuzz_frame.centre, outer))
    if len(rays):
        front, back = raycast.ellipsoid(rays, frame.rotation, frame.centre, radii)
        horseshoe = shape[:, 10] > 0.5
        for hit, material, inner in ((front, HAIR, 0.0), (back, HAIR_INNER, 1.0)):
            seen, hit = layers.visible(rays, hit)
            b = seen.batch
            u = hit.local / radii[b]
            azimuth = torch.atan2(u[:, 0], u[:, 2])
            elevation = u[:, 1]
            line = _hairline(geometry, b, azimuth)
            # Just above the hairline the hair is sparse: only some strands, skin between them.
            strands = _noise_along(geometry["noise"], 2, b, azimuth, 200.0, row=11)
            sparse = (elevation > line + 0.05) | (strands > 1.6 * (line + 0.05 - elevation) / 0.05 - 0.6)
            on = torch.where(horseshoe[b], (elevation > line) & (elevation < 0.12) & (azimuth.abs() > 1.0),
                             (elevation > line) & sparse)
            normal = _normals_of(raycast.ellipsoid_normal, hit, frame.rotation, radii, b, -1.0 if inner else 1.0)
            coords = torch.stack([azimuth, elevation, torch.full_like(azimuth, inner)], -1)
            layers.add(seen, torch.where(on, hit.z, NO_HIT), normal, CLASS_ID["hair"], material, coords)
        # Fuzz: a slightly larger shell where only scattered strand tips exist (breaks the smooth outline).
        hit, _ = raycast.ellipsoid(rays, fuzz_frame.rotation, fuzz_frame.centre, outer)
        has_fuzz = ~horseshoe & (shape[:, 9] < 0.5)
        keep = (hit.z > layers.z.index_select(0, rays.index)) & has_fuzz.index_select(0, rays.batch)
        keep = keep.nonzero().squeeze(1)
        rays, hit, front = rays.take(keep), hit.take(keep), front.take(keep)
        b = rays.batch
        u = hit.local / outer[b]
        azimuth = torch.atan2(u[:, 0], u[:, 2])
        strands = _noise_along(geometry["noise"], 2, b, azimuth, 160.0, row=3) + 0.5 * _noise_along(geometry["noise"], 3, b, azimuth, 40.0)
        tips = strands > 0.55
        # Only above the hairline at the inner shell's front hit of the same ray.
        front_u = front.local / radii[b]
        line = _hairline(geometry, b, torch.atan2(front_u[:, 0], front_u[:, 2]))
        on = tips & (u[:, 1] > line + 0.06)
        coords = torch.stack([azimuth, u[:, 1], torch.zeros_like(azimuth)], -1)
        layers.add(rays, torch.where(on, hit.z, NO_HIT), _normals_of(raycast.ellipsoid_normal, hit, fuzz_frame.rotation, outer, b),
                   CLASS_ID["hair"], HAIR, coords)

    length = shape[:, 6]
    frame, radii = _hair_shell(posed, geometry, volume + 0.05)
    radii_xz = radii[:, [0, 2]]
    y_range = torch.stack([-length - 0.2, torch.zeros_like(length)], -1)
    box_centre, box_half = raycast.cylinder_extent(frame.rotation, frame.centre, radii_xz, y_range)
    centre_px, half_px = raycast.project_box(box_centre, box_half, posed.scale, posed.size)
    rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size, length > 0)
    rays = layers.cull(rays, raycast.cylinder_front(frame.rotation, frame.centre, radii_xz, y_range))
    if len(rays):
        front, back = raycast.cylinder(rays, frame.rotation, frame.centre, radii_xz, y_range)
        for hit, material, inner in ((front, HAIR, 0.0), (back, HAIR_INNER, 1.0)):
            seen, hit = layers.visible(rays, hit)
            b = seen.batch
            azimuth = torch.atan2(hit.local[:, 0] / radii_xz[b, 0], hit.local[:, 2] / radii_xz[b, 1])
            ends = -length[b] + 0.15 * _noise_along(geometry["noise"], 1, b, azimuth, 24.0)
            on = (azimuth.abs() > shape[b, 7]) & (hit.local[:, 1] > ends)  # shape[:, 7]: the opening
            normal = _normals_of(raycast.cylinder_normal, hit, frame.rotation, radii_xz, b, -1.0 if inner else 1.0)
            coords = torch.stack([azimuth, hit.local[:, 1] / radii[b, 1], torch.full_like(azimuth, 2.0 + inner)], -1)
            layers.add(seen, torch.where(on, hit.z, NO_HIT), normal, CLASS_ID["hair"], material, coords)


def _hat(layers: _Layers, posed: PosedHead, geometry: dict) -> None:
    wears = geometry["hat"] > 0.5
    if not bool(wears.any()):
        return
    hat = geometry["hat_shape"]
    kind, height, extra, brim, tilt = (hat[:, k] for k in range(5))
    volume = geometry["hair_shape"][:, 0]
    frame, radii = _skull(posed, geometry, volume + 0.07 + extra * 0.3, 0.3 * volume)
    rays = _ellipsoid_rays(posed, frame, radii, wears)
    rays = layers.cull(rays, raycast.ellipsoid_front(frame.rotation, frame.centre, radii))
    front, _ = raycast.ellipsoid(rays, frame.rotation, frame.centre, radii)
    rays, front = layers.visible(rays, front)
    b = rays.batch
    u = front.local / radii[b]
    azimuth = torch.atan2(u[:, 0], u[:, 2])
    edge = height[b] - 0.2 * smoothstep(0.5, 2.8, azimuth.abs()) + 0.03 * torch.cos(3 * azimuth) * tilt[b]
    on = u[:, 1] > edge
    normal = _normals_of(raycast.ellipsoid_normal, front, frame.rotation, radii, b)
    coords = torch.stack([azimuth, u[:, 1], torch.zeros_like(azimuth)], -1)
    layers.add(rays, torch.where(on, front.z, NO_HIT), normal, CLASS_ID["hat"], HAT, coords)

    has_brim = wears & (kind >= 1)
    if not bool(has_brim.any()):
        return
    rot = frame.rotation @ axis_rotation(tilt - 0.05, "x")
    centre_local = torch.stack([torch.zeros_like(height), height * radii[:, 1], torch.zeros_like(height)], -1)
    centre = frame.centre + torch.einsum("nij,nj->ni", frame.rotation, centre_local)
    reach = radii.amax(-1) + brim
    centre_px, half_px = raycast.project_box(centre, torch.stack([reach, reach], -1), posed.scale, posed.size)
    rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size, has_brim)
    rays, hit = layers.visible(rays, raycast.plane(rays, rot, centre, axis=1))
    b = rays.batch
    squeeze = torch.sqrt((1 - height**2).clamp(min=0.05))
    rx, rz = (radii[:, 0] * squeeze)[b], (radii[:, 2] * squeeze)[b]
    bx, bz = hit.local[:, 0], hit.local[:, 2]
    width = brim[b]
    outside_crown = (bx / rx) ** 2 + (bz / rz) ** 2 > 1.0
    brimmed = (bx / (rx + 0.5 * width)) ** 2 + (bz / (rz + 0.5 * width)) ** 2 < 1.0
    visor = (bz > 0) & ((bx / rx) ** 2 + (bz / (rz + width)) ** 2 < 1.0)
    on = outside_crown & torch.where(kind[b] >= 2, brimmed, visor)
    up = rot[b, :, 1]
    facing = torch.where((up[:, 2] >= 0)[:, None], up, -up)
    coords = torch.stack([torch.zeros_like(bx), torch.full_like(bx, 2.0), torch.ones_like(bx)], -1)
    layers.add(rays, torch.where(on, hit.z, NO_HIT), facing, CLASS_ID["hat"], HAT, coords)


def _glasses(layers: _Layers, posed: PosedHead, geometry: dict) -> torch.Tensor:
    """Frames into the layers; returns the flat lens depth [N * H * W] (-inf where no lens)."""
    lens_z = torch.full_like(layers.z, NO_HIT)
    wears = geometry["glasses"] > 0.5
    if not bool(wears.any()):
        return lens_z
    shape = geometry["glasses_shape"]
    lens_x = 0.36
    centre = torch.stack([torch.zeros_like(shape[:, 0]), 0.31 + shape[:, 5], shape[:, 4] + 0.02], -1)
    frame = posed.head_part(None, centre)
    half = torch.tensor([0.75, 0.45], device=centre.device).expand(len(centre), 2)
    centre_px, half_px = raycast.project_box(frame.centre, half, posed.scale, posed.size)
    rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size, wears)
    b = rays.batch
    half_w, half_h, power, thick = (shape[b, k] for k in range(4))
    hit = raycast.plane(rays, frame.rotation, frame.centre, axis=2)
    x, y = hit.local[:, 0], hit.local[:, 1]
    side = torch.where(x >= 0, 1.0, -1.0)
    dx = (x - side * lens_x).abs() / half_w
    dy = (y + 0.02).abs() / half_h
    r = (dx.clamp(min=1e-6) ** power + dy.clamp(min=1e-6) ** power) ** (1.0 / power)
    finite = torch.isfinite(hit.z)
    rim = ((r - 1.0).abs() * torch.minimum(half_w, half_h) < thick) & finite
    bridge = (x.abs() < lens_x - half_w + 0.02) & ((y - 0.3 * half_h).abs() < 0.6 * thick) & finite
    inside = (r < 1.0) & ~rim & finite
    normal = frame.rotation[b, :, 2]
    layers.add(rays, torch.where(rim | bridge, hit.z, NO_HIT), normal, CLASS_ID["eye_g"], GLASSES)
    lens_z[rays.index[inside]] = hit.z[inside]

    # Temples (arms): thin strips in the planes x = +-(lens_x + half_w) running back to the ears.
    for s in (-1.0, 1.0):
        arm_centre = torch.stack([s * (lens_x + shape[:, 0]), 0.31 + shape[:, 5] + 0.03, shape[:, 4] + 0.02], -1)
        arm = posed.head_part(None, arm_centre)
        reach = torch.full((len(centre), 2), 1.1, device=centre.device)
        centre_px, half_px = raycast.project_box(arm.centre, reach, posed.scale, posed.size)
        rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size, wears)
        rays, hit = layers.visible(rays, raycast.plane(rays, arm.rotation, arm.centre, axis=0))
        b = rays.batch
        zl, yl = hit.local[:, 2], hit.local[:, 1]
        on = (zl < 0) & (zl > -(shape[b, 4] + 0.9)) & ((yl + 0.06 * zl).abs() < shape[b, 3] * 0.8)
        layers.add(rays, torch.where(on, hit.z, NO_HIT), arm.rotation[b, :, 0] * s, CLASS_ID["eye_g"], GLASSES)
    return lens_z


def _ears(layers: _Layers, posed: PosedHead, geometry: dict) -> list[tuple[Frame, torch.Tensor]]:
    device = posed.scale.device
    frames = []
    width = 1.0 + 0.05 * geometry["identity"][:, 0]
    for side, label in ((1.0, "l_ear"), (-1.0, "r_ear")):
        angle = side * geometry["ear_angle"]
        rot = axis_rotation(angle, "y") @ axis_rotation(torch.full_like(angle, -0.12), "x")
        centre = torch.tensor(EAR_CENTRE, device=device) * torch.stack([side * width, torch.ones_like(width), torch.ones_like(width)], -1)
        frame = posed.head_part(rot, centre)
        radii = torch.tensor(EAR_RADII, device=device) * geometry["ear_scale"][:, None]
        rays = _ellipsoid_rays(posed, frame, radii)
        rays = layers.cull(rays, raycast.ellipsoid_front(frame.rotation, frame.centre, radii))
        front, _ = raycast.ellipsoid(rays, frame.rotation, frame.centre, radii)
        rays, front = layers.visible(rays, front)
        normal = _normals_of(raycast.ellipsoid_normal, front, frame.rotation, radii, rays.batch)
        coords = front.local / radii[rays.batch] * torch.tensor([side, 1.0, 1.0], device=device)
        layers.add(rays, front.z, normal, CLASS_ID[label], EAR, coords)
        frames.append((frame, radii))
    return frames


def _earrings(layers: _Layers, posed: PosedHead, geometry: dict, ear_frames) -> None:
    wears = geometry["earrings"] > 0.5
    if not bool(wears.any()):
        return
    size, drop = geometry["earring_shape"][:, 0], geometry["earring_shape"][:, 1]
    centres, radii = [], []
    for frame, ear_radii in ear_frames:
        lobe_local = torch.stack([torch.zeros_like(size), -0.85 * ear_radii[:, 1], 0.25 * ear_radii[:, 2]], -1)
        lobe = torch.einsum("nij,nj->ni", frame.rotation, lobe_local) + frame.centre
        small = lobe + torch.stack([torch.zeros_like(size), -0.5 * size, torch.full_like(size, 0.02)], -1)
        big = small + torch.stack([torch.zeros_like(size), -(0.5 * size + drop + size), torch.zeros_like(size)], -1)
        centres += [small, big]
        radii += [0.45 * size, size]
    centres, radii = torch.stack(centres, 1), torch.stack(radii, 1)
    low = (centres[..., :2] - radii[..., None]).amin(1)
    high = (centres[..., :2] + radii[..., None]).amax(1)
    box_centre = torch.cat([(low + high) / 2, centres[:, 0, 2:]], -1)
    centre_px, half_px = raycast.project_box(box_centre, (high - low) / 2, posed.scale, posed.size)
    rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size, wears)
    z, normal = raycast.spheres(rays, centres, radii)
    layers.add(rays, z, normal, CLASS_ID["ear_r"], METAL)


def _neck_and_torso(layers: _Layers, posed: PosedHead, geometry: dict) -> None:
    device = posed.scale.device
    n = len(posed.scale)
    top = posed.from_head(torch.tensor([0.0, -0.35, -0.72], device=device))
    base = posed.neck_base
    axis = top - base
    length = axis.norm(dim=-1)
    y_axis = axis / length[:, None]
    forward = torch.tensor([0.0, 0.0, 1.0], device=device).expand(n, 3)
    z_axis = forward - (forward * y_axis).sum(-1, keepdim=True) * y_axis
    z_axis = z_axis / z_axis.norm(dim=-1, keepdim=True)
    x_axis = torch.cross(y_axis, z_axis, dim=-1)
    rot = torch.stack([x_axis, y_axis, z_axis], -1)
    radius = geometry["neck_radius"]
    radii_xz = torch.stack([radius, radius * 0.95], -1)
    y_range = torch.stack([torch.full_like(length, -0.6), length + 0.1], -1)
    box_centre, box_half = raycast.cylinder_extent(rot, base, radii_xz, y_range)
    centre_px, half_px = raycast.project_box(box_centre, box_half, posed.scale, posed.size)
    rays = raycast.box_rays(centre_px, half_px, posed.scale, posed.size)
    rays = layers.cull(rays, raycast.cylinder_front(rot, base, radii_xz, y_range))
    front, _ = raycast.cylinder(rays, rot, base, radii_xz, y_range)
    rays, front = layers.visible(rays, front)
    normal = _normals_of(raycast.cylinder_normal, front, rot, radii_xz, rays.batch)
    coords = torch.stack([torch.atan2(front.local[:, 0], front.local[:, 2]), front.local[:, 1], torch.zeros_like(front.z)], -1)
    layers.add(rays, front.z, normal, CLASS_ID["neck"], NECK, coords)

    radii = geometry["torso_radii"]
    offset = torch.stack([torch.zeros_like(radius), -0.93 * radii[:, 1], torch.full_like(radius, -0.1)], -1)
    centre = base + torch.einsum("nij,nj->ni", posed.torso.rotation, offset)
    torso = Frame(posed.torso.rotation, centre)
    rays = _ellipsoid_rays(posed, torso, radii)
    rays = layers.cull(rays, raycast.ellipsoid_front(torso.rotation, torso.centre, radii))
    front, _ = raycast.ellipsoid(rays, torso.rotation, torso.centre, radii)
    rays, front = layers.visible(rays, front)
    b = rays.batch
    normal = _normals_of(raycast.ellipsoid_normal, front, torso.rotation, radii, b)
    u = front.local / radii[b]
    kind, depth, width = (geometry["neckline"][b, k] for k in range(3))
    ux = u[:, 0].abs() / width
    line = torch.where(kind < 0.5, depth + 0.5 * (1 - depth) * ux**2,  # round
                       torch.where(kind < 1.5, depth + 0.9 * (1 - depth) * ux, torch.full_like(ux, 0.985)))  # V / high
    skin = (u[:, 1] > line) & (u[:, 2] > 0)
    label = torch.where(skin, CLASS_ID["neck"], CLASS_ID["cloth"])
    material = torch.where(skin, NECK, CLOTH)
    coords = torch.stack([u[:, 0], u[:, 1], u[:, 1] - line], -1)
    layers.add(rays, front.z, normal, label, material, coords)


def _necklace(layers: _Layers, posed: PosedHead, geometry: dict, size: int) -> None:
    wears = geometry["necklace"] > 0.5
    if not bool(wears.any()):
        return
    body = ((layers.material == NECK) | (layers.material == CLOTH)) & wears.repeat_interleave(size * size)
    index = body.nonzero().squeeze(1)
    if len(index) == 0:
        return
    b = index // (size * size)
    within = index % (size * size)
    s = posed.scale[b]
    x = ((within % size).float() + 0.5 - size / 2.0) / s
    y = (size / 2.0 - (within // size).float() - 0.5) / s
    point = torch.stack([x, y, layers.z[index]], -1) - posed.neck_base[b]
    q = (posed.torso.rotation[b] * point[:, :, None]).sum(1)  # camera -> torso frame
    phi = torch.atan2(q[:, 0], q[:, 2])
    rho = torch.sqrt(q[:, 0] ** 2 + q[:, 2] ** 2)
    drop, bead, count = (geometry["necklace_shape"][b, k] for k in range(3))
    centre_y = 0.08 - drop * torch.cos(phi).clamp(min=0) ** 1.5
    radius = bead * (0.55 + 0.45 * torch.cos(count * phi).abs())
    on = ((q[:, 1] - centre_y).abs() < radius) & (phi.abs() < 1.45) & (rho < 1.3)
    where = index[on]
    layers.label[where] = CLASS_ID["neck_l"]
    layers.material[where] = METAL
    layers.coords[where] = torch.stack([phi, (q[:, 1] - centre_y) / radius, torch.ones_like(phi)], -1)[on]


def build_gbuffer(geometry: dict[str, torch.Tensor], size: int) -> GBuffer:
    device = geometry["yaw"].device
    posed = pose_head(geometry, size)
    n = posed.scale.shape[0]
    tt = template_tensors(device)
    layers = _Layers(n, size, size, device)

    # Face mesh (rasterised in pixels; depth back in units), written straight into the buffers.
    triangles = tt["triangles"]
    fragments = rasterize(posed.to_pixels(posed.mesh), triangles, size, size)
    uv = torch.cat([tt["vertices"][:, :2], torch.einsum("fv,vc->fc", tt["fill_weights"], tt["vertices"][:, :2]), tt["skirt_uv"]], 0)
    attributes = torch.cat([posed.mesh_normals, uv[None].expand(n, -1, -1), tt["mouth_side"][None, :, None].expand(n, -1, 1)], -1)
    face_hit = (fragments.face >= 0).reshape(-1)
    hit_index = face_hit.nonzero().squeeze(1)
    pix = interpolate_at(fragments, triangles, attributes, hit_index)
    kind = tt["kinds"][fragments.face.reshape(-1)[hit_index]]
    label = torch.where(kind == KIND_RIGHT_EYE, CLASS_ID["r_eye"], torch.where(kind == KIND_LEFT_EYE, CLASS_ID["l_eye"], CLASS_ID["mouth"]))
    is_face = kind == KIND_FACE
    label[is_face] = face_labels(pix[is_face, 3:5])
    layers.z[hit_index] = fragments.depth.reshape(-1)[hit_index] / posed.scale.repeat_interleave(size * size)[hit_index]
    layers.normal[hit_index] = pix[:, :3] / pix[:, :3].norm(dim=-1, keepdim=True).clamp(min=1e-8)
    layers.label[hit_index] = label
    layers.material[hit_index] = torch.where(is_face, FACE, torch.where(kind == KIND_MOUTH, MOUTH, EYE))
    layers.coords[hit_index] = pix[:, 3:6]

    # Skull and jaw sit just behind the face mesh; they only show outside its footprint.
    skull, skull_radii = _skull(posed, geometry)
    _skin_ellipsoid(layers, posed, skull, skull_radii, allow=~face_hit)
    jaw_radii = torch.tensor(JAW_RADII, device=device) * (1.0 + 0.07 * geometry["identity"][:, 1:2])
    jaw = posed.head_part(None, torch.tensor(JAW_CENTRE, device=device))
    _skin_ellipsoid(layers, posed, jaw, jaw_radii, allow=~face_hit)

    ear_frames = _ears(layers, posed, geometry)
    _neck_and_torso(layers, posed, geometry)
    _hair(layers, posed, geometry)
    _hat(layers, posed, geometry)
    lens_z = _glasses(layers, posed, geometry)
    _earrings(layers, posed, geometry, ear_frames)
    _necklace(layers, posed, geometry, size)

    lens = lens_z > layers.z
    # CelebAMask-HQ merge order: a glasses mask covers the lens area, but eyes, brows and hair
    # (later classes) are drawn over it.
    keeps = torch.zeros(max(CLASS_ID.values()) + 1, dtype=torch.bool, device=device)
    keeps[[CLASS_ID[c] for c in ("l_eye", "r_eye", "l_brow", "r_brow", "hair")]] = True
    keeps = keeps[layers.label]  # a table lookup: cheaper than torch.isin
    label = torch.where(lens & ~keeps, CLASS_ID["eye_g"], layers.label)
    shape3 = (n, size, size)
    return GBuffer(
        size, posed, layers.z.view(shape3), layers.normal.view(n, size, size, 3).permute(0, 3, 1, 2).contiguous(),
        label.view(shape3), layers.material.view(shape3), layers.coords.view(n, size, size, 3).permute(0, 3, 1, 2).contiguous(),
        lens.view(shape3))
