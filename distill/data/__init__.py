"""Datasets: revisited Oxford/Paris test sets, SfM-120k tuples, class-labelled sets."""

from pathlib import Path

from distill.data.classset import ClassSet, load_classset
from distill.data.images import ImageRef
from distill.data.pickles import read_pickle
from distill.data.revisited import RevisitedSet, load_revisited
from distill.data.sfm import TupleSplit, load_sfm
from distill.errors import DistillError

Dataset = RevisitedSet | ClassSet | TupleSplit


def open_dataset(path: str | Path, split: str = "train") -> Dataset:
    """Open `path` by what it holds: a photo pool folder (pool.csv) is a class set of one photo per class, a gnd_*.pkl (or a folder with one) is a revisited test set, another
    .pkl (or a folder with exactly one) is SfM-120k tuples (`split`), a folder of class folders or a
    path,label CSV is a class set."""
    p = Path(path)
    if not p.exists():
        raise DistillError(f"{p}: dataset not found")
    if p.is_dir():
        if (p / "pool.csv").is_file():  # a photo pool (distill data build-pool)
            return load_classset(p / "pool.csv")
        pkls = sorted(p.glob("*.pkl"))
        if any(q.name.startswith("gnd_") for q in pkls):
            return load_revisited(p)
        if len(pkls) == 1:
            return load_sfm(pkls[0], split)
        return load_classset(p)
    if p.suffix == ".pkl":
        obj = read_pickle(p)
        return load_revisited(p) if isinstance(obj, dict) and "gnd" in obj else load_sfm(p, split)
    return load_classset(p)


__all__ = ["ClassSet", "Dataset", "ImageRef", "RevisitedSet", "TupleSplit", "load_classset",
           "load_revisited", "load_sfm", "open_dataset"]
