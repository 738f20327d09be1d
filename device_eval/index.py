"""The hosted teacher database: a FAISS index + an id → image map + a manifest, in one directory.

Layout (one *generation* of files, named by the manifest, which is replaced last):

    INDEX/manifest.json          teacher identity, dim, compat key, count, kind (FAISS factory string,
                                 `index_kinds`), search parameters, projection, generation, file names
    INDEX/index-000002-s0.faiss  FAISS index shard 0 (…-s1, … with --shards: contiguous id ranges,
                                 searched together through faiss.IndexShards); id i is items row i
    INDEX/items-000002.jsonl     one {"name", "path"} per line
    INDEX/removed-000003.npy     ids removed by `distill index remove` (tombstones: never returned, ids of the
                                 others unchanged; only present once something was removed)

Every change writes a new generation beside the old one (fsync'ed) and then atomically replaces the
manifest, so a crash at any moment leaves the old or the new index on disk, never a mix. Old
generations and orphans of crashed writes are removed by the next successful write.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
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
MAX_REMOVED = 10_000  # tombstones an index may hold (each search asks FAISS for k + this many); rebuild beyond
MANIFEST_KEYS = ("format_version", "teacher", "weights_sha256", "dim", "compat_key", "count", "kind", "generation",
                 "files")


NO_SCORE = np.float32(-np.finfo(np.float32).max)  # the score beside id -1 (fewer than k found), as FAISS gives it


def space_manifest(space: dict[str, Any], dim: int) -> dict[str, Any]:
    """The identity fields every index manifest starts with (FAISS or Milvus): format, teacher space, compat key."""
    return {"format_version": FORMAT_VERSION, "teacher": space["teacher"],
            "weights_sha256": space.get("weights_sha256"), "dim": dim, "normalization": NORMALIZATION,
            "compat_key": manifest_compat_key(space)}


class ServedIndex:
    """What every backend of the hosted index offers on top of its `search`, from its `manifest`, `items` (id →
    name, path) and `removed` (sorted tombstoned ids)."""

    path: Any
    manifest: dict[str, Any]
    items: list[dict[str, str]]
    removed: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def compat_key(self) -> str:
        return str(self.manifest["compat_key"])

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    def __len__(self) -> int:
        """Ids in use (removed ones included: ids are never reused); `live` counts the searchable ones."""
        return len(self.items)

    @property
    def live(self) -> int:
        return len(self.items) - len(self.removed)

    def is_removed(self, i: int) -> bool:
        j = int(np.searchsorted(self.removed, i))
        return j < len(self.removed) and int(self.removed[j]) == i

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores N×k float32, ids N×k int64) per query row, best first; id -1 where fewer are found."""
        raise NotImplementedError

    def queries(self, queries: np.ndarray) -> np.ndarray:
        """`queries` as contiguous N×dim float32 (one-line error for another shape)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise DistillError(f"{self.path}: queries of shape {q.shape}, expected N×{self.dim}")
        return q


@dataclass
class RetrievalIndex(ServedIndex):
    """An opened FAISS index: the FAISS index, the items its ids point to, and its manifest."""

    path: Path
    manifest: dict[str, Any]
    parts: list[Any]  # one FAISS index per shard (contiguous id ranges, in order)
    index: Any  # what is searched: the single part, or a threaded faiss.IndexShards over the parts
    items: list[dict[str, str]]
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted tombstoned ids

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row, best first; ids are -1 where an approximate index finds
        fewer than k items. Removed ids are searched past (k + their number asked of FAISS) and left out."""
        q = self.queries(queries)
        k = max(1, min(k, self.live))
        scores, ids = self.index.search(q, min(k + len(self.removed), len(self)))
        ids = ids.astype(np.int64)
        if len(self.removed):
            gone = np.isin(ids, self.removed) | (ids < 0)
            first = np.argsort(gone, axis=1, kind="stable")[:, :k]  # the kept ones, in rank order
            ids = np.where(np.take_along_axis(gone, first, 1), -1, np.take_along_axis(ids, first, 1))
            scores = np.where(ids < 0, NO_SCORE, np.take_along_axis(scores, first, 1))
        return scores, ids


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
                spec: IndexSpec | None = None, source: str = "", shards: int = 1) -> dict[str, Any]:
    """Write a new index of `vectors` (N×d, L2-normalised) in the space `space` (teacher manifest) to `out`,
    split into `shards` files of contiguous rows (one trained quantiser shared by all). The index kind is
    `spec`'s (default: chosen by size, `index_kinds.default_spec`; `legacy_spec` for `--ivf N --pq M`)."""
    out = Path(out)
    if (out / "manifest.json").exists():
        raise DistillError(f"{out}: an index exists there; add to it with `distill index add` or choose another --out")
    if len(vectors) != len(items) or len(vectors) == 0:
        raise DistillError(f"{source or out}: {len(vectors)} vectors for {len(items)} items (need ≥ 1, equal)")
    dim = int(space["dim"])
    require_unit_rows(vectors, str(source or out))
    if not 1 <= shards <= len(vectors):
        raise DistillError(f"--shards {shards}: expected 1 … {len(vectors)} (the number of vectors)")
    index, described = create_faiss_index(spec or IndexSpec(), vectors)
    faiss = faiss_module()
    parts = [index] + [faiss.deserialize_index(faiss.serialize_index(index)) for _ in range(shards - 1)]  # copies
    for part in parts[1:]:  # (clone_index cannot copy the projection's transforms)
        set_search_params(part, described["search_params"])
    for r, part in enumerate(parts):
        a, b = r * len(vectors) // shards, (r + 1) * len(vectors) // shards
        for chunk in _chunks(vectors[a:b], f"index {described['kind']}" + (f" shard {r}" if shards > 1 else "")):
            part.add(chunk)
    manifest = {**space_manifest(space, dim), "count": 0, **described, "generation": 0, "files": {}, "sources": [],
                "created": _now()}
    return _commit(out, manifest, parts, items, np.zeros(0, np.int64), source, {"added": len(items)})


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
    return _commit(idx.path, dict(idx.manifest), idx.parts, idx.items + items, idx.removed, source,
                   {"added": len(items)})


