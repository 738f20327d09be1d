"""Every loss against its formula on cases worked out by hand (values in the comments), both modes
where both apply, the anchors-only convention, and float64 gradient checks."""

import math

import pytest
import torch

from distill.errors import DistillError
from distill.losses import create_loss, list_losses

# Student f and teacher g on the unit circle, labels 0 0 1 1.
F_ = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, -0.6]], dtype=torch.float64)
G_ = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
LAB = torch.tensor([0, 0, 1, 1])
# sym  s(a,x) = <f(a), f(x)>:  s01 = 0, s02 = .6, s03 = .8, s12 = .8, s13 = -.6, s23 = 0
SYM = [[1, 0, .6, .8], [0, 1, .8, -.6], [.6, .8, 1, 0], [.8, -.6, 0, 1]]
# asym s(a,x) = <f(a), g(x)>
ASYM = [[1, .6, 0, -1], [0, .8, 1, 0], [.6, 1, .8, -.6], [.8, 0, -.6, -.8]]
POS = {0: [1], 1: [0], 2: [3], 3: [2]}
NEG = {0: [2, 3], 1: [2, 3], 2: [0, 1], 3: [0, 1]}


def value(name: str, mode: str, **kw: float) -> float:
    return float(create_loss(name, **kw)(F_, G_, LAB, mode=mode))


def test_registry_lists_every_loss_of_both_papers() -> None:
    assert set(list_losses()) == {"contrastive", "contrastive_plus", "regression", "triplet", "multi_similarity",
                                  "rkd", "darkrank", "relaxed_contrastive", "infonce", "infonce_plus"}
    with pytest.raises(DistillError, match="unknown loss 'foo'"):
        create_loss("foo")
    with pytest.raises(DistillError, match="bad parameters"):
        create_loss("triplet", alpha=1.0)


def test_contrastive_sym() -> None:
    # m = .5: a0: [.6-.5]+ + [.8-.5]+ - 0 = .4; a1: .3 + 0 - 0 = .3; a2: .1 + .3 = .4; a3: .3 -> mean .35
    assert value("contrastive", "sym", margin=0.5) == pytest.approx(0.35, abs=1e-12)


def test_contrastive_asym() -> None:
    # a0: 0 - .6 = -.6; a1: [1-.5]+ - 0 = .5; a2: .1 + .5 + .6 = 1.2; a3: .3 + .6 = .9 -> mean .5
    assert value("contrastive", "asym", margin=0.5) == pytest.approx(0.5, abs=1e-12)


def test_contrastive_plus_subtracts_own_teacher_similarity() -> None:
    # s(a,a) = 1, .8, .8, -.8 (mean .45) -> .5 - .45
    assert value("contrastive_plus", "asym", margin=0.5) == pytest.approx(0.05, abs=1e-12)
    with pytest.raises(DistillError, match="mode"):
        value("contrastive_plus", "sym")


def test_regression() -> None:
    assert value("regression", "asym") == pytest.approx(-0.45, abs=1e-12)


def test_triplet_both_modes() -> None:
    # sym m=.1: a0 .7+.9, a1 .9+0, a2 .7+.9, a3 .9+0 -> 5/4
    assert value("triplet", "sym", margin=0.1) == pytest.approx(1.25, abs=1e-12)
    # asym: a0 0+0, a1 1.1+.1, a2 1.3+1.7, a3 1.5+.7 -> 6.4/4
    assert value("triplet", "asym", margin=0.1) == pytest.approx(1.6, abs=1e-12)


@pytest.mark.parametrize("mode,sims", [("sym", SYM), ("asym", ASYM)])
def test_multi_similarity_both_modes(mode: str, sims: list[list[float]]) -> None:
    a, b, m = 2.0, 50.0, 0.5
    per_anchor = [math.log(1 + sum(math.exp(-a * (sims[i][p] - m)) for p in POS[i])) / a
                  + math.log(1 + sum(math.exp(b * (sims[i][n] - m)) for n in NEG[i])) / b for i in range(4)]
    assert value("multi_similarity", mode, alpha=a, beta=b, margin=m) == pytest.approx(sum(per_anchor) / 4, abs=1e-12)
    # sym anchor 0: ln(1 + e^1) / 2 + ln(1 + e^5 + e^15) / 50 = .656633 + .300001; every sym anchor alike
    pinned = {"sym": 0.9566313, "asym": 1.1401959}
    assert value("multi_similarity", mode, alpha=a, beta=b, margin=m) == pytest.approx(pinned[mode], abs=1e-6)


