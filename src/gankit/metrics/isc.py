"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs",
section 4):

    IS(G) = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

estimated on ``splits`` consecutive chunks of the samples (10 in the paper's code);
the score is the mean over chunks and its spread the (population) standard deviation,
as in the reference implementation. Computed in float64 from logits (via log-softmax,
so confident predictions do not underflow) or from probabilities.
"""
from __future__ import annotations

import warnings
from typing import Dict, NamedTuple, Optional

import numpy as np
import scipy.special

from .base import EvalData, Metric, register
from .features import ArrayLike, check_features


class MeanStd(NamedTuple):
    """A score over subsets/splits: its mean and (population) standard deviation."""

    mean: float
    std: float


def _log_probs_from_probs(probs: np.ndarray) -> np.ndarray:
    if (probs < 0).any():
        raise ValueError("probabilities: negative entries")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        worst = float(np.abs(sums - 1).max())
        raise ValueError(f"probabilities: rows must sum to 1 (off by up to {worst:.3g}); "
                         "pass logits= for unnormalised scores")
    with np.errstate(divide="ignore"):
        return np.log(probs / sums[:, None])


def log_probs(logits: Optional[ArrayLike] = None, probs: Optional[ArrayLike] = None) -> np.ndarray:
    """log p(y|x) as float64 (n, K) from exactly one of ``logits`` or ``probs``."""
    if (logits is None) == (probs is None):
        raise ValueError("give exactly one of logits= or probs=")
    if logits is not None:
        logits = check_features(logits, "logits", 2)
        if (logits >= 0).all() and np.allclose(logits.sum(axis=1), 1.0, atol=1e-6):
            warnings.warn("logits look like probabilities (non-negative rows summing to 1); "
                          "pass probs= if they are", stacklevel=3)
        return scipy.special.log_softmax(logits, axis=1)
    return _log_probs_from_probs(check_features(probs, "probabilities", 2))


def _split_score(logp: np.ndarray) -> float:
    """exp of the mean KL(p(y|x) || p(y)) over one chunk, with 0 log 0 = 0."""
    p = np.exp(logp)
    log_marginal = scipy.special.logsumexp(logp, axis=0) - np.log(logp.shape[0])
    terms = p * np.where(p > 0, logp - log_marginal, 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def inception_score(logits: Optional[ArrayLike] = None, *, probs: Optional[ArrayLike] = None,
                    splits: int = 10) -> MeanStd:
    """Inception Score (Salimans et al. 2016): mean and std over ``splits`` chunks.

    Chunk i holds samples [i n / splits, (i + 1) n / splits), as in the original code.
    """
    logp = log_probs(logits, probs)
    n = logp.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be between 1 and the number of samples ({n}), "
                         f"got {splits}")
    scores = [_split_score(logp[i * n // splits:(i + 1) * n // splits]) for i in range(splits)]
    return MeanStd(float(np.mean(scores)), float(np.std(scores)))


@register("is")
class InceptionScore(Metric):
    """Inception Score (Salimans et al. 2016) of the fake samples (real as reference)."""

    logits = True
    fake_only = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        logits = d.logits_of_fake(self.name)
        fake = inception_score(logits, splits=min(10, len(logits)))
        out = {"is": fake.mean, "is_std": fake.std}
        if d.real_logits is not None:
            out["is_real"] = inception_score(d.real_logits,
                                             splits=min(10, len(d.real_logits))).mean
        return out
