"""Versions of the tools a conversion used (recorded in every export.json and in the report)."""

from __future__ import annotations

import platform
from importlib import metadata

TOOLS = ("portrait-edge", "torch", "executorch", "torchao", "litert-torch", "ai-edge-litert",
         "ai-edge-quantizer", "coremltools", "numpy")


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "os": f"{platform.system()} {platform.machine()}"}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
