"""Sample grids: small images are enlarged by pixel repetition so each cell is readable."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.grids import MIN_CELL, cell_scale, save_grid, upscale


@pytest.mark.parametrize("side, factor", [(8, 8), (16, 4), (28, 3), (32, 2), (64, 1), (100, 1)])
def test_cell_scale_makes_every_cell_at_least_64_px(side, factor):
    assert cell_scale(side, side) == factor
    assert side * factor >= MIN_CELL and (factor == 1 or side * (factor - 1) < MIN_CELL)


def test_upscale_repeats_pixels_without_new_values():
    x = torch.tensor([[[[-1.0, 1.0], [0.0, 0.5]]]])
    y = upscale(x, 3)
    assert y.shape == (1, 1, 6, 6)
    assert torch.equal(y[0, 0, :3, :3], torch.full((3, 3), -1.0))
    assert torch.equal(y[0, 0, 3:, 3:], torch.full((3, 3), 0.5))
    assert set(y.unique().tolist()) == set(x.unique().tolist())
    with pytest.raises(ValueError, match=">= 1"):
        upscale(x, 0)


def test_grid_of_16_px_images_has_64_px_cells_with_thin_separators(tmp_path):
    images = torch.rand(64, 3, 16, 16) * 2 - 1
    pixels = np.asarray(Image.open(save_grid(images, tmp_path / "g.png")))
    assert pixels.shape == (8 * 65 + 1, 8 * 65 + 1, 3)  # 8 cells of 64 px, 1 px apart
    cell = pixels[1:65, 1:65]
    assert (cell[::4, ::4] == cell[3::4, 3::4]).all()  # 4 x 4 blocks of one value
    expected = ((images[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(cell[::4, ::4], expected)
    assert (pixels[0] == 128).all() and (pixels[:, 65] == 128).all()  # separators
    big = np.asarray(Image.open(save_grid(torch.zeros(4, 1, 8, 8), tmp_path / "b.png", scale=2)))
    assert big.shape == (2 * 17 + 1, 2 * 17 + 1)  # an explicit scale wins
