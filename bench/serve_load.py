"""Loopback load test of `distill serve`: searches/s and latency through HTTP, next to the raw index rate.

Database and queries: bench/_index_world.py (the real lite2 teacher embeddings of the built-in test database
and photo pool plus Gaussian distractors up to --size; 1,000 real pool views as queries). The index is built
once per size and kind under --dir. In one run:
1. the raw index rate in this process: searches/s one query at a time and in batches of --concurrency;
2. a real uvicorn server (`distill serve --no-access-log`) in a subprocess; the 1,000 queries sent once,
   one at a time, give the top-10 overlap with exact search and Recall@10 of the view's own photo *through
   HTTP*; then Debian's `wrk` (C, one thread) keeps --concurrency connections busy for --seconds, cycling
   through the queries' request bodies (`--wire f16|int8|f32`);
3. CPU seconds of the server and of wrk over the load (the two cores are shared, unpinned);
4. with --profile, py-spy samples the server during the load and the share of its busy samples is printed by
   where they are: FAISS search, request parsing/validation, response building, HTTP/ASGI machinery.
Prints `searches/s … p50 … p99 … ms`, the ratio to the raw index rate, and the server's CPU per 1,000 searches.

Run: `.venv/bin/python bench/serve_load.py [--size 100000] [--kind K] [--seconds 30] [--concurrency 16]`
(after `make demo` and `make bench-deps`, which installs wrk)."""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from _index_world import index_world, overlap_and_recall, search_rate
from _wire import wire_body

from device_eval.index import build_index, open_index, read_manifest, tune_index
from device_eval.index_kinds import IndexSpec, faiss_module
from device_eval.milvus_index import MilvusIndex, MilvusLocation, build_milvus_index, open_milvus_index

LUA = Path(__file__).with_suffix(".lua")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


PROFILE_PARTS = (  # (label, substrings of a sampled stack that put it there), first match wins
    ("index search (FAISS, on the search thread)", ("RetrievalIndex.search", "faiss")),
    ("request parsing + validation (pydantic-core, base64, checks)", ("model_validate_json", "check_embedding",
                                                                      "require_compat_key")),
    ("response building + serialisation", ("model_dump_json", "ServerState.search")),
    ("coalescing (queue, futures)", ("SearchBatcher", "set_result")),
    ("HTTP + ASGI (uvicorn/httptools, starlette, fastapi)", ("uvicorn", "starlette", "fastapi", "httptools")),
    ("the search thread waiting for work (idle, as py-spy saw it)", ("concurrent/futures/thread.py",)),
)


def profile_shares(raw: Path) -> dict[str, float]:
    """Share of a py-spy raw profile's samples per `PROFILE_PARTS` label ("other" for the rest)."""
    counts: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        label = next((lab for lab, keys in PROFILE_PARTS if any(k in stack for k in keys)), "other")
        counts[label] = counts.get(label, 0) + int(n)
    total = max(sum(counts.values()), 1)
    return {lab: c / total for lab, c in sorted(counts.items(), key=lambda kv: -kv[1])}


