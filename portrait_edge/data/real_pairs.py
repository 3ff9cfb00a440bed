"""Training pairs made from real photos of the pool, and `portrait-edge pool preview` sheets.

    inputs, shadow_mask = shadow_composites(images, seeds)               # images [N, 3, H, W] in [0, 1]
    inputs, blemish_mask = blemish_composites(images, landmarks, seeds)  # landmarks [N, 478, 3] crop px

Each sample's composite depends only on its seed. Both work in linear light (sRGB ~ gamma 2.2) and keep
the photo's exact pixels wherever the mask is 0, so input == target there, as in the engine's pairs
(portrait_edge.data.pairs).

- shadow (seed 000): I = I_l (1 - M) + I_s M on the real photo I_l, with M the engine's foreign-shadow
  masks (hands, leaves, branches, hat brims, blobs; soft, varied penumbra; mostly over the face, which
  the shared framing puts where the engine's faces are). I_s is what the blocked key light leaves: the
  photo scaled to 12-50% of its luminance, colour-cast towards the blue of sky light (plus a random
  tint), with lower local contrast (a blend towards a 1-3 px blur: fine texture and speculars come
  mostly from the direct light). Skin scatters red light under its surface, so the red channel's mask
  is o (M / o)^(1 + k), o the shadow's opacity: the same umbra and footprint, a warmer penumbra.
- retouch (seed 003): the engine's blemishes (acne, pimples, dark spots, redness, scars;
  portrait_edge.data.synth.blemishes) multiply the photo's linear colour (albedo x shading, so they
  take the photo's own lighting) on the skin and nose of the Face Mesh raster
  (portrait_edge.data.pseudo_labels.mesh_labels); the clean photo is the target.
- parsing: the framed crop and its pseudo-label (portrait_edge.data.pseudo_labels).
The face mask of a real photo (for face-region metrics) is the Face Mesh raster.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from portrait_edge.errors import PortraitEdgeError

IGNORE_COLOUR = np.array([40, 40, 160], np.uint8)
MASK_NAMES = {"shadow": "shadow_mask", "retouch": "blemish_mask"}  # the extras key of each pair's mask
PAIR_TASKS = tuple(MASK_NAMES)
PREVIEW_TASKS = ("parsing", *PAIR_TASKS)
GAMMA = 2.2
LUMA = torch.tensor([0.2126, 0.7152, 0.0722])


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 23])  # a stream of its own (the masks use [seed, 7])


def _shadow_look(seed: int, size: int) -> dict[str, float | np.ndarray]:
    rng = _rng(seed)
    blue = rng.uniform(0.0, 0.3)
    cast = np.array([1.0 - 0.6 * blue, 1.0, 1.0 + blue]) * (1.0 + rng.normal(0.0, 0.04, 3))
    return {"gain": rng.uniform(0.12, 0.5), "cast": cast / float(cast @ LUMA.numpy()),
            "contrast": rng.uniform(0.55, 0.9), "blur": rng.uniform(1.0, 3.0) * size / 256,
            "red_scatter": rng.uniform(0.2, 1.0)}


def shadow_composites(images: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Real photos [N, 3, H, W] in [0, 1] -> (photos with a foreign shadow, shadow masks [N, 1, H, W])."""
    from portrait_edge.data.synth.occluders import shadow_masks

    n, _, size, width = images.shape
    if size != width or len(seeds) != n:
        raise PortraitEdgeError(f"shadow_composites needs square images and one seed each, got {tuple(images.shape)}"
                                f" and {len(seeds)} seeds")
    mask = shadow_masks(seeds, size, images.device)
    return composite_shadow(images, mask, seeds, size), mask


def composite_shadow(images: torch.Tensor, mask: torch.Tensor, seeds: list[int], face_size: float) -> torch.Tensor:
    """I_l (1 - M) + I_s M for photos [N, 3, H, W] and masks [N, 1, H, W], the shadow's look drawn from each
    seed (its blur scaled to a framed face of `face_size` pixels)."""
    from portrait_edge.data.synth.textures import blur

    looks = [_shadow_look(s, face_size) for s in seeds]

    def per_sample(name: str) -> torch.Tensor:
        return torch.tensor(np.array([look[name] for look in looks]), dtype=torch.float32, device=images.device)

    lit = images.clamp(0, 1) ** GAMMA
    contrast = per_sample("contrast")[:, None, None, None]
    flattened = contrast * lit + (1 - contrast) * blur(lit, per_sample("blur"))
    shadowed = per_sample("gain")[:, None, None, None] * per_sample("cast")[:, :, None, None] * flattened
    peak = mask.flatten(1).amax(1).clamp(min=1e-6)[:, None, None, None]  # the shadow's opacity
    red = peak * (mask / peak) ** (1 + per_sample("red_scatter")[:, None, None, None])
    channel_mask = torch.cat([red, mask, mask], 1)
    out = (lit * (1 - channel_mask) + shadowed * channel_mask).clamp(0, 1) ** (1 / GAMMA)
    return torch.where(mask > 0, out, images)


