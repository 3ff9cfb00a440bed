"""One photo in, the task's result on the whole photo out: detect, frame, crop, run, paste back.

    pipe = load_pipeline("parsing", role="student", backend="litert", precision="int8")
    result = pipe(image)            # HxWx3 uint8 RGB, any size and aspect ratio
    result.labels                   # HxW uint8 class ids (parsing)
    result.faces                    # every face processed (the largest only, unless faces="all")
    load_pipeline("facial_shadow", fill=0.5)(image).image   # a task's options (TaskSpec.pipeline_options)

Steps, timed in result.timings_ms: "detect" (MediaPipe Face Mesh, portrait_edge.data.landmarks.find_faces),
"crop" (portrait_edge.framing: the one framing of training and the bundles, resized to the model's
size), "model" (the task's inputs, the runtime), "paste" (portrait_edge.pipelines.paste).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from portrait_edge import framing
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.io import to_tensor
from portrait_edge.pipelines.models import LoadedRunner, load_runner
from portrait_edge.pipelines.paste import paste_image, paste_labels, paste_normals
from portrait_edge.tasks import get_task
from portrait_edge.tasks.base import TaskSpec


class NoFaceInPhotoError(PortraitEdgeError):
    """The pipeline found no face to work on."""


@dataclass
class FaceResult:
    """One processed face: its landmark box and framing square (photo pixels) and the crop's raw output."""

    face_box: tuple[float, float, float, float]
    square: framing.Square
    landmarks: np.ndarray          # [478, 3] in photo pixels
    output: torch.Tensor           # the model's output for the crop [1, C, S, S]
    crop: torch.Tensor | None = None  # the RGB crop the model saw [1, 3, S, S] in [0, 1]


@dataclass
class PipelineResult:
    task: str
    face_box: tuple[float, float, float, float]      # the (largest) face's landmark box, photo pixels
    faces: list[FaceResult]
    timings_ms: dict[str, float]
    labels: np.ndarray | None = None                 # label tasks: HxW uint8 class ids
    image: np.ndarray | None = None                  # image tasks: HxWx3 uint8, the edit pasted back
    normals: np.ndarray | None = None                # normals: HxWx3 float32 unit vectors
    mask: np.ndarray | None = None                   # normals: HxW bool, where there is a surface
    extra: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """A task's model with the detection, framing and paste-back it needs. Load once, call per photo."""

    def __init__(self, task: TaskSpec, loaded: LoadedRunner, role: str, backend: str, precision: str,
                 size: int | None = None, options: dict[str, Any] | None = None) -> None:
        self.task, self.loaded = task, loaded
        self.role, self.backend, self.precision = role, backend, precision
        self.size = int(size or loaded.card.get("trained_resolution") or _file_size(loaded) or task.resolution)
        self.options = checked_options(task, options or {})  # the task's options for every call (a call may override)

    def __repr__(self) -> str:
        return (f"Pipeline({self.task.id!r}, role={self.role!r}, backend={self.backend!r}, "
                f"precision={self.precision!r}, size={self.size}, source={self.loaded.source!r})")

    def __call__(self, image: np.ndarray, faces: str = "largest", **options: Any) -> PipelineResult:
        from portrait_edge.data.landmarks import MAX_FACES, find_faces

        options = {**self.options, **checked_options(self.task, options)}
        if faces not in ("largest", "all"):
            raise PortraitEdgeError(f"faces must be 'largest' or 'all', not {faces!r}")
        image = _as_rgb(image)
        timings = {"detect": 0.0, "crop": 0.0, "model": 0.0, "paste": 0.0}
        started = time.perf_counter()
        found = find_faces(image, max_faces=MAX_FACES if faces == "all" else 1)
        timings["detect"] = _ms(started)
        if not found:
            raise NoFaceInPhotoError(f"no face found in the {image.shape[1]}x{image.shape[0]} photo (the "
                                     "networks need a visible, roughly frontal face)")
        results = [self._one_face(image, points, options, timings) for points in found]
        started = time.perf_counter()
        out = self._paste(image, results, options)
        timings["paste"] = _ms(started)
        timings["total"] = sum(timings.values())
        return PipelineResult(self.task.id, results[0].face_box, results, {k: round(v, 2) for k, v in timings.items()},
                              **out)

    def _one_face(self, image: np.ndarray, landmarks: np.ndarray, options: dict[str, Any],
                  timings: dict[str, float]) -> FaceResult:
        started = time.perf_counter()
        box = framing.face_box(landmarks)
        square = framing.square_from_box(box)
        crop, _ = framing.crop(image, square, self.size)
        pixels = to_tensor(crop)
        inputs = self.task.pipeline_inputs(pixels, framing.to_crop(landmarks, square, self.size), options)
        timings["crop"] += _ms(started)
        started = time.perf_counter()
        output = self.loaded.runner(inputs.contiguous())
        timings["model"] += _ms(started)
        return FaceResult(box, square, landmarks, output, pixels)

    def _paste(self, image: np.ndarray, results: list[FaceResult], options: dict[str, Any]) -> dict[str, Any]:
        """Every face's output onto the photo, smallest face first (the largest wins where they overlap)."""
        kind = self.task.output.kind
        height, width = image.shape[:2]
        ordered = results[::-1]
        if kind == "logits":
            labels = np.zeros((height, width), np.uint8)
            for face in ordered:
                pasted = paste_labels(face.output, face.square, height, width, fill=255)
                labels = np.where(pasted != 255, pasted, labels)
            return {"labels": labels}
        if kind == "rgb":
            edited = image
            for face in ordered:
                region = self.task.paste_region(framing.to_crop(face.landmarks, face.square, self.size), self.size,
                                                options)
                edited = paste_image(face.output, face.square, edited, region=region, reference=face.crop)
            return {"image": edited}
        if kind == "normals":
            normals, mask = np.zeros((height, width, 3), np.float32), np.zeros((height, width), bool)
            for face in ordered:
                n, m = paste_normals(face.output, face.square, height, width)
                normals, mask = np.where(m[..., None], n, normals), mask | m
            return {"normals": normals, "mask": mask}
        raise PortraitEdgeError(f"task {self.task.id!r}: no paste-back for outputs of kind {kind!r}")


