"""The LandmarkChannels reference implementations in the `normals` examples (Kotlin and Swift).

There is no Android or Xcode toolchain here (no kotlinc, no swiftc), so the snippets are not compiled. One
helper, `check_landmark_channels`, holds both snippets to the Python encoding instead:
- the formulas of FORMULAS are written in syntax Python, Kotlin and Swift share; `_reference` evaluates
  those very strings (numpy, float32, reading face_mesh_triangles.json's content only) and reproduces
  `landmark_channels`, and each snippet must contain every one of them verbatim;
- the snippet reads exactly the JSON keys the reference reads, and hard-codes none of the values the JSON
  carries;
- the constants a snippet does hard-code (468 landmarks, the pixel-centre offset, the edge eps, the
  z-buffer key's code bits, round half to even) are the ones the JSON and the Python module state.
The generated snippets come from the committed bundles' metadata (the real names and shapes).
"""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import torch

from portrait_edge.data import landmarks as lm
from portrait_edge.report.bundle import ANDROID_DIR, IOS_DIR, LANDMARK_FILE
from portrait_edge.report.snippets import kotlin, swift

# The reference's formulas: valid Python (numpy), Kotlin and Swift. Kotlin writes Float literals with an
# `f` suffix (1f); `_normalised` strips it before comparing.
FORMULAS = {
    "area": "(bx - ax) * (qy - ay) - (by - ay) * (qx - ax)",            # signed area (either winding)
    "l0": "((qx - bx) * (cy - by) - (qy - by) * (cx - bx))",            # edge functions, / area
    "l1": "((ax - qx) * (cy - qy) - (ay - qy) * (cx - qx))",
    "l2": "1 - l0 - l1",
    "depth": "l0 * d[a] + l1 * d[b] + l2 * d[q]",                       # barycentric depth
    "landmark_depth": "offset - gain * (z - mz) / s",                   # per landmark (z: its z, mz: the mean)
}
EPS = "1e-5"           # a pixel centre on an edge is inside: l >= -eps
MIN_AREA = "1e-9"      # degenerate triangles are skipped
MIN_SCALE = "1e-6"     # s = max(RMS distance from the centroid, this)
PIXEL_CENTRE = "0.5"   # pixel i covers [i, i + 1)

# How each language spells the steps whose syntax differs (after `_normalised`). The Python reference
# (portrait_edge.data.landmarks) for each is in the comment.
SPELLING = {
    "kotlin": {
        "class": "class LandmarkChannels(context: Context)",
        "landmark_count": "landmarks.size >= {n} * 3",
        "landmark_depth": "val d = FloatArray({n}) {{ ({landmark_depth}).coerceIn(floor, 1) }}",
        "scale": "maxOf(Math.sqrt((ss / {n}).toDouble()).toFloat(), {min_scale})",
        "skip_degenerate": "if (Math.abs(area) <= {min_area}) continue",
        # x0 = ceil(min - 0.5) clamped to [0, size - 1], x1 = floor(max - 0.5) clamped to [-1, size - 1]
        "box": ["maxOf(Math.ceil((minOf(ax, bx, qx) - {c}).toDouble()).toInt(), 0)",
                "minOf(Math.floor((maxOf(ax, bx, qx) - {c}).toDouble()).toInt(), size - 1)",
                "maxOf(Math.ceil((minOf(ay, by, qy) - {c}).toDouble()).toInt(), 0)",
                "minOf(Math.floor((maxOf(ay, by, qy) - {c}).toDouble()).toInt(), size - 1)"],
        "centre": "val cx = px + {c}; val cy = py + {c}",
        "barycentric": ["val l0 = {l0} / area", "val l1 = {l1} / area", "val l2 = {l2}"],
        "inside": "if (l0 < -{eps} || l1 < -{eps} || l2 < -{eps}) continue",
        "depth": "val depth = ({depth}).coerceIn(0, 1)",
        # torch.round: half to even
        "key": "val key = (Math.rint(depth.toDouble() * steps).toLong() shl {bits}) or codes[t].toLong()",
        "z_buffer": "if (key > keys[py * size + px]) keys[py * size + px] = key",
        "decode": ["region[i] = (keys[i] and {mask}L).toFloat() / maxCode",
                   "depthMap[i] = (keys[i] shr {bits}).toFloat() / steps"],
        "reads_file": "context.assets.open(\"{task}/{file}\")",
        "json_key": r"get(?:JSONArray|JSONObject|Double|Long|Int)\(\"(\w+)\"\)",
    },
    "swift": {
        "class": "final class LandmarkChannels {{",
        "landmark_count": "landmarks.count >= {n} * 3",
        "landmark_depth": "let d = (0..<{n}).map {{ i -> Float in min(max({landmark_depth}, floor), 1) }}",
        "scale": "let s = max(Float(ss / {n}).squareRoot(), {min_scale})",
        "skip_degenerate": "guard abs(area) > {min_area} else {{ continue }}",
        "box": ["let x0 = Int(min(max((min(ax, bx, qx) - {c}).rounded(.up), 0), last))",
                "let x1 = Int(min(max((max(ax, bx, qx) - {c}).rounded(.down), -1), last))",
                "let y0 = Int(min(max((min(ay, by, qy) - {c}).rounded(.up), 0), last))",
                "let y1 = Int(min(max((max(ay, by, qy) - {c}).rounded(.down), -1), last))",
                "let last = Float(size - 1)", "guard x0 <= x1, y0 <= y1 else {{ continue }}"],
        "centre": "let cx = Float(px) + {c}, cy = Float(py) + {c}",
        "barycentric": ["let invArea = 1 / area", "let l0 = {l0} * invArea", "let l1 = {l1} * invArea", "let l2 = {l2}"],
        "inside": "if l0 < -{eps} || l1 < -{eps} || l2 < -{eps} {{ continue }}",
        "depth": "let depth = min(max({depth}, 0), 1)",
        "key": "let key = (Int64((depth * Float(steps)).rounded(.toNearestOrEven)) << {bits}) | codes[t]",
        "z_buffer": "if key > keys[py * size + px] {{ keys[py * size + px] = key }}",
        "decode": ["region[i] = Float(keys[i] & {mask}) / Float(maxCode)",
                   "depthMap[i] = Float(keys[i] >> {bits}) / Float(steps)"],
        "reads_file": "bundle.url(forResource: \"{stem}\", withExtension: \"{ext}\")",
        "json_key": r"(?:case |, )\w+ = \"(\w+)\"",  # CodingKeys
    },
}


