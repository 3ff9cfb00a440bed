"""Architecture registry (timm-style): one module per family, named entry points.

    @register_model("unet")
    def unet(in_channels: int, out_channels: int, width: int = 64) -> nn.Module: ...

    create_model("unet", in_channels=3, out_channels=19, width=32)
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from torch import nn

from portrait_edge.errors import NotAvailableError

ModelFactory = Callable[..., nn.Module]
_MODELS: dict[str, ModelFactory] = {}

# Modules that register architectures when imported. A family that is not written yet is skipped.
_FAMILIES = ("unet", "mobile", "gridnet", "pix2pixhd", "maskgan")


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    def decorate(factory: ModelFactory) -> ModelFactory:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = factory
        return factory

    return decorate


def _load_families() -> None:
    for family in _FAMILIES:
        try:
            importlib.import_module(f"portrait_edge.nn.{family}")
        except ModuleNotFoundError as error:
            if error.name != f"portrait_edge.nn.{family}":
                raise


def list_models() -> list[str]:
    _load_families()
    return sorted(_MODELS)


def create_model(name: str, ignore_inputs: list[int] | tuple[int, ...] | None = None, **kwargs: Any) -> nn.Module:
    """The registered architecture; `ignore_inputs` (input channel indices) builds it with those
    channels zeroed inside the model, for ablations (e.g. the normals network without its landmark
    channels): training, evaluation, export and the pipelines all see the same model."""
    _load_families()
    if name not in _MODELS:
        raise NotAvailableError(f"architecture {name!r} is not available (known: {', '.join(sorted(_MODELS)) or 'none'})")
    model = _MODELS[name](**kwargs)
    if ignore_inputs:
        model = InputsIgnored(model, kwargs["in_channels"], ignore_inputs)
    return model


class InputsIgnored(nn.Module):
    """Wraps a model so that some input channels are multiplied by 0 before it sees them."""

    def __init__(self, model: nn.Module, in_channels: int, channels) -> None:
        super().__init__()
        import torch

        if any(not 0 <= int(c) < in_channels for c in channels):
            raise ValueError(f"ignore_inputs {list(channels)} outside the {in_channels} input channels")
        self.model = model
        keep = torch.ones(1, in_channels, 1, 1)
        keep[:, [int(c) for c in channels]] = 0
        self.register_buffer("keep", keep)
        self.size_multiple = getattr(model, "size_multiple", 32)

    def forward(self, x):
        return self.model(x * self.keep)
