"""Fine-tuning (train.init_from, --init-from): the source's weights at step 0 with fresh optimisers; FreezeD's
layers never move; what a fine-tuned run refuses."""

import json
import shutil

import pytest
import torch

from ganforge.config import ModelConfig, resolve
from ganforge.errors import CheckpointError, ConfigError
from ganforge.models import build_models
from ganforge.models.base import d_layers
from ganforge.rundir import list_checkpoints, load_checkpoint
from ganforge.train import Trainer
from tiny import TINY_FLAGS, digit_folder

SIZE16 = [*TINY_FLAGS, "data.image_size=16"]  # a D of 3 weight layers (8x8 gives 2)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained run with EMA (checkpoints at steps 4 and 8), one without, and their digits."""
    root = tmp_path_factory.mktemp("finetune")
    folder = digit_folder(root / "digits")
    flags = [*SIZE16, f"data.name=folder:{folder}", "train.epochs=2", "train.checkpoint_every=1"]
    with_ema = Trainer(resolve("digits-dcgan", [*flags, "train.ema=0.9"]), run_dir=root / "ema").fit()
    plain = Trainer(resolve("digits-dcgan", flags), run_dir=root / "plain").fit()
    return {"root": root, "folder": folder, "ema": with_ema, "plain": plain}


def new_run(source, out, *over, init_from=None, preset="digits-dcgan"):
    init = [f"train.init_from={init_from}"] if init_from is not None else []
    cfg = resolve(preset, [*SIZE16, f"data.name=folder:{source['folder']}", "train.ema=0.9", *init, *over])
    return Trainer(cfg, run_dir=out)


def equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_new_run_starts_from_the_newest_checkpoint_with_fresh_optimisers(source, tmp_path):
    src = load_checkpoint(list_checkpoints(source["ema"])[-1])
    assert src["step"] == 8
    trainer = new_run(source, tmp_path / "new", init_from=source["ema"])
    state = trainer.state_dict()
    assert equal(state["G"], src["G"]) and equal(state["D"], src["D"]) and equal(state["G_ema"], src["G_ema"])
    assert not equal(state["G_ema"], src["G"])  # the source's own average, not its G
    assert state["step"] == state["epoch"] == 0 and trainer.ema.num_updates == 0
    assert state["opt_g"]["state"] == {} and state["opt_d"]["state"] == {}
    assert state["config"]["train"]["init_from"] == str(list_checkpoints(source["ema"])[-1])


def test_a_source_without_ema_gives_the_new_ema_its_g(source, tmp_path):
    src = load_checkpoint(list_checkpoints(source["plain"])[-1])
    assert src["G_ema"] is None
    state = new_run(source, tmp_path / "new", init_from=source["plain"]).state_dict()
    assert equal(state["G_ema"], src["G"]) and equal(state["G"], src["G"])


def test_a_checkpoint_file_is_taken_as_it_is(source, tmp_path):
    older = list_checkpoints(source["ema"])[0]
    src = load_checkpoint(older)
    assert src["step"] == 4
    state = new_run(source, tmp_path / "new", init_from=older).state_dict()
    assert equal(state["G"], src["G"]) and equal(state["D"], src["D"])
    assert state["config"]["train"]["init_from"] == str(older)


def test_the_run_records_where_it_came_from(source, tmp_path):
    run = new_run(source, tmp_path / "new", "train.steps=2", init_from=source["ema"]).fit()
    ckpt = str(list_checkpoints(source["ema"])[-1])
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert first == {"event": "init_from", "step": 0, "epoch": 0, "from": ckpt, "from_step": 8, "from_epoch": 2,
                     "frozen_d": []}
    assert f"init_from: {ckpt}" in (run / "config.yaml").read_text()
    assert load_checkpoint(list_checkpoints(run)[-1])["config"]["train"]["init_from"] == ckpt
    assert "initialised from" in (run / "report.html").read_text()


# -- FreezeD -------------------------------------------------------------------------------------------

def test_d_layers_are_weight_layers_with_their_batch_norms():
    _, D = build_models(ModelConfig(arch="dcgan", width=8), (1, 16, 16))
    names = [(name, [tuple(p.shape) for p in params]) for name, params in d_layers(D)]
    assert names == [("net.0", [(8, 1, 4, 4), (8,)]),                 # conv 1 (no batch norm)
                     ("net.2", [(16, 8, 4, 4), (16,), (16,)]),        # conv 2 and the batch norm after it
                     ("net.5", [(1, 16, 4, 4), (1,)])]                # the logit conv
    _, D_sn = build_models(ModelConfig(arch="dcgan", width=8, spectral_norm=True), (1, 16, 16))
    layers = d_layers(D_sn)
    assert [name for name, _ in layers] == ["net.0", "net.2", "net.5"]  # spectral norm's weight counted with its conv
    assert sum(len(params) for _, params in layers) == len(list(D_sn.parameters()))


