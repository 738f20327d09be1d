"""Seeded synthetic views of a real photo: easy (mild crop/colour), hard (small crop, perspective,
rotation, strong photometric change, blur, JPEG) and junk (tiny, blurred fragment)."""

import hashlib

import numpy as np

LEVELS = ("easy", "hard", "junk")


def rng_for(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of `parts` (not Python's salted hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _crop(img: np.ndarray, rng: np.random.Generator, area: tuple[float, float]) -> np.ndarray:
    h, w = img.shape[:2]
    a = rng.uniform(*area)
    ar = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    cw = int(min(w, round(w * np.sqrt(a * ar))))
    ch = int(min(h, round(h * np.sqrt(a / ar))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return img[y0:y0 + ch, x0:x0 + cw]


def _warp(img: np.ndarray, rng: np.random.Generator, max_rot: float, persp: float) -> np.ndarray:
    import cv2  # the demo extra, like the other OpenCV users of the demo builder

    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = (src + rng.uniform(-persp, persp, size=(4, 2)) * np.array([w, h])).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    r = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-max_rot, max_rot), 1.0)
    m = np.vstack([r, [0, 0, 1]]) @ m
    return cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REFLECT101)


def _photometric(img: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    x = x ** np.exp(rng.uniform(-0.5, 0.5) * strength)  # gamma
    x = x * (1 + rng.uniform(-0.35, 0.35, size=3) * strength)  # per-channel gain (white balance)
    x = (x - 0.5) * (1 + rng.uniform(-0.4, 0.3) * strength) + 0.5  # contrast
    if rng.random() < 0.25 * strength:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(x * 255 + rng.normal(0, 6 * strength, x.shape), 0, 255).astype(np.uint8)


def _blur_jpeg(img: np.ndarray, rng: np.random.Generator, sigma: float, quality: int) -> np.ndarray:
    import cv2

    if sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return np.asarray(decoded)[..., ::-1].copy()


def synth_view(img: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    """One synthetic view of RGB uint8 `img` at difficulty `level` (easy | hard | junk)."""
    if level == "easy":
        out = _crop(img, rng, (0.45, 0.85))
        out = _warp(out, rng, max_rot=8, persp=0.03)
        out = _photometric(out, rng, 0.4)
        return _blur_jpeg(out, rng, rng.uniform(0, 0.8), 85)
    if level == "hard":
        out = _crop(img, rng, (0.08, 0.25))
        out = _warp(out, rng, max_rot=35, persp=0.12)
        out = _photometric(out, rng, 1.0)
        return _blur_jpeg(out, rng, rng.uniform(0.5, 2.0), int(rng.integers(25, 60)))
    if level == "junk":
        out = _crop(img, rng, (0.02, 0.06))
        out = _photometric(out, rng, 1.0)
        return _blur_jpeg(out, rng, 2.5, 30)
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def random_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A distractor made from an unrelated photo: a random crop with mild photometric change."""
    out = _crop(img, rng, (0.15, 0.7))
    return _photometric(out, rng, 0.5)
