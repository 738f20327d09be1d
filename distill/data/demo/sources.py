"""Real photographs shipped by package registries: Debian's opencv-doc and dataset-fashion-mnist
(fetched with `apt-get download`, unpacked with `dpkg-deb -x`, no root install) and scikit-image's
bundled `skimage.data` photos. Nothing is downloaded from the web."""

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np

from distill.errors import DistillError

DEBS = {
    "opencv-doc": {"data": "usr/share/doc/opencv-doc/examples/data",
                   "license": "BSD-3-Clause / Apache-2.0 (OpenCV sample data; see usr/share/doc/opencv-doc/copyright)"},
    "dataset-fashion-mnist": {"data": "usr/share/datasets/fashion-mnist",
                              "license": "MIT (Zalando Research; see usr/share/doc/dataset-fashion-mnist/copyright)"},
}
SKIMAGE_LICENSE = "per image, public domain / CC0 / CC-BY (see skimage/data/README.txt of scikit-image)"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DistillError(f"'{cmd[0]}' not found: the demo data needs Debian's apt-get and dpkg-deb") from None


def fetch_deb(package: str, cache: Path) -> Path:
    """The package's .deb in `cache`, fetched with `apt-get download` (after `apt-get update` if needed)."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    res = _run(["apt-get", "download", package], cache)
    if res.returncode != 0:
        _run(["apt-get", "update", "-qq"], cache)
        res = _run(["apt-get", "download", package], cache)
    found = sorted(cache.glob(f"{package}_*.deb"))
    if res.returncode != 0 or not found:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise DistillError(f"apt-get download {package} failed ({last}); run 'apt-get update' as root, "
                           f"or put {package}_*.deb in {cache}")
    return found[-1]


def unpack_deb(deb: Path, dest: Path) -> Path:
    """Unpack `deb` into `dest` (idempotent: reuses a previous unpack of the same file)."""
    stamp = dest / ".unpacked"
    if stamp.is_file() and stamp.read_text() == deb.name:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    res = _run(["dpkg-deb", "-x", str(deb.resolve()), str(dest.resolve())], dest)
    if res.returncode != 0:
        raise DistillError(f"{deb}: dpkg-deb -x failed ({res.stderr.strip()[:200]})")
    stamp.write_text(deb.name)
    return dest


def debian_sources(cache: Path) -> tuple[dict[str, Path], list[dict]]:
    """Fetch and unpack both packages; returns their data folders and manifest entries."""
    dirs, entries = {}, []
    for pkg, info in DEBS.items():
        deb = fetch_deb(pkg, cache / "debs")
        root = unpack_deb(deb, cache / pkg)
        data = root / info["data"]
        if not data.is_dir():
            raise DistillError(f"{deb}: expected folder {info['data']} inside the package")
        dirs[pkg] = data
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        entries.append({"source": f"debian:{deb.name}", "sha256": digest, "license": info["license"]})
    return dirs, entries


def skimage_photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as H×W×3 uint8 RGB (grey images are stacked)."""
    try:
        from skimage import data as skdata
    except ImportError:
        raise DistillError("scikit-image is needed for the demo data: pip install 'asym-distill[demo]'") from None
    img = getattr(skdata, name)()
    if name == "stereo_motorcycle":
        raise DistillError("use skimage_stereo() for the stereo pair")
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        img = (255 * (img - img.min()) / max(float(np.ptp(img)), 1e-9)).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3])


def skimage_stereo() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's stereo_motorcycle left/right views (RGB uint8)."""
    from skimage import data as skdata

    left, right, _ = skdata.stereo_motorcycle()
    return np.asarray(left), np.asarray(right)


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (MNIST format) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def video_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """Decode frames `indices` of a video as RGB uint8 (frames that fail to decode are an error)."""
    import cv2

    cap = cv2.VideoCapture(str(path))  # decoded sequentially: seeking is unreliable in these AVIs
    wanted, i = set(indices), 0
    frames: dict[int, np.ndarray] = {}
    while len(frames) < len(wanted):
        ok, fr = cap.read()
        if not ok:
            raise DistillError(f"{path}: cannot decode frame {i} (wanted {sorted(wanted - set(frames))})")
        if i in wanted:
            frames[i] = cv2.cvtColor(fr, cv2.COLOR_BGR2RGB)
        i += 1
    cap.release()
    return [frames[i] for i in indices]


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
