"""Model size and compute: parameter count and multiply-accumulates (MACs).

MACs are counted with torch.utils.flop_counter.FlopCounterMode on one forward pass in eval mode:
MACs = FLOPs / 2, where FlopCounterMode counts 2 FLOPs per multiply-add of convolutions (depthwise
and transposed included, groups honoured) and matrix products. Element-wise ops (BatchNorm,
activations, add, upsample, concat) are not counted, the usual convention for conv nets; BatchNorm
is folded into the conv at export anyway. The count is for the given input shape (batch included).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BatchNorm running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass on a zero tensor of `input_shape` (e.g. (1, 3, 256, 256))."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(input_shape, device=device, dtype=dtype))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2
