"""The Gradio Space: the teacher and the student on your photo, side by side, in the phone runtimes.

    portrait-edge demo            # or: python demo/app.py

One tab per task with shipped weights (from the task registry: a task with a shipped teacher and
student appears without editing this file), then a summary tab with the bundles' accuracy tables and
model cards. Each task tab: a photo (upload, webcam or an example), the phone runtime for the int8
student (LiteRT or ExecuTorch), and three results through portrait_edge.pipelines: teacher (PyTorch
fp32), student fp32 (PyTorch) and student int8 (the bundled file in its real runtime), each with its
model time, and how far each student is from the teacher. Label maps get a legend and class toggles,
normal maps light sliders (the photo relit from each model's normals), a task's pipeline options a
slider each (facial_shadow: the fill strength), and a task that can make its own input from a clean
photo (TaskSpec.synthesize: shadow draws a shadow over the face) shows that photo and each result's
PSNR against the original.

Pipelines load once per (role, backend, precision) and are shared by every visitor; the queue runs
at most CONCURRENCY requests at a time. Photos over MAX_PIXELS are resized first (the result says
so); a bad file or a photo without a face is a message in the UI, never a stack trace.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.tasks import all_tasks
from portrait_edge.tasks.base import TaskSpec

MAX_PIXELS = 2_000_000
CONCURRENCY = 2
RUNTIMES = {"LiteRT int8": ("litert", "int8"), "ExecuTorch int8": ("executorch", "int8")}
VARIANTS = (("teacher", "torch", "fp32"), ("student", "torch", "fp32"))


def bundled_runtimes(task: TaskSpec) -> list[str]:
    """The int8 runtimes whose file for the task is in the Android bundle (a file that failed verify is
    left out of the bundle, and out of the Space); all of RUNTIMES when none is."""
    from portrait_edge.pipelines.models import bundled_file

    present = []
    for name, (backend, precision) in RUNTIMES.items():
        try:
            bundled_file(task.id, backend, precision)
        except PortraitEdgeError:
            continue
        present.append(name)
    return present or list(RUNTIMES)


def demo_tasks() -> list[TaskSpec]:
    """Tasks whose teacher and student ship in portrait_edge/weights, in registry order."""
    from portrait_edge.edge.models import has_shipped

    return [t for t in all_tasks() if has_shipped(t.id, "teacher") and has_shipped(t.id, "student")]


class TaskDemo:
    """One task's pipelines (loaded on first use, then kept) and how its results are shown."""

    def __init__(self, task: TaskSpec) -> None:
        self.task = task
        self._pipelines: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def pipeline(self, role: str, backend: str, precision: str):
        from portrait_edge.pipelines import load_pipeline

        key = (role, backend, precision)
        with self._lock:
            if key not in self._pipelines:
                self._pipelines[key] = load_pipeline(self.task.id, role=role, backend=backend, precision=precision)
            return self._pipelines[key]

    def run(self, image: np.ndarray | None, runtime: str, shown: list[str] | None = None,
            light: tuple[float, float, float] | None = None, options: dict[str, float] | None = None,
            synthesize_seed: int | None = None) -> tuple:
        """-> (teacher view, student fp32 view, student int8 view, the photo the models saw, summary markdown).
        `light` (azimuth deg, elevation deg, intensity) relights the photo from each model's normals
        (normals tasks); `options` are the task's pipeline options (e.g. fill); with `synthesize_seed` the
        task first adds its own input to the photo (e.g. a shadow, TaskSpec.synthesize), and each result
        is compared with the original photo."""
        if image is None:
            raise PortraitEdgeError("upload a photo, take one with the webcam, or pick an example")
        image, note = fit(np.asarray(image))
        original = None
        if synthesize_seed is not None and self.task.synthesizes:
            from portrait_edge.data.landmarks import find_faces

            found = find_faces(image, max_faces=1)
            if not found:
                raise PortraitEdgeError(f"no face found in the {image.shape[1]}x{image.shape[0]} photo")
            original, image = image, self.task.synthesize(image, found[0], int(synthesize_seed))
        variants = [*VARIANTS, ("student", *RUNTIMES[runtime])]
        results = [self.pipeline(*variant)(image, **(options or {})) for variant in variants]
        views = [self.view(image, result, shown, light) for result in results]
        against_original = original is not None
        rows = ["| model | runtime | model time (ms) | whole pipeline (ms) | vs teacher |"
                + (" PSNR vs your photo |" if against_original else ""),
                "|---|---|---:|---:|---:|" + ("---:|" if against_original else "")]
        if against_original:
            rows.append(f"| input ({self.task.synthesizes} added) | - | - | - | - | {_psnr(image, original):.1f} dB |")
        for (role, backend, precision), result in zip(variants, results):
            rows.append(f"| {role} | {backend} {precision} | {result.timings_ms['model']:.1f} | "
                        f"{result.timings_ms['total']:.1f} | {self.difference(results[0], result)} |"
                        + (f" {_psnr(result.image, original):.1f} dB |" if against_original else ""))
        summary = "\n".join(([note, ""] if note else []) + rows)
        return (*views, image, summary)

    def view(self, image: np.ndarray, result, shown: list[str] | None,
             light: tuple[float, float, float] | None = None) -> np.ndarray:
        from portrait_edge.labels import CLASS_ID, overlay

        if result.labels is not None:
            labels = result.labels
            if shown is not None:
                keep = np.isin(labels, [CLASS_ID[name] for name in shown])
                labels = np.where(keep, labels, 0)
            return overlay(image, labels)
        if result.image is not None:
            return result.image
        if result.normals is not None:  # the normal map beside the photo relit from it
            from portrait_edge.pipelines.outputs import normal_map_image
            from portrait_edge.relight import relight, result_region

            azimuth, elevation, intensity = light or (45.0, 15.0, 1.0)
            relit = relight(image, result.normals, result_region(result, *image.shape[:2]), azimuth, elevation,
                            intensity=intensity)
            return np.concatenate([normal_map_image(result.normals, result.mask), relit], axis=1)
        raise PortraitEdgeError(f"{self.task.id}: nothing to show")

    @staticmethod
    def difference(reference, result) -> str:
        if result is reference:
            return "-"
        if result.labels is not None:
            x0, y0, x1, y1 = (int(v) for v in reference.face_box)
            same = (result.labels[y0:y1, x0:x1] == reference.labels[y0:y1, x0:x1]).mean()
            return f"{same * 100:.1f}% same labels (face box)"
        if result.image is not None:
            return f"{_psnr(result.image, reference.image):.1f} dB PSNR"
        if result.normals is not None:  # mean angle between the two normal maps where both see a surface
            both = result.mask & reference.mask
            if not both.any():
                return "no common surface"
            cosine = np.clip((result.normals[both] * reference.normals[both]).sum(axis=-1), -1.0, 1.0)
            return f"{np.degrees(np.arccos(cosine)).mean():.1f} deg from the teacher (mean)"
        return ""


