"""The real-portrait pool: folders of photos -> framed face crops in shards, with a manifest.

    portrait-edge pool build --from PHOTOS --source-name NAME --licence TEXT [--tasks all] --out POOL

Each photo is read through portrait_edge.io, its face found by MediaPipe Face Mesh (refined: 478
landmarks; tight crops are padded and tried again), and rejected when it is grayscale, has no face, a
face too small to use, or is an exact (file sha256) or near duplicate (a 256-bit difference hash of the
framed crop, within NEAR_DUPLICATE_BITS, across all sources) of a photo kept before it. Kept faces are
cropped with the ONE framing (portrait_edge.framing) at each requested size and stored as JPEG members
of tar shards.

Layout of POOL/:
- pool.json: sources (name, folders, licence, the tasks they may train), sizes, framing constants,
  counts (seen, kept, rejected by reason), the split rule.
- manifest.jsonl: one line per kept photo: key, source, path (relative to its --from folder), file
  sha256, split (train | val), identity, face box and framing square in the photo's pixels, the valid
  rectangle of the crop (the rest repeats the photo's edges), the row of its landmarks, and per size the
  shard, byte offset, length and sha256 of the JPEG.
- landmarks.f32: 478 refined Face Mesh landmarks (x, y, z) per kept photo in the 256-crop's pixels,
  float32 little-endian, row r = manifest line r; read memory-mapped, so a 90k-photo pool's records fit
  in a few hundred MB.
- shards/s<size>-<nnnnn>.tar: the crops, <key>.jpg.

Split: a photo goes to val when sha256(identity) mod 100 < val_percent. The identity is the photo's own
file hash unless --identity says what names the person: parent-folder (the folder a photo sits in) or
name-prefix (the file name up to its first underscore, as in CelebA's `<identity>_<image>.jpg`), so one
person is never in both splits when identities are known. Building streams: memory holds only the
duplicate hashes, never the photos; bad files are counted and listed in pool.json, never fatal. The
pool is built in a private folder beside POOL and moved into place when complete (portrait_edge.staging).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from portrait_edge import framing
from portrait_edge.errors import PortraitEdgeError
from portrait_edge.staging import publish, staging_folder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")
SHARD_SIZE = 1000
# Of 256 bits. Measured on 150 SCUT ID photos (framed, so faces align): different photos differ in 50 bits
# (median), 14 (0.1st percentile), 8 (least); a photo resized to 86% and saved at JPEG quality 70 in 5.
NEAR_DUPLICATE_BITS = 6
MIN_FACE = 64  # landmark box side in photo pixels: smaller faces are too blurry once framed
GRAYSCALE_CHROMA = 3.0  # mean |R-G| + |G-B| below this (0..255) = a grayscale photo
TASK_IDS = ("shadow", "facial_shadow", "normals", "parsing", "retouch", "maskedit")
IDENTITY_RULES = ("photo", "parent-folder", "name-prefix")
LANDMARK_ROW = (478, 3)
FORMAT = "portrait-edge pool 2"


@dataclass
class Source:
    folder: str
    name: str
    licence: str
    tasks: tuple[str, ...] = TASK_IDS
    identity: str = "photo"  # one of IDENTITY_RULES

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "folder": self.folder, "licence": self.licence, "tasks": list(self.tasks),
                "identity": self.identity}


@dataclass
class BuildStats:
    seen: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def reject(self, reason: str, path: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        listed = self.examples.setdefault(reason, [])
        if len(listed) < 5:
            listed.append(path)


def parse_tasks(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return TASK_IDS
    tasks = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in tasks if t not in TASK_IDS]
    if unknown or not tasks:
        raise PortraitEdgeError(f"--tasks: unknown task {', '.join(unknown) or '(none)'}; use 'all' or a "
                                f"comma list of {', '.join(TASK_IDS)}")
    return tasks


def iter_photos(folder: Path) -> Iterator[Path]:
    """Image files under folder, recursively, in a stable (sorted) order, streamed folder by folder."""
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from iter_photos(Path(entry.path))
        elif entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES) and not entry.name.startswith("."):
            yield Path(entry.path)


# ---------------------------------------------------------------- per photo (runs in worker processes)


def difference_hash(image: np.ndarray) -> int:
    """256-bit difference hash of an RGB image (16 x 16 signs of horizontal gradients of a 17 x 16 gray)."""
    from PIL import Image

    gray = np.asarray(Image.fromarray(image).convert("L").resize((17, 16), Image.Resampling.BILINEAR), np.int16)
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def chroma(image: np.ndarray) -> float:
    small = image[:: max(1, image.shape[0] // 64), :: max(1, image.shape[1] // 64)].astype(np.int16)
    return float(np.abs(small[..., 0] - small[..., 1]).mean() + np.abs(small[..., 1] - small[..., 2]).mean())


def find_landmarks(image: np.ndarray) -> np.ndarray:
    """478 refined Face Mesh landmarks of the largest face, in the photo's pixels (NoFaceError if none)."""
    from portrait_edge.data.landmarks import NoFaceError, find_faces

    faces = find_faces(image)
    if not faces:
        raise NoFaceError(f"no face found in the {image.shape[1]}x{image.shape[0]} image")
    return faces[0]