class _Recording(dict):
    """A JSON object that records which keys are read (nested objects too)."""

    def __init__(self, data, seen):
        super().__init__(data)
        self.seen = seen

    def __getitem__(self, key):
        self.seen.add(key)
        value = super().__getitem__(key)
        return _Recording(value, self.seen) if isinstance(value, dict) else value


def _encoding_text() -> str:
    return json.dumps(lm.app_encoding())  # what face_mesh_triangles.json holds


def _reference(landmarks: np.ndarray, size: int, encoding) -> np.ndarray:
    """landmark_channels for one face, from the JSON content and FORMULAS alone: [2, size, size]."""
    f32 = np.float32
    raw = np.asarray(landmarks, f32)[:lm.NUM_LANDMARKS]
    finite = np.isfinite(raw).all(axis=1)
    points = np.where(finite[:, None], raw, f32(0))  # a non-finite landmark counts as (0, 0, 0)
    mx, my, mz = points.mean(axis=0, dtype=np.float64).astype(f32)
    centred = points - np.array([mx, my, mz], f32)
    s = max(np.sqrt(f32((centred * centred).sum(axis=1).mean(dtype=np.float64))), f32(MIN_SCALE))
    depth = encoding["depth"]
    offset, gain, floor = f32(depth["offset"]), f32(depth["gain"]), f32(depth["floor"])
    steps = depth["depth_steps"]
    z = points[:, 2]
    d = np.clip(eval(FORMULAS["landmark_depth"]), floor, f32(1))
    keys = np.full((size, size), -1, np.int64)
    half, eps = f32(PIXEL_CENTRE), f32(EPS)
    for (a, b, q), code in zip(encoding["triangles"], encoding["triangle_region_codes"]):
        if not (finite[a] and finite[b] and finite[q]):
            continue
        (ax, ay), (bx, by), (qx, qy) = raw[a, :2], raw[b, :2], raw[q, :2]
        area = eval(FORMULAS["area"])
        if abs(area) <= f32(MIN_AREA):
            continue
        x0 = int(np.clip(np.ceil(min(ax, bx, qx) - half), 0, size - 1))
        x1 = int(np.clip(np.floor(max(ax, bx, qx) - half), -1, size - 1))
        y0 = int(np.clip(np.ceil(min(ay, by, qy) - half), 0, size - 1))
        y1 = int(np.clip(np.floor(max(ay, by, qy) - half), -1, size - 1))
        if x1 < x0 or y1 < y0:
            continue
        cy, cx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(f32) + half  # pixel centres
        inv_area = f32(1) / area
        l0 = eval(FORMULAS["l0"]) * inv_area
        l1 = eval(FORMULAS["l1"]) * inv_area
        l2 = eval(FORMULAS["l2"])
        inside = (l0 >= -eps) & (l1 >= -eps) & (l2 >= -eps)
        value = np.clip(eval(FORMULAS["depth"]), f32(0), f32(1))
        key = (np.rint(value * f32(steps)).astype(np.int64) << _code_bits(encoding)) | int(code)
        window = keys[y0:y1 + 1, x0:x1 + 1]
        np.maximum(window, np.where(inside, key, -1), out=window)
    covered = keys >= 0
    mask = (1 << _code_bits(encoding)) - 1
    region = np.where(covered, (keys & mask).astype(f32) / f32(encoding["max_code"]), f32(0))
    depth_map = np.where(covered, (keys >> _code_bits(encoding)).astype(f32) / f32(steps), f32(0))
    return np.stack([region, depth_map])


