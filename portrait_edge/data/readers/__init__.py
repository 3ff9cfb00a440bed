"""Readers of real datasets in their published layouts, all with one interface (DatasetReader):
len(reader), reader[i] -> dict of numpy arrays ("image" always), reader.ids, reader.name.

| name               | class             | layout                                                     |
|--------------------|-------------------|------------------------------------------------------------|
| celebamask_hq      | CelebAMaskHQ      | CelebA-HQ-img/{i}.jpg + CelebAMask-HQ-mask-anno/{i//2000}/  |
| paired             | PairedFolders     | source/ + target/ (or before/after, input/retouched, ...)  |
| ppr10k             | PPR10K            | source/ + masks/ + target_a/ (target_b/, target_c/)        |
| photometric_stereo | PhotometricStereo | one folder per subject: lights.json + center + >= 3 images |
| folder             | PortraitFolder    | any images                                                 |
| pool               | PoolReader        | a real-portrait pool (portrait-edge pool build) + labels   |
"""

from __future__ import annotations

from pathlib import Path

from portrait_edge.data.readers.base import DatasetReader
from portrait_edge.data.readers.celebamask_hq import CelebAMaskHQ
from portrait_edge.data.readers.folder import PortraitFolder
from portrait_edge.data.readers.paired import PairedFolders
from portrait_edge.data.readers.photometric_stereo import PhotometricStereo, fit_normals
from portrait_edge.data.readers.pool import PoolReader
from portrait_edge.data.readers.ppr10k import PPR10K
from portrait_edge.errors import PortraitEdgeError

READERS: dict[str, type[DatasetReader]] = {
    cls.name: cls for cls in (CelebAMaskHQ, PairedFolders, PPR10K, PhotometricStereo, PortraitFolder, PoolReader)
}


def open_reader(kind: str, root: str | Path, **options) -> DatasetReader:
    """The reader of a dataset kind (a READERS key), e.g. open_reader("ppr10k", root, expert="b")."""
    if kind not in READERS:
        raise PortraitEdgeError(f"unknown dataset kind {kind!r} (known: {', '.join(READERS)})")
    return READERS[kind](root, **options)


__all__ = ["READERS", "CelebAMaskHQ", "DatasetReader", "PPR10K", "PairedFolders", "PhotometricStereo",
           "PortraitFolder", "PoolReader", "fit_normals", "open_reader"]
