"""Request and response bodies of the index server (its OpenAPI schema is generated from these)."""

import base64
import binascii
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_DIM = 8192  # longest embedding a request may carry; the index's own dim is checked per request

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("not base64 (RFC 4648, standard alphabet, padded)") from None
    return value


Base64 = Annotated[str, Field(min_length=4, max_length=4 * MAX_DIM), AfterValidator(_base64)]


class Float16Embedding(BaseModel):
    """The compact form of an embedding: d IEEE-754 half floats, little-endian, base64 (2d bytes)."""

    model_config = ConfigDict(extra="forbid")
    dtype: Literal["float16"]
    b64: Base64 = Field(description="base64 of d little-endian float16 values")

    def values(self) -> np.ndarray:
        """The d values as float32 (ValueError if the bytes are not whole float16 values)."""
        raw = base64.b64decode(self.b64)
        if len(raw) % 2:
            raise ValueError(f"embedding.b64: {len(raw)} bytes is not a whole number of float16 values")
        return np.frombuffer(raw, "<f2").astype(np.float32)


class Int8Embedding(BaseModel):
    """The smallest form: d signed bytes q, base64, meaning scale × (q − zero_point) (what an int8 output emits)."""

    model_config = ConfigDict(extra="forbid")
    dtype: Literal["int8"]
    b64: Base64 = Field(description="base64 of d int8 values")
    scale: FiniteFloat = Field(gt=0, description="value = scale × (q − zero_point)")
    zero_point: int = Field(ge=-128, le=127)

    def values(self) -> np.ndarray:
        """The d dequantised values as float32."""
        q = np.frombuffer(base64.b64decode(self.b64), np.int8).astype(np.float32)
        return (self.scale * (q - self.zero_point)).astype(np.float32)


EncodedEmbedding = Annotated[Float16Embedding | Int8Embedding, Field(discriminator="dtype")]


class SearchRequest(BaseModel):
    """A query embedding from an exported student, with the compat key from the artefact's metadata."""

    model_config = ConfigDict(extra="forbid")
    embedding: Annotated[list[FiniteFloat], Field(min_length=1, max_length=MAX_DIM)] | EncodedEmbedding = Field(
        description="d floats, L2-normalised (norm within 1 ± 0.1; renormalised), as a JSON array or in a compact "
                    "base64 form (float16: 2d bytes; int8 with scale and zero point: d bytes)")
    k: int = Field(10, ge=1, description="results wanted (1 … the server's max_k)")
    compat_key: str = Field(min_length=1, max_length=64, description="`compat_key` of the artefact's metadata")


class Hit(BaseModel):
    """One ranked database image."""

    rank: int
    id: int
    name: str
    score: float = Field(description="cosine similarity to the query (inner product of unit vectors)")
    thumbnail: str = Field(description="URL path of a JPEG thumbnail")


class SearchResponse(BaseModel):
    """Ranked results, best first."""

    k: int
    renormalized: bool = Field(description="the embedding's norm was not 1 within 1e-3 and was rescaled")
    results: list[Hit]


class ArtifactSummary(BaseModel):
    """The exported student the server runs for `/search/image`."""

    student: str
    format: str
    quantization: str
    compat_key: str
    dim: int


class ServerManifest(BaseModel):
    """`/manifest`: the index (its manifest: embedding space, compat key, count, kind) and what the server runs."""

    index: dict[str, Any] = Field(description="the index manifest: `teacher`, `dim`, `compat_key`, `count`, …")
    max_k: int = Field(description="largest k a search may ask for")
    image_search: bool = Field(description="`/search/image` is available (an artefact was given)")
    artifact: ArtifactSummary | None


class Health(BaseModel):
    status: str
    count: int = Field(description="searchable items")
    generation: int = Field(description="the index generation served (it changes with `distill index add/remove`)")


class Error(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="one line for people")
    code: str = Field(description="for programs: `space_mismatch` (409: not the index's embedding space), "
                                  "`invalid_request` (422), `too_large` (413), `not_found` (404), `unavailable` (503), "
                                  "`conflict` (another 409), `method_not_allowed` (405), `bad_request` (other 4xx)")
    detail: list[dict] | None = None