def draw_shadow(image: np.ndarray, landmarks: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A foreign shadow over the face of a whole photo (HxWx3 uint8, its Face Mesh landmarks in photo
    pixels): the mask is made for the face's framing square (as in training) and placed there.
    -> (the photo with the shadow, the mask HxW float32)."""
    import torch.nn.functional as F

    from portrait_edge import framing
    from portrait_edge.data.synth.occluders import shadow_masks

    height, width = image.shape[:2]
    square = framing.square_from_box(framing.face_box(landmarks))
    side = max(1, int(round(square.side)))
    square_mask = shadow_masks([seed], min(side, 512), "cpu")
    square_mask = F.interpolate(square_mask, size=(side, side), mode="bilinear", align_corners=False)
    top, left = int(round(square.top)), int(round(square.left))
    mask = torch.zeros(1, 1, height, width)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + side, height), min(left + side, width)
    if y1 > y0 and x1 > x0:
        mask[..., y0:y1, x0:x1] = square_mask[..., y0 - top:y1 - top, x0 - left:x1 - left]
    photo = torch.from_numpy(np.array(image, np.float32)).permute(2, 0, 1)[None] / 255
    out = composite_shadow(photo, mask, [seed], square.side)
    return (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), mask[0, 0].numpy()


def blemish_composites(images: torch.Tensor, landmarks: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Real photos [N, 3, H, W] in [0, 1] and their landmarks -> (photos with blemishes, masks [N, 1, H, W])."""
    from portrait_edge.data.synth.blemishes import blemish_albedo

    height, width = images.shape[-2:]  # framed crops are square; whole photos (TaskSpec.synthesize) need not be
    labels = face_labels(landmarks, max(height, width))[:, :height, :width]  # the raster is in pixels from (0, 0)
    blemished, mask = blemish_albedo(images.clamp(0, 1) ** GAMMA, labels, landmarks.float(), seeds)
    out = blemished.clamp(0, 1) ** (1 / GAMMA)
    return torch.where(mask > 0, out, images), mask


def face_labels(landmarks: torch.Tensor, size: int) -> torch.Tensor:
    """[N, 478, 3] crop-pixel landmarks -> [N, size, size] int64 inner-face ids of the Face Mesh raster."""
    from portrait_edge.data.pseudo_labels import mesh_labels

    return torch.from_numpy(np.stack([mesh_labels(np.asarray(p, np.float32), size) for p in landmarks])).long()


def make_pair(task: str, image: np.ndarray, landmarks: np.ndarray, seed: int, clean: bool = False) -> dict[str, np.ndarray]:
    """One framed real photo (HxWx3 uint8, its crop-pixel landmarks) -> a sample of `task`: "image" (the
    input), "target" (the photo), "<shadow|blemish>_mask" and "face_mask" (HxW float32 in [0, 1]).
    `clean`: the photo is its own input (an empty mask): such pairs teach a network to leave photos
    without a shadow or blemish alone, instead of brightening or smoothing every face it sees."""
    if task not in PAIR_TASKS:
        raise PortraitEdgeError(f"real-photo pairs exist for {', '.join(PAIR_TASKS)}, not {task!r}")
    photo = torch.from_numpy(np.array(image, np.float32)).permute(2, 0, 1)[None] / 255
    points = torch.as_tensor(np.asarray(landmarks, np.float32))[None]
    if clean:
        composite, mask = photo, torch.zeros_like(photo[:, :1])
    elif task == "shadow":
        composite, mask = shadow_composites(photo, [seed])
    else:
        composite, mask = blemish_composites(photo, points, [seed])
    face = face_labels(points, image.shape[0])[0] > 0
    out = (composite[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return {"image": out, "target": image, MASK_NAMES[task]: mask[0, 0].numpy(),
            "face_mask": face.numpy().astype(np.float32)}


# ---------------------------------------------------------------- preview sheets


def label_overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class colours over the photo; IGNORE pixels dark blue."""
    from portrait_edge.data.pseudo_labels import IGNORE
    from portrait_edge.labels import overlay

    out = overlay(image, np.where(labels == IGNORE, 0, labels))
    ignored = labels == IGNORE
    out[ignored] = (out[ignored] * 0.35 + IGNORE_COLOUR * 0.65).astype(np.uint8)
    return out


def _gray(mask: np.ndarray) -> np.ndarray:
    return np.repeat((np.clip(mask, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def preview_row(task: str, sample: dict[str, np.ndarray]) -> np.ndarray:
    """parsing: photo | pseudo-label overlay; shadow, retouch: input | target | mask."""
    if task == "parsing":
        return np.concatenate([sample["image"], label_overlay(sample["image"], sample["labels"])], axis=1)
    return np.concatenate([sample["image"], sample["target"], _gray(sample[MASK_NAMES[task]])], axis=1)


def preview_sheet(pool_dir: str | Path, task: str, out: str | Path, n: int = 8, split: str = "val",
                  labels: str = "pseudo") -> Path:
    from PIL import Image

    from portrait_edge.atomic import atomic_path
    from portrait_edge.data.readers.pool import PoolReader

    if task not in PREVIEW_TASKS:
        raise PortraitEdgeError(f"pool preview: --task must be one of {', '.join(PREVIEW_TASKS)}, not {task!r}")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise PortraitEdgeError(f"--out must be a .png file, not {out}")
    if task == "parsing":
        reader = PoolReader(pool_dir, split=split, labels=labels, task=task)
    else:
        reader = PoolReader(pool_dir, split=split, task=task, pairs=task)
    rows = [preview_row(task, reader[i]) for i in range(min(n, len(reader)))]
    sheet = np.concatenate(rows, axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        Image.fromarray(sheet).save(temp, format="PNG")
    return out