def remove_from_index(path: str | Path, names: list[str], source: str = "") -> dict[str, Any]:
    """Remove the items called `names` from the index at `path`, atomically: their ids become tombstones in a
    new generation (the FAISS and items files are shared with the previous one; other ids do not change)."""
    idx = open_index(path)
    gone = set(idx.removed.tolist())
    live: dict[str, list[int]] = {}
    for i, it in enumerate(idx.items):
        if i not in gone:
            live.setdefault(it["name"], []).append(i)
    unknown = [n for n in names if n not in live]
    if unknown or not names:
        raise DistillError(f"{source or path}: {len(unknown)} of {len(names)} names are not live items of index "
                           f"{path}" + (f" (e.g. {unknown[0]!r})" if unknown else ""))
    removed = np.union1d(idx.removed, [i for n in set(names) for i in live[n]]).astype(np.int64)
    if len(removed) > MAX_REMOVED:
        raise DistillError(f"{path}: {len(removed)} removed ids would exceed {MAX_REMOVED} (each search steps over "
                           f"them); rebuild the index without them (distill index build)")
    return _commit(idx.path, dict(idx.manifest), None, idx.items, removed, source,
                   {"removed": len(removed) - len(idx.removed)})


def tune_index(path: str | Path, ef_search: int | None = None, nprobe: int | None = None,
               refine: int | None = None) -> dict[str, Any]:
    """Change the search-time parameters of the index at `path` (a new generation sharing its files, so a
    running server switches to them): HNSW's candidate list, IVF's lists visited, the re-ranked candidates."""
    idx = open_index(path)
    params = dict(p.split("=", 1) for p in idx.manifest.get("search_params", "").split(",") if p)
    kind = idx.manifest["kind"]
    for flag, name, value, applies in (("--ef-search", "efSearch", ef_search, "HNSW" in kind),
                                       ("--nprobe", "nprobe", nprobe, "IVF" in kind),
                                       ("--refine", "k_factor_rf", refine, kind.endswith("RFlat"))):
        if value is None:
            continue
        if not applies:
            raise DistillError(f"{flag}: index {path} is {kind}, which has no {name}")
        if value < 1:
            raise DistillError(f"{flag} {value}: expected ≥ 1")
        params[name] = str(value)
    manifest = {**idx.manifest, "search_params": ",".join(f"{k}={v}" for k, v in params.items())}
    if "nprobe" in params:
        manifest["nprobe"] = int(params["nprobe"])
    for part in idx.parts:
        set_search_params(part, manifest["search_params"])  # (FAISS refuses what it cannot set, before any write)
    return _commit(idx.path, manifest, None, idx.items, idx.removed, f"tune {manifest['search_params']}", {})


