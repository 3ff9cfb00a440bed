"""Model cards: a human-readable <checkpoint>.md beside each shipped checkpoint, made from its JSON card.

    python -m portrait_edge.train.model_card portrait_edge/weights/parsing_*.safetensors

Says what the model is, what it was trained on (every data source, with the upstream licences of the
real photos, from the card's data section), what it is for, its known limits, and its metrics with the
split and the number of samples each was measured on. The limits come from `LIMITS` (per task, kept
with the code that knows them) plus the licence rule: weights trained on research / non-commercial
photos inherit those terms.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from portrait_edge.train.checkpoint import load_checkpoint

INTENDED_USE = {
    "parsing": "19-class face parsing (CelebAMask-HQ classes) of one framed face (portrait_edge.framing), "
               "as the mask source for portrait edits in research prototypes and demos.",
    "normals": "Camera-space normal map (x right, y up, z toward the camera) of one framed face from RGB + the "
               "two Face Mesh landmark channels, for relighting portraits (portrait_edge.relight) in research "
               "prototypes and demos.",
    "shadow": "Removing foreign shadows (hands, leaves, hat brims, objects) cast on one framed face "
              "(portrait_edge.framing), pasted back onto the photo, in research prototypes and demos.",
    "facial_shadow": "Softening the self-shadows of one framed face with a fill light whose strength is an input "
                     "(0 = none, 1 = full), pasted back onto the photo, in research prototypes and demos.",
    "maskedit": "Re-rendering one framed face to follow an edited parsing mask (a part's shape from another face, "
                "glasses on/off, a part's colour from another face, a painted mask), pasted back where the mask "
                "changed, in research prototypes and demos.",
    "retouch": "Removing small skin blemishes (acne, pimples, dark spots, redness, small scars) from one framed "
               "face, pasted back onto the face only (the Face Mesh surface), in research prototypes and demos.",
}
LIMITS = {
    "parsing": [
        "Real-photo quality has not been measured against human labels: the project has no labelled real "
        "photos. Its real-photo number is agreement with pseudo-labels (Face Mesh for the inner face, selfie "
        "segmentation for person vs background, a renders-trained teacher for hair, ears, neck, cloth, hats), "
        "a proxy that rewards copying those sources, including their mistakes.",
        "Inner-face classes are learned mostly from Face Mesh outlines on real photos, so they cannot be much "
        "better than Face Mesh; outer classes from a teacher trained on renders (hair vs cloth vs hat are "
        "often confused on dark clothes and hair tops).",
        "Training photos are mostly East Asian adults and children (All-Age-Faces, SCUT) plus UTKFace's "
        "mixed ages and ethnicities and GAN faces; other groups, profiles beyond ~45 deg yaw, heavy makeup "
        "and occlusions are under-represented.",
    ],
    "normals": [
        "Ground-truth normals exist only for the synthetic renders: the metrics are on the engine's test split. "
        "On real photos nothing is measured (no real normal maps or photometric-stereo captures here); the "
        "student learns real photos only by copying a renders-trained teacher's output on them.",
        "Backgrounds, hair and clothes get surfaces too (the network is not a segmenter): use `result.mask` "
        "or the Face Mesh hull, as portrait_edge.relight does.",
        "Faces Face Mesh cannot find (profiles beyond ~45 deg yaw, heavy occlusion) get no landmark channels, "
        "and the error roughly doubles without them (the landmark ablation in the README).",
    ],
    "shadow": [
        "The shipped cpu-quick models are weak: on the engine's test split and on real-photo composites they "
        "recover about 0.5-1 dB of PSNR inside the shadows, lighten shadows a little and leave them visible "
        "(README, 'Shadow removal'); they show the pipeline end to end, not a usable shadow remover. The "
        "full-size recipe (training/shadow/teacher.gpu-full.yaml) needs a GPU.",
        "Trained and measured on synthetic shadows only: composites I = I_lit (1 - M) + I_shadow M on real photos "
        "(the seed-000 method) and engine renders. Real cast shadows differ (colour, softness, occluder "
        "geometry, interreflection); no real shadow / shadow-free pairs were available to measure them.",
        "Self-shadows of the face (nose, eye sockets) are not foreign shadows and are meant to stay; very dark "
        "shadows that clip the photo to black cannot be recovered.",
        "Training photos are mostly East Asian adults and children (All-Age-Faces, SCUT), UTKFace's mixed ages "
        "and ethnicities, GAN faces and CelebA celebrities.",
    ],
    "facial_shadow": [
        "Trained and measured on the engine's renders only (harsh key light vs key + fill): no real photo "
        "pairs exist, and relit real photos were not tried. On real photos the fill is faint on the skin and "
        "dark hair can turn darker or greyer at strong fills (README, 'Facial shadows').",
        "The fill comes from the side opposite the key light as the engine places it; the network has to "
        "guess that side from the photo.",
    ],
    "retouch": [
        "Trained and measured on synthetic blemishes only: the engine's blemish model (acne, pimples, dark "
        "spots, redness, scars) composited on the skin of real photos and on renders. Real blemishes differ "
        "(texture, raised relief, clusters); no real before/after retouching pairs (FFHQR) were available, so "
        "real-photo quality is judged by eye only (README, 'Blemish retouching').",
        "Moles, freckles and birthmarks look like the synthetic dark spots and may be removed too; wrinkles, "
        "under-eye bags and skin texture are not what it was trained on and are left alone.",
        "The cpu-quick models were trained for minutes on a 2-core CPU; the full pix2pixHD recipes "
        "(training/retouch/*.gpu-full.yaml) need a GPU.",
        "Training photos are mostly East Asian adults and children (All-Age-Faces, SCUT), UTKFace's mixed ages "
        "and ethnicities, GAN faces and CelebA celebrities.",
    ],
    "maskedit": [
        "The cpu-quick models work at 128 px and were trained for minutes on a 2-core CPU: edits are blurry "
        "and often only suggest the new shape (README, 'Mask-guided editing'); the full recipe "
        "(training/maskedit/teacher.gpu-full.yaml) needs a GPU.",
        "Swapped masks have a true target image only on renders; on real photos a swapped mask is judged by "
        "the mask-conditioned discriminator and the parsing loss alone, and mask fidelity is measured by the "
        "project's own parsing teacher (it rewards what that parser recognises, not what people see). No FID: "
        "Inception weights cannot be downloaded here.",
        "Masks come from the project's parsing networks: where they are wrong (beards, hats, dark clothes) the "
        "edit is wrong in the same place.",
        "Training photos are mostly East Asian adults and children (All-Age-Faces, SCUT), UTKFace's mixed ages "
        "and ethnicities and GAN faces (no CelebA: the real-photo checks use CelebA-derived photos).",
    ],
}


def _sources(data: dict[str, Any]) -> list[str]:
    entries = data.get("mix") or [data]
    lines = []
    for entry in entries:
        share = f"{entry['weight']:g} of the mix: " if "weight" in entry else ""
        head = len(lines)
        if entry.get("source") == "synthetic":
            lines.append(f"- {share}the built-in synthetic portrait engine ({entry.get('pool') or 'streamed'} "
                         f"renders, engine {entry.get('engine_fingerprint')}), made by this project; no licence "
                         "restrictions.")
        else:
            lines.append(f"- {share}real photos: reader `{entry.get('reader')}` ({entry.get('reader_options') or {}})")
            for source in entry.get("pool_sources", []):
                lines.append(f"  - {source['name']}: {source['kept']} photos in the pool; licence: {source['licence']}")
        if entry.get("augment"):
            lines[head] += f" Augmentation: {', '.join(entry['augment'])}."
    return lines


# The columns of a card's metrics table, by the metric a task's evaluation reports.
METRIC_COLUMNS = {
    "mask_fidelity_miou": [("mask fidelity (parsing teacher mIoU vs target mask, swapped masks)", "mask_fidelity_miou"),
                           ("reconstruction PSNR (dB)", "psnr"), ("reconstruction SSIM", "ssim"),
                           ("PSNR vs the rendered target, swapped masks (dB)", "psnr_swapped")],
    "miou": [("mIoU", "miou"), ("mean F1", "mean_f1")],
    "angular_error_deg": [("mean angular error (deg, face)", "angular_error_deg"),
                          ("median (deg)", "median_angular_error_deg"), ("within 11.25 deg", "within_11_25"),
                          ("cosine", "cosine_similarity"), ("mean, whole foreground (deg)", "fg_angular_error_deg")],
    "psnr_shadow": [("PSNR (dB)", "psnr"), ("SSIM", "ssim"), ("PSNR in the shadow (dB)", "psnr_shadow"),
                    ("SSIM in the shadow", "ssim_shadow"), ("PSNR on the face (dB)", "psnr_face")],
    "psnr_blemish": [("PSNR (dB)", "psnr"), ("SSIM", "ssim"), ("PSNR in the blemishes (dB)", "psnr_blemish"),
                     ("PSNR outside them (dB)", "psnr_outside_blemish"), ("PSNR on the face (dB)", "psnr_face")],
    "psnr": [("PSNR (dB)", "psnr"), ("SSIM", "ssim"), ("PSNR on the face (dB)", "psnr_face")],
}


def _cell(value: Any) -> str:
    """A metric as 4 decimals; '-' where a split has none (NaN, missing)."""
    return f"{value:.4f}" if isinstance(value, (int, float)) and value == value else "-"


def _metrics(metrics: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for split, record in metrics.items():
        columns = next((c for key, c in METRIC_COLUMNS.items() if isinstance(record, dict) and key in record), None)
        if columns is None:
            continue
        if not lines:
            lines = ["| split | samples | size | " + " | ".join(t for t, _ in columns) + " |",
                     "|---|---:|---:|" + "---:|" * len(columns)]
        lines.append(f"| {split} | {int(record.get('n', 0))} | {record.get('size', '')} | "
                     + " | ".join(_cell(record.get(k)) for _, k in columns) + " |")
    return lines or ["(no metrics recorded)"]


def _macs(card: dict[str, Any]) -> str:
    """'N GMACs at S px' from the card's macs_at_<S> (S: the task's resolution when it was trained)."""
    key = next((k for k in card if k.startswith("macs_at_")), None)
    return f"{card[key] / 1e9:.2f} GMACs at {key.removeprefix('macs_at_')} px" if key else "MACs not recorded"


def render(card: dict[str, Any], name: str) -> str:
    task = card["task"]
    real = any(e.get("pool_sources") for e in (card["data"].get("mix") or [card["data"]]))
    licence = ("Research and non-commercial use only: the weights were trained on photos whose licences are "
               "research / non-commercial or unstated (listed above), and inherit those terms." if real else
               "Trained only on this project's synthetic renders.")
    parts = [
        f"# {name}", "",
        f"{task} {card['role']} ({card['arch']} {card.get('arch_kwargs') or {}}), {card['params']:,} parameters, "
        f"{_macs(card)}; {card['steps']} steps, batch {card['batch_size']}, "
        f"recipe `{card.get('recipe_path')}`; weights sha256 `{card.get('sha256')}`.", "",
        "## Intended use", INTENDED_USE.get(task, f"The {task} network of portrait-edge, on framed faces."), "",
        "## Training data", *_sources(card["data"]), "",
        "## Licence", licence, "",
        "## Metrics", *_metrics(card.get("metrics") or {}), "",
        "## Known limits", *[f"- {line}" for line in LIMITS.get(task, ["Not measured on real photos."])], "",
    ]
    if card.get("teacher"):
        parts[2] += f" Distilled from `{card['teacher']['path']}` (sha256 `{card['teacher']['sha256'][:16]}...`)."
    if card.get("perceptual_backbone"):
        backbone = card["perceptual_backbone"]
        parts[2] += (f" Perceptual loss through the encoder of `{backbone['path']}` (sha256 "
                     f"`{backbone['sha256'][:16]}...`), a network this project trained.")
    return "\n".join(parts)


def write_model_card(checkpoint: str | Path) -> Path:
    from portrait_edge.atomic import write_text_atomic

    _, card = load_checkpoint(checkpoint)
    path = Path(checkpoint).with_suffix(".md")
    write_text_atomic(path, render(card, Path(checkpoint).stem) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    for checkpoint in parser.parse_args(argv).checkpoints:
        print(write_model_card(checkpoint))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
