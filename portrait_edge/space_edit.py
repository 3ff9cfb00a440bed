"""The Space's tab for tasks that edit a photo by a mask (maskedit): pick a photo and a reference photo,
choose the parts to change or restyle, glasses on/off, or paint on the photo's mask; see the teacher,
the student and the int8 student's edits, the masks, and how well each edit follows its target mask
(mask fidelity: mIoU of the parsing teacher on the edited face against the target mask).

Painting: "show my photo's mask" puts the face's mask (class colours, 4x) into the editor; paint with
the class colours of the legend, then Run with "use my painted mask". Colours are read back as the
nearest class colour.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.labels import PALETTE, colourise
from portrait_edge.space import CONCURRENCY, RUNTIMES, VARIANTS, TaskDemo, bundled_runtimes, fit
from portrait_edge.tasks.base import TaskSpec

PAINT_SCALE = 4
NO_GLASSES_CHANGE = "leave as they are"


def mask_picture(labels: np.ndarray, scale: int = PAINT_SCALE) -> np.ndarray:
    """Class ids -> their colours, each pixel repeated scale x scale (a canvas to paint on)."""
    return colourise(labels).repeat(scale, 0).repeat(scale, 1)


def labels_from_picture(picture: np.ndarray, size: int) -> np.ndarray:
    """A painted mask picture (any size, RGB or RGBA) -> size x size class ids: the nearest class colour
    of each pixel, read at the centre of each of the size x size cells."""
    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[2] < 3:
        raise PortraitEdgeError("the painted mask must be a colour picture")
    rows = ((np.arange(size) + 0.5) * picture.shape[0] / size).astype(int)
    cols = ((np.arange(size) + 0.5) * picture.shape[1] / size).astype(int)
    cells = picture[rows][:, cols, :3].astype(np.int32)
    distance = ((cells[:, :, None, :] - PALETTE[None, None].astype(np.int32)) ** 2).sum(-1)
    return distance.argmin(-1).astype(np.int64)


class EditDemo(TaskDemo):
    def source_mask(self, image: np.ndarray | None) -> np.ndarray:
        """The photo's face mask as a picture to paint on (the student's parser)."""
        if image is None:
            raise PortraitEdgeError("upload a photo first")
        image, _ = fit(np.asarray(image))
        pipe = self.pipeline("student", "torch", "fp32")
        return mask_picture(pipe.source_mask(image))

    def run_edit(self, image: np.ndarray | None, reference: np.ndarray | None, runtime: str, change: list[str],
                 style: list[str], glasses: str, painted: Any = None) -> tuple:
        """-> (teacher edit, student fp32 edit, student int8 edit, masks picture, summary markdown)."""
        from portrait_edge.tasks.maskedit import mask_fidelity

        if image is None:
            raise PortraitEdgeError("upload a photo (and a reference photo to take parts from), or pick an example")
        image, note = fit(np.asarray(image))
        reference = fit(np.asarray(reference))[0] if reference is not None else None
        request: dict[str, Any] = {"change": change or [], "style": style or [],
                                   "glasses": None if glasses in (None, NO_GLASSES_CHANGE) else glasses}
        if painted is not None:
            request["target_mask"] = labels_from_picture(painted, self.pipeline("student", "torch", "fp32").size)
        if reference is not None and (request["change"] or request["style"]):
            request["reference"] = reference
        variants = [*VARIANTS, ("student", *RUNTIMES[runtime])]
        results = [self.pipeline(*variant)(image, **request) for variant in variants]
        rows = ["| model | runtime | model time (ms) | whole pipeline (ms) | mask fidelity (mIoU vs target mask) |",
                "|---|---|---:|---:|---:|"]
        for (role, backend, precision), result in zip(variants, results):
            fidelity = mask_fidelity(result.extra["edited_crop"], result.extra["target_mask"])
            rows.append(f"| {role} | {backend} {precision} | {result.timings_ms['model']:.1f} | "
                        f"{result.timings_ms['total']:.1f} | {fidelity:.3f} |")
        first = results[0].extra
        masks = np.concatenate([mask_picture(first["source_mask"], 2), mask_picture(first["target_mask"], 2)], 1)
        summary = "\n".join(([note, ""] if note else []) + ["source mask | target mask (the teacher's parse)", ""] + rows)
        return (*(r.image for r in results), masks, summary)


def edit_tab(gr, task: TaskSpec, examples: list) -> None:
    """The tab's components and events (inside a gr.Blocks)."""
    from portrait_edge.labels import legend
    from portrait_edge.pipelines.maskedit import PARTS

    demo = EditDemo(task)
    with gr.Tab(task.title):
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(label="photo to edit", type="numpy", sources=["upload", "webcam", "clipboard"])
                reference = gr.Image(label="reference photo (parts to take)", type="numpy",
                                     sources=["upload", "webcam", "clipboard"])
                runtimes = bundled_runtimes(task)
                runtime = gr.Radio(runtimes, value=runtimes[0], label="int8 student runtime")
                change = gr.CheckboxGroup([p for p in PARTS if p != "skin"], label="change the shape of (from the reference)")
                style = gr.CheckboxGroup(list(PARTS), label="copy the colour and texture of (from the reference)")
                glasses = gr.Radio([NO_GLASSES_CHANGE, "on", "off"], value=NO_GLASSES_CHANGE, label="glasses")
                button = gr.Button("Run", variant="primary")
            with gr.Column(scale=3):
                with gr.Row():
                    outputs = [gr.Image(label=name, interactive=False)
                               for name in ("teacher (PyTorch fp32)", "student (PyTorch fp32)", "student int8 (phone runtime)")]
                masks = gr.Image(label="source mask | target mask", interactive=False)
                summary = gr.Markdown()
                with gr.Accordion("paint the target mask", open=False):
                    show = gr.Button("show my photo's mask")
                    painter = gr.ImageEditor(label="mask (paint with the legend's colours)", type="numpy",
                                             brush=gr.Brush(colors=[f"#{r:02x}{g:02x}{b:02x}" for r, g, b in PALETTE],
                                                            color_mode="fixed"))
                    use_painted = gr.Checkbox(value=False, label="use my painted mask")
                    gr.Image(legend(), label="legend", interactive=False)
        gr.Examples([[str(p)] for p in examples], inputs=[photo])
        gr.Examples([[str(p)] for p in examples], inputs=[reference], label="reference examples")

        def handler(image, ref, runtime_name, change_parts, style_parts, glasses_choice, painted, use):
            picture = (painted or {}).get("composite") if use else None
            try:
                return demo.run_edit(image, ref, runtime_name, change_parts, style_parts, glasses_choice, picture)
            except PortraitEdgeError as error:
                raise gr.Error(str(error)) from None

        def mask_handler(image):
            try:
                return demo.source_mask(image)
            except PortraitEdgeError as error:
                raise gr.Error(str(error)) from None

        button.click(handler, inputs=[photo, reference, runtime, change, style, glasses, painter, use_painted],
                     outputs=[*outputs, masks, summary], api_name=f"run_{task.id}", concurrency_limit=CONCURRENCY)
        show.click(mask_handler, inputs=[photo], outputs=[painter], api_name=f"mask_{task.id}")
