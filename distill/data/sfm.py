"""SfM-120k training tuples (`retrieval-SfM-120k.pkl` layout), read as published by cirtorch.

The pickle holds splits (`train`, `val`), each with `cids` (image ids), `cluster` (3D model id of
each image), `qidxs` (query image indices) and `pidxs` (the positive paired with each query).
Image files live at `<ims>/<cid[-2:]>/<cid[-4:-2]>/<cid[-6:-4]>/<cid>` (cirtorch's cid2filename).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.images import ImageRef
from distill.data.pickles import read_pickle, require_keys
from distill.errors import DistillError

SPLIT_KEYS = ("cids", "cluster", "qidxs", "pidxs")


def cid_to_path(ims_root: Path, cid: str) -> Path:
    """cirtorch's image location for id `cid`."""
    return ims_root / cid[-2:] / cid[-4:-2] / cid[-6:-4] / cid


@dataclass
class TupleSplit:
    """One split of a tuple set: images, their clusters and (query, positive) pairs."""

    ims_root: Path
    cids: list[str]
    cluster: np.ndarray
    qidxs: np.ndarray
    pidxs: np.ndarray

    @property
    def refs(self) -> list[ImageRef]:
        """All images of the split, in cid order."""
        return [ImageRef(cid_to_path(self.ims_root, c)) for c in self.cids]

    def list_sha256(self) -> str:
        """Identity of the image list, for cache manifests."""
        return hashlib.sha256("\n".join(self.cids).encode()).hexdigest()


def load_sfm(path: str | Path, split: str = "train", ims_root: str | Path | None = None) -> TupleSplit:
    """Read one split of a SfM-120k-format pickle; images default to `<pickle dir>/ims`."""
    p = Path(path)
    db = read_pickle(p)
    if not isinstance(db, dict) or split not in db:
        keys = list(db) if isinstance(db, dict) else type(db).__name__
        raise DistillError(f"{p}: expected split {split!r} (SfM-120k format has 'train'/'val'), found {keys}")
    s = require_keys(db[split], SPLIT_KEYS, f"{p}: [{split!r}]")
    cids = [str(c) for c in s["cids"]]
    cluster = np.asarray(s["cluster"], dtype=np.int64).reshape(-1)
    qidxs = np.asarray(s["qidxs"], dtype=np.int64).reshape(-1)
    pidxs = np.asarray(s["pidxs"], dtype=np.int64).reshape(-1)
    if len(cluster) != len(cids):
        raise DistillError(f"{p}: [{split!r}]['cluster'] has {len(cluster)} entries, 'cids' has {len(cids)}")
    if len(qidxs) != len(pidxs):
        raise DistillError(f"{p}: [{split!r}] 'qidxs' ({len(qidxs)}) and 'pidxs' ({len(pidxs)}) differ in length")
    for name, arr in (("qidxs", qidxs), ("pidxs", pidxs)):
        if arr.size and (arr.min() < 0 or arr.max() >= len(cids)):
            raise DistillError(f"{p}: [{split!r}]['{name}'] index out of range [0, {len(cids)})")
    root = Path(ims_root) if ims_root is not None else p.parent / "ims"
    return TupleSplit(ims_root=root, cids=cids, cluster=cluster, qidxs=qidxs, pidxs=pidxs)
