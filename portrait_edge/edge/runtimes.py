"""One interface over the runtimes: a Runner takes NCHW float32 and returns NCHW float32.

    TorchRunner      a PyTorch module (eager)
    ExecuTorchRunner a .pte through executorch.runtime.Runtime (XNNPACK delegate)
    LiteRTRunner     a .tflite through ai_edge_litert.interpreter.Interpreter (XNNPACK delegate);
                     converts to the file's NHWC layout and quantizes int8 I/O with the file's own
                     scale and zero point
    CoreMLRunner     an .mlpackage through coremltools (macOS only)

Exported files have batch 1, so runners loop over the batch. `invoke_once()` runs one prepared
sample, with no conversion, for latency measurements.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from portrait_edge.errors import NotAvailableError, PortraitEdgeError


class Runner:
    runtime: str = ""

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[0] == 1:
            return self.run_one(inputs.float())
        return torch.cat([self.run_one(sample[None]) for sample in inputs.float()], 0)

    def run_one(self, sample: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, sample: torch.Tensor) -> None:
        """Holds one sample ready for invoke_once()."""
        self._prepared = sample

    def invoke_once(self) -> None:
        self.run_one(self._prepared)


class TorchRunner(Runner):
    runtime = "pytorch"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(inputs.float()).float()

    def run_one(self, sample: torch.Tensor) -> torch.Tensor:
        return self(sample)


def check_pte_header(path: Path) -> None:
    """A .pte is a flatbuffer with the 'ET' file identifier at byte 4; the runtime aborts the process
    on some malformed files instead of raising, so reject obviously wrong files first."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) < 16 or head[4:6] != b"ET":
        raise PortraitEdgeError(f"{path} is not an ExecuTorch program (.pte): wrong file header")


def set_executorch_threads(threads: int) -> None:
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(int(threads))


class ExecuTorchRunner(Runner):
    runtime = "executorch"

    def __init__(self, path: Path | str) -> None:
        from executorch.runtime import Runtime

        self.path = Path(path)
        if not self.path.is_file():
            raise PortraitEdgeError(f"model file {self.path} does not exist")
        check_pte_header(self.path)
        try:
            self.program = Runtime.get().load_program(self.path)
            self.method = self.program.load_method("forward")
        except Exception as error:
            raise PortraitEdgeError(f"cannot load {self.path}: corrupt or not a .pte ({error})") from None
        meta = self.method.metadata
        self.input_shape = tuple(meta.input_tensor_meta(0).sizes())
        self.output_shape = tuple(meta.output_tensor_meta(0).sizes())

    def run_one(self, sample: torch.Tensor) -> torch.Tensor:
        if tuple(sample.shape) != self.input_shape:
            raise PortraitEdgeError(f"{self.path.name} takes {list(self.input_shape)}, got {list(sample.shape)}")
        return self.method.execute([sample.contiguous()])[0].clone()

    def prepare(self, sample: torch.Tensor) -> None:
        self._prepared = [sample.contiguous()]

    def invoke_once(self) -> None:
        self.method.execute(self._prepared)


class LiteRTRunner(Runner):
    runtime = "litert"

    def __init__(self, path: Path | str, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise PortraitEdgeError(f"model file {self.path} does not exist")
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=int(threads))
            self.interpreter.allocate_tensors()
        except Exception as error:
            raise PortraitEdgeError(f"cannot load {self.path}: corrupt or not a .tflite ({error})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def _to_input(self, sample: torch.Tensor) -> np.ndarray:
        array = sample.permute(0, 2, 3, 1).numpy()
        if tuple(array.shape) != tuple(self.input["shape"]):
            raise PortraitEdgeError(f"{self.path.name} takes NHWC {list(self.input['shape'])}, got {list(array.shape)}")
        dtype = np.dtype(self.input["dtype"])
        scale, zero_point = self.input["quantization"]
        if dtype.kind == "i" and scale:
            info = np.iinfo(dtype)
            array = np.clip(np.round(array / scale + zero_point), info.min, info.max)
        return np.ascontiguousarray(array.astype(dtype))

    def _from_output(self, array: np.ndarray) -> torch.Tensor:
        """NHWC output -> NCHW float32 (a channels-last view: no copy beyond the dequantization)."""
        scale, zero_point = self.output["quantization"]
        out = array.astype(np.float32)  # a copy: the interpreter reuses its buffer
        if np.dtype(self.output["dtype"]).kind == "i" and scale:
            out -= zero_point
            out *= scale
        return torch.from_numpy(out).permute(0, 3, 1, 2)

    def run_one(self, sample: torch.Tensor) -> torch.Tensor:
        self.interpreter.set_tensor(self.input["index"], self._to_input(sample))
        self.interpreter.invoke()
        return self._from_output(self.interpreter.get_tensor(self.output["index"]))

    def prepare(self, sample: torch.Tensor) -> None:
        self.interpreter.set_tensor(self.input["index"], self._to_input(sample))

    def invoke_once(self) -> None:
        self.interpreter.invoke()


class CoreMLRunner(Runner):
    runtime = "coreml"

    def __init__(self, path: Path | str) -> None:
        from portrait_edge.edge.export_coreml import can_predict

        if not can_predict():
            raise NotAvailableError("Core ML prediction needs macOS")
        import coremltools as ct

        self.path = Path(path)
        self.model = ct.models.MLModel(str(self.path))

    def run_one(self, sample: torch.Tensor) -> torch.Tensor:
        from portrait_edge.edge.export_coreml import INPUT_NAME, OUTPUT_NAME

        out = self.model.predict({INPUT_NAME: sample.numpy().astype(np.float32)})[OUTPUT_NAME]
        return torch.from_numpy(np.asarray(out, dtype=np.float32))


def open_runner(path: Path | str, threads: int = 2) -> Runner:
    """The runner for a model file, by extension."""
    path = Path(path)
    if path.suffix == ".pte":
        set_executorch_threads(threads)
        return ExecuTorchRunner(path)
    if path.suffix == ".tflite":
        return LiteRTRunner(path, threads)
    if path.suffix == ".mlpackage":
        return CoreMLRunner(path)
    raise PortraitEdgeError(f"{path}: unknown model file type (expected .pte, .tflite or .mlpackage)")
