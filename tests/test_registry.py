"""registry.py: names to real callables, with one-line errors for unknown names."""

import pytest

from ganforge.errors import ConfigError
from ganforge.losses import OBJECTIVES
from ganforge.registry import Registry
from ganforge.train.optim import OPTIMIZERS


def _colours():
    reg = Registry("colour")

    @reg.register("red", "the colour of 650 nm light")
    def red():
        return (255, 0, 0)

    @reg.register("green")
    def green():
        """Green, as in leaves.

        More text that is not the summary."""
        return (0, 255, 0)

    @reg.register("blue")
    def blue():
        return (0, 0, 255)

    return reg, (red, green, blue)


def test_register_returns_the_object_and_get_finds_it():
    reg, (red, green, blue) = _colours()
    assert reg.get("red") is red and reg.get("green") is green and reg.get("blue") is blue
    assert reg.get("green")() == (0, 255, 0)
    assert red.__name__ == "red"          # the decorator leaves the function as it was


def test_names_in_registration_order_membership_and_iteration():
    reg, _ = _colours()
    assert reg.names() == ["red", "green", "blue"]
    assert list(reg) == ["red", "green", "blue"]
    assert "green" in reg and "Green" not in reg and "yellow" not in reg
    assert reg.kind == "colour"


def test_doc_is_the_given_text_or_the_docstrings_first_line():
    reg, _ = _colours()
    assert reg.doc("red") == "the colour of 650 nm light"
    assert reg.doc("green") == "Green, as in leaves."
    assert reg.doc("blue") == ""          # no doc, no docstring
    with pytest.raises(KeyError):
        reg.doc("yellow")


def test_registering_a_name_twice_is_refused():
    reg, (red, _, _) = _colours()
    with pytest.raises(ValueError, match=r"^colour 'red' registered twice$"):
        reg.register("red")(lambda: None)
    assert reg.get("red") is red          # the first registration stands


@pytest.mark.parametrize("name, message", [
    ("gren", "unknown colour 'gren' (did you mean 'green'?)"),
    ("purple", "unknown colour 'purple' (valid: blue, green, red)"),     # no close name: all of them, sorted
    ("RED", "unknown colour 'RED' (valid: blue, green, red)"),           # names are case-sensitive
])
def test_unknown_name_is_a_one_line_config_error(name, message):
    reg, _ = _colours()
    with pytest.raises(ConfigError) as info:
        reg.get(name)
    assert str(info.value) == message
    assert info.value.__cause__ is None and info.value.__suppress_context__   # no KeyError traceback behind it


def test_a_long_registry_names_none_when_nothing_is_close():
    reg = Registry("number")
    for i in range(13):
        reg.register(f"n{i:02d}")(i)
    assert reg.get("n07") == 7
    with pytest.raises(ConfigError) as info:
        reg.get("zzzz")
    assert str(info.value) == "unknown number 'zzzz'"                   # 13 names are too many to list
    with pytest.raises(ConfigError, match=r"^unknown number 'n07x' \(did you mean 'n07'\?\)$"):
        reg.get("n07x")


def test_the_projects_registries_answer_the_same_way():
    with pytest.raises(ConfigError, match=r"^unknown loss 'wgan_gp' \(did you mean 'wgan-gp'\?\)$"):
        OBJECTIVES.get("wgan_gp")
    with pytest.raises(ConfigError, match=r"^unknown optimizer 'lbfgs' \(valid: adam, adam-keras, rmsprop, sgd\)$"):
        OPTIMIZERS.get("lbfgs")