def test_anchor_subset_with_student_on_anchors_only() -> None:
    # asym contrastive, anchors 0 and 2 only: (-.6 + 1.2) / 2
    loss = create_loss("contrastive", margin=0.5)
    got = loss(F_[[0, 2]], G_, LAB, mode="asym", anchors=torch.tensor([0, 2]))
    assert float(got) == pytest.approx(0.3, abs=1e-12)
    with pytest.raises(DistillError, match="sym mode needs student embeddings of all 4"):
        loss(F_[[0, 2]], G_, LAB, mode="sym", anchors=torch.tensor([0, 2]))


def test_rkd_equilateral_student_right_isosceles_teacher() -> None:
    s = torch.tensor([[1.0, 0.0], [-0.5, math.sqrt(3) / 2], [-0.5, -math.sqrt(3) / 2]], dtype=torch.float64)
    t = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    mean_t = (2 + math.sqrt(2)) / 3  # teacher distances 1, 1, √2; student all √3 -> normalised 1

    def huber(x: float) -> float:
        return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5

    dist = (4 * huber(1 - 1 / mean_t) + 2 * huber(1 - math.sqrt(2) / mean_t)) / 6
    # student angles all 60° (cos .5); teacher: 90° at (0,0), 45° at the other two vertices
    angle = (2 * huber(0.5 - 0.0) + 4 * huber(0.5 - math.sqrt(0.5))) / 6
    got = float(create_loss("rkd")(s, t, torch.zeros(3, dtype=torch.long), mode="sym"))
    assert got == pytest.approx(dist + 2 * angle, abs=1e-12)
    assert got == pytest.approx(0.1266474, abs=1e-6)
    # relations are invariant to scale: a scaled teacher gives zero loss; the mode does not matter
    assert float(create_loss("rkd")(s, 3 * s, torch.zeros(3, dtype=torch.long))) == pytest.approx(0, abs=1e-12)
    assert float(create_loss("rkd")(s, t, torch.zeros(3, dtype=torch.long), mode="asym")) == pytest.approx(got)


def test_darkrank_plackett_luce_on_a_line() -> None:
    s = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)  # student distances 1, 3, 2
    t = torch.tensor([[0.0], [2.0], [1.5]], dtype=torch.float64)  # teacher orders: 0:[2,1] 1:[2,0] 2:[1,0]
    e = math.exp
    # scores -d (α = β = 1); the last item of each list contributes 0
    l0 = -(-3 - math.log(e(-3) + e(-1)))
    l1 = -(-2 - math.log(e(-2) + e(-1)))
    l2 = -(-2 - math.log(e(-2) + e(-3)))
    got = create_loss("darkrank", alpha=1.0, beta=1.0)(s, t, torch.zeros(3, dtype=torch.long))
    assert float(got) == pytest.approx((l0 + l1 + l2) / 3, abs=1e-12)
    assert float(got) == pytest.approx(1.251151, abs=1e-6)


def test_relaxed_contrastive_soft_labels() -> None:
    s = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    t = torch.tensor([[0.0], [0.5], [2.0]], dtype=torch.float64)
    # student distances over each row's mean distance to the others
    d = {(0, 1): 1 / 2, (0, 2): 3 / 2, (1, 0): 1 / 1.5, (1, 2): 2 / 1.5, (2, 0): 3 / 2.5, (2, 1): 2 / 2.5}
    w = {(0, 1): math.exp(-0.25), (0, 2): math.exp(-4.0), (1, 2): math.exp(-2.25)}
    terms = []
    for (i, j), dij in d.items():
        wij = w[(min(i, j), max(i, j))]
        terms.append(wij * dij**2 + (1 - wij) * max(0.0, 1 - dij) ** 2)
    got = create_loss("relaxed_contrastive", sigma=1.0, delta=1.0)(s, t, torch.zeros(3, dtype=torch.long))
    assert float(got) == pytest.approx(sum(terms) / 6, abs=1e-12)
    assert float(got) == pytest.approx(0.1631520, abs=1e-6)


