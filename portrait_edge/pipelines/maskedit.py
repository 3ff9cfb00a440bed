"""Mask-guided editing of a photo: the parsing network gives the masks, the maskedit network renders the edit.

    edit = load_pipeline("maskedit")                          # the student; backend / precision as for every task
    edit(photo, reference=other, change=["mouth"]).image      # the mouth's shape from another face's mask
    edit(photo, reference=other, change=["hair"])             # hair (its outline) from another face
    edit(photo, glasses="off")  /  edit(photo, glasses="on")  # glasses removed / drawn from the eye landmarks
    edit(photo, reference=other, style=["hair"])              # the other face's hair colour and texture
    edit(photo, target_mask=labels)                           # synthesise from an edited mask: S x S class ids,
                                                              # e.g. result.extra["source_mask"] painted on

Steps: the largest face of each photo is framed (portrait_edge.framing), parsed at the parsing model's
size (the same role, backend and precision as this pipeline's model), the target mask is built from
the source mask by the edits asked for, the network renders the source's appearance in the target
layout, and only what the edit changed (pixels whose class changed or whose style was copied, grown
and feathered) is pasted back: the network works at 128 px, the rest of the photo keeps its detail.
Style copy runs the network on the REFERENCE (its appearance) with the source's layout as the target,
then keeps only the chosen parts. result.extra: source_mask, target_mask (and reference_mask), the
edited crop.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from portrait_edge import framing
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import from_tensor, to_tensor
from portrait_edge.labels import CLASS_ID, NUM_CLASSES
from portrait_edge.pipelines.paste import grown_feathered, paste_image
from portrait_edge.pipelines.pipeline import FaceResult, NoFaceInPhotoError, Pipeline, PipelineResult, _as_rgb, _ms

# What a user can change or restyle -> the parsing classes it is made of.
PARTS: dict[str, tuple[str, ...]] = {
    "mouth": ("mouth", "u_lip", "l_lip"),
    "eyes": ("l_eye", "r_eye"),
    "brows": ("l_brow", "r_brow"),
    "nose": ("nose",),
    "hair": ("hair",),
    "skin": ("skin",),
}
# Classes a pixel left by a removed part may become (the reference's class there), else skin.
FILL_CLASSES = ("background", "skin", "neck", "cloth", "hair")
GLASSES = ("on", "off")
CHANGE_GROW = 0.03  # the pasted region: changed pixels grown by this share of the crop, then feathered as much


def _ids(names: Sequence[str]) -> list[int]:
    return [CLASS_ID[n] for n in names]


def check_parts(parts: Sequence[str] | None, what: str, allowed: Sequence[str]) -> list[str]:
    parts = [parts] if isinstance(parts, str) else list(parts or [])
    unknown = [p for p in parts if p not in allowed]
    if unknown:
        raise PortraitEdgeError(f"{what}: unknown part {', '.join(map(str, unknown))} (parts: {', '.join(allowed)})")
    return parts


def change_parts(source: np.ndarray, reference: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """The source mask with `parts` taken from the reference mask: the source's part becomes what the
    reference has there (background, skin, neck, cloth or hair; anything else becomes skin), then the
    reference's part is drawn in."""
    out = source.copy()
    for part in parts:
        classes = _ids(PARTS[part])
        removed = np.isin(source, classes)
        fill = np.where(np.isin(reference, _ids(FILL_CLASSES)) & ~np.isin(reference, classes), reference, CLASS_ID["skin"])
        out[removed] = fill[removed]
        drawn = np.isin(reference, classes)
        out[drawn] = reference[drawn]
    return out