def process_photo(path: str, sizes: tuple[int, ...]) -> dict[str, Any]:
    """One photo -> {"ok": True, record fields, crops} or {"ok": False, "reason": ..., "detail": ...}."""
    from portrait_edge.data.landmarks import NoFaceError
    from portrait_edge.io import read_image

    try:
        data = Path(path).read_bytes()
        image = read_image(path)
    except (PortraitEdgeError, OSError) as error:
        return {"ok": False, "reason": "unreadable", "detail": str(error).splitlines()[0]}
    if chroma(image) < GRAYSCALE_CHROMA:
        return {"ok": False, "reason": "grayscale"}
    try:
        landmarks = find_landmarks(image)
    except NoFaceError:
        return {"ok": False, "reason": "no_face"}
    box = framing.face_box(landmarks)
    if max(box[2] - box[0], box[3] - box[1]) < MIN_FACE:
        return {"ok": False, "reason": "face_too_small"}
    square = framing.square_from_box(box)
    framed = {size: framing.crop(image, square, size) for size in sizes}
    crop256, valid = framed[256] if 256 in framed else framing.crop(image, square, 256)
    crops = {size: _jpeg(crop) for size, (crop, _) in framed.items()}
    return {"ok": True, "sha256": hashlib.sha256(data).hexdigest(), "dhash": difference_hash(crop256),
            "face_box": [round(v, 2) for v in box], "square": square.as_dict(), "valid": list(valid),
            "landmarks": framing.to_crop(landmarks, square, 256).astype("<f4").tobytes(),
            "photo_size": [image.shape[1], image.shape[0]], "crops": crops}


def _jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def _worker(job: tuple[str, tuple[int, ...]]) -> dict[str, Any]:
    try:
        return process_photo(*job)
    except Exception as error:  # one bad photo never stops a build
        return {"ok": False, "reason": "error", "detail": f"{type(error).__name__}: {str(error).splitlines()[0]}"}


def _init_worker() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


# ---------------------------------------------------------------- duplicates


class NearDuplicates:
    """Difference hashes seen so far, looked up by 8 bands of 32 bits: a hash within 7 bits of a stored
    one shares at least one band with it exactly, so no near duplicate is missed; candidates are then
    compared bit by bit. Memory: 8 ints per kept photo."""

    BANDS = 8

    def __init__(self, max_bits: int = NEAR_DUPLICATE_BITS) -> None:
        self.max_bits = max_bits
        self.bands: list[dict[int, list[int]]] = [{} for _ in range(self.BANDS)]

    def _band_values(self, value: int) -> list[int]:
        return [(value >> (32 * b)) & 0xFFFFFFFF for b in range(self.BANDS)]

    def find(self, value: int) -> int | None:
        for band, key in zip(self.bands, self._band_values(value)):
            for other in band.get(key, ()):
                if bin(other ^ value).count("1") <= self.max_bits:
                    return other
        return None

    def add(self, value: int) -> None:
        for band, key in zip(self.bands, self._band_values(value)):
            band.setdefault(key, []).append(value)


# ---------------------------------------------------------------- building


def identity_of(source: Source, relative: str, sha256: str) -> str:
    """The name of the person in a photo, by the source's --identity rule (the photo's own hash if unknown)."""
    path = Path(relative)
    if source.identity == "parent-folder":
        return f"{source.name}/{path.parent.as_posix()}"
    if source.identity == "name-prefix" and "_" in path.name:
        return f"{source.name}/{path.parent.as_posix()}/{path.name.split('_', 1)[0]}"
    return sha256


