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


def create_model(name: str, **kwargs: Any) -> nn.Module:
    _load_families()
    if name not in _MODELS:
        raise NotAvailableError(f"architecture {name!r} is not available (known: {', '.join(sorted(_MODELS)) or 'none'})")
    return _MODELS[name](**kwargs)
