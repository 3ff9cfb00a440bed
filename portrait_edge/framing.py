"""The ONE face framing: Face Mesh landmarks -> the square crop every network sees.

Training (the real-portrait pool), inference (portrait_edge.pipelines) and the phone bundles all crop
faces with this module, so a model always sees a face at the size and place it was trained on.

Definition (all in pixels of the full photo; the same numbers are written into bundle metadata):
1. box = the axis-aligned bounding box of the 468 Face Mesh landmarks (x, y), the MediaPipe topology.
2. side = EXPANSION * max(box width, box height)   (EXPANSION = 2.25)
3. the square's centre is the box centre horizontally, and box centre y - (CENTER_Y - 0.5) * side
   vertically (CENTER_Y = 0.52: the face's box centre sits at 52% of the crop's height, 50% of its width).
4. the square may extend past the photo: pixels outside it are filled by repeating the edge pixels
   (`valid` says which part of the crop is real photo), then the square is resized to the model size.

The constants match the synthetic engine's framing: over 64 renders at 256 px the landmark box's
longer side is 0.44 +- 0.06 of the image (2.25 = 1 / 0.44) and its centre at x 0.51, y 0.53.
No rotation: the crop is axis-aligned, as in the renders (roll within +-15 deg is in the training data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPANSION = 2.25
CENTER_Y = 0.52
FEATHER = 0.08  # paste-back of images: share of the square's side over which the result fades out


@dataclass(frozen=True)
class Square:
    """A square window of a photo: top-left corner and side, in pixels (may reach outside the photo)."""

    top: float
    left: float
    side: float

    def as_dict(self) -> dict[str, float]:
        return {"top": round(self.top, 2), "left": round(self.left, 2), "side": round(self.side, 2)}


def face_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) bounding box of the first 468 landmarks ([>=468, 2+] in pixels)."""
    points = np.asarray(landmarks, dtype=np.float64)[:468, :2]
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def square_from_box(box: tuple[float, float, float, float]) -> Square:
    x0, y0, x1, y1 = box
    side = EXPANSION * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Square(top=cy - CENTER_Y * side, left=cx - side / 2, side=side)


def face_square(landmarks: np.ndarray) -> Square:
    """The framing square of a face from its Face Mesh landmarks."""
    return square_from_box(face_box(landmarks))


def crop(image: np.ndarray, square: Square, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The square resized to size x size (HxWx3 uint8), and the valid rectangle (top, left, bottom,
    right) of real-photo pixels in the crop's coordinates (the rest repeats the photo's edges)."""
    from PIL import Image

    height, width = image.shape[:2]
    top, left = int(np.floor(square.top)), int(np.floor(square.left))
    side = max(1, int(round(square.side)))
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom, pad_right = max(0, top + side - height), max(0, left + side - width)
    window = image[max(0, top): min(height, top + side), max(0, left): min(width, left + side)]
    if pad_top or pad_left or pad_bottom or pad_right:
        window = np.pad(window, ((pad_top, pad_bottom), (pad_left, pad_right), (0, 0)), mode="edge")
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(window)).resize((size, size), Image.Resampling.LANCZOS
                                                                              if side > size else Image.Resampling.BICUBIC))
    scale = size / side
    valid = (int(np.ceil(pad_top * scale)), int(np.ceil(pad_left * scale)),
             size - int(np.ceil(pad_bottom * scale)), size - int(np.ceil(pad_right * scale)))
    return resized, valid


def to_crop(points: np.ndarray, square: Square, size: int) -> np.ndarray:
    """Points [K, 2+] in photo pixels -> the crop's pixels (z, when present, scales like x)."""
    scale = size / max(1, int(round(square.side)))
    out = np.array(points, dtype=np.float32, copy=True)
    out[:, 0] = (out[:, 0] - np.floor(square.left)) * scale
    out[:, 1] = (out[:, 1] - np.floor(square.top)) * scale
    if out.shape[1] > 2:
        out[:, 2:] *= scale
    return out


def from_crop(points: np.ndarray, square: Square, size: int) -> np.ndarray:
    """The inverse of to_crop: crop pixels -> photo pixels."""
    scale = max(1, int(round(square.side))) / size
    out = np.array(points, dtype=np.float32, copy=True)
    out[:, 0] = out[:, 0] * scale + np.floor(square.left)
    out[:, 1] = out[:, 1] * scale + np.floor(square.top)
    if out.shape[1] > 2:
        out[:, 2:] *= scale
    return out


def describe(size: int) -> dict[str, object]:
    """The framing as data, for bundle metadata: what an app must do before and after the model."""
    return {
        "module": "portrait_edge.framing",
        "detector": "MediaPipe Face Mesh (face landmarker), static image mode, the largest face; its first 468 "
                    "landmarks in image pixels",
        "box": "axis-aligned bounding box (x0, y0, x1, y1) of the 468 landmarks",
        "side": f"{EXPANSION} * max(x1 - x0, y1 - y0)",
        "expansion": EXPANSION,
        "center": {"x": "(x0 + x1) / 2", "y": f"(y0 + y1) / 2 - ({CENTER_Y} - 0.5) * side",
                   "face_box_center_in_crop": [0.5, CENTER_Y]},
        "square": "left = center.x - side / 2, top = center.y - side / 2 (no rotation); floor(left), floor(top), "
                  "round(side) in whole pixels",
        "padding": "pixels of the square outside the photo repeat the nearest edge pixel (clamp-to-edge)",
        "resize": f"the square resized to {size}x{size} (area/Lanczos when shrinking, bicubic when enlarging)",
        "paste_back": {
            "label_map": "argmax over the channels, resize the label map to the square's side (nearest; faces "
                         "smaller than the model input: resize the logits, bilinear, then argmax), write the part "
                         "inside the photo; pixels outside the square are background",
            "image": f"resize the output to the square's side and blend it over the photo with weights falling "
                     f"smoothly (smoothstep) from 1 to 0 over the outer {FEATHER:.0%} of the square",
            "normals": "resize to the square's side, renormalise to unit length; |n| < 0.5 = no surface",
        },
        "reference": "portrait_edge.pipelines (load_pipeline(task)(image)) does exactly this in Python",
    }
