"""The student and teacher a conversion starts from: a checkpoint file or the shipped weights.

Checkpoints are read by portrait_edge.train.checkpoint.load_model (safetensors + JSON card). Every
problem (missing file, not a checkpoint, another task's checkpoint) is a one-line PortraitEdgeError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from portrait_edge.errors import NotAvailableError, PortraitEdgeError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


@dataclass
class LoadedModel:
    model: nn.Module
    source: str                      # the checkpoint path, or a description for in-memory models
    card: dict[str, Any] = field(default_factory=dict)


def shipped_checkpoint(task_id: str, role: str) -> Path:
    """portrait_edge/weights/<task>_<role>.safetensors (it may not exist)."""
    return WEIGHTS_DIR / f"{task_id}_{role}.safetensors"


def has_shipped(task_id: str, role: str = "student") -> bool:
    return shipped_checkpoint(task_id, role).is_file()


def load_checkpoint(path: Path | str, task_id: str | None = None, role: str | None = None) -> LoadedModel:
    """A model in eval mode from a checkpoint; checks the card's task and role when it names them."""
    path = Path(path)
    if not path.exists():
        raise PortraitEdgeError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise PortraitEdgeError(f"checkpoint {path} is a directory, not a .safetensors file")
    try:
        from portrait_edge.train.checkpoint import load_model
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("portrait_edge.train"):
            raise NotAvailableError("checkpoint loading (portrait_edge.train.checkpoint) is not in this version") from None
        raise
    try:
        model, card = load_model(path)
    except PortraitEdgeError:
        raise
    except Exception as error:  # safetensors / JSON errors: the file is corrupt or not a checkpoint
        raise PortraitEdgeError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    card = dict(card or {})
    card_task = card.get("task") or card.get("task_id")
    if task_id is not None and card_task is not None and card_task != task_id:
        raise PortraitEdgeError(f"checkpoint {path} is for task {card_task!r}, not {task_id!r}")
    # a student may be recorded as "student", "student_scratch" or "student_distill"
    if role is not None and card.get("role") is not None and not str(card["role"]).startswith(role):
        raise PortraitEdgeError(f"checkpoint {path} is a {card['role']}, not a {role}")
    return LoadedModel(model.eval(), str(path), card)


def load_role(task_id: str, role: str, checkpoint: Path | str | None = None) -> LoadedModel:
    """`checkpoint` if given, else the shipped weights of (task, role)."""
    if checkpoint is None:
        checkpoint = shipped_checkpoint(task_id, role)
        if not checkpoint.is_file():
            raise PortraitEdgeError(f"no shipped {role} for task {task_id!r} ({checkpoint} is missing); "
                                    "pass --checkpoint PATH")
    return load_checkpoint(checkpoint, task_id=task_id, role=role)
