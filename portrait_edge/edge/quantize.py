"""int8 quantization in PyTorch 2 export (PT2E) form, for the XNNPACK delegate of ExecuTorch.

Post-training (static, per-channel symmetric int8 weights, asymmetric int8 activations):

    torch.export.export(model).module() -> prepare_pt2e(XNNPACKQuantizer) -> calibrate -> convert_pt2e

Quantization-aware fine-tuning (for a task whose int8 accuracy drop is over its tolerance):

    export (train mode) -> prepare_qat_pt2e -> fine-tune against the fp32 student (+ ground truth)
    -> move_exported_model_to_eval -> convert_pt2e

Import paths for executorch 1.5.1 / torchao 0.18 (the torch.ao.quantization copies are deprecated):
XNNPACKQuantizer and get_symmetric_quantization_config live in
executorch.backends.xnnpack.quantizer.xnnpack_quantizer; prepare_pt2e, prepare_qat_pt2e and
convert_pt2e in torchao.quantization.pt2e.quantize_pt2e.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from portrait_edge.tasks.base import Batch, TaskSpec


def xnnpack_quantizer(per_channel: bool = True, qat: bool = False, float_modules: Sequence[str] = ()):
    """int8 everywhere except inside `float_modules` (dotted module names of the exported model), which
    stay fp32: the usual remedy for a layer whose int8 error dominates (often the first conv)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False, is_qat=qat))
    if float_modules:
        def outside_float_modules(node: torch.fx.Node) -> bool:
            stack = node.meta.get("nn_module_stack") or {}
            return not any(path == name or path.startswith(name + ".")
                           for path, _ in stack.values() for name in float_modules)

        quantizer.set_filter_function(outside_float_modules)
    return quantizer


def check_module_names(model: nn.Module, names: Sequence[str]) -> None:
    from portrait_edge.errors import PortraitEdgeError

    known = dict(model.named_modules())
    missing = [name for name in names if name not in known]
    if missing:
        raise PortraitEdgeError(f"int8_float_modules: the student has no module {missing[0]!r}")


