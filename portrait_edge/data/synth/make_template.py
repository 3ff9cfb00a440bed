"""Derives the engine's 3D face template (Face Mesh topology) from real portraits. Run once, offline.

    .venv/bin/python -m portrait_edge.data.synth.make_template

MediaPipe Face Mesh is run on the real portraits that ship inside installed packages
(skimage.data.astronaut() and matplotlib's grace_hopper.jpg) and on horizontally flipped copies.
The 468 3D landmarks of each run are aligned (generalised Procrustes: rotation, scale, translation),
averaged, made exactly left-right symmetric, put in a frontal frame and written with the tesselation
triangles and the named contours to face_template.npz next to this file.

With --refine R, R rounds of calibration follow: the engine renders faces (yaw -30..30 deg), Face Mesh
runs on them, and each template point moves by the least-squares 3D offset (in the head frame, over all
renders and poses) that brings the engine's landmarks to where Face Mesh puts them on its renders;
offsets are made left-right symmetric, damped and clipped (MAX_STEP per round). Eye, brow and lip
points stay fixed: the engine draws those features from these very points, so moving them would only
chase Face Mesh's reading of our own drawing (lips thin out round after round). The shipped template:
    .venv/bin/python -m portrait_edge.data.synth.make_template --refine 3
(3 rounds of 128 renders at 320 px, seed 777; mean error vs Face Mesh 3.66% -> 3.04% of the
outer-eye-corner distance on the calibration renders).

Only this script imports mediapipe; the engine reads the .npz.

Frame of the template: x to the person's left (= image right in a frontal view), y up, z towards the
camera, units = inter-ocular distance between the outer eye corners (landmarks 33 and 263) = 1,
origin = centroid of the 468 points (both before calibration, which may shift them by a few percent).
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

TEMPLATE_PATH = Path(__file__).with_name("face_template.npz")
OUTER_EYE_CORNERS = (33, 263)  # person's right, person's left


def _portraits() -> list[np.ndarray]:
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    astronaut = skimage.data.astronaut()
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        hopper = np.asarray(image.convert("RGB"))
    return [astronaut, hopper]


def _face_mesh_points(image: np.ndarray, face_mesh) -> np.ndarray:
    """468x3 landmarks in a y-up, z-to-camera frame, in pixels."""
    result = face_mesh.process(np.ascontiguousarray(image))
    if not result.multi_face_landmarks:
        raise RuntimeError("Face Mesh found no face on a template portrait")
    width, height = image.shape[1], image.shape[0]
    points = np.array([[p.x * width, p.y * height, p.z * width] for p in result.multi_face_landmarks[0].landmark])
    return points * np.array([1.0, -1.0, -1.0])


def _similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """source aligned onto target by the least-squares rotation, scale and translation (Umeyama)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, 1.0, d])
    rotation = u @ correction @ vt
    scale = (sigma * np.diag(correction)).sum() / (s**2).sum()
    return scale * s @ rotation.T + mu_t


