import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, norm

from gankit import theory

GRID = np.linspace(-4, 6, 41)
P_DATA = theory.discretise(lambda x: norm.pdf(x, 0.0, 1.0), GRID)
P_G = theory.discretise(lambda x: 0.7 * norm.pdf(x, 2.0, 0.8) + 0.3 * norm.pdf(x, -1, 0.5),
                        GRID)


def test_optimal_discriminator_maximises_V():
    d_star = theory.optimal_discriminator(P_DATA, P_G)
    best = theory.value(d_star, P_DATA, P_G)
    rng = np.random.default_rng(0)
    for _ in range(50):
        other = np.clip(d_star + rng.normal(0, 0.05, d_star.shape), 1e-6, 1 - 1e-6)
        assert theory.value(other, P_DATA, P_G) < best
    # V is a sum of one term per x: a bounded scalar optimiser of each finds D*(x)
    for x in np.flatnonzero((P_DATA + P_G) > 1e-4):
        res = minimize_scalar(lambda d, x=x: -theory.value([d], P_DATA[x:x + 1], P_G[x:x + 1]),
                              bounds=(1e-9, 1 - 1e-9), method="bounded",
                              options={"xatol": 1e-10})
        assert res.x == pytest.approx(d_star[x], abs=1e-6)


def test_virtual_criterion_is_minus_log4_plus_twice_jsd():
    out = theory.theorem1(P_DATA, P_G)
    js_scipy = jensenshannon(P_DATA, P_G) ** 2  # natural log by default
    assert theory.jsd(P_DATA, P_G) == pytest.approx(js_scipy, rel=1e-9)
    assert out["C"] == pytest.approx(out["rhs"], abs=1e-12)
    assert out["C"] > -math.log(4) + 0.1


def test_minimum_minus_log4_exactly_when_p_g_equals_p_data():
    same = theory.theorem1(P_DATA, P_DATA)
    assert same["C"] == pytest.approx(-math.log(4), abs=1e-14)
    assert theory.optimal_discriminator(P_DATA, P_DATA) == pytest.approx(0.5)
    near = theory.theorem1(P_DATA, theory.discretise(lambda x: norm.pdf(x, 0.05, 1), GRID))
    assert near["C"] > -math.log(4)


@pytest.mark.parametrize("p,q", [(0.2, 0.5), (0.2, 0.01), (0.7, 0.3)])
def test_kl_of_bernoulli_products_is_N_times_kl(p, q):
    closed = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    assert theory.kl_bernoulli(p, q) == pytest.approx(closed, rel=1e-12)
    assert theory.kl_bernoulli(p, q) == pytest.approx(entropy([p, 1 - p], [q, 1 - q]))
    for N in (2, 3, 8, 20):
        assert theory.kl_bernoulli(p, q, N) == pytest.approx(N * closed, rel=1e-10)


def _js_brute_force(p, q, N):
    """JS over all 2^N sequences, with scipy."""
    seqs = list(itertools.product([0, 1], repeat=N))
    P = [math.prod(p if s else 1 - p for s in seq) for seq in seqs]
    Q = [math.prod(q if s else 1 - q for s in seq) for seq in seqs]
    return jensenshannon(P, Q, base=2) ** 2


@pytest.mark.parametrize("q", [0.0, 0.05, 0.5, 0.9, 1.0])
def test_enumerating_counts_matches_enumerating_sequences(q):
    for N in (1, 3, 8):
        assert theory.js_bernoulli(0.2, q, N, base=2) == pytest.approx(
            _js_brute_force(0.2, q, N), abs=1e-12)


def test_minibatch_js_is_at_most_N_js_and_js_over_N_does_not_grow():
    for q in np.linspace(0, 1, 21):
        per_n = [theory.js_bernoulli(0.2, q, N) / N for N in (1, 2, 3, 8, 16)]
        assert all(b <= a + 1e-12 for a, b in zip(per_n, per_n[1:]))
        assert theory.js_bernoulli(0.2, q, 8, base=2) <= 1.0 + 1e-12
    assert theory.js_bernoulli(0.2, 0.9, 8) < 8 * theory.js_bernoulli(0.2, 0.9, 1) - 0.5


def test_figure_is_written_and_its_curves_have_the_posts_shape(tmp_path):
    curves = theory.minibatch_js_curves()
    q = curves["q"]
    at_p = np.argmin(np.abs(q - 0.2))
    for N in (1, 2, 3, 8):
        c = curves[f"N={N}"]
        assert c[at_p] == pytest.approx(0.0, abs=1e-12) and c.argmin() == at_p
    assert curves["N=8"][-1] == pytest.approx(1.0, abs=1e-3)  # saturates at 1 bit
    assert theory.main(["--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        theory.theorem1([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        theory.theorem1([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        theory.js_bernoulli(0.2, 1.2, 3)
    with pytest.raises(ValueError, match="N must be"):
        theory.kl_bernoulli(0.2, 0.3, 0)
