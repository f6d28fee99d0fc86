import pytest

from ganforge.config import RunConfig, from_dict, from_saved, list_presets, preset_names, resolve
from ganforge.errors import ConfigError


def test_every_preset_resolves_and_has_a_description():
    for name, description in list_presets():
        cfg = resolve(name)
        assert cfg.preset == name
        assert description


def test_mnist_dcgan_is_seed_000():
    cfg = resolve("mnist-dcgan")
    assert cfg.model.arch == "dcgan-tf"
    assert cfg.loss.name == "ns"
    assert cfg.g_optim.lr == cfg.d_optim.lr == 1e-4
    assert cfg.g_optim.betas == [0.9, 0.999]
    assert cfg.train.batch_size == 256 and cfg.train.epochs == 50
    assert cfg.train.update == "simultaneous" and cfg.train.checkpoint_every == 15
    assert cfg.model.leaky_slope == 0.3 and cfg.model.d_dropout == 0.3


def test_overrides_are_typed_and_nested():
    cfg = resolve("digits-dcgan", ["train.batch_size=32", "g_optim.lr=1e-3", "model.g_hidden=[64, 32]",
                                   "train.ema=0.99", "train.steps=null"])
    assert cfg.train.batch_size == 32
    assert cfg.g_optim.lr == pytest.approx(1e-3)
    assert cfg.model.g_hidden == [64, 32]
    assert cfg.train.ema == 0.99 and cfg.train.steps is None
    # int where a float is expected is widened
    assert resolve(None, {"g_optim.lr": 1}).g_optim.lr == 1.0


def test_unknown_key_names_the_closest():
    with pytest.raises(ConfigError, match="unknown config key 'train.batchsize'.*train.batch_size"):
        resolve("digits-dcgan", ["train.batchsize=3"])


def test_unknown_preset_names_the_closest():
    with pytest.raises(ConfigError, match="unknown preset 'mnist-dcgn'.*mnist-dcgan"):
        resolve("mnist-dcgn")


def test_a_renamed_preset_is_a_one_line_error_naming_the_new_name():
    with pytest.raises(ConfigError) as err:
        resolve("mnist-cgan")
    assert str(err.value) == ("preset 'mnist-cgan' is now 'mnist-projgan' (Miyato & Koyama's projection cGAN); "
                              "Mirza & Osindero's concatenation cGAN is 'mnist-cgan-mlp' or 'mnist-cgan-conv'")
    assert "mnist-cgan" not in preset_names()


def test_a_saved_config_under_a_renamed_preset_still_loads():
    """A run's ``preset`` field is a label: from_saved never looks it up."""
    stored = resolve("mnist-projgan").to_dict()
    stored["preset"] = "mnist-cgan"                         # what runs made before the rename say
    cfg = from_saved(stored)
    assert cfg.preset == "mnist-cgan" and cfg.model.arch == "dcgan-proj" and cfg.to_dict() == stored


@pytest.mark.parametrize("override, message", [
    ("train.epochs=-1", "train.epochs must be 0 or more"),
    ("train.batch_size=0", "train.batch_size must be at least 1"),
    ("train.batch_size=abc", "train.batch_size must be an integer"),
    ("train.precision=fp8", "train.precision must be one of"),
    ("g_optim.lr=-0.1", "g_optim.lr must be positive"),
    ("train.ema=1.5", "train.ema must be between 0 and 1"),
    ("model.noise=gauss", "model.noise must be one of"),
    ("model.conditional=maybe", "model.conditional must be true, false or auto"),
    ("data.reader=disk", "data.reader must be one of"),
    ("train.augment=off", "train.augment must be a string, got the boolean false .* quote it"),
    ("train", "expected key=value"),
])
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve("digits-dcgan", [override])
    assert "\n" not in str(err.value)


def test_round_trip_through_dict():
    cfg = resolve("mnist-dcgan", ["train.seed=7"])
    again = from_dict(cfg.to_dict())
    assert again == cfg
    assert isinstance(again, RunConfig)


def test_presets_listed_sorted():
    assert preset_names() == sorted(preset_names())


def test_saved_configs_keep_the_padding_they_were_made_with():
    """A config written before model.padding existed (ganforge 0.1) computed PyTorch's symmetric padding:
    from_saved keeps that; a new run, and a saved config that names its padding, get what they say."""
    from ganforge.config import from_saved

    old = resolve("mnist-dcgan").to_dict()
    del old["model"]["padding"]
    assert from_saved(old).model.padding == "symmetric"
    assert "padding" not in old["model"]  # the caller's dict is left as it was
    assert resolve("mnist-dcgan").model.padding == "tf"
    new = resolve("mnist-dcgan").to_dict()
    assert from_saved(new).model.padding == "tf"
    with pytest.raises(ConfigError, match="model.padding must be one of tf, symmetric"):
        resolve("mnist-dcgan", {"model.padding": "same"})


@pytest.mark.parametrize("loss", ["wgan", "wgan-gp", "hinge"])
def test_label_smoothing_on_a_loss_without_a_real_label_is_an_error(loss):
    with pytest.raises(ConfigError, match=f"loss.label_smoothing has no effect on loss '{loss}'"):
        resolve("digits-dcgan", {"loss.name": loss, "loss.clip": 0.01, "loss.label_smoothing": 0.1})
    assert resolve("digits-dcgan", {"loss.name": loss, "loss.clip": 0.01}).loss.label_smoothing == 0.0


def test_wgan_needs_clipping_or_an_explicit_opt_in():
    with pytest.raises(ConfigError, match="loss 'wgan' without loss.clip trains an unconstrained critic"):
        resolve("digits-dcgan", {"loss.name": "wgan"})
    with pytest.raises(ConfigError, match="loss 'wgan' without loss.clip"):
        resolve("mnist-wgan", ["loss.clip=null"])
    with pytest.raises(ConfigError, match="loss.clip must be positive"):
        resolve("mnist-wgan", ["loss.clip=0"])
    assert resolve("mnist-wgan").loss.clip == 0.01
    assert resolve("digits-dcgan", ["loss.name=wgan", "loss.allow_unclipped=true"]).loss.clip is None
    assert resolve("digits-dcgan", ["loss.name=wgan-gp"]).loss.clip is None  # the penalty is its constraint


def test_a_stored_run_config_is_still_read_as_it_was():
    """Runs trained before these checks (unclipped WGAN, smoothing on hinge) can still be sampled and evaluated."""
    stored = RunConfig().to_dict()
    stored["loss"].update(name="hinge", label_smoothing=0.1)
    assert from_dict(stored).loss.label_smoothing == 0.1
    stored["loss"].update(name="wgan", label_smoothing=0.0, clip=None)
    assert from_dict(stored).loss.clip is None