def _triangles(edges: frozenset) -> np.ndarray:
    """Faces of the tesselation: 3-cliques of its edge graph minus the few cliques that are not faces.

    A clique that is not a face is made of three edges that each already border two faces, so every
    one of its edges ends up in three cliques.
    """
    undirected = {tuple(sorted(e)) for e in edges}
    neighbours = collections.defaultdict(set)
    for a, b in undirected:
        neighbours[a].add(b)
        neighbours[b].add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in undirected for c in neighbours[a] & neighbours[b]}
    uses = collections.Counter()
    for a, b, c in cliques:
        uses.update([(a, b), (a, c), (b, c)])
    faces = [t for t in cliques if not all(uses[e] == 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
    return np.array(sorted(faces), dtype=np.int64)


def _mirror_permutation(originals: list[np.ndarray], flipped_back: list[np.ndarray]) -> np.ndarray:
    """mirror[i] = the landmark on the other side of the face that corresponds to landmark i.

    Landmark i found on a flipped photo, flipped back, sits where the mirror landmark of i is on the
    original photo; matching them (Hungarian assignment) gives the left-right pairing.
    """
    from scipy.optimize import linear_sum_assignment

    cost = np.zeros((468, 468))
    for original, mirrored in zip(originals, flipped_back):
        scale = np.linalg.norm(original[OUTER_EYE_CORNERS[0]] - original[OUTER_EYE_CORNERS[1]])
        cost += np.linalg.norm(mirrored[:, None, :2] - original[None, :, :2], axis=-1) / scale
    rows, cols = linear_sum_assignment(cost)
    mirror = cols[np.argsort(rows)]
    if not np.array_equal(mirror[mirror], np.arange(468)):
        raise RuntimeError("left-right pairing of the landmarks is not an involution")
    return mirror


def _frontal_frame(points: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Rotates a symmetric shape so that its symmetry plane is x = 0, the face looks along +z and the
    line from the chin (152) to the forehead top (10) points up."""
    pair_axis = points - points[mirror]
    signs = np.sign(pair_axis @ (points[OUTER_EYE_CORNERS[1]] - points[OUTER_EYE_CORNERS[0]]))
    x_axis = (pair_axis * signs[:, None]).sum(0)
    x_axis /= np.linalg.norm(x_axis)
    up = points[10] - points[152]
    y_axis = up - (up @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    rotated = (points - points.mean(0)) @ np.stack([x_axis, y_axis, z_axis]).T
    if rotated[1, 2] < rotated[:, 2].mean():  # landmark 1 = nose tip must be in front
        raise RuntimeError("template frame is facing away from the camera")
    return rotated


def build_template() -> dict[str, np.ndarray]:
    import mediapipe as mp
    from mediapipe.python.solutions import face_mesh_connections as fmc

    originals, flipped_back, shapes = [], [], []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False) as face_mesh:
        for image in _portraits():
            original = _face_mesh_points(image, face_mesh)
            mirrored = _face_mesh_points(image[:, ::-1], face_mesh)
            back = mirrored.copy()
            back[:, 0] = image.shape[1] - back[:, 0]
            originals.append(original)
            flipped_back.append(back)
            shapes += [original, mirrored]
    mirror = _mirror_permutation(originals, flipped_back)

    # Generalised Procrustes: align to the running mean until it settles.
    mean = shapes[0] - shapes[0].mean(0)
    for _ in range(10):
        aligned = [_similarity_align(shape, mean) for shape in shapes]
        mean = np.mean(aligned, axis=0)
        mean = (mean - mean.mean(0)) / np.linalg.norm(mean - mean.mean(0))
    # Exact symmetry: average the shape with its mirror image (x negated, landmarks paired).
    reflected = mean[mirror] * np.array([-1.0, 1.0, 1.0])
    symmetric = 0.5 * (mean + _similarity_align(reflected, mean))
    vertices = _frontal_frame(symmetric, mirror)
    vertices = 0.5 * (vertices + vertices[mirror] * np.array([-1.0, 1.0, 1.0]))
    vertices -= vertices.mean(0)
    vertices /= np.linalg.norm(vertices[OUTER_EYE_CORNERS[1]] - vertices[OUTER_EYE_CORNERS[0]])

    triangles = _triangles(fmc.FACEMESH_TESSELATION)
    # Counter-clockwise seen from the camera (+z): the face normal of every triangle points at it.
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    facing = np.cross(b - a, c - a)[:, 2]
    triangles[facing < 0] = triangles[facing < 0][:, [0, 2, 1]]

    def pairs(connections) -> np.ndarray:
        return np.array(sorted(tuple(e) for e in connections), dtype=np.int64)

    return {
        "vertices": vertices.astype(np.float32),
        "triangles": triangles.astype(np.int32),
        "mirror": mirror.astype(np.int32),
        "lips": pairs(fmc.FACEMESH_LIPS),
        "left_eye": pairs(fmc.FACEMESH_LEFT_EYE),
        "right_eye": pairs(fmc.FACEMESH_RIGHT_EYE),
        "left_eyebrow": pairs(fmc.FACEMESH_LEFT_EYEBROW),
        "right_eyebrow": pairs(fmc.FACEMESH_RIGHT_EYEBROW),
        "face_oval": pairs(fmc.FACEMESH_FACE_OVAL),
        "nose": pairs(fmc.FACEMESH_NOSE),
    }


def _save(arrays: dict[str, np.ndarray]) -> None:
    """Atomic write of the template (temporary file in the same folder, then rename)."""
    import os

    temp = TEMPLATE_PATH.with_name(f".{TEMPLATE_PATH.name}.tmp.npz")
    np.savez_compressed(temp, **arrays)
    os.replace(temp, TEMPLATE_PATH)


def _reload_engine() -> None:
    """Drop the engine's caches of the template (it is being rewritten)."""
    from portrait_edge.data.synth import face_atlas, geometry, template

    template.load_template.cache_clear()
    geometry._identity_basis_np.cache_clear()
    geometry._template_tensors.cache_clear()
    face_atlas._atlas_np.cache_clear()
    face_atlas._atlas.cache_clear()


def refine_template(rounds: int, renders: int = 128, size: int = 320, damping: float = 0.6, seed: int = 777) -> None:
    import math

    import mediapipe as mp

    from portrait_edge.data.synth.render import render_batch

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False) as face_mesh:
        for round_index in range(rounds):
            _reload_engine()
            rng = np.random.default_rng([seed, round_index])
            yaws = rng.uniform(-math.radians(30), math.radians(30), renders)
            normal = np.zeros((NUM_POINTS, 3, 3))
            rhs = np.zeros((NUM_POINTS, 3))
            errors = []
            for start in range(0, renders, 16):
                count = min(16, renders - start)
                out = render_batch(count, seed * 1000 + round_index * 100 + start, size,
                                   overrides={"yaw": yaws[start:start + count]}, return_pose=True)
                render, posed = out
                images = (render.image.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
                for i in range(count):
                    result = face_mesh.process(np.ascontiguousarray(images[i]))
                    if not result.multi_face_landmarks:
                        continue
                    found = np.array([[p.x * size, p.y * size] for p in result.multi_face_landmarks[0].landmark])
                    ours = render.landmarks[i, :, :2].numpy()
                    residual = (found - ours) / float(posed.scale[i])  # camera units, y down
                    residual[:, 1] *= -1.0
                    rotation = posed.head.rotation[i].numpy()
                    projection = rotation[:2]  # head-frame offset -> camera x, y
                    normal += projection.T @ projection
                    rhs += residual @ projection
                    iod = np.linalg.norm(ours[OUTER_EYE_CORNERS[0]] - ours[OUTER_EYE_CORNERS[1]])
                    errors.append(np.linalg.norm(found - ours, axis=1).mean() / iod)
            offsets = np.linalg.solve(normal + 1e-3 * np.eye(3), rhs[..., None])[..., 0]
            data = dict(np.load(TEMPLATE_PATH))
            mirror = data["mirror"]
            offsets = 0.5 * (offsets + offsets[mirror] * np.array([-1.0, 1.0, 1.0]))
            # Eyes, brows and lips are drawn from their own landmarks: moving them would only chase
            # Face Mesh's reading of our drawing round after round (they thin out); keep them fixed.
            offsets[_self_drawn(data)] = 0.0
            length = np.linalg.norm(offsets, axis=1, keepdims=True)
            offsets = offsets * np.minimum(1.0, MAX_STEP / np.maximum(length, 1e-9))
            data["vertices"] = (data["vertices"] + damping * offsets).astype(np.float32)
            _save(data)
            print(f"refine round {round_index + 1}/{rounds}: mean landmark error before {np.mean(errors):.4f} "
                  f"(outer-eye-corner distance), {len(errors)}/{renders} found; mean offset {np.abs(offsets).mean():.4f}")
    _reload_engine()


NUM_POINTS = 468
MAX_STEP = 0.04  # largest move of a template point per calibration round (units of the template)


def _self_drawn(data: dict[str, np.ndarray]) -> np.ndarray:
    names = ("lips", "left_eye", "right_eye", "left_eyebrow", "right_eyebrow")
    return np.unique(np.concatenate([data[name].reshape(-1) for name in names]))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refine", type=int, default=0, help="calibration rounds against Face Mesh (default 0)")
    parser.add_argument("--refine-only", action="store_true", help="keep the current template, only refine it")
    args = parser.parse_args()
    if not args.refine_only:
        template = build_template()
        _save(template)
        print(f"wrote {TEMPLATE_PATH}: {len(template['vertices'])} vertices, {len(template['triangles'])} triangles")
    if args.refine:
        refine_template(args.refine)


if __name__ == "__main__":
    main()
