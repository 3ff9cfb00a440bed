"""MediaPipe Face Mesh landmarks, and the two landmark channels of the `normals` network.

Landmark convention (used by `detect_landmarks`, by the synthetic engine, by everything here):
an array [468, 3] (or batched [N, 468, 3]) float32 in PIXELS of the image: x to the right and y down
from the image's top-left corner (pixel i covers [i, i + 1), so its centre is at i + 0.5), and z =
MediaPipe's normalised z times the image width: depth relative to the head centre, same scale as x,
smaller = closer to the camera. Index i is Face Mesh vertex i. "left"/"right" in region names are the
SUBJECT's (MediaPipe's naming): the left eye is on the image's right in an unmirrored photo.

The static topology (regions, ordered contours, triangles) comes from face_mesh_topology.json,
built from MediaPipe's own edge sets by `python -m portrait_edge.data.build_face_mesh_topology`;
so `landmark_channels` and `landmark_error` work without MediaPipe. Only `detect_landmarks` needs it.

Landmark channels (`landmark_channels`), the seed's "landmarks data at corresponding positions on the
face at channel four and five": the face mesh (the 852 Face Mesh triangles plus 46 triangles filling
the eye and mouth openings: 898) is rasterised as FILLED TRIANGLES at the output resolution, with a
z-buffer (where the mesh overlaps itself, the surface nearest the camera wins). A pixel belongs to a
triangle when its centre lies inside it or on its edges (no gaps between neighbouring triangles).
- channel 0, region identity: REGION_CODES[region] / 6 for the triangle covering the pixel,
  skin (rest of the mesh) 1/6, nose 2/6, brows 3/6, eyes (eye openings) 4/6, lips 5/6,
  mouth (opening between the lips) 6/6; 0 where no triangle covers the pixel (background, hair, ears,
  neck). Left and right parts share a value, so the encoding is mirror-symmetric: the channels of a
  horizontally flipped face are the flipped channels (the seed's flip augmentation stays valid).
- channel 1, depth: a dense coarse depth map of the face, 0 off the mesh. Per landmark,
  d = clip(0.65 - 0.4 * (z - mean(z)) / s, 0.05, 1), s = RMS 3D distance of the 468 landmarks from
  their centroid (invariant to rotation, proportional to face size, so d does not depend on image
  resolution or face size); d is interpolated linearly (barycentric, in image space) inside each
  triangle and quantised to 2^-20. Nearer = larger. On real frontal faces (z - mean z)/s spans about
  [-0.73, 1.32], so d spans about [0.12, 0.94]: the nose tip is the brightest point.
Deterministic (integer z-buffer keys reduced with amax), batched, same result on CPU and CUDA.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_edge.errors import NotAvailableError, PortraitEdgeError

NUM_LANDMARKS = 468
TOPOLOGY_PATH = Path(__file__).with_name("face_mesh_topology.json")


class NoFaceError(PortraitEdgeError):
    """No face was found in an image."""


def _load_topology() -> dict[str, Any]:
    with open(TOPOLOGY_PATH, encoding="utf-8") as handle:
        return json.load(handle)


_TOPOLOGY = _load_topology()
# Region name -> landmark indices (MediaPipe's FACEMESH_* sets, sorted; lips also split outer/inner).
FACE_MESH_REGIONS: dict[str, list[int]] = {k: list(v) for k, v in _TOPOLOGY["regions"].items()}
# Region name -> indices as an ordered closed loop (face_oval, eyes, lips_outer/inner, eyebrows, nose_wings).
FACE_MESH_CONTOURS: dict[str, list[int]] = {k: list(v) for k, v in _TOPOLOGY["contours"].items()}
# The eye centre used by landmark_error = mean of these landmarks (each eye's 16-point contour).
EYE_CENTER_INDICES: dict[str, list[int]] = {"left": FACE_MESH_REGIONS["left_eye"],
                                             "right": FACE_MESH_REGIONS["right_eye"]}
REGION_CODES: dict[str, int] = dict(_TOPOLOGY["region_codes"])
_MAX_CODE = max(REGION_CODES.values())
# Value of channel 0 for each region (0 = not on the face mesh).
REGION_VALUES: dict[str, float] = {name: code / _MAX_CODE for name, code in REGION_CODES.items()}
MESH_TRIANGLES = np.asarray(_TOPOLOGY["triangles"], dtype=np.int64)  # [898, 3]
MESH_TRIANGLE_REGIONS = np.asarray(_TOPOLOGY["triangle_regions"], dtype=np.int64)  # [898] region codes

DEPTH_OFFSET, DEPTH_GAIN, DEPTH_FLOOR = 0.65, 0.4, 0.05
_DEPTH_STEPS = 1 << 20
_CODE_BITS = 3  # region codes 1..6 fit in 3 bits of the z-buffer key
_CHUNK_ELEMENTS = 1 << 20  # candidate pixels per rasterisation chunk (bounds memory to ~100 MB)


# ---------------------------------------------------------------- detection (needs MediaPipe)

_FACE_MESHES: dict[tuple[bool, int], Any] = {}
_FACE_MESH_LOCK = threading.Lock()  # FaceMesh.process is not thread safe
NUM_REFINED_LANDMARKS = 478  # with refine_landmarks: + 5 iris points per eye (468..477)
MAX_FACES = 8
DETECT_MIN_SIDE, DETECT_MAX_SIDE = 256, 1024  # photos are scaled into this range for Face Mesh


def _face_mesh(refine: bool = False, max_faces: int = 1):
    key = (refine, max_faces)
    if key not in _FACE_MESHES:
        try:
            from mediapipe.python.solutions import face_mesh as mp_face_mesh
        except ImportError as error:
            raise NotAvailableError(
                f"face landmarks need MediaPipe 0.10.21 (import failed: {error}); install it with "
                "`pip install --no-deps mediapipe==0.10.21` plus the `train` extra (see README)") from None
        _FACE_MESHES[key] = mp_face_mesh.FaceMesh(static_image_mode=True, max_num_faces=max_faces,
                                                  refine_landmarks=refine, min_detection_confidence=0.5)
    return _FACE_MESHES[key]


def _check_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise PortraitEdgeError(f"face detection expects an HxWx3 uint8 RGB image, got shape "
                                f"{tuple(array.shape)} dtype {array.dtype}")
    return np.ascontiguousarray(array)


def detect_faces(image: np.ndarray, refine: bool = False, max_faces: int = 1) -> list[np.ndarray]:
    """Face Mesh landmarks of up to max_faces faces, the largest (landmark box area) first: each [468, 3]
    float32 in pixels (module convention), or [478, 3] with refine=True (refined lips, eyes and brows,
    + 10 iris points). An empty list when there is no face. image: HxWx3 uint8 RGB."""
    array = _check_rgb(image)
    height, width = array.shape[:2]
    with _FACE_MESH_LOCK:
        result = _face_mesh(refine, max_faces).process(array)
    count = NUM_REFINED_LANDMARKS if refine else NUM_LANDMARKS
    faces = [np.array([(p.x * width, p.y * height, p.z * width) for p in face.landmark[:count]], dtype=np.float32)
             for face in (result.multi_face_landmarks or [])]
    return sorted(faces, key=_box_area, reverse=True)


def detect_landmarks(image: np.ndarray, refine: bool = False) -> np.ndarray:
    """Face Mesh landmarks of the most prominent face ([468, 3], or [478, 3] with refine). Raises
    NoFaceError if no face."""
    faces = detect_faces(image, refine)
    if not faces:
        height, width = np.asarray(image).shape[:2]
        raise NoFaceError(f"no face found in the {width}x{height} image (Face Mesh needs a visible, "
                          "roughly frontal face)")
    return faces[0]


def find_faces(image: np.ndarray, max_faces: int = 1) -> list[np.ndarray]:
    """The one face finder of the pool, training previews and the inference pipelines: refined [478, 3]
    landmarks in the photo's pixels, largest face first, [] when there is none.

    Face Mesh's detector sees the whole photo shrunk to 128 px, so it misses faces that are small in
    the photo and finds a face that fills a tight crop only with context around it. So: the photo is
    scaled to a longer side in [DETECT_MIN_SIDE, DETECT_MAX_SIDE] and searched; when nothing is found,
    it is searched again padded by a third of its side (edges repeated); when still nothing is found, or
    more than one face is asked for, overlapping square tiles of the photo are searched too, and faces
    found twice (a box centre inside another face's box) are kept once."""
    from PIL import Image

    array = _check_rgb(image)
    height, width = array.shape[:2]
    longer = max(height, width)
    scale = min(max(1.0, DETECT_MIN_SIDE / longer), DETECT_MAX_SIDE / longer)
    work = array if scale == 1.0 else np.asarray(Image.fromarray(array).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR))
    faces = detect_faces(work, refine=True, max_faces=max_faces)
    if not faces:
        pad = max(work.shape[:2]) // 3
        faces = [_shifted(f, -pad, -pad) for f in detect_faces(np.pad(work, ((pad, pad), (pad, pad), (0, 0)), mode="edge"),
                                                               refine=True, max_faces=max_faces)]
    if not faces or max_faces > 1:
        for top, left, side in _tiles(*work.shape[:2]):
            tile = work[top:top + side, left:left + side]
            faces += [_shifted(f, left, top) for f in detect_faces(tile, refine=True, max_faces=max_faces)]
    kept: list[np.ndarray] = []
    for points in sorted(faces, key=_box_area, reverse=True):
        if not any(_centre_inside(points, other) for other in kept):
            kept.append(points)
    return [(points / scale).astype(np.float32) for points in kept[:max_faces]]


