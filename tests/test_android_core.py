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
