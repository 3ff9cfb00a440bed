"""Inference on any photo: the one path used by `portrait-edge apply`, the Space, the tests and evaluation.

    from portrait_edge.pipelines import load_pipeline
    pipe = load_pipeline("parsing", role="student", backend="torch")   # backend torch | litert | executorch
    result = pipe(image)            # image: HxWx3 uint8 RGB of any size
    result.labels, result.face_box, result.timings_ms
"""

from portrait_edge.pipelines.pipeline import (FaceResult, NoFaceInPhotoError, Pipeline, PipelineResult,
                                              load_pipeline)

__all__ = ["FaceResult", "NoFaceInPhotoError", "Pipeline", "PipelineResult", "load_pipeline"]
