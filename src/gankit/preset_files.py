"""Presets that travel with the package: ``gankit train wgan`` from any folder.

The presets are the TOML files of ``configs/`` in a checkout, installed inside the
package as ``gankit.presets`` (a link in the source tree). A config argument is a path
when that file exists, else a preset's name (``wgan``, or ``configs/wgan.toml`` from
another folder: its file name is looked up among the presets), so paths keep working.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Dict, List

from .errors import ConfigError

PRESETS = Path(__file__).resolve().parent / "presets"


def preset_files() -> Dict[str, Path]:
    """{name: file} of every shipped preset (sub-folders by data kind included)."""
    if not PRESETS.is_dir():
        return {}
    return {p.stem: p for p in sorted(PRESETS.rglob("*.toml"))}


def describe(path: Path) -> str:
    """A preset's one-line description: the first line of its leading comment."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def find_config(spec: str | Path) -> Path:
    """The file ``spec`` names: an existing path, else a shipped preset of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    presets = preset_files()
    name = path.stem if path.suffix == ".toml" else str(spec)
    if name in presets and (path.suffix in ("", ".toml")):
        return presets[name]
    close = difflib.get_close_matches(name, list(presets), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"config file {str(spec)!r} does not exist and is not a preset{hint}; "
                      f"presets: {', '.join(presets)} (gankit list)")


def names() -> List[str]:
    return list(preset_files())
