"""The photo pool (`distill data build-pool`), offline: only `--from` folders of generated photos."""

import hashlib
import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from distill.builders import pool as pool_mod
from distill.builders.pool import PoolOptions, build_pool, cap_per_source, encode_jpeg, summary_line
from distill.data import ClassSet, open_dataset
from distill.data.pool_sources import Item, deb_license, unique_names, why_excluded
from distill.errors import DistillError
from tests.conftest import write_image


def _photos(root: Path) -> Path:
    """Five small photos in nested folders: noise JPEGs, gradient PNGs, one larger than max_side."""
    yy, xx = np.mgrid[0:40, 0:48]
    for i in range(2):
        write_image(root / "trip" / f"img{i}.jpg", seed=900 + i)
    grad = np.stack([xx * 5, yy * 6, (xx + yy) * 2], -1).astype(np.uint8)
    Image.fromarray(grad).save(root / "trip" / "gradient.png")
    Image.fromarray(grad[..., 0]).save(root / "grey.png")  # grey → stored as RGB
    write_image(root / "big" / "wide.jpg", seed=950, size=(120, 60))
    (root / "notes.txt").write_text("not an image")
    return root


def _opts(*dirs: Path, **kw: object) -> PoolOptions:
    return PoolOptions(sources=(), from_dirs=tuple(str(d) for d in dirs), max_side=64, **kw)  # type: ignore[arg-type]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pool_of_user_photos_loads_as_a_class_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pool"
    manifest = build_pool(out, _opts(_photos(tmp_path / "mine")))
    names = [f["path"] for f in manifest["files"]]
    assert names == ["images/from/big_wide.jpg", "images/from/grey.jpg", "images/from/trip_gradient.jpg",
                     "images/from/trip_img0.jpg", "images/from/trip_img1.jpg"]
    lines = (out / "pool.csv").read_text().splitlines()
    assert lines[0] == "path,label" and len(lines) == 6 and lines[1] == "images/from/big_wide.jpg,images/from/big_wide"
    data = open_dataset(out / "pool.csv")
    assert isinstance(data, ClassSet) and len(data.refs) == 5 and len(data.classes) == 5
    for f in manifest["files"]:
        assert f["sha256"] == _sha(out / f["path"]) and f["source"] == "from"
        with Image.open(out / f["path"]) as im:
            assert im.mode == "RGB" and im.format == "JPEG" and max(im.size) <= 64
    assert Image.open(out / "images/from/big_wide.jpg").size == (64, 32)
    assert manifest["summary"]["per_source"] == {"from": 5} and manifest["seed"] == 0
    assert "pool: 5 images (from 5)" in summary_line(manifest, out)


def test_rerun_when_complete_is_a_noop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, opts = tmp_path / "pool", _opts(_photos(tmp_path / "mine"))
    first = build_pool(out, opts)
    monkeypatch.setattr(pool_mod, "list_items", lambda *a: pytest.fail("a complete pool was listed again"))
    assert build_pool(out, opts) == first


class Interrupted(Exception):
    """Stands for a kill in the middle of the build."""


def _counting(limit: int | None) -> tuple[Callable[[Image.Image, int], bytes], list[int]]:
    calls: list[int] = []

    def fake(img: Image.Image, max_side: int) -> bytes:
        if limit is not None and len(calls) == limit:
            raise Interrupted
        calls.append(1)
        return encode_jpeg(img, max_side)

    return fake, calls


def test_resume_after_interruption_matches_a_clean_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = _opts(_photos(tmp_path / "mine"))
    clean = build_pool(tmp_path / "clean", opts)
    out = tmp_path / "pool"
    fake, _ = _counting(2)
    monkeypatch.setattr(pool_mod, "encode_jpeg", fake)
    with pytest.raises(Interrupted):
        build_pool(out, opts)
    assert not (out / "manifest.json").exists() and len(list((out / "images").rglob("*.jpg"))) == 2
    fake, calls = _counting(None)
    monkeypatch.setattr(pool_mod, "encode_jpeg", fake)
    resumed = build_pool(out, opts)
    assert len(calls) == 3  # the 2 images written before the interruption were not re-made
    assert resumed == clean
    assert (out / "pool.csv").read_bytes() == (tmp_path / "clean" / "pool.csv").read_bytes()
    for f in clean["files"]:
        assert (out / f["path"]).read_bytes() == (tmp_path / "clean" / f["path"]).read_bytes()


def test_bad_file_is_a_one_line_error_or_recorded_with_skip_bad(tmp_path: Path) -> None:
    mine = _photos(tmp_path / "mine")
    bad = mine / "trip" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DistillError, match=r"broken\.jpg: not a readable image"):
        build_pool(tmp_path / "a", _opts(mine))
    manifest = build_pool(tmp_path / "b", _opts(mine, skip_bad=True))
    assert [b["origin"] for b in manifest["excluded"]["bad"]] == [str(bad)]
    assert manifest["summary"]["bad_skipped"] == 1 and manifest["summary"]["images"] == 5


def test_forbidden_sources_are_refused(tmp_path: Path) -> None:
    forbidden = _photos(tmp_path / "mate-backgrounds")
    with pytest.raises(DistillError, match="mate-backgrounds is kept for an independent evaluation"):
        build_pool(tmp_path / "a", _opts(forbidden))
    with pytest.raises(DistillError, match="plasma-workspace-wallpapers"):
        build_pool(tmp_path / "b", PoolOptions(sources=("debian",), packages=("plasma-workspace-wallpapers",)))
    mine = _photos(tmp_path / "mine")
    shutil.copytree(mine / "trip", mine / "visp-images-data")
    with pytest.raises(DistillError, match="visp-images-data"):
        build_pool(tmp_path / "c", _opts(mine))