def _code_bits(encoding) -> int:
    """The z-buffer key's code bits, as the JSON's description states them ("... << 3) | region code"); a
    constant of the code, not data it reads (dict.get: not recorded by _Recording)."""
    return int(re.search(r"<< (\d+)\) \| region code", dict.get(encoding, "z_buffer")).group(1))


def _normalised(code: str, language: str) -> str:
    return re.sub(r"(?<=\d)f\b", "", code) if language == "kotlin" else code  # Kotlin's 1f, 1e-5f -> 1, 1e-5


def _balanced(code: str) -> bool:
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)  # string literals
    code = re.sub(r"//.*", "", code)  # comments
    stack = []
    for char in code:
        if char in "([{":
            stack.append(")]}"["([{".index(char)])
        elif char in ")]}":
            if not stack or stack.pop() != char:
                return False
    return not stack


def check_landmark_channels(code: str, language: str, meta: dict) -> None:
    """Asserts that a snippet's LandmarkChannels implements landmark_channels as the bundle's JSON defines it."""
    encoding = json.loads(_encoding_text())
    seen: set[str] = set()
    _reference(np.zeros((lm.NUM_LANDMARKS, 3), np.float32), 4, _Recording(encoding, seen))  # the keys it reads
    spelling, code = SPELLING[language], _normalised(code, language)
    file = meta["landmark_channels"]["file"]
    assert file == LANDMARK_FILE
    stem, ext = file.rsplit(".", 1)
    bits = _code_bits(encoding)
    assert (1 << bits) > encoding["max_code"] == max(lm.REGION_CODES.values())  # every code fits its bits
    assert f"eps {EPS}" in encoding["channel_1"] and "pixel centres" in encoding["channel_1"]
    assert f"{lm.NUM_LANDMARKS} Face Mesh landmarks" in encoding["landmarks"]
    values = dict(n=lm.NUM_LANDMARKS, c=PIXEL_CENTRE, eps=EPS, min_area=MIN_AREA, min_scale=MIN_SCALE, bits=bits,
                  mask=(1 << bits) - 1, task=meta["task"], file=file, stem=stem, ext=ext, **FORMULAS)
    for step, expected in spelling.items():
        if step == "json_key":
            continue
        for text in [expected] if isinstance(expected, str) else expected:
            wanted = text.format(**values)
            if step == "landmark_depth":  # z is the landmark's z: landmarks[3 * it + 2] (Kotlin), p[3 * i + 2] (Swift)
                pattern = re.escape(wanted).replace(re.escape("(z - mz)"), r"\(\w+\[3 \* \w+ \+ 2\] - mz\)")
                assert re.search(pattern, code), f"{language}: step {step!r} differs from {wanted!r}"
            else:
                assert wanted in code, f"{language}: step {step!r} lacks {wanted!r}"
    for name, formula in FORMULAS.items():
        if name != "landmark_depth":
            assert formula in code, f"{language}: formula {name!r} ({formula}) is not in the snippet"
    read = set(re.findall(spelling["json_key"], code))
    assert read == seen, f"{language} reads JSON keys {sorted(read)}, the reference {sorted(seen)}"
    for key, value in encoding["depth"].items():  # read at run time, never hard-coded
        assert not re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])", code), f"{language} hard-codes {key} {value}"
    assert _balanced(code), f"{language}: unbalanced brackets"


# ---------------------------------------------------------------- the snippets of the committed bundles


def _meta(platform: str) -> dict:
    root = ANDROID_DIR if platform == "android" else IOS_DIR
    return json.loads((root / "normals" / "metadata.json").read_text())


def _landmark_channels_start(meta: dict) -> int:
    """Index of the first landmark channel: the channels of the input groups before it."""
    start = 0
    for group in meta["input"]["channels"]:
        if group["kind"] == "landmarks":
            return start
        start += group["channels"]
    raise AssertionError("no landmark input group")


def test_the_committed_json_is_the_encoding():
    """The bundles ship app_encoding() as is (a stale file would make the snippets read other constants)."""
    for root in (ANDROID_DIR, IOS_DIR):
        assert json.loads((root / "normals" / LANDMARK_FILE).read_text()) == json.loads(_encoding_text())


