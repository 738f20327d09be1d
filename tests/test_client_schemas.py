"""The JSON Schemas of the client contracts: the committed files are the code's, and they accept what the
server sends and refuse what it never sends."""

import json

import jsonschema
import pytest

from device_eval.client_schemas import SCHEMA_DIR, client_schemas, schema_text

HIT = {"rank": 1, "id": 3, "name": "a.jpg", "score": 0.9, "thumbnail": "/thumbs/3"}


def test_the_committed_schemas_are_the_codes() -> None:
    for name, schema in client_schemas().items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        assert path.is_file() and path.read_text() == schema_text(schema), \
            f"{path} is stale: run `python -m device_eval.client_schemas`"


@pytest.mark.parametrize("name,body,ok", [
    ("search-response", {"k": 1, "renormalized": False, "results": [HIT]}, True),
    ("search-response", {"k": 1, "renormalized": False}, False),  # no results
    ("search-request", {"embedding": [0.6, 0.8], "k": 2, "compat_key": "abc"}, True),
    ("search-request", {"embedding": [0.6, 0.8], "compat_key": "abc", "extra": 1}, False),  # extra="forbid"
    ("search-request", {"embedding": [], "compat_key": "abc"}, False),
    ("error", {"error": "one line", "code": "space_mismatch"}, True),
    ("error", {"error": "one line"}, False),
    ("manifest", {"index": {"count": 3}, "max_k": 50, "image_search": False, "artifact": None}, True),
    ("manifest", {"index": {}, "max_k": "50", "image_search": False, "artifact": None}, False),
])
def test_schemas_accept_and_refuse(name: str, body: dict, ok: bool) -> None:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(body))
    assert (not errors) == ok, errors
