"""train/optim.py: each optimiser name builds its torch optimiser with the config's hyper-parameters;
config validation takes its names from the same registry."""

import subprocess
import sys

import pytest
import torch

from ganforge.config import OptimConfig, resolve
from ganforge.errors import ConfigError
from ganforge.train.optim import OPTIMIZERS, build_optimizer

# Not the defaults, so a builder that ignored a field would show.
CFG = dict(lr=3e-3, betas=[0.25, 0.75], eps=1e-7, weight_decay=0.01)


def _params():
    return [torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(2))]


def _group(opt):
    """The one param group's settings, without the tensors."""
    (group,) = opt.param_groups
    return {k: v for k, v in group.items() if k != "params"}


@pytest.mark.parametrize("name, cls, kwargs", [
    # what each name passes to torch: betas as a tuple for Adam, betas[0] as SGD's momentum, RMSprop ignores betas
    ("adam", torch.optim.Adam, dict(lr=3e-3, betas=(0.25, 0.75), eps=1e-7, weight_decay=0.01)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=3e-3, eps=1e-7, weight_decay=0.01)),
    ("sgd", torch.optim.SGD, dict(lr=3e-3, momentum=0.25, weight_decay=0.01)),
])
def test_each_name_builds_its_optimizer_from_the_config(name, cls, kwargs):
    params = _params()
    opt = build_optimizer(params, OptimConfig(name=name, **CFG))
    assert type(opt) is cls
    assert all(p is q for p, q in zip(opt.param_groups[0]["params"], params, strict=True))
    group = _group(opt)
    for key, value in kwargs.items():
        assert group[key] == value, key
    # and nothing else differs from torch's own constructor with exactly those arguments (torch's defaults
    # for the rest: Adam's amsgrad, RMSprop's alpha and momentum, SGD's dampening and nesterov)
    assert group == _group(cls(_params(), **kwargs))


def test_values_reach_the_optimizer_unchanged():
    group = _group(build_optimizer(_params(), OptimConfig(name="adam", lr=1e-4, betas=[0.9, 0.999], eps=1e-8)))
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (1e-4, (0.9, 0.999), 1e-8, 0.0)
    assert _group(build_optimizer(_params(), OptimConfig(name="sgd", betas=[0.0, 0.5])))["momentum"] == 0.0


def test_registry_lists_the_names_with_a_description():
    assert OPTIMIZERS.names() == ["adam", "adam-keras", "rmsprop", "sgd"]
    assert all(OPTIMIZERS.doc(name) for name in OPTIMIZERS)


def test_unknown_name_is_refused_when_building_not_replaced_by_sgd():
    with pytest.raises(ConfigError, match=r"^unknown optimizer 'adamw' \(did you mean 'adam'\?\)$"):
        build_optimizer(_params(), OptimConfig(name="adamw"))


@pytest.mark.parametrize("key", ["g_optim.name", "d_optim.name"])
def test_config_accepts_every_registered_name(key):
    for name in OPTIMIZERS:
        cfg = resolve(None, [f"{key}={name}"])
        assert getattr(cfg, key.split(".")[0]).name == name


@pytest.mark.parametrize("key", ["g_optim.name", "d_optim.name"])
@pytest.mark.parametrize("name, hint", [("adamw", "(did you mean 'adam'?)"), ("lbfgs", "(valid: adam, adam-keras, rmsprop, sgd)")])
def test_config_refuses_an_unknown_name_in_one_line_listing_the_valid_ones(key, name, hint):
    with pytest.raises(ConfigError) as info:
        resolve(None, [f"{key}={name}"])
    assert str(info.value) == f"{key} must be one of adam, adam-keras, rmsprop, sgd, got '{name}' {hint}"


def test_config_validation_reads_the_names_without_loading_torch():
    code = ("import sys; from ganforge.config import resolve; resolve(None, ['g_optim.name=rmsprop']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _keras_adam_by_hand(p0, grads, lr, b1, b2, eps):
    """Keras' Adam (keras/optimizers/adam.py), written out: m, v as torch's; the step
    lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""
    p, m, v, out = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0), []
    for t, g in enumerate(grads, start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        p = p - lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t) * m / (v.sqrt() + eps)
        out.append(p.clone())
    return out


def test_adam_keras_is_keras_update_and_resumes_its_step_count():
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(50, dtype=torch.float64, generator=g)
    # gradients from 1e-9 to 1: where |g| is near eps the two placements of epsilon differ most
    grads = [torch.randn(50, dtype=torch.float64, generator=g) * torch.logspace(-9, 0, 50, dtype=torch.float64)
             for _ in range(6)]
    cfg = OptimConfig(name="adam-keras", lr=1e-3, betas=[0.9, 0.999], eps=1e-7)
    want = _keras_adam_by_hand(p0, grads, 1e-3, 0.9, 0.999, 1e-7)

    param = torch.nn.Parameter(p0.clone())
    opt = build_optimizer([param], cfg)
    for k, grad in enumerate(grads[:3]):
        param.grad = grad.clone()
        opt.step()
        torch.testing.assert_close(param.detach(), want[k], rtol=1e-14, atol=1e-16)
    saved = opt.state_dict()
    resumed_param = torch.nn.Parameter(param.detach().clone())
    resumed = build_optimizer([resumed_param], cfg)
    resumed.load_state_dict(saved)                                  # a resumed run: steps 4-6 continue t
    for k, grad in enumerate(grads[3:], start=3):
        resumed_param.grad = grad.clone()
        resumed.step()
        torch.testing.assert_close(resumed_param.detach(), want[k], rtol=1e-14, atol=1e-16)

    torch_adam = torch.nn.Parameter(p0.clone())                     # torch's placement: not the same steps
    plain = build_optimizer([torch_adam], OptimConfig(name="adam", lr=1e-3, betas=[0.9, 0.999], eps=1e-7))
    torch_adam.grad = grads[0].clone()
    plain.step()
    assert (torch_adam.detach() - want[0]).abs().max() > 1e-6
