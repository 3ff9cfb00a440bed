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
