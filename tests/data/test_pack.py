"""Packs (data/pack.py): written once from a data set or a folder, read back byte for byte."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data import pack as packing
from ganforge.errors import ConfigError, DataError
from tiny import digit_folder, snapshot


def pack_digits(out, size=None, shard_bytes=packing.SHARD_BYTES):
    return packing.pack(packing.dataset_source("digits", "train", size, None), out, shard_bytes=shard_bytes,
                        progress=False)


def test_a_pack_holds_the_data_set_byte_for_byte(tmp_path):
    info = pack_digits(tmp_path / "p", size=16, shard_bytes=256 * 100)  # 100 images of 16x16 per shard
    ds = load_dataset("digits", image_size=16)
    assert info.count == len(ds) == 1797 and info.shape == (1, 16, 16)
    assert info.class_names == [str(d) for d in range(10)]
    assert [s["count"] for s in info.manifest["shards"]] == [100] * 17 + [97]
    packed = load_dataset(f"pack:{tmp_path / 'p'}")
    assert torch.equal(packed.x, ds.x) and torch.equal(packed.y, ds.y)
    assert packed.num_classes == 10 and packed.pack.count == 1797
    assert torch.equal(load_dataset(f"pack:{tmp_path / 'p'}", split="test").x, ds.x)  # one split, as folder:PATH
    reader = packing.PackReader(info)
    idx = torch.tensor([1796, 0, 5, 5, 1000])
    assert torch.equal(reader.read(idx), ds.x[idx])
    assert packing.verify_pack(tmp_path / "p") == []


def test_a_damaged_pack_is_named_not_read(tmp_path):
    info = pack_digits(tmp_path / "p", shard_bytes=64 * 500)
    images = tmp_path / "p" / packing.IMAGES
    data = bytearray(images.read_bytes())
    data[64 * 1200 + 7] ^= 0xFF  # one byte of image 1200: shard 2
    images.write_bytes(bytes(data))
    assert packing.verify_pack(tmp_path / "p") == [2]
    images.write_bytes(bytes(data[:-64]))  # one image short
    with pytest.raises(DataError, match=f"images.u8 holds {info.nbytes - 64} bytes, the manifest says {info.nbytes}"):
        load_dataset(f"pack:{tmp_path / 'p'}")
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(f"pack:{tmp_path / 'nothing'}")


def test_a_pack_is_loaded_at_its_own_size_only(tmp_path):
    pack_digits(tmp_path / "p")
    assert load_dataset(f"pack:{tmp_path / 'p'}", image_size=8, channels=1).shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="holds 1-channel 8x8 images.*set data.image_size=8 data.channels=1"):
        load_dataset(f"pack:{tmp_path / 'p'}", image_size=16)


def _photo(path, w, h, colour):
    Image.new("RGB", (w, h), colour).save(path)


def test_a_folder_is_cropped_padded_or_stretched_and_bad_files_are_listed(tmp_path):
    src = tmp_path / "photos"
    (src / "cats").mkdir(parents=True)
    (src / "dogs").mkdir()
    wide = np.zeros((4, 8, 3), dtype=np.uint8)
    wide[:, 2:6] = 200  # a bright centre square, dark sides
    Image.fromarray(wide).save(src / "cats" / "wide.png")
    _photo(src / "cats" / "square.png", 6, 6, (10, 20, 30))
    (src / "dogs" / "broken.png").write_bytes(b"not a png at all")
    _photo(src / "dogs" / "tall.png", 4, 8, (255, 255, 255))
    before = snapshot(src)
    packs = {}
    for fit in packing.FITS:
        info = packing.pack(packing.folder_source(str(src), 8, 3, fit), tmp_path / fit, progress=False)
        assert info.count == 3 and info.manifest["skipped"] == 1 and info.class_names == ["cats", "dogs"]
        assert (tmp_path / fit / packing.SKIPPED).read_text() == f"{src / 'dogs' / 'broken.png'}\n"
        packs[fit] = load_dataset(f"pack:{tmp_path / fit}")
    assert snapshot(src) == before  # packing only reads the source
    assert packs["crop"].y.tolist() == [0, 0, 1]
    crop, pad, stretch = (packs[f].x[1] for f in packing.FITS)  # the wide 8x4 image (files in name order)
    assert (crop == 200).all()  # its centre 4x4 is the bright square (made 8x8)
    assert (pad[:, :2] == 0).all() and (pad[:, 6:] == 0).all() and torch.equal(pad[:, 2:6], torch.from_numpy(wide).permute(2, 0, 1))
    assert (stretch[:, :, :2] == 0).all() and (stretch[:, :, 2:6] == 200).all() and (stretch[:, :, 6:] == 0).all()
    tall = packs["pad"].x[2]  # 4x8 white: black bands left and right
    assert (tall[:, :, :2] == 0).all() and (tall[:, :, 2:6] == 255).all() and (tall[:, :, 6:] == 0).all()
    assert (packs["crop"].x[0] == torch.tensor([10, 20, 30], dtype=torch.uint8).view(3, 1, 1)).all()


class Interrupt(Exception):
    pass


def test_an_interrupted_pack_continues_where_it_stopped(tmp_path):
    whole = pack_digits(tmp_path / "whole", shard_bytes=64 * 300)
    source = packing.dataset_source("digits", "train", None, None)
    items = source.items

    def stop_after_1000(start):
        for k, item in enumerate(items(start)):
            if k == 1000:
                raise Interrupt  # as a Ctrl-C in the middle of shard 3
            yield item

    source.items = stop_after_1000
    with pytest.raises(Interrupt):
        packing.pack(source, tmp_path / "p", shard_bytes=64 * 300, progress=False)
    partial = json.loads((tmp_path / "p" / packing.PARTIAL).read_text())
    assert partial["count"] == 900 and (tmp_path / "p" / packing.IMAGES).stat().st_size >= 900 * 64
    with pytest.raises(DataError, match="interrupted: run the same `ganforge data pack` again"):
        load_dataset(f"pack:{tmp_path / 'p'}")
    source.items = items
    done = packing.pack(source, tmp_path / "p", shard_bytes=64 * 300, progress=False)
    assert done.manifest["shards"] == whole.manifest["shards"]  # the same shards, the same checksums
    for name in (packing.IMAGES, packing.LABELS):
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not (tmp_path / "p" / packing.PARTIAL).exists()


def test_nothing_is_overwritten(tmp_path):
    pack_digits(tmp_path / "p")
    before = snapshot(tmp_path / "p")
    with pytest.raises(ConfigError, match="holds a finished pack already"):
        pack_digits(tmp_path / "p")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="a folder with other files in it"):
        pack_digits(tmp_path / "mine")
    assert snapshot(tmp_path / "p") == before and (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_an_interrupted_pack_of_another_source_is_refused(tmp_path):
    source = packing.dataset_source("digits", "train", None, None)
    source.items = lambda start: (_ for _ in ()).throw(Interrupt)
    with pytest.raises(Interrupt):
        packing.pack(source, tmp_path / "p", progress=False)
    with pytest.raises(ConfigError, match="an interrupted pack of another source or other options"):
        pack_digits(tmp_path / "p", size=16)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ganforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_the_command_line_packs_a_folder_and_checks_it(tmp_path):
    src = digit_folder(tmp_path / "digits", per_class=4, classes=3)
    proc = run_cli("data", "pack", f"folder:{src}", "--size", 8, "--channels", 1, "--out", tmp_path / "p", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"packed 12 images (1x8x8" in proc.stdout
    proc = run_cli("data", "info", tmp_path / "p", "--verify")
    assert proc.returncode == 0 and "12 images 1x8x8, 3 classes" in proc.stdout and "all 1 shards match" in proc.stdout
    for args, message in [
        (("data", "pack", f"folder:{src}", "--out", tmp_path / "q"), "packing a folder needs --size S"),
        (("data", "pack", f"folder:{src}", "--size", 8, "--out", tmp_path / "p"), "holds a finished pack already"),
        (("data", "pack", "digits", "--fit", "pad", "--out", tmp_path / "q"), "--fit applies to folder:PATH sources"),
        (("data", "info", tmp_path / "nothing"), "no such folder"),
    ]:
        proc = run_cli(*args)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
