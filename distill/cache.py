"""Teacher embedding cache: `<dir>/embeddings.npy` (N×d, memory-mapped) + `manifest.json`.

A *view cache* (`views` given) holds the teacher's embeddings of augmented views of the images
instead (`distill.data.views`): row r is view r of `views.npz`, stored beside the embeddings so that a
student's views can be re-rendered identically; the manifest's `views` entry identifies them.

Encoding is resumable: rows are written into `embeddings.partial.npy` and `progress.json` records
how many are done; a re-run with the same teacher and image list continues from there. The final
file appears (by rename) only when complete. Loading checks the manifest against what the caller
expects, so a cache built for another teacher or image list is an error, never stale numbers.
"""

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from distill.contracts import CACHE_FORMAT, CacheManifest, validated
from distill.data import Dataset
from distill.data.views import ViewParams, load_photos
from distill.distributed import DistEnv
from distill.encode import iter_batches, iter_view_batches
from distill.errors import DistillError
from distill.io import atomic_write, atomic_write_json
from distill.models.net import RetrievalNet

IDENTITY_KEYS = ("teacher", "weights_sha256", "preprocess", "dim", "image_list_sha256", "count", "views")
VIEWS_FILE = "views.npz"


def expected_manifest(model: RetrievalNet, data: Dataset, dtype: str = "float32") -> dict[str, Any]:
    """What a cache of `model` over `data` must say about itself."""
    assert model.info is not None
    return {"format_version": CACHE_FORMAT, "teacher": model.info.preset, "weights": model.info.weights,
            "weights_sha256": model.info.weights_sha256, "preprocess": model.info.preprocess.to_dict(),
            "dim": model.dim, "dtype": dtype, "image_list_sha256": data.list_sha256(),
            "count": len(data.refs)}


def _differences(a: dict, b: dict) -> list[str]:
    return [k for k in IDENTITY_KEYS if json.dumps(a.get(k)) != json.dumps(b.get(k))]


def build_cache(model: RetrievalNet, data: Dataset, out: str | Path, batch_size: int = 32,
                dtype: str = "float32", workers: int = 0, dist: DistEnv | None = None,
                views: ViewParams | None = None, views_info: dict[str, Any] | None = None) -> Path:
    """Encode every image of `data` with `model` into `out` (resuming a partial run); with `views`, encode
    those views of the images instead (rendered at the model's input size; `views_info` describes how
    they were drawn and goes into the manifest; its `precision`, 'fp32' or 'bf16', is the autocast the views
    are encoded under: view caches are training targets, whole-image caches are databases and stay fp32).

    Under torchrun (`dist.world` > 1) each rank encodes a contiguous shard into its own resumable part
    file; rank 0 then joins the parts into `embeddings.npy` and writes the manifest."""
    dist = dist or DistEnv()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    want = expected_manifest(model, data, dtype)
    if views is not None:
        want["views"] = {**(views_info or {}), "sha256": views.sha256()}
        want["count"] = len(views)
        if not (out / VIEWS_FILE).exists() or ViewParams.from_file(str(out / VIEWS_FILE)).sha256() != views.sha256():
            atomic_write(out / VIEWS_FILE, lambda f: f.write(views.to_bytes()))
    final = out / "embeddings.npy"
    if final.exists() and (out / "manifest.json").exists():
        have = json.loads((out / "manifest.json").read_text())
        if not _differences(have, want):
            return out  # already complete
        raise DistillError(f"{out}: holds a cache for another teacher/data ({', '.join(_differences(have, want))}"
                           f" differ); choose another --out or delete it")
    parts = [_part_paths(out, r, dist.world) for r in range(dist.world)]
    start, end = dist.shard(want["count"])
    desc = f"cache {want['teacher']}" + (f" [rank {dist.rank}/{dist.world}]" if dist.world > 1 else "")
    if views is None:
        def batches(done: int) -> Iterator[np.ndarray]:
            return iter_batches(model, data.refs[start + done:end], batch_size, workers, desc=desc)
    else:
        photo_size = int((views_info or {}).get("photo_size", 384))
        photos = load_photos(data.refs, photo_size)

        def batches(done: int) -> Iterator[np.ndarray]:
            return iter_view_batches(model, photos, views.take(np.arange(start + done, end)), batch_size, desc=desc,
                                     precision=str((views_info or {}).get("precision", "fp32")))
    _encode_rows(batches, end - start, model.dim, *parts[dist.rank], {**want, "shard": [start, end]}, dtype)
    dist.barrier()
    if dist.is_main:
        _join([p for p, _ in parts], final, (want["count"], model.dim), dtype)
        want["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic_write_json(out / "manifest.json", want)
        for partial, progress in parts:
            partial.unlink(missing_ok=True)
            progress.unlink(missing_ok=True)
    dist.barrier()
    return out


def _part_paths(out: Path, rank: int, world: int) -> tuple[Path, Path]:
    tag = "" if world == 1 else f".{rank}of{world}"
    return out / f"embeddings{tag}.partial.npy", out / f"progress{tag}.json"


def _encode_rows(batches: Callable[[int], Iterator[np.ndarray]], n_rows: int, dim: int, partial: Path,
                 progress: Path, want: dict[str, Any], dtype: str) -> None:
    """Write `batches(done)` (the rows from `done` on) into the memory-mapped `partial`, recording progress
    after every batch."""
    done = 0
    if partial.exists() and progress.exists():
        prev = json.loads(progress.read_text())
        if not _differences(prev["manifest"], want) and prev["manifest"].get("shard") == want["shard"]:
            done = int(prev["done"])
    if done == 0:
        arr = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=(n_rows, dim))
    else:
        arr = np.load(partial, mmap_mode="r+")
    row = done
    for emb in batches(done):
        arr[row:row + len(emb)] = emb.astype(dtype)
        row += len(emb)
        arr.flush()
        atomic_write_json(progress, {"done": row, "manifest": want})
    arr.flush()
    del arr


