"""Revisited Oxford/Paris test sets (`gnd_roxford5k.pkl` layout), read as published.

A set is a pickle with `imlist` (database names), `qimlist` (query names) and `gnd`, one dict per
query with index arrays `easy`, `hard`, `junk` into imlist and the query box `bbx` (x0, y0, x1, y1).
Images live in `<pickle dir>/jpg/<name>.jpg`, as revisitop lays them out. Queries are cropped to
their box before encoding, as in the protocol.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.data.images import ImageRef
from distill.data.pickles import read_pickle, require_keys
from distill.errors import DistillError


@dataclass
class RevisitedSet:
    """Database + queries + per-query ground truth of one revisited-format test set."""

    name: str
    root: Path
    imlist: list[str]
    qimlist: list[str]
    gnd: list[dict[str, np.ndarray]]

    @property
    def db_refs(self) -> list[ImageRef]:
        """Database images (full frame)."""
        return [ImageRef(self.image_path(n)) for n in self.imlist]

    @property
    def query_refs(self) -> list[ImageRef]:
        """Query images cropped to their `bbx`."""
        return [ImageRef(self.image_path(n), tuple(float(v) for v in g["bbx"]))  # type: ignore[arg-type]
                for n, g in zip(self.qimlist, self.gnd, strict=True)]

    @property
    def refs(self) -> list[ImageRef]:
        """Everything a cache must hold: database images first, then the cropped queries."""
        return self.db_refs + self.query_refs

    def image_path(self, name: str) -> Path:
        """Where revisitop keeps image `name`."""
        return self.root / "jpg" / f"{name}.jpg"

    def list_sha256(self) -> str:
        """Identity of the encoded image list (names and boxes), for cache manifests."""
        h = hashlib.sha256()
        for ref in self.refs:
            h.update(ref.key(self.root).encode() + b"\n")
        return h.hexdigest()


def _index_array(value: object, where: str, n_db: int) -> np.ndarray:
    arr = np.asarray(value if value is not None else [], dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= n_db):
        raise DistillError(f"{where}: index out of range [0, {n_db})")
    return arr


def load_revisited(path: str | Path) -> RevisitedSet:
    """Read a `gnd_*.pkl` file, or the single `gnd_*.pkl` inside a directory, and validate it."""
    p = Path(path)
    if p.is_dir():
        found = sorted(p.glob("gnd_*.pkl"))
        if len(found) != 1:
            raise DistillError(f"{p}: expected exactly one gnd_*.pkl (revisited format), found {len(found)}")
        p = found[0]
    cfg = require_keys(read_pickle(p), ("imlist", "qimlist", "gnd"), str(p))
    imlist, qimlist, raw = list(cfg["imlist"]), list(cfg["qimlist"]), cfg["gnd"]
    if not isinstance(raw, list | tuple) or len(raw) != len(qimlist):
        raise DistillError(f"{p}: field 'gnd' must be a list with one entry per query ({len(qimlist)})")
    gnd = []
    for i, g in enumerate(raw):
        where = f"{p}: gnd[{i}]"
        require_keys(g, ("easy", "hard", "junk", "bbx"), where)
        entry = {k: _index_array(g[k], f"{where}['{k}']", len(imlist)) for k in ("easy", "hard", "junk")}
        bbx = np.asarray(g["bbx"], dtype=np.float64).reshape(-1)
        if bbx.size != 4 or not (bbx[2] > bbx[0] and bbx[3] > bbx[1]):
            raise DistillError(f"{where}['bbx']: expected (x0, y0, x1, y1) with x1 > x0 and y1 > y0")
        entry["bbx"] = bbx
        gnd.append(entry)
    name = p.stem.removeprefix("gnd_")
    return RevisitedSet(name=name, root=p.parent, imlist=imlist, qimlist=qimlist, gnd=gnd)
