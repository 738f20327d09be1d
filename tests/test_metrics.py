"""Retrieval metrics: hand-computed answers, agreement with a literal revisitop transcription, errors."""

import math

import numpy as np
import pytest

from distill import metrics
from distill.errors import DistillError

# --------------------------------------------------------------------------- reference (revisitop)


def _reference_compute_ap(ranks, nres):
    """revisitop `compute_ap`, transcribed."""
    nimgranks = len(ranks)
    ap = 0
    recall_step = 1.0 / nres
    for j in np.arange(nimgranks):
        rank = ranks[j]
        precision_0 = 1.0 if rank == 0 else float(j) / rank
        precision_1 = float(j + 1) / (rank + 1)
        ap += (precision_0 + precision_1) * recall_step / 2.0
    return ap


def _reference_compute_map(ranks, gnd, kappas=()):
    """revisitop `compute_map`, transcribed: `ranks` is db × queries. One addition: a query with no
    positive in a truncated ranking scores P@k = 0 (the reference would fail on max of an empty array)."""
    mean_ap = 0.0
    nq = len(gnd)
    aps = np.zeros(nq)
    pr = np.zeros(len(kappas))
    prs = np.zeros((nq, len(kappas)))
    nempty = 0
    for i in np.arange(nq):
        qgnd = np.array(gnd[i]["ok"])
        if qgnd.shape[0] == 0:
            aps[i] = float("nan")
            prs[i, :] = float("nan")
            nempty += 1
            continue
        qgndj = np.array(gnd[i].get("junk", np.empty(0)))
        pos = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgnd)]
        junk = np.arange(ranks.shape[0])[np.isin(ranks[:, i], qgndj)]
        k = 0
        ij = 0
        if len(junk):
            ip = 0
            while ip < len(pos):
                while ij < len(junk) and pos[ip] > junk[ij]:
                    k += 1
                    ij += 1
                pos[ip] = pos[ip] - k
                ip += 1
        ap = _reference_compute_ap(pos, len(qgnd))
        mean_ap = mean_ap + ap
        aps[i] = ap
        pos += 1
        for j in np.arange(len(kappas)):
            if len(pos) == 0:
                prs[i, j] = 0.0
                continue
            kq = min(max(pos), kappas[j])
            prs[i, j] = (pos <= kq).sum() / kq
        pr = pr + prs[i, :]
    if nq == nempty:
        return float("nan"), aps, np.full(len(kappas), np.nan), prs
    mean_ap = mean_ap / (nq - nempty)
    pr = pr / (nq - nempty)
    return mean_ap, aps, pr, prs


def _setup_gnd(gnd, setup):
    """revisitop's per-setup ground truth from easy/hard/junk."""
    out = []
    for g in gnd:
        if setup == "easy":
            out.append({"ok": g["easy"], "junk": np.concatenate([g["junk"], g["hard"]])})
        elif setup == "medium":
            out.append({"ok": np.concatenate([g["easy"], g["hard"]]), "junk": g["junk"]})
        else:
            out.append({"ok": g["hard"], "junk": np.concatenate([g["junk"], g["easy"]])})
    return out


