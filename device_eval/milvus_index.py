"""Milvus as a second backend of the hosted index, behind the interface of `RetrievalIndex` (`search`, `items`,
`manifest`, …), so the server, device-eval and the clients do not change.

A collection holds `id` (INT64, the item id), `vector` (FLOAT_VECTOR, the teacher embedding), `name` and `path`;
the index manifest (teacher identity, compat key, dim, count) is stored in the collection's properties, so a
collection built for another teacher is refused in one line like a FAISS index is. The URI is a local file
(`runs/x/milvus.db`: Milvus Lite, embedded, started by pymilvus; FLAT search) or a Milvus server or cluster
(`http://host:19530`); the same commands serve both (README: Hosted index)."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from tqdm import tqdm

from device_eval.index import NO_SCORE, ServedIndex, space_manifest
from distill.errors import DistillError
from distill.search import require_unit_rows

MANIFEST_PROPERTY = "asym_distill_manifest"
INSERT_CHUNK = 2048
CONNECT_TIMEOUT_S = 10.0


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise DistillError("the Milvus backend needs pymilvus (and milvus-lite for local files): "
                           "pip install 'asym-distill[milvus]'") from None
    return pymilvus


def is_local(uri: str) -> bool:
    """Whether `uri` is a local file (Milvus Lite, embedded) rather than a Milvus server."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def connect(uri: str) -> Any:
    """A MilvusClient for `uri`; one-line error when it cannot be reached."""
    pymilvus = _pymilvus()
    try:
        return pymilvus.MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
    except Exception as e:  # pymilvus raises MilvusException, grpc and OS errors alike
        reason = str(getattr(e, "message", e)).splitlines()[0][:160]
        if is_local(uri):
            raise DistillError(f"Milvus Lite file {uri}: cannot open it ({reason}); one process at a time may "
                               f"open a Milvus Lite file: stop the other, or use a Milvus server") from None
        raise DistillError(f"Milvus at {uri}: unreachable ({reason})") from None


@dataclass(frozen=True)
class MilvusLocation:
    """Where a Milvus-backed index lives: a Milvus URI and a collection."""

    uri: str
    collection: str

    def __str__(self) -> str:
        return milvus_where(self.uri, self.collection)


def milvus_where(uri: str, collection: str) -> str:
    """How an index in Milvus is named in messages and manifests."""
    return f"{uri}#{collection}"


def build_milvus_index(vectors: np.ndarray, items: list[dict[str, str]], space: dict[str, Any], uri: str,
                       collection: str, source: str = "") -> dict[str, Any]:
    """Write `vectors` (N×d, L2-normalised, in the teacher space `space`) and their items to a new collection."""
    pymilvus = _pymilvus()
    if len(vectors) != len(items) or not len(vectors):
        raise DistillError(f"{source or uri}: {len(vectors)} vectors for {len(items)} items (need ≥ 1, equal)")
    require_unit_rows(vectors, str(source or uri))
    client = connect(uri)
    if client.has_collection(collection):
        raise DistillError(f"{milvus_where(uri, collection)}: the collection exists; choose another --collection")
    dim = int(vectors.shape[1])
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
    schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("name", pymilvus.DataType.VARCHAR, max_length=2048)
    schema.add_field("path", pymilvus.DataType.VARCHAR, max_length=4096)
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(collection, schema=schema, index_params=params)
    for start in tqdm(range(0, len(vectors), INSERT_CHUNK), desc=f"milvus {collection}", unit="chunk", leave=False):
        rows = np.asarray(vectors[start: start + INSERT_CHUNK], dtype=np.float32)
        chunk = items[start: start + len(rows)]
        client.insert(collection, [{"id": start + i, "vector": v.tolist(), "name": it["name"], "path": it["path"]}
                                   for i, (v, it) in enumerate(zip(rows, chunk, strict=True))])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = {**space_manifest(space, dim), "backend": "milvus", "count": len(items), "removed": 0,
                "kind": "Milvus FLAT", "index_kind": "milvus", "search_params": "", "transform": None, "generation": 1,
                "files": {"index": [milvus_where(uri, collection)], "items": milvus_where(uri, collection)},
                "shards": 1, "sources": [{"source": source, "added": len(items), "at": now}], "created": now}
    client.alter_collection_properties(collection, properties={MANIFEST_PROPERTY: json.dumps(manifest)})
    client.load_collection(collection)
    return manifest


@dataclass
class MilvusIndex(ServedIndex):
    """An opened collection, searched like a `RetrievalIndex` (inner product of unit vectors; Milvus deletes
    rows itself, so there are no tombstones)."""

    uri: str
    collection: str
    client: Any
    manifest: dict[str, Any]
    items: list[dict[str, str]]
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def path(self) -> str:
        return milvus_where(self.uri, self.collection)

    def close(self) -> None:
        """Release the connection, and stop the embedded Milvus Lite of a local file (one process at a time may
        hold the file)."""
        self.client.close()
        if is_local(self.uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.uri)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row, best first; -1 ids where fewer than k are found."""
        q = self.queries(queries)
        k = max(1, min(k, len(self)))
        hits = self.client.search(self.collection, data=q.tolist(), limit=k, search_params={"metric_type": "IP"})
        scores = np.full((len(q), k), NO_SCORE, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        for r, row in enumerate(hits):
            for c, hit in enumerate(row[:k]):
                ids[r, c], scores[r, c] = int(hit["id"]), float(hit["distance"])
        return scores, ids


def open_milvus_index(location: MilvusLocation) -> MilvusIndex:
    """Open a collection written by `build_milvus_index` (its manifest from the collection's properties)."""
    uri, collection = location.uri, location.collection
    client = connect(uri)
    where = milvus_where(uri, collection)
    if not client.has_collection(collection):
        raise DistillError(f"{where}: no such collection; build one with `distill index build --backend milvus`")
    props = client.describe_collection(collection).get("properties") or {}
    try:
        manifest = json.loads(props[MANIFEST_PROPERTY])
    except (KeyError, ValueError):
        raise DistillError(f"{where}: not an asym-distill index (no {MANIFEST_PROPERTY} property)") from None
    client.load_collection(collection)
    rows = client.query(collection, filter="id >= 0", output_fields=["id", "name", "path"],
                        limit=int(manifest["count"]))
    items: list[dict[str, str]] = [{"name": "", "path": ""}] * int(manifest["count"])
    for row in rows:
        items[int(row["id"])] = {"name": row["name"], "path": row["path"]}
    if len(rows) != manifest["count"]:
        raise DistillError(f"{where}: holds {len(rows)} items, its manifest says {manifest['count']}")
    return MilvusIndex(uri, collection, client, manifest, items)
