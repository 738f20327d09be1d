"""`distill eval`: revisited mAP or Recall@K of the teacher, a symmetric or an asymmetric student."""

import argparse
from pathlib import Path
from typing import Any

from distill.cache import load_cache
from distill.checkpoint import student_from_checkpoint
from distill.data import open_dataset
from distill.encode import encode
from distill.errors import DistillError
from distill.evaluate import Embeddings, evaluate, format_table, load_distractors, query_refs
from distill.io import atomic_write_json
from distill.models import RetrievalNet, create_model


def _cmd_eval(args: argparse.Namespace) -> None:
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
            raise DistillError(f"--mode {args.mode} needs --student CKPT|PRESET")
        student = _load_student(args.student)
        values = encode(student, query_refs(data, args.mode), args.batch_size, desc="student")
        student_emb = Embeddings(values, args.student)
    query = teacher_emb if args.mode == "teacher" else student_emb
    db = student_emb if args.mode == "sym" else teacher_emb
    assert query is not None and db is not None
    distractors = None if args.distractors is None else load_distractors(args.distractors, db.model,
                                                                         db.values.shape[1])
    result = evaluate(data, query, db, args.mode, args.data, distractors)
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, result)
        print(f"results written to {args.json}")


def _load_student(spec: str) -> RetrievalNet:
    """A trained checkpoint (a file path) or a preset name."""
    if Path(spec).is_file() or spec.endswith(".pt"):
        return student_from_checkpoint(spec)[0]
    return create_model(spec)


def add_arguments(sub: Any) -> None:
    """Register the command(s) on the `distill` sub-parsers `sub`."""
    ev = sub.add_parser("eval", help="retrieval evaluation: teacher, sym or asym")
    ev.add_argument("--data", required=True)
    ev.add_argument("--mode", choices=("teacher", "sym", "asym"), default="teacher")
    ev.add_argument("--teacher", default=None, help="teacher preset (checked against the cache if both given)")
    ev.add_argument("--teacher-weights", default=None)
    ev.add_argument("--teacher-cache", default=None)
    ev.add_argument("--student", "--ckpt", dest="student", default=None,
                    help="trained checkpoint (run/last.pt) or a student preset")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--distractors", default=None,
                    help="revisited +1M protocol: database-model embeddings of distractors (.npy or teacher cache)")
    ev.add_argument("--json", default=None, help="write the result as JSON here")
    ev.set_defaults(func=_cmd_eval)
