"""Which FAISS index a database gets: a registry of index kinds (`register_index_kind`, `list_index_kinds`,
`create_faiss_index`), each a FAISS factory string plus its search-time parameters, and an optional
projection of the teacher space to fewer dimensions.

Every kind scores by inner product (cosine of unit vectors). The projection (`--pca D`) is fitted on the
database: the top-D directions of its *uncentred* second moment (centring would add a per-item bias to
inner products), followed by re-normalisation, so scores are cosines in the D-dim subspace. It is stored
inside the FAISS file (an `IndexPreTransform`), so the index still takes teacher-space (d-dim) queries and
neither the server, device-eval nor any client changes.

Any kind can re-rank its candidates exactly (`--refine K`: the K×k best by the kind's own scores, re-scored
by inner products with the full teacher vectors, `IndexRefineFlat`): approximate codes or a projection then
only choose candidates, and the scores returned are exact cosines.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from distill.errors import DistillError
from distill.registry import Registry

FLAT_BELOW = 50_000  # the default kind stays exact (Flat) below this many vectors
DEFAULT_PCA = 256  # from FLAT_BELOW on, spaces of ≥ 2 × this many dims get HNSW over this projection + refine
DEFAULT_REFINE = 4
TRAIN_PER_LIST = 64  # k-means samples per IVF list
PCA_SAMPLE = 200_000  # rows the projection is fitted on (a seeded sample of larger databases)


def faiss_module() -> Any:
    """The faiss module (a core dependency; the hint is for broken installs)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a core dependency
        raise DistillError("faiss is missing: pip install faiss-cpu") from None
    return faiss


@dataclass(frozen=True)
class IndexSpec:
    """What `distill index build` was asked for; None fields are chosen from the data's size and dimension."""

    kind: str | None = None  # a registered kind; None: `default_spec` chooses kind, projection and refine
    ivf: int | None = None  # IVF lists (None: ≈ 4√n, a power of two)
    pq: int | None = None  # PQ sub-quantisers (None: the divisor of d nearest d / 20)
    hnsw_m: int = 32  # HNSW neighbours per node
    pca: int | None = None  # project to this many dimensions first
    nprobe: int = 16  # IVF lists visited per query
    ef_search: int = 128  # HNSW candidate list per query
    refine: int | None = None  # re-rank refine × k candidates exactly (0: off; None: the kind's default)

    def resolved(self, n: int, dim: int) -> "IndexSpec":
        """This spec with its None fields chosen for `n` vectors of `dim` dimensions (dim after --pca)."""
        kind = self.kind or "flat"
        ivf = self.ivf or int(2 ** round(np.log2(max(4 * np.sqrt(n), 1))))
        pq = self.pq or min((m for m in range(1, dim + 1) if dim % m == 0), key=lambda m: abs(m - dim / 20))
        refine = get_index_kind(kind).refine if self.refine is None else self.refine
        return replace(self, kind=kind, ivf=ivf, pq=pq, refine=refine)


@dataclass(frozen=True)
class IndexKind:
    """A registered index kind: its FAISS factory string and search parameters for a resolved spec."""

    name: str
    summary: str
    factory: Callable[[IndexSpec], str]
    search_params: Callable[[IndexSpec], str]
    trained: bool  # needs training vectors (IVF centroids, PQ/SQ codebooks)
    refine: int = 0  # default `IndexSpec.refine`


_KINDS: Registry[IndexKind] = Registry("index kind")


def register_index_kind(kind: IndexKind) -> IndexKind:
    """Add an index kind under `kind.name`."""
    return _KINDS.register(kind.name, kind)


def list_index_kinds() -> list[str]:
    """Registered index kind names, sorted."""
    return _KINDS.names()


def get_index_kind(name: str) -> IndexKind:
    """The kind called `name` (one-line error listing the known ones)."""
    return _KINDS.get(name)


def default_spec(spec: IndexSpec, n: int, dim: int) -> IndexSpec:
    """`spec` with the kind chosen by size when it names none: exact Flat below `FLAT_BELOW` vectors (the demo's
    database), else HNSW — over a `DEFAULT_PCA`-dim projection with exact re-ranking of 4 × k candidates
    when the space has ≥ 2 × `DEFAULT_PCA` dims (README: Hosted index; bench/index_choice.py: at 100k × 1280,
    3.6× Flat's batched searches/s, top-10 overlap with exact 0.957, the same mAP)."""
    if spec.kind is not None:
        return spec
    if n < FLAT_BELOW:
        return replace(spec, kind="flat")
    if spec.pca is None and dim >= 2 * DEFAULT_PCA:
        spec = replace(spec, pca=DEFAULT_PCA, refine=DEFAULT_REFINE if spec.refine is None else spec.refine)
    return replace(spec, kind="hnsw")