@pytest.mark.parametrize("size, refined, broken", [(64, False, False), (256, True, False), (128, False, True)])
def test_the_reference_built_from_the_shared_formulas_reproduces_landmark_channels(size, refined, broken):
    from portrait_edge.data.synth.render import render_batch

    points = render_batch(1, seed=4, size=64).landmarks[0].numpy().astype(np.float32) * (size / 64)
    if refined:  # 478 points: the iris points are ignored
        points = np.concatenate([points, np.full((10, 3), 1e4, np.float32)])
    if broken:  # a lost landmark: (0, 0, 0) in the statistics, its triangles dropped
        points[1] = (np.nan, 5.0, np.inf)
    encoding = json.loads(_encoding_text())
    got = _reference(points, size, encoding)
    expected = lm.landmark_channels(torch.from_numpy(points)[None], size)[0].numpy()
    covered = expected[0] > 0
    assert covered.sum() > 300 * (size / 64) ** 2
    assert np.array_equal(got[0] > 0, covered)
    # The same float32 arithmetic; only the mean's summation differs (torch's float32 sum, a Double sum here and
    # in the Swift code), which can move a pixel's depth key by one step (and so, rarely, a z-buffer winner).
    steps = encoding["depth"]["depth_steps"]
    assert (got[0] != expected[0]).sum() <= 2
    assert np.abs(got[1] - expected[1]).max() <= 1 / steps and (got[1] != expected[1]).mean() < 0.01


@pytest.mark.parametrize("language", ["kotlin", "swift"])
def test_both_snippets_implement_the_encoding(language):
    meta = _meta("android" if language == "kotlin" else "ios")
    code = kotlin(meta) if language == "kotlin" else swift(meta)
    check_landmark_channels(code, language, meta)


@pytest.mark.parametrize("language, change", [
    ("swift", lambda c: c.replace(".rounded(.toNearestOrEven)", ".rounded()")),      # half away from zero
    ("swift", lambda c: c.replace("\"depth_steps\"", "\"steps\"")),                  # a key the JSON lacks
    ("swift", lambda c: c.replace("(qy - by) * (cx - bx)", "(qy - by) * (cx - ax)")),
    ("swift", lambda c: c.replace("Float(px) + 0.5", "Float(px)")),
    ("swift", lambda c: c.replace("<< 3", "<< 4")),
    ("swift", lambda c: c.replace("min(max((min(ax, bx, qx) - 0.5).rounded(.up), 0), last)", "max(Int(ax), 0)")),
    ("swift", lambda c: c.replace("Float(encoding.depth.offset)", "0.65")),
    ("kotlin", lambda c: c.replace("Math.rint(depth.toDouble() * steps).toLong()", "Math.round(depth.toDouble() * steps)")),
    ("kotlin", lambda c: c.replace("1e-5f", "1e-4f")),
])
def test_the_check_catches_a_deviation(language, change):
    meta = _meta("android" if language == "kotlin" else "ios")
    code = kotlin(meta) if language == "kotlin" else swift(meta)
    changed = change(code)
    assert changed != code
    with pytest.raises(AssertionError):
        check_landmark_channels(changed, language, meta)


def test_swift_loads_the_mesh_once_and_fills_channels_3_and_4_of_the_prediction_input():
    meta = _meta("ios")
    code = swift(meta)
    _, c, h, w = meta["input"]["shape_nchw"]
    start = _landmark_channels_start(meta)
    assert meta["landmark_channels"]["channels"] == f"input channels {start} and {start + 1} (after R, G, B)"
    assert code.index("final class LandmarkChannels") < code.index("final class NormalsModel")
    assert "JSONDecoder().decode(Encoding.self, from: Data(contentsOf: url))" in code
    assert code.count("LandmarkChannels()") == 2 and code.count("landmarkChannels = try LandmarkChannels()") == 2  # one per init
    assert "private let landmarkChannels: LandmarkChannels" in code
    # the prediction path: image + landmarks -> pack (RGB planes, then the two channels) -> predict(MLMultiArray)
    assert "func predict(_ image: UIImage, landmarks: [Float]) throws -> MLMultiArray {\n" \
           "        try predict(landmarkChannels.pack(image, landmarks: landmarks))\n    }" in code
    assert f"MLMultiArray(shape: [1, {c}, NSNumber(value: height), NSNumber(value: width)], dataType: .float32)" in code
    assert f"let width = {w}, height = {h}" in code and "compute(landmarks, size: width)" in code
    assert f"planes[{start} * count + i] = region[i]" in code and f"planes[{start + 1} * count + i] = depthMap[i]" in code
    assert f"add {LANDMARK_FILE} to the target" in code
    # Kotlin's packer puts the same channels at the same place (NHWC there)
    kt = kotlin(_meta("android"))
    assert f"packed[{c} * i + {start}] = region[i]" in kt and f"packed[{c} * i + {start + 1}] = depthMap[i]" in kt


def test_tasks_without_landmark_channels_get_no_landmark_code():
    meta = _meta("ios")
    meta.pop("landmark_channels")
    assert "LandmarkChannels" not in swift(meta) and "LandmarkChannels" not in kotlin({**_meta("android"), "landmark_channels": None})
    assert "func predict(_ input: MLMultiArray)" in swift(meta) and "func predict(_ image: UIImage" not in swift(meta)


