"""The hosted teacher database: a FAISS index + an id → image map + a manifest, in one directory.

Layout (one *generation* of files, named by the manifest, which is replaced last):

    INDEX/manifest.json          teacher identity, dim, compat key, count, kind (FAISS factory string,
                                 `index_kinds`), search parameters, projection, generation, file names
    INDEX/index-000002-s0.faiss  FAISS index shard 0 (…-s1, … with --shards: contiguous id ranges,
                                 searched together through faiss.IndexShards); id i is items row i
    INDEX/items-000002.jsonl     one {"name", "path"} per line

Every change writes a new generation beside the old one (fsync'ed) and then atomically replaces the
manifest, so a crash at any moment leaves the old or the new index on disk, never a mix. Old
generations and orphans of crashed writes are removed by the next successful write.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from device_eval.index_kinds import IndexSpec, create_faiss_index, faiss_module, set_search_params
from distill.cache import load_cache
from distill.compat import NORMALIZATION, manifest_compat_key, require_same_space
from distill.contracts import IndexManifest, validated
from distill.data import RevisitedSet, TupleSplit, open_dataset
from distill.errors import DistillError
from distill.io import atomic_write, atomic_write_json
from distill.search import require_unit_rows

FORMAT_VERSION = 2  # 2: index files are a list of shards
ADD_CHUNK = 65536
MANIFEST_KEYS = ("format_version", "teacher", "weights_sha256", "dim", "compat_key", "count", "kind", "generation",
                 "files")


@dataclass
class RetrievalIndex:
    """An opened index: FAISS index, the items its ids point to, and its manifest."""

    path: Path
    manifest: dict[str, Any]
    parts: list[Any]  # one FAISS index per shard (contiguous id ranges, in order)
    index: Any  # what is searched: the single part, or a threaded faiss.IndexShards over the parts
    items: list[dict[str, str]]

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def compat_key(self) -> str:
        return str(self.manifest["compat_key"])

    def __len__(self) -> int:
        return len(self.items)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row, best first; ids are -1 where an approximate index finds
        fewer than k items."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise DistillError(f"{self.path}: queries of shape {q.shape}, expected N×{self.dim}")
        scores, ids = self.index.search(q, max(1, min(k, len(self))))
        return scores, ids.astype(np.int64)


def database(data_path: str | Path, teacher_cache: str | Path) -> tuple[np.ndarray, list[dict[str, str]],
                                                                          dict[str, Any]]:
    """The database part of a dataset with its cached teacher embeddings: (vectors, items, cache manifest).

    For a revisited set that is its database images (not the cropped queries); otherwise every image."""
    data = open_dataset(data_path)
    values, man = load_cache(teacher_cache, {"image_list_sha256": data.list_sha256()})
    if isinstance(data, RevisitedSet):
        refs = data.db_refs
        names = list(data.imlist)
    else:
        root = data.ims_root if isinstance(data, TupleSplit) else data.root
        refs = data.refs
        names = [r.key(root) for r in refs]
    items = [{"name": n, "path": str(r.path.resolve())} for n, r in zip(names, refs, strict=True)]
    return values[: len(refs)], items, man


def _chunks(x: np.ndarray, desc: str) -> Iterator[np.ndarray]:
    for start in tqdm(range(0, len(x), ADD_CHUNK), desc=desc, unit="chunk", leave=False):
        yield np.ascontiguousarray(x[start: start + ADD_CHUNK], dtype=np.float32)


def build_index(vectors: np.ndarray, items: list[dict[str, str]], space: dict[str, Any], out: str | Path,
                spec: IndexSpec | None = None, source: str = "", shards: int = 1, *, ivf: int | None = None,
                pq: int | None = None, nprobe: int = 16) -> dict[str, Any]:
    """Write a new index of `vectors` (N×d, L2-normalised) in the space `space` (teacher manifest) to `out`,
    split into `shards` files of contiguous rows (one trained quantiser shared by all). The index kind is
    `spec`'s (default: chosen by size, `index_kinds.default_spec`); `ivf`/`pq` without a spec ask for IVF-PQ."""
    out = Path(out)
    if (out / "manifest.json").exists():
        raise DistillError(f"{out}: an index exists there; add to it with `distill index add` or choose another --out")
    if len(vectors) != len(items) or len(vectors) == 0:
        raise DistillError(f"{source or out}: {len(vectors)} vectors for {len(items)} items (need ≥ 1, equal)")
    dim = int(space["dim"])
    require_unit_rows(vectors, str(source or out))
    if not 1 <= shards <= len(vectors):
        raise DistillError(f"--shards {shards}: expected 1 … {len(vectors)} (the number of vectors)")
    index, described = create_faiss_index(spec or legacy_spec(ivf, pq, nprobe), vectors)
    faiss = faiss_module()
    parts = [index] + [faiss.deserialize_index(faiss.serialize_index(index)) for _ in range(shards - 1)]  # copies
    for part in parts[1:]:  # (clone_index cannot copy the projection's transforms)
        set_search_params(part, described["search_params"])
    for r, part in enumerate(parts):
        a, b = r * len(vectors) // shards, (r + 1) * len(vectors) // shards
        for chunk in _chunks(vectors[a:b], f"index {described['kind']}" + (f" shard {r}" if shards > 1 else "")):
            part.add(chunk)
    manifest = {"format_version": FORMAT_VERSION, "teacher": space["teacher"],
                "weights_sha256": space.get("weights_sha256"), "dim": dim, "normalization": NORMALIZATION,
                "compat_key": manifest_compat_key(space), "count": 0, **described,
                "generation": 0, "files": {}, "sources": [], "created": _now()}
    return _commit(out, manifest, parts, items, source, len(items))


