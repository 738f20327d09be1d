"""Where the photo pool's images come from: the demo's training images, opencv-doc stills and video frames,
scikit-image's bundled photos, Debian wallpaper packages and the user's own folders.

Every source yields `Item`s (an output name and a loader); nothing is decoded twice except video frames,
which are read once, sequentially, when the source is listed. Images build-demo puts in its test set are
refused here by name (`why_excluded`), and so are the packages kept for an independent evaluation."""

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from PIL import Image

from distill.data.demo import sources as S
from distill.data.demo.build import DISTRACTOR_IMAGES, TEST_SCENES, TRAIN_IMAGES
from distill.data.images import load_image
from distill.data.sfm import load_sfm
from distill.errors import DistillError
from distill.io import sha256_file

FORBIDDEN = frozenset({"mate-backgrounds", "plasma-workspace-wallpapers", "visp-images-data"})
WALLPAPER_DEBS = ("gnome-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-16.04",
                  "lomiri-wallpapers-20.04", "sway-backgrounds")
# Photos inside the scikit-image wheel (the others are fetched from the web, or are not 2-D/H×W×3 photos:
# binary_blobs, checkerboard, colorwheel, horse, logo, lfw_subset, shepp_logan_phantom, the 3-D volumes).
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee", "coins", "grass",
                  "gravel", "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina",
                  "rocket", "stereo_motorcycle", "text")
# The pool takes photographs: these formats only (opencv-doc's GIFs are diagrams), so that the pool, and every
# number measured on it, stays what it is. A --from folder is read the same way.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v"})
BLACK_MEAN = 10.0
# Sources build-demo does not use in its test set but that would leak it: the calibration board's other
# views, the aloe pair's ground-truth disparity, and skimage's chelsea (the very photo skimage:cat loads).
SAME_AS_TEST = (("left[0-9][0-9].jpg", "other view of test scene calibration"),
                ("right[0-9][0-9].jpg", "other view of test scene calibration"),
                ("aloeGT.png", "ground truth of test scene aloe"),
                ("skimage:chelsea", "same photo as skimage:cat (test distractor)"))


@dataclass(frozen=True)
class Item:
    """One pool image: `name` is its path under OUT without `.jpg`; `load` decodes the source as RGB."""

    name: str
    source: str
    origin: str
    license: str
    load: Callable[[], Image.Image] = field(compare=False, repr=False)


