"""Shared fixtures: miniature datasets in the published formats, written to tmp dirs."""

import pickle
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from distill import precision
from distill.cli import main
from distill.train import TrainConfig


@pytest.fixture(scope="session", autouse=True)
def float32_unless_asked() -> Iterator[None]:
    """`precision: auto` resolves to fp32 in tests whatever the CPU, so that numbers do not depend on the
    machine (native fp16/bf16 or not); tests of half precision ask for it by name."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(precision, "native_half", lambda device: None)
        yield


@dataclass
class Served:
    """A `distill serve` subprocess: its base URL, the process, and what it has logged so far."""

    base: str
    port: int
    proc: subprocess.Popen
    log_file: Any

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read().decode()


@contextmanager
def serving(args: list[str], wait_s: float = 30.0, tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    """`distill serve ARGS` on a free loopback port (https with `tls`, the client context that trusts its
    certificate); yields once /healthz answers, then stops it (SIGTERM) and waits for it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryFile() as log:  # (a pipe nobody reads would block the server once its buffer filled)
        proc = subprocess.Popen([sys.executable, "-m", "distill", "serve", *args, "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        served = Served(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, proc, log)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    with urllib.request.urlopen(served.base + "/healthz", timeout=1, context=tls):
                        break
                except OSError:
                    if proc.poll() is not None:
                        pytest.fail(f"the server exited: {served.log()[-3000:]}")
                    if time.monotonic() > deadline:
                        pytest.fail(f"server did not answer /healthz within {wait_s:.0f} s")
                    time.sleep(0.1)
            yield served
        finally:
            proc.terminate()
            proc.wait(30)


@contextmanager
def running_server(args: list[str], wait_s: float = 30.0) -> Iterator[str]:
    """`distill serve ARGS` on a free loopback port; yields its base URL once /healthz answers, then stops it."""
    with serving(args, wait_s) as served:
        yield served.base


def write_image(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    """A small random RGB JPEG (distinct per seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, format="JPEG")
    return path


def write_sfm12(root: Path, seed: int) -> Path:
    """12 images in 6 clusters of 2 (query, positive), SfM-120k layout (same split as train and val)."""
    from distill.data.sfm import cid_to_path

    cids = [f"{i:032x}" for i in range(1, 13)]
    for i, c in enumerate(cids):
        write_image(cid_to_path(root / "ims", c), seed + i)
    split = {"cids": cids, "cluster": np.repeat(np.arange(6), 2).tolist(), "qidxs": list(range(0, 12, 2)),
             "pidxs": list(range(1, 12, 2))}
    pkl = root / "retrieval-SfM-120k.pkl"
    pkl.write_bytes(pickle.dumps({"train": split, "val": split}))
    return pkl


@pytest.fixture
def mini_revisited(tmp_path: Path) -> Path:
    """gnd_mini.pkl + jpg/: 6 database images, 2 queries, revisitop structure."""
    root = tmp_path / "mini"
    imlist = [f"db{i}" for i in range(6)]
    qimlist = ["q0", "q1"]
    for i, n in enumerate(imlist + qimlist):
        write_image(root / "jpg" / f"{n}.jpg", i)
    gnd = [{"easy": [0, 1], "hard": [2], "junk": [3], "bbx": [2.0, 2.0, 40.0, 30.0]},
           {"easy": [4], "hard": [], "junk": [], "bbx": [0.0, 0.0, 48.0, 40.0]}]
    with open(root / "gnd_mini.pkl", "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return root


@pytest.fixture
def mini_sfm(tmp_path: Path) -> Path:
    """retrieval-SfM-120k-style pickle + ims/ with cirtorch's cid layout."""
    from distill.data.sfm import cid_to_path

    root = tmp_path / "sfm"
    cids = [f"{i:032x}" for i in range(1, 7)]
    for i, c in enumerate(cids):
        write_image(cid_to_path(root / "ims", c), 100 + i)
    split = {"cids": cids, "cluster": [0, 0, 1, 1, 2, 2], "qidxs": [0, 2, 4], "pidxs": [1, 3, 5]}
    with open(root / "retrieval-SfM-120k.pkl", "wb") as f:
        pickle.dump({"train": split, "val": split}, f)
    return root / "retrieval-SfM-120k.pkl"


@pytest.fixture
def mini_classes(tmp_path: Path) -> Path:
    """root/<class>/<image> with 3 classes × 3 images."""
    root = tmp_path / "classes"
    for c in range(3):
        for k in range(3):
            write_image(root / f"class{c}" / f"{k}.png", 10 * c + k)
    return root


@pytest.fixture(scope="session")
def tiny_asym_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny asymmetric student trained for one step against a tiny teacher, and a mini benchmark."""
    import torch

    from distill.cache import build_cache
    from distill.data import open_dataset
    from distill.models import create_model
    from distill.train import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("tiny-asym")
    pkl = write_sfm12(root, seed=300)
    bench = root / "bench"
    names = [f"db{i}" for i in range(8)] + ["q0", "q1"]
    for i, n in enumerate(names):
        write_image(bench / "jpg" / f"{n}.jpg", 400 + i)
    box = [0.0, 0.0, 48.0, 40.0]
    gnd = [{"easy": [0, 1], "hard": [2], "junk": [], "bbx": box}, {"easy": [4], "hard": [5], "junk": [], "bbx": box}]
    (bench / "gnd_bench.pkl").write_bytes(pickle.dumps({"imlist": names[:8], "qimlist": names[8:], "gnd": gnd}))
    torch.manual_seed(0)
    teacher = create_model("tiny_test_gem")
    cache = build_cache(teacher, open_dataset(pkl), root / "cache")
    bench_cache = build_cache(teacher, open_dataset(bench), root / "bench-cache")
    cfg = TrainConfig(data=str(pkl), teacher_cache=str(cache), student="tiny_test_gem", nnum=2, batch_size=2,
                      max_steps=1)
    Trainer(cfg, root / "run").fit()
    return {"ckpt": root / "run" / "last.pt", "calib": pkl, "bench": bench, "bench_cache": bench_cache,
            "cache": cache, "root": root}


CLIENT_DB = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_right.png",
             "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png", "coins.png", "camera.png", "moon.png",
             "horse.png", "retina.jpg")


@pytest.fixture(scope="session")
def client_world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real retrieval world for device clients, built offline: a *symmetric* EfficientNet-Lite0 student
    (ImageNet weights, one training step), its fp32 ONNX export, and an index of its own embeddings of 14
    skimage photos; the query motorcycle_left.png has one true positive, motorcycle_right (a second view)."""
    import shutil

    import skimage.data
    import torch

    from device_eval.index import build_index
    from distill.cache import build_cache
    from distill.data import open_dataset
    from distill.data.images import ImageRef, load_image, preprocess
    from distill.models import create_model
    from distill.train import TrainConfig, Trainer
    from export.artifact import open_artifact
    from export.pipeline import ExportRequest, export_student

    root = tmp_path_factory.mktemp("client-world")
    photos = Path(skimage.data.__file__).parent
    db = root / "db"
    db.mkdir()
    db_paths = []
    for name in CLIENT_DB:  # grey photos stored as RGB, so every client decodes 3 channels
        dst = db / (Path(name).stem + ".png" if name.endswith(".png") else name)
        img = Image.open(photos / name)
        if img.mode != "RGB":
            img.convert("RGB").save(dst)
        else:
            shutil.copyfile(photos / name, dst)
        db_paths.append(dst)
    query = root / "motorcycle_left.png"
    shutil.copyfile(photos / "motorcycle_left.png", query)
    pkl = write_sfm12(root / "train", seed=700)  # sym training needs tuples; the cache only satisfies the loader
    torch.manual_seed(0)
    cache = build_cache(create_model("tiny_test_gem"), open_dataset(pkl), root / "train-cache")
    cfg = TrainConfig(data=str(pkl), teacher_cache=str(cache), student="efficientnet_lite0_gem", mode="sym",
                      loss="contrastive", mining="random", nnum=1, batch_size=1, max_steps=1)
    Trainer(cfg, root / "run").fit()
    ckpt = root / "run" / "last.pt"
    report = export_student(ExportRequest(format="onnx", ckpt=str(ckpt), out=str(root / "onnx"), calib=str(pkl),
                                          quantize="fp32", calib_count=4))
    onnx = Path(report["artifact"])
    art = open_artifact(onnx)
    runner = art.runner(threads=2)
    db_emb = art.embed_refs([ImageRef(p) for p in db_paths], runner)
    query_emb = runner.embed(preprocess(load_image(query), art.preprocess)[None])[0]
    names = [p.stem for p in db_paths]
    build_index(db_emb, [{"name": n, "path": str(p)} for n, p in zip(names, db_paths, strict=True)],
                art.meta.space(), root / "index", source=str(db))
    return {"root": root, "ckpt": ckpt, "onnx": onnx, "index": root / "index", "compat_key": art.meta.compat_key,
            "meta": art.meta, "db_names": names, "db_paths": db_paths, "db_embeddings": db_emb, "query": query,
            "query_embedding": np.asarray(query_emb, np.float32), "positives": ["motorcycle_right"]}


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 photos listed as a pool (path,label CSV, each photo its own label)."""
    root = tmp_path_factory.mktemp("pool")
    rows = ["path,label"] + [f"{write_image(root / f'p{i}.jpg', 100 + i, (40, 30)).name},p{i}" for i in range(12)]
    (root / "pool.csv").write_text("\n".join(rows) + "\n")
    return root / "pool.csv"


@pytest.fixture(scope="module")
def view_cache(pool: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vc") / "cache"
    torch.manual_seed(0)
    assert main(["cache-teacher", "--data", str(pool), "--teacher", "tiny_test_gem", "--views", "3",
                 "--photo-size", "48", "--out", str(out), "--batch-size", "8"]) == 0
    return out


def view_cfg(pool: Path, cache: Path | None, **kw: object) -> TrainConfig:
    base: dict = dict(data=str(pool), teacher_cache=str(cache) if cache else None, student="tiny_test_gem",
                      loss="infonce_plus", batch_size=4, epochs=2, lr=1e-3, heldout_photos=0.25, projection_views=64,
                      optimizer="adamw", warmup_steps=2, photo_size=48)
    base.update(kw)
    return TrainConfig(**base)
