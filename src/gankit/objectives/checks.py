"""Build-time checks that objectives run in ``check(G, D)``: refuse, saying why, a
discriminator whose outputs the objective cannot read. Nets declare what they return
through two attributes: ``feature_dim`` (width of the features, 0 or absent = none) and
``autoencoder`` (True: the first output is a reconstruction, not logits)."""
from __future__ import annotations

from torch import nn


def require_features(D: nn.Module, objective: str) -> None:
    """Refuse a discriminator that declares no feature layer (``feature_dim``)."""
    if not getattr(D, "feature_dim", 0):
        raise ValueError(f"objective {objective!r} uses the discriminator's hidden "
                         f"features, but {type(D).__name__} exposes none (no feature_dim);"
                         " use a net that returns features, e.g. discriminator.net = 'mlp'")


def require_logits(D: nn.Module, objective: str) -> None:
    """Refuse an autoencoder discriminator (BEGAN's) where a score or logit is needed."""
    if getattr(D, "autoencoder", False):
        raise ValueError(f"objective {objective!r} reads a logit or score from the "
                         f"discriminator, but {type(D).__name__} is an autoencoder that "
                         "returns a reconstruction (it is for objective 'began'); "
                         "use e.g. discriminator.net = 'mlp'")
