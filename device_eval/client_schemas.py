"""JSON Schemas of what the clients read and send: the artefact metadata, `/manifest`, the search request and
response, and the error body. They are generated from the models the code validates with (pydantic, and the
`ArtifactMetadata` dataclass), written to `device_eval/schemas/` for the client projects, and a test keeps
the files equal to the code. Regenerate: `python -m device_eval.client_schemas`."""

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from device_eval.api import Error, SearchRequest, SearchResponse, ServerManifest
from export.metadata import ArtifactMetadata

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, Any] = {"artifact-metadata": ArtifactMetadata, "manifest": ServerManifest,
                          "search-request": SearchRequest, "search-response": SearchResponse, "error": Error}


def client_schemas() -> dict[str, dict[str, Any]]:
    """Each contract's JSON Schema (draft 2020-12), by name."""
    out = {}
    for name, model in MODELS.items():
        schema = TypeAdapter(model).json_schema()
        out[name] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.schema.json",
                     **schema}
    return out


def schema_text(schema: dict[str, Any]) -> str:
    """The file form of a schema (stable: sorted keys, one trailing newline)."""
    return json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out: Path = SCHEMA_DIR) -> list[Path]:
    """Write `<name>.schema.json` for every contract into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in client_schemas().items():
        path = out / f"{name}.schema.json"
        path.write_text(schema_text(schema))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Write the schemas (into the folder given, default device_eval/schemas)."""
    args = sys.argv[1:] if argv is None else argv
    for path in write_schemas(Path(args[0]) if args else SCHEMA_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
