"""Checkpoints: weights as safetensors + a JSON card beside them; resume state in a third file.

    NAME.safetensors   the model's state dict (float32, or float16/bfloat16 to keep shipped teachers lean)
    NAME.json          the card: task, role, arch + kwargs, channels, recipe, data, seed, steps, metrics,
                       params, MACs, code version (package version + git commit), sha256 of the weights
    NAME.resume.pt     everything a killed run needs to continue: model (+ adapters) weights, optimizer,
                       grad scaler, RNG states, step (written by the trainer, never shipped)

Every file is written to a temporary file in the same folder and moved into place with os.replace, so
a reader never sees a half-written file. The card's sha256 lets load_checkpoint detect a corrupt or
swapped weights file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from portrait_edge import __version__
from portrait_edge.atomic import atomic_path
from portrait_edge.errors import NotAvailableError, PortraitEdgeError

CARD_FORMAT = 1
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def weights_path(path: str | Path) -> Path:
    """NAME.safetensors for NAME, NAME.json or NAME.safetensors; a run folder names its final (else last)
    checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in ("final", "last"):
            if (path / f"{name}.safetensors").is_file():
                return path / f"{name}.safetensors"
        raise PortraitEdgeError(f"{path} is a folder without final.safetensors or last.safetensors: pass a checkpoint file")
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors")


def card_path(path: str | Path) -> Path:
    return weights_path(path).with_suffix(".json")


def resume_path(path: str | Path) -> Path:
    return weights_path(path).with_suffix(".resume.pt")


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Calls write(temp_path) for a temp file beside `path`, then renames it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        write(str(temp))


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_version() -> dict[str, Any]:
    """The package version, and the git commit (with a dirty flag) when run from a checkout."""
    version: dict[str, Any] = {"package": __version__, "git_commit": None, "git_dirty": None}
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            version["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=5)
            version["git_dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(path: str | Path, model: nn.Module | dict[str, torch.Tensor], card: dict[str, Any],
                    dtype: str = "float32") -> Path:
    """Writes NAME.safetensors and NAME.json atomically; returns the weights path.

    `card` must hold at least task, role, arch, arch_kwargs, in_channels, out_channels; this adds
    format, dtype, sha256, code_version and (when missing) created.
    """
    from safetensors.torch import save_file

    for key in ("task", "role", "arch", "arch_kwargs", "in_channels", "out_channels"):
        if key not in card:
            raise ValueError(f"checkpoint card needs {key!r}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}")
    state = unwrap(model).state_dict() if isinstance(model, nn.Module) else model
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.to(_DTYPES[dtype])
        tensors[name] = tensor.contiguous().clone()  # clone: safetensors refuses shared storage
    target = weights_path(path)
    atomic_write(target, lambda temp: save_file(tensors, temp, metadata={"format": "pt"}))
    full_card = {"format": CARD_FORMAT, **card, "dtype": dtype, "sha256": sha256_file(target)}
    full_card.setdefault("code_version", code_version())
    text = json.dumps(full_card, indent=2, sort_keys=False, default=str) + "\n"
    atomic_write(card_path(target), lambda temp: Path(temp).write_text(text))
    return target


def read_card(path: str | Path) -> dict[str, Any]:
    card_file = card_path(path)
    if not card_file.is_file():
        raise PortraitEdgeError(f"checkpoint card not found: {card_file} (every .safetensors needs its .json)")
    try:
        card = json.loads(card_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PortraitEdgeError(f"corrupt checkpoint card {card_file}: {error}") from None
    if not isinstance(card, dict) or "arch" not in card or "task" not in card:
        raise PortraitEdgeError(f"checkpoint card {card_file} lacks task/arch: not a portrait-edge card")
    return card


def record_metrics(path: str | Path, split: str, record: dict[str, Any]) -> None:
    """Stores a split's metrics in a checkpoint's card (metrics[split]), atomically."""
    card = read_card(path)
    card["metrics"] = {**(card.get("metrics") or {}), split: record}
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(card_path(path), lambda temp: Path(temp).write_text(text))


def load_checkpoint(path: str | Path, verify: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, card) from NAME(.safetensors|.json). Tensors are returned as stored (maybe fp16)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = weights_path(path)
    if not weights.is_file():
        raise PortraitEdgeError(f"checkpoint not found: {weights}")
    card = read_card(weights)
    if verify and card.get("sha256") and sha256_file(weights) != card["sha256"]:
        raise PortraitEdgeError(f"checkpoint {weights} does not match its card (sha256 differs): "
                                "corrupt or replaced file")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as error:
        raise PortraitEdgeError(f"corrupt checkpoint {weights}: {str(error).splitlines()[0]}") from None
    return state, card


def build_from_card(card: dict[str, Any]) -> nn.Module:
    from portrait_edge.nn import create_model

    try:
        return create_model(card["arch"], in_channels=int(card["in_channels"]),
                            out_channels=int(card["out_channels"]), **dict(card.get("arch_kwargs") or {}))
    except NotAvailableError:
        raise
    except (TypeError, ValueError, KeyError) as error:
        raise PortraitEdgeError(f"cannot build {card.get('arch')!r} from the checkpoint card: {error}") from None


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a one-line error for missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise PortraitEdgeError(f"checkpoint {source} does not fit the model: {', '.join(parts)} keys")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise PortraitEdgeError(f"checkpoint {source} does not fit the model: {name} has shape "
                                    f"{tuple(tensor.shape)}, the model expects {tuple(own[name].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def check_card_task(card: dict[str, Any], card_file: Path) -> None:
    """A card's model must take and give what its task does (a card edited to another task does not)."""
    from portrait_edge.tasks import get_task

    try:
        task = get_task(str(card.get("task")))
    except PortraitEdgeError as error:
        raise PortraitEdgeError(f"{card_file}: {error}") from None
    given = (card.get("in_channels"), card.get("out_channels"))
    if given != (task.in_channels, task.out_channels):
        raise PortraitEdgeError(f"{card_file}: says task {task.id!r} ({task.in_channels} -> {task.out_channels} channels)"
                                f" but its model is {given[0]} -> {given[1]}: the card was edited or belongs to "
                                f"another checkpoint")


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Builds the model named by the card through the registry, loads the weights (float32), eval mode."""
    state, card = load_checkpoint(path)
    check_card_task(card, card_path(path))
    model = build_from_card(card)
    load_state_into(model, state, str(weights_path(path)))
    return model.to(device).eval(), card
