"""How far the exported generators are from ganforge's own samples, per preset.

    python benchmarks/export_diffs.py [--presets ...] [--n 64]
    python benchmarks/export_diffs.py --runs RUN_DIR ...        # trained runs instead

Trains each preset one step on the embedded digits (resized to the preset's shape; ring8-gan on its
ring), exports it as ONNX and TorchScript, and prints, for n latents from seed 7, the largest absolute
difference of onnxruntime's and the TorchScript file's images from ``Sampler.sample`` (StackGAN: the
conditions at their means; InfoGAN: the exported generator's codes). tests/test_export.py holds every
preset to 1e-4 (ONNX) and 1e-5 (TorchScript).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from ganforge.config import preset_names, resolve
from ganforge.export import export_generator
from ganforge.sampler import load_generator
from ganforge.train import Trainer


def tiny_run(preset: str, root: Path) -> Path:
    over = {"data.name": "ring8" if preset == "ring8-gan" else "digits", "train.steps": 1, "train.batch_size": 16,
            "train.progress": False, "train.num_samples": 10}
    if resolve(preset).family == "stackgan":
        over.update({"stack.schedule": "joint", "stack.stage1_epochs": 0})
    return Trainer(resolve(preset, over), root / preset).fit()


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=preset_names())
    ap.add_argument("--runs", nargs="*", help="trained run directories to export instead of one-step presets")
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, ATen {torch.backends.cpu.get_cpu_capability()}; "
          f"{args.n} samples per preset, max |exported - ganforge|")
    print("| preset | family | inputs | ONNX | TorchScript |")
    print("|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for preset in args.runs or args.presets:
            run = Path(preset) if args.runs else tiny_run(preset, root)
            preset = run.name if args.runs else preset
            export_generator(run, "onnx", root / f"{preset}.onnx")
            export_generator(run, "torchscript", root / f"{preset}.pt")
            sampler = load_generator(run)
            inputs = sampler.family.export_inputs(args.n, torch.Generator().manual_seed(7))
            with torch.no_grad():
                want = sampler.family.generate(sampler.G, dict(sampler.family.sample_inputs(
                    args.n, labels=inputs.get("y"), z=inputs["z"]))) if sampler.family.name != "infogan" else \
                    sampler.family.export_forward(sampler.G.eval(), inputs)
            session = ort.InferenceSession(str(root / f"{preset}.onnx"))
            got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
            scripted = torch.jit.load(str(root / f"{preset}.pt"))(*inputs.values()).detach()
            print(f"| {preset} | {sampler.family.name} | {', '.join(inputs)} | "
                  f"{np.abs(got - want.numpy()).max():.2e} | {(scripted - want).abs().max().item():.2e} |", flush=True)


if __name__ == "__main__":
    main()
