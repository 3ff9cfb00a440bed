"""Where edge files go, and the small file utilities every stage shares (atomic writes, sha256).

Layout of a build folder (default build/edge, git-ignored):

    build/edge/<task>/<task>_student_<precision>.{pte,tflite,mlpackage}
    build/edge/<task>/<task>_student_int8.pt2   the quantized PyTorch program (`quantize`)
    build/edge/<task>/export.json               the variants written, with sha256 and I/O details
    build/edge/<task>/verify.json               parity and accuracy of every variant
    build/edge/<task>/bench.json                size, MACs, memory and latency of every variant
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from portrait_edge import atomic
from portrait_edge.errors import PortraitEdgeError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BUILD_DIR = REPO_ROOT / "build" / "edge"

EXPORT_JSON = "export.json"
VERIFY_JSON = "verify.json"
BENCH_JSON = "bench.json"


def target_name(task_id: str, resolution: int | None = None, main_resolution: int | None = None) -> str:
    """The name of a task built at one input size, used for its build folder and its bundle folder: the
    task id at the recipe's main resolution, <task>_<px> at one of its more_resolutions (retouch_512)."""
    return task_id if resolution is None or resolution == main_resolution else f"{task_id}_{resolution}"


def task_dir(build_dir: Path | str, target: str) -> Path:
    """A target's build folder (target: a task id, or target_name's <task>_<px>)."""
    return Path(build_dir) / target


def portable_path(path: Path | str) -> str:
    """How a file is named in manifests that travel (bundles, reports): relative to the folder holding
    the portrait_edge package (so shipped weights read portrait_edge/weights/...), else to the working
    directory, else just the file name: never an absolute path of the machine that built them."""
    path = Path(path).resolve()
    for base in (REPO_ROOT, Path.cwd().resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.name


def sha256_of(path: Path | str) -> str:
    """sha256 of a file, or of a directory (an .mlpackage): the sorted relative paths and file bytes."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(_file_digest(file).encode())
        return digest.hexdigest()
    return _file_digest(path)


def require_checksum(path: Path, expected_sha256: str, recorded_in: Path, remedy: str) -> None:
    """Refuses, in one line, a file listed in `recorded_in` that is missing or whose sha256 is not the
    recorded one (a corrupt or replaced file); `remedy` says what to run."""
    if not path.exists():
        raise PortraitEdgeError(f"{path} is listed in {recorded_in} but missing; {remedy}")
    digest = sha256_of(path)
    if digest != expected_sha256:
        raise PortraitEdgeError(f"{path}: checksum mismatch with {recorded_in.name} (sha256 {digest[:12]}…, recorded "
                                f"{expected_sha256[:12]}…): corrupt or replaced file; {remedy}")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def size_of(path: Path | str) -> int:
    """Bytes of a file, or the total of the files in a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes_atomic(path, data)


def write_json_atomic(path: Path | str, data: Any) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: Path | str, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise PortraitEdgeError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PortraitEdgeError(f"{what} {path} is not valid JSON ({error})") from None