@dataclass
class Listing:
    """What the sources yielded: items, manifest source entries, exclusions by name, notes."""

    items: list[Item] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Record a note and show it on stderr."""
        self.notes.append(text)
        print(f"note: {text}", file=sys.stderr)


def _test_sources() -> dict[str, str]:
    reasons = {}
    for scene, specs, _ in TEST_SCENES:
        for spec in specs:
            if spec.startswith("skimage:stereo_"):
                reasons["skimage:stereo_motorcycle"] = f"test scene {scene}"
            elif (video := _still_or_video(spec)) != spec:
                reasons[video] = f"test scene {scene} (every frame of the video)"
            else:
                reasons[spec] = f"test scene {scene}"
    reasons.update({spec: "test distractor" for spec in DISTRACTOR_IMAGES})
    return reasons


def _still_or_video(spec: str) -> str:
    """'video.avi:120' → 'video.avi'; other specs unchanged."""
    head = spec.rpartition(":")[0]
    return head if Path(head).suffix.lower() in VIDEO_SUFFIXES else spec


TEST_SOURCES = _test_sources()


def why_excluded(spec: str) -> str | None:
    """Why a source spec ('graf1.png', 'vtest.avi:120', 'skimage:cat') may not enter the pool, or None."""
    key = _still_or_video(spec)
    if key in TEST_SOURCES:
        return TEST_SOURCES[key]
    return next((reason for pat, reason in SAME_AS_TEST if fnmatch(Path(key).name, pat)), None)


def check_allowed(text: str, what: str) -> None:
    """Refuse a path or package name that mentions a source kept for an independent evaluation."""
    hit = next((f for f in sorted(FORBIDDEN) if f in text), None)
    if hit:
        raise DistillError(f"{what} {text!r}: {hit} is kept for an independent evaluation and never enters the pool")


def unique_names(rels: Sequence[str], prefix: str) -> list[str]:
    """Stable output names `prefix/<rel without suffix, / → _>`; a clash keeps the suffix, then counts."""
    names: list[str] = []
    taken: set[str] = set()
    for rel in rels:
        p = Path(rel)
        base = p.with_suffix("").as_posix().replace("/", "_")
        name, k = f"{prefix}/{base}", 1
        if name in taken:
            name = f"{prefix}/{base}_{p.suffix.lstrip('.').lower()}"
        while name in taken:
            k += 1
            name = f"{prefix}/{base}_{k}"
        taken.add(name)
        names.append(name)
    return names


def _file_loader(path: Path) -> Callable[[], Image.Image]:
    return lambda: load_image(path)


def _frame_loader(frame: np.ndarray) -> Callable[[], Image.Image]:
    return lambda: Image.fromarray(frame)


def _skimage_loader(name: str) -> Callable[[], Image.Image]:
    return lambda: Image.fromarray(S.skimage_photo(name))


def _images_under(root: Path, skip: str = "") -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                  and p.suffix.lower() in PHOTO_SUFFIXES and not (skip and p.is_relative_to(root / skip)))


def demo_items(demo: Path, out: Listing) -> None:
    """The demo's training images (train + val splits of train/demo-train.pkl), except the views of a photo
    that the test set also uses (cluster c < len(TRAIN_IMAGES) holds views of TRAIN_IMAGES[c], as built)."""
    pkl = demo / "train" / "demo-train.pkl"
    if not pkl.is_file():
        out.note(f"{pkl} not found: no demo training images in the pool (build it with distill data build-demo)")
        return
    seen: set[str] = set()
    for split in ("train", "val"):
        data = load_sfm(pkl, split)
        for cid, ref, c in zip(data.cids, data.refs, data.cluster.tolist(), strict=True):
            if cid in seen:
                continue
            seen.add(cid)
            spec = TRAIN_IMAGES[c] if c < len(TRAIN_IMAGES) else "Megamind.avi"
            origin = f"{ref.path.relative_to(demo).as_posix()} (view of {spec})"
            if _exclude(out, "demo", spec, origin):
                lic = S.SKIMAGE_LICENSE if spec.startswith("skimage:") else S.DEBS["opencv-doc"]["license"]
                out.items.append(Item(f"demo/{cid}", "demo", origin, lic, _file_loader(ref.path)))
    out.sources.append({"source": "demo", "path": str(demo), "pickle_sha256": sha256_file(pkl)})


def opencv_items(cache: Path, video_step: int, skip_missing: bool, out: Listing) -> None:
    """opencv-doc's still images and every `video_step`-th non-black frame of its videos (minus test sources)."""
    lic = S.DEBS["opencv-doc"]["license"]
    root = fetch_package("opencv-doc", cache, skip_missing, out, lic)
    if root is None:
        return
    data_dir = root / S.DEBS["opencv-doc"]["data"]
    if not data_dir.is_dir():
        raise DistillError(f"{root}: expected folder {S.DEBS['opencv-doc']['data']} inside opencv-doc")
    stills = [p for p in _images_under(data_dir) if _exclude(out, "opencv", p.relative_to(data_dir).as_posix())]
    rels = [p.relative_to(data_dir).as_posix() for p in stills]
    for p, name, rel in zip(stills, unique_names(rels, "opencv"), rels, strict=True):
        out.items.append(Item(name, "opencv", rel, lic, _file_loader(p)))
    videos = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    for video in videos:
        rel = video.relative_to(data_dir).as_posix()
        if not _exclude(out, "opencv", rel):
            continue
        stem = unique_names([rel], "opencv")[0]
        for i, frame in _video_frames(video, video_step):
            out.items.append(Item(f"{stem}_f{i:06d}", "opencv", f"{rel}:{i}", lic, _frame_loader(frame)))


