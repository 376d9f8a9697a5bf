"""The package's layers (README, "Layout"): a module imports only modules of its own layer
or below, never one above, not even late inside a function; and nothing is cyclic.

Imports are read from the source (every ``import``/``from`` statement anywhere in a
file), so a late import that would only run in some code path is caught too.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "gankit"

# lowest first; a module belongs to the layer of its longest matching prefix
LAYERS = [
    ("foundation", ["gankit.errors", "gankit.registry", "gankit.config", "gankit.seeds",
                    "gankit.preset_files", "gankit.presets",
                    "gankit.evalmode", "gankit.plugins", "gankit.checkpoint",
                    "gankit.rundir", "gankit.grids", "gankit.accel", "gankit.distributed",
                    "gankit.ema", "gankit.theory", "gankit.intervals", "gankit.schedules"]),
    ("data", ["gankit.data"]),
    ("nets", ["gankit.nets"]),
    ("metrics and the OT solver", ["gankit.metrics", "gankit.ot"]),
    ("objectives and stabilizers", ["gankit.objectives", "gankit.stabilizers"]),
    ("the loop", ["gankit.components", "gankit.train", "gankit.loop"]),
    ("commands", ["gankit.report", "gankit.html_report", "gankit.sweep_spec",
                  "gankit.sweep_table", "gankit.evaluate", "gankit.sample", "gankit.sweep",
                  "gankit.cli", "gankit.__main__", "gankit"]),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT.parent / rel.with_suffix(".py")).exists() or (ROOT.parent / rel).is_dir()


def _imports(source: str, name: str, is_package: bool = False) -> set:
    """The gankit modules that the source of module ``name`` imports, anywhere in it."""
    package = name if is_package else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gankit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gankit":
                continue
            for alias in node.names:  # `from . import x` imports the submodule x
                sub = f"{target}.{alias.name}"
                out.add(sub if _exists(sub) else target)
    out.discard(name)
    return out


GRAPH = {_module_name(p): _imports(p.read_text(), _module_name(p), p.name == "__init__.py")
         for p in sorted(ROOT.rglob("*.py"))}


def layer(name: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    if level is None:
        raise AssertionError(f"module {name} belongs to no layer: add it to LAYERS and to "
                             "the README's Layout section")
    return level


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_layer_above_it(module):
    mine = layer(module)
    above = [d for d in GRAPH[module] if layer(d) > mine and d != "gankit"]
    assert not above, (f"{module} ({LAYERS[mine][0]}) imports "
                       + ", ".join(f"{d} ({LAYERS[layer(d)][0]})" for d in above))


def test_no_import_cycle():
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in GRAPH.get(node, ()):
            if dep.startswith(node + "."):  # a package importing its own submodules
                continue
            if state.get(dep) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, dep]))
            if dep not in state:
                visit(dep, stack + [node])
        state[node] = "done"

    for module in GRAPH:
        if module not in state:
            visit(module, [])


def test_the_checker_sees_late_and_relative_imports():
    # checkpoint.py once imported the trainer inside a function: such an edge must count
    late = "import torch\n\ndef f():\n    from .train import Trainer\n    from . import ot\n"
    deps = _imports(late, "gankit.checkpoint")
    assert deps == {"gankit.train", "gankit.ot"}
    assert max(layer(d) for d in deps) > layer("gankit.checkpoint")  # would be refused
    assert _imports("from ..ot import cost_matrix\n", "gankit.metrics.sinkhorn") == {"gankit.ot"}
    assert _imports("from .base import Metric\n", "gankit.metrics", True) == \
        {"gankit.metrics.base"}
