"""Which index kind for the hosted database: every `distill index build --kind` side by side at 100k (and,
with --sizes, 1M) teacher-space vectors, in one run.

Database and queries: bench/_index_world.py (real teacher embeddings of the test database and the photo pool
plus Gaussian distractors; pool views as queries).
Queries, all real:
- 1,000 augmented views of pool photos (crops, flips, colour jitter, mixup from the view cache; their
  whole photo is in the database): Recall@10 = share whose own photo is in the top 10, and the overlap of
  each kind's top 10 with exact search (Flat);
- the 40 test queries encoded by the student (`--ckpt`): asymmetric revisited mAP (Medium/Hard) of the
  top 1,000 each kind returns (a positive outside it counts as never retrieved; Flat is also shown on
  its full ranking).
Per kind: build seconds (training + adding), index size (MB, as written: what it holds in memory),
searches/s one query at a time and in batches of 256, on all of this machine's cores (FAISS's OpenMP).

Run: `.venv/bin/python bench/index_choice.py [--sizes 100000 1000000] [--kinds flat hnsw ...]` (after
`make demo`)."""

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _index_world import POOL, index_world, overlap_and_recall, search_rate

from device_eval.index import RetrievalIndex
from device_eval.index_kinds import IndexSpec, create_faiss_index, faiss_module, list_index_kinds
from device_eval.parity import index_ranks
from distill.checkpoint import student_from_checkpoint
from distill.encode import encode
from distill.metrics import revisited_map

CKPT = "runs/demo/views-lite0/best.pt"
DEFAULT_KINDS = ["flat", "hnsw", "hnsw-sq8", "ivf-sq8", "ivf-fp16", "ivf-pq", "ivf-pq-refine", "pca256+hnsw",
                 "pca256+hnsw+refine4", "hnsw-sq8+refine4"]
TOP = 1000  # ranking depth for mAP through approximate kinds


def index_mb(index: Any, scratch: Path) -> float:
    """Size of the index as written to disk (what it holds in memory, within its small headers), MB."""
    faiss_module().write_index(index, str(scratch))
    size = scratch.stat().st_size / 2**20
    scratch.unlink()
    return size


def spec_of(name: str) -> IndexSpec:
    """`pca256+hnsw+refine4+ef64` → IndexSpec(kind="hnsw", pca=256, refine=4, ef_search=64) (also `nprobeN`);
    plain kind names as they are."""
    fields: dict[str, Any] = {}
    for part in name.split("+"):
        if part.startswith("pca"):
            fields["pca"] = int(part.removeprefix("pca"))
        elif part.startswith("refine"):
            fields["refine"] = int(part.removeprefix("refine"))
        elif part.startswith("nprobe"):
            fields["nprobe"] = int(part.removeprefix("nprobe"))
        elif part.startswith("ef"):
            fields["ef_search"] = int(part.removeprefix("ef"))
        else:
            fields["kind"] = part
    return IndexSpec(**fields)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    p.add_argument("--kinds", nargs="+", default=DEFAULT_KINDS,
                   help=f"index kinds ({', '.join(list_index_kinds())}); 'pcaD+kind+refineK+efE+nprobeN': a D-dim "
                        "projection first, K×k candidates re-ranked, search parameters")
    p.add_argument("--ckpt", default=CKPT, help="student whose test-query embeddings give the asym mAP")
    p.add_argument("--pool-cache", default=POOL)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--scratch", default="runs/bench/index_choice.faiss", help="temporary file for index sizes")
    args = p.parse_args(argv)
    Path(args.scratch).parent.mkdir(parents=True, exist_ok=True)
    student, _ = student_from_checkpoint(args.ckpt)
    head = (f"{'size':>8} {'kind':>26} {'search':>26} {'build s':>8} {'MB':>7} {'q/s b=1':>8} {'q/s b=256':>10} "
            f"{'R@10':>6} {'overlap':>8} {'mAP M':>6} {'mAP H':>6}")
    for size in args.sizes:
        w = index_world(size, args.queries, args.pool_cache)
        data, db, views, items = w.test, w.db, w.views, w.items
        if size == args.sizes[0]:
            student_q = encode(student, data.query_refs, desc="student queries")
            print(f"queries: {len(views)} pool views (Recall@10, overlap), {len(student_q)} student test queries "
                  f"(asym mAP, top {TOP}); {w.n_real} real + synthetic database vectors")
            print(head)
        faiss = faiss_module()
        exact = faiss.knn(views, db, 10, metric=faiss.METRIC_INNER_PRODUCT)[1]
        for name in args.kinds:
            t0 = time.perf_counter()
            index, described = create_faiss_index(spec_of(name), db)
            for start in range(0, size, 65536):
                index.add(np.ascontiguousarray(db[start: start + 65536]))
            build_s, memory = time.perf_counter() - t0, index_mb(index, Path(args.scratch))
            b1, b256 = search_rate(index, views[:200], 1), search_rate(index, views, 256)
            top = index.search(views, 10)[1]
            overlap, r10 = overlap_and_recall(top.tolist(), exact, w.view_row)
            ri = RetrievalIndex(path=Path(described["kind"]), manifest=w.space, parts=[index], index=index, items=items)
            m = revisited_map(index_ranks(ri, student_q, data, k=TOP), data.gnd)["map"]
            print(f"{size:>8} {described['kind']:>26} {described['search_params'] or 'exact':>26} {build_s:8.1f} "
                  f"{memory:7.0f} {b1:8.0f} {b256:10.0f} {r10:6.3f} {overlap:8.3f} {100 * m['medium']:6.2f} "
                  f"{100 * m['hard']:6.2f}", flush=True)
            if described["kind"] == "Flat":
                full = revisited_map(index_ranks(ri, student_q, data), data.gnd)["map"]
                print(f"{'':>8} {'Flat, full ranking':>26} {'':>79} {100 * full['medium']:6.2f} "
                      f"{100 * full['hard']:6.2f}")
            del index, ri
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
