"""Head shape and pose: the face mesh of each identity and expression, and the frames of every part.

Head frame = template frame (x to the person's left, y up, z out of the face, 1 unit = outer eye corner
distance). Camera space: x right, y up, z towards the camera; orthographic projection with `scale`
pixels per unit, image centre at camera (0, 0). A head-frame point p lands at
R_head (p - PIVOT) + head_position.

Identity = smooth displacement fields of the template (face/jaw width, face length, nose, eyes, lips,
brows, chin, cheeks); expression = jaw opening (rotation of the lower face about the jaw joints) and
smile (mouth corners up and out). The rendered landmarks are the 468 deformed, posed template points,
so they are exact by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from portrait_edge.data.synth.template import (
    INNER_LIP_PAIRS,
    KIND_FACE,
    MOUTH_CORNERS_INNER,
    MOUTH_CORNERS_OUTER,
    NUM_LANDMARKS,
    load_template,
)

PIVOT = (0.0, -0.5, -0.8)  # the head turns about the top of the neck
EYE_MIDPOINT = (0.0, 0.319, -0.133)
SKULL_CENTRE = (0.0, 0.42, -0.95)
SKULL_RADII = (0.80, 1.02, 1.0)
JAW_CENTRE = (0.0, -0.3, -0.62)
JAW_RADII = (0.62, 0.52, 0.62)
EAR_CENTRE = (0.80, 0.05, -0.87)
EAR_RADII = (0.06, 0.30, 0.16)
JAW_JOINT = (0.0, 0.02, -0.78)
MOUTH_LINE_Y = -0.33
MAX_JAW_ANGLE = math.radians(18)
EYEBALL_RADIUS = 0.2  # radius of the visible bulge between the lids
MOUTH_DEPTH = 0.22


def _gauss(points: np.ndarray, centre, radius) -> np.ndarray:
    d2 = (((points - np.asarray(centre)) / np.asarray(radius)) ** 2).sum(-1)
    return np.exp(-d2)


@lru_cache(maxsize=1)
def _identity_basis_np() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Displacement fields [K, 468, 3] (one per identity coefficient), jaw weights [468], smile field."""
    t = load_template()
    v = t.vertices.astype(np.float64)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    xy = v[:, :2]
    sign = np.sign(x)
    zero = np.zeros_like(x)
    eye_c = {side: v[list(loop)].mean(0) for side, loop in (("right", t.loops["right_eye"]), ("left", t.loops["left_eye"]))}
    g_eye = _gauss(xy, eye_c["right"][:2], (0.2, 0.16)) + _gauss(xy, eye_c["left"][:2], (0.2, 0.16))
    eye_centre_xy = np.where(x[:, None] < 0, eye_c["right"][None, :2], eye_c["left"][None, :2])
    g_nose = _gauss(xy, (0.0, 0.08), (0.22, 0.3)) * (z > -0.05)
    g_lips = _gauss(xy, (0.0, MOUTH_LINE_Y), (0.32, 0.13))
    brow = v[[*sum(t.brows["left"], []), *sum(t.brows["right"], [])]]
    g_brow = _gauss(xy, (0.33, brow[:, 1].mean()), (0.22, 0.1)) + _gauss(xy, (-0.33, brow[:, 1].mean()), (0.22, 0.1))
    g_chin = _gauss(xy, (0.0, -0.75), (0.3, 0.18))
    g_cheek = _gauss(xy, (0.42, -0.08), (0.22, 0.22)) + _gauss(xy, (-0.42, -0.08), (0.22, 0.22))
    amp = [0.05, 0.07, 0.05, 0.12, 0.15, 0.025, 0.08, 0.25, 0.06, 0.03, 0.05, 0.04]
    fields = [
        np.stack([x, zero, zero], -1),  # face width
        np.stack([x * np.clip((0.1 - y) / 0.9, 0, 1), zero, zero], -1),  # jaw width
        np.stack([zero, np.minimum(y - 0.3, 0.0), zero], -1),  # lower face length
        np.stack([x * g_nose, zero, zero], -1),  # nose width
        np.stack([zero, -0.3 * np.clip(z - 0.05, 0, None) * g_nose, np.clip(z - 0.05, 0, None) * g_nose], -1),  # nose projection
        np.stack([sign * g_eye, zero, zero], -1),  # eye spacing
        np.concatenate([(xy - eye_centre_xy) * g_eye[:, None], zero[:, None]], -1),  # eye size
        np.stack([zero, (y - MOUTH_LINE_Y) * g_lips, 0.3 * g_lips], -1),  # lip fullness
        np.stack([x * g_lips, zero, zero], -1),  # mouth width
        np.stack([zero, g_brow, zero], -1),  # brow height
        np.stack([zero, -0.5 * g_chin, g_chin], -1),  # chin projection
        np.stack([0.5 * sign * g_cheek, zero, g_cheek], -1),  # cheek fullness
    ]
    basis = np.stack([f * a for f, a in zip(fields, amp)])

    jaw = np.clip((MOUTH_LINE_Y - y) / 0.07, 0.0, 1.0) * np.clip((0.95 - np.abs(x)) / 0.4, 0.0, 1.0)
    for upper, lower in INNER_LIP_PAIRS:
        jaw[upper], jaw[lower] = 0.0, 1.0
    for corner in (*MOUTH_CORNERS_INNER, *MOUTH_CORNERS_OUTER):
        jaw[corner] = 0.45
    smile = np.zeros_like(v)
    for corner in (61, 291):
        g = _gauss(xy, v[corner, :2], (0.12, 0.1))
        smile += g[:, None] * np.array([np.sign(v[corner, 0]) * 0.025, 0.04, -0.01])
    return basis.astype(np.float32), jaw.astype(np.float32), smile.astype(np.float32)


