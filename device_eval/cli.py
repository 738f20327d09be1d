"""`distill index ...`, `distill serve`, `distill device-eval` and `distill client-goldens`: the sub-commands,
added to parsers the `distill` command gives (`distill.cli.build_parser`)."""

import argparse
import json
from dataclasses import replace
from pathlib import Path

from device_eval.goldens import write_goldens
from device_eval.guards import read_api_keys
from device_eval.index import (
    add_to_index,
    build_index,
    database,
    legacy_spec,
    read_manifest,
    remove_from_index,
    tune_index,
)
from device_eval.index_kinds import DEFAULT_PCA, FLAT_BELOW, IndexSpec, list_index_kinds
from device_eval.milvus_index import MilvusLocation, build_milvus_index
from device_eval.parity import device_eval, format_table
from distill.errors import DistillError
from distill.io import atomic_write_json
from export.tolerance import MAP_DELTA_POINTS


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """`index build|add|info` on `parser`."""
    sub = parser.add_subparsers(dest="index_command", required=True)
    b = sub.add_parser("build", help="index the teacher embeddings of a dataset's database images")
    b.add_argument("--data", required=True, help="dataset whose database images are indexed")
    b.add_argument("--teacher-cache", required=True, help="teacher embeddings of --data (distill cache-teacher)")
    b.add_argument("--out", default=None, help="new index directory (FAISS)")
    add_backend_arguments(b)
    b.add_argument("--kind", choices=list_index_kinds(), default=None,
                   help=f"FAISS index kind (default: flat below {FLAT_BELOW} vectors, else hnsw, over a "
                        f"{DEFAULT_PCA}-dim projection re-ranked exactly for spaces of ≥ {2 * DEFAULT_PCA} dims; "
                        "see bench/index_choice.py)")
    b.add_argument("--ivf", type=int, default=None,
                   help="IVF lists (default ≈ 4√N; without --kind, --ivf N --pq M ask for ivf-pq)")
    b.add_argument("--pq", type=int, default=None, help="PQ sub-quantisers (must divide the dimension; default ≈ d/20)")
    b.add_argument("--hnsw-m", type=int, default=IndexSpec.hnsw_m, help="HNSW neighbours per node")
    b.add_argument("--pca", type=int, default=None,
                   help="project the teacher space to D dims first (fitted on the database, applied to queries "
                        "inside the index; clients unchanged)")
    b.add_argument("--nprobe", type=int, default=IndexSpec.nprobe, help="IVF lists visited per query")
    b.add_argument("--ef-search", type=int, default=IndexSpec.ef_search, help="HNSW candidates per query")
    b.add_argument("--refine", type=int, default=None, metavar="K",
                   help="re-rank the K × k best candidates by exact inner products with the full vectors "
                        "(0: off; default 4 for ivf-pq-refine, else off)")
    b.add_argument("--shards", type=int, default=1,
                   help="split into N files of contiguous ids, searched in parallel (faiss.IndexShards)")
    b.set_defaults(func=_cmd_build)
    a = sub.add_parser("add", help="add a dataset's teacher embeddings to an index (atomic)")
    a.add_argument("--index", required=True)
    a.add_argument("--data", required=True)
    a.add_argument("--teacher-cache", required=True)
    a.set_defaults(func=_cmd_add)
    r = sub.add_parser("remove", help="remove items by name (atomic; a running server switches within a second)")
    r.add_argument("--index", required=True)
    r.add_argument("--name", action="append", default=[], help="an item name (repeatable)")
    r.add_argument("--names-file", default=None, help="a text file of item names, one per line")
    r.set_defaults(func=_cmd_remove)
    t = sub.add_parser("tune", help="change search parameters (a new generation; a running server switches)")
    t.add_argument("--index", required=True)
    t.add_argument("--ef-search", type=int, default=None, help="HNSW candidates per query")
    t.add_argument("--nprobe", type=int, default=None, help="IVF lists visited per query")
    t.add_argument("--refine", type=int, default=None, metavar="K", help="K × k candidates re-ranked exactly")
    t.set_defaults(func=_cmd_tune)
    i = sub.add_parser("info", help="print an index manifest")
    i.add_argument("index")
    i.set_defaults(func=_cmd_info)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """`--backend faiss|milvus` and where a Milvus-backed index lives."""
    parser.add_argument("--backend", choices=["faiss", "milvus"], default="faiss",
                        help="faiss: an index directory (--out/--index); milvus: a collection (--milvus-uri)")
    parser.add_argument("--milvus-uri", default=None,
                        help="a local file (Milvus Lite, embedded) or http://HOST:19530 (a Milvus server/cluster)")
    parser.add_argument("--collection", default="asym_distill", help="Milvus collection")


