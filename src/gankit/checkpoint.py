"""Checkpoints that cannot tear and load nothing but tensors and JSON.

A checkpoint is one safetensors file. Its tensors are every tensor of the run state
(weights, optimizer moments, RNG states...); its metadata holds the rest of the state as
JSON, with tensors replaced by references, and a SHA-256 of the whole content. Writes go
to a temporary file that is flushed, fsynced and renamed, so a crash leaves either the old
file or the new one. Loading never unpickles anything, and a file whose checksum does not
match is refused; :class:`CheckpointManager` then falls back to the previous good one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from .errors import CheckpointError

FORMAT = "gankit-checkpoint-1"


# ----------------------------------------------------------------------------- encoding
def _encode(obj: Any, tensors: Dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{path}/{k}") for k, v in obj.items()}
        return {"__items__": [[k, _encode(v, tensors, f"{path}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot checkpoint {type(obj).__name__} at {path!r}")


def _decode(obj: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__items__" in obj:
        return {k: _decode(v, tensors) for k, v in obj["__items__"]}
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__float__" in obj:
        return float(obj["__float__"])
    return {k: _decode(v, tensors) for k, v in obj.items()}


def _digest(structure: str, tensors: Dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(structure.encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- file io
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no stray temporary file next to the target
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | Path, state: Dict[str, Any]) -> None:
    tensors: Dict[str, torch.Tensor] = {}
    structure = json.dumps(_encode(state, tensors, "state"))
    meta = {"format": FORMAT, "structure": structure, "sha256": _digest(structure, tensors)}
    atomic_write_bytes(Path(path), st_save(tensors, metadata=meta))


def load_checkpoint(path: str | Path) -> Dict[str, Any]:
    """Load and verify a checkpoint; raise :class:`CheckpointError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable "
                              f"(truncated or not a safetensors file): {exc}") from exc
    if meta.get("format") != FORMAT or "structure" not in meta:
        raise CheckpointError(f"{str(path)!r} is not a gankit checkpoint "
                              f"(format {meta.get('format')!r})")
    if _digest(meta["structure"], tensors) != meta.get("sha256"):
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt (checksum mismatch)")
    try:
        return _decode(json.loads(meta["structure"]), tensors)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt (its state does not "
                              f"decode: {type(exc).__name__}: {exc})") from exc


# ----------------------------------------------------------------------------- manager
class CheckpointManager:
    """``<run>/checkpoints/ckpt-<step>.safetensors``, the last ``keep`` of them, and a
    ``latest`` file naming the newest."""

    PATTERN = re.compile(r"^ckpt-(\d+)\.safetensors$")

    def __init__(self, run_dir: str | Path, keep: int = 3):
        self.dir = Path(run_dir) / "checkpoints"
        self.keep = keep

    def save(self, step: int, state: Dict[str, Any]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob(".*.tmp-*"):  # left by a write that was killed
            stale.unlink(missing_ok=True)
        path = self.dir / f"ckpt-{step:09d}.safetensors"
        save_checkpoint(path, state)
        atomic_write_bytes(self.dir / "latest", (path.name + "\n").encode())
        for old in self.list()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def list(self) -> List[Path]:
        """Checkpoint files, oldest first."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir()
                 if (m := self.PATTERN.match(p.name))]
        return [p for _, p in sorted(found)]

    def load_latest(self) -> Tuple[Path, Dict[str, Any]]:
        """The newest checkpoint that verifies; warn about each bad one skipped.

        When none verifies, one error names the directory and the newest file's fault
        (no warnings first: the error says it all)."""
        candidates = self.list()[::-1]
        if not candidates:
            raise CheckpointError(f"no checkpoint in {str(self.dir)!r}")
        failures: List[CheckpointError] = []
        for path in candidates:
            try:
                state = load_checkpoint(path)
            except CheckpointError as exc:
                failures.append(exc)
                continue
            for exc in failures:
                warnings.warn(f"{exc}; falling back to the previous checkpoint")
            return path, state
        raise CheckpointError(f"no loadable checkpoint in {str(self.dir)!r}: all "
                              f"{len(candidates)} failed verification (newest: {failures[0]})")