def quantize_ptq(model: nn.Module, example: torch.Tensor, calibration: Iterable[torch.Tensor],
                 per_channel: bool = True, float_modules: Sequence[str] = ()) -> torch.fx.GraphModule:
    """A static int8 copy of `model` (a GraphModule with quantize/dequantize nodes), calibrated on
    the given input batches. The model itself is left unchanged."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    check_module_names(model, float_modules)
    model = copy.deepcopy(model).eval()
    graph = torch.export.export(model, (example,)).module()
    prepared = prepare_pt2e(graph, xnnpack_quantizer(per_channel, float_modules=float_modules))
    seen = 0
    with torch.no_grad():
        for inputs in calibration:
            for sample in inputs.split(1):  # the exported graph has batch 1, like the files
                prepared(sample)
                seen += 1
    if seen == 0:
        raise ValueError("int8 calibration needs at least one batch")
    return convert_pt2e(prepared)


@dataclass
class QATSettings:
    steps: int = 200
    lr: float = 1e-4
    distill_weight: float = 1.0   # weight of the match-the-fp32-student term
    temperature: float = 2.0      # for "kl" distillation (label maps)


def distillation_loss(task: TaskSpec, student: torch.Tensor, reference: torch.Tensor, temperature: float) -> torch.Tensor:
    """How far the quantized student's output is from the fp32 student's (the task's own kind)."""
    if task.output_distillation == "kl":
        t = temperature
        return torch.nn.functional.kl_div((student / t).log_softmax(1), (reference / t).log_softmax(1),
                                          log_target=True, reduction="batchmean") * t * t / student[0, 0].numel()
    return (student - reference).abs().mean()


def _prepare_qat(model: nn.Module, size: int, channels: int, per_channel: bool,
                 float_modules: Sequence[str] = ()) -> torch.fx.GraphModule:
    """A QAT-prepared graph of a train-mode copy of `model` for size x size inputs, any batch size."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    example = torch.rand(2, channels, size, size)
    graph = torch.export.export(copy.deepcopy(model).train(), (example,),
                                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},)).module()
    return prepare_qat_pt2e(graph, xnnpack_quantizer(per_channel, qat=True, float_modules=float_modules))


def calibrate_fake_quant(graph: torch.fx.GraphModule, calibration: Iterable[torch.Tensor]) -> None:
    """Sets the QAT graph's ranges from the calibration batches: fake quantization off (each layer sees
    float inputs, as in post-training calibration) and the moving averages turned into plain means over
    the batches. With the default averaging constant (0.01) the ranges stay near the first batch's, which
    cost the parsing student 42 mIoU points before any training."""
    from torchao.quantization.pt2e import FusedMovingAvgObsFakeQuantize, disable_fake_quant, enable_fake_quant

    fake_quants = [m for m in graph.modules() if isinstance(m, FusedMovingAvgObsFakeQuantize)]
    constants = [m.activation_post_process.averaging_constant for m in fake_quants]
    graph.apply(disable_fake_quant)
    with torch.no_grad():
        for k, inputs in enumerate(calibration):
            for module in fake_quants:
                module.activation_post_process.averaging_constant = 1.0 / (k + 1)
            graph(inputs)
    for module, constant in zip(fake_quants, constants):
        module.activation_post_process.averaging_constant = constant
    graph.apply(enable_fake_quant)


def quantize_qat(task: TaskSpec, model: nn.Module, example: torch.Tensor, batches: Iterator[Batch],
                 calibration: Iterable[torch.Tensor], settings: QATSettings, per_channel: bool = True,
                 train_size: int | None = None, float_modules: Sequence[str] = (),
                 progress: Callable[[int, float], None] | None = None) -> torch.fx.GraphModule:
    """Quantization-aware fine-tuning of a copy of `model`, then int8 conversion.

    The loss is the task's ground-truth loss (when the task defines one) plus distillation to the
    fp32 student. Observers start from the ranges of the calibration batches (calibrate_fake_quant).
    Fine-tuning may run at a smaller `train_size` (the `batches` resolution; 4x cheaper at half the
    side): the exported graphs are static in H and W, so a graph at the export resolution is
    calibrated, its state (weights, BatchNorm statistics, observer ranges) is copied into a graph at
    the training resolution, trained, and copied back before conversion. Both graphs come from the
    same model by the same steps, so their parameter and observer names match.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    size, channels = int(example.shape[-1]), int(example.shape[1])
    train_size = train_size or size
    reference = copy.deepcopy(model).eval()
    check_module_names(model, float_modules)
    final = _prepare_qat(model, size, channels, per_channel, float_modules)
    move_exported_model_to_eval(final)
    calibrate_fake_quant(final, calibration)
    trainable = final if train_size == size else _prepare_qat(model, train_size, channels, per_channel, float_modules)
    if trainable is not final:
        trainable.load_state_dict(final.state_dict())
    move_exported_model_to_train(trainable)
    optimizer = torch.optim.Adam(trainable.parameters(), lr=settings.lr)
    has_gt_loss = True
    for step in range(settings.steps):
        batch = next(batches)
        output = trainable(batch.inputs)
        with torch.no_grad():
            target = reference(batch.inputs)
        loss = settings.distill_weight * distillation_loss(task, output, target, settings.temperature)
        if has_gt_loss:
            try:
                loss = loss + sum(task.loss(output, batch).values())
            except NotImplementedError:
                has_gt_loss = False
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step, float(loss.detach()))
    if trainable is not final:
        final.load_state_dict(trainable.state_dict())
    move_exported_model_to_eval(final)
    converted = convert_pt2e(final)
    # re-export at batch 1: the program the files are lowered from is static
    return torch.export.export(converted, (example,)).module()


class PerSample(nn.Module):
    """Runs a batch-1 program (a quantized GraphModule) over a batch, one sample at a time."""

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.program(sample) for sample in x.split(1)], 0)


def save_quantized(model: torch.fx.GraphModule, example: torch.Tensor, path) -> None:
    """The quantized program as a .pt2 (torch.export.save), written atomically."""
    import io

    from portrait_edge.edge.artifacts import write_bytes_atomic

    buffer = io.BytesIO()
    torch.export.save(torch.export.export(model, (example,)), buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_quantized(path) -> nn.Module:
    import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401  registers the quantized_decomposed ops

    from portrait_edge.errors import PortraitEdgeError

    try:
        return PerSample(torch.export.load(str(path)).module())
    except Exception as error:
        raise PortraitEdgeError(f"cannot read quantized program {path}: {type(error).__name__}: {error}") from None
