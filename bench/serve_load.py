"""Loopback load test of `distill serve` over a 100k-vector teacher index.

The index holds the real lite2 teacher embeddings of the built-in images plus synthetic distractors
drawn from a Gaussian with the real embeddings' mean and covariance (device_eval.distractors), 1280-d,
exact (Flat) by default. A real uvicorn server runs in a subprocess; an asyncio client keeps
`--concurrency` requests in flight for `--seconds`, each a real image embedding with small noise.
Prints searches/s, p50/p99 latency and the error count (must be 0).

Run: `.venv/bin/python bench/serve_load.py [--size 100000] [--seconds 60] [--concurrency 16]`
(after `make demo`)."""

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from device_eval.distractors import gaussian_like
from device_eval.index import build_index, database, read_manifest

DATA, CACHE = "data/demo/test", "data/cache/demo-test"


def make_index(out: Path, size: int, ivf: int | None, pq: int | None) -> np.ndarray:
    """Build (once) the index of real + synthetic vectors; return the real ones (used as queries)."""
    real, items, space = database(DATA, CACHE)
    if not (out / "manifest.json").exists():
        fake = gaussian_like(real, size - len(real), seed=0)
        fake_items = [{"name": f"distractor-{i}", "path": ""} for i in range(len(fake))]
        build_index(np.concatenate([real, fake]), items + fake_items, space, out, ivf=ivf, pq=pq,
                    source=f"{DATA} + {len(fake)} synthetic distractors")
    return np.asarray(real)


async def load(port: int, queries: np.ndarray, key: str, seconds: float, concurrency: int) -> tuple[list[float], int]:
    import httpx

    lat: list[float] = []
    errors = 0
    rng = np.random.default_rng(1)
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            q = queries[rng.integers(len(queries))] + 0.01 * rng.standard_normal(queries.shape[1])
            body = {"embedding": (q / np.linalg.norm(q)).tolist(), "k": 10, "compat_key": key}
            t0 = time.perf_counter()
            try:
                r = await client.post("/search", json=body)
                ok = r.status_code == 200 and len(r.json()["results"]) == 10
            except httpx.HTTPError:
                ok = False
            lat.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return lat, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--ivf", type=int, default=None)
    p.add_argument("--pq", type=int, default=None)
    p.add_argument("--dir", default="runs/bench")
    args = p.parse_args(argv)
    kind = f"ivf{args.ivf}-pq{args.pq}" if args.ivf else "flat"
    out = Path(args.dir) / f"index-{args.size // 1000}k-{kind}"
    queries = make_index(out, args.size, args.ivf, args.pq)
    man = read_manifest(out)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "distill", "serve", "--index", str(out), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    json.load(r)
                    break
            except OSError:
                time.sleep(0.1)
        lat, errors = asyncio.run(load(port, queries, man["compat_key"], args.seconds, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)
    ms = 1000 * np.asarray(lat)
    print(f"index {man['kind']} {man['count']} × {man['dim']} ({out}); {args.concurrency} concurrent clients, "
          f"{args.seconds:g} s on loopback")
    print(f"searches/s {len(lat) / args.seconds:.1f}   p50 {np.percentile(ms, 50):.1f} ms   "
          f"p99 {np.percentile(ms, 99):.1f} ms   requests {len(lat)}   errors {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