def _random_case(rng):
    n_db = int(rng.integers(1, 40))
    nq = int(rng.integers(1, 6))
    n_ranked = n_db if rng.random() < 0.5 else int(rng.integers(0, n_db + 1))
    ranks = np.stack([rng.permutation(n_db)[:n_ranked] for _ in range(nq)]).reshape(nq, n_ranked)
    gnd = []
    for _ in range(nq):
        perm = rng.permutation(n_db)
        sizes = rng.integers(0, max(n_db // 3, 1) + 1, size=3)
        if rng.random() < 0.3:
            sizes[1] = 0  # empty hard set
        a, b = int(sizes[0]), int(sizes[0] + sizes[1])
        c = min(b + int(sizes[2]), n_db)
        gnd.append({"easy": np.sort(perm[:a]), "hard": np.sort(perm[a:b]), "junk": np.sort(perm[b:c])})
    return ranks, gnd


@pytest.mark.parametrize("seed", range(60))
def test_agrees_with_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    ranks, gnd = _random_case(rng)
    ks = (1, 5, 10)
    result = metrics.revisited_map(ranks, gnd, ks)
    for setup in metrics.SETUPS:
        sub = _setup_gnd(gnd, setup)
        ref_map, ref_aps, ref_pr, ref_prs = _reference_compute_map(ranks.T, sub, ks)
        got_map, got_aps, got_pr, got_prs = metrics.compute_map(ranks, sub, ks)
        np.testing.assert_allclose(got_aps, ref_aps, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got_prs, ref_prs, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got_pr, ref_pr, rtol=0, atol=1e-9)
        if math.isnan(ref_map):
            assert math.isnan(got_map)
            assert setup not in result["map"] and setup not in result["mp"]
            continue
        assert got_map == pytest.approx(ref_map, abs=1e-9)
        assert result["map"][setup] == pytest.approx(ref_map, abs=1e-9)
        for k, v in zip(ks, ref_pr, strict=True):
            assert result["mp"][setup][str(k)] == pytest.approx(v, abs=1e-9)
        for i in range(len(gnd)):
            ap, pk = metrics.revisited_ap(ranks[i], sub[i]["ok"], sub[i]["junk"], ks)
            np.testing.assert_allclose([ap, *pk], [ref_aps[i], *ref_prs[i]], rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- revisited: by hand


def test_average_precision_by_hand():
    # Positives at 0 and 2 of 2: (1 + 1)/2·½ + (½ + ⅔)/2·½ = ½ + 7/24.
    assert metrics.average_precision(np.array([0, 2]), 2) == pytest.approx(0.5 + 7 / 24)
    assert metrics.average_precision(np.array([0, 1, 2]), 3) == pytest.approx(1.0)
    assert metrics.average_precision(np.array([], dtype=int), 3) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_reference_compute_ap(seed):
    rng = np.random.default_rng(seed)
    ranks = np.sort(rng.choice(50, size=int(rng.integers(0, 10)), replace=False))
    n_pos = len(ranks) + int(rng.integers(0, 3)) or 1
    assert metrics.average_precision(ranks, n_pos) == pytest.approx(_reference_compute_ap(ranks, n_pos),
                                                                    abs=1e-12)


def test_positives_at_0_and_2():
    ap, pk = metrics.revisited_ap(np.array([5, 7, 6, 8]), ok=np.array([5, 6]), junk=np.array([]),
                                  ks=(1, 2, 3))
    assert ap == pytest.approx(0.5 + 7 / 24)
    # pos (1-based) = [1, 3]: k=1 → 1/1; k=2 → kq=2, 1/2; k=3 → kq=3, 2/3.
    np.testing.assert_allclose(pk, [1.0, 0.5, 2 / 3])


def test_junk_before_positive_shifts_it():
    # Junk 9 at rank 1 is dropped, so positive 6 moves from rank 2 to rank 1: perfect AP.
    ap, pk = metrics.revisited_ap(np.array([5, 9, 6, 8]), ok=np.array([5, 6]), junk=np.array([9]), ks=(2,))
    assert ap == pytest.approx(1.0)
    assert pk[0] == pytest.approx(1.0)


def test_truncated_ranking_missing_a_positive():
    # Only positive 5 (rank 0) is retrieved of 2: AP = (1 + 1)/2 · ½ = ½.
    ap, pk = metrics.revisited_ap(np.array([5, 8]), ok=np.array([5, 6]), junk=np.array([]), ks=(1, 5))
    assert ap == pytest.approx(0.5)
    # pos = [1]: kq = min(1, 5) = 1, so P@5 = 1 (the reference's quirk, kept).
    np.testing.assert_allclose(pk, [1.0, 1.0])


def test_no_positive_retrieved_scores_zero():
    ap, pk = metrics.revisited_ap(np.array([8, 9]), ok=np.array([5]), junk=np.array([9]), ks=(1, 5))
    assert ap == 0.0
    np.testing.assert_allclose(pk, [0.0, 0.0])


def test_mp_at_k_quirk():
    # pos = [2, 3] of 3 positives: P@10 → kq = 3, 2/3 (not 2/10); P@1 → kq = 1, 0/1.
    _, pk = metrics.revisited_ap(np.array([0, 5, 6, 1, 2]), ok=np.array([5, 6, 7]), junk=np.array([]),
                                 ks=(1, 10))
    np.testing.assert_allclose(pk, [0.0, 2 / 3])


def test_query_without_positives_is_excluded():
    ranks = np.array([[0, 1, 2], [2, 1, 0]])
    gnd = [{"ok": np.array([0]), "junk": np.array([])}, {"ok": np.array([]), "junk": np.array([1])}]
    m, aps, mp, prs = metrics.compute_map(ranks, gnd, ks=(1,))
    assert m == pytest.approx(1.0)
    assert aps[0] == pytest.approx(1.0) and math.isnan(aps[1])
    assert mp[0] == pytest.approx(1.0) and math.isnan(prs[1, 0])


def test_revisited_map_setups_and_omission():
    ranks = np.array([[0, 1, 2, 3]])
    gnd = [{"easy": np.array([1]), "hard": np.array([], dtype=int), "junk": np.array([0])}]
    out = metrics.revisited_map(ranks, gnd)
    assert set(out["map"]) == {"easy", "medium"} and set(out["mp"]) == {"easy", "medium"}
    assert out["map"]["easy"] == pytest.approx(1.0)  # junk 0 dropped: positive 1 at rank 0
    assert out["mp"]["medium"] == {"1": 1.0, "5": 1.0, "10": 1.0}
    assert all(type(v) is float for v in out["map"].values())


# --------------------------------------------------------------------------- class level


def test_recall_at_k_by_hand():
    db_labels = np.array([0, 0, 1, 1, 2])
    query_labels = np.array([0, 1, 2])
    ranks = np.array([[0, 2, 3], [4, 0, 3], [0, 1, 2]])  # first hits at 0, 2, none
    out = metrics.recall_at_k(ranks, query_labels, db_labels, ks=(1, 2, 3, 8))
    assert out == pytest.approx({"1": 1 / 3, "2": 1 / 3, "3": 2 / 3, "8": 2 / 3})


def test_mean_average_precision_by_hand():
    db_labels = np.array([0, 0, 1, 1])
    ranks = np.array([[0, 2, 1, 3], [2, 3, 0, 1]])
    # Query 0 (label 0): hits at 1st and 3rd → (1 + 2/3)/2; query 1 (label 1): perfect.
    got = metrics.mean_average_precision(ranks, np.array([0, 1]), db_labels)
    assert got == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def _brute_force_map(ranks, query_labels, db_labels):
    aps = []
    for row, label in zip(ranks, query_labels, strict=True):
        hits, precisions = 0, []
        for i, idx in enumerate(row):
            if db_labels[idx] == label:
                hits += 1
                precisions.append(hits / (i + 1))
        if precisions:
            aps.append(sum(precisions) / len(precisions))
    return sum(aps) / len(aps)


@pytest.mark.parametrize("seed", range(10))
def test_mean_average_precision_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, nq = int(rng.integers(5, 30)), int(rng.integers(1, 8))
    db_labels = rng.integers(0, 4, size=n)
    query_labels = rng.integers(0, 5, size=nq)
    query_labels[0] = db_labels[0]  # at least one query has positives
    ranks = np.stack([rng.permutation(n) for _ in range(nq)])
    got = metrics.mean_average_precision(ranks, query_labels, db_labels)
    assert got == pytest.approx(_brute_force_map(ranks, query_labels, db_labels), abs=1e-12)


def test_mean_average_precision_without_positives_is_nan():
    assert math.isnan(metrics.mean_average_precision(np.array([[0, 1]]), np.array([7]), np.array([0, 1])))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: metrics.compute_map(np.zeros((2, 3)), [{"ok": [0]}] * 2), "ranks must be a 2-D integer"),
        (lambda: metrics.compute_map(np.zeros(3, int), [{"ok": [0]}]), "ranks must be a 2-D integer"),
        (lambda: metrics.compute_map(np.zeros((2, 3), int), [{"ok": [0]}]), "gnd length"),
        (lambda: metrics.compute_map(np.zeros((1, 3), int), [{"junk": [0]}]), r"gnd\[0\]"),
        (lambda: metrics.compute_map(np.zeros((1, 3), int), [{"ok": [-1]}]), r"gnd\[0\]\['ok'\]"),
        (lambda: metrics.compute_map(np.zeros((1, 3), int), [{"ok": [0.5]}]), r"gnd\[0\]\['ok'\]"),
        (lambda: metrics.compute_map(np.zeros((1, 3), int), [{"ok": [0]}], ks=(0,)), "ks must be"),
        (lambda: metrics.compute_map(np.zeros((1, 3), int), [{"ok": [0]}], ks=()), "ks must be"),
        (lambda: metrics.revisited_map(np.zeros((1, 3), int), [{"easy": [0], "junk": []}]), "'hard'"),
        (lambda: metrics.revisited_ap(np.zeros((1, 3), int), [0], []), "ranking must be a 1-D"),
        (lambda: metrics.average_precision(np.array([0]), 0), "n_pos must be positive"),
        (lambda: metrics.recall_at_k(np.array([[0, 5]]), [0], [0, 1]), r"indices in \[0, 2\)"),
        (lambda: metrics.recall_at_k(np.array([[0, 1]]), [0, 1], [0, 1]), "query_labels"),
        (lambda: metrics.recall_at_k(np.array([[0, 1]]), [0], [0, 1], ks=(-1,)), "ks must be"),
        (lambda: metrics.mean_average_precision(np.array([[0.0]]), [0], [0]), "ranks must be"),
        (lambda: metrics.mean_average_precision(np.array([[0]]), [0], [[0]]), "db_labels"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(DistillError, match=match):
        call()