# ---------------------------------------------------------------- image outputs and scalar-map inputs (shadow, facial_shadow)
#
# No bundle ships these tasks yet: their metadata is built from the committed normals metadata (the real layout,
# converter versions and files list), with the task's input groups, shapes and output as portrait_edge.tasks
# declares them, the files renamed and reshaped, and an int8 output quantization unlike the input's (so a
# snippet that dequantizes the output with the input's scale fails).

RGB_IN = {"name": "image", "channels": 3, "kind": "rgb", "range": [0.0, 1.0], "description": "portrait, RGB in [0, 1]"}
FILL = {"name": "fill_strength", "channels": 1, "kind": "scalar_map", "range": [0.0, 1.0],
        "description": "fill-light strength, the same value at every pixel (0 = none, 1 = full)"}
OUT_QUANT = {"scale": 0.00415, "zero_point": -117}


def _task_meta(platform: str, task: str, groups: list[dict], output_kind: str = "rgb", out_quant=OUT_QUANT) -> dict:
    meta = copy.deepcopy(_meta(platform))
    meta.pop("landmark_channels")
    _, _, h, w = meta["input"]["shape_nchw"]
    c = sum(g["channels"] for g in groups)
    meta["task"] = meta["target"] = task
    meta["input"]["channels"] = copy.deepcopy(groups)
    meta["input"]["shape_nchw"] = [1, c, h, w]
    if output_kind == "rgb":
        meta["output"].update(name="image", channels=3, kind="rgb", range=[0.0, 1.0], postprocess="clamp to the value range",
                              description=f"the {task} result, RGB in [0, 1]", shape_nchw=[1, 3, h, w])
    camel = "".join(part.capitalize() for part in task.split("_"))
    for f in meta["files"]:
        f["file"] = f["file"].replace("normals", task).replace("Normals", camel)
        f["input"]["shape"] = [1, h, w, c] if f["layout"] == "NHWC" else [1, c, h, w]
        if f["output"].get("quantization"):
            f["output"]["quantization"] = dict(out_quant)
    return meta


def _shadow(platform: str) -> dict:
    return _task_meta(platform, "shadow", [RGB_IN])


def _facial_shadow(platform: str) -> dict:
    return _task_meta(platform, "facial_shadow", [RGB_IN, FILL])


def _code(language: str, meta: dict) -> str:
    return kotlin(meta) if language == "kotlin" else swift(meta)


def _platform(language: str) -> str:
    return "android" if language == "kotlin" else "ios"


def _class_body(code: str, header: str) -> str:
    """The text of one top-level Kotlin class (from its header to the closing brace at column 0)."""
    start = code.index(header)
    return code[start:code.index("\n}", start) + 2]


