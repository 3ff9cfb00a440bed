"""Crop-space results back onto the full photo (the inverse of portrait_edge.framing.crop).

The crop is the framing square resized to S x S. A result at crop resolution is resized to the
square's side in photo pixels and the part of the square inside the photo is written back:
- label maps: argmax at the crop's resolution (faces larger than the crop: the label map is upsampled,
  nearest; smaller: the logits are resized, bilinear, then argmaxed); pixels outside the square keep
  `fill` (background). Upsampling the 19 logit planes instead costs ~50 ms on a 1 MP photo;
- images: a feathered paste, the result's weight falling from 1 to 0 over the outer FEATHER of the
  square, so the edit blends into the untouched photo. With the crop the model saw (`reference`), only
  the change (result - crop) is upsampled and added, so the photo keeps its own detail wherever the
  network changed nothing (a face larger than the crop is not blurred to the crop's resolution);
- normals: resized, renormalised to unit length, with a mask of where the network predicts a surface.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from portrait_edge import framing
from portrait_edge.framing import Square

FEATHER = framing.FEATHER


MAX_LOGIT_SCALE = 1  # logits are resized to at most the crop's size, labels upsampled (nearest) beyond


def _placement(square: Square, height: int, width: int) -> tuple[int, slice, slice, slice, slice]:
    """The square's side in whole pixels and the slices that cut its in-photo part out of a side x side
    array (rows, cols) and out of the photo (rows, cols)."""
    top, left = int(np.floor(square.top)), int(np.floor(square.left))
    side = max(1, int(round(square.side)))
    y0, x0, y1, x1 = max(0, top), max(0, left), min(height, top + side), min(width, left + side)
    return (side, slice(y0 - top, max(y0, y1) - top), slice(x0 - left, max(x0, x1) - left),
            slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))


def _resize(values: torch.Tensor, side: int) -> torch.Tensor:
    if values.shape[-1] == side and values.shape[-2] == side:
        return values.float()
    return F.interpolate(values.float(), size=(side, side), mode="bilinear", align_corners=False)


def paste_labels(logits: torch.Tensor, square: Square, height: int, width: int, fill: int = 0) -> np.ndarray:
    """Logits [1, K, S, S] of the crop -> HxW uint8 class ids of the photo."""
    labels = np.full((height, width), fill, np.uint8)
    side, rows, cols, photo_rows, photo_cols = _placement(square, height, width)
    work = min(side, MAX_LOGIT_SCALE * logits.shape[-1])
    # argmax over the last axis of a contiguous HxWxK copy: 4x faster than over K of a K x H x W tensor
    per_pixel = _resize(logits, work)[0].permute(1, 2, 0).contiguous()
    crop_labels = per_pixel.argmax(-1).numpy().astype(np.uint8)
    if work != side:
        index = (np.arange(side) * work // side).astype(np.int64)
        crop_labels = crop_labels.take(index, 0).take(index, 1)
    labels[photo_rows, photo_cols] = crop_labels[rows, cols]
    return labels


def feather_weights(side: int, feather: float = FEATHER) -> np.ndarray:
    """side x side weights: 1 inside, falling smoothly to 0 at the square's border."""
    ramp = max(1.0, feather * side)
    distance = np.minimum(np.arange(side) + 0.5, side - np.arange(side) - 0.5)
    edge = np.clip(distance / ramp, 0, 1)
    edge = edge * edge * (3 - 2 * edge)
    return np.minimum(edge[:, None], edge[None, :]).astype(np.float32)


def paste_image(result: torch.Tensor, square: Square, photo: np.ndarray, feather: float = FEATHER,
                region: np.ndarray | None = None, reference: torch.Tensor | None = None) -> np.ndarray:
    """RGB [1, 3, S, S] in [0, 1] of the crop -> the photo (HxWx3 uint8) with it blended in. `region`
    (S x S in [0, 1]) limits the paste further (e.g. to the face); `reference` (the crop the model saw,
    [1, 3, S, S]) makes it paste the change only."""
    height, width = photo.shape[:2]
    weights = torch.from_numpy(feather_weights(result.shape[-1], feather))[None, None]
    if region is not None:
        weights = weights * torch.as_tensor(region, dtype=torch.float32)[None, None]
    side, rows, cols, photo_rows, photo_cols = _placement(square, height, width)
    edit = result.float().clamp(0, 1)
    if reference is not None:
        edit = edit - reference.float()[:, :3]
    both = _resize(torch.cat([edit, weights], 1), side)[0, :, rows, cols]
    rgb, alpha = both[:3].permute(1, 2, 0).numpy(), both[3].clamp(0, 1).numpy()[..., None]
    out = photo.astype(np.float32) / 255
    part = out[photo_rows, photo_cols]
    out[photo_rows, photo_cols] = part + rgb * alpha if reference is not None else part * (1 - alpha) + rgb * alpha
    return (out * 255).round().clip(0, 255).astype(np.uint8)


def grown_feathered(mask: np.ndarray, share: float) -> np.ndarray:
    """An S x S region (bool or [0, 1]) -> paste weights in [0, 1]: grown by `share` of S (at least one
    pixel), then faded out over as much (a box blur), so an edit blends into the photo around it."""
    grow = max(1, int(round(share * mask.shape[-1])))
    weights = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
    weights = F.max_pool2d(weights, 2 * grow + 1, stride=1, padding=grow)
    weights = F.avg_pool2d(weights, 2 * grow + 1, stride=1, padding=grow, count_include_pad=False)
    return weights[0, 0].numpy()


def paste_normals(normals: torch.Tensor, square: Square, height: int, width: int,
                  min_length: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Normals [1, 3, S, S] of the crop -> (HxWx3 float32 unit normals, HxW bool mask of predicted surface)."""
    out = np.zeros((height, width, 3), np.float32)
    mask = np.zeros((height, width), bool)
    side, rows, cols, photo_rows, photo_cols = _placement(square, height, width)
    part = _resize(normals, side)[0, :, rows, cols]
    length = part.norm(dim=0)
    surface = (length > min_length).numpy()
    unit = (part / length.clamp(min=1e-6)).permute(1, 2, 0).numpy()
    out[photo_rows, photo_cols] = np.where(surface[..., None], unit, 0)
    mask[photo_rows, photo_cols] = surface
    return out, mask
