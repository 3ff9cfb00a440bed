"""Bundles: the files, their metadata and snippets; `check_bundle` catches corrupt, missing and extra files."""

import json
import shutil

import pytest

from portrait_edge.errors import PortraitEdgeError
from portrait_edge.report.bundle import build_bundles, check_bundle


@pytest.fixture(scope="module")
def bundles(built, tiny_recipe, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    written = build_bundles([built["dir"]], root / "android_assets", root / "ios_assets",
                            recipes={"parsing": tiny_recipe}, log=lambda m: None)
    return root, written


def test_android_bundle_holds_models_labels_metadata_and_kotlin(bundles, built):
    root, written = bundles
    assert written == {"android": ["parsing"], "ios": ["parsing"]}
    folder = root / "android_assets" / "parsing"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["ParsingExample.kt", "labels.txt", "metadata.json", "parsing_fp32.pte", "parsing_fp32.tflite",
                     "parsing_int8.pte", "parsing_int8.tflite"]
    assert (folder / "labels.txt").read_text().splitlines()[:2] == ["background", "skin"]
    meta = json.loads((folder / "metadata.json").read_text())
    by_file = {f["file"]: f for f in meta["files"]}
    assert by_file["parsing_int8.tflite"]["layout"] == "NHWC" and by_file["parsing_fp32.pte"]["layout"] == "NCHW"
    quant = by_file["parsing_int8.tflite"]["input"]["quantization"]
    assert quant["zero_point"] == -128
    kotlin = (folder / "ParsingExample.kt").read_text()
    assert "parsing/parsing_int8.tflite" in kotlin and "Module.load" in kotlin and f"{quant['scale']:.9g}f" in kotlin
    assert "<version>" not in kotlin and "com.google.ai.edge.litert:litert:2." in kotlin
    # one interpreter reused, a bulk pixel read, Bitmap -> NCHW planes, the asset copy replaced on update
    assert kotlin.count("Interpreter(mapAsset") == 1 and "class ParsingLiteRT" in kotlin and "getPixels(" in kotlin
    plane = meta["input"]["shape_nchw"][2] * meta["input"]["shape_nchw"][3]
    assert "getPixel(x" not in kotlin and f"chw[{plane} + i]" in kotlin and f"chw[{2 * plane} + i]" in kotlin
    assert f"parsing_int8-{by_file['parsing_int8.pte']['sha256'][:12]}.pte" in kotlin and ".use {" in kotlin
    assert "fun labels(" in kotlin
    assert check_bundle(root / "android_assets") == 8  # 7 files + README


def test_ios_bundle_holds_mlpackages_and_swift(bundles):
    root, _ = bundles
    folder = root / "ios_assets" / "parsing"
    assert sorted(p.name for p in folder.iterdir()) == ["ParsingExample.swift", "ParsingFP16.mlpackage",
                                                        "ParsingPal6.mlpackage", "labels.txt", "metadata.json"]
    swift = (folder / "ParsingExample.swift").read_text()
    assert "ParsingFP16(configuration: config)" in swift and "\"input\"" in swift
    assert "iOS 17 or later" in swift and "coremltools 9" in swift
    assert "func predict(_ image: UIImage)" in swift and "static func labels(" in swift and "final class ParsingModel" in swift
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["framing"]["expansion"] == 2.25 and "paste_back" in meta["framing"]
    check_bundle(root / "ios_assets")


def test_bundle_check_names_a_corrupt_file_in_one_line(bundles, tmp_path):
    root, _ = bundles
    copy = tmp_path / "android_assets"
    shutil.copytree(root / "android_assets", copy)
    model = copy / "parsing" / "parsing_int8.tflite"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(PortraitEdgeError) as info:
        check_bundle(copy)
    assert "parsing_int8.tflite: checksum mismatch" in str(info.value) and "\n" not in str(info.value)


def test_bundle_check_catches_missing_and_unexpected_files(bundles, tmp_path):
    root, _ = bundles
    copy = tmp_path / "ios_assets"
    shutil.copytree(root / "ios_assets", copy)
    (copy / "parsing" / "Extra.mlpackage").mkdir()
    with pytest.raises(PortraitEdgeError, match="unexpected file"):
        check_bundle(copy)
    shutil.rmtree(copy / "parsing" / "Extra.mlpackage")
    shutil.rmtree(copy / "parsing" / "ParsingPal6.mlpackage")
    with pytest.raises(PortraitEdgeError, match="missing"):
        check_bundle(copy)


def test_unverified_builds_are_not_bundled(built, tmp_path, tiny_recipe):
    copy = tmp_path / "parsing"
    shutil.copytree(built["dir"], copy)
    (copy / "verify.json").unlink()
    with pytest.raises(PortraitEdgeError, match="verify"):
        build_bundles([copy], tmp_path / "a", tmp_path / "i", recipes={"parsing": tiny_recipe}, log=lambda m: None)


def _temp_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_verify_result_for_other_bytes_or_another_checkpoint_is_refused(built, tmp_path, tiny_recipe):
    """Re-exporting into a verified build folder changes the files: the old verify.json vouches for
    nothing, and bundle says so instead of shipping the new files with the old accuracy."""
    for name, change, message in (
            ("bytes", lambda v: v["rows"][-1].update(sha256="0" * 64), "no result for these bytes"),
            ("source", lambda v: v["source"].update(sha256="f" * 64), "out-of-date verify result")):
        copy = tmp_path / name / "parsing"
        shutil.copytree(built["dir"], copy)
        _edit_json(copy / "verify.json", change)
        if name == "bytes":  # make the edited row one the recipe bundles
            last = json.loads((copy / "verify.json").read_text())["rows"][-1]["variant"]
            assert last in tiny_recipe.bundle_android + tiny_recipe.bundle_ios
        with pytest.raises(PortraitEdgeError, match=message):
            build_bundles([copy], tmp_path / name / "a", tmp_path / name / "i", recipes={"parsing": tiny_recipe},
                          log=lambda m: None)
        assert not (tmp_path / name / "a").exists() and not (tmp_path / name / "i").exists()
        assert _temp_leftovers(tmp_path / name) == []


def test_an_empty_platform_never_replaces_a_full_bundle(built, bundles, tmp_path, tiny_recipe):
    root, _ = bundles
    android, ios = tmp_path / "android_assets", tmp_path / "ios_assets"
    shutil.copytree(root / "android_assets", android)
    shutil.copytree(root / "ios_assets", ios)
    before = {p: (p / "manifest.json").read_bytes() for p in (android, ios)}
    copy = tmp_path / "build" / "parsing"
    shutil.copytree(built["dir"], copy)
    _edit_json(copy / "verify.json",  # every Core ML variant failed: nothing left for iOS
               lambda v: [r.update(passed=False) for r in v["rows"] if r["format"] == "coreml"])
    with pytest.raises(PortraitEdgeError, match=r"ios: no verified model.*left unchanged"):
        build_bundles([copy], android, ios, recipes={"parsing": tiny_recipe}, log=lambda m: None)
    assert {p: (p / "manifest.json").read_bytes() for p in (android, ios)} == before  # android untouched too
    assert _temp_leftovers(tmp_path) == []
    written = build_bundles([copy], android, ios, recipes={"parsing": tiny_recipe}, log=lambda m: None,
                            platforms=("android",))  # asked for Android only: fine
    assert written == {"android": ["parsing"]} and (ios / "manifest.json").read_bytes() == before[ios]


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "notes.txt").write_text("x"), "notes.txt is not in"),
    (lambda root: (root / "stray").mkdir(), "stray is not in"),
    (lambda root: (root / "manifest.json").write_text("[]"), "is not a bundle manifest"),
    (lambda root: _edit_json(root / "manifest.json", lambda m: m["files"]["README.md"].pop("sha256")), "has no sha256"),
    (lambda root: _edit_json(root / "manifest.json", lambda m: m["files"].update({"../x": {"sha256": "0"}})),
     "outside the bundle"),
])
def test_bundle_check_gives_a_verdict_on_damaged_manifests_and_stray_files(bundles, tmp_path, damage, message):
    root, _ = bundles
    copy = tmp_path / "android_assets"
    shutil.copytree(root / "android_assets", copy)
    damage(copy)
    with pytest.raises(PortraitEdgeError, match=message) as info:
        check_bundle(copy)
    assert "\n" not in str(info.value)