def glasses_off(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[out == CLASS_ID["eye_g"]] = CLASS_ID["skin"]
    return out


def glasses_on(labels: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A glasses frame (two rims around the eyes and a bridge) drawn from the crop's Face Mesh landmarks
    over the face (skin, brows, nose and hair pixels; the eyes stay visible through the lenses)."""
    from PIL import Image, ImageDraw

    from portrait_edge.data.landmarks import FACE_MESH_REGIONS

    size = labels.shape[0]
    frame = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(frame)
    centres, half_widths = [], []
    for region in ("left_eye", "right_eye"):
        points = np.asarray(landmarks)[FACE_MESH_REGIONS[region], :2]
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.95
        centres.append((cx, cy))
        half_widths.append(half)
        draw.ellipse([cx - half, cy - half * 0.75, cx + half, cy + half * 0.75], outline=255,
                     width=max(1, round(size / 64)))
    (lx, ly), (rx, ry) = sorted(centres)
    inner = sorted(half_widths)[0]
    draw.line([lx + inner, ly, rx - inner, ry], fill=255, width=max(1, round(size / 64)))
    drawn = np.asarray(frame) > 127
    out = labels.copy()
    out[drawn & np.isin(labels, _ids(("skin", "l_brow", "r_brow", "nose", "hair", "eye_g")))] = CLASS_ID["eye_g"]
    return out


class MaskEditPipeline(Pipeline):
    """load_pipeline("maskedit", ...): see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from portrait_edge.pipelines.pipeline import load_pipeline

        precision = self.precision if self.role == "student" else "fp32"
        self.parser = load_pipeline("parsing", role=self.role, backend=self.backend, precision=precision)

    def _face(self, photo: np.ndarray, what: str, timings: dict[str, float]):
        from portrait_edge.data.landmarks import find_faces

        started = time.perf_counter()
        found = find_faces(photo, max_faces=1)
        timings["detect"] += _ms(started)
        if not found:
            raise NoFaceInPhotoError(f"no face found in the {what} ({photo.shape[1]}x{photo.shape[0]})")
        landmarks = found[0]
        square = framing.face_square(landmarks)
        started = time.perf_counter()
        crop = to_tensor(framing.crop(photo, square, self.size)[0])
        parser_crop = to_tensor(framing.crop(photo, square, self.parser.size)[0])
        timings["crop"] += _ms(started)
        started = time.perf_counter()
        logits = self.parser.loaded.runner(parser_crop.contiguous())
        labels = torch.nn.functional.interpolate(logits.float(), size=(self.size, self.size), mode="bilinear",
                                                 align_corners=False).argmax(1)[0].numpy().astype(np.int64)
        timings["parse"] += _ms(started)
        return landmarks, square, crop, labels

    def source_mask(self, image: np.ndarray) -> np.ndarray:
        """The S x S class ids of the photo's largest face, as edits start from (paint on it, pass it back
        as target_mask)."""
        timings = {"detect": 0.0, "crop": 0.0, "parse": 0.0}
        return self._face(_as_rgb(image), "photo", timings)[3]

    def _render(self, image: torch.Tensor, source: np.ndarray, target: np.ndarray, timings: dict[str, float]) -> torch.Tensor:
        from portrait_edge.data.pairs import one_hot

        masks = [one_hot(torch.from_numpy(m)[None]) for m in (source, target)]
        started = time.perf_counter()
        out = self.task.postprocess(self.loaded.runner(torch.cat([image, *masks], 1).contiguous()))
        timings["model"] += _ms(started)
        return out

    def _target_mask(self, target_mask: Any) -> np.ndarray:
        from portrait_edge.data.readers.base import resize_nearest

        labels = np.asarray(target_mask)
        if labels.ndim != 2 or labels.shape[0] != labels.shape[1] or not np.issubdtype(labels.dtype, np.integer):
            raise PortraitEdgeError(f"target_mask must be a square 2-D array of class ids (the face crop's mask, "
                                    f"e.g. result.extra['source_mask']), got {labels.dtype} {tuple(labels.shape)}")
        if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
            raise PortraitEdgeError(f"target_mask holds class ids outside 0..{NUM_CLASSES - 1}")
        return resize_nearest(labels.astype(np.int64), self.size).astype(np.int64)

    def __call__(self, image: np.ndarray, reference: np.ndarray | None = None, change: Sequence[str] = (),
                 style: Sequence[str] = (), glasses: str | None = None, target_mask: Any = None,
                 faces: str = "largest") -> PipelineResult:
        change = check_parts(change, "change", tuple(p for p in PARTS if p != "skin"))
        style = check_parts(style, "style", tuple(PARTS))
        if glasses not in (None, *GLASSES):
            raise PortraitEdgeError(f"glasses must be 'on' or 'off', not {glasses!r}")
        if faces != "largest":
            raise PortraitEdgeError("maskedit edits the largest face of a photo (faces='largest')")
        if (change or style) and reference is None:
            raise PortraitEdgeError("change and style take their parts from another face: give a reference photo")
        if not (change or style or glasses or target_mask is not None):
            raise PortraitEdgeError("nothing to edit: give change=[parts] or style=[parts] with a reference photo, "
                                    "glasses='on'/'off', or a target_mask")
        photo = _as_rgb(image)
        timings = {"detect": 0.0, "crop": 0.0, "parse": 0.0, "model": 0.0, "paste": 0.0}
        landmarks, square, crop, source = self._face(photo, "photo", timings)
        extra: dict[str, Any] = {"source_mask": source.astype(np.uint8)}
        reference_crop = reference_labels = None
        if reference is not None:
            _, _, reference_crop, reference_labels = self._face(_as_rgb(reference), "reference photo", timings)
            extra["reference_mask"] = reference_labels.astype(np.uint8)
        target = self._target_mask(target_mask) if target_mask is not None else source.copy()
        if change:
            target = change_parts(target, reference_labels, change)
        if glasses == "off":
            target = glasses_off(target)
        elif glasses == "on":
            target = glasses_on(target, framing.to_crop(landmarks, square, self.size))
        output = self._render(crop, source, target, timings)
        changed = target != source
        if style:
            restyled = self._render(reference_crop, reference_labels, target, timings)
            parts = np.isin(target, _ids([c for p in style for c in PARTS[p]]))
            weight = torch.from_numpy(grown_feathered(parts, CHANGE_GROW) * parts.any())[None, None]
            output = output * (1 - weight) + restyled * weight
            changed |= parts
        started = time.perf_counter()
        edited = paste_image(output, square, photo, region=grown_feathered(changed, CHANGE_GROW), reference=crop)
        timings["paste"] += _ms(started)
        timings["total"] = sum(timings.values())
        extra.update(target_mask=target.astype(np.uint8),
                     edited_crop=from_tensor(output))
        face = FaceResult(framing.face_box(landmarks), square, landmarks, output, crop)
        return PipelineResult(self.task.id, face.face_box, [face], {k: round(v, 2) for k, v in timings.items()},
                              image=edited, extra=extra)
