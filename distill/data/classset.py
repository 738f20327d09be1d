"""Class-labelled image sets (CUB/Cars/SOP style) for Recall@K: `root/<class>/<image>` or a CSV.

The CSV form has a header `path,label`; relative paths are taken from the CSV's directory.
"""

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.images import ImageRef, image_suffixes
from distill.errors import DistillError

@dataclass
class ClassSet:
    """Images with integer labels; `classes[label]` is the class name."""

    root: Path
    refs: list[ImageRef]
    labels: np.ndarray
    classes: list[str]

    def list_sha256(self) -> str:
        """Identity of the image list and labels, for cache manifests."""
        h = hashlib.sha256()
        for ref, lab in zip(self.refs, self.labels, strict=True):
            h.update(f"{ref.key(self.root)}\t{self.classes[lab]}\n".encode())
        return h.hexdigest()


def load_classset(path: str | Path) -> ClassSet:
    """Read a class folder tree or a `path,label` CSV."""
    p = Path(path)
    if p.is_file() and p.suffix == ".csv":
        return _from_csv(p)
    if not p.is_dir():
        raise DistillError(f"{p}: expected a directory of class folders or a path,label CSV")
    class_dirs = sorted(d for d in p.iterdir() if d.is_dir())
    suffixes = image_suffixes()
    refs: list[ImageRef] = []
    labels: list[int] = []
    for lab, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in suffixes)
        refs += [ImageRef(f) for f in files]
        labels += [lab] * len(files)
    if not refs:
        raise DistillError(f"{p}: no images found in class folders (expected {p}/<class>/<image>)")
    return ClassSet(p, refs, np.asarray(labels, np.int64), [d.name for d in class_dirs])


def _from_csv(p: Path) -> ClassSet:
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise DistillError(f"{p}: expected a CSV with header 'path,label' and at least one row")
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    refs = [ImageRef(Path(r["path"]) if Path(r["path"]).is_absolute() else p.parent / r["path"]) for r in rows]
    labels = np.asarray([index[r["label"]] for r in rows], np.int64)
    return ClassSet(p.parent, refs, labels, classes)
