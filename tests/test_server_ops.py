"""Operating the server: API keys (401 without one, constant-time compare, never echoed), the per-key rate
limit (429 + Retry-After, token buckets worked by hand), the CORS allow-list, Prometheus /metrics, TLS with a
self-signed certificate, refusing keys over plain HTTP on the network, and graceful shutdown."""

import json
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from device_eval.guards import TokenBuckets, read_api_keys
from device_eval.index import build_index, read_manifest
from device_eval.server import ServeOptions, create_app
from distill.cli import main
from distill.errors import DistillError
from tests.conftest import serving
from tests.test_index import SPACE, items, synthetic

KEY, OTHER = "k" * 24, "o" * 24


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ops")
    x = synthetic(200, 32, 9)
    build_index(x, items(200), SPACE, root / "index")
    return {"path": root / "index", "x": x, "key": read_manifest(root / "index")["compat_key"]}


def body(index: dict[str, Any], i: int = 3) -> dict[str, Any]:
    return {"embedding": index["x"][i].tolist(), "k": 3, "compat_key": index["key"]}


def test_api_keys_guard_search_and_thumbnails_only(index: dict[str, Any]) -> None:
    with TestClient(create_app(index["path"], options=ServeOptions(api_keys=(KEY, OTHER)))) as c:
        for headers in ({}, {"authorization": f"Bearer {KEY[:-1]}x"}, {"authorization": KEY},
                        {"authorization": f"Basic {KEY}"}):
            r = c.post("/search", json=body(index), headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", r.text
            assert r.headers["www-authenticate"] == "Bearer" and KEY not in r.text
        for key in (KEY, OTHER):
            r = c.post("/search", json=body(index), headers={"authorization": f"bearer {key}"})
            assert r.status_code == 200 and r.json()["results"][0]["id"] == 3
        assert c.get("/thumbs/3").status_code == 401
        assert c.get("/thumbs/3", headers={"authorization": f"Bearer {KEY}"}).status_code == 404  # (no image file)
        assert c.post("/search/image", files={"image": b"x"}).status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/manifest").status_code == 200  # open


def test_key_files_are_checked(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text(f"# clients\n{KEY}\n\n  {OTHER}  \n")
    assert read_api_keys(f) == (KEY, OTHER)
    f.write_text("# none\n")
    with pytest.raises(DistillError, match="no API keys"):
        read_api_keys(f)
    f.write_text(f"{KEY}\nshort\n")
    with pytest.raises(DistillError, match="key 2 is shorter than 16 characters"):
        read_api_keys(f)


def test_token_buckets_by_hand() -> None:
    b = TokenBuckets(rate=0.5, burst=2)  # 2 at once, then one every 2 s
    assert [b.take("a", now=0.0), b.take("a", now=0.0)] == [0.0, 0.0]
    assert b.take("a", now=0.0) == pytest.approx(2.0)  # empty: 1 token takes 1 / 0.5 s
    assert b.take("a", now=1.0) == pytest.approx(1.0)  # half a token back
    assert b.take("a", now=2.0) == 0.0  # a whole token back, spent
    assert b.take("b", now=2.0) == 0.0  # another identity has its own bucket
    assert b.take("a", now=100.0) == 0.0 and b.take("a", now=100.0) == 0.0 and b.take("a", now=100.0) > 0  # ≤ burst


def test_rate_limit_answers_429_per_key(index: dict[str, Any]) -> None:
    options = ServeOptions(api_keys=(KEY, OTHER), rate_limit=0.01, rate_burst=3)
    with TestClient(create_app(index["path"], options=options)) as c:
        codes = [c.post("/search", json=body(index), headers={"authorization": f"Bearer {KEY}"}).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post("/search", json=body(index), headers={"authorization": f"Bearer {KEY}"})
        assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) == 100  # 1 token at 0.01/s
        assert c.post("/search", json=body(index), headers={"authorization": f"Bearer {OTHER}"}).status_code == 200
    with TestClient(create_app(index["path"], options=ServeOptions(rate_limit=0.01, rate_burst=1))) as c:
        assert [c.post("/search", json=body(index)).status_code for _ in range(2)] == [200, 429]  # per address


def test_cors_allow_list(index: dict[str, Any]) -> None:
    pre = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}
    options = ServeOptions(api_keys=(KEY,), cors_origins=("https://app.example",))
    with TestClient(create_app(index["path"], options=options)) as c:
        ok = c.options("/search", headers={"origin": "https://app.example", **pre})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        bad = c.options("/search", headers={"origin": "https://evil.example", **pre})
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
        r = c.post("/search", json=body(index), headers={"origin": "https://app.example",
                                                         "authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    with TestClient(create_app(index["path"])) as c:  # no allow-list: no CORS headers at all
        r = c.post("/search", json=body(index), headers={"origin": "https://app.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_metrics_count_requests_by_route(index: dict[str, Any]) -> None:
    with TestClient(create_app(index["path"])) as c:
        for i in range(3):
            assert c.post("/search", json=body(index, i)).status_code == 200
        c.post("/search", json={"k": 0})
        c.get("/thumbs/5")
        text = c.get("/metrics").text
    assert 'distill_http_requests_total{route="/search",status="200"} 3.0' in text
    assert 'distill_http_requests_total{route="/search",status="422"} 1.0' in text
    assert 'distill_http_requests_total{route="/thumbs/{item_id}",status="404"} 1.0' in text
    assert 'distill_http_request_seconds_count{route="/search"} 4.0' in text
    assert "distill_index_items 200.0" in text and "distill_index_generation 1.0" in text
    assert "distill_search_batch_size_count 3.0" in text


def test_keys_are_refused_over_plain_http_on_the_network(index: dict[str, Any], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    assert main(["serve", "--index", str(index["path"]), "--api-key-file", str(keys), "--host", "0.0.0.0"]) == 2
    assert "would send keys in the clear: add --ssl-certfile" in capsys.readouterr().err
    assert main(["serve", "--index", str(index["path"]), "--ssl-certfile", str(keys)]) == 2
    assert "--ssl-certfile and --ssl-keyfile go together" in capsys.readouterr().err


@pytest.mark.integration
def test_tls_with_a_self_signed_certificate_and_a_key(index: dict[str, Any], tmp_path: Path) -> None:
    cert, pem_key, keys = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "keys"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(pem_key), "-out", str(cert)],
                   check=True, capture_output=True)
    keys.write_text(KEY + "\n")
    context = ssl.create_default_context(cafile=str(cert))
    with serving(["--index", str(index["path"]), "--api-key-file", str(keys), "--ssl-certfile", str(cert),
                  "--ssl-keyfile", str(pem_key)], tls=context) as served:
        base = served.base
        req = urllib.request.Request(base + "/search", json.dumps(body(index)).encode(),
                                     {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            assert json.load(r)["results"][0]["id"] == 3
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(base + "/search", json.dumps(body(index)).encode(),
                                                          {"content-type": "application/json"}), context=context)
        assert e.value.code == 401
        e.value.close()
        with pytest.raises(OSError):  # plain HTTP on the TLS port gets no answer
            urllib.request.urlopen(f"http://127.0.0.1:{served.port}/healthz", timeout=5)
        assert "Uvicorn running on https" in served.log() and KEY not in served.log()  # keys never logged


@pytest.mark.integration
def test_graceful_shutdown_finishes_the_request_in_flight(index: dict[str, Any]) -> None:
    with serving(["--index", str(index["path"])]) as served:
        data = json.dumps(body(index)).encode()
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as s:
            s.sendall(b"POST /search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n" % len(data) + data[:100])  # a request half sent …
            time.sleep(0.3)
            served.proc.send_signal(signal.SIGTERM)  # … when the server is told to stop
            time.sleep(0.5)
            assert served.proc.poll() is None  # still finishing it
            s.sendall(data[100:])
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and json.loads(payload)["results"][0]["id"] == 3
        assert served.proc.wait(30) in (0, -signal.SIGTERM)  # (uvicorn re-raises the signal once it has shut down)