def split_of(identity: str, val_percent: float) -> str:
    bucket = int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16) % 10_000
    return "val" if bucket < val_percent * 100 else "train"


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> int:
    """Append a file to a tar being written; returns the byte offset of its data in the tar file."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))  # writes header(s), then the data padded to 512-byte blocks
    padded = -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return tar.offset - padded


class ShardWriter:
    """Appends files to numbered tar shards of SHARD_SIZE members: folder/<prefix><nnnnn>.tar."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder, self.prefix = folder, prefix
        self.index, self.count, self.tar, self.name = -1, SHARD_SIZE, None, ""

    def add(self, member: str, data: bytes) -> dict[str, Any]:
        """Writes one member; returns where its bytes are: shard (relative to folder), offset, length."""
        if self.count >= SHARD_SIZE:
            self.close()
            self.index += 1
            self.count = 0
            self.name = f"{self.prefix}{self.index:05d}.tar"
            self.tar = tarfile.open(self.folder / self.name, "w", format=tarfile.USTAR_FORMAT)
        offset = add_member(self.tar, member, data)
        self.count += 1
        return {"shard": self.name, "offset": offset, "length": len(data)}

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None


def build_pool(sources: list[Source], out: str | Path, sizes: tuple[int, ...] = (256,), val_percent: float = 5.0,
               workers: int = 2, limit: int | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Build a pool at `out` (which must not exist yet) and return its pool.json content."""
    from tqdm import tqdm

    out = Path(out)
    if out.exists():
        raise PortraitEdgeError(f"pool folder {out} already exists; choose a new --out (pools are built whole)")
    for source in sources:
        if not Path(source.folder).is_dir():
            raise PortraitEdgeError(f"--from {source.folder}: not a folder")
    if not sizes or any(s < 32 for s in sizes):
        raise PortraitEdgeError(f"crop sizes must be at least 32, got {sizes}")
    def refuse(existing: Path) -> None:  # another build finished first
        raise PortraitEdgeError(f"pool folder {existing} already exists; choose a new --out (pools are built whole)")

    with staging_folder(out, "pool") as staging:
        (staging / "shards").mkdir()
        summary = _build_into(staging, sources, tuple(sorted(set(sizes))), val_percent, workers, limit,
                              show_progress, tqdm)
        publish(staging, out, refuse)
    return summary


def _stored(writer: ShardWriter, key: str, data: bytes) -> dict[str, Any]:
    return {**writer.add(f"{key}.jpg", data), "sha256": hashlib.sha256(data).hexdigest()}


def _jobs(sources: list[Source], sizes: tuple[int, ...], limit: int | None) -> Iterator[tuple[int, Path, tuple]]:
    count = 0
    for number, source in enumerate(sources):
        for path in iter_photos(Path(source.folder)):
            if limit is not None and count >= limit:
                return
            count += 1
            yield number, path, (str(path), sizes)


def _build_into(folder: Path, sources: list[Source], sizes: tuple[int, ...], val_percent: float, workers: int,
                limit: int | None, show_progress: bool, tqdm) -> dict[str, Any]:
    import multiprocessing

    started = time.time()
    stats = BuildStats()
    per_source = [BuildStats() for _ in sources]
    writers = {size: ShardWriter(folder, f"shards/s{size}-") for size in sizes}
    exact: set[str] = set()
    near = NearDuplicates()
    jobs = _jobs(sources, sizes, limit)
    meta: list[tuple[int, Path]] = []  # (source, path) of jobs in flight, in order

    def job_stream():
        for number, path, job in jobs:
            meta.append((number, path))
            yield job

    if workers > 1:
        # spawn, not fork: a forked copy of a process that already runs a MediaPipe graph aborts
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker)
        results = pool.imap(_worker, job_stream(), chunksize=8)
    else:
        pool = None
        results = map(_worker, job_stream())
    progress = tqdm(desc="pool build", unit="photo", disable=not show_progress)
    try:
        with open(folder / "manifest.jsonl", "w", encoding="utf-8") as manifest, \
                open(folder / "landmarks.f32", "wb") as landmark_rows:
            for position, result in enumerate(results):
                number, path = meta[position]
                meta[position] = None  # keep memory flat
                source = sources[number]
                relative = path.relative_to(source.folder).as_posix()
                stats.seen += 1
                per_source[number].seen += 1
                progress.update(1)
                reason = None
                if not result["ok"]:
                    reason = result["reason"]
                elif result["sha256"] in exact:
                    reason = "exact_duplicate"
                elif near.find(result["dhash"]) is not None:
                    reason = "near_duplicate"
                if reason:
                    stats.reject(reason, f"{source.name}:{relative}")
                    per_source[number].reject(reason, relative)
                    continue
                exact.add(result["sha256"])
                near.add(result["dhash"])
                key = f"{number:02d}-{result['sha256'][:16]}"
                identity = identity_of(source, relative, result["sha256"])
                record = {"key": key, "source": source.name, "path": relative, "sha256": result["sha256"],
                          "split": split_of(identity, val_percent), "identity": hashlib.sha256(identity.encode()).hexdigest()[:16],
                          "photo_size": result["photo_size"], "face_box": result["face_box"],
                          "square": result["square"], "valid": result["valid"], "dhash": f"{result['dhash']:064x}",
                          "crops": {str(size): _stored(writers[size], key, result["crops"][size]) for size in sizes},
                          "landmark_row": stats.kept}
                landmark_rows.write(result["landmarks"])
                manifest.write(json.dumps(record, separators=(",", ":")) + "\n")
                stats.kept += 1
                per_source[number].kept += 1
                if stats.seen % 200 == 0:
                    progress.set_postfix(kept=stats.kept, refresh=False)
    finally:
        progress.close()
        for writer in writers.values():
            writer.close()
        if pool is not None:
            pool.terminate()
    seconds = time.time() - started
    summary = {
        "format": FORMAT,
        "landmarks": {"file": "landmarks.f32", "dtype": "<f4", "row": list(LANDMARK_ROW), "pixels": "256-crop"},
        "sizes": list(sizes),
        "framing": {"module": "portrait_edge.framing", "expansion": framing.EXPANSION, "center_y": framing.CENTER_Y},
        "split": {"rule": "val when sha256(identity) mod 10000 < val_percent * 100", "val_percent": val_percent},
        "sources": [dict(s.as_dict(), seen=p.seen, kept=p.kept, rejected=p.rejected, examples=p.examples)
                    for s, p in zip(sources, per_source)],
        "counts": {"seen": stats.seen, "kept": stats.kept, "rejected": stats.rejected},
        "filters": {"min_face_px": MIN_FACE, "grayscale_chroma": GRAYSCALE_CHROMA,
                    "near_duplicate_bits": f"{NEAR_DUPLICATE_BITS}/256"},
        "build_seconds": round(seconds, 1),
        "photos_per_second": round(stats.seen / seconds, 1) if seconds > 0 else None,
    }
    (folder / "pool.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


# ---------------------------------------------------------------- reading


class Pool:
    """A built pool, read lazily: records from manifest.jsonl, crops by (shard, offset) on demand."""

    def __init__(self, root: str | Path, task: str | None = None, split: str | None = None) -> None:
        self.root = Path(root)
        summary_path = self.root / "pool.json"
        if not summary_path.is_file():
            raise PortraitEdgeError(f"{self.root} is not a pool (no pool.json); build one with `portrait-edge pool build`")
        try:
            self.summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise PortraitEdgeError(f"cannot read {summary_path}: {str(error).splitlines()[0]}") from None
        if self.summary.get("format") != FORMAT:
            raise PortraitEdgeError(f"{self.root} is a {self.summary.get('format', 'unknown')!r} pool; this version "
                                    f"reads {FORMAT!r}: rebuild it with `portrait-edge pool build`")
        allowed = {s["name"] for s in self.summary["sources"] if task is None or task in s["tasks"]}
        self.records: list[dict[str, Any]] = []
        with open(self.root / "manifest.jsonl", encoding="utf-8") as manifest:
            for line in manifest:
                record = json.loads(line)
                if record["source"] in allowed and (split is None or record["split"] == split):
                    self.records.append(record)
        rows = self.summary["counts"]["kept"]
        self._landmarks = (np.memmap(self.root / "landmarks.f32", dtype="<f4", mode="r", shape=(rows, *LANDMARK_ROW))
                           if rows else np.zeros((0, *LANDMARK_ROW), np.float32))

    def __len__(self) -> int:
        return len(self.records)

    def crop_bytes(self, index: int, size: int = 256) -> bytes:
        entry = self.records[index]["crops"].get(str(size))
        if entry is None:
            raise PortraitEdgeError(f"pool {self.root} has no {size}px crops (sizes: {self.summary['sizes']})")
        with open(self.root / entry["shard"], "rb") as shard:
            shard.seek(entry["offset"])
            return shard.read(entry["length"])

    def image(self, index: int, size: int = 256) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(self.crop_bytes(index, size))) as image:
            return np.asarray(image.convert("RGB"))

    def landmarks(self, index: int, size: int = 256) -> np.ndarray:
        return np.array(self._landmarks[self.records[index]["landmark_row"]], np.float32) * (size / 256)

    def valid_mask(self, index: int, size: int = 256) -> np.ndarray:
        top, left, bottom, right = (round(v * size / 256) for v in self.records[index]["valid"])
        mask = np.zeros((size, size), bool)
        mask[top:bottom, left:right] = True
        return mask