def _shifted(points: np.ndarray, dx: float, dy: float) -> np.ndarray:
    out = points.copy()
    out[:, 0] += dx
    out[:, 1] += dy
    return out


def _box_area(points: np.ndarray) -> float:
    return float(np.prod(points[:NUM_LANDMARKS, :2].max(0) - points[:NUM_LANDMARKS, :2].min(0)))


def _centre_inside(points: np.ndarray, other: np.ndarray) -> bool:
    centre = (points[:NUM_LANDMARKS, :2].max(0) + points[:NUM_LANDMARKS, :2].min(0)) / 2
    low, high = other[:NUM_LANDMARKS, :2].min(0), other[:NUM_LANDMARKS, :2].max(0)
    return bool(((centre >= low) & (centre <= high)).all())


def _tiles(height: int, width: int) -> list[tuple[int, int, int]]:
    """Square tiles (top, left, side) overlapping by half, of side min(H, W) and of half that, whose
    faces are big enough for the detector when the whole photo's are not."""
    tiles = []
    for side in (min(height, width), min(height, width) // 2):
        if side < 96:
            continue
        step = side // 2
        for top in sorted({*range(0, height - side + 1, step), height - side}):
            for left in sorted({*range(0, width - side + 1, step), width - side}):
                tiles.append((top, left, side))
    return tiles


# ---------------------------------------------------------------- judging


def landmark_error(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean 2D distance between corresponding landmarks, divided by the inter-ocular distance of `ref`.

    Inter-ocular distance = distance between the eye centres, each the mean of that eye's contour
    landmarks (EYE_CENTER_INDICES). pred, ref: [468, 2 or 3] (extra points beyond 468 are ignored).
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    for name, array in (("pred", pred), ("ref", ref)):
        if array.ndim != 2 or array.shape[0] < NUM_LANDMARKS or array.shape[1] < 2:
            raise PortraitEdgeError(f"landmark_error: {name} must be [468, 2 or 3], got {tuple(array.shape)}")
    pred, ref = pred[:NUM_LANDMARKS, :2], ref[:NUM_LANDMARKS, :2]
    left = ref[EYE_CENTER_INDICES["left"]].mean(axis=0)
    right = ref[EYE_CENTER_INDICES["right"]].mean(axis=0)
    inter_ocular = float(np.linalg.norm(left - right))
    if not np.isfinite(inter_ocular) or inter_ocular <= 1e-6:
        raise PortraitEdgeError("landmark_error: the reference landmarks have no inter-ocular distance")
    return float(np.linalg.norm(pred - ref, axis=1).mean() / inter_ocular)


# ---------------------------------------------------------------- network input channels

_DEVICE_TOPOLOGY: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _topology_on(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = str(device)
    if key not in _DEVICE_TOPOLOGY:
        _DEVICE_TOPOLOGY[key] = (torch.as_tensor(MESH_TRIANGLES, device=device),
                                 torch.as_tensor(MESH_TRIANGLE_REGIONS, device=device))
    return _DEVICE_TOPOLOGY[key]


def landmark_depth(landmarks: torch.Tensor) -> torch.Tensor:
    """Per-landmark depth value d in [DEPTH_FLOOR, 1] (see the module docstring): [N, 468, 3] -> [N, 468]."""
    centred = landmarks - landmarks.mean(dim=1, keepdim=True)
    scale = centred.square().sum(dim=2).mean(dim=1).sqrt().clamp_min(1e-6)  # [N]
    return (DEPTH_OFFSET - DEPTH_GAIN * centred[..., 2] / scale[:, None]).clamp(DEPTH_FLOOR, 1.0)


def app_encoding() -> dict[str, Any]:
    """The landmark-channel encoding as data an app needs to reproduce `landmark_channels` (the phone
    bundles ship it as face_mesh_triangles.json; the Kotlin/Swift snippets implement it)."""
    return {
        "landmarks": f"the first {NUM_LANDMARKS} Face Mesh landmarks in pixels of the framed crop: x right, y down "
                     "from the crop's top-left corner (pixel centres at i + 0.5), z = MediaPipe's normalised z "
                     "times the photo width, mapped by the same scale as x and y (the depth is scale-invariant)",
        "triangles": MESH_TRIANGLES.tolist(),
        "triangle_region_codes": MESH_TRIANGLE_REGIONS.tolist(),
        "region_codes": REGION_CODES,
        "channel_0": f"region identity: region code / {_MAX_CODE} of the triangle covering the pixel, 0 off the mesh",
        "channel_1": "depth: per landmark d = clip(offset - gain * (z - mean z) / s, floor, 1), s = RMS 3D distance "
                     "of the landmarks from their centroid; barycentric inside each triangle (pixel centres, edges "
                     "inclusive with eps 1e-5), quantised as round(d * depth_steps) / depth_steps; 0 off the mesh",
        "depth": {"offset": DEPTH_OFFSET, "gain": DEPTH_GAIN, "floor": DEPTH_FLOOR, "depth_steps": _DEPTH_STEPS},
        "z_buffer": f"per pixel the largest key (round(d * depth_steps) << {_CODE_BITS}) | region code wins "
                    "(nearest surface; ties: the larger code)",
        "max_code": _MAX_CODE,
        "reference": "portrait_edge.data.landmarks.landmark_channels",
    }


def landmark_channels(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """[N, 468, 3] landmarks in pixels of a size x size image -> [N, 2, size, size] float32 in [0, 1].

    Channel 0 = region identity, channel 1 = depth, rasterised as filled mesh triangles (module
    docstring). Works on the landmarks' device; 478-point (refined) landmarks use their first 468.
    """
    if not isinstance(landmarks, torch.Tensor):
        landmarks = torch.as_tensor(np.asarray(landmarks))
    if landmarks.dim() != 3 or landmarks.shape[1] not in (NUM_LANDMARKS, 478) or landmarks.shape[2] != 3:
        raise PortraitEdgeError(f"landmark_channels expects landmarks [N, 468, 3], got {tuple(landmarks.shape)}")
    size = int(size)
    if size < 1:
        raise PortraitEdgeError(f"landmark_channels: size must be positive, got {size}")
    landmarks = landmarks[:, :NUM_LANDMARKS].float()
    batch, device = landmarks.shape[0], landmarks.device
    triangles, codes = _topology_on(device)
    if batch == 0:
        return torch.zeros(0, 2, size, size, device=device)

    finite = torch.isfinite(landmarks).all(dim=2)  # [N, 468]
    depth = landmark_depth(torch.where(finite[..., None], landmarks, torch.zeros_like(landmarks)))
    corners = landmarks[:, triangles, :2]  # [N, T, 3, 2]
    corner_depth = depth[:, triangles]  # [N, T, 3]
    x, y = corners[..., 0], corners[..., 1]
    # Pixels whose centres (i + 0.5) can lie in the triangle: i in [ceil(min - 0.5), floor(max - 0.5)].
    x0 = (x.amin(dim=2) - 0.5).ceil().clamp(0, size - 1)
    x1 = (x.amax(dim=2) - 0.5).floor().clamp(-1, size - 1)
    y0 = (y.amin(dim=2) - 0.5).ceil().clamp(0, size - 1)
    y1 = (y.amax(dim=2) - 0.5).floor().clamp(-1, size - 1)
    area = (x[..., 1] - x[..., 0]) * (y[..., 2] - y[..., 0]) - (y[..., 1] - y[..., 0]) * (x[..., 2] - x[..., 0])
    valid = finite[:, triangles].all(dim=2) & (x1 >= x0) & (y1 >= y0) & (area.abs() > 1e-9)
    width = torch.where(valid, x1 - x0 + 1, torch.zeros_like(x0)).long()
    height = torch.where(valid, y1 - y0 + 1, torch.zeros_like(y0)).long()

    keys = torch.full((batch * size * size,), -1, dtype=torch.int64, device=device)
    for chunk, box_w, box_h in _chunks(width, height, batch):
        _rasterise_chunk(keys, chunk, box_w, box_h, size, x[:, chunk], y[:, chunk], area[:, chunk],
                         corner_depth[:, chunk], codes[chunk], x0[:, chunk].long(), y0[:, chunk].long(),
                         width[:, chunk], height[:, chunk])

    keys = keys.view(batch, size, size)
    covered = keys >= 0
    region = torch.where(covered, (keys & ((1 << _CODE_BITS) - 1)).float() / _MAX_CODE, 0.0)
    depth_map = torch.where(covered, (keys >> _CODE_BITS).float() / _DEPTH_STEPS, 0.0)
    return torch.stack([region, depth_map], dim=1)


def _chunks(width: torch.Tensor, height: torch.Tensor, batch: int):
    """Group triangles by bounding-box size so each chunk tests at most ~_CHUNK_ELEMENTS pixels."""
    box_w = width.amax(dim=0).tolist()
    box_h = height.amax(dim=0).tolist()
    order = sorted((w * h, w, h, t) for t, (w, h) in enumerate(zip(box_w, box_h)) if w > 0 and h > 0)
    device = width.device
    start = 0
    while start < len(order):
        end, chunk_w, chunk_h = start, 0, 0
        while end < len(order):
            new_w, new_h = max(chunk_w, order[end][1]), max(chunk_h, order[end][2])
            if end > start and (end - start + 1) * batch * new_w * new_h > _CHUNK_ELEMENTS:
                break
            chunk_w, chunk_h, end = new_w, new_h, end + 1
        chunk = torch.tensor([item[3] for item in order[start:end]], dtype=torch.long, device=device)
        yield chunk, chunk_w, chunk_h
        start = end


def _rasterise_chunk(keys, chunk, box_w, box_h, size, x, y, area, corner_depth, codes, x0, y0, width, height):
    """z-buffer one chunk of triangles into `keys` (flat [N * size * size] int64, amax-reduced)."""
    batch = x.shape[0]
    offset_x = torch.arange(box_w, device=x.device)
    offset_y = torch.arange(box_h, device=x.device)
    px = x0[..., None, None] + offset_x.view(1, 1, 1, -1)  # [N, t, 1, W]
    py = y0[..., None, None] + offset_y.view(1, 1, -1, 1)  # [N, t, H, 1]
    inside_box = (offset_x.view(1, 1, 1, -1) < width[..., None, None]) & (offset_y.view(1, 1, -1, 1) < height[..., None, None])
    cx, cy = px.float() + 0.5, py.float() + 0.5

    def corner(values, k):
        return values[..., k, None, None]

    # Barycentric coordinates from edge functions, normalised by the signed area (either winding).
    inv_area = 1.0 / torch.where(area.abs() > 1e-9, area, torch.ones_like(area))[..., None, None]
    ax, ay, bx, by, qx, qy = corner(x, 0), corner(y, 0), corner(x, 1), corner(y, 1), corner(x, 2), corner(y, 2)
    l0 = ((qx - bx) * (cy - by) - (qy - by) * (cx - bx)) * inv_area
    l1 = ((ax - qx) * (cy - qy) - (ay - qy) * (cx - qx)) * inv_area
    l2 = 1.0 - l0 - l1
    eps = 1e-5
    inside = inside_box & (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
    depth = (l0 * corner(corner_depth, 0) + l1 * corner(corner_depth, 1) + l2 * corner(corner_depth, 2))
    depth_key = (depth.clamp(0.0, 1.0) * _DEPTH_STEPS).round().long()
    key = (depth_key << _CODE_BITS) | codes.view(1, -1, 1, 1)
    flat = (torch.arange(batch, device=x.device).view(-1, 1, 1, 1) * (size * size)
            + py.clamp(0, size - 1) * size + px.clamp(0, size - 1))
    key = torch.where(inside, key, torch.full_like(key, -1))
    flat = torch.where(inside, flat, torch.zeros_like(flat))
    keys.scatter_reduce_(0, flat.reshape(-1), key.reshape(-1), reduce="amax", include_self=True)
