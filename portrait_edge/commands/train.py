"""`portrait-edge train --recipe RECIPE`: train a teacher (or a student from scratch) from a recipe.

Also the implementation behind `portrait-edge distill` (the same loop with a teacher checkpoint).
Runs on CUDA with AMP when available, else on CPU; under torchrun it trains with DDP on every rank.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from portrait_edge.errors import PortraitEdgeError


def _override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. steps=100), got {text!r}")
    key, value = text.split("=", 1)
    import yaml

    return key.strip(), yaml.safe_load(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True, metavar="YAML",
                        help="training recipe, e.g. training/parsing/teacher.cpu-quick.yaml (see training/README.md)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run folder for checkpoints and logs (default runs/<recipe name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint (same schedule and data order)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA when available, else CPU (default)")
    parser.add_argument("--set", dest="overrides", type=_override, action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe field, dotted for sections (e.g. --set steps=50 --set optimizer.lr=1e-3)")
    parser.add_argument("--ship", action="store_true",
                        help="also install the final model as the package default "
                             "portrait_edge/weights/<task>_<teacher|student|student_scratch>.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs are still written)")


def ship(final: Path, task: str, variant: str, dtype: str) -> Path:
    """Copies a final checkpoint into portrait_edge/weights/ (re-saved in `dtype`)."""
    from portrait_edge.train.checkpoint import load_checkpoint, save_checkpoint

    state, card = load_checkpoint(final)
    target = Path(__file__).resolve().parents[1] / "weights" / f"{task}_{variant}.safetensors"
    card = {k: v for k, v in card.items() if k not in ("format", "dtype", "sha256")}
    return save_checkpoint(target, state, card, dtype=dtype)


def run_recipe(args: argparse.Namespace, require_teacher: bool) -> int:
    from portrait_edge.train.recipe import load_recipe
    from portrait_edge.train.trainer import train

    recipe = load_recipe(args.recipe, dict(args.overrides))
    if require_teacher and not recipe.distilling:
        raise PortraitEdgeError(f"{args.recipe}: `distill` needs a recipe with distill.teacher "
                                "(use `portrait-edge train` for teachers and students from scratch)")
    if recipe.distilling and not Path(recipe.distill.teacher).exists():
        raise PortraitEdgeError(f"teacher checkpoint not found: {recipe.distill.teacher} "
                                "(train it first, or pass --set distill.teacher=PATH)")
    out = Path(args.out or Path("runs") / (recipe.name or recipe.task))
    if not args.resume and (out / "last.resume.pt").exists():
        raise PortraitEdgeError(f"{out} already holds a run: pass --resume to continue it, or another --out")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    if not args.resume and int(os.environ.get("RANK", "0")) == 0:
        shutil.copyfile(args.recipe, out / "recipe.yaml")
    try:
        result = train(recipe, out, resume=args.resume, device=args.device, show_progress=not args.no_progress)
    except BaseException:
        _remove_failed_start(out, created, before)
        raise
    if int(os.environ.get("RANK", "0")) == 0:
        metrics = {k: v for k, v in result.metrics.items() if not k.startswith("iou_")}
        print(f"trained {recipe.task} {recipe.variant}: {result.steps} steps in {result.seconds:.0f} s -> "
              f"{result.checkpoint}")
        print(json.dumps(metrics))
        if args.ship:
            print(f"shipped {ship(result.checkpoint, recipe.task, recipe.variant, recipe.ship_dtype)}")
    return 0


def _remove_failed_start(out: Path, created: bool, before: set[Path]) -> None:
    """A run that failed before its first checkpoint leaves nothing behind (a run with checkpoints is kept:
    --resume continues it)."""
    if (out / "last.resume.pt").exists():
        return
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for item in set(out.iterdir()) - before:
        shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    return run_recipe(args, require_teacher=False)
