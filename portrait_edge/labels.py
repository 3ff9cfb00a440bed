"""The 19 CelebAMask-HQ face-parsing classes, in the standard order (class id = index), their colours,
and pictures of label maps (colour overlay, legend)."""

import numpy as np

CELEBAMASK_HQ_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)
NUM_CLASSES = len(CELEBAMASK_HQ_CLASSES)
CLASS_ID = {name: i for i, name in enumerate(CELEBAMASK_HQ_CLASSES)}

# One colour per class (the order above).
PALETTE = np.array([
    [0, 0, 0], [204, 153, 102], [255, 128, 0], [120, 120, 255], [0, 200, 255], [0, 90, 255],
    [153, 51, 0], [102, 0, 51], [255, 204, 204], [255, 153, 204], [255, 255, 0], [255, 0, 0],
    [180, 0, 60], [80, 40, 10], [0, 160, 80], [255, 0, 255], [0, 255, 200], [200, 200, 120], [0, 100, 160],
], dtype=np.uint8)


def colourise(labels: np.ndarray) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 colours."""
    return PALETTE[np.clip(labels, 0, len(PALETTE) - 1)]


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """The label colours blended over an HxWx3 uint8 image (background left as is)."""
    colours = colourise(labels).astype(np.float32)
    blend = image.astype(np.float32) * (1 - alpha) + colours * alpha
    out = np.where((labels > 0)[..., None], blend, image.astype(np.float32))
    return out.round().clip(0, 255).astype(np.uint8)


def legend(row_height: int = 22, width: int = 180) -> np.ndarray:
    """An image listing every class: its colour swatch, id and name (HxWx3 uint8)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (width, row_height * NUM_CLASSES + 8), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, name in enumerate(CELEBAMASK_HQ_CLASSES):
        top = 4 + i * row_height
        draw.rectangle([6, top + 3, 6 + row_height - 6, top + row_height - 3], fill=tuple(int(v) for v in PALETTE[i]),
                       outline=(90, 90, 90))
        draw.text((row_height + 8, top + 4), f"{i:2d} {name}", fill=(0, 0, 0))
    return np.asarray(canvas)
