"""The data-set interface the training loop relies on."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from ..errors import ConfigError, DataFileError

Tensor = torch.Tensor


class Dataset:
    """A source of real minibatches.

    ``sample(m)`` returns a tensor of ``m`` real examples (shape ``(m, *shape)``); every
    random draw comes from ``self.rng`` so that ``state_dict()`` captures the data order
    and a resumed run sees exactly the batches it would have seen.

    Labelled data sets (the image sets) also set ``labels`` (the class 0..K-1 of each
    training example, addressable through :meth:`examples`) and ``num_classes``, and may
    hold out a test split (:meth:`test_set`). Unlabelled ones leave them unset, and the
    label methods raise saying so. Sets with ``num_classes`` K > 0 draw labelled batches
    with :meth:`sample_with_labels` (the mixtures of Gaussians too: a mode is a class).
    """

    shape: Tuple[int, ...] = ()
    default_metrics: List[str] = []
    labels: Optional[Tensor] = None  # class of each training example, if known
    num_classes: int = 0

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = torch.Generator().manual_seed(seed)

    def sample(self, m: int) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def sample_with_labels(self, m: int) -> Tuple[Tensor, Tensor]:
        """``m`` real examples and their classes, as :meth:`sample` draws them (the same
        random draws); for class-conditional training. Unlabelled sets raise."""
        raise ConfigError(f"data set {type(self).__name__} has no class labels, so a "
                          "class-conditional GAN cannot be trained on it; use a labelled "
                          "set (digits, mnist, mnist5k, cifar10, a folder of class "
                          "sub-folders, an npz with y; ring or grid: the mode index)")

    def state_dict(self) -> Dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])

    def reference(self, n: int, seed: int = 1234) -> torch.Tensor:
        """``n`` real examples from a separate stream, for plots and evaluation."""
        saved = self.rng.get_state()
        self.rng.manual_seed(seed)
        try:
            return self.sample(n)
        finally:
            self.rng.set_state(saved)

    def describe(self) -> Optional[Dict[str, Any]]:
        """Known structure of the data (e.g. mode centres), for plots; None if none."""
        return None

    # ------------------------------------------------------------------ labels
    def examples(self, idx: Tensor) -> Tensor:
        """Training examples by index (labelled data sets only)."""
        raise ValueError(f"data set {type(self).__name__} has no indexed, labelled "
                         "examples; use a labelled data set such as 'digits' or 'mnist'")

    def test_set(self) -> Optional[Tuple[Tensor, Tensor]]:
        """The held-out labelled examples ``(x, y)``, or None if the data set has none."""
        return None

    def labelled_subset(self, per_class: int) -> Tensor:
        """Indices of ``per_class`` training examples of each class, fixed by the seed.

        The semi-supervised setting of Salimans et al. (2016), Sec. 5: only these labels
        are used; the draw depends on the data set's seed alone, so a run and its resume
        (and two runs with the same seed) use the same labelled examples.
        """
        labels = self._require_labels()
        rng = torch.Generator().manual_seed(self.seed + 7_777)
        chosen = []
        for k in range(self.num_classes):
            members = (labels == k).nonzero().flatten()
            if len(members) < per_class:
                raise ValueError(f"labels_per_class = {per_class} but class {k} has only "
                                 f"{len(members)} training examples; lower it to at most "
                                 f"{int(torch.bincount(labels, minlength=self.num_classes).min())}")
            chosen.append(members[torch.randperm(len(members), generator=rng)[:per_class]])
        return torch.cat(chosen)

    def sample_labelled(self, m: int, subset: Tensor) -> Tuple[Tensor, Tensor]:
        """``m`` labelled examples drawn uniformly (from ``self.rng``) out of ``subset``."""
        labels = self._require_labels()
        idx = subset[torch.randint(len(subset), (m,), generator=self.rng)]
        return self.examples(idx), labels[idx]

    def _require_labels(self) -> Tensor:
        if self.labels is None or self.num_classes < 1:
            raise ValueError(f"data set {type(self).__name__} has no labels; "
                             "semi-supervised training needs a labelled data set "
                             "(e.g. data.name = 'digits')")
        return self.labels


def check_labels(labels: Tensor, num_classes: int, where: str) -> Tensor:
    """``labels`` as int64 after checking each lies in 0..num_classes-1."""
    labels = torch.as_tensor(labels).long().flatten()
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        raise DataFileError(f"{where}: label {int(labels[bad][0])} is out of range; labels must "
                         f"be integers 0..{num_classes - 1} (one per class)")
    return labels
