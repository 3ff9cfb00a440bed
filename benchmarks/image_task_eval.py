"""Image tasks (shadow, facial_shadow, retouch, maskedit): the input itself, then each checkpoint, on the synthetic
test split and on the real-photo composites of a pool's validation split (people never trained on).
Prints one markdown table per split and writes every record as JSON.

    python benchmarks/image_task_eval.py --task shadow --pool /work/pools/real-sub --out build/shadow-eval \
        portrait_edge/weights/shadow_teacher.safetensors portrait_edge/weights/shadow_student.safetensors ... \
        [--bundled litert:int8,executorch:int8]

--write-cards records each checkpoint's numbers in its card and rewrites its model card (so the cards and
the README's tables come from one run). --bundled adds the bundled phone files of the shipped student (android_assets/<task>/) in their real
runtimes (LiteRT, ExecuTorch), run one image at a time as an app would.

The same numbers come from `portrait-edge eval --checkpoint CKPT` (or `--baseline input --task T`) with
`--n N` for the synthetic split and `--reader pool --root POOL --reader-option split=val --reader-option
task=T --reader-option pairs=T` for the pool.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


class BundledModel(torch.nn.Module):
    """The bundled phone file of the shipped student in its runtime, one image at a time."""

    def __init__(self, task_id: str, backend: str, precision: str) -> None:
        super().__init__()
        from portrait_edge.pipelines.models import load_runner

        self.loaded = load_runner(task_id, "student", backend, precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.loaded.runner(x[i:i + 1].contiguous()) for i in range(len(x))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--task", required=True)
    parser.add_argument("--pool", default=None, help="a pool with real-photo pairs for this task (pairs=TASK)")
    parser.add_argument("--n", type=int, default=200, help="synthetic test samples")
    parser.add_argument("--n-pool", type=int, default=300, help="pool validation photos")
    parser.add_argument("--labels", default=None, help="the pool's label set the pairs need (maskedit: parsed)")
    parser.add_argument("--bundled", default="", help="backend:precision list, e.g. litert:int8,executorch:int8")
    parser.add_argument("--out", required=True)
    parser.add_argument("--write-cards", action="store_true",
                        help="also record each checkpoint's metrics in its card (metrics[synthetic-test], "
                             "metrics[pool-val-composites]) and rewrite its model card")
    args = parser.parse_args()

    from portrait_edge.commands.eval import input_baseline
    from portrait_edge.tasks import get_task
    from portrait_edge.train.checkpoint import load_model, record_metrics
    from portrait_edge.train.evaluate import evaluate, reader_batches, synthetic_batches, test_seed_base

    torch.set_num_threads(2)
    task = get_task(args.task)
    models = [("input (no model)", *input_baseline(task.id), None)]  # (name, model, card, checkpoint path)
    for path in args.checkpoints:
        model, card = load_model(path)
        models.append((f"{card['role']} `{Path(path).name}`", model.to(memory_format=torch.channels_last), card, path))
    for item in [b for b in args.bundled.split(",") if b]:
        backend, precision = item.split(":")
        models.append((f"student {backend} {precision} (bundled file)", BundledModel(task.id, backend, precision), {},
                       None))
    splits = {"synthetic test": lambda: synthetic_batches(task, args.n, task.resolution, 8, test_seed_base(), "runs/cache")}
    if args.pool:
        options = {"split": "val", "task": task.id, "pairs": task.id, **({"labels": args.labels} if args.labels else {})}
        splits["pool val composites"] = lambda: reader_batches(task, "pool", args.pool, task.resolution, 8, args.n_pool, options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for split, make_batches in splits.items():
        batches = list(make_batches())  # made once, scored by every model
        print(f"\n{task.id}, {split}:\n")
        print("| model | n | " + " | ".join(task.metric_names) + " |")
        print("|---|---:|" + "---:|" * len(task.metric_names))
        for name, model, card, path in models:
            metrics = evaluate(model, task, batches)
            records.append({"split": split, "model": name, "card_sha256": card.get("sha256"), **metrics})
            print(f"| {name} | {int(metrics['n'])} | " + " | ".join(f"{metrics.get(m, float('nan')):.4f}"
                                                                  for m in task.metric_names) + " |")
            if args.write_cards and path:
                record_metrics(path, split.replace(" ", "-"), {**metrics, "size": task.resolution})
    (out / f"{task.id}.json").write_text(json.dumps(records, indent=2) + "\n")
    if args.write_cards:
        from portrait_edge.train.model_card import write_model_card

        for path in args.checkpoints:
            print(f"model card: {write_model_card(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
