"""Core ML: torch.export -> coremltools.convert -> .mlpackage (ML program), and its compressed forms.

Variants (precision names used across the package):
    fp16   the converted program, float16 weights and compute (float32 I/O)
    int8w  fp16 + per-channel symmetric int8 weights (coremltools.optimize linear_quantize_weights)
    pal6   fp16 + 6-bit k-means palettized weights, one table per tensor (palettize_weights)

Core ML prediction needs macOS. On Linux this module checks the saved program (ops, I/O names,
shapes, metadata) and simulates each compression in torch for accuracy: the same weight transform,
computed by coremltools' own numpy routines on the BatchNorm-folded weights, then fp16 inference.
Those numbers are labelled "simulated" everywhere they appear.
"""

from __future__ import annotations

import copy
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from portrait_edge.staging import publish, staging_folder
from portrait_edge.tasks.base import TaskSpec

INPUT_NAME = "input"
OUTPUT_NAME = "output"
AUTHOR = "portrait-edge developers"
LICENSE = "Apache-2.0"
PALETTE_BITS = {"pal6": 6}


def can_predict() -> bool:
    """Core ML predict() runs only on macOS."""
    return platform.system() == "Darwin"


def _describe_inputs(task: TaskSpec) -> str:
    parts = [f"{g.name}[{g.channels}] {g.description}" for g in task.inputs]
    return "NCHW float32, channels: " + "; ".join(parts)


def convert_fp16(model: nn.Module, example: torch.Tensor, minimum_target: str = "iOS17"):
    """The fp16 ML program of an eval-mode model (an MLModel object, not saved)."""
    import coremltools as ct

    exported = torch.export.export(model, (example,)).run_decompositions({})
    return ct.convert(
        exported,
        inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example.shape), dtype=np.float32)],
        outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT16,
        minimum_deployment_target=getattr(ct.target, minimum_target),
    )


def compress(mlmodel, precision: str, weight_threshold: int):
    """fp16 -> int8w or pal6 with coremltools.optimize.coreml."""
    import coremltools.optimize as cto

    if precision == "fp16":
        return mlmodel
    if precision == "int8w":
        config = cto.coreml.OptimizationConfig(global_config=cto.coreml.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=weight_threshold))
        return cto.coreml.linear_quantize_weights(mlmodel, config)
    if precision in PALETTE_BITS:
        config = cto.coreml.OptimizationConfig(global_config=cto.coreml.OpPalettizerConfig(
            nbits=PALETTE_BITS[precision], mode="kmeans", granularity="per_tensor", weight_threshold=weight_threshold))
        return cto.coreml.palettize_weights(mlmodel, config)
    raise ValueError(f"unknown Core ML precision {precision!r}")


def set_metadata(mlmodel, task: TaskSpec, precision: str, version: str, extra: dict[str, str]) -> None:
    mlmodel.author = AUTHOR
    mlmodel.license = LICENSE
    mlmodel.version = version
    mlmodel.short_description = f"{task.title} (portrait-edge {task.id} student, {precision})"
    mlmodel.input_description[INPUT_NAME] = _describe_inputs(task)
    out = task.output
    mlmodel.output_description[OUTPUT_NAME] = (f"NCHW float32, {out.name}[{out.channels}]: {out.description}")
    metadata = {"task": task.id, "role": "student", "precision": precision, "layout": "NCHW",
                "input_range": f"{task.inputs[0].value_range[0]}..{task.inputs[0].value_range[1]}", **extra}
    if task.class_names:
        metadata["labels"] = ",".join(task.class_names)
    for key, value in metadata.items():
        mlmodel.user_defined_metadata[key] = str(value)


def export_mlpackage(model: nn.Module, example: torch.Tensor, path: Path | str, task: TaskSpec,
                     precisions: tuple[str, ...], version: str, weight_threshold: int = 512,
                     minimum_target: str = "iOS17", extra_metadata: dict[str, str] | None = None) -> dict[str, Path]:
    """Writes <stem>_<precision>.mlpackage for every precision; converts once. Returns the paths."""
    path = Path(path)
    base = convert_fp16(model, example, minimum_target)
    written: dict[str, Path] = {}
    for precision in precisions:
        mlmodel = compress(base, precision, weight_threshold)
        set_metadata(mlmodel, task, precision, version, extra_metadata or {})
        target = path.with_name(f"{path.name}_{precision}.mlpackage")
        with staging_folder(target, "coreml") as built:
            package = built / target.name  # coremltools wants the .mlpackage name
            mlmodel.save(str(package))
            make_reproducible(package)
            publish(package, target, lambda existing: None)
        written[precision] = target
    return written


STRAY_FILES = ("executorch_debug_handle_mapping.json",)  # written by coremltools' torch.export path; not the model


