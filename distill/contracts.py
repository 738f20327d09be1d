"""Typed file contracts: the teacher cache manifest, the checkpoint header and the index manifest, validated
on read (pydantic) with one-line errors naming the file and the field. Readers keep receiving the plain
dicts as written (`validated` returns the document it checked, so identities compared across files stay
byte-for-byte what was stored); fields the contracts do not name are allowed.

Versions: a cache manifest without `format_version` was written before it existed and reads as version 1
(the current one); a checkpoint's version is its `format` tag; the index manifest has carried
`format_version` (2) from the start. A newer version than this code reads is refused in one line."""

import functools
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from distill.errors import DistillError

T = TypeVar("T")
CACHE_FORMAT = 1
CHECKPOINT_FORMAT = "asym-distill-checkpoint/1"

Count = Annotated[int, Field(ge=0)]
Dim = Annotated[int, Field(gt=0)]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="allow")


class CacheManifest(_Contract):
    """`<cache>/manifest.json`: which teacher encoded which images (or views), into how many rows."""

    format_version: Literal[1] = 1  # CACHE_FORMAT; absent in the files written before it existed
    teacher: str
    weights: str | None = None
    weights_sha256: str | None = None
    preprocess: dict[str, Any]
    dim: Dim
    dtype: Literal["float32", "float16"] = "float32"
    image_list_sha256: str
    count: Count
    created: str | None = None
    views: dict[str, Any] | None = None


class StudentHeader(_Contract):
    """How to rebuild the checkpoint's network."""

    preset: str
    dim: Dim
    projection: bool
    info: dict[str, Any] | None = None


class CheckpointHeader(_Contract):
    """The named entries of `last.pt` / `best.pt` (the tensors and optimiser state ride along unchecked)."""

    format: Literal["asym-distill-checkpoint/1"]
    model: dict[str, Any]
    step: Count
    config: dict[str, Any]
    teacher_manifest: dict[str, Any]
    student: StudentHeader


class IndexFiles(_Contract):
    index: list[str] = Field(min_length=1)
    items: str
    removed: str | None = None  # tombstoned ids (.npy), once any were removed


class IndexManifest(_Contract):
    """`<index>/manifest.json`: the embedding space, the generation's files and how many items they hold."""

    format_version: Literal[2]
    teacher: str
    weights_sha256: str | None
    dim: Dim
    compat_key: str = Field(min_length=1)
    count: Count
    kind: str
    generation: Count
    files: IndexFiles


@functools.cache
def _adapter(contract: Any) -> TypeAdapter[Any]:
    """One validator per contract (building it costs more than a validation)."""
    return TypeAdapter(contract)


def parse(contract: type[T], doc: Any, where: str | Path) -> T:
    """`doc` as a `contract` (a pydantic model or a dataclass; absent optional fields take the contract's
    defaults, which is how older files read); a wrong or missing field is a one-line DistillError naming
    `where` and the field."""
    if not isinstance(doc, dict):
        raise DistillError(f"{where}: expected a {contract.__name__} object, found {type(doc).__name__}")
    try:
        return _adapter(cast(Hashable, contract)).validate_python(doc)  # a class is hashable
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(document)"
        got = "" if first["type"] == "missing" else f" (found {first.get('input')!r:.60})"
        raise DistillError(f"{where}: {contract.__name__} field {field}: {first['msg']}{got}") from None


def validated(contract: type, doc: Any, where: str | Path) -> dict[str, Any]:
    """`doc` as written, once `parse` accepts it (so identities compared across files stay what was stored)."""
    parse(contract, doc, where)
    return doc
