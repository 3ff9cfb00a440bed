"""The 3D face template in the MediaPipe Face Mesh topology and everything derived from its topology.

The template (face_template.npz, made by make_template.py from real portraits) holds the 468 Face Mesh
points of an average, symmetric face in a frontal frame: x to the person's left (image right in a
frontal view), y up, z towards the camera, 1 unit = distance between the outer eye corners (33, 263).

Face Mesh has holes at the eyes and the mouth. The engine closes them with extra "fill" triangles whose
vertices are fixed blends of the hole's rim (eyeballs seen between the lids, the inside of the mouth
seen between the lips), so the rendered landmarks stay exactly the first 468 vertices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TEMPLATE_PATH = Path(__file__).with_name("face_template.npz")
NUM_LANDMARKS = 468

# Triangle kinds of the rendered face mesh.
KIND_FACE, KIND_RIGHT_EYE, KIND_LEFT_EYE, KIND_MOUTH = 0, 1, 2, 3

# Inner-lip landmark pairs (upper, lower) that touch when the mouth is closed.
INNER_LIP_PAIRS = ((191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324))
MOUTH_CORNERS_INNER = (78, 308)
MOUTH_CORNERS_OUTER = (61, 291)
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}  # (outer, inner); the person's right / left
EYE_RADIUS = 0.13  # eyeball radius in template units (about 12 mm)


def _ordered_loop(pairs: np.ndarray) -> list[int]:
    """The vertices of a closed chain of edges, in walking order."""
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    start = min(neighbours)
    loop, previous = [start], None
    while True:
        current = loop[-1]
        following = [v for v in neighbours[current] if v != previous and (v not in loop or (v == start and len(loop) > 2))]
        if not following or following[0] == start:
            break
        previous = current
        loop.append(following[0])
    return loop


def _polylines(pairs: np.ndarray) -> list[list[int]]:
    """Open chains of edges (e.g. the upper and lower contour of a brow), each in walking order."""
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    ends = sorted(v for v, n in neighbours.items() if len(n) == 1)
    lines, used = [], set()
    for end in ends:
        if end in used:
            continue
        line = [end]
        while True:
            following = [v for v in neighbours[line[-1]] if v not in line]
            if not following:
                break
            line.append(following[0])
        used.update(line)
        lines.append(line)
    return lines


@dataclass(frozen=True)
class FaceTemplate:
    vertices: np.ndarray  # [468, 3] float32, mouth closed
    triangles: np.ndarray  # [T, 3] int64 over the extended vertex list (468 + fill vertices)
    kinds: np.ndarray  # [T] int64: KIND_*
    fill_weights: np.ndarray  # [F, 468] float32: fill vertex xy = fill_weights @ vertex xy
    fill_eye: np.ndarray  # [F] int64: 0 right eye, 1 left eye, -1 mouth
    fill_depth: np.ndarray  # [F] float32: 0 on the rim .. 1 at the centre of the hole
    mouth_side: np.ndarray  # [468 + F] float32: +1 upper inner lip, -1 lower inner lip, 0 elsewhere
    skirt: np.ndarray  # [S] int64: face-oval landmarks, each gets one skirt vertex behind it
    skirt_uv: np.ndarray  # [S, 2] float32: template coordinates of the skirt vertices
    mirror: np.ndarray  # [468] int64: the landmark on the other side of the face
    loops: dict  # name -> ordered vertex indices of closed contours
    brows: dict  # "left"/"right" -> (upper polyline, lower polyline)

    @property
    def num_vertices(self) -> int:
        return NUM_LANDMARKS + len(self.fill_weights) + len(self.skirt)


def _fan_fill(loop: list[int], rings: tuple[float, ...], first_index: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Triangles closing a hole bounded by `loop`: concentric rings shrunk towards the centroid."""
    n = len(loop)
    weights, depth, triangles = [], [], []
    previous_ring = list(loop)
    next_index = first_index
    for shrink in rings:
        ring = []
        for k in range(n):
            w = np.zeros(NUM_LANDMARKS)
            w[loop] += (1 - shrink) / n
            w[loop[k]] += shrink
            weights.append(w)
            depth.append(1 - shrink)
            ring.append(next_index)
            next_index += 1
        for k in range(n):
            a, b = previous_ring[k], previous_ring[(k + 1) % n]
            c, d = ring[k], ring[(k + 1) % n]
            triangles += [(a, b, d), (a, d, c)]
        previous_ring = ring
    centre = np.zeros(NUM_LANDMARKS)
    centre[loop] = 1.0 / n
    weights.append(centre)
    depth.append(1.0)
    for k in range(n):
        triangles.append((previous_ring[k], previous_ring[(k + 1) % n], next_index))
    return np.array(weights), np.array(depth), triangles


