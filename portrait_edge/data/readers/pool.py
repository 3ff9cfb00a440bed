"""The real-portrait pool (portrait_edge.data.pool) as a dataset reader, for training and evaluation.

    open_reader("pool", POOL, split="val", labels="pseudo", task="parsing")
    open_reader("pool", POOL, split="train", task="shadow", pairs="shadow", pair_seed=0)

Samples {"image": HxWx3 uint8 framed crop, "landmarks": 478x3 float32 Face Mesh landmarks in pixels of
the crop, "labels": HxW int64 (255 = ignore; only with `labels`)}.
With `pairs` (shadow | retouch), each photo becomes a real-photo pair (portrait_edge.data.real_pairs):
{"image": the composite, "target": the photo, "<shadow|blemish>_mask", "face_mask": HxW float32}, its
composite seeded by the photo's key and `pair_seed`, so a split is a fixed set of pairs; with
`clean_percent` that share of the photos (chosen by the same seed) are their own pair, with an empty mask.
With `pairs="maskedit"` (needs `labels`: complete masks, `pool label --rules model`), half the photos
(chosen by the same seed) get another photo's mask as their edit target: {"image", "labels", the target
"target_labels", "mask_photo" (the photo that mask belongs to), "swapped"}; the others keep their own
(a reconstruction pair). There is no image of a photo under another's mask: no target image.
`task` keeps only photos whose source may train that task (CelebA-derived photos never reach parsing,
normals or maskedit); with `labels`, only photos of that label set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portrait_edge.data.readers.base import DatasetReader, Sample, resize_image, resize_nearest
from portrait_edge.errors import PortraitEdgeError


class PoolReader(DatasetReader):
    name = "pool"

    def __init__(self, root: str | Path, size: int | None = None, split: str | None = "train",
                 labels: str | None = None, task: str | None = None, pairs: str | None = None,
                 pair_seed: int | str = 0, clean_percent: float | str = 0) -> None:
        super().__init__(root)
        from portrait_edge.data.pool import Pool
        from portrait_edge.data.real_pairs import PAIR_TASKS

        if split not in (None, "train", "val"):
            raise PortraitEdgeError(f"pool split must be train or val, not {split!r}")
        if pairs not in (None, *PAIR_TASKS, "maskedit"):
            raise PortraitEdgeError(f"pool pairs must be one of {', '.join(PAIR_TASKS)}, maskedit, not {pairs!r}")
        if pairs == "maskedit" and not labels:
            raise PortraitEdgeError("pool pairs maskedit need a label set (labels: ..., made by pool label --rules model)")
        try:
            self.pair_seed = int(pair_seed)
        except ValueError:
            raise PortraitEdgeError(f"pool pair_seed must be an integer, not {pair_seed!r}") from None
        try:
            self.clean_percent = float(clean_percent)
        except ValueError:
            raise PortraitEdgeError(f"pool clean_percent must be a number, not {clean_percent!r}") from None
        if not 0 <= self.clean_percent <= 100:
            raise PortraitEdgeError(f"pool clean_percent must be between 0 and 100, not {clean_percent}")
        self.pairs = pairs
        task = task or pairs
        self.pool = Pool(self.root, task=task, split=split)
        self.size = size
        self.label_set = None
        self.indices = list(range(len(self.pool)))
        if labels:
            from portrait_edge.data.pseudo_labels import LabelSet

            self.label_set = LabelSet(self.root, labels)
            self.indices = [i for i in self.indices if self.pool.records[i]["key"] in self.label_set]
        if not self.indices:
            raise PortraitEdgeError(f"pool {self.root} has no {split or 'any'} photos"
                                    f"{f' for {task}' if task else ''}{f' with labels {labels!r}' if labels else ''}")
        self.ids = [self.pool.records[i]["key"] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, index: int) -> Sample:
        i = self.indices[index]
        size = self.size or 256
        image = self._image(i)
        if self.pairs is not None:
            import hashlib

            from portrait_edge.data.real_pairs import make_pair

            key = self.pool.records[i]["key"]
            seed = int(hashlib.sha256(f"{key}:{self.pair_seed}".encode()).hexdigest()[:15], 16)
            if self.pairs == "maskedit":
                return self._mask_pair(index, image, seed)
            clean = seed % 10_000 < self.clean_percent * 100  # the photo as its own pair (nothing to remove)
            return make_pair(self.pairs, image, self.pool.landmarks(i, size), seed, clean=clean)
        sample: Sample = {"image": image, "landmarks": self.pool.landmarks(i, size)}
        if self.label_set is not None:
            sample["labels"] = self._labels(i)
        return sample

    def _image(self, i: int) -> np.ndarray:
        size = self.size or 256
        crop_size = 512 if size > 256 and 512 in self.pool.summary["sizes"] else 256
        return resize_image(self.pool.image(i, crop_size), size)

    def _labels(self, i: int) -> np.ndarray:
        labels = self.label_set.labels(self.pool.records[i]["key"])
        return resize_nearest(labels, self.size or 256).astype(np.int64)

    def _mask_pair(self, index: int, image: np.ndarray, seed: int) -> Sample:
        labels = self._labels(self.indices[index])
        sample: Sample = {"image": image, "labels": labels, "target_labels": labels, "mask_photo": image,
                          "swapped": np.array(False)}
        if seed % 2 and len(self.indices) > 1:
            partner = (index + 1 + (seed >> 1) % (len(self.indices) - 1)) % len(self.indices)  # never itself
            j = self.indices[partner]
            sample.update(target_labels=self._labels(j), swapped=np.array(True), mask_photo=self._image(j))
        return sample