@pytest.mark.parametrize(("spec", "excluded"), [
    ("graf1.png", True), ("box_in_scene.png", True), ("digits.png", True), ("vtest.avi", True),
    ("vtest.avi:120", True), ("tree.avi:7", True), ("skimage:cat", True), ("skimage:stereo_motorcycle", True),
    ("left02.jpg", True), ("aloeGT.png", True), ("skimage:chelsea", True),
    ("HappyFish.jpg", False), ("Megamind.avi:120", False), ("skimage:astronaut", False), ("starry_night.jpg", False),
])
def test_exclusion_by_name_follows_the_demo_test_set(spec: str, excluded: bool) -> None:
    assert (why_excluded(spec) is not None) == excluded


def test_demo_views_of_a_test_photo_are_left_out(tmp_path: Path) -> None:
    from distill.data.demo.build import TRAIN_IMAGES
    from distill.data.sfm import cid_to_path

    demo = tmp_path / "demo"
    clusters = [TRAIN_IMAGES.index("HappyFish.jpg"), TRAIN_IMAGES.index("skimage:chelsea"), len(TRAIN_IMAGES)]
    cids = [f"{i:032x}" for i in range(1, 4)]
    for i, c in enumerate(cids):
        write_image(cid_to_path(demo / "train" / "ims", c), seed=i)
    split = {"cids": cids, "cluster": clusters, "qidxs": [0], "pidxs": [0]}
    (demo / "train" / "demo-train.pkl").write_bytes(pickle.dumps({"train": split, "val": split}))
    manifest = build_pool(tmp_path / "pool", PoolOptions(sources=("demo",), demo=str(demo), max_side=64))
    assert [f["origin"].split(" ", 1)[1] for f in manifest["files"]] == ["(view of HappyFish.jpg)",
                                                                         "(view of Megamind.avi)"]
    [excluded] = manifest["excluded"]["by_name"]
    assert excluded["source"] == "demo" and "skimage:cat" in excluded["reason"]
    note = build_pool(tmp_path / "none", PoolOptions(sources=("demo",), demo=str(tmp_path / "nodemo")))["notes"]
    assert "demo-train.pkl not found" in note[0]


def test_names_are_unique_and_stable() -> None:
    assert unique_names(["a/b.png", "a_b.jpg", "a/b.jpg", "c"], "from") == [
        "from/a_b", "from/a_b_jpg", "from/a_b_2", "from/c"]


def test_cap_per_source_is_seeded() -> None:
    items = [Item(f"{s}/{i}", s, str(i), "", lambda: Image.new("RGB", (1, 1))) for s in "ab" for i in range(6)]
    kept, capped = cap_per_source(items, 2, seed=0)
    assert capped == {"a": 4, "b": 4} and [it.source for it in kept] == ["a", "a", "b", "b"]
    assert kept == cap_per_source(items, 2, seed=0)[0] != cap_per_source(items, 2, seed=1)[0]


def test_deb_license_reads_the_matching_copyright_paragraph(tmp_path: Path) -> None:
    doc = tmp_path / "usr/share/doc/walls/copyright"
    doc.parent.mkdir(parents=True)
    doc.write_text("Format: dep5\n\nFiles: *\nLicense: GPL-2\n\nFiles: 16.04/sea_by_x.jpg\nLicense: CC-BY-SA-3.0\n\n"
                   "Files: debian/*\nLicense: MIT\n")
    assert deb_license(tmp_path, "walls", "sea_by_x.jpg") == "CC-BY-SA-3.0 (usr/share/doc/walls/copyright)"
    assert deb_license(tmp_path, "walls", "other.png").startswith("GPL-2")
    assert deb_license(tmp_path, "nodoc", "x.png") == "see usr/share/doc/nodoc/copyright"


def test_near_test_copies_are_dropped(tmp_path: Path, mini_revisited: Path) -> None:
    import torch

    from distill.cache import build_cache
    from distill.models import create_model

    torch.manual_seed(0)
    cache = build_cache(create_model("tiny_test_gem"), open_dataset(mini_revisited), tmp_path / "cache")
    mine = _photos(tmp_path / "mine")
    shutil.copyfile(mini_revisited / "jpg" / "db3.jpg", mine / "copy.jpg")
    torch.manual_seed(0)  # the same random-init teacher as the cache's
    out = tmp_path / "pool"
    manifest = build_pool(out, _opts(mine, exclude_near=str(mini_revisited), teacher_cache=str(cache)))
    [near] = manifest["excluded"]["near_test"]
    assert near["path"] == "images/from/copy.jpg" and near["cosine"] > 0.98 and near["nearest"] == "db3.jpg"
    assert manifest["summary"]["near_test_dropped"] == 1 and manifest["summary"]["images"] == 5
    assert not (out / near["path"]).exists() and "copy" not in (out / "pool.csv").read_text()
    assert manifest["summary"]["near_test_max_kept_cosine"] < 0.9
    assert max(f["near_test"]["cosine"] for f in manifest["files"]) == manifest["summary"]["near_test_max_kept_cosine"]


def test_cli_build_pool(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from distill.cli import main

    out = tmp_path / "pool"
    argv = ["data", "build-pool", "--out", str(out), "--no-demo", "--no-opencv", "--no-skimage", "--no-debian",
            "--from", str(_photos(tmp_path / "mine")), "--max-side", "64"]
    assert main(argv) == 0
    assert "pool: 5 images (from 5)" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["options"]["sources"] == []
    assert main([*argv[:-2], "--from", str(tmp_path / "missing")]) == 2
    assert "--from expects a folder" in capsys.readouterr().err