def index_location(args: argparse.Namespace, path_flag: str) -> str | MilvusLocation:
    """The FAISS directory (the `path_flag` option) or the Milvus collection the arguments name."""
    path = getattr(args, path_flag.removeprefix("--").replace("-", "_"))
    if args.backend == "milvus":
        if not args.milvus_uri:
            raise DistillError("--backend milvus: give --milvus-uri (a local .db file, or http://HOST:19530)")
        return MilvusLocation(args.milvus_uri, args.collection)
    if path is None:
        raise DistillError(f"give {path_flag} (the index directory)")
    return str(path)


def _cmd_build(args: argparse.Namespace) -> None:
    where = index_location(args, "--out")
    vectors, items, space = database(args.data, args.teacher_cache)
    if isinstance(where, MilvusLocation):
        man = build_milvus_index(vectors, items, space, where.uri, where.collection, source=str(args.data))
        print(f"index {man['kind']}: {man['count']} × {man['dim']} ({man['teacher']}, compat key {man['compat_key']}) "
              f"in {where}")
        return
    if args.kind is None and (args.ivf is not None or args.pq is not None):
        spec = replace(legacy_spec(args.ivf, args.pq, args.nprobe), pca=args.pca, refine=args.refine)
    else:
        spec = IndexSpec(kind=args.kind, ivf=args.ivf, pq=args.pq, hnsw_m=args.hnsw_m, pca=args.pca,
                         nprobe=args.nprobe, ef_search=args.ef_search, refine=args.refine)
    man = build_index(vectors, items, space, where, spec, source=str(args.data), shards=args.shards)
    print(f"index {man['kind']}: {man['count']} × {man['dim']} ({man['teacher']}, compat key {man['compat_key']}) "
          f"in {where}" + (f" ({man['shards']} shards)" if man["shards"] > 1 else ""))


def _cmd_add(args: argparse.Namespace) -> None:
    vectors, items, space = database(args.data, args.teacher_cache)
    man = add_to_index(args.index, vectors, items, space, source=str(args.data))
    print(f"index {args.index}: added {len(items)}, now {man['count']} × {man['dim']} (generation {man['generation']})")