for _kind in (
    IndexKind("flat", "exact inner product (memory-bound scan)", lambda s: "Flat", lambda s: "", False),
    IndexKind("hnsw", "HNSW graph over full vectors", lambda s: f"HNSW{s.hnsw_m}",
              lambda s: f"efSearch={s.ef_search}", False),
    IndexKind("hnsw-sq8", "HNSW graph over 8-bit scalar codes", lambda s: f"HNSW{s.hnsw_m},SQ8",
              lambda s: f"efSearch={s.ef_search}", True),
    IndexKind("ivf-sq8", "inverted lists of 8-bit scalar codes", lambda s: f"IVF{s.ivf},SQ8",
              lambda s: f"nprobe={s.nprobe}", True),
    IndexKind("ivf-fp16", "inverted lists of float16 codes", lambda s: f"IVF{s.ivf},SQfp16",
              lambda s: f"nprobe={s.nprobe}", True),
    IndexKind("ivf-pq", "inverted lists of PQ codes (compact, approximate scores)", lambda s: f"IVF{s.ivf},PQ{s.pq}",
              lambda s: f"nprobe={s.nprobe}", True),
    IndexKind("ivf-pq-refine", "IVF-PQ candidates re-ranked by exact inner products (--refine 4)",
              lambda s: f"IVF{s.ivf},PQ{s.pq}", lambda s: f"nprobe={s.nprobe}", True, refine=4),
):
    register_index_kind(_kind)


def fit_projection(vectors: np.ndarray, dim: int, max_rows: int = PCA_SAMPLE, seed: int = 0) -> np.ndarray:
    """dim × d rows: the top-`dim` eigenvectors of the uncentred second moment of (a sample of) `vectors`."""
    n, d = vectors.shape
    if not 1 <= dim < d:
        raise DistillError(f"--pca {dim}: expected 1 … {d - 1} (fewer than the teacher's {d} dimensions)")
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n, max_rows), replace=False))
    x = np.asarray(vectors[rows], dtype=np.float64)
    _, vecs = np.linalg.eigh(x.T @ x)
    return np.ascontiguousarray(vecs[:, ::-1][:, :dim].T, dtype=np.float32)


def _with_projection(sub: Any, rows: np.ndarray) -> Any:
    """`sub` behind x → normalise(rows · x), as one serialisable FAISS index taking d-dim vectors."""
    faiss = faiss_module()
    out_dim, in_dim = rows.shape
    lt = faiss.LinearTransform(in_dim, out_dim, False)
    faiss.copy_array_to_vector(rows.ravel(), lt.A)
    lt.is_trained = True
    index = faiss.IndexPreTransform(sub)
    index.prepend_transform(faiss.NormalizationTransform(out_dim, 2.0))
    index.prepend_transform(lt)
    return index


def set_search_params(index: Any, params: str) -> None:
    """Apply search-time parameters ("nprobe=16,efSearch=128", …) to an opened index."""
    if params:
        faiss_module().ParameterSpace().set_index_parameters(index, params)


def create_faiss_index(spec: IndexSpec, vectors: np.ndarray, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """An empty inner-product index for `vectors` (N×d, unit rows), trained where its kind needs it, and the
    manifest fields describing it: `kind` (FAISS factory string), `index_kind`, `search_params`, `transform`."""
    faiss = faiss_module()
    n, dim = vectors.shape
    spec = default_spec(spec, n, dim)
    rows = fit_projection(vectors, spec.pca, seed=seed) if spec.pca else None
    spec = spec.resolved(n, rows.shape[0] if rows is not None else dim)
    assert spec.kind is not None and spec.ivf is not None and spec.refine is not None
    if spec.refine < 0:
        raise DistillError(f"--refine {spec.refine}: expected 0 (off) or K ≥ 1 (K × k candidates re-ranked)")
    kind = get_index_kind(spec.kind)
    sub_dim = rows.shape[0] if rows is not None else dim
    if "PQ" in kind.factory(spec) and (spec.pq is None or sub_dim % spec.pq):
        raise DistillError(f"--pq {spec.pq}: must divide the dimension {sub_dim}")
    factory = kind.factory(spec)
    index = faiss.index_factory(sub_dim, factory, faiss.METRIC_INNER_PRODUCT)
    if rows is not None:
        index = _with_projection(index, rows)
    if kind.trained:
        need = max(spec.ivf, 256) if "IVF" in factory else 1
        if n < need:
            raise DistillError(f"{factory} needs at least {need} training vectors, the data has {n}; "
                               f"use --kind flat or fewer lists (--ivf)")
        n_train = min(n, max(TRAIN_PER_LIST * spec.ivf, 256 * 64))
        sample = np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    params = kind.search_params(spec)
    name = f"PCAR{sub_dim},{factory}" if rows is not None else factory
    if spec.refine:
        index = faiss.IndexRefineFlat(index)  # keeps the full d-dim vectors for the exact re-ranking
        params, name = ",".join(filter(None, [params, f"k_factor_rf={spec.refine}"])), f"{name},RFlat"
    set_search_params(index, params)
    transform = None if rows is None else {"type": "pca", "dim": sub_dim, "uncentred": True, "normalised": True,
                                           "fitted_on": int(min(n, PCA_SAMPLE))}
    return index, {"kind": name, "index_kind": spec.kind, "search_params": params, "transform": transform}
