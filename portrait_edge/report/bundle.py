"""`bundle`: android_assets/ and ios_assets/ from the verified build, with checksums and usage snippets.

    android_assets/
      manifest.json            sha256 + bytes of every file below (the `bundle --check` reference)
      README.md
      <task>/<task>_<precision>.tflite / .pte   (recipe bundle.android; only variants that passed verify)
      <task>/labels.txt        label tasks: one class name per line, line i = class id i
      <task>/face_mesh_triangles.json  tasks with landmark channels: the mesh and encoding that turns
                               Face Mesh landmarks into those input channels
      <task>/metadata.json     I/O layout (NHWC for .tflite, NCHW for .pte), shapes, dtypes, normalisation,
                               int8 quantization (scale, zero point), sha256 of each model file
      <task>/<Task>Example.kt  Kotlin: LiteRT Interpreter and ExecuTorch Module
    ios_assets/
      manifest.json, README.md
      <task>/<Task><Precision>.mlpackage  (recipe bundle.ios), metadata.json, <Task>Example.swift

Each folder is built beside the old one and swapped in whole (portrait_edge.staging). `check_bundle` recomputes every
checksum and fails with one line naming the first corrupt, missing, extra or mismatched file.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

from portrait_edge import __version__, framing
from portrait_edge.edge.artifacts import (
    EXPORT_JSON,
    REPO_ROOT,
    VERIFY_JSON,
    read_json,
    require_checksum,
    sha256_of,
    size_of,
    write_json_atomic,
)
from portrait_edge.edge.recipe import EdgeRecipe, load_recipe
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.staging import publish, staging_folder
from portrait_edge.tasks import get_task

ANDROID_DIR = REPO_ROOT / "android_assets"
IOS_DIR = REPO_ROOT / "ios_assets"
MANIFEST = "manifest.json"
LANDMARK_FILE = "face_mesh_triangles.json"
PLATFORMS = ("android", "ios")
NORMALISATION = "RGB (and any extra input channels) as float in their value range; image value = pixel / 255, no mean/std"


def camel(task_id: str) -> str:
    return "".join(part.capitalize() for part in task_id.split("_"))


def _bundled_name(task_id: str, fmt: str, precision: str) -> str:
    if fmt == "coreml":
        return f"{camel(task_id)}{precision.upper() if precision.startswith(('fp', 'int')) else precision.capitalize()}.mlpackage"
    return f"{task_id}_{precision}{'.tflite' if fmt == 'litert' else '.pte'}"


def _io_from_export(entry: dict[str, Any], export: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    details = entry.get("details") or {}
    if entry["format"] == "litert":
        return details["inputs"][0], details["outputs"][0]
    if entry["format"] == "coreml":
        i, o = details["inputs"][0], details["outputs"][0]
        return ({"name": i["name"], "shape": i["shape"], "dtype": "float32", "layout": "NCHW"},
                {"name": o["name"], "shape": o["shape"] or export["output"]["shape_nchw"], "dtype": "float32", "layout": "NCHW"})
    return ({"name": "input (method forward, argument 0)", "shape": export["input"]["shape_nchw"], "dtype": "float32", "layout": "NCHW"},
            {"name": "output (method forward, result 0)", "shape": export["output"]["shape_nchw"], "dtype": "float32", "layout": "NCHW"})


def _task_metadata(export: dict[str, Any], verify: dict[str, Any], files: list[dict[str, Any]], platform: str) -> dict[str, Any]:
    metric = verify.get("primary_metric")
    accuracy = {r["variant"]: {"vs_gt": r["vs_gt"].get(metric), "drop": r.get("drop"), "simulated": r.get("simulated")}
                for r in verify["rows"] if metric and r.get("vs_gt")}
    meta = {
        "task": export["task"], "target": export.get("target") or export["task"], "role": "student", "platform": platform,
        "portrait_edge_version": __version__,
        "input": {**export["input"], "normalisation": NORMALISATION},
        "framing": framing.describe(int(export["resolution"])),
        "converters": {tool: (export.get("versions") or {}).get(tool) for tool in ("executorch", "ai-edge-litert", "coremltools")},
        "output": {**export["output"], "postprocess": "argmax over the channel axis -> class id" if export["labels"]
                   else "clamp to the value range"},
        "files": files,
        "accuracy": {"metric": metric, "test_samples": verify.get("test_samples"), "by_variant": accuracy},
        "source_checkpoint": export.get("source"),
    }
    if _labels(export):
        meta["labels"] = _labels(export)
        meta["labels_file"] = "labels.txt"
    return meta


def _labels(export: dict[str, Any]) -> list[str]:
    """Class names, for tasks whose output is a label map (an image task's export may list class names
    its inputs use: maskedit's masks)."""
    return list(export["labels"]) if get_task(export["task"]).output.kind == "logits" else []


def _model_card(export: dict[str, Any]) -> Path | None:
    from portrait_edge.edge.artifacts import REPO_ROOT

    path = (export.get("source") or {}).get("path")
    if not path:
        return None
    card = (REPO_ROOT / path).with_suffix(".md")
    return card if card.is_file() else None


def _collect(task_dir: Path, recipe: EdgeRecipe, wanted: tuple[str, ...], log) -> tuple[dict, dict, list]:
    """The export entries to bundle: listed in the recipe, the exact bytes export.json records, and verify
    passed for those bytes (verify.json's row sha256) and for the same source checkpoint."""
    export = read_json(task_dir / EXPORT_JSON, "export manifest")
    task_id = export["task"]
    remedy = f"run `portrait-edge verify --task {task_id}` before bundling"
    if not (task_dir / VERIFY_JSON).is_file():
        raise PortraitEdgeError(f"{task_dir} has no {VERIFY_JSON}: {remedy}")
    verify = read_json(task_dir / VERIFY_JSON, "verify result")
    exported_from = (export.get("source") or {}).get("sha256")
    verified_from = (verify.get("source") or {}).get("sha256")
    if exported_from != verified_from:
        raise PortraitEdgeError(f"{task_dir / VERIFY_JSON} verified checkpoint {str(verified_from)[:12]}… but the files "
                                f"were exported from {str(exported_from)[:12]}…: an out-of-date verify result; {remedy}")
    rows = {r["variant"]: r for r in verify["rows"]}
    chosen = []
    for entry in export["variants"]:
        if entry["id"] not in wanted:
            continue
        path = task_dir / entry["file"]
        if not path.exists() or sha256_of(path) != entry["sha256"]:
            raise PortraitEdgeError(f"{path} does not match export.json (missing, corrupt or replaced): re-run export")
        row = rows.get(entry["id"])
        if row is None or row.get("sha256") != entry["sha256"]:
            raise PortraitEdgeError(f"{path}: {VERIFY_JSON} has no result for these bytes (sha256 "
                                    f"{entry['sha256'][:12]}…); {remedy}")
        if not row.get("passed"):
            log(f"  skipping {entry['id']} of {task_id}: it did not pass verify")
            continue
        chosen.append(entry)
    return export, verify, chosen


def _stage_platform(staging: Path, platform: str, tasks: list[tuple[Path, EdgeRecipe]], log) -> list[str]:
    """Writes the platform's bundle into the (empty) staging folder; returns the tasks it holds."""
    from portrait_edge.report.snippets import kotlin, swift

    names: list[str] = []
    for task_dir, recipe in tasks:
        export, verify, entries = _collect(task_dir, recipe, _wanted(recipe, platform), log)
        if not entries:
            continue
        task_id = export["task"]
        target = export.get("target") or task_id  # retouch, or retouch_512 for its 512 px files
        out = staging / target
        out.mkdir()
        files = []
        for entry in entries:
            name = _bundled_name(target, entry["format"], entry["precision"])
            source = task_dir / entry["file"]
            if source.is_dir():  # plain copies: the bundle's files get the usual permissions
                shutil.copytree(source, out / name, copy_function=shutil.copyfile)
            else:
                shutil.copyfile(source, out / name)
            inputs, outputs = _io_from_export(entry, export)
            files.append({"file": name, "format": entry["format"], "precision": entry["precision"],
                          "runtime": entry["runtime"], "layout": inputs.get("layout", entry.get("layout")),
                          "input": inputs, "output": outputs, "sha256": sha256_of(out / name), "bytes": size_of(out / name)})
            float_modules = (export.get("quantization") or {}).get("float_modules")
            if entry["format"] == "executorch" and entry["precision"] == "int8" and float_modules:
                files[-1]["float_modules"] = {"modules": float_modules,
                                              "note": "left in fp32 inside the int8 program (quantizing them cost accuracy)"}
        meta = _task_metadata(export, verify, files, platform)
        if platform == "ios":
            meta["minimum_deployment"] = recipe.coreml_minimum_target
        if _labels(export):
            (out / "labels.txt").write_text("\n".join(_labels(export)) + "\n")
        if any(group.kind == "landmarks" for group in get_task(task_id).inputs):
            from portrait_edge.data.landmarks import app_encoding

            write_json_atomic(out / LANDMARK_FILE, app_encoding())
            meta["landmark_channels"] = {
                "file": LANDMARK_FILE, "channels": "input channels 3 and 4 (after R, G, B)",
                "how": "run MediaPipe Face Mesh on the photo, map its landmarks into the framed crop with the "
                       "framing's transform, rasterise the mesh triangles as the file says (the example's "
                       "LandmarkChannels class is a reference implementation)"}
        card = _model_card(export)
        if card is not None:  # the source checkpoint's model card (data, licences, limits, metrics)
            shutil.copyfile(card, out / "MODEL_CARD.md")
        write_json_atomic(out / "metadata.json", meta)
        snippet = (out / f"{camel(target)}Example.kt", kotlin(meta)) if platform == "android" else \
                  (out / f"{camel(target)}Example.swift", swift(meta))
        snippet[0].write_text(snippet[1])
        names.append(target)
    (staging / "README.md").write_text(_readme(platform, names))
    write_json_atomic(staging / MANIFEST, _manifest(staging))
    return names


def _manifest(root: Path) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for task_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for item in sorted(task_dir.iterdir()):
            entries[item.relative_to(root).as_posix()] = {"sha256": sha256_of(item), "bytes": size_of(item)}
    readme = root / "README.md"
    if readme.is_file():
        entries["README.md"] = {"sha256": sha256_of(readme), "bytes": size_of(readme)}
    return {"generated_by": f"portrait-edge {__version__} (portrait-edge bundle)",
            "sha256_of_directories": "sha256 over sorted (relative path, file sha256) pairs", "files": entries,
            "total_bytes": sum(e["bytes"] for e in entries.values())}


def _readme(platform: str, tasks: list[str]) -> str:
    if platform == "android":
        return ("# portrait-edge Android assets\n\nGenerated by `portrait-edge bundle` from verified conversions; do not edit.\n"
                "Copy a task folder into `app/src/main/assets/`. Each folder holds LiteRT (.tflite, NHWC) and ExecuTorch "
                "(.pte, NCHW) files, `metadata.json` (layouts, shapes, normalisation, int8 scale/zero point, sha256), "
                "`labels.txt` for label maps, and a Kotlin example.\n`portrait-edge bundle --check` verifies every checksum "
                f"against `manifest.json`.\n\nTasks: {', '.join(tasks) or 'none'}.\n")
    return ("# portrait-edge iOS assets\n\nGenerated by `portrait-edge bundle` from verified conversions; do not edit.\n"
            "Drag a `.mlpackage` into the Xcode target (Xcode generates a Swift class named after the file). "
            "`metadata.json` lists I/O names, shapes (NCHW float32), normalisation and sha256; the Swift example shows "
            "both the generated class and plain MLModel.\n`portrait-edge bundle --check` verifies every checksum "
            f"against `manifest.json`.\n\nTasks: {', '.join(tasks) or 'none'}.\n")


def build_bundles(task_dirs: list[Path], android_dir: Path = ANDROID_DIR, ios_dir: Path = IOS_DIR,
                  recipes: dict[str, EdgeRecipe] | None = None, log: Callable[[str], None] = print,
                  platforms: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Regenerates the bundle folders of `platforms` (default: each platform the recipes export a bundled
    format for) from the given task build folders. Every platform is staged first; the folders are
    replaced only when each platform holds at least one verified model, so a failed or empty build never
    replaces a good bundle, and no staging folder is left behind."""
    if not task_dirs:
        raise PortraitEdgeError("nothing to bundle: no exported and verified tasks in the build folder")
    tasks = []
    for task_dir in task_dirs:
        task_id = read_json(Path(task_dir) / EXPORT_JSON, "export manifest")["task"]
        recipe = (recipes or {}).get(task_id) or load_recipe(task_id)
        tasks.append((Path(task_dir), recipe))
    if platforms is None:
        platforms = tuple(p for p in PLATFORMS if any(
            set(_wanted(r, p)) & {f"{fmt}_{precision}" for fmt, precision in r.variants()} for _, r in tasks))
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown or not platforms:
        raise PortraitEdgeError(f"no platform to bundle ({', '.join(unknown) or 'the recipes export no bundled format'});"
                                f" choose from {', '.join(PLATFORMS)}")
    roots = {"android": Path(android_dir), "ios": Path(ios_dir)}
    written: dict[str, list[str]] = {}
    with ExitStack() as stack:
        staged = {platform: stack.enter_context(staging_folder(roots[platform], "bundle")) for platform in platforms}
        for platform, staging in staged.items():
            written[platform] = _stage_platform(staging, platform, tasks, log)
            if not written[platform]:
                raise PortraitEdgeError(f"{platform}: no verified model to bundle (recipe bundle.{platform} lists "
                                        f"{', '.join(sorted({v for _, r in tasks for v in _wanted(r, platform)})) or 'nothing'});"
                                        f" {roots[platform]} left unchanged")
        for platform, staging in staged.items():
            publish(staging, roots[platform], lambda existing: None)
    return written


def _wanted(recipe: EdgeRecipe, platform: str) -> tuple[str, ...]:
    return recipe.bundle_android if platform == "android" else recipe.bundle_ios


def _manifest_entries(root: Path) -> dict[str, dict[str, Any]]:
    """manifest.json's files, each with a sha256: anything else is a one-line verdict, not a crash."""
    path = root / MANIFEST
    manifest = read_json(path, "bundle manifest")
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise PortraitEdgeError(f"{path} is not a bundle manifest (expected an object whose \"files\" lists each "
                                f"file's sha256); run `portrait-edge bundle`")
    for relative, expected in entries.items():
        if not isinstance(expected, dict) or not isinstance(expected.get("sha256"), str):
            raise PortraitEdgeError(f"{path}: entry {relative!r} has no sha256; the manifest is damaged, run `portrait-edge bundle`")
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise PortraitEdgeError(f"{path}: entry {relative!r} points outside the bundle; run `portrait-edge bundle`")
    return entries


def check_bundle(root: Path) -> int:
    """Recomputes every checksum of a bundle folder; raises PortraitEdgeError on the first problem
    (a missing, corrupt, unlisted or mismatched file, or a damaged manifest). Returns the entries checked."""
    root = Path(root)
    if not root.is_dir():
        raise PortraitEdgeError(f"bundle folder {root} does not exist; run `portrait-edge bundle`")
    entries = _manifest_entries(root)
    for relative, expected in entries.items():
        require_checksum(root / relative, expected["sha256"], root / MANIFEST, "run `portrait-edge bundle`")
    listed = set(entries) | {MANIFEST}
    for item in sorted(root.iterdir()):  # task folders hold listed files only; the top level too
        if item.name in listed:
            continue
        members = sorted(item.iterdir()) if item.is_dir() else []
        for member in [m for m in members if m.relative_to(root).as_posix() not in listed] or ([] if members else [item]):
            raise PortraitEdgeError(f"{member} is not in {root / MANIFEST}: an unexpected file; run `portrait-edge bundle`")
    for task_dir in (p for p in root.iterdir() if p.is_dir()):
        meta_path = task_dir / "metadata.json"
        if meta_path.is_file():
            for model in read_json(meta_path, "bundle metadata")["files"]:
                path = task_dir / model["file"]
                if not path.exists() or sha256_of(path) != model["sha256"]:
                    raise PortraitEdgeError(f"{path} does not match {meta_path} (sha256): mismatched model file")
    return len(entries)
