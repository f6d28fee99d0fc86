"""viz/grid.py: [-1, 1] floats to HWC bytes, the tile layout of a grid, the PNG it writes, and the scatter
that stands in for a grid when samples are 2-D points."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import normalize, to_uint8
from ganforge.viz.grid import make_grid, save_image_grid, save_scatter, to_uint8_hwc


def _tiles(n, c, h, w, seed=0):
    """n distinct uint8 images (N, C, H, W) with every byte value likely, and the [-1, 1] floats that are exactly them."""
    u8 = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return u8, normalize(u8)


def _expected_grid(u8, cols, pad, scale):
    """The grid laid out by hand: tile i at row i // cols, column i % cols, ``pad`` black pixels around every
    tile, then each pixel repeated ``scale`` times down and across."""
    n, c, h, w = u8.shape
    rows = -(-n // cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i in range(n):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        out[top:top + h, left:left + w] = u8[i].permute(1, 2, 0).numpy()
    return np.kron(out, np.ones((scale, scale, 1), np.uint8))


# -- to_uint8_hwc ------------------------------------------------------------

def test_to_uint8_hwc_values():
    special = [-1.0, 0.0, 1.0, -3.0, 5.0, float("nan"), float("inf"), float("-inf"), -126 / 127.5, -2.985e-8]
    x = torch.tensor(special).view(1, 1, 1, -1)
    out = to_uint8_hwc(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (1, 1, len(special), 1)
    assert out[0, 0, :, 0].tolist() == [0, 128, 255, 0, 255, 128, 255, 0, 1, 127]
    # the same bytes as data.to_uint8, the one conversion (metrics score these values)
    assert out[0, 0, :, 0].tolist() == to_uint8(x).flatten().tolist()


def test_to_uint8_hwc_moves_channels_last():
    u8, x = _tiles(2, 3, 4, 5)
    out = to_uint8_hwc(x.requires_grad_())    # samples straight from G may carry grad
    assert out.shape == (2, 4, 5, 3)
    for n, h, w, c in [(0, 0, 0, 0), (1, 3, 4, 2), (0, 2, 1, 1), (1, 0, 3, 0)]:
        assert out[n, h, w, c] == u8[n, c, h, w].item()
    assert np.array_equal(out, u8.permute(0, 2, 3, 1).numpy())


# -- make_grid ---------------------------------------------------------------

@pytest.mark.parametrize("n, nrow, pad, scale, cols", [
    (5, 3, 1, 1, 3),        # 2 rows, the last one short
    (5, None, 2, 1, 3),     # default: ceil(sqrt(5)) = 3 per row
    (4, None, 0, 2, 2),     # no padding, doubled pixels
    (3, 1, 2, 3, 1),        # one column
    (1, None, 1, 1, 1),
])
def test_make_grid_layout(n, nrow, pad, scale, cols):
    u8, _ = _tiles(n, 3, 3, 4)
    grid = make_grid(u8.permute(0, 2, 3, 1).numpy(), nrow=nrow, pad=pad, scale=scale)
    rows = -(-n // cols)
    assert grid.dtype == np.uint8
    assert grid.shape == ((rows * (3 + pad) + pad) * scale, (cols * (4 + pad) + pad) * scale, 3)
    assert np.array_equal(grid, _expected_grid(u8, cols, pad, scale))


def test_make_grid_places_tile_i_at_row_i_div_cols():
    tiles = np.stack([np.full((2, 2, 1), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = make_grid(tiles, nrow=2, pad=1)          # 3 rows x 2 columns of 3-pixel cells, plus a 1-pixel border
    assert grid.shape == (10, 7, 1)
    g = grid[..., 0]
    assert g[1:3, 1:3].tolist() == [[10, 10]] * 2 and g[1:3, 4:6].tolist() == [[20, 20]] * 2
    assert g[4:6, 1:3].tolist() == [[30, 30]] * 2 and g[4:6, 4:6].tolist() == [[40, 40]] * 2
    assert g[7:9, 1:3].tolist() == [[50, 50]] * 2
    assert g[7:9, 4:6].tolist() == [[0, 0]] * 2    # no sixth tile: background
    assert g[[0, 3, 6, 9], :].max() == 0 and g[:, [0, 3, 6]].max() == 0   # padding is black


# -- save_image_grid ---------------------------------------------------------

def test_grey_grid_png_pixels(tmp_path):
    u8, x = _tiles(5, 1, 4, 4)
    path = save_image_grid(x, tmp_path / "g.png", nrow=3)
    assert path == tmp_path / "g.png" and sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]  # no temp file left
    img = Image.open(path)
    # 4-pixel tiles: padding max(1, 4 // 14) = 1, upscaled 64 // 4 = 16 times for viewing
    assert img.format == "PNG" and img.mode == "L"
    assert img.size == ((3 * 5 + 1) * 16, (2 * 5 + 1) * 16)
    assert np.array_equal(np.asarray(img), _expected_grid(u8, cols=3, pad=1, scale=16)[..., 0])


def test_rgb_grid_png_pixels(tmp_path):
    u8, x = _tiles(3, 3, 28, 28, seed=1)
    img = Image.open(save_image_grid(x, tmp_path / "rgb.png"))
    # 28-pixel tiles: padding 28 // 14 = 2, scale 64 // 28 = 2; 3 images -> 2 per row
    assert img.mode == "RGB" and img.size == ((2 * 30 + 2) * 2, (2 * 30 + 2) * 2)
    assert np.array_equal(np.asarray(img), _expected_grid(u8, cols=2, pad=2, scale=2))


def test_large_tiles_are_not_upscaled(tmp_path):
    u8, x = _tiles(2, 1, 64, 64, seed=2)
    img = Image.open(save_image_grid(x, tmp_path / "big.png", nrow=2))
    assert img.size == (2 * 68 + 4, 68 + 4)       # padding 64 // 14 = 4, scale 1
    assert np.array_equal(np.asarray(img), _expected_grid(u8, cols=2, pad=4, scale=1)[..., 0])


def test_grid_of_out_of_range_and_nan_samples(tmp_path):
    x = torch.tensor([[-7.0, float("nan")], [float("inf"), 0.5]]).view(1, 1, 2, 2)
    img = np.asarray(Image.open(save_image_grid(x, tmp_path / "odd.png")))
    # one 2-pixel tile, padding 1, scale 32; round(0.5 * 127.5 + 127.5) = round(191.25) = 191
    tile = img[32:96, 32:96]
    assert tile[::32, ::32].tolist() == [[0, 128], [255, 191]]
    assert np.array_equal(tile, np.kron(tile[::32, ::32], np.ones((32, 32), np.uint8)))


# -- points: a scatter instead of a grid --------------------------------------

def _bluish(img: np.ndarray) -> int:
    """Pixels of the samples (tab:blue, half transparent): blue well above red."""
    return int((img[..., 2].astype(int) - img[..., 0] > 40).sum())


def _reddish(img: np.ndarray) -> int:
    """Pixels of the reference marks (tab:red): red well above blue."""
    return int((img[..., 0].astype(int) - img[..., 2] > 60).sum())


def test_points_are_drawn_as_a_scatter_over_the_reference(tmp_path):
    points = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    modes = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])
    with_ref = np.asarray(Image.open(save_image_grid(points, tmp_path / "p.png", reference=modes)))
    alone = np.asarray(Image.open(save_image_grid(points, tmp_path / "q.png")))
    empty = np.asarray(Image.open(save_scatter(torch.zeros(0, 2), tmp_path / "e.png", title="nothing yet")))
    assert with_ref.shape[:2] == alone.shape[:2] == empty.shape[:2] == (400, 400)   # 4 x 4 inches at 100 dpi
    assert _bluish(empty) == 0 and _reddish(empty) == 0        # axes and text only
    assert _bluish(alone) > 500 and _reddish(alone) == 0
    assert _bluish(with_ref) > 500 and _reddish(with_ref) > 50
