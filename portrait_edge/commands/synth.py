"""`portrait-edge synth`: render a task's synthetic training pairs to PNG files plus a contact sheet.

    portrait-edge synth --task parsing --n 16 --size 256 --seed 0 --out synth_out/

Writes, per sample i, OUT/<task>_<i>_<part>.png for every part of the pair (input image(s), target,
masks; label maps both colourised and as raw class-id PNGs), OUT/<task>_contact_sheet.png (rows =
samples, columns = parts, labelled) and OUT/<task>_manifest.json (files and per-sample values).
Sample i is sample i of make_pairs(task, n, seed, size): the same at any --n and chunking.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from portrait_edge.atomic import atomic_path, write_text_atomic
from portrait_edge.errors import PortraitEdgeError

CHUNK = 8
MAX_N = 100_000
# The usual CelebAMask-HQ colour map (class id -> RGB).
PALETTE = np.array([
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
    (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
    (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0)], dtype=np.uint8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from portrait_edge.data.pairs import TASK_IDS, TEST_SEED_BASE

    parser.add_argument("--task", required=True, help=f"which pairs to render: {', '.join(TASK_IDS)}")
    parser.add_argument("--n", type=int, default=16, help="number of samples (default 16)")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels, square (default 256, minimum 32)")
    parser.add_argument("--seed", type=int, default=0,
                        help=f"seed; sample i depends only on (seed, i). Test split: seeds from {TEST_SEED_BASE}")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--device", default="cpu", help="torch device for rendering, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument("--comparison", metavar="PNG",
                        help="also write a sheet of a real portrait (skimage astronaut) next to renders to this PNG")


def colourise(labels: np.ndarray) -> np.ndarray:
    return PALETTE[np.clip(labels, 0, len(PALETTE) - 1)]


def _rgb(tensor) -> np.ndarray:
    return (tensor.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _mask(tensor) -> np.ndarray:
    return (tensor.detach().cpu().clamp(0, 1)[0].numpy() * 255).round().astype(np.uint8)


def pair_parts(task_id: str, batch, i: int) -> tuple[list[tuple[str, np.ndarray]], dict]:
    """The displayable parts of sample i of a Batch: (name, HxWx3 or HxW uint8) and per-sample values."""
    x, y, e = batch.inputs[i], batch.target[i], batch.extras
    parts: list[tuple[str, np.ndarray]] = []
    values: dict = {}
    if task_id == "shadow":
        parts = [("input", _rgb(x)), ("target", _rgb(y)), ("shadow_mask", _mask(e["shadow_mask"][i])),
                 ("face_mask", _mask(e["face_mask"][i]))]
    elif task_id == "facial_shadow":
        values["fill_strength"] = round(float(e["fill_strength"][i]), 4)
        parts = [("input", _rgb(x[:3])), ("target", _rgb(y)), ("face_mask", _mask(e["face_mask"][i]))]
    elif task_id == "normals":
        parts = [("input", _rgb(x[:3])), ("landmark_region", _mask(x[3:4])), ("landmark_depth", _mask(x[4:5])),
                 ("target_normals", _rgb(y * 0.5 + 0.5)), ("foreground_mask", _mask(e["foreground_mask"][i]))]
    elif task_id == "parsing":
        labels = y.cpu().numpy().astype(np.uint8)
        parts = [("input", _rgb(x)), ("target", colourise(labels)), ("target_ids", labels)]
    elif task_id == "retouch":
        parts = [("input", _rgb(x)), ("target", _rgb(y)), ("blemish_mask", _mask(e["blemish_mask"][i]))]
    elif task_id == "maskedit":
        from portrait_edge.labels import NUM_CLASSES

        values["swapped"] = bool(e["swapped"][i])
        source_ids = x[3:3 + NUM_CLASSES].argmax(0).cpu().numpy().astype(np.uint8)
        target_ids = e["target_labels"][i].cpu().numpy().astype(np.uint8)
        parts = [("source", _rgb(x[:3])), ("source_mask", colourise(source_ids)), ("target_mask", colourise(target_ids)),
                 ("target", _rgb(y)), ("source_mask_ids", source_ids), ("target_mask_ids", target_ids)]
    return parts, values


def contact_sheet(rows: list[list[tuple[str, np.ndarray]]], row_titles: list[str], thumb: int = 128) -> np.ndarray:
    """A labelled grid: one row per sample, one column per part (raw id maps are skipped)."""
    from PIL import Image, ImageDraw, ImageFont

    columns = [name for name, image in rows[0] if not name.endswith("_ids")]
    header, margin = 18, 90
    sheet = Image.new("RGB", (margin + thumb * len(columns), header + thumb * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for c, name in enumerate(columns):
        draw.text((margin + c * thumb + 4, 3), name, fill=(0, 0, 0), font=font)
    for r, (parts, title) in enumerate(zip(rows, row_titles)):
        draw.text((4, header + r * thumb + thumb // 2 - 6), title, fill=(0, 0, 0), font=font)
        images = dict(parts)
        for c, name in enumerate(columns):
            image = images[name]
            tile = Image.fromarray(image if image.ndim == 3 else np.repeat(image[..., None], 3, 2))
            sheet.paste(tile.resize((thumb, thumb), Image.BILINEAR), (margin + c * thumb, header + r * thumb))
    return np.asarray(sheet)


def comparison_sheet(path: str | os.PathLike, n: int = 7, size: int = 256, seed: int = 0, device: str = "cpu",
                     palette: bool = False) -> None:
    """A real portrait (skimage astronaut, face crop) next to n renders, with the renders' label maps
    below. palette=True stores a 256-colour PNG (small enough for a README)."""
    import skimage.data
    from PIL import Image, ImageDraw, ImageFont

    from portrait_edge.data.synth.render import render_batch

    real = Image.fromarray(skimage.data.astronaut()).crop((120, 0, 340, 220)).resize((size, size), Image.BICUBIC)
    render = render_batch(n, seed, size, device)
    images = [np.asarray(real)] + [_rgb(render.image[i]) for i in range(n)]
    labels = [np.full((size, size, 3), 255, np.uint8)] + [colourise(render.labels[i].cpu().numpy()) for i in range(n)]
    sheet = Image.fromarray(np.concatenate([np.concatenate(images, 1), np.concatenate(labels, 1)], 0))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((4, 4), "real photo (skimage astronaut)", fill=(255, 255, 0), font=font)
    draw.text((4, size + 4), "below: label maps of the renders", fill=(0, 0, 0), font=font)
    for i in range(n):
        draw.text(((i + 1) * size + 4, 4), f"render (seed {seed}, #{i})", fill=(255, 255, 0), font=font)
    target = Path(path)
    if not target.parent.is_dir():
        raise PortraitEdgeError(f"{target}: the folder {target.parent} does not exist")
    if palette:
        sheet = sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic_path(target) as temp:
        sheet.save(temp, format="PNG", optimize=True)


def run(args: argparse.Namespace) -> int:
    from portrait_edge.data.pairs import TASK_IDS, make_pairs
    from portrait_edge.data.synth.render import MIN_SIZE
    from portrait_edge.io import write_image

    if args.task not in TASK_IDS:
        raise PortraitEdgeError(f"unknown task {args.task!r}; known tasks: {', '.join(TASK_IDS)}")
    if args.n <= 0 or args.n > MAX_N:
        raise PortraitEdgeError(f"--n must be between 1 and {MAX_N}, got {args.n}")
    if args.size < MIN_SIZE or args.size > 2048:
        raise PortraitEdgeError(f"--size must be between {MIN_SIZE} and 2048 pixels, got {args.size}")
    if args.seed < 0:
        raise PortraitEdgeError(f"--seed must be >= 0, got {args.seed}")
    import torch

    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise PortraitEdgeError(f"unknown --device {args.device!r} (use cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PortraitEdgeError("--device cuda was asked for but CUDA is not available here")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PortraitEdgeError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    from tqdm import tqdm

    rows, titles, manifest = [], [], []
    sheet_rows = min(args.n, 16)
    with tqdm(total=args.n, desc=f"synth {args.task}", unit="sample", disable=args.no_progress) as progress:
        for start in range(0, args.n, CHUNK):
            count = min(CHUNK, args.n - start)
            batch = make_pairs(args.task, count, args.seed, args.size, device, first_index=start)
            for k in range(count):
                index = start + k
                parts, values = pair_parts(args.task, batch, k)
                files = []
                for name, image in parts:
                    file_name = f"{args.task}_{index:05d}_{name}.png"
                    write_image(out / file_name, image)
                    files.append(file_name)
                manifest.append({"index": index, "files": files, **values})
                if index < sheet_rows:
                    rows.append(parts)
                    titles.append(f"#{index}" + "".join(f"\n{k}={v}" for k, v in values.items()))
                progress.update(1)
    sheet_path = out / f"{args.task}_contact_sheet.png"
    write_image(sheet_path, contact_sheet(rows, titles))
    write_text_atomic(out / f"{args.task}_manifest.json", json.dumps(
        {"task": args.task, "n": args.n, "size": args.size, "seed": args.seed, "samples": manifest}, indent=1))
    if args.comparison:
        comparison_sheet(args.comparison, size=min(args.size, 256), seed=args.seed, device=str(device), palette=True)
    print(f"wrote {args.n} {args.task} samples and {sheet_path}")
    return 0
