"""Request and response bodies of the index server (its OpenAPI schema is generated from these)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_DIM = 8192  # longest embedding a request may carry; the index's own dim is checked per request

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class SearchRequest(BaseModel):
    """A query embedding from an exported student, with the compat key from the artefact's metadata."""

    model_config = ConfigDict(extra="forbid")
    embedding: list[FiniteFloat] = Field(min_length=1, max_length=MAX_DIM,
                                         description="d floats, L2-normalised (norm within 1 ± 0.1; renormalised)")
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
    count: int


class Error(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="one line for people")
    code: str = Field(description="for programs: `space_mismatch` (409: not the index's embedding space), "
                                  "`invalid_request` (422), `too_large` (413), `not_found` (404), `unavailable` (503), "
                                  "`conflict` (another 409), `method_not_allowed` (405), `bad_request` (other 4xx)")
    detail: list[dict] | None = None
