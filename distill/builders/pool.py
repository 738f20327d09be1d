"""`distill data build-pool`: an unlabelled pool of real photos for consistent-view function matching.

Layout written under OUT:
  images/<source>/<name>.jpg   RGB JPEG (quality 90, longest side ≤ max_side)
  pool.csv                     `path,label` (each photo its own label): a class set for open_dataset
  manifest.json                options, sources, every file's origin/licence/sha256, exclusions, summary
  .progress.jsonl              images done so far (a re-run after an interruption skips them)

Nothing that build-demo puts in its test set enters the pool (by name, see pool_sources.test_exclusion);
with `exclude_near`, pool images whose teacher embedding is within `near_cosine` of a test image are dropped.
"""

import csv
import hashlib
import io
import json
import os
import sys
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from distill.cache import load_cache
from distill.data import open_dataset
from distill.data import pool_sources as P
from distill.data.images import ImageRef
from distill.encode import iter_batches
from distill.errors import DistillError
from distill.io import atomic_write, atomic_write_json
from distill.models import create_model

SOURCES = ("demo", "opencv", "skimage", "debian")
GENERATOR = "distill data build-pool"
PROGRESS = ".progress.jsonl"
JPEG_QUALITY = 90


@dataclass(frozen=True)
class PoolOptions:
    """What goes into the pool; `sources` picks the built-in sources, `from_dirs` adds the user's folders."""

    sources: tuple[str, ...] = SOURCES
    demo: str = "data/demo"
    sources_dir: str | None = None  # .deb cache; default OUT/../sources (shared with build-demo)
    packages: tuple[str, ...] = P.WALLPAPER_DEBS
    from_dirs: tuple[str, ...] = ()
    video_step: int = 12
    max_side: int = 640
    max_per_source: int | None = None
    seed: int = 0
    exclude_near: str | None = None
    teacher_cache: str | None = None
    near_cosine: float = 0.9
    skip_bad: bool = False
    skip_missing: bool = False

    def identity(self) -> dict[str, Any]:
        """The options as the manifest records them (JSON types)."""
        return json.loads(json.dumps(asdict(self)))


def _validate(opts: PoolOptions) -> None:
    unknown = sorted(set(opts.sources) - set(SOURCES))
    if unknown:
        raise DistillError(f"sources: unknown {unknown}, expected some of {list(SOURCES)}")
    for pkg in opts.packages:
        P.check_allowed(pkg, "package")
    for d in opts.from_dirs:
        P.check_allowed(d, "--from")
    if opts.video_step < 1 or opts.max_side < 16 or (opts.max_per_source is not None and opts.max_per_source < 1):
        raise DistillError("--video-step and --max-per-source must be ≥ 1, --max-side ≥ 16")
    if (opts.exclude_near is None) != (opts.teacher_cache is None):
        raise DistillError("--exclude-near TESTDIR and --teacher-cache CACHE go together")
    if not -1.0 <= opts.near_cosine <= 1.0:
        raise DistillError(f"--near-cosine {opts.near_cosine}: expected a cosine in [-1, 1]")


def list_items(opts: PoolOptions, out: Path) -> P.Listing:
    """Every candidate image of the enabled sources, minus the demo test set's sources (recorded)."""
    listing = P.Listing()
    cache = Path(opts.sources_dir) if opts.sources_dir else out.parent / "sources"
    if "demo" in opts.sources:
        P.demo_items(Path(opts.demo), listing)
    if "opencv" in opts.sources:
        P.opencv_items(cache, opts.video_step, opts.skip_missing, listing)
    if "skimage" in opts.sources:
        P.skimage_items(listing)
    if "debian" in opts.sources:
        P.debian_items(opts.packages, cache, opts.skip_missing, listing)
    if opts.from_dirs:
        P.user_items(opts.from_dirs, listing)
    return listing


def cap_per_source(items: list[P.Item], limit: int | None, seed: int) -> tuple[list[P.Item], dict[str, int]]:
    """At most `limit` items per source, drawn with a generator seeded by (seed, source); order kept."""
    if limit is None:
        return items, {}
    keep: set[int] = set()
    capped: dict[str, int] = {}
    for source in dict.fromkeys(it.source for it in items):
        idx = [i for i, it in enumerate(items) if it.source == source]
        if len(idx) > limit:
            capped[source] = len(idx) - limit
            rng = np.random.default_rng([seed, zlib.crc32(source.encode())])
            idx = sorted(rng.choice(idx, limit, replace=False).tolist())
        keep.update(idx)
    return [it for i, it in enumerate(items) if i in keep], capped


