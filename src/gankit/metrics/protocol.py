"""Evaluation protocols: what a number was measured under, stored beside it.

Two FIDs are comparable only when they were computed with the same features (network
and weights), the same numbers of real and fake samples, the same reference set, resize
and pixel scaling (Heusel et al. 2017 already note FID's bias in the sample count;
Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation",
show the resize alone moves it by several points). Every value gankit logs or prints
therefore carries a protocol:

* a **name**, ``<metric><n>-<features>`` (``fid500-digits``, ``kid10k-inception``,
  ``prdc2500-identity``; ``modes2500`` for metrics of the samples themselves): same
  metric, same number of generated samples, same feature extractor; Inception numbers
  of a pipeline other than the default ``ttur`` end in its suffix
  (``fid10k-inception-pytorchfid``, ``fid10k-inception-cleanfid``;
  :mod:`gankit.metrics.inception_input`), so two pipelines never share a name;
* its **details**: the extractor's weights (a SHA-256 of their values), the real and
  fake sample counts, the reference set, the seed, the resize and the pixel scaling
  (for Inception, both start with the pipeline's name).

Numbers are comparable when name and details agree; :func:`check_comparable` refuses
a table column that mixes them. A name can also be asked for (``gankit eval --protocol
fid10k-inception``): :func:`parse_protocol` reads the metric, count and features back.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, List, Optional, Tuple

import torch

from .inception_input import DEFAULT_PIPELINE, PIPELINES, Pipeline, get_pipeline

RESIZE = {
    "digits": "area average to 8x8 (gankit's digits classifier)",
    "mnist": "none at 28 px, centre crop from 32 px (gankit's MNIST classifier)",
    "inception": PIPELINES[DEFAULT_PIPELINE].resize,  # others: describe(pipeline=...)
    "identity": "none",
}
FEATURES = tuple(RESIZE)
_BY_SUFFIX = {p.suffix: p.name for p in PIPELINES.values() if p.suffix}


def state_sha256(net: torch.nn.Module) -> str:
    """SHA-256 over a network's state (names, shapes, dtypes and bytes, in state-dict
    order): the same digest means the same weights."""
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def weights_digest(net: Optional[torch.nn.Module]) -> str:
    """The first 16 hex digits of :func:`state_sha256` ('' for no network), as protocols
    record an extractor's weights."""
    return "" if net is None else state_sha256(net)[:16]


def count_label(n: Optional[int]) -> str:
    """500 -> '500', 2500 -> '2500', 10000 -> '10k', 50000 -> '50k'; unknown (a stats
    file without its count) -> ''."""
    if n is None:
        return ""
    return f"{n // 1000}k" if n >= 10_000 and n % 1000 == 0 else str(n)


def _pipeline(features: Optional[str], pipeline: Optional[str]) -> Optional[Pipeline]:
    """The Inception pipeline of a protocol (the default when None), None for other
    features; a pipeline named with other features is an error."""
    if features == "inception":
        return get_pipeline(pipeline or DEFAULT_PIPELINE)
    if pipeline is not None:
        raise ValueError(f"an Inception pipeline ({pipeline}) applies to inception features "
                         f"only, not {features or 'none'}")
    return None


def protocol_name(metric: str, n_fake: Optional[int], features: Optional[str],
                  pipeline: Optional[str] = None) -> str:
    pipe = _pipeline(features, pipeline)
    return (f"{metric}{count_label(n_fake)}" + (f"-{features}" if features else "")
            + (f"-{pipe.suffix}" if pipe and pipe.suffix else ""))


def describe(metric: str, n_fake: Optional[int], features: Optional[str] = None, weights: str = "",
             n_real: Optional[int] = None, reference: str = "", seed: int = 0,
             scaling: str = "", pipeline: Optional[str] = None) -> Dict[str, Any]:
    """The protocol of one metric's values: its name and details (module docstring).
    ``scaling``: how the input's values were read; for Inception features the
    ``pipeline``'s own resize and scaling come first."""
    pipe = _pipeline(features, pipeline)
    if pipe is not None:
        scaling = pipe.scaling + (f"; input {scaling}" if scaling else "")
    return {"name": protocol_name(metric, n_fake, features, pipeline), "metric": metric,
            "features": features or "none", "weights": weights, "n_real": n_real,
            "n_fake": n_fake, "reference": reference, "seed": seed,
            "resize": pipe.resize if pipe else RESIZE.get(features or "", "none"),
            "scaling": scaling}


def stamp(results: Dict[str, Any], protocol: Dict[str, Any]) -> Dict[str, str]:
    """{value key: protocol name} for every value a metric returned."""
    return {key: protocol["name"] for key in results}


_NAME = re.compile(r"^([a-z_]+?)(\d+)(k?)(?:-([a-z]+))?(?:-([a-z]+))?$")


def protocol_pipeline(name: str) -> Optional[str]:
    """The Inception pipeline a protocol name asks for: its suffix's, the default for
    ``...-inception``, None for other features (check the name with
    :func:`parse_protocol`)."""
    m = _NAME.match(name)
    if not m or m.group(4) != "inception":
        return None
    return _BY_SUFFIX.get(m.group(5) or "", DEFAULT_PIPELINE)


def parse_protocol(name: str, metrics: List[str]) -> Tuple[str, int, Optional[str]]:
    """(metric, number of samples, features) of a protocol name (its Inception
    pipeline: :func:`protocol_pipeline`); an error naming what is wrong for anything
    else."""
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"unknown protocol {name!r}: a protocol is <metric><n>-<features>, "
                         "e.g. fid10k-inception, kid500-digits, prdc2500-identity, "
                         "fid10k-inception-cleanfid")
    metric, digits, k, features, suffix = m.groups()
    if suffix is not None and (features != "inception" or suffix not in _BY_SUFFIX):
        raise ValueError(f"unknown protocol {name!r}: only inception features take a "
                         f"pipeline suffix, one of {', '.join(_BY_SUFFIX)} (the default "
                         f"{DEFAULT_PIPELINE} has none)")
    if metric not in metrics:
        raise ValueError(f"unknown protocol {name!r}: no metric {metric!r}; metrics: "
                         f"{', '.join(metrics)}")
    if features is not None and features not in FEATURES:
        raise ValueError(f"unknown protocol {name!r}: no features {features!r}; features: "
                         f"{', '.join(FEATURES)}")
    n = int(digits) * (1000 if k else 1)
    if n < 2:
        raise ValueError(f"protocol {name!r}: needs at least 2 samples")
    return metric, n, features


def check_comparable(column: str, entries: List[Tuple[str, Dict[str, Any]]]) -> None:
    """Refuse one column of values measured under different protocols. ``entries``:
    (where the value comes from, its protocol details) for each value that has them."""
    if not entries:
        return
    where0, first = entries[0]
    for where, details in entries[1:]:
        if details != first:
            diff = [k for k in first if first.get(k) != details.get(k)]
            raise ValueError(
                f"column {column!r} mixes evaluation protocols: {first['name']} in {where0} "
                f"and {details['name']} in {where} differ in {', '.join(diff)}; compare "
                "numbers of one protocol")
