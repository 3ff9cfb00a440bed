"""`portrait-edge synth`: render a task's synthetic training pairs to PNG files plus a contact sheet.

    portrait-edge synth --task parsing --n 16 --size 256 --seed 0 --out synth_out/

Writes, per sample i, OUT/<task>_<i>_<part>.png for every part of the pair (input image(s), target,
masks; label maps both colourised and as raw class-id PNGs), OUT/<task>_contact_sheet.png (rows =
samples, columns = parts, labelled) and OUT/<task>_manifest.json (per-sample files and values, and
the sha256 of every file in OUT). Sample i is sample i of make_pairs(task, n, seed, size): the same
at any --n and chunking.

OUT is written whole (portrait_edge.staging): the files go to a private folder beside it, moved into
place when complete, so a failed or killed run leaves no partial OUT and two runs never mix. An
existing OUT that is a complete earlier output of the same task is replaced in one step; an OUT
holding anything else (other files, another task's output) is refused, so nothing of the user's is
ever deleted; a second run while one is writing OUT is refused.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
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
    parser.add_argument("--out", required=True,
                        help="output folder, written whole: created if missing; an earlier synth output of the same "
                             "task there is replaced in one step (never mixed); a folder holding anything else is "
                             "refused")
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
    from portrait_edge.data.pairs import TASK_IDS
    from portrait_edge.data.synth.render import MIN_SIZE

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
    target, check = _output_folder(args.out, args.task)
    comparison = _comparison_path(args.comparison, target)

    from portrait_edge.staging import publish, staging_folder

    with staging_folder(target, "synth") as staging:
        samples, files = render_into(staging, args.task, args.n, args.size, args.seed, device, args.no_progress)
        if comparison is not None and comparison.parent == target:  # inside OUT: part of the output
            comparison_sheet(staging / comparison.name, size=min(args.size, 256), seed=args.seed,
                             device=str(device), palette=True)
            files[comparison.name] = file_sha256(staging / comparison.name)
        write_text_atomic(staging / f"{args.task}_manifest.json", json.dumps(
            {"task": args.task, "n": args.n, "size": args.size, "seed": args.seed, "samples": samples,
             "files": files}, indent=1))
        publish(staging, target, check)
    if comparison is not None and comparison.parent != target:
        comparison_sheet(comparison, size=min(args.size, 256), seed=args.seed, device=str(device), palette=True)
    print(f"wrote {args.n} {args.task} samples and {Path(args.out) / f'{args.task}_contact_sheet.png'}")
    return 0


def _output_folder(out: str, task: str):
    """The real path of --out and the check that a folder there may be replaced (run once now, so a
    refusal comes before the rendering, and again just before the new folder is moved in)."""
    target = Path(os.path.realpath(out))
    if not target.name:
        raise PortraitEdgeError(f"--out {out}: choose a folder to write, not the file system root")
    check = functools.partial(check_replaceable, task=task, shown=out)
    if os.path.lexists(target):
        check(target)
    return target, check


def _comparison_path(comparison: str | None, target: Path) -> Path | None:
    if not comparison:
        return None
    path = Path(os.path.realpath(comparison))
    if path.parent != target and not path.parent.is_dir():
        raise PortraitEdgeError(f"--comparison {comparison}: the folder {path.parent} does not exist")
    return path


def render_into(folder: Path, task: str, n: int, size: int, seed: int, device, no_progress: bool = True
                ) -> tuple[list[dict], dict[str, str]]:
    """Write the n samples' PNGs and the contact sheet into `folder`: (per-sample records, name -> sha256)."""
    from tqdm import tqdm

    from portrait_edge.data.pairs import make_pairs
    from portrait_edge.io import write_image

    files: dict[str, str] = {}

    def write(name: str, image: np.ndarray) -> None:
        write_image(folder / name, image)
        files[name] = file_sha256(folder / name)

    rows, titles, samples = [], [], []
    sheet_rows = min(n, 16)
    with tqdm(total=n, desc=f"synth {task}", unit="sample", disable=no_progress) as progress:
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            batch = make_pairs(task, count, seed, size, device, first_index=start)
            for k in range(count):
                index = start + k
                parts, values = pair_parts(task, batch, k)
                names = [f"{task}_{index:05d}_{name}.png" for name, _ in parts]
                for file_name, (_, image) in zip(names, parts):
                    write(file_name, image)
                samples.append({"index": index, "files": names, **values})
                if index < sheet_rows:
                    rows.append(parts)
                    titles.append(f"#{index}" + "".join(f"\n{key}={value}" for key, value in values.items()))
                progress.update(1)
    write(f"{task}_contact_sheet.png", contact_sheet(rows, titles))
    return samples, files


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_replaceable(folder: Path, task: str, shown: str) -> None:
    """Raise unless `folder` may be replaced by a new `task` output: empty, or exactly an earlier
    output of the same task (every file listed in its manifest), so no file of the user's is lost."""
    if not folder.is_dir():
        raise PortraitEdgeError(f"--out {shown} exists and is not a folder")
    names = {entry.name for entry in folder.iterdir()}
    if not names:
        return
    manifest_name = f"{task}_manifest.json"
    if manifest_name not in names:
        others = sorted(name for name in names if name.endswith("_manifest.json"))
        if others:
            raise PortraitEdgeError(f"--out {shown} holds another synth output ({others[0]}); refusing to replace it "
                                    "(one task per folder): choose another --out")
        raise PortraitEdgeError(f"--out {shown} is not empty and is not a synth output folder (it holds "
                                f"{_some(names)}); refusing to replace it: choose a new or empty folder")
    listed = _listed_files(folder / manifest_name, task)
    if listed is None:
        raise PortraitEdgeError(f"--out {shown}: {manifest_name} is not a synth manifest with file hashes (an "
                                "older version's, or edited); refusing to replace the folder: remove it or choose "
                                "another --out")
    extra = names - listed - {manifest_name}
    if extra:
        raise PortraitEdgeError(f"--out {shown} holds files synth did not write ({_some(extra)}); refusing to "
                                "replace it: move them out or choose another --out")


def _listed_files(manifest: Path, task: str) -> set[str] | None:
    try:
        content = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(content, dict) or content.get("task") != task or not isinstance(content.get("files"), dict):
        return None
    return set(content["files"])


def _some(names: set[str]) -> str:
    first = sorted(names)[:3]
    more = len(names) - len(first)
    return ", ".join(first) + (f" and {more} more" if more else "")
