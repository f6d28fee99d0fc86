"""``ganforge export``: every preset's generator as TorchScript and ONNX, equal to ganforge's own samples for the
same inputs, runnable without ganforge, plain operations only, its metadata inside, and the one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import run_cli
from ganforge.config import preset_names, resolve
from ganforge.export import export_generator, read_metadata
from ganforge.sampler import load_generator
from ganforge.train import Trainer

onnx = pytest.importorskip("onnx", reason="ONNX export is the 'export' extra (pip install 'ganforge[export]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra (pip install 'ganforge[test]')")

# The opset's own operators a generator may use; anything else (a custom op, another domain) is a failure.
PLAIN_OPS = {"Gemm", "MatMul", "Add", "Mul", "Sub", "Div", "Conv", "ConvTranspose", "BatchNormalization", "Relu",
             "LeakyRelu", "Tanh", "Sigmoid", "Reshape", "Concat", "Unsqueeze", "Squeeze", "Expand", "Shape", "Gather",
             "Slice", "Constant", "ConstantOfShape", "Cast", "Resize", "Transpose", "Pad", "Flatten", "OneHot",
             "Round", "Where", "Equal", "Less", "Identity", "Range", "Exp", "Split", "Neg", "Abs", "Sqrt", "Pow",
             "ReduceMean", "Softplus", "Max", "Min", "Clip", "Erf", "Tile", "Mod", "Greater", "Not", "And",
             "ScatterND", "GatherND", "Squeeze", "Size", "Floor", "Ceil", "Sin", "Cos", "ReduceSum", "ReduceMax",
             "InstanceNormalization", "Upsample", "ArgMax", "Softmax", "MaxPool"}


def _tiny_run(preset: str, root) -> tuple:
    """One training step of ``preset`` on the embedded digits (resized to the preset's shape)."""
    over = {"data.name": "digits", "train.steps": 1, "train.batch_size": 16, "train.progress": False,
            "train.num_samples": 10, "train.threads": 1,
            "train.conv_forms": "rules"}  # export is under test, not the forms (measuring: 30 s of resnet256's 115)
    if preset == "ring8-gan":
        over["data.name"] = "ring8"
    if resolve(preset).family == "pix2pix" and not resolve(preset).data.pairs:
        over["data.pairs"] = "edges"                     # a paired-folder preset, on pairs made from the digits
    if resolve(preset).data.domains:
        over["data.domains"] = "0,1"                     # two of the digits' classes as the two domains
    if resolve(preset).family in ("pix2pix", "cyclegan"):
        over["train.batch_size"] = 2
        if resolve(preset).data.image_size > 64:
            over["data.image_size"] = 64                 # the 256-px presets' networks, at 64 px (tests/test_presets.py
                                                         # builds them at 256)
    if resolve(preset).family == "stackgan":
        over["stack.stage1_epochs"] = 0
        over["stack.schedule"] = "joint"
    run = Trainer(resolve(preset, over), root / preset).fit()
    return run, load_generator(run)


def _expected(sampler, inputs: dict) -> torch.Tensor:
    """ganforge's own values for the exported generator's inputs."""
    fam = sampler.family
    if fam.translates:
        return fam.generate(sampler.G, inputs)
    if fam.name == "infogan":
        k = len(fam.cat_sizes)
        return fam.generate(sampler.G, {"z": inputs["z"], "cat": inputs["codes"][:, :k].long(),
                                        "cont": inputs["codes"][:, k:]})
    return sampler.sample(len(inputs["z"]), labels=inputs.get("y"), z=inputs["z"])


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_exports_and_matches_its_samples(preset, tmp_path):
    run, sampler = _tiny_run(preset, tmp_path)
    onnx_path, ts_path = tmp_path / "g.onnx", tmp_path / "g.pt"
    meta = export_generator(run, "onnx", onnx_path)
    assert export_generator(run, "torchscript", ts_path) == meta == read_metadata(onnx_path) == read_metadata(ts_path)
    inputs = sampler.family.export_inputs(5, torch.Generator().manual_seed(7))   # another batch size than traced
    assert [i["name"] for i in meta["inputs"]] == list(inputs)
    expected = _expected(sampler, {k: v.clone() for k, v in inputs.items()})
    assert list(expected.shape[1:]) == meta["output"]["shape"][1:]
    if sampler.family.translates:                           # a translator's input is an image of the source shape
        assert meta["inputs"][0]["shape"][1:] == list(sampler.family.source_shape)

    session = ort.InferenceSession(str(onnx_path))
    assert [i.name for i in session.get_inputs()] == list(inputs)
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-4)
    one = session.run(None, {k: v[:1].numpy() for k, v in inputs.items()})[0]       # batch of one
    np.testing.assert_allclose(one, expected[:1].numpy(), rtol=0, atol=1e-4)
    model = onnx.load(str(onnx_path))
    ops = {(n.domain, n.op_type) for n in model.graph.node}
    assert {d for d, _ in ops} <= {"", "ai.onnx"} and {op for _, op in ops} <= PLAIN_OPS, ops

    scripted = torch.jit.load(str(ts_path))
    torch.testing.assert_close(scripted(*inputs.values()), expected, rtol=0, atol=1e-5)


