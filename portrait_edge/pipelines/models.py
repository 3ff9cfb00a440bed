"""The model a pipeline runs: (task, role, backend, precision) -> a Runner and what it was made from.

- backend "torch": the shipped checkpoint of the role (portrait_edge/weights), or `checkpoint`, in
  PyTorch eager, fp32.
- backend "litert" / "executorch": the student's file in the Android bundle (android_assets/<task>/,
  the files `portrait-edge bundle` copied after they passed verify), or `model_file`, in the real
  runtime (ai_edge_litert / executorch, XNNPACK). A bundled file must still have the sha256 its
  metadata.json records: these exact bytes were verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portrait_edge.errors import PortraitEdgeError

BACKENDS = ("torch", "litert", "executorch")
PRECISIONS = {"torch": ("fp32",), "litert": ("fp32", "fp16", "int8"), "executorch": ("fp32", "int8")}
ROLES = ("teacher", "student")
EXTENSIONS = {"litert": ".tflite", "executorch": ".pte"}


@dataclass
class LoadedRunner:
    runner: Any           # portrait_edge.edge.runtimes.Runner
    source: str           # the checkpoint or model file
    card: dict[str, Any]  # the checkpoint card, or the bundle's metadata entry


def check_choice(role: str, backend: str, precision: str) -> None:
    if role not in ROLES:
        raise PortraitEdgeError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if backend not in BACKENDS:
        raise PortraitEdgeError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if precision not in PRECISIONS[backend]:
        raise PortraitEdgeError(f"backend {backend!r} runs {', '.join(PRECISIONS[backend])}, not {precision!r}"
                                + (" (int8 and fp16 run in the phone runtimes: backend litert or executorch)"
                                   if backend == "torch" else ""))
    if role == "teacher" and backend != "torch":
        raise PortraitEdgeError(f"only students are converted for phones: role 'teacher' runs on backend 'torch', "
                                f"not {backend!r}")


def load_runner(task_id: str, role: str, backend: str, precision: str, checkpoint: str | Path | None = None,
                model_file: str | Path | None = None, threads: int = 2) -> LoadedRunner:
    from portrait_edge.edge.runtimes import TorchRunner, open_runner

    check_choice(role, backend, precision)
    if backend == "torch":
        if model_file is not None:
            raise PortraitEdgeError("model_file is for the litert and executorch backends; torch takes a checkpoint")
        import torch

        from portrait_edge.edge.models import load_role

        torch.set_num_threads(threads)
        loaded = load_role(task_id, role, checkpoint)
        return LoadedRunner(TorchRunner(loaded.model), loaded.source, loaded.card)
    if checkpoint is not None:
        raise PortraitEdgeError(f"backend {backend!r} runs a converted file: pass model_file, not checkpoint")
    path, entry = (Path(model_file), {}) if model_file is not None else bundled_file(task_id, backend, precision)
    if path.suffix != EXTENSIONS[backend]:
        raise PortraitEdgeError(f"backend {backend!r} runs {EXTENSIONS[backend]} files, not {path}")
    return LoadedRunner(open_runner(path, threads=threads), str(path), entry)


def bundled_file(task_id: str, backend: str, precision: str) -> tuple[Path, dict[str, Any]]:
    """The Android bundle's file for (task, backend, precision), after checking its sha256."""
    from portrait_edge.edge.artifacts import read_json, require_checksum
    from portrait_edge.report.bundle import ANDROID_DIR

    meta_path = ANDROID_DIR / task_id / "metadata.json"
    if not meta_path.is_file():
        raise PortraitEdgeError(f"no Android bundle for task {task_id!r} ({meta_path} is missing): run "
                                f"`portrait-edge report --all`, or pass model_file")
    meta = read_json(meta_path, "bundle metadata")
    entry = next((f for f in meta["files"] if f["format"] == backend and f["precision"] == precision), None)
    if entry is None:
        have = ", ".join(f"{f['format']} {f['precision']}" for f in meta["files"])
        raise PortraitEdgeError(f"the {task_id} bundle has no {backend} {precision} file (it has: {have})")
    path = meta_path.parent / entry["file"]
    require_checksum(path, entry["sha256"], meta_path, "run `portrait-edge bundle` to restore the verified files")
    return path, {**entry, "accuracy": meta.get("accuracy"), "source_checkpoint": meta.get("source_checkpoint")}