def load_pipeline(task: str, role: str = "student", backend: str = "torch", precision: str = "fp32",
                  checkpoint: str | Path | None = None, model_file: str | Path | None = None,
                  threads: int = 2, **options: Any) -> Pipeline:
    """The inference pipeline of a task: the shipped weights (or `checkpoint`) in PyTorch, or the
    bundled phone file (or `model_file`) in its real runtime. `options` are the task's own
    (TaskSpec.pipeline_options, e.g. fill=0.5 for facial_shadow), used by every call unless the call
    gives them again. See the module docstring."""
    spec = get_task(task)
    checked_options(spec, options)  # before loading anything
    loaded = load_runner(spec.id, role, backend, precision, checkpoint, model_file, threads)
    cls = Pipeline
    if spec.pipeline_class:  # a task with its own calls (maskedit: a reference photo, edits)
        import importlib

        module, name = spec.pipeline_class.split(":")
        cls = getattr(importlib.import_module(module), name)
    return cls(spec, loaded, role, backend, precision, options=options)


def checked_options(task: TaskSpec, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(task.pipeline_options))
    if unknown:
        raise PortraitEdgeError(f"{task.id} takes no option {', '.join(unknown)}"
                                f" (its options: {', '.join(task.pipeline_options) or 'none'})")
    for name in options:  # values out of range fail here, before any photo is read
        task.option_value(name, options)
    return dict(options)


def _file_size(loaded: LoadedRunner) -> int | None:
    shape = (loaded.card.get("input") or {}).get("shape")
    if shape and len(shape) == 4:
        return int(shape[2] if loaded.card.get("layout") == "NCHW" else shape[1])
    return None


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise PortraitEdgeError(f"expected an HxWx3 RGB image, got an array of shape {tuple(array.shape)}")
    if array.dtype != np.uint8:
        raise PortraitEdgeError(f"expected uint8 pixels (0..255), got {array.dtype}; read photos with "
                                "portrait_edge.io.read_image")
    return np.ascontiguousarray(array[..., :3])


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
