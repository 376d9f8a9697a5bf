"""The components a run is made of, and a config resolved against them.

Importing this module registers every data set, net, objective and stabilizer.
:func:`load_config` reads a config (:func:`gankit.config.read_config`) and resolves it:
each component section's options are checked against that component's ``Options``
dataclass (an unknown key, a wrong type or an out-of-range value is an error naming the
key) and completed with its defaults. The result is what building reads, and what a run
directory's ``config.toml`` shows, every default filled in; it is not changed after.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, List, Optional

from . import data, nets, objectives, stabilizers  # noqa: F401  (registration)
from .config import RunConfig, read_config
from .plugins import component_options
from .registry import DATASETS, NETS, OBJECTIVES, STABILIZERS, Registry


def _resolved(registry: Registry, section: Any, where: str) -> Any:
    opts = component_options(registry, section, where)
    return dataclasses.replace(section, options=dataclasses.asdict(opts))


def resolve_config(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` with every component's options checked and completed, in the
    order the trainer builds them (data, G, D, objective, stabilizers)."""
    return dataclasses.replace(
        cfg,
        data=_resolved(DATASETS, cfg.data, "data"),
        generator=_resolved(NETS, cfg.generator, "generator"),
        discriminator=_resolved(NETS, cfg.discriminator, "discriminator"),
        objective=_resolved(OBJECTIVES, cfg.objective, "objective"),
        stabilizers=[_resolved(STABILIZERS, s, f"stabilizers[{i}]")
                     for i, s in enumerate(cfg.stabilizers)])


def load_config(path: Optional[str | Path] = None, sets: Optional[List[str]] = None
                ) -> RunConfig:
    """Defaults, then the TOML file at ``path``, then each ``--set`` override, resolved
    (see the module docstring)."""
    return resolve_config(read_config(path, sets))
