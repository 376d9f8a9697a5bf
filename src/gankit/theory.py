"""Exact checks of the GAN theory in the seeds, on discrete distributions, in float64.

Goodfellow et al. (2014), Sec. 4:

- Proposition 1: for fixed G the discriminator maximising V(D, G) is
  D*_G(x) = p_data(x) / (p_data(x) + p_g(x));
- Theorem 1: the virtual training criterion C(G) = V(D*_G, G) equals
  -log 4 + 2 JSD(p_data || p_g) (eq. 6), so its minimum -log 4 is reached iff p_g = p_data.

Huszár (2016), "An Alternative Update Rule for Generative Adversarial Networks": for
P^(N), the law of N i.i.d. draws, KL(P^(N) || Q^(N)) = N KL(P || Q) but
JS(P^(N) || Q^(N)) <= N JS(P || Q). For Bernoulli P, Q the N-fold products are
enumerated exactly through the count of ones k: every sequence with k ones has
probability p^k (1 - p)^(N - k), and there are C(N, k).

``python -m gankit.theory --out fig.png`` (or benchmarks/minibatch_divergence.py) draws
the post's figure: p = 0.2, q in [0, 1], N = 1, 2, 3, 8, JS in bits.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.special import comb, rel_entr, xlogy

LOG4 = math.log(4.0)


# ----------------------------------------------------------------------------- discrete
def as_distribution(p: Sequence[float], name: str = "p") -> np.ndarray:
    """A float64 probability vector; refuses negative entries or a sum far from 1."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must be a 1D vector of finite non-negative numbers")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1, sums to {p.sum():.12g}")
    return p


def discretise(density, grid: np.ndarray) -> np.ndarray:
    """A density evaluated on an evenly spaced grid, normalised to probabilities."""
    w = np.asarray(density(np.asarray(grid, dtype=np.float64)), dtype=np.float64)
    return w / w.sum()


def kl(p: Sequence[float], q: Sequence[float], weights: Optional[np.ndarray] = None
       ) -> float:
    """KL(p || q) in nats (0 log 0 = 0; inf where q = 0 < p). ``weights`` multiply the
    terms (multiplicities of the outcomes each entry stands for)."""
    terms = rel_entr(np.asarray(p, np.float64), np.asarray(q, np.float64))
    return float(np.sum(terms if weights is None else weights * terms))


def jsd(p: Sequence[float], q: Sequence[float], weights: Optional[np.ndarray] = None
        ) -> float:
    """Jensen-Shannon divergence in nats: (KL(p || m) + KL(q || m)) / 2, m = (p + q) / 2."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2
    return 0.5 * kl(p, m, weights) + 0.5 * kl(q, m, weights)


# ----------------------------------------------------------------------------- Theorem 1
def value(D: np.ndarray, p_data: np.ndarray, p_g: np.ndarray) -> float:
    """V(D, G) = E_{p_data} log D(x) + E_{p_g} log(1 - D(x)) (Goodfellow et al. 2014, eq. 1)."""
    D = np.asarray(D, np.float64)
    return float(np.sum(xlogy(p_data, D)) + np.sum(xlogy(p_g, 1.0 - D)))


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g) (Proposition 1); 1/2 where both vanish."""
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def virtual_criterion(p_data: np.ndarray, p_g: np.ndarray) -> float:
    """C(G) = max_D V(D, G) = V(D*_G, G) (eq. 4)."""
    return value(optimal_discriminator(p_data, p_g), p_data, p_g)


def theorem1(p_data: Sequence[float], p_g: Sequence[float]) -> Dict[str, float]:
    """Both sides of eq. 6: C(G) and -log 4 + 2 JSD(p_data || p_g)."""
    p_data, p_g = as_distribution(p_data, "p_data"), as_distribution(p_g, "p_g")
    return {"C": virtual_criterion(p_data, p_g), "rhs": -LOG4 + 2 * jsd(p_data, p_g)}


# ----------------------------------------------------------------------------- Bernoulli^N
def _check_bernoulli(p: float, q: float, N: int) -> None:
    if not (0.0 <= p <= 1.0 and 0.0 <= q <= 1.0):
        raise ValueError(f"Bernoulli parameters must be in [0, 1], got p={p}, q={q}")
    if N < 1:
        raise ValueError(f"N must be >= 1, got {N}")


def bernoulli_product(p: float, N: int):
    """Per-sequence probabilities of P^(N) for k = 0..N ones, and the C(N, k) counts."""
    k = np.arange(N + 1, dtype=np.float64)
    return p ** k * (1.0 - p) ** (N - k), comb(N, k, exact=False)


def kl_bernoulli(p: float, q: float, N: int = 1) -> float:
    """KL(Bern(p)^(N) || Bern(q)^(N)) in nats, by enumeration."""
    _check_bernoulli(p, q, N)
    (P, w), (Q, _) = bernoulli_product(p, N), bernoulli_product(q, N)
    return kl(P, Q, w)


def js_bernoulli(p: float, q: float, N: int = 1, base: float = math.e) -> float:
    """JS(Bern(p)^(N) || Bern(q)^(N)) by enumeration, in nats (or bits with base=2)."""
    _check_bernoulli(p, q, N)
    (P, w), (Q, _) = bernoulli_product(p, N), bernoulli_product(q, N)
    return jsd(P, Q, w) / math.log(base)


def minibatch_js_curves(p: float = 0.2, Ns: Sequence[int] = (1, 2, 3, 8),
                        n_q: int = 201) -> Dict[str, np.ndarray]:
    """q on [0, 1] and, for each N, JS(P^(N) || Q^(N)) in bits (Huszár's figure)."""
    q = np.linspace(0.0, 1.0, n_q)
    curves = {"q": q}
    for N in Ns:
        curves[f"N={N}"] = np.array([js_bernoulli(p, qi, N, base=2) for qi in q])
    return curves


def plot_minibatch_js(path: str | Path, p: float = 0.2, Ns: Sequence[int] = (1, 2, 3, 8)
                      ) -> Path:
    """Draw JS(P^(N) || Q^(N)) and JS / N against q (Huszár's figure) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = minibatch_js_curves(p, Ns)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for N in Ns:
        axes[0].plot(curves["q"], curves[f"N={N}"], label=f"N = {N}")
        axes[1].plot(curves["q"], curves[f"N={N}"] / N, label=f"N = {N}")
    axes[0].set_ylabel("JS(P^N || Q^N) [bits]")
    axes[1].set_ylabel("JS(P^N || Q^N) / N [bits]")
    for ax in axes:
        ax.axvline(p, color="grey", lw=0.5)
        ax.set_xlabel(f"q (p = {p})")
        ax.legend()
    fig.suptitle("Minibatch JS divergence between Bernoulli products (Huszár 2016)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Draw Huszár's (2016) minibatch JS figure.")
    ap.add_argument("--out", default="minibatch_js.png", help="PNG to write")
    ap.add_argument("--p", type=float, default=0.2)
    ap.add_argument("--N", default="1,2,3,8", help="comma-separated minibatch sizes")
    args = ap.parse_args(argv)
    Ns = [int(n) for n in args.N.split(",")]
    print(plot_minibatch_js(args.out, args.p, Ns))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
