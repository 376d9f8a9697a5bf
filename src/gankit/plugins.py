"""What a plug-in (an objective, a stabilizer, a net, a data set) is given.

Two things, both spelled out here so that no plug-in reaches into the trainer:

- :func:`build`: a component is built from its config section alone, its options
  validated against the component's own ``Options`` dataclass;
- :class:`SetupContext`: what an objective's or a stabilizer's ``setup`` may read and
  set, once, after the nets are built and before the first step. As StyleGAN2-ADA hands
  its loss exactly the networks it needs (Karras et al. 2020, ``training/loss.py``), a
  plug-in gets the nets, the discriminator's resolved options, the run's seeds, batch
  size and device, draws of real examples and of z, the labelled examples, and one
  named way to change the objective (its label targets) - nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol, Tuple

import torch
from torch import nn

from .config import component_name, from_dict
from .registry import Registry
from .seeds import derived_seed

Tensor = torch.Tensor


def component_options(registry: Registry, section: Any, where: str) -> Any:
    """The typed options of the component ``section`` names (a DataConfig, NetConfig,
    ObjectiveConfig or StabilizerConfig), checked against its ``Options`` dataclass; an
    error names ``where`` (e.g. ``generator.widht``). Reads ``section``, never writes it."""
    cls = registry.get(component_name(section))
    return from_dict(cls.Options, section.options or {}, where + ".")


def build(registry: Registry, where: str, section: Any, *args: Any,
          make: Optional[str] = None) -> Any:
    """Build the component ``section`` names from its options: ``cls(opts, *args)``, or
    ``cls.<make>(opts, *args)`` for a family with several constructors (a net family's
    ``generator`` and ``discriminator``)."""
    cls = registry.get(component_name(section))
    opts = from_dict(cls.Options, section.options or {}, where + ".")
    return (getattr(cls, make) if make else cls)(opts, *args)


class LabelledData(Protocol):
    """The labelled side of a data set (:class:`gankit.data.base.Dataset`): unlabelled
    sets raise, saying so, from each method."""

    num_classes: int

    def labelled_subset(self, per_class: int) -> Tensor: ...

    def examples(self, idx: Tensor) -> Tensor: ...

    def sample_labelled(self, m: int, subset: Tensor) -> Tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class SetupContext:
    """What ``Objective.setup`` and ``Stabilizer.setup`` may read and set."""

    G: nn.Module  #: the generator (a stabilizer may fix its VBN reference batch)
    D: nn.Module  #: the discriminator, unwrapped
    d_options: Any  #: D's resolved options (its net family's Options: n_out, pack...)
    objective_name: str  #: the objective's registered name, for messages
    #: set the objective's D targets for real and generated examples (Salimans et al.
    #: 2016, Sec. 3.4); None when the objective does not train D against 0/1 labels
    set_label_targets: Optional[Callable[[float, float], None]]
    seed: int  #: the run seed; a plug-in draws from a stream of its own (:meth:`seed_for`)
    batch_size: int  #: m, the global minibatch size
    device: torch.device  #: where the nets live
    real_examples: Callable[[int], Tensor]  #: n real examples, on ``device``
    sample_z: Callable[[int], Tensor]  #: this rank's share of n noise vectors z
    labelled: LabelledData  #: the data set's labelled examples

    def seed_for(self, stream: int) -> int:
        """The seed of stream ``stream`` (:mod:`gankit.seeds`) of this run."""
        return derived_seed(self.seed, stream)
