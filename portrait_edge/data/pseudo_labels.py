"""Parsing pseudo-labels for the real-portrait pool: three sources, each deciding what it knows best.

    portrait-edge pool label --pool POOL --teacher portrait_edge/weights/parsing_teacher.safetensors

Who decides which class (per pixel of the 256 px framed crop; IGNORE = 255 = no loss, no metric):
1. Padding: outside the crop's valid rectangle (the framing repeated the photo's edges) -> IGNORE.
2. Face Mesh (refined 478 landmarks, rasterised as the mesh's triangles, the same raster as the
   `normals` landmark channels) decides the INNER FACE: every pixel the mesh covers gets the mesh's
   region: skin, nose, brows, eyes, lips, mouth (the opening between the lips). Left/right eyes and
   brows: the nearer of the subject's two eye (brow) centres; upper/lower lip: above/below the line
   mouth corner -> centre of the inner lips -> other corner. A beard is skin (CelebAMask-HQ labels it
   so). The teacher overrides the mesh only for glasses (eye_g, probability > 0.5), which occlude.
3. MediaPipe selfie segmentation decides PERSON vs BACKGROUND off the mesh: probability < 0.3 ->
   background, > 0.7 -> person, in between -> IGNORE.
4. The teacher (trained on renders) decides the OUTER classes on person pixels off the mesh: hair,
   hat, ears, earrings, neck, necklace, cloth, glasses. Skin off the mesh is kept only above the
   eyes (the forehead the mesh stops short of); hat needs probability > 0.9 (the renders teacher
   calls the top of real hair "hat"). Where the teacher says background, an inner-face class,
   or is unsure (top probability < 0.5) on a person pixel -> IGNORE.
5. Class boundaries: pixels whose 3x3 neighbourhood holds two different decided labels -> IGNORE
   (every source is least sure at edges).

`--rules model` writes the checkpoint's own argmax instead (padding still IGNORE): complete masks, as
the parsing pipeline gives them at inference, for tasks that take a mask as INPUT (maskedit).

Written to POOL/labels/<name>/: labels-<nnnnn>.tar (<key>.png, 8-bit class ids with 255 = ignore),
index.json (key -> shard, offset, length) and labels.json (rules, the teacher's sha256, per-class
pixel shares, the ignored share). Photos from sources not allowed to train parsing are skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_edge.errors import NotAvailableError, PortraitEdgeError
from portrait_edge.staging import publish, staging_folder
from portrait_edge.labels import CLASS_ID, NUM_CLASSES

IGNORE = 255
MESH_REGION_CLASS = {1: "skin", 2: "nose", 3: "brow", 4: "eye", 5: "lip", 6: "mouth"}
OUTER_CLASSES = ("hair", "hat", "l_ear", "r_ear", "ear_r", "neck", "neck_l", "cloth", "eye_g")
PERSON_LOW, PERSON_HIGH, TEACHER_SURE = 0.3, 0.7, 0.5
HAT_SURE = 0.9  # the renders teacher calls the top of real hair "hat": hats need more confidence
LEFT_EYE_CENTRE = "left_eye"


def _selfie_segmenter():
    try:
        from mediapipe.python.solutions import selfie_segmentation
    except ImportError as error:
        raise NotAvailableError(f"pseudo-labels need MediaPipe 0.10.21 (import failed: {error})") from None
    return selfie_segmentation.SelfieSegmentation(model_selection=0)


def mesh_labels(landmarks: np.ndarray, size: int) -> np.ndarray:
    """[478|468, 3] crop-pixel landmarks -> HxW CelebAMask-HQ ids on the mesh, 0 off it."""
    from portrait_edge.data.landmarks import FACE_MESH_REGIONS, landmark_channels

    region = landmark_channels(torch.as_tensor(landmarks[None, :468]), size)[0, 0].numpy()
    codes = np.rint(region * 6).astype(np.int64)
    points = landmarks[:, :2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    labels = np.zeros((size, size), np.uint8)
    labels[codes == 1] = CLASS_ID["skin"]
    labels[codes == 2] = CLASS_ID["nose"]
    labels[codes == 6] = CLASS_ID["mouth"]
    for code, names, (left_region, right_region) in (
            (4, ("l_eye", "r_eye"), ("left_eye", "right_eye")),
            (3, ("l_brow", "r_brow"), ("left_eyebrow", "right_eyebrow"))):
        left_c = points[FACE_MESH_REGIONS[left_region]].mean(0)
        right_c = points[FACE_MESH_REGIONS[right_region]].mean(0)
        nearer_left = (xs - left_c[0]) ** 2 + (ys - left_c[1]) ** 2 < (xs - right_c[0]) ** 2 + (ys - right_c[1]) ** 2
        labels[(codes == code) & nearer_left] = CLASS_ID[names[0]]
        labels[(codes == code) & ~nearer_left] = CLASS_ID[names[1]]
    # Upper vs lower lip: the polyline corner 61 -> centre of the inner lips (13, 14) -> corner 291.
    corner_a, corner_b = points[61], points[291]
    centre = (points[13] + points[14]) / 2
    (xa, ya), (xb, yb) = sorted([tuple(corner_a), tuple(corner_b)])
    line_y = np.where(xs < centre[0],
                      ya + (centre[1] - ya) * np.clip((xs - xa) / max(centre[0] - xa, 1e-3), 0, 1),
                      centre[1] + (yb - centre[1]) * np.clip((xs - centre[0]) / max(xb - centre[0], 1e-3), 0, 1))
    lips = codes == 5
    labels[lips & (ys < line_y)] = CLASS_ID["u_lip"]
    labels[lips & (ys >= line_y)] = CLASS_ID["l_lip"]
    return labels


def combine(mesh: np.ndarray, person: np.ndarray, teacher_labels: np.ndarray, teacher_prob: np.ndarray,
            valid: np.ndarray, eye_line_y: float) -> np.ndarray:
    """The rules of the module docstring: mesh ids (0 off the mesh), selfie person probability, the
    teacher's argmax and its probability, the valid mask -> HxW uint8 ids with IGNORE."""
    size = mesh.shape[0]
    out = np.full(mesh.shape, IGNORE, np.uint8)
    on_mesh = mesh > 0
    out[on_mesh] = mesh[on_mesh]
    glasses = on_mesh & (teacher_labels == CLASS_ID["eye_g"]) & (teacher_prob > TEACHER_SURE)
    out[glasses] = CLASS_ID["eye_g"]
    off = ~on_mesh
    out[off & (person < PERSON_LOW)] = 0
    sure_person = off & (person > PERSON_HIGH) & (teacher_prob >= TEACHER_SURE)
    outer = np.isin(teacher_labels, [CLASS_ID[c] for c in OUTER_CLASSES])
    outer &= (teacher_labels != CLASS_ID["hat"]) | (teacher_prob > HAT_SURE)
    out[sure_person & outer] = teacher_labels[sure_person & outer]
    rows = np.arange(size)[:, None] < eye_line_y
    forehead = sure_person & (teacher_labels == CLASS_ID["skin"]) & rows
    out[forehead] = CLASS_ID["skin"]
    out[~valid] = IGNORE
    # Boundaries between two decided labels.
    padded = np.pad(out, 1, mode="edge")
    edge = np.zeros(out.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            neighbour = padded[dy: dy + size, dx: dx + size]
            edge |= (neighbour != out) & (neighbour != IGNORE) & (out != IGNORE)
    out[edge] = IGNORE
    return out


def _png(labels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(labels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _subset(pool, limit: int | None, val_limit: int | None) -> list[int]:
    """Train and val photos in a fixed hash order (so a subset is spread over the sources), the first
    `limit` train and `val_limit` val ones (None: all)."""
    def ordered(split: str) -> list[int]:
        return sorted((i for i, r in enumerate(pool.records) if r["split"] == split),
                      key=lambda i: hashlib.sha256(pool.records[i]["key"].encode()).hexdigest())
    return sorted(ordered("train")[:limit] + ordered("val")[:val_limit])


RULES = ("pseudo", "model")


def label_pool(pool_dir: str | Path, teacher: str | Path, name: str = "pseudo", limit: int | None = None,
               show_progress: bool = True, batch_size: int = 16, val_limit: int | None = None,
               rules: str = "pseudo") -> dict[str, Any]:
    from tqdm import tqdm

    from portrait_edge.data.pool import Pool
    from portrait_edge.edge.artifacts import sha256_of
    from portrait_edge.train.checkpoint import load_model, weights_path

    if rules not in RULES:
        raise PortraitEdgeError(f"label rules must be one of {', '.join(RULES)}, not {rules!r}")
    pool = Pool(pool_dir, task="parsing")
    if len(pool) == 0:
        raise PortraitEdgeError(f"pool {pool_dir} has no photos that may train parsing")
    model, card = load_model(teacher)
    if card.get("task") != "parsing":
        raise PortraitEdgeError(f"{teacher} is a {card.get('task')!r} checkpoint, not a parsing model")
    target = Path(pool_dir) / "labels" / name
    if target.exists():
        raise PortraitEdgeError(f"label set {target} already exists; choose another --name")
    def refuse(existing: Path) -> None:
        raise PortraitEdgeError(f"label set {existing} already exists; choose another --name")

    with staging_folder(target, "labelling") as staging:
        summary = _label_into(staging, pool, model, _subset(pool, limit, val_limit), show_progress, batch_size, tqdm,
                              rules)
        summary.update({"teacher": str(teacher), "teacher_sha256": sha256_of(weights_path(teacher)),
                        "teacher_card": {k: card.get(k) for k in ("task", "role", "arch", "name")}})
        (staging / "labels.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        publish(staging, target, refuse)
    return summary


def pseudo_label_one(image: np.ndarray, landmarks: np.ndarray, valid: np.ndarray, person: np.ndarray,
                     probabilities: np.ndarray) -> np.ndarray:
    """One crop's pseudo-label from its landmarks, selfie mask and teacher softmax [19, H, W]."""
    from portrait_edge.data.landmarks import FACE_MESH_REGIONS

    size = image.shape[0]
    mesh = mesh_labels(landmarks, size)
    eyes = np.concatenate([FACE_MESH_REGIONS["left_eye"], FACE_MESH_REGIONS["right_eye"]])
    eye_line_y = float(landmarks[eyes, 1].mean())
    return combine(mesh, person, probabilities.argmax(0), probabilities.max(0), valid, eye_line_y)


def _label_into(folder: Path, pool, model, indices: list[int], show_progress: bool, batch_size: int, tqdm,
                rules: str = "pseudo") -> dict:
    from portrait_edge.data.pool import ShardWriter

    segmenter = _selfie_segmenter() if rules == "pseudo" else None
    counts = np.zeros(NUM_CLASSES + 1, np.int64)  # last = ignored
    index: dict[str, dict[str, Any]] = {}
    shards = ShardWriter(folder, "labels-")
    progress = tqdm(total=len(indices), desc="pseudo-labels", unit="photo", disable=not show_progress)
    try:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start: start + batch_size]
            images = [pool.image(i) for i in chunk]
            with torch.no_grad():
                x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
                probabilities = model(x).float().softmax(1).numpy()
            for i, image, probs in zip(chunk, images, probabilities):
                if segmenter is None:  # rules "model": the checkpoint's argmax, padding ignored
                    labels = np.where(pool.valid_mask(i), probs.argmax(0), IGNORE).astype(np.uint8)
                else:
                    person = segmenter.process(image).segmentation_mask
                    labels = pseudo_label_one(image, pool.landmarks(i), pool.valid_mask(i), person, probs)
                counts += np.bincount(np.where(labels == IGNORE, NUM_CLASSES, labels).ravel(),
                                      minlength=NUM_CLASSES + 1)
                key = pool.records[i]["key"]
                index[key] = shards.add(f"{key}.png", _png(labels))
            progress.update(len(chunk))
    finally:
        progress.close()
        shards.close()
        if segmenter is not None:
            segmenter.close()
    (folder / "index.json").write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
    from portrait_edge.labels import CELEBAMASK_HQ_CLASSES

    total = int(counts.sum())
    return {"format": "portrait-edge pseudo-labels 1", "photos": len(index),
            "val_photos": sum(1 for i in indices if pool.records[i]["split"] == "val"),
            "ignored_share": round(float(counts[-1]) / max(total, 1), 4),
            "class_share": {n: round(float(c) / max(total, 1), 4) for n, c in zip(CELEBAMASK_HQ_CLASSES, counts[:-1])},
            "rules": rules, "rules_doc": "portrait_edge/data/pseudo_labels.py module docstring",
            "thresholds": {"person_low": PERSON_LOW, "person_high": PERSON_HIGH, "teacher_sure": TEACHER_SURE}}


class LabelSet:
    """Reads one label set of a pool: key -> HxW uint8 ids (IGNORE = 255)."""

    def __init__(self, pool_dir: str | Path, name: str = "pseudo") -> None:
        self.root = Path(pool_dir) / "labels" / name
        if not (self.root / "index.json").is_file():
            raise PortraitEdgeError(f"pool {pool_dir} has no label set {name!r}; make it with `portrait-edge pool label`")
        self.index = json.loads((self.root / "index.json").read_text(encoding="utf-8"))
        self.summary = json.loads((self.root / "labels.json").read_text(encoding="utf-8"))

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def labels(self, key: str) -> np.ndarray:
        from PIL import Image

        entry = self.index[key]
        with open(self.root / entry["shard"], "rb") as shard:
            shard.seek(entry["offset"])
            data = shard.read(entry["length"])
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image)