def legacy_spec(ivf: int | None, pq: int | None, nprobe: int = 16) -> IndexSpec:
    """The spec of the `--ivf N --pq M` flags without `--kind`: IVF-PQ (both needed), else the default by size."""
    if (ivf is None) != (pq is None):
        raise DistillError("--ivf and --pq go together (IVF lists and PQ sub-quantisers)")
    if ivf is not None and (ivf < 1 or pq is None or pq < 1):
        raise DistillError(f"--ivf {ivf} --pq {pq}: both must be ≥ 1")
    return IndexSpec(kind="ivf-pq" if ivf is not None else None, ivf=ivf, pq=pq, nprobe=nprobe)


def add_to_index(path: str | Path, vectors: np.ndarray, items: list[dict[str, str]], space: dict[str, Any],
                 source: str = "") -> dict[str, Any]:
    """Append `vectors` (same space) to the index at `path`, atomically (old or new index, never half)."""
    idx = open_index(path)
    require_same_space(space, idx.manifest, what="the new set", against=f"index {path}", where=str(source or path),
                       hint="only embeddings of the index's space can join it")
    if len(vectors) != len(items) or len(vectors) == 0:
        raise DistillError(f"{source or path}: {len(vectors)} vectors for {len(items)} items (need ≥ 1, equal)")
    require_unit_rows(vectors, str(source or path))
    for chunk in _chunks(vectors, "add"):
        idx.parts[-1].add(chunk)  # new ids follow the last shard's range
    return _commit(idx.path, dict(idx.manifest), idx.parts, idx.items + items, source, len(items))


def _commit(out: Path, manifest: dict[str, Any], parts: list[Any], items: list[dict[str, str]], source: str,
            added: int) -> dict[str, Any]:
    """Write a new generation, then switch the manifest to it, then remove what it no longer names."""
    faiss = faiss_module()
    out.mkdir(parents=True, exist_ok=True)
    gen = int(manifest["generation"]) + 1
    files: dict[str, Any] = {"index": [f"index-{gen:06d}-s{r}.faiss" for r in range(len(parts))],
                             "items": f"items-{gen:06d}.jsonl"}
    for part, name in zip(parts, files["index"], strict=True):
        tmp = out / f".{name}.tmp"
        faiss.write_index(part, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out / name)
    atomic_write(out / files["items"], lambda f: f.writelines((json.dumps(it) + "\n").encode() for it in items))
    manifest.update(generation=gen, files=files, count=len(items), shards=len(parts), updated=_now(),
                    sources=[*manifest.get("sources", []), {"source": source, "added": added, "at": _now()}])
    atomic_write_json(out / "manifest.json", manifest)
    keep = {"manifest.json", files["items"], *files["index"]}
    for p in out.iterdir():
        if p.name not in keep and (p.name.startswith(("index-", "items-", ".index-", ".items-"))):
            p.unlink(missing_ok=True)
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """An index manifest with its required fields checked (one-line errors)."""
    p = Path(path) / "manifest.json"
    if not p.is_file():
        raise DistillError(f"{Path(path)}: not an index (no manifest.json); build one with `distill index build`")
    try:
        man = json.loads(p.read_text())
    except ValueError as e:
        raise DistillError(f"{p}: unreadable JSON ({e})") from None
    if not isinstance(man, dict):
        raise DistillError(f"{p}: not an index manifest (expected a JSON object)")
    missing = [k for k in MANIFEST_KEYS if k not in man]
    if missing:
        raise DistillError(f"{p}: not an index manifest (missing {', '.join(missing)})")
    if man["format_version"] != FORMAT_VERSION:
        raise DistillError(f"{p}: index format {man['format_version']}, this version reads {FORMAT_VERSION}")
    return validated(IndexManifest, man, p)


def open_index(path: str | Path) -> RetrievalIndex:
    """Load the generation the manifest names; its count, dim and items are checked against each other."""
    p = Path(path)
    man = read_manifest(p)
    try:
        parts = [faiss_module().read_index(str(p / name)) for name in man["files"]["index"]]
        with open(p / man["files"]["items"], encoding="utf-8") as f:
            items = [json.loads(line) for line in f]
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise DistillError(f"{p}: index files unreadable ({type(e).__name__}: {str(e)[:200]})") from None
    total = sum(part.ntotal for part in parts)
    if total != man["count"] or len(items) != man["count"] or {part.d for part in parts} != {man["dim"]}:
        raise DistillError(f"{p}: index holds {total}×{parts[0].d} vectors and {len(items)} items, manifest says "
                           f"{man['count']}×{man['dim']}")
    for part in parts:  # indexes written before index kinds stored only `nprobe`
        set_search_params(part, man.get("search_params", f"nprobe={man.get('nprobe', 16)}" if "IVF" in man["kind"]
                                        else ""))
    index = parts[0]
    if len(parts) > 1:
        index = faiss_module().IndexShards(parts[0].d, True, True)  # threaded, successive ids
        for part in parts:
            index.add_shard(part)  # `parts` stays referenced by the RetrievalIndex: FAISS does not own them
    return RetrievalIndex(p, man, parts, index, items)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
