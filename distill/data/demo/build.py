"""`distill data build-demo`: the built-in benchmark, made reproducibly from real photographs.

Layout written under OUT:
  test/gnd_demo.pkl + test/jpg/*.jpg     instance-level test set, revisited Oxford/Paris format
  train/demo-train.pkl + train/ims/...   training tuples, SfM-120k format (scenes disjoint from test)
  classes/{train,test}/<class>/*.png     Fashion-MNIST, disjoint train/test classes (Recall@K)
  manifest.json, SHA256SUMS              sources, licences, seed, and every file's sha256
"""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from distill.data.demo import augment as A
from distill.data.demo import sources as S

SEED = 20261124
MAX_SIDE = 640
# Test scenes with real multi-view images: (name, opencv files | video spec | skimage pair, hard real pairs).
TEST_SCENES: list[tuple[str, list[str], bool]] = [
    ("graffiti", ["graf1.png", "graf3.png"], True),
    ("leuven", ["leuvenA.jpg", "leuvenB.jpg"], False),
    ("aloe", ["aloeL.jpg", "aloeR.jpg"], False),
    ("books", ["left.jpg", "right.jpg"], False),
    ("rubberwhale", ["rubberwhale1.png", "rubberwhale2.png"], False),
    ("basketball", ["basketball1.png", "basketball2.png"], False),
    ("box", ["box.png", "box_in_scene.png"], True),
    ("aerial", ["aero1.jpg", "aero3.jpg"], False),
    ("suzanne", ["Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg"], False),
    ("notebook", ["ela_original.jpg", "ela_modified.jpg"], False),
    ("calibration", ["left01.jpg", "left05.jpg", "left09.jpg", "left13.jpg", "right03.jpg", "right07.jpg"], False),
    ("page", ["imageTextN.png", "imageTextR.png"], True),
    ("opencv_logo", ["opencv-logo.png", "opencv-logo-white.png"], True),
    ("blurred_text", ["text_defocus.jpg", "text_motion.jpg"], True),
    ("pedestrians", ["vtest.avi:0", "vtest.avi:200", "vtest.avi:400", "vtest.avi:600", "vtest.avi:790"], False),
    ("tree", ["tree.avi:0", "tree.avi:22", "tree.avi:44", "tree.avi:67"], False),
    ("motorcycle", ["skimage:stereo_left", "skimage:stereo_right"], False),
]
TRAIN_IMAGES = ["HappyFish.jpg", "apple.jpg", "baboon.jpg", "blox.jpg", "board.jpg", "building.jpg",
                "butterfly.jpg", "cards.png", "chicky_512.png", "fruits.jpg", "home.jpg", "messi5.jpg",
                "ml.png", "orange.jpg", "smarties.png", "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg",
                "sudoku.png", "licenseplate_motion.jpg", "notes.png", "pca_test1.jpg",
                "skimage:astronaut", "skimage:coffee", "skimage:rocket", "skimage:chelsea", "skimage:camera",
                "skimage:coins"]
DISTRACTOR_IMAGES = ["digits.png", "pic1.png", "pic2.png", "pic3.png", "pic4.png", "pic5.png", "pic6.png",
                     "detect_blob.png", "ellipses.jpg", "LinuxLogo.jpg", "WindowsLogo.jpg", "chessboard.png",
                     "skimage:brick", "skimage:cat", "skimage:cell", "skimage:clock", "skimage:colorwheel",
                     "skimage:grass", "skimage:gravel", "skimage:horse", "skimage:hubble_deep_field",
                     "skimage:immunohistochemistry", "skimage:logo", "skimage:microaneurysms", "skimage:moon",
                     "skimage:page", "skimage:retina", "skimage:text"]
SYNTH_PER_VIEW = {"easy": 1, "hard": 4, "junk": 1}
CROPS_PER_DISTRACTOR = 18
TRAIN_VIEWS = 6  # original + 5 synthetic views per training photo
MEGAMIND_STEP = 6
FASHION_SPLITS = {"train": ("train", [0, 1, 2, 3, 4]), "test": ("t10k", [5, 6, 7, 8, 9])}  # disjoint classes
FASHION_PER_CLASS = 100
FASHION_NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


