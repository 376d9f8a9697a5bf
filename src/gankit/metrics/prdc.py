"""Precision, recall, density and coverage of a generator's samples.

Each real sample x_i gets a ball B(x_i, r_i) whose radius is the distance to its k-th
nearest other real sample (and each fake sample y_j one of radius s_j among the fakes):

* **improved precision and recall** (Kynkäänniemi et al. 2019, "Improved Precision and
  Recall Metric for Assessing Generative Models", Sec. 2, k = 3): precision is the
  share of fake samples inside the union of the real balls, recall the share of real
  samples inside the union of the fake balls;
* **density and coverage** (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics
  for Generative Models", Sec. 3, eqs. 3-4, k = 5): density = (1 / (k M)) sum_j
  #{i : y_j in B(x_i, r_i)}, which counts how many real balls hold each fake sample
  (about 1 for samples of the data distribution, above 1 for samples crowded where the
  data is dense), and coverage the share of real samples whose ball holds a fake one.

Whether a point on a ball's boundary is inside is a convention: Kynkäänniemi et al.'s
code counts it (``d <= r``), Naeem et al.'s ``prdc`` package does not (``d < r``);
both are offered (``strict``), and the defaults follow each paper's code. Distances are
float64 and computed in row blocks, so two sets of 10,000 never need a 10,000 x 10,000
matrix at once.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from .base import EvalData, Metric, register
from .features import ArrayLike, check_features, check_same_dim

_BLOCK_ENTRIES = 1 << 22  # distances held at once (32 MB of float64)


def _sq_dist(x: np.ndarray, y: np.ndarray, y_sq: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0, out=d2)


def _blocks(n: int, m: int):
    rows = max(1, _BLOCK_ENTRIES // max(1, m))
    for i in range(0, n, rows):
        yield slice(i, min(n, i + rows))


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` to its k-th nearest other row (float64)."""
    if not 1 <= k < len(x):
        raise ValueError(f"k = {k} nearest neighbours need more than k samples; got {len(x)}")
    sq = (x * x).sum(1)
    out = np.empty(len(x))
    for rows in _blocks(len(x), len(x)):
        d2 = _sq_dist(x[rows], x, sq)
        d2[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
        out[rows] = np.partition(d2, k, axis=1)[:, k]  # index 0 is the point itself
    return np.sqrt(out)


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, strict: bool):
    """Per point, the number of balls (centres, radii) holding it."""
    sq, r2 = (centres * centres).sum(1), radii ** 2
    counts = np.empty(len(points), dtype=np.int64)
    for rows in _blocks(len(points), len(centres)):
        d2 = _sq_dist(points[rows], centres, sq)
        counts[rows] = (d2 < r2 if strict else d2 <= r2).sum(1)
    return counts


def _pair(real: ArrayLike, fake: ArrayLike):
    x = check_features(real, "real features")
    y = check_features(fake, "fake features")
    check_same_dim(x, y)
    return x, y


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3,
                     strict: bool = False) -> Dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls."""
    x, y = _pair(real, fake)
    precision = (_inside(y, x, knn_radii(x, k), strict) > 0).mean()
    recall = (_inside(x, y, knn_radii(y, k), strict) > 0).mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5,
                     strict: bool = True) -> Dict[str, float]:
    """Density and coverage (Naeem et al. 2020, eqs. 3-4) with k-NN balls of the reals."""
    x, y = _pair(real, fake)
    radii = knn_radii(x, k)
    density = _inside(y, x, radii, strict).mean() / k
    sq, covered = (y * y).sum(1), np.empty(len(x), dtype=bool)
    for rows in _blocks(len(x), len(y)):
        nearest = _sq_dist(x[rows], y, sq).min(1)
        r2 = radii[rows] ** 2
        covered[rows] = nearest < r2 if strict else nearest <= r2
    return {"density": float(density), "coverage": float(covered.mean())}


@register("prdc")
class PRDC(Metric):
    """Precision/recall (Kynkaanniemi et al. 2019, k 3), density/coverage (Naeem 2020, k 5)."""

    matrix = True
    raw_features = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        return {**precision_recall(d.real, d.fake), **density_coverage(d.real, d.fake)}