def skirt_points(face: torch.Tensor, skull_scale: torch.Tensor, jaw_scale: torch.Tensor, oval: torch.Tensor) -> torch.Tensor:
    """Skirt vertices [N, S, 3]: the face-oval points projected radially onto the skull (upper face)
    and the jaw (lower face), so the face mesh edge joins the head surface."""
    p = face[:, oval]
    out = []
    for centre, radii in ((SKULL_CENTRE, torch.tensor(SKULL_RADII, device=face.device) * skull_scale),
                          (JAW_CENTRE, torch.tensor(JAW_RADII, device=face.device) * jaw_scale)):
        c = torch.tensor(centre, device=face.device)
        u = (p - c) / radii[:, None]
        out.append(c + radii[:, None] * u / u.norm(dim=-1, keepdim=True).clamp(min=1e-6))
    w = ((p[..., 1:2] + 0.35) / 0.3).clamp(0, 1)
    w = w * w * (3 - 2 * w)
    return out[0] * w + out[1] * (1 - w)


@lru_cache(maxsize=4)
def _template_tensors(device: str) -> dict[str, torch.Tensor]:
    t = load_template()
    basis, jaw, smile = _identity_basis_np()
    eye_loops = [t.loops["right_eye"], t.loops["left_eye"]]
    # Orient the skirt triangles outwards (their vertices are only known once placed on the head).
    triangles = torch.as_tensor(t.triangles)
    vertices = torch.as_tensor(t.vertices)[None]
    fill = torch.einsum("fv,nvc->nfc", torch.as_tensor(t.fill_weights), vertices)
    oval = torch.as_tensor(t.skirt)
    skirt = skirt_points(vertices, torch.ones(1, 3), torch.ones(1, 3), oval)
    all_vertices = torch.cat([vertices, fill, skirt], 1)[0]
    is_skirt = (triangles >= NUM_LANDMARKS + fill.shape[1]).any(1)
    a, b, c = (all_vertices[triangles[:, k]] for k in range(3))
    outward = torch.cross(b - a, c - a, dim=-1)
    radial = (a + b + c) / 3 - torch.tensor([0.0, 0.0, -0.8])
    flip = is_skirt & ((outward * radial).sum(-1) < 0)
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    kinds = torch.as_tensor(t.kinds)
    return {
        "skirt": oval.to(device),
        "skirt_uv": torch.as_tensor(t.skirt_uv, device=device),
        "vertices": torch.as_tensor(t.vertices, device=device),
        "basis": torch.as_tensor(basis, device=device),
        "jaw": torch.as_tensor(jaw, device=device),
        "smile": torch.as_tensor(smile, device=device),
        "fill_weights": torch.as_tensor(t.fill_weights, device=device),
        "fill_eye": torch.as_tensor(t.fill_eye, device=device),
        "fill_depth": torch.as_tensor(t.fill_depth, device=device),
        "eye_loops": [torch.as_tensor(loop, device=device) for loop in eye_loops],
        "triangles": triangles.to(device),
        "face_triangles": triangles[kinds == KIND_FACE].to(device),
        "kinds": kinds.to(device),
        "mouth_side": torch.as_tensor(t.mouth_side, device=device),
    }


