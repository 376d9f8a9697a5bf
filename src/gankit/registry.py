"""A tiny name -> object registry, one per kind of component.

Every pluggable part of gankit (objectives, stabilizers, nets, data sets, metrics) is
registered under a short name with ``@REGISTRY.register("name")`` and looked up with
``REGISTRY.get("name")``; an unknown name raises an error that lists the valid ones.
"""
from __future__ import annotations

import difflib
from typing import Callable, Dict, Generic, List, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}
        self._help: Dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self._help[name] = doc[0] if doc else ""
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint}; valid: {', '.join(self.names())}"
            )
        return self._items[name]

    def names(self) -> List[str]:
        return sorted(self._items)

    def describe(self) -> Dict[str, str]:
        """name -> first line of its docstring, for ``gankit list``."""
        return {n: self._help[n] for n in self.names()}

    def __contains__(self, name: str) -> bool:
        return name in self._items


OBJECTIVES: Registry = Registry("objective")
STABILIZERS: Registry = Registry("stabilizer")
NETS: Registry = Registry("net")
DATASETS: Registry = Registry("dataset")
METRICS: Registry = Registry("metric")
