"""`distill` command line: one entry point, one subcommand per job. Errors are one line (exit 2);
`--debug` shows the traceback instead."""

import argparse
import json
import sys
import time

from distill.errors import DistillError


def _cmd_build_demo(args: argparse.Namespace) -> None:
    from distill.data.demo.build import build_demo

    out = build_demo(args.out, cache=args.sources)
    manifest = json.loads((out / "manifest.json").read_text())
    s = manifest["summary"]
    print(f"built {manifest['files']} files in {out}: test {s['test']['n_queries']} queries / "
          f"{s['test']['n_db']} database images ({out / 'test'}), train {s['train']['train']['images']} "
          f"images in {s['train']['train']['clusters']} clusters ({out / 'train'}), classes ({out / 'classes'})")


def _cmd_models(args: argparse.Namespace) -> None:
    from distill.models import get_model_spec, list_models

    for name in list_models():
        spec = get_model_spec(name)
        print(f"{name:24} {spec.arch:24} {spec.preprocess.input_size[0]:>4}px  {spec.description}")


def _cmd_cache_teacher(args: argparse.Namespace) -> None:
    from distill.cache import build_cache
    from distill.data import open_dataset
    from distill.models import create_model

    data = open_dataset(args.data, split=args.split)
    teacher = create_model(args.teacher, weights=args.weights)
    out = build_cache(teacher, data, args.out, batch_size=args.batch_size, dtype=args.dtype, workers=args.workers)
    print(f"teacher cache: {len(data.refs)} × {teacher.dim} {args.dtype} embeddings in {out}")


def _cmd_eval(args: argparse.Namespace) -> None:
    from distill.cache import load_cache
    from distill.data import open_dataset
    from distill.encode import encode
    from distill.evaluate import Embeddings, evaluate, format_table
    from distill.models import create_model

    data = open_dataset(args.data)
    needs_teacher = args.mode in ("teacher", "asym")
    teacher_emb = None
    if needs_teacher:
        if args.teacher_cache:
            expect = {"image_list_sha256": data.list_sha256(), "count": len(data.refs)}
            if args.teacher:
                expect["teacher"] = args.teacher
            values, manifest = load_cache(args.teacher_cache, expect)
            teacher_emb = Embeddings(values, manifest["teacher"])
        elif args.teacher:
            teacher = create_model(args.teacher, weights=args.teacher_weights)
            teacher_emb = Embeddings(encode(teacher, data.refs, args.batch_size, desc="teacher"), args.teacher)
        else:
            raise DistillError(f"--mode {args.mode} needs --teacher-cache DIR or --teacher PRESET")
    student_emb = None
    if args.mode in ("sym", "asym"):
        if not args.student:
            raise DistillError(f"--mode {args.mode} needs --student PRESET")
        student = create_model(args.student)
        student_emb = Embeddings(encode(student, data.refs, args.batch_size, desc="student"), args.student)
    query = teacher_emb if args.mode == "teacher" else student_emb
    db = student_emb if args.mode == "sym" else teacher_emb
    assert query is not None and db is not None
    result = evaluate(data, query, db, args.mode, args.data)
    print(format_table(result))
    if args.json:
        from distill.io import atomic_write_json

        atomic_write_json(args.json, result)
        print(f"results written to {args.json}")


def build_parser() -> argparse.ArgumentParser:
    """The `distill` argument parser."""
    p = argparse.ArgumentParser(prog="distill", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    bd = data.add_parser("build-demo", help="build the built-in real-photo benchmark")
    bd.add_argument("--out", default="data/demo")
    bd.add_argument("--sources", default=None, help="where source .deb packages are cached (default OUT/../sources)")
    bd.set_defaults(func=_cmd_build_demo)

    sub.add_parser("models", help="list model presets").set_defaults(func=_cmd_models)

    ct = sub.add_parser("cache-teacher", help="encode a dataset once with the teacher (resumable)")
    ct.add_argument("--data", required=True)
    ct.add_argument("--split", default="train", help="split of a SfM-120k-format pickle")
    ct.add_argument("--teacher", required=True)
    ct.add_argument("--weights", default=None, help="local weights file for the teacher backbone")
    ct.add_argument("--out", required=True)
    ct.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    ct.add_argument("--batch-size", type=int, default=32)
    ct.add_argument("--workers", type=int, default=0)
    ct.set_defaults(func=_cmd_cache_teacher)

    ev = sub.add_parser("eval", help="retrieval evaluation: teacher, sym or asym")
    ev.add_argument("--data", required=True)
    ev.add_argument("--mode", choices=("teacher", "sym", "asym"), default="teacher")
    ev.add_argument("--teacher", default=None, help="teacher preset (checked against the cache if both given)")
    ev.add_argument("--teacher-weights", default=None)
    ev.add_argument("--teacher-cache", default=None)
    ev.add_argument("--student", default=None, help="student preset")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--json", default=None, help="write the result as JSON here")
    ev.set_defaults(func=_cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        args.func(args)
    except DistillError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.command != "models":
        print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
