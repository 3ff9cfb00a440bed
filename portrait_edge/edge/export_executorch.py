"""ExecuTorch: torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> .pte.

fp32: the eval-mode student as is (BatchNorm folds into the convolutions during lowering).
int8: the PT2E-quantized GraphModule from portrait_edge.edge.quantize (its quantize/dequantize
pairs become XNNPACK int8 kernels). I/O stays float32 NCHW in both; int8 files quantize the input
inside the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from portrait_edge.edge.artifacts import write_bytes_atomic


def lower_to_pte(model: nn.Module, example: torch.Tensor) -> tuple[bytes, dict[str, Any]]:
    """The .pte bytes of `model` and what was (not) delegated to XNNPACK."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(model, (example,))
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph_module.graph
    delegates, leftover = 0, []
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if "executorch_call_delegate" in name:
            delegates += 1
        elif name != "getitem":
            leftover.append(name)
    program = edge.to_executorch()
    return bytes(program.buffer), {"xnnpack_delegates": delegates, "ops_outside_delegate": sorted(set(leftover))}


def export_pte(model: nn.Module, example: torch.Tensor, path: Path | str) -> dict[str, Any]:
    """Writes `path` (atomically) and returns the lowering details. `model` must be in eval mode."""
    data, details = lower_to_pte(model, example)
    write_bytes_atomic(path, data)
    return details