def encode_jpeg(img: Image.Image, max_side: int) -> bytes:
    """RGB JPEG bytes (quality 90), shrunk so the longest side is at most `max_side` (Pillow LANCZOS)."""
    im = img.convert("RGB")
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _read_progress(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                done[rec["path"]] = rec
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the interruption
    return done


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def write_images(out: Path, items: list[P.Item], opts: PoolOptions) -> tuple[list[dict], list[dict]]:
    """Write every item as `images/<name>.jpg` (skipping those the progress file shows done); returns the
    manifest's file entries and the bad files skipped (only with `skip_bad`; otherwise a bad file raises)."""
    done = _read_progress(out / PROGRESS)
    files, bad = [], []
    with open(out / PROGRESS, "a") as log:
        for item in tqdm(items, desc="pool images", unit="img"):
            rel = f"images/{item.name}.jpg"
            path, rec = out / rel, done.get(rel, {})
            sha = rec.get("sha256")
            if (rec.get("origin"), rec.get("max_side")) != (item.origin, opts.max_side) or not path.is_file() \
                    or _sha256(path.read_bytes()) != sha:
                try:
                    data = encode_jpeg(item.load(), opts.max_side)
                except DistillError as e:
                    if not opts.skip_bad:
                        raise
                    tqdm.write(f"skipped bad file: {e}", file=sys.stderr)
                    bad.append({"source": item.source, "origin": item.origin, "error": str(e)})
                    continue
                _write_bytes(path, data)
                sha = _sha256(data)
                log.write(json.dumps({"path": rel, "origin": item.origin, "max_side": opts.max_side,
                                      "sha256": sha}) + "\n")
                log.flush()
                os.fsync(log.fileno())
            files.append({"path": rel, "source": item.source, "origin": item.origin, "license": item.license,
                          "sha256": sha})
    return files, bad


def near_test(out: Path, files: list[dict], test_dir: str, cache: str, batch_size: int = 32) -> list[dict]:
    """Each pool file's highest cosine to the test set (database + query crops) under the cache's teacher,
    and the nearest test image's name."""
    data = open_dataset(test_dir)
    test_emb, manifest = load_cache(cache, {"image_list_sha256": data.list_sha256(), "count": len(data.refs)})
    teacher = create_model(manifest["teacher"])
    assert teacher.info is not None
    if teacher.info.weights_sha256 != manifest.get("weights_sha256"):
        raise DistillError(f"{Path(cache) / 'manifest.json'}: the cache's {manifest['teacher']} weights "
                           f"(sha256 {manifest.get('weights_sha256')}) are not the packaged ones; re-run cache-teacher")
    names = [ref.key(ref.path.parent) for ref in data.refs]
    refs = [ImageRef(out / f["path"]) for f in files]
    found: list[dict] = []
    for emb in iter_batches(teacher, refs, batch_size, desc="near-test"):
        sims = emb @ test_emb.T
        found += [{"cosine": round(float(s.max()), 4), "nearest": names[int(s.argmax())]} for s in sims]
    return found


def build_pool(out: str | Path, opts: PoolOptions) -> dict[str, Any]:
    """Build (or finish, or confirm) the pool in `out`; returns its manifest."""
    out = Path(out)
    _validate(opts)
    man_path = out / "manifest.json"
    if man_path.is_file():
        manifest = json.loads(man_path.read_text())
        if manifest.get("options") == opts.identity() and all((out / f["path"]).is_file() for f in manifest["files"]):
            return manifest
    out.mkdir(parents=True, exist_ok=True)
    listing = list_items(opts, out)
    items, capped = cap_per_source(listing.items, opts.max_per_source, opts.seed)
    files, bad = write_images(out, items, opts)
    summary: dict[str, Any] = {}
    dropped: list[dict] = []
    if opts.exclude_near and opts.teacher_cache:
        scores = near_test(out, files, opts.exclude_near, opts.teacher_cache)
        near = [s["cosine"] >= opts.near_cosine for s in scores]
        dropped = [{**f, **s} for f, s, n in zip(files, scores, near, strict=True) if n]
        summary["near_test_max_kept_cosine"] = max(
            (s["cosine"] for s, n in zip(scores, near, strict=True) if not n), default=None)
        files = [{**f, "near_test": s} for f, s, n in zip(files, scores, near, strict=True) if not n]
    for stale in set((out / "images").rglob("*.jpg")) - {out / f["path"] for f in files}:
        stale.unlink()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows([("path", "label"), *((f["path"], f["path"].removesuffix(".jpg")) for f in files)])
    _write_bytes(out / "pool.csv", text.getvalue().encode())
    summary.update({"images": len(files), "per_source": dict(Counter(f["source"] for f in files)),
                    "excluded_by_name": len(listing.excluded), "near_test_dropped": len(dropped),
                    "bad_skipped": len(bad), "capped": capped})
    manifest = {"generator": GENERATOR, "seed": opts.seed, "options": opts.identity(), "sources": listing.sources,
                "notes": listing.notes, "files": files,
                "excluded": {"by_name": listing.excluded, "near_test": dropped, "bad": bad}, "summary": summary}
    atomic_write_json(man_path, manifest)
    return manifest


def summary_line(manifest: dict[str, Any], out: str | Path) -> str:
    """One line: images per source, exclusions, near-test drops, bad files, where it went."""
    s, opts = manifest["summary"], manifest["options"]
    near = "near-test check off"
    if opts["exclude_near"] is not None:
        dropped = ", ".join(f"{d['path']} {d['cosine']:.3f}" for d in manifest["excluded"]["near_test"])
        near = (f"dropped as near-test (cosine ≥ {opts['near_cosine']}) {s['near_test_dropped']}"
                + (f": {dropped}" if dropped else "") + f", highest kept {s['near_test_max_kept_cosine']}")
    per = ", ".join(f"{k} {v}" for k, v in s["per_source"].items())
    return (f"pool: {s['images']} images ({per}); excluded by name {s['excluded_by_name']}; {near}; "
            f"bad files skipped {s['bad_skipped']}; → {Path(out) / 'pool.csv'}")
