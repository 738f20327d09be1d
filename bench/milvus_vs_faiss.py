"""Milvus (Lite, embedded, FLAT) next to FAISS on the same 100k database, in one run: build seconds, searches/s
one at a time and in batches of 16 (in this process), Recall@10 and top-10 overlap with exact search for the
1,000 real query views, and the demo student's asym mAP (Medium/Hard, top 1,000) on the built-in test set
among the distractors. Database and queries: bench/_index_world.py. Through HTTP: `bench/serve_load.py
--backend milvus` and `--kind flat`.

Run: `.venv/bin/python bench/milvus_vs_faiss.py [--size 100000]` (after `make demo`)."""

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from _index_world import index_world, overlap_and_recall, search_rate

from device_eval.index import build_index, open_index
from device_eval.index_kinds import IndexSpec, faiss_module
from device_eval.milvus_index import MilvusLocation, build_milvus_index, open_milvus_index
from device_eval.parity import index_ranks
from distill.checkpoint import student_from_checkpoint
from distill.encode import encode
from distill.metrics import revisited_map


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--ckpt", default="runs/demo/views-lite0/best.pt")
    p.add_argument("--dir", default="runs/bench/milvus_vs_faiss")
    args = p.parse_args(argv)
    out = Path(args.dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    w = index_world(args.size)
    faiss = faiss_module()
    exact = faiss.knn(w.views, w.db, 10, metric=faiss.METRIC_INNER_PRODUCT)[1]
    student, _ = student_from_checkpoint(args.ckpt)
    queries = encode(student, w.test.query_refs, desc="student queries")
    print(f"{args.size} × {w.db.shape[1]} ({w.n_real} real + distractors); 1000 query views; 40 student queries")
    print(f"{'backend':>22} {'build s':>8} {'q/s b=1':>8} {'q/s b=16':>9} {'R@10':>6} {'overlap':>8} {'mAP M':>6} "
          f"{'mAP H':>6}")
    for name in ("FAISS Flat", "Milvus Lite FLAT"):
        t0 = time.perf_counter()
        if name.startswith("FAISS"):
            build_index(w.db, w.items, w.space, out / "faiss", IndexSpec(kind="flat"))
            idx: Any = open_index(out / "faiss")
        else:
            where = MilvusLocation(str(out / "milvus.db"), "bench")
            build_milvus_index(w.db, w.items, w.space, where.uri, where.collection)
            idx = open_milvus_index(where)
        build_s = time.perf_counter() - t0
        b1, b16 = search_rate(idx, w.views, 1), search_rate(idx, w.views, 16)
        top = np.concatenate([idx.search(w.views[i: i + 100], 10)[1] for i in range(0, len(w.views), 100)])
        overlap, r10 = overlap_and_recall(top.tolist(), exact, w.view_row)
        m = revisited_map(index_ranks(idx, queries, w.test, k=1000), w.test.gnd)["map"]
        print(f"{name:>22} {build_s:8.1f} {b1:8.1f} {b16:9.1f} {r10:6.3f} {overlap:8.3f} {100 * m['medium']:6.2f} "
              f"{100 * m['hard']:6.2f}", flush=True)
        if hasattr(idx, "close"):
            idx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
