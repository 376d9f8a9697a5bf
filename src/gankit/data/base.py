"""The data-set interface the training loop relies on."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch


class Dataset:
    """A source of real minibatches.

    ``sample(m)`` returns a tensor of ``m`` real examples (shape ``(m, *shape)``); every
    random draw comes from ``self.rng`` so that ``state_dict()`` captures the data order
    and a resumed run sees exactly the batches it would have seen.
    """

    shape: Tuple[int, ...] = ()
    default_metrics: List[str] = []

    def __init__(self, seed: int):
        self.rng = torch.Generator().manual_seed(seed)

    def sample(self, m: int) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

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