def _video_frames(path: Path, step: int) -> list[tuple[int, np.ndarray]]:
    """Every `step`-th frame (RGB) whose mean is not black, decoded sequentially as sources.video_frames does."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DistillError(f"{path}: cannot open the video")
    frames, i = [], 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        if i % step == 0 and float(fr.mean()) >= BLACK_MEAN:
            frames.append((i, cv2.cvtColor(fr, cv2.COLOR_BGR2RGB)))
        i += 1
    cap.release()
    return frames


def _exclude(out: Listing, source: str, spec: str, origin: str | None = None) -> bool:
    """True when `spec` may enter the pool; otherwise records why not."""
    reason = why_excluded(spec)
    if reason:
        out.excluded.append({"source": source, "origin": origin or spec, "reason": reason})
    return reason is None


def skimage_items(out: Listing) -> None:
    """scikit-image's bundled photos (minus those in the demo test set)."""
    from importlib.metadata import version

    for name in SKIMAGE_PHOTOS:
        if _exclude(out, "skimage", f"skimage:{name}"):
            out.items.append(Item(f"skimage/{name}", "skimage", f"skimage:{name}", S.SKIMAGE_LICENSE,
                                  _skimage_loader(name)))
    out.sources.append({"source": "skimage", "package": "scikit-image", "version": version("scikit-image"),
                        "license": S.SKIMAGE_LICENSE})


def debian_items(packages: Sequence[str], cache: Path, skip_missing: bool, out: Listing) -> None:
    """Every raster image in each package (fetched with apt-get download, unpacked with dpkg-deb -x)."""
    for pkg in packages:
        root = fetch_package(pkg, cache, skip_missing, out, f"per file, see usr/share/doc/{pkg}/copyright")
        if root is None:
            continue
        files = _images_under(root, skip="usr/share/doc")
        rels = [p.relative_to(root).as_posix() for p in files]
        names = unique_names([Path(r).name for r in rels], pkg)
        for p, name, rel in zip(files, names, rels, strict=True):
            out.items.append(Item(name, pkg, rel, deb_license(root, pkg, p.name), _file_loader(p)))


def fetch_package(pkg: str, cache: Path, skip_missing: bool, out: Listing, license: str) -> Path | None:
    """Fetch and unpack a Debian package into `cache` (None, with a note, when missing and `skip_missing`)."""
    check_allowed(pkg, "package")
    try:
        deb = S.fetch_deb(pkg, cache / "debs")
    except DistillError as e:
        if not skip_missing:
            raise
        out.note(f"skipped package {pkg}: {e}")
        return None
    root = S.unpack_deb(deb, cache / pkg)
    out.sources.append({"source": f"debian:{pkg}", "package": pkg, "version": unquote(deb.name.split("_")[1]),
                        "deb": deb.name, "sha256": sha256_file(deb), "license": license})
    return root


def deb_license(root: Path, pkg: str, filename: str) -> str:
    """The License of the last machine-readable copyright paragraph whose Files match `filename`."""
    where = f"usr/share/doc/{pkg}/copyright"
    copyright_file = root / where
    if not copyright_file.is_file():
        return f"see {where}"
    found = None
    for para in copyright_file.read_text(errors="replace").split("\n\n"):
        fields = dict(line.split(":", 1) for line in para.splitlines() if ":" in line and not line[:1].isspace())
        pats = fields.get("Files", "").split()
        if "License" in fields and any(not p.startswith("debian/") and fnmatch(filename, p.rsplit("/", 1)[-1])
                                       for p in pats):
            found = fields["License"].strip()
    return f"{found} ({where})" if found else f"see {where}"


def user_items(dirs: Sequence[str], out: Listing) -> None:
    """Every image file under the user's folders (recursively), in sorted order."""
    files: list[tuple[Path, str]] = []
    for d in dirs:
        root = Path(d)
        check_allowed(str(root.resolve()), "--from")
        if not root.is_dir():
            raise DistillError(f"{root}: --from expects a folder of images")
        for p in _images_under(root):
            check_allowed(str(p.resolve()), "--from file")
            files.append((p, p.relative_to(root).as_posix()))
        out.sources.append({"source": "from", "path": d})
    for (p, _), name in zip(files, unique_names([r for _, r in files], "from"), strict=True):
        out.items.append(Item(name, "from", str(p), "the user's own photo", _file_loader(p)))