def template_tensors(device: torch.device | str) -> dict[str, torch.Tensor]:
    return _template_tensors(str(torch.device(device)))


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] = Rz(roll) @ Rx(pitch) @ Ry(yaw); yaw > 0 turns the face towards image right."""
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ rx @ ry


def axis_rotation(angle: torch.Tensor, axis: str) -> torch.Tensor:
    zero = torch.zeros_like(angle)
    if axis == "x":
        return rotation_matrix(zero, angle, zero)
    if axis == "y":
        return rotation_matrix(angle, zero, zero)
    return rotation_matrix(zero, zero, angle)


def face_shape(geometry: dict[str, torch.Tensor]) -> torch.Tensor:
    """The 468 deformed template points in the head frame [N, 468, 3] (identity + expression)."""
    device = geometry["identity"].device
    tt = template_tensors(device)
    v = tt["vertices"][None] + torch.einsum("nk,kvc->nvc", geometry["identity"], tt["basis"])
    v = v + geometry["smile"][:, None, None] * tt["smile"][None]
    # Jaw opening: rotate the lower face about the jaw joints (x axis), blended by the jaw weights.
    angle = geometry["jaw_open"] * MAX_JAW_ANGLE
    rot = axis_rotation(angle, "x")
    joint = torch.tensor(JAW_JOINT, device=device)
    rotated = torch.einsum("nij,nvj->nvi", rot, v - joint) + joint
    return v + tt["jaw"][None, :, None] * (rotated - v)


def extended_mesh(face: torch.Tensor, geometry: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Face points + fill vertices of the eye and mouth holes [N, V, 3] (head frame), and the unit
    normals [N, F_fill, 3] of the eye fill vertices (spherical eyeballs; head frame)."""
    tt = template_tensors(face.device)
    fill_xyz = torch.einsum("fv,nvc->nfc", tt["fill_weights"], face)
    fill_eye, depth = tt["fill_eye"], tt["fill_depth"]
    normals = torch.zeros_like(fill_xyz)
    z = fill_xyz[..., 2].clone()
    for eye_id, loop in enumerate(tt["eye_loops"]):
        rim = face[:, loop]  # [N, L, 3]
        centre = rim.mean(1)
        d2 = ((rim[..., :2] - centre[:, None, :2]) ** 2).sum(-1)
        bulge = torch.sqrt((EYEBALL_RADIUS**2 - d2).clamp(min=1e-4))
        z_centre = (rim[..., 2] - bulge).mean(1)  # eyeball centre depth that fits the lids
        sel = fill_eye == eye_id
        p = fill_xyz[:, sel]
        q2 = ((p[..., :2] - centre[:, None, :2]) ** 2).sum(-1)
        z_eye = z_centre[:, None] + torch.sqrt((EYEBALL_RADIUS**2 - q2).clamp(min=1e-4))
        z[:, sel] = z_eye
        n = torch.cat([p[..., :2] - centre[:, None, :2], (z_eye - z_centre[:, None])[..., None]], -1)
        normals[:, sel] = n / n.norm(dim=-1, keepdim=True)
    mouth = fill_eye == -1
    z[:, mouth] = fill_xyz[:, mouth, 2] - (MOUTH_DEPTH * (0.4 + geometry["jaw_open"]))[:, None] * depth[mouth]
    normals[:, mouth] = torch.tensor([0.0, 0.0, 1.0], device=face.device)
    fill_xyz = torch.cat([fill_xyz[..., :2], z[..., None]], -1)
    jaw_scale = (1.0 + 0.07 * geometry["identity"][:, 1:2]).expand(-1, 3)
    skirt = skirt_points(face, geometry["skull_scale"], jaw_scale, tt["skirt"])
    return torch.cat([face, fill_xyz, skirt], 1), normals


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals [N, V, 3] of the triangles (vertices not used get zeros)."""
    a, b, c = (vertices[:, triangles[:, k]] for k in range(3))
    face_n = torch.cross(b - a, c - a, dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, triangles[:, k], face_n)
    return normals / normals.norm(dim=-1, keepdim=True).clamp(min=1e-8)


@dataclass
class Frame:
    """A part's local frame in camera space: p_camera = rotation @ p_local + centre."""

    rotation: torch.Tensor  # [N, 3, 3]
    centre: torch.Tensor  # [N, 3]