def test_infonce_keys_are_own_teacher_and_other_photos() -> None:
    # ASYM rows; the other view of the anchor's photo (same label) is no key. τ = 1:
    # a0: keys g0 (own, 1), g2 (0), g3 (-1)   -> log(e^1 + e^0 + e^-1) - 1
    # a1: keys g1 (own, .8), g2 (1), g3 (0)   -> log(e^.8 + e^1 + e^0) - .8
    # a2: keys g2 (own, .8), g0 (.6), g1 (1)  -> log(e^.8 + e^.6 + e^1) - .8
    # a3: keys g3 (own, -.8), g0 (.8), g1 (0) -> log(e^-.8 + e^.8 + e^0) + .8
    e = math.exp
    rows = [math.log(e(1) + e(0) + e(-1)) - 1, math.log(e(.8) + e(1) + e(0)) - .8,
            math.log(e(.8) + e(.6) + e(1)) - .8, math.log(e(-.8) + e(.8) + e(0)) + .8]
    assert value("infonce", "asym", temperature=1.0) == pytest.approx(sum(rows) / 4, abs=1e-12)
    # τ = 0.5 doubles every logit: a0 -> log(e^2 + e^0 + e^-2) - 2
    half = [math.log(e(2) + e(0) + e(-2)) - 2, math.log(e(1.6) + e(2) + e(0)) - 1.6,
            math.log(e(1.6) + e(1.2) + e(2)) - 1.6, math.log(e(-1.6) + e(1.6) + e(0)) + 1.6]
    assert value("infonce", "asym", temperature=0.5) == pytest.approx(sum(half) / 4, abs=1e-12)
    # infonce_plus = −mean s(a,a) + w · infonce; s(a,a) = 1, .8, .8, -.8 (mean .45)
    assert value("infonce_plus", "asym", temperature=1.0, weight=0.25) == pytest.approx(
        -0.45 + 0.25 * sum(rows) / 4, abs=1e-12)
    with pytest.raises(DistillError, match="works in mode"):
        value("infonce", "sym")


def test_infonce_with_distinct_labels_is_cross_entropy_over_the_batch() -> None:
    # every item its own photo: all teacher rows are keys, i.e. plain softmax cross-entropy on the diagonal
    s = torch.nn.functional.normalize(torch.randn(5, 3, dtype=torch.float64), dim=1)
    t = torch.nn.functional.normalize(torch.randn(5, 3, dtype=torch.float64), dim=1)
    want = torch.nn.functional.cross_entropy(s @ t.T / 0.1, torch.arange(5))
    got = create_loss("infonce", temperature=0.1)(s, t, torch.arange(5), mode="asym")
    assert float(got) == pytest.approx(float(want), abs=1e-12)


@pytest.mark.parametrize("name", ["contrastive", "contrastive_plus", "regression", "triplet", "multi_similarity",
                                  "rkd", "darkrank", "relaxed_contrastive", "infonce", "infonce_plus"])
def test_gradients_float64(name: str) -> None:
    g = torch.Generator().manual_seed(0)
    raw = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    teacher = torch.nn.functional.normalize(torch.randn(6, 5, dtype=torch.float64, generator=g), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = create_loss(name)
    for mode in loss.modes:
        def f(x: torch.Tensor, mode: str = mode) -> torch.Tensor:
            return loss(torch.nn.functional.normalize(x, dim=1), teacher, labels, mode=mode)

        assert torch.autograd.gradcheck(f, (raw,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["regression", "contrastive_plus", "rkd", "darkrank", "relaxed_contrastive",
                                  "infonce", "infonce_plus"])
def test_teacher_losses_refuse_a_missing_teacher(name: str) -> None:
    loss = create_loss(name)
    with pytest.raises(DistillError, match="needs teacher"):
        loss(F_, None, LAB, mode=loss.modes[0])
