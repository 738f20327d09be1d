"""The Android app's pure-JVM core (android_demo/core), compiled with javac and run with JUnit 4 from
Debian against golden vectors written here from a real exported student (`make android-core-test`)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from device_eval.goldens import write_goldens

pytestmark = [pytest.mark.android, pytest.mark.integration]
CORE = Path(__file__).resolve().parents[1] / "android_demo" / "core"
JARS = ("/usr/share/java/gson.jar", "/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar")


@pytest.fixture(scope="module")
def junit(client_world: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Goldens from the world's fp32 ONNX student, then the core's JUnit run over them."""
    missing = [j for j in JARS if not Path(j).exists()] + [t for t in ("javac", "java") if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make android-core-deps` (Debian junit4, gson, a JDK)")
    root = tmp_path_factory.mktemp("android-core")
    goldens = write_goldens(client_world["onnx"], root / "goldens").parent
    run = subprocess.run([str(CORE / "jvm-test.sh"), str(goldens), str(root / "classes")], capture_output=True,
                         text=True, timeout=300)
    return {"run": run, "goldens": goldens, "classes": root / "classes", "root": root}


def test_junit_suite_passes_on_python_goldens(junit: dict) -> None:
    run = junit["run"]
    assert run.returncode == 0, f"JUnit failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert "OK (" in run.stdout


def test_goldens_follow_the_client_schemas(junit: dict) -> None:
    """What the Java core's tests read: the artefact metadata and the real server answers, each valid against
    the schema of its contract (device_eval/schemas)."""
    import json

    import jsonschema

    from device_eval.client_schemas import SCHEMA_DIR

    def check(name: str, body: object) -> None:
        schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(body)

    doc = json.loads((junit["goldens"] / "goldens.json").read_text())
    check("artifact-metadata", doc["metadata"])
    for answer in doc["responses"]:
        body = json.loads((junit["goldens"] / answer["body"]).read_text())
        check("error" if answer["status"] >= 400 else "manifest" if answer["path"] == "/manifest"
              else "search-response", body)


@pytest.mark.parametrize("photo", ["query", "rocket.jpg"])
def test_jvm_preprocessing_gives_pythons_embedding(junit: dict, client_world: dict, photo: str) -> None:
    """A photo the goldens never saw, preprocessed by the JVM core, run by the model = Python's embedding."""
    from distill.data.images import load_image, preprocess
    from export.artifact import open_artifact

    assert junit["run"].returncode == 0, "the core did not build"
    art = open_artifact(client_world["onnx"])
    path = client_world["query"] if photo == "query" else next(p for p in client_world["db_paths"] if p.name == photo)
    meta = junit["root"] / "meta.json"
    meta.write_text(art.meta.to_json())
    out = junit["root"] / f"{path.stem}.f32"
    cp = ":".join([str(junit["classes"] / "main"), str(junit["classes"] / "test"), *JARS])
    subprocess.run(["java", "-cp", cp, "org.asymdistill.client.PreprocessTool", str(meta), str(path), "1", str(out)],
                   check=True, timeout=120)
    x_jvm = np.fromfile(out, "<f4").reshape(1, 3, *art.meta.input_size)
    x_py = preprocess(load_image(path), art.preprocess)[None]
    np.testing.assert_array_equal(x_jvm, x_py)
    runner = art.runner(threads=1)
    a, b = runner.embed(x_jvm)[0], runner.embed(x_py)[0]
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= 0.9999


def jvm_request(junit: dict, embedding: np.ndarray, key: str, wire: str) -> dict:
    """The JVM core's `/search` body for `embedding` in `wire` form (FLOAT32 | FLOAT16)."""
    import json

    assert junit["run"].returncode == 0, "the core did not build"
    src, out = junit["root"] / f"emb-{wire}.f32", junit["root"] / f"request-{wire}.json"
    np.asarray(embedding, "<f4").tofile(src)
    cp = ":".join([str(junit["classes"] / "main"), str(junit["classes"] / "test"), *JARS])
    subprocess.run(["java", "-cp", cp, "org.asymdistill.client.RequestTool", str(src), "5", key, wire, str(out)],
                   check=True, timeout=120)
    return json.loads(out.read_text())


def test_jvm_float16_requests_are_numpys_halves_and_search_like_floats(junit: dict, client_world: dict) -> None:
    """The app's default wire form: every value the JVM's half conversion writes is NumPy's float16 of it
    (round to nearest even), the body follows the request schema, and a real server answers it as it
    answers the float32 body."""
    import base64
    import json

    import jsonschema
    from fastapi.testclient import TestClient

    from device_eval.client_schemas import SCHEMA_DIR
    from device_eval.server import create_app

    key, query = client_world["compat_key"], client_world["query_embedding"]
    rng = np.random.default_rng(0)  # the model's vector, then values at half's edges: ties, subnormals, overflow
    halves = rng.standard_normal(64).astype(np.float16)
    ties = (halves.astype(np.float32) + np.nextafter(halves, np.float16(np.inf)).astype(np.float32)) / 2
    edges = np.concatenate([ties, np.float32(2.0 ** -24) * rng.integers(0, 1024, 32) * np.float32(1.25),
                            np.float32([65504, 65519, 65520, 1e6, -1e-9, 0.0, -0.0, 1 / 3])])
    schema = json.loads((SCHEMA_DIR / "search-request.schema.json").read_text())
    bodies = {}
    for name, vec in (("query", query), ("edges", edges)):
        bodies[name] = jvm_request(junit, vec, key, "FLOAT16")
        jsonschema.Draft202012Validator(schema).validate(bodies[name])
        sent = np.frombuffer(base64.b64decode(bodies[name]["embedding"]["b64"]), "<u2")
        with np.errstate(over="ignore"):  # 1e6 and 65520 overflow to infinity, as they must
            np.testing.assert_array_equal(sent, np.asarray(vec, np.float32).astype("<f2").view("<u2"))
    floats = jvm_request(junit, query, key, "FLOAT32")
    with TestClient(create_app(client_world["index"])) as server:
        a, b = server.post("/search", json=floats).json(), server.post("/search", json=bodies["query"]).json()
    assert [h["id"] for h in a["results"]] == [h["id"] for h in b["results"]] and len(a["results"]) == 5
    assert np.allclose([h["score"] for h in a["results"]], [h["score"] for h in b["results"]], atol=2e-3)
