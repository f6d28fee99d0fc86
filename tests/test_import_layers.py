"""The layers run one way (docs/architecture.md): lower packages never import higher ones, even inside a function."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "ganforge"

# package or module -> what it must never import
RULES = {
    "metrics": ["ganforge.train", "ganforge.cli", "ganforge.bench"],
    "viz": ["ganforge.train", "ganforge.cli", "ganforge.bench"],
    "families": ["ganforge.train", "ganforge.metrics", "ganforge.viz", "ganforge.cli", "ganforge.sampler"],
    "sampler.py": ["ganforge.train", "ganforge.metrics", "ganforge.viz", "ganforge.cli"],
    "rundir.py": ["ganforge.train", "ganforge.families", "ganforge.models", "ganforge.metrics", "ganforge.viz"],
    "models": ["ganforge.train", "ganforge.families", "ganforge.metrics", "ganforge.viz", "ganforge.losses"],
    "ops": ["ganforge.train", "ganforge.families", "ganforge.metrics", "ganforge.viz"],
    "losses.py": ["ganforge.train", "ganforge.families", "ganforge.metrics", "ganforge.viz"],
    "data": ["ganforge.train", "ganforge.families", "ganforge.models", "ganforge.metrics", "ganforge.viz"],
}


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_only_downwards(layer):
    files = [SRC / layer] if layer.endswith(".py") else sorted((SRC / layer).rglob("*.py"))
    assert files and all(f.is_file() for f in files)
    bad = [f"{f.relative_to(SRC)} imports {name}" for f in files for name in imported_modules(f)
           if any(name == banned or name.startswith(banned + ".") for banned in RULES[layer])]
    assert not bad, bad


def test_the_rule_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ganforge.train.trainer import Trainer\n")
    assert "ganforge.train.trainer" in imported_modules(f)