def post(port: int, body: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/search", body.encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def start_server(index: list[str], log: Path) -> tuple[subprocess.Popen, int]:
    """`distill serve INDEX-ARGS --no-access-log` on a free port, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "distill", "serve", *index, "--port", str(port),
                               "--no-access-log"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                json.load(r)
                return server, port
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited ({log}):\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer in 120 s ({log})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss")
    p.add_argument("--kind", default=None, help="index kind (distill index build --kind; default: its default)")
    p.add_argument("--pca", type=int, default=None)
    p.add_argument("--refine", type=int, default=None)
    p.add_argument("--ef-search", type=int, default=IndexSpec.ef_search)
    p.add_argument("--nprobe", type=int, default=IndexSpec.nprobe)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--wire", choices=["f16", "int8", "f32"], default="f16")
    p.add_argument("--check-queries", type=int, default=1000,
                   help="queries sent one at a time for the overlap/Recall@10 through HTTP (fewer for slow backends)")
    p.add_argument("--dir", default="runs/bench")
    p.add_argument("--profile", action="store_true", help="sample the server with py-spy during the load")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if args.profile and spy is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("serve_load needs wrk (a C load generator, so the client is not the bottleneck): "
                         "make bench-deps  (apt-get install wrk)")
    spec = IndexSpec(kind=args.kind, pca=args.pca, refine=args.refine, ef_search=args.ef_search, nprobe=args.nprobe)
    tag = "milvus" if args.backend == "milvus" else "-".join(
        str(x) for x in (args.kind or "default", args.pca and f"pca{args.pca}") if x)
    out = Path(args.dir) / f"serve-{args.size // 1000}k-{tag}"  # built once; search parameters tuned in place
    w = index_world(args.size)
    if args.backend == "milvus":  # Milvus Lite, embedded, on a local file; its FLAT search
        where = MilvusLocation(str(out.with_suffix(".db")), "bench")
        if not out.with_suffix(".db").exists():
            build_milvus_index(w.db, w.items, w.space, where.uri, where.collection, source="bench world")
        index_args = ["--backend", "milvus", "--milvus-uri", where.uri, "--collection", where.collection]
        idx: Any = open_milvus_index(where)
    else:
        if not (out / "manifest.json").exists():
            build_index(w.db, w.items, w.space, out, spec, source=f"bench world: {w.n_real} real vectors + distractors")
        kind = read_manifest(out)["kind"]
        tune_index(out, ef_search=args.ef_search if "HNSW" in kind else None, nprobe=args.nprobe if "IVF" in kind
                   else None, refine=args.refine if kind.endswith("RFlat") else None)
        index_args, idx = ["--index", str(out)], open_index(out)
    faiss = faiss_module()
    exact = faiss.knn(w.views, w.db, 10, metric=faiss.METRIC_INNER_PRODUCT)[1]
    w.db = w.db[:0]  # (memory: the server holds its own copy)
    b1, bc = search_rate(idx, w.views, 1), search_rate(idx, w.views, args.concurrency)
    man = idx.manifest
    if isinstance(idx, MilvusIndex):
        idx.close()  # (the server opens the Milvus Lite file next)
    del idx
    bodies = [wire_body(v, man["compat_key"], args.wire) for v in w.views]
    body_file = out.parent / f"{out.name}-{args.wire}.bodies"
    body_file.write_text("\n".join(bodies) + "\n")
    server, port = start_server(index_args, out.parent / f"{out.name}.log")
    try:
        checked = bodies[: args.check_queries]
        tops = [[h["id"] for h in post(port, b)["results"]] for b in checked]
        overlap, r10 = overlap_and_recall(tops, exact, w.view_row)
        profile = out.parent / f"{out.name}-{args.wire}.pyspy.txt"
        spying = None if not args.profile else subprocess.Popen(
            [str(spy), "record", "--pid", str(server.pid), "--duration", f"{max(1, int(args.seconds) - 2)}",
             "--rate", "200", "--format", "raw", "--nonblocking", "--threads", "--output", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0, usage0 = cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([wrk, "-t1", f"-c{args.concurrency}", f"-d{args.seconds:g}s", "--timeout", "10s",
                              "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(body_file)],
                             capture_output=True, text=True, check=True)
        server_cpu = cpu_seconds(server.pid) - cpu0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
        if spying is not None:
            spying.wait(60)
    finally:
        server.terminate()
        server.wait(30)
    res = json.loads(run.stdout.strip().splitlines()[-1])
    seconds = res["duration_us"] / 1e6
    rate = res["requests"] / seconds
    errors = sum(res[k] for k in ("status", "connect", "read", "write", "timeout"))
    print(f"index {man['kind']} ({man['search_params'] or 'exact'}) {man['count']} × {man['dim']} ({out}); "
          f"wire {args.wire}, {np.mean([len(b) for b in bodies]):.0f} bytes per request body")
    print(f"raw index in this process: {b1:.0f} searches/s one at a time, {bc:.0f}/s in batches of {args.concurrency}")
    print(f"through HTTP, one at a time: top-10 overlap with exact {overlap:.3f}, Recall@10 {r10:.3f} "
          f"({len(checked)} real queries)")
    print(f"wrk: {args.concurrency} connections, 1 thread, {seconds:.0f} s on loopback")
    print(f"searches/s {rate:.1f}   p50 {res['p50_us'] / 1000:.1f} ms   p99 {res['p99_us'] / 1000:.1f} ms   "
          f"requests {res['requests']}   errors {errors}")
    print(f"HTTP / raw index: {rate / bc:.2f}× the batched rate, {rate / b1:.2f}× the one-at-a-time rate")
    print(f"CPU of the 2 cores: server {server_cpu / seconds:.2f} cores ({1000 * server_cpu / res['requests']:.2f} "
          f"CPU s per 1,000 searches), wrk {wrk_cpu / seconds:.2f} cores")
    if args.profile:
        print("where the server's busy samples are (py-spy, profiling on):")
        for label, share in profile_shares(profile).items():
            print(f"  {100 * share:5.1f}%  {label}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
