"""Sample grids: a PNG of generated images tiled in rows, written at each evaluation.

The images come from a fixed z (a seed derived from the run seed), so the grids of two
steps show the same noise vectors and differ only by what G learnt in between, as in
the figures of Radford et al. (2016) and Salimans et al. (2016).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

GRID_SIZE = 64  # images per grid (8 x 8)
MIN_CELL = 64  # px on screen of each image in a grid: an 8 px digit is unreadable at 8


def cell_scale(height: int, width: int, min_cell: int = MIN_CELL) -> int:
    """The smallest whole factor making an image at least ``min_cell`` px on each side
    (8 px -> 8, 16 px -> 4, 28 px -> 3, 32 px -> 2, 64 px and more -> 1)."""
    return max(1, -(-min_cell // max(1, min(height, width))))


def upscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, factor H, factor W) by nearest neighbour (pixel repetition):
    no interpolation blurs the samples' own pixels."""
    if factor < 1:
        raise ValueError(f"upscale factor must be >= 1, got {factor}")
    if factor == 1:
        return images
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def tile(images: torch.Tensor, nrow: Optional[int] = None, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] -> one uint8 array (H', W') or (H', W', 3).

    Images fill a grid of ``nrow`` columns (default: a square), separated by ``pad``
    pixels of mid grey; values outside [-1, 1] are clipped.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"sample grids need images of shape (N, 1 or 3, H, W), got "
                         f"{tuple(images.shape)}")
    n, c, h, w = images.shape
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = torch.zeros(c, rows * (h + pad) + pad, cols * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu().clamp(-1, 1)):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        canvas[:, top:top + h, left:left + w] = img
    pixels = ((canvas + 1) * 127.5).round().byte().numpy()
    return pixels[0] if c == 1 else pixels.transpose(1, 2, 0)


def save_grid(images: torch.Tensor, path: Path, nrow: Optional[int] = None,
              scale: int = 0) -> Path:
    """Write the tiled ``images`` as a PNG at ``path``. Each image is first enlarged
    ``scale`` times by pixel repetition (0 = :func:`cell_scale`: every cell at least 64
    px), then tiled with 1 px separators."""
    from PIL import Image

    if images.dim() == 4:
        images = upscale(images, scale or cell_scale(*images.shape[-2:]))
    img = Image.fromarray(tile(images, nrow))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def step_of(path: Path) -> int:
    """The training step in a run file's name, ``step-XXXXXXXXX.png`` / ``.npy``."""
    return int(path.stem.split("-")[1])


def stack_grids(paths: List[Path], out: Path, caption: int = 14) -> Path:
    """Grids of several steps side by side in one PNG, each captioned with its step."""
    from PIL import Image, ImageDraw

    grids = [Image.open(p).convert("RGB") for p in paths]
    height = max(g.height for g in grids) + caption
    canvas = Image.new("RGB", (sum(g.width for g in grids) + 8 * (len(grids) - 1), height),
                       (255, 255, 255))
    draw, left = ImageDraw.Draw(canvas), 0
    for path, g in zip(paths, grids):
        draw.text((left + 2, 1), f"step {step_of(path)}", fill=(0, 0, 0))
        canvas.paste(g, (left, caption))
        left += g.width + 8
    canvas.save(out)
    return out