def make_reproducible(package: Path) -> None:
    """The same model saves to the same bytes: stray debug files removed, and the random item ids of
    Manifest.json replaced by ids derived from each item's path (uuid5), so rebuilding the bundles from
    the same checkpoint gives the same sha256."""
    import json
    import uuid

    for name in STRAY_FILES:
        (package / name).unlink(missing_ok=True)
    manifest_path = package / "Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    renamed = {old: str(uuid.uuid5(uuid.NAMESPACE_URL, f"portrait-edge:{entry['path']}"))
               for old, entry in manifest["itemInfoEntries"].items()}
    manifest["itemInfoEntries"] = {renamed[old]: entry for old, entry in manifest["itemInfoEntries"].items()}
    manifest["rootModelIdentifier"] = renamed.get(manifest["rootModelIdentifier"], manifest["rootModelIdentifier"])
    manifest_path.write_text(json.dumps(manifest, indent=4, sort_keys=True) + "\n")


# ---- inspection on any OS ---------------------------------------------------------------------------
def inspect_mlpackage(path: Path | str) -> dict[str, Any]:
    """What the saved program holds: ops, I/O names/shapes/types, metadata, compressed-weight ops."""
    import coremltools as ct

    from portrait_edge.errors import PortraitEdgeError

    path = Path(path)
    try:
        spec = ct.utils.load_spec(str(path))
    except Exception as error:
        raise PortraitEdgeError(f"cannot read Core ML package {path}: {type(error).__name__}: {error}") from None
    ops: dict[str, int] = {}
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] = ops.get(op.type, 0) + 1

    def feature(f) -> dict[str, Any]:
        array = f.type.multiArrayType
        return {"name": f.name, "shape": list(array.shape),
                "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType),
                "description": f.shortDescription}

    description = spec.description
    meta = description.metadata
    return {
        "model_type": spec.WhichOneof("Type"),
        "spec_version": spec.specificationVersion,
        "inputs": [feature(f) for f in description.input],
        "outputs": [feature(f) for f in description.output],
        "ops": dict(sorted(ops.items())),
        "compressed_weight_ops": {k: v for k, v in ops.items() if k.startswith("constexpr_")},
        "metadata": {"author": meta.author, "license": meta.license, "version": meta.versionString,
                     "short_description": meta.shortDescription, **dict(meta.userDefined)},
    }


def predict_mlpackage(path: Path | str, inputs: np.ndarray) -> np.ndarray:
    """Core ML prediction (macOS only)."""
    import coremltools as ct

    from portrait_edge.errors import NotAvailableError

    if not can_predict():
        raise NotAvailableError("Core ML prediction needs macOS")
    model = ct.models.MLModel(str(path))
    return model.predict({INPUT_NAME: inputs.astype(np.float32)})[OUTPUT_NAME]


# ---- simulation in torch -------------------------------------------------------------------------
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy with every BatchNorm2d that directly follows a Conv2d in an nn.Sequential folded into it
    (what Core ML's converter does before compressing weights)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                weight = conv.weight.detach() * scale.reshape(-1, 1, 1, 1)
                bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
                bias = (bias - bn.running_mean) * scale + bn.bias.detach()
                conv.weight = nn.Parameter(weight)
                conv.bias = nn.Parameter(bias)
                module._modules[second] = nn.Identity()
    return model


def _compress_weight(weight: np.ndarray, precision: str) -> np.ndarray:
    from coremltools.optimize.coreml._quantization_passes import linear_quantize_weights, palettize_weights

    if precision == "int8w":
        block_sizes = [1] + [0] * (weight.ndim - 1)  # per output channel
        params = linear_quantize_weights.blockwise_compress(weight, 8, "LINEAR_SYMMETRIC", True, block_sizes)
        return linear_quantize_weights.decompress(params)
    if precision in PALETTE_BITS:
        params = palettize_weights.blockwise_compress(weight, "KMEANS", PALETTE_BITS[precision], [0] * weight.ndim)
        return palettize_weights.decompress(params)
    raise ValueError(precision)


class _Float16(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def simulate(model: nn.Module, precision: str, weight_threshold: int = 512) -> nn.Module:
    """A torch model that computes what the Core ML variant computes, up to fp16 kernel differences:
    BatchNorm folded, conv weights with more than `weight_threshold` elements compressed as Core ML
    does, everything run in float16."""
    folded = fold_batchnorm(model)
    if precision != "fp16":
        for module in folded.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and module.weight.numel() > weight_threshold:
                weight = module.weight.detach().half().float().numpy()
                module.weight = nn.Parameter(torch.from_numpy(_compress_weight(weight, precision).astype(np.float32)))
    return _Float16(folded).eval()
