"""viz/gif.py: the per-epoch grids as one looping GIF, read back with PIL."""

import numpy as np
from PIL import Image

from ganforge.viz.gif import save_gif

# GIF-exact colours: web-safe palette entries survive the quantisation unchanged
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (51, 102, 153), (255, 255, 255)]


def _frames(tmp_path, colours, size=(30, 20), mode="RGB"):
    paths = []
    for i, c in enumerate(colours):
        p = tmp_path / f"epoch_{i + 1:04d}.png"
        img = Image.new("RGB", size, c)
        img.putpixel((0, 0), (0, 0, 0))             # a mark in the corner: not a solid frame
        (img.convert(mode) if mode != "RGB" else img).save(p)
        paths.append(p)
    return paths


def _read(path):
    """Every frame as RGB pixels, its duration in ms; and the loop count."""
    gif = Image.open(path)
    frames, durations = [], []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")))
        durations.append(gif.info["duration"])
    return gif, frames, durations


def test_frames_in_order_with_the_last_held(tmp_path):
    paths = _frames(tmp_path, COLOURS)
    out = save_gif(paths, tmp_path / "progress.gif")
    assert out == tmp_path / "progress.gif"
    gif, frames, durations = _read(out)
    assert gif.format == "GIF" and gif.size == (30, 20) and gif.n_frames == 5
    assert gif.info["loop"] == 0                        # loops for ever
    assert durations == [200, 200, 200, 200, 1500]
    for frame, colour in zip(frames, COLOURS, strict=True):
        assert frame.shape == (20, 30, 3)
        assert tuple(frame[10, 15]) == colour and tuple(frame[0, 0]) == (0, 0, 0)


def test_custom_durations(tmp_path):
    _, _, durations = _read(save_gif(_frames(tmp_path, COLOURS[:3]), tmp_path / "p.gif", ms_per_frame=50,
                                     hold_last_ms=3000))
    assert durations == [50, 50, 3000]               # multiples of 10 ms: GIF stores centiseconds


def test_one_frame(tmp_path):
    gif, frames, durations = _read(save_gif(_frames(tmp_path, COLOURS[1:2]), tmp_path / "one.gif"))
    assert gif.n_frames == 1 and durations == [1500] and tuple(frames[0][5, 5]) == COLOURS[1]


def test_grey_frames(tmp_path):
    greys = [(v, v, v) for v in (0, 51, 102, 255)]
    gif, frames, _ = _read(save_gif(_frames(tmp_path, greys, mode="L"), tmp_path / "grey.gif"))
    assert gif.n_frames == 4
    assert [int(f[10, 15, 0]) for f in frames] == [0, 51, 102, 255]


def test_no_frames_no_gif(tmp_path):
    assert save_gif([], tmp_path / "progress.gif") is None
    assert list(tmp_path.iterdir()) == []
