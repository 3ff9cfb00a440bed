"""Markdown table of benchmarks/parsing_real_photos.sh results: before (renders only) vs after (mixed).

    python benchmarks/parsing_real_table.py build/parsing-real/before build/parsing-real/after
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

INNER = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip")
OUTER = ("hair", "l_ear", "r_ear", "neck", "cloth", "hat", "eye_g")


def main(folders: list[str]) -> int:
    print("| model | synthetic test mIoU (200) | pool val mIoU vs pseudo-labels | inner face (mean of 9) | "
          + " | ".join(OUTER) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(OUTER))
    for folder in folders:
        for test in sorted(Path(folder).glob("*.synthetic-test.json")):
            name = test.name.removesuffix(".synthetic-test.json")
            synthetic = json.loads(test.read_text())
            pool = json.loads((test.parent / f"{name}.pool-val.json").read_text())
            inner = sum(pool[f"iou_{c}"] for c in INNER) / len(INNER)
            print(f"| {Path(folder).name}/{name} | {synthetic['miou']:.4f} | {pool['miou']:.4f} ({int(pool['n'])}) | "
                  f"{inner:.4f} | " + " | ".join(f"{pool[f'iou_{c}']:.3f}" for c in OUTER) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