def test_frozen_layers_stay_bit_identical_while_the_rest_trains(source, tmp_path):
    """Adam with weight decay on D: any frozen parameter left in D's optimiser would move."""
    src = load_checkpoint(list_checkpoints(source["ema"])[-1])
    trainer = new_run(source, tmp_path / "new", "train.freeze_d=2", "train.steps=6", "d_optim.weight_decay=0.1",
                      init_from=source["ema"])
    assert trainer.frozen_d == ["net.0", "net.2"]
    frozen = {id(p) for _, params in d_layers(trainer.D)[:2] for p in params}
    assert not frozen & {id(p) for p in trainer.opt_d.param_groups[0]["params"]}
    names = {name for name, p in trainer.D.named_parameters() if id(p) in frozen}
    assert names == {"net.0.weight", "net.0.bias", "net.2.weight", "net.3.weight", "net.3.bias"}  # conv, conv + BN
    run = trainer.fit()
    after = load_checkpoint(list_checkpoints(run)[-1])["D"]
    for name, _ in trainer.D.named_parameters():
        same = torch.equal(after[name], src["D"][name])
        assert same if name in names else not same, f"{name} {'moved' if name in names else 'did not train'}"


def test_weight_clipping_leaves_frozen_layers_alone(source, tmp_path):
    """WGAN's clipping bound far below the source's weights: it clips the trained layer, not the frozen ones."""
    src = load_checkpoint(list_checkpoints(source["ema"])[-1])["D"]
    trainer = new_run(source, tmp_path / "new", "train.freeze_d=2", "train.steps=1", "loss.name=wgan", "loss.clip=0.001",
                      init_from=source["ema"])
    assert src["net.0.weight"].abs().max() > 0.01 and src["net.5.weight"].abs().max() > 0.01
    after = load_checkpoint(list_checkpoints(trainer.fit())[-1])["D"]
    assert torch.equal(after["net.0.weight"], src["net.0.weight"]) and torch.equal(after["net.3.bias"], src["net.3.bias"])
    assert after["net.5.weight"].abs().max() <= 0.001


def test_freezing_all_of_d_is_refused(source, tmp_path):
    with pytest.raises(ConfigError) as info:
        new_run(source, tmp_path / "new", "train.freeze_d=3", init_from=source["ema"])
    assert str(info.value) == ("train.freeze_d=3, but D of model.arch=dcgan has 3 weight layers; freeze at most 2 "
                               "(something of D must train)")


def test_a_resumed_fine_tuned_run_matches_and_no_longer_needs_its_source(source, tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(source["ema"], copy)
    full = new_run(source, tmp_path / "full", "train.freeze_d=1", "train.steps=8", init_from=copy).fit()
    part = new_run(source, tmp_path / "part", "train.freeze_d=1", "train.steps=5", init_from=copy).fit()
    shutil.rmtree(copy)
    Trainer.resume(part, {"train.steps": 8}).fit()
    a, b = (load_checkpoint(list_checkpoints(run)[-1]) for run in (full, part))
    for net in ("G", "D", "G_ema"):
        assert equal(a[net], b[net]), net


# -- refusals --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("over, field", [
    (["model.width=16"], "model.width is 8 there, 16 here"),
    (["data.image_size=8"], "data.image_size is 16x16 there, 8x8 here"),
    (["data.channels=3"], "data.channels is 1 there, 3 here"),
    (["model.spectral_norm=true"], "model.spectral_norm is False there, True here"),
])
def test_a_different_architecture_or_image_size_names_the_field(source, tmp_path, over, field):
    with pytest.raises(ConfigError) as info:
        new_run(source, tmp_path / "new", *over, init_from=source["ema"])
    assert str(info.value) == (f"--init-from {source['ema']}: {field}; fine-tune with the source run's networks and "
                               "image size (or train from scratch)")


def test_d_dropout_may_change(source, tmp_path):
    state = new_run(source, tmp_path / "new", "model.d_dropout=0.3", init_from=source["ema"]).state_dict()
    assert equal(state["D"], load_checkpoint(list_checkpoints(source["ema"])[-1])["D"])


def test_a_missing_source_or_one_without_checkpoints_is_refused(source, tmp_path):
    with pytest.raises(CheckpointError, match=r"--init-from .*nowhere: no such run directory or checkpoint file"):
        new_run(source, tmp_path / "new", init_from=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"--init-from .*empty: no checkpoint in .*empty/checkpoints"):
        new_run(source, tmp_path / "new", init_from=tmp_path / "empty")
    assert not (tmp_path / "new").exists()


def test_freeze_d_needs_a_source():
    with pytest.raises(ConfigError, match=r"train.freeze_d=2 keeps D's first layers .* --init-from RUN"):
        resolve("digits-dcgan", ["train.freeze_d=2"])