@dataclass
class PosedHead:
    size: int
    scale: torch.Tensor  # [N] pixels per unit
    head: Frame  # head frame (p_camera = R (p - PIVOT) + position) expressed as a Frame of the PIVOT
    torso: Frame
    mesh: torch.Tensor  # [N, V, 3] face mesh incl. fills, camera space
    mesh_normals: torch.Tensor  # [N, V, 3] camera space
    landmarks: torch.Tensor  # [N, 468, 3] pixels (x right, y down, z MediaPipe-style)
    neck_base: torch.Tensor  # [N, 3] camera space

    def from_head(self, points: torch.Tensor) -> torch.Tensor:
        """Head-frame points [N, ..., 3] (or [3]) -> camera space."""
        pivot = torch.tensor(PIVOT, device=self.scale.device)
        p = points - pivot
        if p.dim() == 1:
            p = p.expand(len(self.scale), 3)
        flat = p.reshape(len(self.scale), -1, 3)
        out = torch.einsum("nij,nkj->nki", self.head.rotation, flat) + self.head.centre[:, None]
        return out.reshape(p.shape)

    def head_part(self, rotation: torch.Tensor | None, centre: torch.Tensor) -> Frame:
        """A part fixed to the head: local rotation [N, 3, 3] or None, centre [N, 3] or [3] (head frame)."""
        rot = self.head.rotation if rotation is None else self.head.rotation @ rotation
        return Frame(rot, self.from_head(centre))

    def to_pixels(self, points: torch.Tensor) -> torch.Tensor:
        """Camera-space points [N, K, 3] -> pixel x (right), y (down), and camera z in pixels."""
        s = self.scale[:, None]
        half = self.size / 2.0
        return torch.stack([half + points[..., 0] * s, half - points[..., 1] * s, points[..., 2] * s], -1)


def pose_head(geometry: dict[str, torch.Tensor], size: int) -> PosedHead:
    device = geometry["yaw"].device
    tt = template_tensors(device)
    n = geometry["yaw"].shape[0]
    face = face_shape(geometry)
    mesh_head, eye_normals = extended_mesh(face, geometry)

    rotation = rotation_matrix(geometry["yaw"], geometry["pitch"], geometry["roll"])
    scale = geometry["iod_frac"] * size
    pivot = torch.tensor(PIVOT, device=device)
    eye_mid = torch.tensor(EYE_MIDPOINT, device=device)
    target = torch.stack([(geometry["eye_pos"][:, 0] - 0.5) * size / scale,
                         (0.5 - geometry["eye_pos"][:, 1]) * size / scale, torch.zeros(n, device=device)], -1)
    position = target - torch.einsum("nij,j->ni", rotation, eye_mid - pivot)
    head = Frame(rotation, position)

    mesh = torch.einsum("nij,nvj->nvi", rotation, mesh_head - pivot) + position[:, None]
    normals = vertex_normals(mesh, tt["face_triangles"])
    fill = len(tt["fill_eye"])
    eye_sel = tt["fill_eye"] >= 0
    eye_cam = torch.einsum("nij,nvj->nvi", rotation, eye_normals[:, eye_sel])
    fill_normals = normals[:, NUM_LANDMARKS:NUM_LANDMARKS + fill].clone()
    fill_normals[:, eye_sel] = eye_cam
    fill_normals[:, ~eye_sel] = torch.einsum("nij,j->ni", rotation, torch.tensor([0.0, 0.0, 1.0], device=device))[:, None]
    normals = torch.cat([normals[:, :NUM_LANDMARKS], fill_normals, normals[:, NUM_LANDMARKS + fill:]], 1)

    neck_base = position + torch.stack([0.05 * torch.sin(geometry["torso_roll"]), -geometry["neck_length"],
                                        torch.full_like(scale, 0.1)], -1)
    torso_rot = rotation_matrix(geometry["torso_yaw"], torch.zeros_like(scale), geometry["torso_roll"])
    torso = Frame(torso_rot, neck_base)

    posed = PosedHead(size, scale, head, torso, mesh, normals, torch.zeros(n, NUM_LANDMARKS, 3, device=device), neck_base)
    lm = mesh[:, :NUM_LANDMARKS]
    px = posed.to_pixels(lm)
    z = -(lm[..., 2] - lm[..., 2].mean(1, keepdim=True)) * scale[:, None]
    posed.landmarks = torch.stack([px[..., 0], px[..., 1], z], -1)
    return posed
