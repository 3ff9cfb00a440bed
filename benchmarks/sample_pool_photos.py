"""A fixed subset of the real-portraits issue's photo folders, as symlinks, for a smaller pool.

    python benchmarks/sample_pool_photos.py PHOTOS SUBSET
    bash benchmarks/build_real_pool.sh SUBSET /work/pools/real-sub --sizes 256

PHOTOS holds the five extracted folders (see benchmarks/build_real_pool.sh); SUBSET gets the same folders
with the first N photos of each in the order of sha256(path relative to PHOTOS): the same subset on
every machine. The pool's train/validation split goes by identity hash, so a photo of the subset
lands in the same split as in the full pool. The shadow and facial_shadow recipes train on the pool of
this subset (14,703 photos kept of 15,000; 86 photos/s with 2 workers at 256 px).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

FOLDERS = {  # folder in PHOTOS: photos taken
    "All-Age-Faces Dataset/original images": 3000,
    "data/UTKFace/unlabeled": 3000,
    "data/landing/Images": 2000,
    "images": 2000,
    "celeba_identity_samples": 5000,
}


def main(photos: str, subset: str) -> int:
    root, out = Path(photos), Path(subset)
    for folder, count in FOLDERS.items():
        files = sorted((p for p in (root / folder).rglob("*") if p.is_file()),
                       key=lambda p: hashlib.sha256(str(p.relative_to(root)).encode()).hexdigest())
        for path in files[:count]:
            link = out / path.relative_to(root)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.symlink(path.resolve(), link)
        print(f"{folder}: {min(count, len(files))} of {len(files)} photos")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    raise SystemExit(main(*sys.argv[1:]))
