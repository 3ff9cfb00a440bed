"""torchrun + DistributedDataParallel: one process per GPU (nccl) or per CPU worker (gloo).

Launch any training command under torchrun, e.g.

    torchrun --nproc_per_node 4 -m portrait_edge.cli train --recipe training/parsing/teacher.gpu-full.yaml
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 -m portrait_edge.cli train ...

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them training runs in one process. The recipe's
batch_size is the global batch, split evenly across ranks, and each rank draws different samples
(see portrait_edge.train.data), so N processes see the same data stream as one process would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from portrait_edge.errors import PortraitEdgeError


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    if preference == "cpu":
        return torch.device("cpu")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if preference == "cuda":
        raise PortraitEdgeError("--device cuda asked for, but CUDA is not available in this torch")
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto") -> DistributedContext:
    """Joins the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistributedContext(rank, world_size, local_rank, device)


def shutdown(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    if not context.enabled:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / context.world_size


@torch.no_grad()
def average_buffers(model: nn.Module, context: DistributedContext) -> None:
    """Averages floating buffers (BatchNorm running statistics) across ranks, so every rank holds the
    same model before a checkpoint or an evaluation (DDP only syncs parameters)."""
    if not context.enabled:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer /= context.world_size


def broadcast_object(value: object, context: DistributedContext) -> object:
    if not context.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