class _Loader:
    """Resolves the source specs above ('file', 'video.avi:frame', 'skimage:name') to RGB arrays."""

    def __init__(self, opencv_dir: Path) -> None:
        self.dir = opencv_dir

    def __call__(self, spec: str) -> np.ndarray:
        if spec.startswith("skimage:"):
            name = spec.split(":", 1)[1]
            if name.startswith("stereo_"):
                left, right = S.skimage_stereo()
                return left if name == "stereo_left" else right
            return S.skimage_photo(name)
        if ".avi:" in spec:
            video, frame = spec.split(":")
            return S.video_frames(self.dir / video, [int(frame)])[0]
        return S.read_rgb(self.dir / spec)


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(img)
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    im.save(path, format="JPEG", quality=90)


def _cid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def build_test(load: _Loader, out: Path) -> dict:
    """Revisited-format test set: real views + seeded synthetic views + distractor crops."""
    imlist: list[str] = []
    qimlist: list[str] = []
    gnd: list[dict] = []

    def add(img: np.ndarray, name: str) -> int:
        _save(img, out / "jpg" / f"{name}.jpg")
        imlist.append(name)
        return len(imlist) - 1

    for scene, specs, hard_pairs in tqdm(TEST_SCENES, desc="test scenes", unit="scene"):
        views = [load(s) for s in specs]
        real_idx: list[int] = []
        synth: dict[str, list[int]] = {lvl: [] for lvl in A.LEVELS}
        for v, img in enumerate(views):
            real_idx.append(add(img, f"{scene}_v{v}"))
            for lvl, n in SYNTH_PER_VIEW.items():
                for k in range(n):
                    rng = A.rng_for(SEED, scene, v, lvl, k)
                    synth[lvl].append(add(A.synth_view(img, lvl, rng), f"{scene}_v{v}_{lvl}{k}"))
        for v, img in enumerate(views[:4]):
            qname = f"{scene}_q{v}"
            _save(img, out / "jpg" / f"{qname}.jpg")
            h, w = np.asarray(Image.open(out / "jpg" / f"{qname}.jpg")).shape[:2]
            others = [i for j, i in enumerate(real_idx) if j != v]
            easy_real, hard_real = ([], others) if hard_pairs else (others, [])
            qimlist.append(qname)
            gnd.append({"easy": np.array(easy_real + synth["easy"], np.int64),
                        "hard": np.array(hard_real + synth["hard"], np.int64),
                        "junk": np.array([real_idx[v], *synth["junk"]], np.int64),
                        "bbx": np.array([0.05 * w, 0.05 * h, 0.95 * w, 0.95 * h])})
    for src in tqdm(DISTRACTOR_IMAGES, desc="distractors", unit="photo"):
        img = load(src)
        for k in range(CROPS_PER_DISTRACTOR):
            add(A.random_crop(img, A.rng_for(SEED, "distractor", src, k)), f"distractor_{_slug(src)}_{k}")
    with open(out / "gnd_demo.pkl", "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f, protocol=4)
    return {"n_db": len(imlist), "n_queries": len(qimlist), "scenes": [s[0] for s in TEST_SCENES]}


def _slug(spec: str) -> str:
    return spec.replace("skimage:", "sk_").replace(".", "_")


def _megamind_shots(video: Path) -> list[list[int]]:
    """Frames of Megamind.avi grouped into shots (a cut = a large jump in a small grey thumbnail)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    shots: list[list[int]] = [[]]
    prev, i = None, 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        thumb = cv2.resize(cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY), (32, 24)).astype(np.float32)
        if thumb.mean() > 10:  # skip black frames
            if prev is not None and np.abs(thumb - prev).mean() > 25:
                shots.append([])
            shots[-1].append(i)
            prev = thumb
        i += 1
    return [s for s in shots if len(s) >= 2 * MEGAMIND_STEP]


def build_train(load: _Loader, out: Path, opencv_dir: Path) -> dict:
    """SfM-120k-format tuples: each photo a cluster of seeded views, each Megamind shot a cluster."""
    clusters: list[list[np.ndarray]] = []
    for src in tqdm(TRAIN_IMAGES, desc="train photos", unit="photo"):
        img = load(src)
        views = [img] + [A.synth_view(img, "easy" if k % 2 else "hard", A.rng_for(SEED, "train", src, k))
                         for k in range(TRAIN_VIEWS - 1)]
        clusters.append(views)
    for shot in _megamind_shots(opencv_dir / "Megamind.avi"):
        clusters.append(S.video_frames(opencv_dir / "Megamind.avi", shot[::MEGAMIND_STEP]))
    order = A.rng_for(SEED, "split").permutation(len(clusters))
    val_set = set(order[: max(2, len(clusters) // 8)].tolist())
    db: dict[str, dict] = {}
    for split in ("train", "val"):
        cids: list[str] = []
        cluster: list[int] = []
        qidxs: list[int] = []
        pidxs: list[int] = []
        for c, views in enumerate(clusters):
            if (c in val_set) != (split == "val"):
                continue
            first = len(cids)
            for v, img in enumerate(views):
                cid = _cid(f"{c}/{v}")
                _save(img, out / "ims" / cid[-2:] / cid[-4:-2] / cid[-6:-4] / cid)
                cids.append(cid)
                cluster.append(c)
            n = len(views)
            for v in range(n):
                qidxs.append(first + v)
                pidxs.append(first + (v + 1 + int(A.rng_for(SEED, "pair", c, v).integers(0, n - 1))) % n)
        db[split] = {"cids": cids, "cluster": cluster, "qidxs": qidxs, "pidxs": pidxs}
    with open(out / "demo-train.pkl", "wb") as f:
        pickle.dump(db, f, protocol=4)
    return {s: {"images": len(d["cids"]), "tuples": len(d["qidxs"]), "clusters": len(set(d["cluster"]))}
            for s, d in db.items()}


def build_classes(fashion_dir: Path, out: Path) -> dict:
    """Fashion-MNIST subset with disjoint train/test classes, as class folders of PNGs."""
    counts = {}
    for split, (prefix, classes) in FASHION_SPLITS.items():
        images = S.read_idx(fashion_dir / f"{prefix}-images-idx3-ubyte.gz")
        labels = S.read_idx(fashion_dir / f"{prefix}-labels-idx1-ubyte.gz")
        for c in classes:
            idx = np.flatnonzero(labels == c)[:FASHION_PER_CLASS]
            for i in idx:
                p = out / split / FASHION_NAMES[c] / f"{prefix}_{i:05d}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[i]).save(p)
        counts[split] = {FASHION_NAMES[c]: FASHION_PER_CLASS for c in classes}
    return counts


def build_demo(out: str | Path, cache: str | Path | None = None) -> Path:
    """Build the whole benchmark into `out` (deterministic for a given set of source packages)."""
    out = Path(out)
    cache_dir = Path(cache) if cache else out.parent / "sources"
    dirs, sources = S.debian_sources(cache_dir)
    load = _Loader(dirs["opencv-doc"])
    summary = {"test": build_test(load, out / "test"),
               "train": build_train(load, out / "train", dirs["opencv-doc"]),
               "classes": build_classes(dirs["dataset-fashion-mnist"], out / "classes")}
    from importlib.metadata import version

    sources.append({"source": f"pypi:scikit-image=={version('scikit-image')} (skimage.data)",
                    "license": S.SKIMAGE_LICENSE})
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in {"manifest.json", "SHA256SUMS"})
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n"
                   for p in files)
    (out / "SHA256SUMS").write_text(sums)
    manifest = {"generator": "distill data build-demo", "seed": SEED, "sources": sources, "summary": summary,
                "files": len(files), "files_sha256": hashlib.sha256(sums.encode()).hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out
