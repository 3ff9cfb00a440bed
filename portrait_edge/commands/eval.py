"""`portrait-edge eval --checkpoint PATH`: a checkpoint's metrics on the synthetic test split or a real dataset.

The synthetic test split is fixed seeds of the built-in engine (portrait_edge.data.pairs.TEST_SEED_BASE
onwards) that no recipe ever trains on; --reader/--root evaluates on a real dataset instead.
`--baseline input --task T` scores the input image itself as the output (image tasks: the "do nothing"
baseline every shadow remover or retoucher must beat).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from portrait_edge.commands import positive_int
from portrait_edge.errors import PortraitEdgeError

SPLITS = ("synthetic-test", "synthetic-validation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="a .safetensors checkpoint with its .json card (e.g. portrait_edge/weights/parsing_student.safetensors)")
    parser.add_argument("--baseline", choices=("input",), default=None,
                        help="instead of a checkpoint: score the input image as the output (image tasks; needs --task)")
    parser.add_argument("--task", default=None, help="the task of --baseline")
    parser.add_argument("--split", choices=SPLITS, default="synthetic-test",
                        help="synthetic split to evaluate on (default synthetic-test)")
    parser.add_argument("--n", type=positive_int, default=200, help="number of samples (default 200)")
    parser.add_argument("--size", type=positive_int, default=None,
                        help="resolution in pixels (default: the task's, 256)")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--reader", default=None, metavar="NAME",
                        help="evaluate on a real dataset with this reader (e.g. celebamask-hq) instead")
    parser.add_argument("--root", default=None, metavar="DIR", help="the dataset folder for --reader")
    parser.add_argument("--reader-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the reader, repeatable; e.g. for a pool: split=val labels=pseudo task=parsing")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--cache-dir", default="runs/cache", metavar="DIR",
                        help="keep the rendered synthetic split here for later evaluations (default runs/cache; "
                             "'' to render every time)")
    parser.add_argument("--split-file", default=None, metavar="FILE",
                        help="pin the synthetic samples: evaluate on the ones saved in FILE (rendered and saved "
                             "there the first time), so checkpoints compared later see identical data")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the metrics as JSON here")
    parser.add_argument("--write-card", action="store_true",
                        help="record the metrics in the checkpoint's card under metrics[<split>]")
    parser.add_argument("--per-class", action="store_true", help="also print per-class IoU (label maps)")


def run(args: argparse.Namespace) -> int:
    import torch

    from portrait_edge.tasks import get_task
    from portrait_edge.train.checkpoint import atomic_write, load_model, record_metrics
    from portrait_edge.train.ddp import pick_device
    from portrait_edge.train.data import VALIDATION_SEED_BASE
    from portrait_edge.train.evaluate import evaluate, reader_batches, synthetic_batches, test_seed_base

    if (args.reader is None) != (args.root is None):
        raise PortraitEdgeError("--reader and --root go together (a reader name and its dataset folder)")
    device = pick_device(args.device)
    if (args.checkpoint is None) == (args.baseline is None):
        raise PortraitEdgeError("give --checkpoint PATH, or --baseline input with --task")
    model, card = input_baseline(args.task) if args.baseline else load_model(args.checkpoint, device)
    model = model.to(memory_format=torch.channels_last)  # NHWC: much faster depthwise convs on CPU
    task = get_task(card["task"])
    size = args.size or task.resolution
    multiple = getattr(model, "size_multiple", 1)
    if size % multiple:
        raise PortraitEdgeError(f"--size {size} must be a multiple of {multiple} for {card['arch']}")
    if args.reader:
        options = {}
        for item in args.reader_option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise PortraitEdgeError(f"--reader-option must be KEY=VALUE, not {item!r}")
            options[key] = value
        split = f"{args.reader}:{args.root}" + "".join(f":{k}={v}" for k, v in sorted(options.items()))
        batches, total = reader_batches(task, args.reader, args.root, size, args.batch_size, args.n, options), None
    else:
        split = args.split
        base = test_seed_base() if args.split == "synthetic-test" else VALIDATION_SEED_BASE
        batches, total = synthetic_batches(task, args.n, size, args.batch_size, base, args.cache_dir or None,
                                           progress=f"rendering {split}", split_file=args.split_file), args.n
    metrics = evaluate(model, task, batches, device, total=total, progress=f"eval {task.id} {card.get('role')}")
    record = {"split": split, "size": size, **metrics}
    if not args.reader:
        from portrait_edge.train.data import engine_fingerprint

        record["engine_fingerprint"] = engine_fingerprint() if not args.split_file else f"pinned: {args.split_file}"

    print(f"{task.id} {card.get('role')} ({card['arch']}) on {split}, {int(metrics['n'])} samples at {size}px:")
    for name, value in metrics.items():
        if name == "n" or (name.startswith("iou_") and not args.per_class):
            continue
        print(f"  {name:28s} {value:.4f}")
    if args.json:
        text = json.dumps({"checkpoint": str(args.checkpoint or f"baseline:{args.baseline}"), "task": task.id, "role": card.get("role"), **record},
                          indent=2) + "\n"
        atomic_write(args.json, lambda temp: Path(temp).write_text(text))
    if args.write_card:
        if args.baseline:
            raise PortraitEdgeError("--write-card needs --checkpoint (a baseline has no card)")
        record_metrics(args.checkpoint, split, record)
    return 0



def input_baseline(task_id: str | None):
    """The do-nothing model of an image task (its output is the input's RGB channels) and its card."""
    from torch import nn

    from portrait_edge.tasks import get_task

    if task_id is None:
        raise PortraitEdgeError("--baseline input needs --task (e.g. --task shadow)")
    task = get_task(task_id)
    if task.output.kind != "rgb":
        raise PortraitEdgeError(f"--baseline input scores image tasks; {task.id!r} outputs {task.output.kind}")

    class InputImage(nn.Module):
        def forward(self, x):
            return x[:, :3]

    return InputImage(), {"task": task.id, "role": "input (no model)", "arch": "identity"}
