"""Translators against the baselines they must beat, on test images the models never saw.

    python benchmarks/translation_baselines.py sr4 --runs runs/tr/sr4-pix2pix runs/tr/sr4-l1
    python benchmarks/translation_baselines.py inpaint-centre --runs runs/tr/inpaint-pix2pix
    python benchmarks/translation_baselines.py edges --runs runs/tr/edges-pix2pix runs/tr/edges-cyclegan

For each pair maker, the test split's sources (the first ``--num`` test images of the data set) are
completed without learning:

- ``sr4``: bicubic upsampling of the 7x7 block means to 28x28 (what pix2pix's G is given);
- ``inpaint`` / ``inpaint-centre``: the hole filled with the mean training image, and the hole filled by
  diffusion from its border (each hole pixel repeatedly replaced by the mean of its 3x3 neighbours, the
  known pixels held: a blur that only knows the hole's rim);
- ``edges``: none (the edge map itself scores as an image).

and each run is scored by ``ganforge eval`` on the same images. Every row: FID (reference features, against
the training set), class accuracy of the completed images (the reference classifier, against the test
images' labels), PSNR and L1 against the true images. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ganforge.data import load_dataset, normalize, to_uint8
from ganforge.data.pairs import hole_boxes
from ganforge.families.pix2pix import psnr
from ganforge.metrics.evaluate import evaluate_run, feature_net, score_samples


def bicubic(source: torch.Tensor, size: int) -> torch.Tensor:
    up = F.interpolate(normalize(source), size=(size, size), mode="bicubic", align_corners=False)
    return to_uint8(up.clamp(-1, 1))


def hole_masks(n_split: int, n: int, size: int, centre: bool) -> torch.Tensor:
    """(n, 1, size, size) True inside each of the first ``n`` test images' holes (as the pair maker drew them for
    the whole split, seed 1 = the test split's)."""
    boxes = hole_boxes(n_split, size, size, centre, seed=1)[:n]
    mask = torch.zeros(n, 1, size, size, dtype=torch.bool)
    for i, (top, left) in enumerate(boxes.tolist()):
        mask[i, :, top:top + size // 2, left:left + size // 2] = True
    return mask


def mean_fill(source: torch.Tensor, hole: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    return torch.where(hole, mean_image.round().to(torch.uint8).expand_as(source), source)


def diffusion_fill(source: torch.Tensor, hole: torch.Tensor, iterations: int = 300) -> torch.Tensor:
    """The hole filled from its rim: Jacobi iterations of the 3x3 mean, the known pixels held."""
    x = torch.where(hole, torch.zeros_like(source), source).double()
    kernel = torch.full((1, 1, 3, 3), 1 / 9, dtype=torch.float64)
    for _ in range(iterations):
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
        x = torch.where(hole, blurred, x)
    return x.round().clamp(0, 255).to(torch.uint8)


def row(name: str, images: torch.Tensor, targets: torch.Tensor, labels, dataset: str, net) -> str:
    r = score_samples(images, dataset, labels.tolist(), ["fid", "class_acc"], net=net)
    p = float(psnr(images, targets).mean())
    l1 = float((images.double() - targets.double()).abs().mean())
    return f"| {name} | {r['fid']:.2f} | {r['class_acc']:.3f} | {p:.2f} | {l1:.2f} |".replace("| inf |", "| - |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=["sr4", "inpaint", "inpaint-centre", "edges"])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--num", type=int, default=10_000)
    ap.add_argument("--runs", nargs="*", default=[])
    args = ap.parse_args()

    test = load_dataset(args.dataset, split="test", pairs=args.task)
    n = min(args.num, len(test))
    src, tgt, labels = test.source[:n], test.x[:n], test.y[:n]
    net = feature_net(args.dataset)
    print(f"{args.dataset} test images 0-{n - 1}, task {args.task}; FID against the training set (reference features)")
    print("| method | FID | class accuracy | PSNR (dB) | L1 (0-255) |")
    print("|---|---:|---:|---:|---:|")
    print(row("the true images", tgt, tgt, labels, args.dataset, net), flush=True)
    if args.task == "sr4":
        print(row("bicubic upsampling", bicubic(src, tgt.shape[-1]), tgt, labels, args.dataset, net), flush=True)
    elif args.task.startswith("inpaint"):
        mean_image = load_dataset(args.dataset).x.double().mean(0, keepdim=True)
        hole = hole_masks(len(test), n, tgt.shape[-1], centre=args.task == "inpaint-centre")
        print(row("hole filled with the mean image", mean_fill(src, hole, mean_image), tgt, labels, args.dataset, net),
              flush=True)
        print(row("hole filled by diffusion from its rim (blur)", diffusion_fill(src, hole), tgt, labels, args.dataset,
                  net), flush=True)
    else:
        print(row("the edge map itself", src, tgt, labels, args.dataset, net), flush=True)
    for run in args.runs:
        r = evaluate_run(run, num=n, metrics=["fid", "class_acc"], log=False, printer=lambda *a: None)
        name = f"`{run}` ({r.get('direction', 'a2b')})" if "direction" in r else f"`{run}`"
        print(f"| {name} | {r['fid']:.2f} | {r['class_acc']:.3f} | {r.get('psnr', float('nan')):.2f} | "
              f"{r.get('l1', float('nan')):.2f} |", flush=True)


if __name__ == "__main__":
    main()