def test_metadata_says_how_to_drive_each_kind_of_generator(tmp_path):
    run, _ = _tiny_run("mnist-acgan", tmp_path)
    meta = export_generator(run, "onnx", tmp_path / "acgan.onnx")
    assert meta["inputs"] == [
        {"name": "z", "shape": ["B", 100], "dtype": "float32", "distribution": "normal", "about": "N(0, 1) per entry"},
        {"name": "y", "shape": ["B"], "dtype": "int64", "about": "class index 0-9 (see classes)"}]
    assert meta["classes"] == [str(i) for i in range(10)] and meta["num_classes"] == 10
    assert meta["output"]["shape"] == ["B", 1, 28, 28] and meta["output"]["range"] == [-1.0, 1.0]
    assert meta["output"]["layout"] == "NCHW" and meta["weights"] == "G" and meta["step"] == 1
    assert meta["preset"] == "mnist-acgan" and meta["data"] == "digits"

    info, _ = _tiny_run("digits-infogan", tmp_path)
    meta = export_generator(info, "torchscript", tmp_path / "info.pt")
    assert [c["name"] for c in meta["codes"]] == ["cat", "c1", "c2"] and meta["codes"][0]["values"] == list(range(10))
    assert meta["inputs"][1]["shape"] == ["B", 3] and meta["weights"] == "G_ema"      # the preset keeps an EMA of G
    assert meta["inputs"][0]["distribution"] == "uniform"


def test_torchscript_file_runs_in_a_process_without_ganforge(tmp_path):
    run, sampler = _tiny_run("mnist-cgan-conv", tmp_path)
    export_generator(run, "torchscript", tmp_path / "g.pt")
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 3, 7, 9])
    np.save(tmp_path / "z.npy", z.numpy())
    code = f"""
import json, sys
sys.modules["ganforge"] = None          # importing ganforge fails in this process
import numpy as np, torch
extra = {{"ganforge.json": ""}}
G = torch.jit.load({str(tmp_path / 'g.pt')!r}, _extra_files=extra)
meta = json.loads(extra["ganforge.json"])
x = G(torch.from_numpy(np.load({str(tmp_path / 'z.npy')!r})), torch.tensor([0, 3, 7, 9]))
np.save({str(tmp_path / 'x.npy')!r}, x.numpy())
print(meta["family"], [i["name"] for i in meta["inputs"]], tuple(x.shape))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "gan ['z', 'y'] (4, 1, 28, 28)"
    expected = sampler.sample(4, labels=y.tolist(), z=z)
    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "x.npy")), expected, rtol=0, atol=1e-5)


def test_cli_export_and_its_errors_are_one_line(tmp_path):
    run, _ = _tiny_run("digits-dcgan", tmp_path)
    out = tmp_path / "g.onnx"
    result = run_cli("export", run, "--format", "onnx", "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"wrote {out} (onnx, gan generator, G weights of step 1): takes z (B, 64) float32; "
                             "returns images (B, 1, 16, 16) in [-1, 1]\n")
    before = out.read_bytes()
    cases = [
        (["--format", "onnx", "--out", out], f"{out} already exists; choose another --out or pass --force to replace it"),
        (["--format", "onnx", "--out", tmp_path / "g.pt"], f"--out {tmp_path / 'g.pt'}: a onnx file ends in .onnx"),
        (["--format", "torchscript", "--out", tmp_path / "g.onnx2"],
         f"--out {tmp_path / 'g.onnx2'}: a torchscript file ends in .pt or .ts or .pth"),
    ]
    for flags, message in cases:
        result = run_cli("export", run, *flags)
        assert result.returncode != 0 and result.stderr.strip().splitlines() == [f"ganforge: error: {message}"]
    missing = run_cli("export", tmp_path / "nope", "--format", "onnx", "--out", tmp_path / "n.onnx")
    assert missing.returncode != 0 and missing.stderr.strip().splitlines() == [
        f"ganforge: error: {tmp_path / 'nope'} does not exist; give a run directory or a checkpoint file"]
    assert out.read_bytes() == before and not (tmp_path / "n.onnx").exists()
    assert run_cli("export", run, "--format", "onnx", "--out", out, "--force").returncode == 0
    assert json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["ganforge"])["family"] == "gan"