def _commit(out: Path, manifest: dict[str, Any], parts: list[Any] | None, items: list[dict[str, str]],
            removed: np.ndarray, source: str, change: dict[str, int]) -> dict[str, Any]:
    """Write a new generation (`parts` None: the current FAISS and items files stay those of the new one too),
    then switch the manifest to it, then remove what it no longer names."""
    faiss = faiss_module()
    out.mkdir(parents=True, exist_ok=True)
    gen = int(manifest["generation"]) + 1
    files: dict[str, Any] = dict(manifest["files"]) if parts is None else {
        "index": [f"index-{gen:06d}-s{r}.faiss" for r in range(len(parts))], "items": f"items-{gen:06d}.jsonl"}
    for part, name in zip(parts or [], files["index"] if parts is not None else [], strict=True):
        tmp = out / f".{name}.tmp"
        faiss.write_index(part, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out / name)
    if parts is not None:
        atomic_write(out / files["items"], lambda f: f.writelines((json.dumps(it) + "\n").encode() for it in items))
    files.pop("removed", None)
    if len(removed):
        files["removed"] = f"removed-{gen:06d}.npy"
        atomic_write(out / files["removed"], lambda f: np.save(f, np.asarray(removed, np.int64)))
    manifest.update(generation=gen, files=files, count=len(items), removed=len(removed),
                    shards=len(files["index"]), updated=_now(),
                    sources=[*manifest.get("sources", []), {"source": source, **change, "at": _now()}])
    atomic_write_json(out / "manifest.json", manifest)
    keep = {"manifest.json", files["items"], *files["index"], files.get("removed")}
    for p in out.iterdir():
        if p.name not in keep and (p.name.startswith(("index-", "items-", "removed-", ".index-", ".items-",
                                                      ".removed-"))):
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
        removed = np.load(p / man["files"]["removed"]) if man["files"].get("removed") else np.zeros(0, np.int64)
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        raise DistillError(f"{p}: index files unreadable ({type(e).__name__}: {str(e)[:200]})") from None
    total = sum(part.ntotal for part in parts)
    if total != man["count"] or len(items) != man["count"] or {part.d for part in parts} != {man["dim"]}:
        raise DistillError(f"{p}: index holds {total}×{parts[0].d} vectors and {len(items)} items, manifest says "
                           f"{man['count']}×{man['dim']}")
    if removed.ndim != 1 or len(removed) != man.get("removed", 0) or (len(removed) and (
            removed.dtype.kind != "i" or removed.min() < 0 or removed.max() >= total or np.any(np.diff(removed) <= 0))):
        raise DistillError(f"{p}: {man['files'].get('removed')}: expected the manifest's {man.get('removed', 0)} "
                           f"removed ids, sorted, unique, in 0 … {total - 1}")
    for part in parts:  # indexes written before index kinds stored only `nprobe`
        set_search_params(part, man.get("search_params", f"nprobe={man.get('nprobe', 16)}" if "IVF" in man["kind"]
                                        else ""))
    index = parts[0]
    if len(parts) > 1:
        index = faiss_module().IndexShards(parts[0].d, True, True)  # threaded, successive ids
        for part in parts:
            index.add_shard(part)  # `parts` stays referenced by the RetrievalIndex: FAISS does not own them
    return RetrievalIndex(p, man, parts, index, items, removed.astype(np.int64))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
