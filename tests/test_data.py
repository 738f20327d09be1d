"""Dataset readers: published structures read as-is, bad input rejected with a one-line error."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from distill.data import ClassSet, RevisitedSet, TupleSplit, load_revisited, load_sfm, open_dataset
from distill.data.images import ImageDataset, ImageRef, load_image, preprocess
from distill.data.sfm import cid_to_path
from distill.errors import DistillError
from distill.models import PreprocessConfig


def test_revisited_reads_published_structure(mini_revisited: Path) -> None:
    ds = load_revisited(mini_revisited / "gnd_mini.pkl")
    assert ds.name == "mini" and ds.imlist[0] == "db0" and ds.qimlist == ["q0", "q1"]
    assert ds.gnd[0]["easy"].tolist() == [0, 1] and ds.gnd[1]["hard"].size == 0
    refs = ds.refs
    assert len(refs) == 8 and refs[0].bbox is None and refs[6].bbox == (2.0, 2.0, 40.0, 30.0)
    assert refs[6].path == mini_revisited / "jpg" / "q0.jpg"
    assert isinstance(open_dataset(mini_revisited), RevisitedSet)
    assert len(ds.list_sha256()) == 64


@pytest.mark.parametrize(("obj", "message"), [
    ([1, 2, 3], "expected a dict"),
    ({"imlist": [], "qimlist": []}, "missing key(s) ['gnd']"),
    ({"imlist": ["a"], "qimlist": ["q"], "gnd": []}, "one entry per query"),
    ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [], "junk": []}]}, "missing key(s) ['bbx']"),
    ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [5], "hard": [], "junk": [], "bbx": [0, 0, 1, 1]}]},
     "out of range"),
])
def test_revisited_rejects_wrong_structure(tmp_path: Path, obj: object, message: str) -> None:
    p = tmp_path / "gnd_bad.pkl"
    p.write_bytes(pickle.dumps(obj))
    with pytest.raises(DistillError, match=r"gnd_bad\.pkl") as e:
        load_revisited(p)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_not_a_pickle(tmp_path: Path) -> None:
    p = tmp_path / "gnd_x.pkl"
    p.write_text("hello")
    with pytest.raises(DistillError, match="not a readable pickle"):
        load_revisited(p)


def test_sfm_reads_published_structure(mini_sfm: Path) -> None:
    split = load_sfm(mini_sfm, "train")
    assert isinstance(split, TupleSplit) and split.qidxs.tolist() == [0, 2, 4]
    assert split.refs[0].path == cid_to_path(mini_sfm.parent / "ims", split.cids[0])
    assert split.refs[0].path.parts[-4:-1] == (split.cids[0][-2:], split.cids[0][-4:-2], split.cids[0][-6:-4])
    assert isinstance(open_dataset(mini_sfm), TupleSplit)
    with pytest.raises(DistillError, match="expected split 'test'"):
        load_sfm(mini_sfm, "test")


def test_sfm_rejects_mismatched_lengths(tmp_path: Path) -> None:
    p = tmp_path / "t.pkl"
    p.write_bytes(pickle.dumps({"train": {"cids": ["a", "b"], "cluster": [0], "qidxs": [0], "pidxs": [1]}}))
    with pytest.raises(DistillError, match=r"\['cluster'\] has 1 entries"):
        load_sfm(p)


def test_classset_folder_and_csv(mini_classes: Path, tmp_path: Path) -> None:
    ds = open_dataset(mini_classes)
    assert isinstance(ds, ClassSet) and ds.classes == ["class0", "class1", "class2"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\n" + "".join(f"{r.path},{ds.classes[lab]}\n" for r, lab in zip(ds.refs, ds.labels,
                                                                                            strict=True)))
    ds2 = open_dataset(csv)
    assert isinstance(ds2, ClassSet) and ds2.labels.tolist() == ds.labels.tolist()


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DistillError, match=r"broken\.jpg: not a readable image"):
        load_image(bad)
    with pytest.raises(DistillError, match="image file not found"):
        load_image(tmp_path / "missing.jpg")


def test_preprocess_matches_formula(mini_classes: Path) -> None:
    cfg = PreprocessConfig(input_size=(8, 6), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    img = load_image(next((mini_classes / "class0").iterdir()))
    x = preprocess(img, cfg)
    assert x.shape == (3, 8, 6) and x.dtype == np.float32
    raw = np.asarray(img.resize((6, 8), 2), np.float32) / 255  # 2 = PIL bilinear
    np.testing.assert_allclose(x[1], (raw[..., 1] - 0.4) / 0.25, rtol=1e-6)
    # one colour, worked out by hand per channel (R 204, G 51, B 102): channel order and per-channel mean/std
    solid = preprocess(Image.new("RGB", (5, 7), (204, 51, 102)), cfg)
    np.testing.assert_allclose(solid[:, 0, 0], [(0.8 - 0.5) / 0.2, (0.2 - 0.4) / 0.25, (0.4 - 0.3) / 0.5], rtol=1e-5)
    assert np.ptp(solid, axis=(1, 2)).max() < 1e-6


def test_fractional_query_box_rounds_as_pil_does(mini_revisited: Path) -> None:
    # PIL's crop rounds each coordinate half to even: (2.4, 1.6, 39.5, 30.5) is the box (2, 2, 40, 30)
    ref = load_revisited(mini_revisited).query_refs[0]
    cfg = PreprocessConfig(input_size=(28, 38))
    got = ImageDataset([ImageRef(ref.path, (2.4, 1.6, 39.5, 30.5))], cfg)[0]
    np.testing.assert_allclose(got.numpy(), preprocess(load_image(ref.path).crop((2, 2, 40, 30)), cfg))


def test_dataset_crops_queries_to_bbox(mini_revisited: Path) -> None:
    ds = load_revisited(mini_revisited)
    cfg = PreprocessConfig(input_size=(28, 38))
    q = ImageDataset(ds.query_refs, cfg)[0]
    crop = load_image(ds.query_refs[0].path).crop((2, 2, 40, 30))
    np.testing.assert_allclose(q.numpy(), preprocess(crop, cfg))