def _join(parts: list[Path], final: Path, shape: tuple[int, int], dtype: str) -> None:
    """Concatenate the part files into `final` (renamed into place only when complete)."""
    if len(parts) == 1:
        os.replace(parts[0], final)
        return
    tmp = final.with_name(final.name + ".joining")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    row = 0
    for p in parts:
        part = np.load(p, mmap_mode="r")
        arr[row:row + len(part)] = part
        row += len(part)
    if row != shape[0]:
        raise DistillError(f"{final.parent}: the parts hold {row} rows, expected {shape[0]}")
    arr.flush()
    del arr
    os.replace(tmp, final)


def load_cache(path: str | Path, expect: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Memory-map a cache as float32 rows; with `expect`, every identity field present in it must match."""
    p = Path(path)
    man_path, emb_path = p / "manifest.json", p / "embeddings.npy"
    if not man_path.is_file() or not emb_path.is_file():
        hint = " (interrupted: re-run cache-teacher to resume)" if any(p.glob("progress*.json")) else ""
        raise DistillError(f"{p}: not a teacher cache (expected manifest.json and embeddings.npy){hint}")
    try:
        manifest = json.loads(man_path.read_text())
        emb = np.load(emb_path, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise DistillError(f"{p}: unreadable cache ({type(e).__name__}: {e})") from None
    manifest = validated(CacheManifest, manifest, man_path)
    if emb.ndim != 2 or emb.shape != (manifest.get("count"), manifest.get("dim")):
        raise DistillError(f"{emb_path}: shape {emb.shape} does not match manifest count×dim "
                           f"({manifest.get('count')}×{manifest.get('dim')})")
    if expect:
        bad = [k for k in IDENTITY_KEYS if k in expect and json.dumps(expect[k]) != json.dumps(manifest.get(k))]
        if bad:
            k = bad[0]
            raise DistillError(f"{man_path}: cache was built for {k}={manifest.get(k)!r}, expected {expect[k]!r}")
    return np.asarray(emb, dtype=np.float32), manifest


def load_views(path: str | Path, manifest: dict[str, Any]) -> ViewParams:
    """The view parameters of a view cache, checked against its manifest."""
    info = manifest.get("views")
    if not info:
        raise DistillError(f"{path}: a teacher cache of whole images, not of views (build it with "
                           f"distill cache-teacher --views K)")
    views = ViewParams.from_file(str(Path(path) / VIEWS_FILE))
    if views.sha256() != info.get("sha256") or len(views) != manifest.get("count"):
        raise DistillError(f"{Path(path) / VIEWS_FILE}: does not match the cache's manifest (altered or mixed up)")
    return views
