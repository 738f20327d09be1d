"""The compact wire forms of /search side by side: bytes per request and asym mAP of the same student
embeddings sent as a JSON float array (f32), base64 float16 and base64 int8 (per-vector scale, zero point 0).

The 40 test queries of the built-in benchmark are encoded by the demo student (PyTorch, --ckpt); each body
goes through the real app (in-process ASGI client) to the demo's exact index of the 805 database images with
k = all, and the rankings give revisited mAP (Easy/Medium/Hard). Δ is against f32.

Run: `.venv/bin/python bench/wire_format.py` (after `make demo`)."""

import argparse

import numpy as np
from _wire import WIRES, wire_body
from fastapi.testclient import TestClient

from device_eval.index import read_manifest
from device_eval.server import ServeOptions, create_app
from distill.checkpoint import student_from_checkpoint
from distill.data import RevisitedSet, open_dataset
from distill.encode import encode
from distill.metrics import revisited_map


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default="runs/demo/views-lite0/best.pt")
    p.add_argument("--index", default="runs/demo/index")
    p.add_argument("--data", default="data/demo/test")
    args = p.parse_args(argv)
    data = open_dataset(args.data)
    if not isinstance(data, RevisitedSet):
        raise SystemExit(f"{args.data}: expected a revisited test set")
    student, _ = student_from_checkpoint(args.ckpt)
    queries = encode(student, data.query_refs, desc="student queries")
    key, n_db = read_manifest(args.index)["compat_key"], len(data.imlist)
    pos = {n: i for i, n in enumerate(data.imlist)}
    print(f"{len(queries)} queries × {queries.shape[1]}-d → {args.index} ({n_db} items), k = all")
    print(f"{'wire':>5} {'bytes/request':>14} {'vs f32':>7} {'mAP E':>7} {'M':>6} {'H':>6} "
          f"{'ΔE':>6} {'ΔM':>6} {'ΔH':>6}")
    base: dict[str, float] = {}
    with TestClient(create_app(args.index, options=ServeOptions(max_k=n_db, max_batch=64))) as client:
        for wire in WIRES:
            bodies = [wire_body(v, key, wire, k=n_db) for v in queries]
            ranks = []
            for body in bodies:
                r = client.post("/search", content=body, headers={"content-type": "application/json"})
                if r.status_code != 200:
                    raise SystemExit(f"{wire}: HTTP {r.status_code}: {r.text}")
                ranks.append([pos[h["name"]] for h in r.json()["results"]])
            m = {k: 100 * v for k, v in revisited_map(np.asarray(ranks), data.gnd)["map"].items()}
            base = base or m
            size = float(np.mean([len(b) for b in bodies]))
            base_size = base.setdefault("bytes", size)
            print(f"{wire:>5} {size:14.0f} {size / base_size:6.3f}× {m['easy']:7.2f} {m['medium']:6.2f} "
                  f"{m['hard']:6.2f} {m['easy'] - base['easy']:+6.2f} {m['medium'] - base['medium']:+6.2f} "
                  f"{m['hard'] - base['hard']:+6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