def _top_level_items(args: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in args:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    return items + [current.strip()]


def _scalar_groups(meta: dict) -> list[tuple[dict, str, int]]:
    """(group, argument name, first channel) of the input groups after R, G, B (the argument: lowerCamelCase)."""
    out, start = [], 3
    for g in meta["input"]["channels"][1:]:
        words = g["name"].split("_")
        out.append((g, words[0] + "".join(word.capitalize() for word in words[1:]), start))
        start += g["channels"]
    return out


def _bound(value: float, language: str) -> str:
    return f"{value:g}" + ("f" if language == "kotlin" else "")


def _litert_file(meta: dict) -> dict:
    files = {(f["format"], f["precision"]): f for f in meta["files"]}
    return files.get(("litert", "int8")) or files[("litert", "fp32")]


def _arguments(meta: dict, language: str) -> tuple[str, str]:
    """What the image-taking functions declare after the image, and pass on."""
    groups = _scalar_groups(meta)
    if language == "kotlin":
        return "".join(f", {a}: Float" for _, a, _ in groups), "".join(f", {a}" for _, a, _ in groups)
    return "".join(f", {a}: Float" for _, a, _ in groups), "".join(f", {a}: {a}" for _, a, _ in groups)


def check_image_output(code: str, language: str, meta: dict) -> None:
    """The snippet turns an rgb output into an image: clamped to [0, 1], * 255, rounded, R, G, B in place,
    from the right layout (NHWC LiteRT with its own output dequantization, NCHW ExecuTorch / Core ML)."""
    assert meta["output"]["kind"] == "rgb" and meta["output"]["shape_nchw"][1] == 3
    _, c, h, w = meta["input"]["shape_nchw"]
    plane = h * w
    params, passed = _arguments(meta, language)
    assert "image" in meta["framing"]["paste_back"]
    assert '"framing"."paste_back"."image"' in code
    if language == "kotlin":
        assert "fun argbPixel(r: Float, g: Float, b: Float): Int {\n" \
               "    fun byte(v: Float) = Math.round(v.coerceIn(0f, 1f) * 255f)\n" \
               "    return (0xFF shl 24) or (byte(r) shl 16) or (byte(g) shl 8) or byte(b)\n}" in code
        task = "".join(part.capitalize() for part in meta["task"].split("_"))
        litert, executorch = _class_body(code, f"class {task}LiteRT("), _class_body(code, f"class {task}ExecuTorch(")
        for body in (litert, executorch):
            assert f"    fun image(bitmap: Bitmap{params}): Bitmap {{" in body
            assert f"        return Bitmap.createBitmap(argb, {w}, {h}, Bitmap.Config.ARGB_8888)" in body
        quant = _litert_file(meta)["output"].get("quantization")
        if quant:  # int8: real = scale * (q - zero point), with the output's own parameters
            assert f"private val outScale = {quant['scale']:.9g}f; private val outZero = {quant['zero_point']}\n" in litert
            reads = [f"(output.get(3 * i{f' + {k}' if k else ''}).toInt() - outZero) * outScale" for k in range(3)]
        else:
            assert "outScale" not in litert
            reads = [f"output.getFloat((3 * i{f' + {k}' if k else ''}) * 4)" for k in range(3)]
        image = litert[litert.index("    fun image("):]
        assert f"        invoke(bitmap{passed})\n        val argb = IntArray({plane})\n        for (i in 0 until {plane}) {{" in image
        call = image[image.index("argbPixel(") + len("argbPixel("):image.index(")\n        }")]
        assert _top_level_items(call) == reads, call  # R, G, B of pixel i, in that order
        assert f"        val out = run(bitmap{passed})  // NCHW: R plane, G plane, B plane\n" \
               f"        val argb = IntArray({plane}) {{ i -> argbPixel(out[i], out[{plane} + i], out[{2 * plane} + i]) }}" in executorch
    else:
        package = next(f for f in meta["files"] if f["format"] == "coreml")
        dtype = package["output"]["dtype"]
        element = {"float32": "Float", "float16": "Float16"}[dtype]
        start = code.index("    static func image(from output: MLMultiArray) throws -> CGImage {")
        body = code[start:code.index("\n    }\n", start)]
        for line in (f"let width = {w}, height = {h}",
                     f"precondition(output.dataType == .{dtype}, \"the model declares a {dtype} output\")",
                     "let strides = output.strides.map { $0.intValue }",
                     f"let values = output.dataPointer.bindMemory(to: {element}.self, capacity: strides[0])",
                     "var rgba = [UInt8](repeating: 255, count: width * height * 4)",
                     "for k in 0..<3 {",
                     "let value = Float(values[k * strides[1] + y * strides[2] + x * strides[3]])",
                     "let clamped = Float.minimum(Float.maximum(value, 0), 1)",
                     "rgba[4 * (y * width + x) + k] = UInt8((clamped * 255).rounded())",
                     "CGImageAlphaInfo.noneSkipLast.rawValue",
                     "bytesPerRow: width * 4"):
            assert line in body, f"swift image(from:) lacks {line!r}"
        assert f"    func image(_ image: UIImage{params}) throws -> CGImage {{\n" \
               f"        try Self.image(from: predict(image{passed}))\n    }}" in code
    assert _balanced(code), f"{language}: unbalanced brackets"


def check_scalar_inputs(code: str, language: str, meta: dict) -> None:
    """Each scalar_map group is a named Float argument, checked against its range, written to its whole plane."""
    _, c, h, w = meta["input"]["shape_nchw"]
    plane = h * w
    groups = _scalar_groups(meta)
    assert groups and all(g["kind"] == "scalar_map" for g, _, _ in groups)
    params, _ = _arguments(meta, language)
    checks = []
    for g, arg, _ in groups:
        low, high = g["range"]
        checks.append(f"{arg} >= {_bound(low, language)} && {arg} <= {_bound(high, language)}")
    if language == "kotlin":
        assert "packed: FloatArray" not in code and "chw: FloatArray" not in code
        for check, (g, arg, _) in zip(checks, groups):
            assert code.count(f"        require({check}) {{") == 2, f"kotlin: {check!r} not in both classes"
        task = "".join(part.capitalize() for part in meta["task"].split("_"))
        litert, executorch = _class_body(code, f"class {task}LiteRT("), _class_body(code, f"class {task}ExecuTorch(")
        for body in (litert, executorch):
            assert f"    fun run(bitmap: Bitmap{params}): FloatArray {{" in body
        # NHWC: each pixel's values R, G, B, then each group's argument, channels times, at its channel index
        loop = litert[litert.index("for (v in floatArrayOf(") + len("for (v in floatArrayOf("):]
        items = _top_level_items(loop[:loop.index(")) {\n")])
        assert len(items) == c
        for g, arg, start in groups:
            assert items[start:start + g["channels"]] == [arg] * g["channels"], items
        assert not any(arg in " ".join(items[:3]) for _, arg, _ in groups)  # R, G, B come from the pixel
        tfl = _litert_file(meta)
        quant = tfl["input"].get("quantization")
        put = ("input.put((Math.round(v / inScale) + inZero).coerceIn(-128, 127).toByte())" if quant
               else "input.putFloat(v)")
        assert loop.split("\n")[1].strip() == put
        assert f"ByteBuffer.allocateDirect({plane * c * (1 if quant else 4)})" in litert
        if quant:
            assert f"private val inScale = {quant['scale']:.9g}f; private val inZero = {quant['zero_point']}" in litert
        # NCHW: the group's planes, [start * plane, (start + channels) * plane)
        for g, arg, start in groups:
            assert f"        chw.fill({arg}, {start * plane}, {(start + g['channels']) * plane})" in executorch
        assert f"private val chw = FloatArray({c * plane})" in executorch
        assert f"Tensor.fromBlob(chw, longArrayOf(1, {c}, {h}, {w}))" in executorch
    else:
        start = code.index(f"    func predict(_ image: UIImage{params}) throws -> MLMultiArray {{")
        body = code[start:code.index("\n    }\n", start)]
        for check in checks:
            assert f"        precondition({check}, " in body
        assert f"MLMultiArray(shape: [1, {c}, NSNumber(value: height), NSNumber(value: width)], dataType: .float32)" in body
        for g, arg, first in groups:
            for k in range(g["channels"]):
                assert f"            planes[{first + k} * count + i] = {arg}\n" in body
        assert body.rstrip().endswith("return try predict(input)")
    assert _balanced(code), f"{language}: unbalanced brackets"


@pytest.mark.parametrize("language", ["kotlin", "swift"])
@pytest.mark.parametrize("task", ["shadow", "facial_shadow"])
def test_rgb_outputs_come_back_as_images(task, language):
    meta = (_shadow if task == "shadow" else _facial_shadow)(_platform(language))
    check_image_output(_code(language, meta), language, meta)


@pytest.mark.parametrize("language", ["kotlin", "swift"])
def test_facial_shadow_takes_the_fill_strength_as_a_float(language):
    meta = _facial_shadow(_platform(language))
    code = _code(language, meta)
    check_scalar_inputs(code, language, meta)
    if language == "kotlin":  # what an app calls
        assert "fun image(bitmap: Bitmap, fillStrength: Float): Bitmap {" in code
        assert "require(fillStrength >= 0f && fillStrength <= 1f)" in code
        assert "chw.fill(fillStrength, 196608, 262144)" in code  # channel 3 of 256 x 256 planes
    else:
        assert "func image(_ image: UIImage, fillStrength: Float) throws -> CGImage {" in code
        assert "planes[3 * count + i] = fillStrength" in code


def test_shadow_takes_the_image_alone():
    kt, sw = kotlin(_shadow("android")), swift(_shadow("ios"))
    assert "fun image(bitmap: Bitmap): Bitmap {" in kt and "fun run(bitmap: Bitmap): FloatArray {" in kt
    assert "require(" in kt and "Float) {" not in kt and "chw.fill(" not in kt
    assert "func image(_ image: UIImage) throws -> CGImage {" in sw and "precondition(fillStrength" not in sw


@pytest.mark.parametrize("language", ["kotlin", "swift"])
def test_the_scalar_path_follows_the_metadata(language):
    """Another range, a second group, a two-channel group: arguments, checks and planes move with them."""
    warmth = {"name": "warmth", "channels": 2, "kind": "scalar_map", "range": [-1.0, 2.5], "description": "warmth"}
    meta = _task_meta(_platform(language), "facial_shadow", [RGB_IN, {**FILL, "range": [0.0, 2.0]}, warmth])
    code = _code(language, meta)
    check_scalar_inputs(code, language, meta)
    check_image_output(code, language, meta)
    assert ("fillStrength <= 2f" if language == "kotlin" else "fillStrength <= 2") in code
    assert ("warmth >= -1f && warmth <= 2.5f" if language == "kotlin" else "warmth >= -1 && warmth <= 2.5") in code


def test_fp32_litert_and_fp16_core_ml_outputs_are_read_as_such():
    meta = _shadow("android")
    meta["files"] = [f for f in meta["files"] if f["precision"] == "fp32"]
    code = kotlin(meta)
    check_image_output(code, "kotlin", meta)
    assert "output.getFloat((3 * i + 2) * 4)" in code and "outScale" not in code
    meta = _shadow("ios")
    for f in meta["files"]:
        f["output"]["dtype"] = "float16"
    code = swift(meta)
    check_image_output(code, "swift", meta)
    assert "bindMemory(to: Float16.self" in code


@pytest.mark.parametrize("language", ["kotlin", "swift"])
def test_committed_tasks_get_no_image_or_scalar_code(language):
    """parsing (logits) and normals (normals, landmark input): raw floats, labels, packed inputs as before."""
    root = ANDROID_DIR if language == "kotlin" else IOS_DIR
    for task in ("parsing", "normals"):
        meta = json.loads((root / task / "metadata.json").read_text())
        assert meta["output"]["kind"] in ("logits", "normals")
        code = _code(language, meta)
        for absent in ("argbPixel", "fun image(", "func image(", "CGImage(width", "createBitmap", "chw.fill(",
                       "must be in [", "paste_back\".\"image"):
            assert absent not in code, f"{task} {language}: {absent!r}"
    kt = kotlin(_meta("android"))
    assert "fun run(packed: FloatArray): FloatArray" in kt and "fun run(chw: FloatArray): FloatArray" in kt


def test_the_parsing_examples_in_the_bundles_are_what_the_generator_writes():
    """The committed parsing examples were written by this generator from the committed metadata (the image and
    scalar paths add nothing to them)."""
    for root, language, name in ((ANDROID_DIR, "kotlin", "ParsingExample.kt"), (IOS_DIR, "swift", "ParsingExample.swift")):
        meta = json.loads((root / "parsing" / "metadata.json").read_text())
        assert _code(language, meta) == (root / "parsing" / name).read_text()


def test_mixed_extra_inputs_keep_the_packed_path():
    """A scalar_map beside landmark channels: not only scalar maps after RGB, so the packed path stays."""
    meta = _task_meta("android", "mixed", [RGB_IN, FILL, {**FILL, "name": "marks", "kind": "landmarks"}])
    code = kotlin(meta)
    assert "fun run(packed: FloatArray): FloatArray" in code and "fillStrength" not in code
    assert "fun image(packed: FloatArray): Bitmap {" in code


def test_an_rgb_output_must_have_three_channels():
    meta = _shadow("android")
    meta["output"]["shape_nchw"][1] = 4
    with pytest.raises(ValueError, match="3 channels"):
        kotlin(meta)


@pytest.mark.parametrize("language, check, change", [
    ("kotlin", "image", lambda c: c.replace("coerceIn(0f, 1f) * 255f", "coerceIn(0f, 1f) * 256f")),
    ("kotlin", "image", lambda c: c.replace("- outZero) * outScale,", "- inZero) * inScale,", 1)),
    ("kotlin", "image", lambda c: c.replace("(output.get(3 * i + 1)", "(output.get(3 * i + 2)", 1)),
    ("kotlin", "image", lambda c: c.replace("out[65536 + i], out[131072 + i]", "out[131072 + i], out[65536 + i]")),
    ("kotlin", "image", lambda c: c.replace("Bitmap.Config.ARGB_8888", "Bitmap.Config.RGB_565", 1)),
    ("kotlin", "scalar", lambda c: c.replace("fillStrength <= 1f", "fillStrength < 1f", 1)),
    ("kotlin", "scalar", lambda c: c.replace("chw.fill(fillStrength, 196608", "chw.fill(fillStrength, 131072")),
    ("kotlin", "scalar", lambda c: c.replace("255f, fillStrength)", "255f)")),
    ("kotlin", "scalar", lambda c: c.replace("(p and 0xFF) / 255f, fillStrength", "fillStrength, (p and 0xFF) / 255f")),
    ("kotlin", "scalar", lambda c: c.replace("                input.put((Math.round(v / inScale) + inZero)",
                                             "                input.put((Math.round(v * 255f) + inZero)")),
    ("swift", "image", lambda c: c.replace("precondition(output.dataType == .float32, \"the model declares a float32 output\")\n        let strides = output.strides.map { $0.intValue }  // [n, c, y, x]; the runtime may pad rows\n        let values = output.dataPointer.bindMemory(to: Float.self, capacity: strides[0])\n        var rgba = [UInt8](repeating: 255",
                                           "let strides = output.strides.map { $0.intValue }  // [n, c, y, x]; the runtime may pad rows\n        let values = output.dataPointer.bindMemory(to: Float.self, capacity: strides[0])\n        var rgba = [UInt8](repeating: 255")),
    ("swift", "image", lambda c: c.replace("Float.minimum(Float.maximum(value, 0), 1)", "value")),
    ("swift", "image", lambda c: c.replace("x * strides[3]]", "x]")),
    ("swift", "scalar", lambda c: c.replace("planes[3 * count + i] = fillStrength", "planes[2 * count + i] = fillStrength")),
    ("swift", "scalar", lambda c: c.replace("precondition(fillStrength >= 0 && ", "precondition(")),
])
def test_the_image_and_scalar_checks_catch_a_deviation(language, check, change):
    meta = _facial_shadow(_platform(language))
    code = _code(language, meta)
    checker = check_image_output if check == "image" else check_scalar_inputs
    checker(code, language, meta)
    changed = change(code)
    assert changed != code
    with pytest.raises(AssertionError):
        checker(changed, language, meta)