def _psnr(image: np.ndarray, reference: np.ndarray) -> float:
    import torch

    from portrait_edge.metrics import psnr

    to_tensor = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    return float(psnr(to_tensor(image), to_tensor(reference)))


def fit(image: np.ndarray) -> tuple[np.ndarray, str]:
    """A photo within MAX_PIXELS (resized when larger) as HxWx3 uint8, and a note when it was resized."""
    from PIL import Image

    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    height, width = image.shape[:2]
    if height * width <= MAX_PIXELS:
        return image, ""
    scale = (MAX_PIXELS / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return resized, f"Your {width}x{height} photo was resized to {size[0]}x{size[1]} (the demo takes up to {MAX_PIXELS / 1e6:.0f} MP)."


def example_photos(folder: Path) -> list[Path]:
    """The real portraits that ship inside installed packages, and two renders of the synthetic engine."""
    from PIL import Image

    from portrait_edge.train.visualize import real_portraits

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in real_portraits().items():
        path = folder / f"{name}.png"
        if not path.is_file():
            Image.fromarray(image).save(path)
        paths.append(path)
    try:
        from portrait_edge.data.synth.render import render_batch

        renders = [folder / f"render_{i}.png" for i in range(2)]
        if not all(p.is_file() for p in renders):
            images = (render_batch(2, seed=5, size=384).image.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
            for path, image in zip(renders, images):
                Image.fromarray(image).save(path)
        paths += renders
    except ImportError:  # the engine needs the train extra
        pass
    return paths


def summary_markdown(task: TaskSpec) -> str:
    """The bundle's accuracy table and the model card of a task."""
    from portrait_edge.report.bundle import ANDROID_DIR

    meta_path = ANDROID_DIR / task.id / "metadata.json"
    parts = [f"## {task.title}"]
    if meta_path.is_file():
        import json

        meta = json.loads(meta_path.read_text())
        accuracy = meta.get("accuracy") or {}
        parts.append(f"Verified bundle accuracy ({accuracy.get('metric')} on {accuracy.get('test_samples')} test samples):")
        parts.append("| variant | vs ground truth | drop vs fp32 |\n|---|---:|---:|")
        for variant, row in (accuracy.get("by_variant") or {}).items():
            drop = row.get("drop")
            parts[-1] += (f"\n| {variant}{' (simulated)' if row.get('simulated') else ''} | {row.get('vs_gt') or 0:.4f} | "
                          f"{'-' if drop is None else f'{drop:+.4f}'} |")
    card = ANDROID_DIR / task.id / "MODEL_CARD.md"
    if card.is_file():
        parts.append(card.read_text().replace("\n# ", "\n### "))
    return "\n\n".join(parts)


REPORT_DIR = Path(__file__).resolve().parents[1] / "build" / "report"


def report_plots(task: TaskSpec) -> list[Path]:
    """The report's plots of a task, when `make run` has written them (build/report is not committed)."""
    return sorted(REPORT_DIR.glob(f"{task.id}_accuracy_vs_*.png"))


def build_app(examples_dir: Path | None = None):
    """The Gradio Blocks app (not launched)."""
    import tempfile

    import gradio as gr

    from portrait_edge.labels import CELEBAMASK_HQ_CLASSES, legend

    tasks = demo_tasks()
    examples = example_photos(examples_dir or Path(tempfile.gettempdir()) / "portrait-edge-examples")
    with gr.Blocks(title="portrait-edge: teacher vs student") as app:
        gr.Markdown("# portrait-edge\nThe full-size teacher and the phone-sized student on your photo. The int8 "
                    "student runs the exact file of the Android bundle in its real runtime.")
        for task in tasks:
            if task.pipeline_class:  # edits with a reference photo or a painted mask (maskedit)
                from portrait_edge.space_edit import edit_tab

                edit_tab(gr, task, examples)
                continue
            demo = TaskDemo(task)
            with gr.Tab(task.title):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo = gr.Image(label="photo", type="numpy", sources=["upload", "webcam", "clipboard"])
                        runtimes = bundled_runtimes(task)
                        runtime = gr.Radio(runtimes, value=runtimes[0], label="int8 student runtime")
                        labelled = task.output.kind == "logits"
                        shown = gr.CheckboxGroup(list(CELEBAMASK_HQ_CLASSES[1:]), value=list(CELEBAMASK_HQ_CLASSES[1:]),
                                                 label="classes shown", visible=labelled)
                        lights = []
                        if task.output.kind == "normals":  # relighting controls
                            lights = [gr.Slider(-90, 90, value=45, step=5, label="light azimuth (deg, + = from the right)"),
                                      gr.Slider(-60, 60, value=15, step=5, label="light elevation (deg, + = from above)"),
                                      gr.Slider(0, 2, value=1, step=0.1, label="light intensity")]
                        sliders = {name: gr.Slider(option.minimum, option.maximum, value=option.default,
                                                   step=(option.maximum - option.minimum) / 20, label=f"{name}: {option.meaning}")
                                   for name, option in task.pipeline_options.items()}
                        synthesize = []
                        if task.synthesizes:  # e.g. draw a shadow on a clean photo, then remove it
                            synthesize = [gr.Checkbox(value=True, label=f"add {task.synthesizes} to my photo first "
                                                                        "(then compare with the original)"),
                                          gr.Number(value=1, precision=0, label=f"{task.synthesizes}: seed")]
                        button = gr.Button("Run", variant="primary")
                        if labelled:
                            gr.Image(legend(), label="legend", interactive=False)
                    with gr.Column(scale=3):
                        with gr.Row():
                            outputs = [gr.Image(label=name, interactive=False)
                                       for name in ("teacher (PyTorch fp32)", "student (PyTorch fp32)", "student int8 (phone runtime)")]
                        seen = gr.Image(label=f"the photo with {task.synthesizes}, as the models saw it",
                                        interactive=False, visible=bool(task.synthesizes))
                        compare = ([gr.ImageSlider(label="before | after: the photo the models saw | student int8 "
                                                         "(drag the handle)", interactive=False, type="numpy")]
                                   if task.before_after else [])
                        summary = gr.Markdown()
                gr.Examples([[str(p)] for p in examples], inputs=[photo])

                def handler(image, runtime_name, classes, *controls, demo=demo, n_lights=len(lights),
                            option_names=tuple(sliders)):
                    light = tuple(controls[:n_lights]) or None
                    options = dict(zip(option_names, controls[n_lights:n_lights + len(option_names)]))
                    synthesize = controls[n_lights + len(option_names):]
                    seed = int(synthesize[1] or 0) if synthesize and synthesize[0] else None
                    try:
                        views = demo.run(image, runtime_name, classes, light, options, seed)
                    except PortraitEdgeError as error:
                        raise gr.Error(str(error)) from None
                    return (*views, (views[3], views[2])) if demo.task.before_after else views

                button.click(handler, inputs=[photo, runtime, shown, *lights, *sliders.values(), *synthesize],
                             outputs=[*outputs, seen, summary, *compare], api_name=f"run_{task.id}",
                             concurrency_limit=CONCURRENCY)
        with gr.Tab("Summary"):
            if not tasks:
                gr.Markdown("No task has shipped weights yet.")
            for task in tasks:
                gr.Markdown(summary_markdown(task))
                plots = report_plots(task)
                if plots:
                    gr.Gallery([str(p) for p in plots], label=f"{task.id}: accuracy vs latency and size (build/report)",
                               columns=2, height="auto")
    return app


def launch(host: str = "127.0.0.1", port: int | None = None, share: bool = False, block: bool = True):
    app = build_app()
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=32)
    return app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                      show_error=True, max_file_size="25mb")
