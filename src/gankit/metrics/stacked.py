"""Mode coverage on StackedMNIST (Metz et al. 2017, Sec. 3.3).

Each StackedMNIST image holds three MNIST digits as its colour channels, so the data has
1,000 modes, the triples of digit classes. The mode of a generated sample is the triple
of the MNIST classifier's predictions (:mod:`gankit.metrics.mnist`) on its three
channels; the protocol of Srivastava et al. (2017, Sec. 5.2) and Lin et al. (2018,
Sec. 5.2, Table 2) counts the modes that at least one of 26,000 samples falls in and
reports the KL divergence of the samples' mode histogram to the uniform distribution
over the 1,000 (:func:`gankit.metrics.modes.kl_to_uniform`). During training the
samples are the evaluation's ``eval.n_samples``; with fewer than 26,000 a perfect
generator covers fewer modes and shows a larger KL (see :func:`expected_uniform_kl`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

import torch

from .base import EvalContext, Metric, register
from .modes import kl_to_uniform

N_SAMPLES = 26_000  # the protocol's sample count
N_MODES = 1000


def sample_modes(samples: torch.Tensor, predict: Callable[[torch.Tensor], torch.Tensor]
                 ) -> torch.Tensor:
    """The mode ``100 a + 10 b + c`` of each sample (n, 3, H, W), where a, b, c are
    ``predict``'s digits for its channels (``predict``: (m, 1, H, W) -> (m,) labels)."""
    if samples.dim() != 4 or samples.shape[1] != 3:
        raise ValueError(f"stacked_modes: samples of shape {tuple(samples.shape)}; expected "
                         "(n, 3, H, W), one MNIST digit per channel")
    if not torch.isfinite(samples).all():
        raise ValueError("stacked_modes: samples contain NaN or inf; the generator has diverged")
    n, _, h, w = samples.shape
    digits = predict(samples.reshape(n * 3, 1, h, w).float()).view(n, 3).long()
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def mode_histogram_metrics(modes: torch.Tensor) -> Dict[str, Any]:
    """``stacked_modes`` covered (of 1,000) and ``stacked_kl``, KL(p || uniform)."""
    counts = torch.bincount(modes, minlength=N_MODES)
    if len(counts) != N_MODES:
        raise ValueError(f"stacked_modes: mode {int(modes.max())} is not in 0..999")
    return {"stacked_modes": int((counts > 0).sum()), "stacked_kl": kl_to_uniform(counts)}


def expected_uniform_kl(n: int, k: int = N_MODES) -> float:
    """E[KL(histogram of n uniform draws over k modes || uniform)], by the exact binomial
    sum E[sum_j p_j log(k p_j)] with p_j = c_j / n, c_j ~ Binomial(n, 1/k): the floor a
    perfect generator reaches with n samples (0.0193 for n = 26,000, k = 1,000)."""
    total, log_p, log_q = 0.0, math.log(1.0 / k), math.log(1.0 - 1.0 / k)
    for c in range(1, n + 1):
        log_pmf = (math.lgamma(n + 1) - math.lgamma(c + 1) - math.lgamma(n - c + 1)
                   + c * log_p + (n - c) * log_q)
        if log_pmf < -60 and c > n / k:
            break
        total += math.exp(log_pmf) * (c / n) * math.log(k * c / n)
    return k * total


def check_stacked(dataset: Any) -> None:
    """Refuse data that is not StackedMNIST-shaped (3 channels of 28 or 32 px)."""
    shape = tuple(getattr(dataset, "shape", ()))
    if not (dataset.describe() or {}).get("stacked_digits") and \
            shape not in ((3, 28, 28), (3, 32, 32)):
        raise ValueError(f"metric 'stacked_modes' needs StackedMNIST images (3, 28 or 32, "
                         f"28 or 32), e.g. data.name = 'stacked_mnist'; "
                         f"{type(dataset).__name__} has shape {shape}")


@register("stacked_modes")
class StackedModes(Metric):
    """Modes covered (of 1,000) and KL to uniform on StackedMNIST, by the MNIST classifier."""

    source = "samples"

    def __init__(self) -> None:
        self._classifier: Optional[torch.nn.Module] = None

    def check(self, dataset: Any) -> None:
        check_stacked(dataset)
        from ..data.mnist5k import find_csv

        find_csv()  # the classifier's training digits: refused before the run starts

    def classifier(self) -> torch.nn.Module:
        """The cached MNIST classifier (loaded once per instance)."""
        if self._classifier is None:
            from .mnist import load_mnist_classifier

            self._classifier = load_mnist_classifier()
        return self._classifier

    def from_samples(self, samples: torch.Tensor, ctx: EvalContext) -> Dict[str, Any]:
        check_stacked(ctx.dataset)
        from .mnist import predict

        net = self.classifier()
        modes = sample_modes(samples.detach().cpu(), lambda x: predict(net, x))
        return {**mode_histogram_metrics(modes),
                "mnist_test_accuracy": float(net.test_accuracy)}


__all__ = ["N_SAMPLES", "sample_modes", "mode_histogram_metrics", "expected_uniform_kl",
           "StackedModes"]