def _cmd_remove(args: argparse.Namespace) -> None:
    names = list(args.name)
    if args.names_file is not None:
        try:
            names += [line.strip() for line in Path(args.names_file).read_text(encoding="utf-8").splitlines()
                      if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise DistillError(f"{args.names_file}: unreadable ({type(e).__name__})") from None
    if not names:
        raise DistillError("index remove: name the items (--name N ... or --names-file F)")
    man = remove_from_index(args.index, names, source=args.names_file or "--name")
    print(f"index {args.index}: {len(set(names))} removed, now {man['count'] - man['removed']} searchable of "
          f"{man['count']} ids (generation {man['generation']})")


def _cmd_tune(args: argparse.Namespace) -> None:
    if args.ef_search is None and args.nprobe is None and args.refine is None:
        raise DistillError("index tune: give --ef-search, --nprobe and/or --refine")
    man = tune_index(args.index, args.ef_search, args.nprobe, args.refine)
    print(f"index {args.index}: {man['kind']} now searches with {man['search_params']} "
          f"(generation {man['generation']})")


def _cmd_info(args: argparse.Namespace) -> None:
    print(json.dumps(read_manifest(args.index), indent=2))


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """`serve` options on `parser`."""
    parser.add_argument("--index", default=None, help="index directory (distill index build)")
    add_backend_arguments(parser)
    parser.add_argument("--artifact", default=None, help="exported student for POST /search/image (.onnx/.tflite)")
    parser.add_argument("--web-artifact", default=None,
                        help="ONNX student the browser client at /demo/ runs (default: --artifact if it is .onnx)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept phones on the network")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-k", type=int, default=100, help="largest k a client may ask for")
    parser.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body (MB)")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="most queries coalesced into one index call (default: measured at startup)")
    parser.add_argument("--reload-interval", type=float, default=1.0,
                        help="seconds between looks for a new index generation (index add/remove; 0: never)")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="no log line per request (for high request rates)")
    parser.add_argument("--api-key-file", default=None,
                        help="require 'Authorization: Bearer KEY' on /search* and /thumbs (one key per line)")
    parser.add_argument("--ssl-certfile", default=None, help="TLS certificate (PEM); with --ssl-keyfile")
    parser.add_argument("--ssl-keyfile", default=None, help="TLS private key (PEM)")
    parser.add_argument("--allow-plain-http", action="store_true",
                        help="allow API keys without TLS on a non-loopback host (behind a TLS-terminating proxy)")
    parser.add_argument("--cors-origin", action="append", default=[],
                        help="an origin (https://host:port) whose pages may call the API (repeatable)")
    parser.add_argument("--rate-limit", type=float, default=None,
                        help="requests/s allowed per API key (per client address without keys); off by default")
    parser.add_argument("--rate-burst", type=int, default=20, help="requests a key may send at once (bucket size)")
    parser.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> None:
    from device_eval.server import ServeOptions, serve  # lazy: needs the serve extra (FastAPI, pydantic)

    web = args.web_artifact
    if web is None and args.artifact is not None and Path(args.artifact).suffix == ".onnx":
        web = args.artifact
    for flag, value in (("--max-batch", args.max_batch), ("--rate-burst", args.rate_burst)):
        if value is not None and value < 1:
            raise DistillError(f"{flag} {value}: expected ≥ 1")
    if args.rate_limit is not None and not args.rate_limit > 0:
        raise DistillError(f"--rate-limit {args.rate_limit}: expected requests/s > 0")
    options = ServeOptions(max_k=args.max_k, max_body_bytes=int(args.max_body_mb * (1 << 20)), max_batch=args.max_batch,
                           reload_interval=args.reload_interval,
                           api_keys=read_api_keys(args.api_key_file) if args.api_key_file else (),
                           rate_limit=args.rate_limit, rate_burst=args.rate_burst, cors_origins=tuple(args.cors_origin))
    serve(index_location(args, "--index"), args.host, args.port, args.artifact, web_artifact=web, options=options,
          access_log=args.access_log, ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
          allow_plain_http=args.allow_plain_http)


def add_device_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """`device-eval` options on `parser`."""
    parser.add_argument("--artifact", action="append", required=True,
                        help="exported student (.onnx/.tflite/.mlpackage); repeat for several")
    parser.add_argument("--index", required=True, help="teacher index of --data's database")
    parser.add_argument("--data", required=True, help="revisited test set (queries + ground truth)")
    parser.add_argument("--ckpt", required=True, help="the checkpoint the artefacts were exported from")
    parser.add_argument("--tol-fp", type=float, default=None,
                        help=f"|Δ mAP| points allowed for fp32/fp16 ({MAP_DELTA_POINTS['fp32']})")
    parser.add_argument("--tol-int8", type=float, default=None,
                        help=f"|Δ mAP| points allowed for int8 ({MAP_DELTA_POINTS['int8']})")
    parser.add_argument("--json", default=None, help="write the result here")
    parser.set_defaults(func=_cmd_device_eval)


def _cmd_device_eval(args: argparse.Namespace) -> None:
    tol = {"fp32": args.tol_fp, "fp16": args.tol_fp, "int8": args.tol_int8}
    result = device_eval(args.artifact, args.index, args.data, args.ckpt,
                         {k: v for k, v in tol.items() if v is not None})
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, result)
        print(f"result in {Path(args.json)}")
    if not result["passed"]:
        raise DistillError("device-eval: an artefact's mAP differs from PyTorch's beyond the tolerance (see table)")


def add_goldens_arguments(parser: argparse.ArgumentParser) -> None:
    """`client-goldens` options on `parser`."""
    parser.add_argument("--artifact", required=True, help="float-I/O artefact (distill export onnx --quantize fp32)")
    parser.add_argument("--out", required=True, help="golden folder (replaced)")
    parser.add_argument("--photo", action="append", default=None,
                        help="photo to include; repeat (default: scikit-image's bundled photos)")
    parser.set_defaults(func=_cmd_goldens)


def _cmd_goldens(args: argparse.Namespace) -> None:
    print(f"goldens: {write_goldens(args.artifact, args.out, args.photo)}")