def test_a_task_built_at_a_second_size_gets_its_own_bundle_folder(built, tiny_recipe, tmp_path):
    """A recipe's more_resolutions build in <task>_<px> folders (export.json "target"); the bundle keeps
    each size in its own folder, with its own file and class names."""
    from portrait_edge.edge.artifacts import EXPORT_JSON

    second = tmp_path / "build" / "parsing_96"
    shutil.copytree(built["dir"], second)
    export = json.loads((second / EXPORT_JSON).read_text())
    (second / EXPORT_JSON).write_text(json.dumps({**export, "target": "parsing_96"}))
    written = build_bundles([built["dir"], second], tmp_path / "android_assets", tmp_path / "ios_assets",
                            recipes={"parsing": tiny_recipe}, log=lambda m: None)
    assert written["android"] == ["parsing", "parsing_96"]
    folder = tmp_path / "android_assets" / "parsing_96"
    assert {"parsing_96_int8.tflite", "Parsing96Example.kt", "metadata.json"} <= {p.name for p in folder.iterdir()}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["task"] == "parsing" and meta["target"] == "parsing_96"
    assert "class Parsing96LiteRT" in (folder / "Parsing96Example.kt").read_text()
    assert "Parsing96FP16.mlpackage" in {p.name for p in (tmp_path / "ios_assets" / "parsing_96").iterdir()}