@lru_cache(maxsize=1)
def load_template() -> FaceTemplate:
    data = np.load(TEMPLATE_PATH)
    vertices = data["vertices"].astype(np.float64).copy()
    # Close the mouth: the template portraits smile with parted lips; the engine opens it by expression.
    for upper, lower in INNER_LIP_PAIRS:
        middle = 0.5 * (vertices[upper] + vertices[lower])
        vertices[upper] = vertices[lower] = middle

    lips = _ordered_loop(data["lips"][np.isin(data["lips"], [13, 14, 78, 308, *sum(INNER_LIP_PAIRS, ())]).all(1)])
    loops = {
        "right_eye": _ordered_loop(data["right_eye"]),
        "left_eye": _ordered_loop(data["left_eye"]),
        "inner_lips": lips,
        "outer_lips": _ordered_loop(data["lips"][~np.isin(data["lips"], lips).all(1)]),
        "face_oval": _ordered_loop(data["face_oval"]),
    }
    brows = {}
    for side in ("left", "right"):
        lines = _polylines(data[f"{side}_eyebrow"])
        lines.sort(key=lambda line: -vertices[line, 1].mean())
        brows[side] = (lines[0], lines[1])

    triangles = [tuple(t) for t in data["triangles"].astype(np.int64)]
    kinds = [KIND_FACE] * len(triangles)
    fill_weights, fill_eye, fill_depth = [], [], []
    next_index = NUM_LANDMARKS
    for eye_id, (name, kind) in enumerate((("right_eye", KIND_RIGHT_EYE), ("left_eye", KIND_LEFT_EYE))):
        w, d, tris = _fan_fill(loops[name], (0.7, 0.4), next_index)
        fill_weights.append(w), fill_depth.append(d), fill_eye.append(np.full(len(w), eye_id))
        triangles += tris
        kinds += [kind] * len(tris)
        next_index += len(w)
    w, d, tris = _fan_fill(loops["inner_lips"], (0.6,), next_index)
    fill_weights.append(w), fill_depth.append(d), fill_eye.append(np.full(len(w), -1))
    triangles += tris
    kinds += [KIND_MOUTH] * len(tris)
    fill_weights = np.concatenate(fill_weights).astype(np.float32)

    # Orient the fill triangles like the face: counter-clockwise seen from the camera.
    extended = np.concatenate([vertices, fill_weights @ vertices])
    tri = np.array(triangles, dtype=np.int64)
    a, b, c = (extended[tri[:, k]] for k in range(3))
    facing = np.cross(b - a, c - a)[:, 2]
    flip = (facing < 0) & (np.array(kinds) != KIND_FACE)
    tri[flip] = tri[flip][:, [0, 2, 1]]
    # Degenerate fill triangles of the closed mouth are fine: they cover no pixel until it opens.

    # Skirt: a ring of vertices behind the face oval (placed on the skull and jaw by geometry.py) that
    # joins the edge of the face mesh to the head without a step.
    oval = loops["face_oval"]
    skirt_start = NUM_LANDMARKS + len(fill_weights)
    skirt_tris = []
    for k in range(len(oval)):
        a, b = oval[k], oval[(k + 1) % len(oval)]
        c, d = skirt_start + k, skirt_start + (k + 1) % len(oval)
        skirt_tris += [(a, c, b), (b, c, d)]
    tri = np.concatenate([tri, np.array(skirt_tris, dtype=np.int64)])
    kinds = list(kinds) + [KIND_FACE] * len(skirt_tris)
    centre = vertices[oval, :2].mean(0)
    skirt_uv = (vertices[oval, :2] - centre) * 1.08 + centre

    mouth_side = np.zeros(NUM_LANDMARKS + len(fill_weights) + len(oval), dtype=np.float32)
    for upper, lower in INNER_LIP_PAIRS:
        mouth_side[upper], mouth_side[lower] = 1.0, -1.0
    mouth_fill = np.nonzero(np.concatenate(fill_eye) == -1)[0] + NUM_LANDMARKS
    mouth_side[mouth_fill] = (fill_weights[mouth_fill - NUM_LANDMARKS] @ mouth_side[:NUM_LANDMARKS]) * 0.999

    return FaceTemplate(
        vertices=vertices.astype(np.float32),
        triangles=tri,
        kinds=np.array(kinds, dtype=np.int64),
        fill_weights=fill_weights,
        fill_eye=np.concatenate(fill_eye).astype(np.int64),
        fill_depth=np.concatenate(fill_depth).astype(np.float32),
        mouth_side=mouth_side,
        skirt=np.array(oval, dtype=np.int64),
        skirt_uv=skirt_uv.astype(np.float32),
        mirror=data["mirror"].astype(np.int64),
        loops=loops,
        brows=brows,
    )
